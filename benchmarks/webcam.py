"""The two browser cameras in a real JupyterLab, same run: the anywidget ``WebcamWidget``
(JPEG frames streamed as binary buffers, acked) and ipywebrtc's ``ImageRecorder``
(snapshots re-armed by ``BrowserCameraSource``).

JupyterLab runs in headless Debian Chromium (Playwright) with a fake 640x480 camera
playing LFW stills (a y4m clip written in a temp folder). One notebook shows both widgets;
a thread in the kernel measures, one camera at a time (the other paused):

1. ``WebcamSource`` over the widget, for each in-flight limit: frames/s read by the
   source and received by the kernel, gaps, capture (browser clock) to kernel latency,
   decode time, frames in flight; the kernel draws a box with the frame number over the
   preview on every frame, as the live loop would.
2. Flow control: the kernel's main thread is blocked for 3 s (a busy cell); how many
   frames arrive right after, captured before it ended (with the limit, and without:
   ``max_in_flight=1000``).
3. ``BrowserCameraSource`` (JPEG): frames/s, gaps, and the time from arming a snapshot to
   its image reaching the kernel (an upper bound on its capture-to-kernel latency).
4. With ``--recognizer``: the live loop (MediaPipe + tracking + Keras embedder, one
   enrolled person) on ``WebcamSource``: processed frames/s and capture-to-result latency.

Writes ``docs/benchmarks/webcam.md`` (and a screenshot of the annotated preview to
``artifacts/webcam_overlay.png`` with ``--screenshot``; it shows a face from the
clip, so it stays out of git).

Run: .venv/bin/python benchmarks/webcam.py [--seconds 15] [--recognizer] [--screenshot]
     .venv/bin/python benchmarks/webcam.py --check-denied   (camera refused: the reason)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import machine, write_y4m  # noqa: E402  (benchmarks/live.py, beside this file)

from workbench.data import PROJECT_ROOT, shared_data_dir  # noqa: E402
from workbench.testing.lab import (  # noqa: E402
    CHROMIUM,
    chromium_flags,
    jupyter_lab,
    write_notebook,
)

#: Reading notes and the decision, written under the figures (they hold for any run).
NOTES = [
    "",
    "### Which camera the product should use",
    "",
    "`WebcamWidget` + `WebcamSource` for everything live. In the same run it delivers an "
    "order of magnitude more frames to the kernel than ipywebrtc's `ImageRecorder`, with a "
    "capture-to-kernel latency of tens of milliseconds instead of half a second to "
    "seconds, and without ipywebrtc's multi-second stalls (its snapshot builds a new "
    "`<video>` element per frame and waits for it to play). Its overlays are drawn by the "
    "browser from a small JSON trait, so the annotated view costs no image round trip; a "
    "stalled kernel gets at most `max_in_flight` stale frames, not a backlog. It is one "
    "Python file with inline JavaScript (no build step, no CDN) on anywidget, and it works "
    "with the JupyterLab 4.6 / ipywidgets 8.1 stack that makes ipywebrtc print a version "
    "warning. `WebcamWidget.read()` also covers single snapshots (enrollment), so "
    "ipywebrtc can be dropped once the notebooks and `workbench/ui` move over.",
    "",
    "Notes:",
    "- The anywidget camera's frames/s here look bounded by CPU, not by the protocol: "
    "raising the in-flight limit past 2 adds latency, not frames (so 2 is the default). "
    "Headless Chromium runs with `--disable-gpu`, so drawing each frame to a canvas and "
    "encoding JPEG happen in software, on the same 2 shared cores as JupyterLab, the "
    "kernel and other work (see the load average). A desktop browser with a GPU on an idle "
    "machine should come closer to the camera's 30 frames/s; not measured here.",
    "- JupyterLab 4.6 with ipykernel 7 handles widget messages on a kernel subshell thread "
    "(the handler's thread is named `subshell-...`), so frames keep arriving while a cell "
    "runs on the main thread; the flow-control test therefore blocks the handler thread "
    "itself.",
    "- With the limit, a 3 s stall leaves only the frames in flight (captured before it "
    "ended) and the stream is current again within milliseconds; without it "
    "(`max_in_flight=1000`) the browser keeps sending, and the whole 3 s of frames queue "
    "up and reach the kernel afterwards, all of them seconds old.",
    "- ipywebrtc's latency is measured from arming a snapshot to its image in the kernel, "
    "an upper bound on its capture-to-kernel latency; the anywidget camera's from the "
    "browser drawing the frame (browser clock) to the kernel receiving it.",
]

SETUP_CELL = """import json, threading, time
import numpy as np
import ipywebrtc
from workbench.live import BrowserCameraSource, WebcamSource, WebcamWidget
webcam = WebcamWidget(width=640, height=480, fps=30, quality=0.8, max_in_flight=2)
webcam"""

WEBRTC_CELL = """cam = ipywebrtc.CameraStream(
    constraints={"audio": False, "video": {"width": 640, "height": 480}}
)
recorder = ipywebrtc.ImageRecorder(stream=cam, format="jpeg")
cam"""

MEASURE_CELL = r'''
kernel = get_ipython().kernel

def pct(values, q):
    return float(np.percentile(values, q)) if len(values) else float("nan")

def wait_streaming(timeout=90):
    deadline = time.monotonic() + timeout
    while webcam.status != "streaming" and time.monotonic() < deadline:
        if webcam.error:
            raise RuntimeError(webcam.error)
        time.sleep(0.1)
    if webcam.status != "streaming":
        raise RuntimeError(f"webcam status {webcam.status!r} after {timeout} s")

def measure_webcam(limit, seconds):
    webcam.max_in_flight = limit
    time.sleep(1.0)  # let the new limit take hold
    source = WebcamSource(webcam, frame_timeout_s=30)
    received0 = webcam.received
    reads, latency, decode, in_flight, shape = [], [], [], [], None
    t0 = time.monotonic()
    for frame in source:
        last = source.last
        reads.append(frame.timestamp)
        latency.append(1000 * (last.received - last.captured))
        in_flight.append(last.in_flight)
        shape = frame.image.shape
        decode.append(1000 * (time.monotonic() - last.received))
        h, w = frame.image.shape[:2]
        webcam.overlays = [{"box": [w // 4, h // 8, 3 * w // 4, 7 * h // 8],
                            "label": f"frame {last.seq}"}]
        if time.monotonic() - t0 >= seconds:
            break
    elapsed = time.monotonic() - t0
    source.close()
    encode = [a[3] for a in arrivals if a[0] >= t0]
    gaps = np.diff(reads) * 1000
    return {
        "camera": "anywidget", "max_in_flight": limit, "seconds": elapsed,
        "frames_read": len(reads), "read_fps": (len(reads) - 1) / (reads[-1] - reads[0]),
        "received_fps": (webcam.received - received0) / elapsed,
        "skipped": source.skipped,
        "gap_p50_ms": pct(gaps, 50), "gap_p95_ms": pct(gaps, 95), "gap_max_ms": float(gaps.max()),
        "latency_p50_ms": pct(latency, 50), "latency_p95_ms": pct(latency, 95),
        "read_after_receive_p50_ms": pct(decode, 50),
        "encode_p50_ms": pct(encode, 50), "encode_p95_ms": pct(encode, 95),
        "in_flight_max": max(in_flight),
        "bytes": len(source.last.jpeg), "shape": list(shape),
    }

arrivals = []  # (receive time, capture time, handler thread) of every frame message

def log_arrival(widget, content, buffers):
    if content.get("type") == "frame":
        now = time.monotonic()
        delay = time.time() - content["t"] / 1000
        arrivals.append(
            (now, now - delay, threading.current_thread().name, content.get("encode_ms", 0))
        )

webcam.on_msg(log_arrival)

def busy_kernel(limit, block_s=3.0):
    """Block the kernel thread that handles widget messages for block_s (one handler call
    sleeps, after the widget's own handler has acked that frame) and see what arrives
    during and right after it. JupyterLab 4.6 + ipykernel 7 handle widget messages on a
    subshell thread, not on the main thread that runs cells, so a busy cell does not
    block them; a slow handler does."""
    webcam.max_in_flight = limit
    time.sleep(1.5)
    span = {}
    def block(widget, content, buffers):
        if "start" in span or content.get("type") != "frame":
            return
        span["start"] = time.monotonic()
        span["thread"] = threading.current_thread().name
        time.sleep(block_s)
        span["end"] = time.monotonic()
    webcam.on_msg(block)
    time.sleep(block_s + 5.0)
    webcam.on_msg(block, remove=True)
    s, e = span["start"], span["end"]
    during = [a for a in arrivals if s < a[0] < e]
    after = [a for a in arrivals if e <= a[0] < e + 4.0]
    stale = [a for a in after if a[1] < e]
    return {"max_in_flight": limit, "block_s": block_s, "block_thread": span["thread"],
            "handler_threads": sorted({a[2] for a in arrivals}),
            "received_during_block": len(during), "after_4s": len(after),
            "stale_after": len(stale),
            "stale_worst_ms": 1000 * max((a[0] - a[1] for a in stale), default=0.0),
            "catch_up_ms": 1000 * (max((a[0] for a in stale), default=e) - e)}

def measure_webrtc(seconds):
    arms, waits = [], []
    def on_rec(change):
        now = time.monotonic()
        if change["new"]:
            arms.append(now)
        elif arms:
            waits.append(1000 * (now - arms[-1]))
    recorder.observe(on_rec, names="recording")  # before the source: sees arms first
    source = BrowserCameraSource(cam, recorder, image_format="jpeg", frame_timeout_s=60)
    stamps, shape = [], None
    t0 = time.monotonic()
    for frame in source:
        stamps.append(frame.timestamp)
        shape = frame.image.shape
        if time.monotonic() - t0 >= seconds:
            break
    source.close()
    recorder.unobserve(on_rec, names="recording")
    gaps = np.diff(stamps) * 1000
    return {
        "camera": "ipywebrtc", "seconds": time.monotonic() - t0, "frames_read": len(stamps),
        "read_fps": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "gap_p50_ms": pct(gaps, 50), "gap_p95_ms": pct(gaps, 95), "gap_max_ms": float(gaps.max()),
        "latency_p50_ms": pct(waits, 50), "latency_p95_ms": pct(waits, 95),
        "shape": list(shape),
    }

def measure_loop(seconds):
    import tempfile
    from pathlib import Path
    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.live import LiveRecognizer
    from workbench.recognize import Recognizer
    embedder = default_embedder()
    tmp = Path(tempfile.mkdtemp())
    gallery = Gallery(tmp / "g.sqlite", model_id=embedder.model_id)
    with create_detector("mediapipe") as det, gallery as g:
        rec = Recognizer(det, embedder, g)
        g.enroll(PERSON, ENROLL, recognizer=rec)
        rec.recognize(webcam.read())  # warm-up
        named = []
        def show(result):
            named.append(result.names[0] if len(result) else None)
            webcam.overlays = [
                {"box": [float(v) for v in box], "label": name}
                for box, name in zip(result.boxes, result.names)
            ]
        webcam.max_in_flight = 2
        live = LiveRecognizer(WebcamSource(webcam, frame_timeout_s=30), rec, on_result=show)
        with live:
            time.sleep(seconds)
            live.stop()
        s = live.stats()
    return {"processed_fps": s.processed_fps, "captured_fps": s.capture_fps,
            "frames_processed": s.frames_processed, "frames_captured": s.frames_captured,
            "dropped": s.frames_dropped, "latency_p50_ms": s.latency_p50_ms,
            "latency_p95_ms": s.latency_p95_ms, "detect_ms": s.detect_ms,
            "named_share": sum(n == PERSON for n in named) / max(1, len(named))}

def run():
    out = {"runs": [], "busy": [], "errors": []}
    try:
        wait_streaming()
        for limit in LIMITS:
            out["runs"].append(measure_webcam(limit, SECONDS))
        out["busy"].append(busy_kernel(2))
        out["busy"].append(busy_kernel(1000))
        webcam.max_in_flight = 2
        if RECOGNIZER:
            out["loop"] = measure_loop(SECONDS)
        webcam.streaming = False  # the other camera measures alone
        time.sleep(0.5)
        out["runs"].append(measure_webrtc(SECONDS))
        webcam.streaming = True
        webcam.overlays = [{"box": [160, 60, 480, 420], "label": "Colin Powell"}]
    except Exception as exc:
        import traceback
        out["errors"].append(traceback.format_exc())
    Path(RESULT).write_text(json.dumps(out))

from pathlib import Path
threading.Thread(target=run, daemon=True).start()
'''


def run_lab(
    tmp: Path,
    clip: Path,
    cells: list[str],
    result: Path,
    *,
    timeout: float,
    shot=None,
    allow_camera: bool = True,
):
    """Run ``cells`` in JupyterLab in headless Chromium until ``result`` appears.

    ``allow_camera=False`` launches Chromium without the flag that accepts the camera
    prompt and without granting the permission, so ``getUserMedia`` is refused."""
    from playwright.sync_api import sync_playwright

    root = tmp / "lab"
    root.mkdir(exist_ok=True)
    write_notebook(root / "webcam.ipynb", cells)
    console: list[str] = []
    with jupyter_lab(root, workdir=tmp) as server:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=chromium_flags(clip, allow_camera=allow_camera),
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1400})
                if allow_camera:
                    context.grant_permissions(["camera"])
                page = context.new_page()
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                page.goto(server.url("/lab/tree/webcam.ipynb?reset"))
                page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=90_000)
                time.sleep(5)  # let the kernel start
                for _ in range(3):  # dialogs (kernel choice) in the way
                    dialog = page.locator(".jp-Dialog .jp-mod-accept")
                    if not dialog.count():
                        break
                    dialog.first.click()
                    time.sleep(1)
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                deadline = time.monotonic() + timeout
                while not result.exists() and time.monotonic() < deadline:
                    time.sleep(0.5)
                if shot is not None and result.exists():
                    time.sleep(1.5)  # the last overlay
                    page.locator(".wb-webcam").first.screenshot(path=str(shot))
            finally:
                browser.close()
    return console


DENIED_CELL = """import json, threading
from workbench.live import WebcamSource, WebcamWidget
webcam = WebcamWidget()
display(webcam)
def run():
    source = WebcamSource(webcam, frame_timeout_s=60)
    frames = sum(1 for _ in source)
    Path(RESULT).write_text(json.dumps(
        {"frames": frames, "reason": source.reason, "status": webcam.status}))
from pathlib import Path
threading.Thread(target=run, daemon=True).start()"""


def check_denied(photos: list[Path]) -> None:
    """Chromium refuses the camera: the widget reports it, the source ends with it."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "camera.y4m"
        write_y4m(photos[:1], clip)
        result = tmp / "denied.json"
        t0 = time.monotonic()
        console = run_lab(
            tmp,
            clip,
            [f"RESULT = {str(result)!r}", DENIED_CELL],
            result,
            timeout=120,
            allow_camera=False,
        )
        if not result.exists():
            print("\n".join(console[-20:]))
            raise SystemExit("no result from the notebook")
        print(f"camera refused: {result.read_text()} ({time.monotonic() - t0:.0f} s in all)")


def report(out: dict, args, load: tuple[float, float]) -> list[str]:
    import anywidget
    import ipywebrtc
    import jupyterlab

    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    command = "`.venv/bin/python benchmarks/webcam.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        "## Browser cameras (`benchmarks/webcam.py`)",
        "",
        f"Command: {command.replace(' `', '`')}",
        f"Machine: {machine()}, Python {platform.python_version()}, {chromium} headless "
        f"(`--disable-gpu`), JupyterLab {jupyterlab.__version__}, anywidget "
        f"{anywidget.__version__}, ipywebrtc {ipywebrtc.__version__}. Load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after (other work shares these cores, and "
        "the browser, the server and the kernel share them too).",
        f"Camera: Chromium's fake device playing a 640x480 30 fps y4m clip of LFW stills; "
        f"both widgets on one page of one notebook; each measured for {args.seconds:g} s by a "
        "thread in the kernel, the other camera paused.",
        "",
        "| camera | in flight max | frames read | frames/s read | frames/s into the kernel | "
        "gap p50 ms | p95 ms | max ms | latency p50 ms | p95 ms | draw + encode p50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in out["runs"]:
        if r["camera"] == "anywidget":
            name = f"`WebcamWidget` + `WebcamSource`, JPEG q0.8, limit {r['max_in_flight']}"
            flight, into = str(r["in_flight_max"]), f"{r['received_fps']:.1f}"
            encode = f"{r['encode_p50_ms']:.0f}"
        else:
            name = "ipywebrtc `ImageRecorder` + `BrowserCameraSource`, JPEG"
            flight, into, encode = "1", f"{r['read_fps']:.1f}", "n/a"
        lines.append(
            f"| {name} | {flight} | {r['frames_read']} | {r['read_fps']:.1f} | {into} | "
            f"{r['gap_p50_ms']:.0f} | {r['gap_p95_ms']:.0f} | {r['gap_max_ms']:.0f} | "
            f"{r['latency_p50_ms']:.0f} | {r['latency_p95_ms']:.0f} | {encode} |"
        )
    lines += [
        "",
        "Latency: for the anywidget camera, from the browser drawing the frame to its "
        "canvas (its clock) to the kernel receiving the message (same machine, same clock); "
        "for ipywebrtc, from the kernel arming a snapshot to its image reaching the kernel "
        "(the snapshot is taken in between, so this bounds its capture-to-kernel latency). "
        "Frames/s read: what `WebcamSource` handed to its reader (which set an overlay per "
        "frame); into the kernel: what the widget received.",
    ]
    aw = [r for r in out["runs"] if r["camera"] == "anywidget"]
    if aw:
        r = aw[0]
        lines.append(
            f"JPEG of a 640x480 frame: {r['bytes'] / 1024:.0f} KiB; decode in the reader "
            f"(receive to decoded) p50 {r['read_after_receive_p50_ms']:.1f} ms."
        )
    if out["busy"]:
        lines += [
            "",
            "Flow control: the kernel thread that handles widget messages blocked for 3 s "
            "(one message handler sleeps; in this JupyterLab that thread is a kernel "
            f"subshell, `{out['busy'][0]['block_thread'][:9]}...`, so a busy cell on the "
            "main thread does not stop frames):",
            "",
            "| in-flight limit | frames received during the block | in the 4 s after | of them "
            "captured before it ended | their worst latency ms | caught up after ms |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for b in out["busy"]:
            lines.append(
                f"| {b['max_in_flight']} | {b['received_during_block']} | {b['after_4s']} | "
                f"{b['stale_after']} | {b['stale_worst_ms']:.0f} | {b['catch_up_ms']:.0f} |"
            )
    if "loop" in out:
        lo = out["loop"]
        lines += [
            "",
            f"Live loop on `WebcamSource` (MediaPipe short range + tracking + Keras embedder, "
            f"{args.person} enrolled, overlays sent back to the widget on every result), "
            f"{args.seconds:g} s: captured {lo['captured_fps']:.1f} frames/s, processed "
            f"{lo['processed_fps']:.1f} frames/s ({lo['frames_processed']}/"
            f"{lo['frames_captured']}, {lo['dropped']} dropped), latency from browser capture "
            f"to result p50 {lo['latency_p50_ms']:.0f} ms, p95 {lo['latency_p95_ms']:.0f} ms, "
            f"detect {lo['detect_ms']:.1f} ms; main face named {args.person} in "
            f"{lo['named_share']:.0%} of results.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="per measurement")
    parser.add_argument("--person", default="Colin_Powell")
    parser.add_argument("--limits", default="2,1", help="in-flight limits to measure")
    parser.add_argument("--recognizer", action="store_true", help="also the live loop")
    parser.add_argument("--screenshot", action="store_true")
    parser.add_argument(
        "--check-denied",
        action="store_true",
        help="only check that a refused camera ends WebcamSource with the reason",
    )
    parser.add_argument(
        "--output", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks" / "webcam.md"
    )
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None or not (data / "lfw" / args.person).is_dir():
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    photos = sorted((data / "lfw" / args.person).glob("*.jpg"))
    limits = [int(v) for v in args.limits.split(",")]
    if args.check_denied:
        check_denied(photos)
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "camera.y4m"
        write_y4m(photos[8:12], clip)
        result = tmp / "webcam.json"
        params = (
            f"SECONDS = {args.seconds}\nRESULT = {str(result)!r}\nLIMITS = {limits!r}\n"
            f"RECOGNIZER = {args.recognizer}\nPERSON = {args.person!r}\n"
            f"ENROLL = {[str(p) for p in photos[:8]]!r}"
        )
        shot = PROJECT_ROOT / "artifacts" / "webcam_overlay.png" if args.screenshot else None
        n = len(limits) + 1 + (1 if args.recognizer else 0)
        console = run_lab(
            tmp,
            clip,
            [params, SETUP_CELL, WEBRTC_CELL, MEASURE_CELL],
            result,
            timeout=n * (args.seconds + 15) + 90 + (180 if args.recognizer else 0),
            shot=shot,
        )
        if not result.exists():
            print("\n".join(console[-40:]))
            print((tmp / "lab.log").read_text()[-4000:])
            raise SystemExit("no result from the notebook (console and lab log above)")
        out = json.loads(result.read_text())
    if out["errors"]:
        print("\n".join(console[-40:]))
        raise SystemExit("the measurement failed:\n" + "\n".join(out["errors"]))
    lines = report(out, args, (load_before, os.getloadavg()[0]))
    if shot is not None and shot.exists():
        lines += [
            "",
            "The preview at the end of the run, with a box and a name the kernel set in "
            "`overlays`, drawn by the browser:",
            "",
            "![WebcamWidget preview with an overlay](../img/webcam_overlay.png)",
        ]
    text = "\n".join(lines + NOTES)
    print(text)
    print(json.dumps(out, indent=1), file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
