"""Fuzz runs at large counts, with plain Pillow as the baseline measured in the same run.

Sub-commands:

``images``
    :func:`workbench.images.load_image` over the seeded corpus of ``tests/fuzz/
    image_corpus.py`` (mutated JPEG, PNG, GIF, TIFF, WebP, BMP made from LFW photos; the
    same generator ``make test`` runs at 600 cases). Each case is judged ``refused``
    (a clean ``InvalidImageError``), ``decoded``, ``crash`` (any other exception, a
    broken array, or the worker process dying in native code), ``silent`` (damage that a
    checksum or the file's end should have caught, decoded to other pixels) or ``hang``
    (no answer within ``--hang-s``). Plain Pillow (open, load, convert) is judged by the
    same rules on the same bytes: what ``load_image`` was worth against.

Cases run in worker processes (``--workers``), each over a range of case indices,
reporting one line per case; a worker that dies or goes quiet is counted at the case it
was on and a fresh worker resumes after it, so a native crash is counted rather than
ending the run. Any case can be remade alone from ``--seed`` and its index (see
``image_corpus.generate``); ``--keep DIR`` writes the crash, silent and hang cases there.

Run:
    .venv/bin/python benchmarks/fuzz.py images --count 20000 [--seed 0] [--workers 2]
    make fuzz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import image_corpus as corpus  # noqa: E402
from _machine import machine  # noqa: E402

#: LFW people whose first photo seeds the corpus (the same as the test's).
PEOPLE = ("AJ_Cook", "Abdullah_Gul", "Serena_Williams")


def _photos() -> list[Path]:
    from workbench.data import shared_data_dir

    root = shared_data_dir()
    if root is None:
        sys.exit("fuzz: shared data not found (set WORKBENCH_DATA); the seeds are LFW photos")
    photos = [root / "lfw" / name / f"{name}_0001.jpg" for name in PEOPLE]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        sys.exit(f"fuzz: LFW photos missing: {missing}")
    return photos


def _outcome_dict(outcome: corpus.Outcome) -> dict:
    return {"k": outcome.kind, "c": outcome.changed, "s": outcome.seconds, "d": outcome.detail}


def image_worker(args: argparse.Namespace) -> int:
    """One line per case on stdout: ``{"start": i}`` before, the verdicts after."""
    seeds = corpus.make_seeds(_photos())
    for case in corpus.generate(
        seeds, count=args.stop - args.start, seed=args.seed, start=args.start
    ):
        print(json.dumps({"start": case.index}), flush=True)
        ours = corpus.judge(case)
        base = corpus.judge_pillow(case)
        record = {"i": case.index, "fmt": case.seed.fmt, "file": case.filename}
        record.update(ours=_outcome_dict(ours), base=_outcome_dict(base))
        print(json.dumps(record), flush=True)
    return 0


class _Run:
    """Hands out case ranges to worker processes and gathers their verdicts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ours = corpus.Tally()
        self.base = corpus.Tally()
        self.lock = threading.Lock()
        self.keep = Path(args.keep) if args.keep else None
        self.seeds = corpus.make_seeds(_photos()) if self.keep else None
        self.restarts = 0

    def _keep(self, index: int) -> None:
        if self.keep is None:
            return
        self.keep.mkdir(parents=True, exist_ok=True)
        [case] = corpus.generate(self.seeds, count=1, seed=self.args.seed, start=index)
        (self.keep / case.filename).write_bytes(case.data)

    def _record(self, line: dict) -> None:
        with self.lock:
            for tally, key in ((self.ours, "ours"), (self.base, "base")):
                o = line[key]
                tally.record(
                    line["fmt"], line["file"], corpus.Outcome(o["k"], o["d"], o["c"], o["s"])
                )
            if line["ours"]["k"] in ("crash", "silent"):
                self._keep(line["i"])

    def _lost(self, index: int, kind: str, detail: str) -> None:
        # The worker died (or hung) on this case: both judges are charged, since the
        # baseline ran in the same process after ours; which one died is in the detail.
        fmt = corpus.FORMATS[index % len(corpus.FORMATS)]
        name = f"{index:05d}-{fmt.lower()}"
        with self.lock:
            self.ours.record(fmt, name, corpus.Outcome(kind, detail))
            self.base.record(fmt, name, corpus.Outcome(kind, detail))
            self._keep(index)

    def run_range(self, start: int, stop: int) -> None:
        while start < stop:
            cmd = [sys.executable, __file__, "_image-worker", "--seed", str(self.args.seed)]
            cmd += ["--start", str(start), "--stop", str(stop)]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
            )
            current, last_line = None, [time.monotonic()]  # a list: the watcher reads it
            threading.Thread(target=self._watch, args=(proc, last_line), daemon=True).start()
            for raw in proc.stdout:
                last_line[0] = time.monotonic()
                line = json.loads(raw)
                if "start" in line:
                    current = line["start"]
                else:
                    self._record(line)
                    current = None
                    start = line["i"] + 1
            code = proc.wait()
            if current is None:
                if code != 0 and start < stop:
                    sys.exit(f"fuzz: worker failed before its first case:\n{proc.stderr.read()}")
                continue
            hung = getattr(proc, "hung", False)
            kind = "hang" if hung else "crash"
            detail = (
                f"no answer in {self.args.hang_s:g} s" if hung else f"worker died ({_signal(code)})"
            )
            self._lost(current, kind, detail)
            self.restarts += 1
            start = current + 1

    def _watch(self, proc: subprocess.Popen, last_line: list[float]) -> None:
        while proc.poll() is None:
            if time.monotonic() - last_line[0] > self.args.hang_s:
                proc.hung = True
                proc.kill()
                return
            time.sleep(0.5)


