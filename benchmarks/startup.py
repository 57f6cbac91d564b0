"""Start-up: wall time of each ``workbench`` command on one photo, where its imports go,
and the embedder's inference runtimes compared, with ``import tensorflow`` as the
baseline measured in the same run.

Every figure is a fresh process (start-up is what is measured), the median of
``--repeats`` runs, with the model files already cached (as after a first run):

- commands: ``detect``, ``embed``, ``enroll`` (one person, one photo), ``recognize``
  and ``live`` (a one-second clip of the photo), as a user types them; the stderr lines
  each printed (should be 0: issue 10) and whether TensorFlow was imported.
- baseline: ``python -c "import tensorflow"``.
- imports: ``python -X importtime`` of ``detect`` and ``recognize``, self time summed
  per top-level package.
- embedder runtimes: each in its own process, start (import + load), faces/s at batch 1
  and 32 on real LFW chips aligned by dlib, and the largest difference against dlib-bin on
  the same chips: ``onnx`` (ONNX Runtime, the default), ``keras`` (TensorFlow backend),
  ``opencv-dnn`` (the same ONNX graph in OpenCV's dnn module).

Run: .venv/bin/python benchmarks/startup.py [--repeats 3] [--chips 32]
         [--output docs/benchmarks/startup.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _machine import machine  # noqa: E402 - the script's folder is on sys.path

from workbench.data import PROJECT_ROOT, shared_data_dir

PERSON = "Colin_Powell"
#: Run in a fresh interpreter: the CLI, then whether TensorFlow was imported.
CLI_PROBE = (
    "import sys\n"
    "from workbench.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('TENSORFLOW', 'tensorflow' in sys.modules)\n"
    "sys.exit(rc)\n"
)
#: One embedder runtime in a fresh interpreter; prints a JSON line.
RUNTIME_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
runtime, chips_path = sys.argv[1], sys.argv[2]
data = np.load(chips_path)
chips, reference = data["chips"], data["dlib"]
t0 = time.perf_counter()  # start: import and load of the runtime, not of the chips
if runtime in ("onnx", "keras"):
    from workbench.embed import Embedder
    embedder = Embedder(runtime=runtime).load()
    embed = lambda x: embedder.embed(x, batch_size=len(x))
else:
    import cv2
    from workbench.embed.onnx_runner import onnx_cache_path
    from workbench.assets import ASSETS
    net = cv2.dnn.readNetFromONNX(str(onnx_cache_path(ASSETS["dlib_resnet_v1"].sha256)))
    def embed(x):
        net.setInput(np.ascontiguousarray(x, np.float32))
        return net.forward()
embed(chips[:1])
start_s = time.perf_counter() - t0
rates = {}
for batch in (1, 32):
    n = max(len(chips), batch)
    x = np.concatenate([chips] * (n // len(chips) + 1))[:n]
    embed(x[:batch])
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, n, batch):
            embed(x[i : i + batch])
        times.append(time.perf_counter() - t)
    rates[batch] = n / sorted(times)[1]
diff = float(np.abs(embed(chips).astype(np.float64) - reference).max())
print(json.dumps({"start_s": start_s, "rates": rates, "diff": diff,
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (user + system) and the result of one process."""
    cpu0, start = _children_cpu_s(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - start, _children_cpu_s() - cpu0, done


def median_run(argv, env, repeats: int):
    """Median wall and CPU seconds and the last run's result (which must succeed).

    On a loaded machine the wall time mostly measures the queue for the cores; the CPU
    time is what the process itself needed, close to its wall time on a quiet machine
    (start-up is single-threaded; only inference uses both cores).
    """
    walls, cpus = [], []
    done = None
    for _ in range(repeats):
        wall, cpu, done = run(argv, env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus), done


def import_profile(argv, env) -> dict[str, float]:
    """Self import time (s) per top-level package of one run under ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    per_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|")
        per_package[name.strip().split(".")[0]] += int(self_us) / 1e6
    return dict(per_package)


def make_inputs(root: Path) -> dict[str, Path]:
    """One photo, a one-person folder, a gallery file path and a one-second clip."""
    import cv2

    data = shared_data_dir()
    photos = sorted((data / "lfw" / PERSON).glob("*.jpg")) if data else []
    if len(photos) < 2:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    folder = root / "photos" / PERSON
    folder.mkdir(parents=True)
    (folder / photos[0].name).write_bytes(photos[0].read_bytes())
    clip = root / "clip.avi"
    frame = cv2.resize(cv2.imread(str(photos[1])), (320, 320))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 320))
    for _ in range(25):
        writer.write(frame)
    writer.release()
    return {
        "photo": photos[1],
        "folder": root / "photos",
        "gallery": root / "g.sqlite",
        "clip": clip,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chips", type=int, default=32, help="LFW chips for the runtimes")
    parser.add_argument(
        "--runtimes", default="onnx,keras,opencv-dnn", help="embedder runtimes to compare"
    )
    parser.add_argument(
        "--output", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks" / "startup.md"
    )
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("WORKBENCH_VERBOSE", None)
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="workbench-startup-"))
    inputs = make_inputs(root)
    photo, gallery = str(inputs["photo"]), str(inputs["gallery"])

    # Warm every cache once (model files, converted weights) so runs measure start-up.
    probe = [sys.executable, "-c", CLI_PROBE]
    median_run([*probe, "enroll", str(inputs["folder"]), "--gallery", gallery, "--quiet"], env, 1)
    median_run([*probe, "live", str(inputs["clip"]), "--gallery", gallery], env, 1)
    commands = {
        "detect PHOTO": ["detect", photo],
        "embed PHOTO": ["embed", photo],
        "enroll DIR (1 photo)": ["enroll", str(inputs["folder"]), "--gallery", gallery, "--quiet"],
        "recognize PHOTO --gallery G": ["recognize", photo, "--gallery", gallery],
        "live CLIP (25 frames) --gallery G": ["live", str(inputs["clip"]), "--gallery", gallery],
    }
    rows = []
    baseline = median_run([sys.executable, "-c", "import tensorflow"], env, args.repeats)
    for label, argv in commands.items():
        wall, cpu, done = median_run([*probe, *argv], env, args.repeats)
        tf = "yes" if "TENSORFLOW True" in done.stdout else "no"
        rows.append((label, wall, cpu, len(done.stderr.splitlines()), tf))

    profiles = {
        "detect": import_profile(["-c", CLI_PROBE, "detect", photo], env),
        "recognize": import_profile(
            ["-c", CLI_PROBE, "recognize", photo, "--gallery", gallery], env
        ),
    }

    # The runtimes on real chips aligned by dlib, against dlib-bin.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dlib
    from embed import make_chips

    from workbench.assets import asset_path

    chips = make_chips(args.chips)
    reference = dlib.face_recognition_model_v1(str(asset_path("dlib_resnet_v1")))
    dlib_vectors = np.array([np.asarray(v) for v in reference.compute_face_descriptor(list(chips))])
    chips_path = root / "chips.npz"
    np.savez(chips_path, chips=chips, dlib=dlib_vectors)
    runtimes = {}
    for name in args.runtimes.split(","):
        results = []
        for _ in range(args.repeats):
            _, _, done = run([sys.executable, "-c", RUNTIME_PROBE, name, str(chips_path)], env)
            if done.returncode != 0:
                raise SystemExit(f"runtime {name} failed:\n{done.stderr}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        runtimes[name] = {
            "start_s": statistics.median(r["start_s"] for r in results),
            "b1": statistics.median(r["rates"]["1"] for r in results),
            "b32": statistics.median(r["rates"]["32"] for r in results),
            "diff": max(r["diff"] for r in results),
            "tensorflow": results[0]["tensorflow"],
        }
    load_after = os.getloadavg()[0]

    import cv2
    import onnxruntime

    versions = (
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
        f"OpenCV {cv2.__version__}, dlib {dlib.__version__}"
    )
    command = "`.venv/bin/python benchmarks/startup.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        "## Start-up (`benchmarks/startup.py`)",
        "",
        f"Command: {command.replace(' `', '`')}",
        f"Machine: {machine()}, {versions}. Load average {load_before:.1f} before, "
        f"{load_after:.1f} after (other work shares these cores). Each figure: a fresh "
        f"process, median of {args.repeats}, model files already cached.",
        "",
        "| command | wall s | CPU s (user+sys) | stderr lines | imports TensorFlow |",
        "| --- | ---: | ---: | ---: | :---: |",
        f'| `python -c "import tensorflow"` (baseline) | {baseline[0]:.2f} | '
        f"{baseline[1]:.2f} | | yes |",
        *[
            f"| `workbench {label}` | {wall:.2f} | {cpu:.2f} | {n} | {tf} |"
            for label, wall, cpu, n, tf in rows
        ],
        "",
        "Import time by top-level package (self time, s, one `-X importtime` run; the "
        "five largest):",
        "",
        "| command | " + " | ".join(["package (s)"] * 5) + " | total |",
        "| --- |" + " --- |" * 6,
    ]
    for name, profile in profiles.items():
        top = sorted(profile.items(), key=lambda kv: -kv[1])[:5]
        cells = [f"{pkg} {sec:.2f}" for pkg, sec in top]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {sum(profile.values()):.2f} |")
    lines += [
        "",
        f"Embedder runtimes: {len(chips)} real LFW chips aligned by dlib, each runtime in "
        "its own process; start = import + load + first call; faces/s median of 3 passes; "
        "parity = largest |ours - dlib-bin| over the chips.",
        "",
        "| runtime | start s | faces/s batch 1 | faces/s batch 32 | parity | TensorFlow |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for name, r in runtimes.items():
        lines.append(
            f"| {name} | {r['start_s']:.2f} | {r['b1']:.1f} | {r['b32']:.1f} | "
            f"{r['diff']:.1e} | {'yes' if r['tensorflow'] else 'no'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