def _signal(code: int) -> str:
    import signal

    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit status {code}"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return env


def images(args: argparse.Namespace) -> int:
    run = _Run(args)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    step = -(-args.count // args.workers)
    ranges = [(s, min(s + step, args.count)) for s in range(0, args.count, step)]
    threads = [threading.Thread(target=run.run_range, args=r) for r in ranges]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    _report(args, run, wall, load_before, load_after)
    return 1 if run.ours.kinds["crash"] or run.ours.kinds["silent"] or run.ours.kinds["hang"] else 0


def _report(args, run: _Run, wall: float, load_before, load_after) -> None:
    ours, base = run.ours, run.base
    print(
        f"command: benchmarks/fuzz.py images --count {args.count} --seed {args.seed} "
        f"--workers {args.workers}"
    )
    print(
        f"machine: {machine()}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; {wall:.1f} s wall, {args.count / wall:.0f} cases/s"
    )
    print(f"worker restarts after a crash or hang: {run.restarts}")
    kinds = ("refused", "decoded", "crash", "silent", "hang")
    print()
    print("| judge | tried | " + " | ".join(kinds) + " | decoded, changed | ms/case |")
    print("| --- | ---: | " + " | ".join("---:" for _ in kinds) + " | ---: | ---: |")
    for name, t in (("load_image", ours), ("plain Pillow (baseline)", base)):
        cells = " | ".join(str(t.kinds[k]) for k in kinds)
        ms = 1000 * t.seconds / max(1, t.tried)
        print(f"| {name} | {t.tried} | {cells} | {t.changed} | {ms:.2f} |")
    print()
    print("| format | " + " | ".join(f"{k} (ours / Pillow)" for k in kinds) + " |")
    print("| --- | " + " | ".join("---:" for _ in kinds) + " |")
    for fmt in corpus.FORMATS:
        cells = " | ".join(f"{ours.by_format[fmt, k]} / {base.by_format[fmt, k]}" for k in kinds)
        print(f"| {fmt} | {cells} |")
    print()
    print(f"slowest load_image case: {ours.slowest[1]} ({ours.slowest[0] * 1000:.0f} ms)")
    if base.crash_types:
        top = ", ".join(f"{n} {k}" for k, n in base.crash_types.most_common(8))
        print(f"plain Pillow's uncaught exceptions: {top}")
    for kind in ("crash", "silent", "hang"):
        for line in ours.examples.get(kind, []):
            print(f"load_image {kind}: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("images", help="load_image over mutated photos (and plain Pillow)")
    p.add_argument("--count", type=int, default=20000, help="cases (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--hang-s", type=float, default=60.0, help="seconds before a case is a hang")
    p.add_argument("--keep", metavar="DIR", help="write crash, silent and hang cases here")
    p.set_defaults(func=images)
    w = sub.add_parser("_image-worker")  # internal: one worker process
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--start", type=int, required=True)
    w.add_argument("--stop", type=int, required=True)
    w.set_defaults(func=image_worker)
    args = parser.parse_args(argv)
    if getattr(args, "count", 1) < 1 or getattr(args, "workers", 1) < 1:
        parser.error("--count and --workers must be >= 1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
