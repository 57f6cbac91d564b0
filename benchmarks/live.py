"""Live loop throughput and latency with the real recognizer, tracking against no tracking.

In one run, with one MediaPipe detector, the Keras embedder and a temporary gallery:

1. A 640x480 clip of one enrolled LFW person, built from stills of that person that were
   not enrolled (each still held 0.5 s at 30 fps, drifting a pixel a frame as a face in
   front of a webcam does), written as MJPG in a temp folder:
   - lockstep (the source hands over the next frame when the last result is out, so
     every frame is processed): processed fps and latency, tracking vs every face
     every frame (the baseline);
   - free-running (frames as fast as they decode, the loop drops what it cannot take):
     processed fps with tracking;
   - realtime (paced at the clip's 30 fps, as a camera delivers): end-to-end latency
     p50/p95 and dropped frames, tracking vs baseline.
2. ``../shared/data/video/crowd_walk.mp4`` (1080p, 6-7 faces a frame), lockstep with both
   MediaPipe ranges: processed fps, faces, embeddings, and what tracking saved.
3. Optionally (``--soak-frames N``), a soak: N frames of the clip, looped in memory,
   free-running through the loop with the real recognizer; resident memory before and
   after, threads left, frames processed twice.

Writes a Markdown section to ``docs/benchmarks/live.md``.

With ``--only-fused`` it measures only today's embedder against the fused one
(:mod:`workbench.embed.fused`: both models on every face, and the fused gallery's cascade,
:mod:`workbench.cascade`, with the product's band, the bands of ``--bands`` and, with
``--no-mirror``, the product's band with stage 2 without the mirror chip) on the clip,
on a clip of strangers and on crowd_walk.mp4 (unless ``--skip-crowd``), alternating,
each run with the product's unknowns keeper attached (its time counted), and prints the
rows (recorded in docs/benchmarks/lfw.md) instead of writing live.md.

Run: .venv/bin/python benchmarks/live.py [--person Colin_Powell] [--stills 20]
         [--soak-frames 0] [--skip-crowd] [--only-fused [--bands 0.11:0.09] [--no-mirror]]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from _machine import machine  # noqa: E402 - the script's folder is on sys.path

from workbench.data import PROJECT_ROOT, shared_data_dir
from workbench.faces import UNKNOWN
from workbench.live import (
    Frame,
    IterableSource,
    LiveRecognizer,
    LiveStats,
    TrackerOptions,
    VideoFileSource,
)

CLIP_FPS = 30.0
CLIP_SIZE = (640, 480)
HOLD_FRAMES = 15  # each still shown 0.5 s
DISTRACTORS = ("Tony_Blair", "Gerhard_Schroeder", "Donald_Rumsfeld", "Ariel_Sharon")

#: Reading notes printed under the table (they hold for any run; the figures do not).
NOTES = [
    "",
    "Notes:",
    "- Tracking embeds a face when its track is new and then every 10 processed frames, "
    "so its p95 latency is a frame that carries an embedding while p50 is detection only; "
    "the baseline embeds on every frame.",
    "- Lockstep rows measure the loop's own throughput (no drops); the realtime rows are "
    "what a 30 fps camera sees: dropped frames and the capture-to-result latency.",
    "- Free-running on a file is bounded by decoding: the clip is decoded long before the "
    "worker finishes, so few frames are processed; ages in the tracker count processed "
    "frames, so dropped frames do not make every track stale.",
    "- crowd_walk.mp4's faces are small: BlazeFace short range finds none, full range finds "
    "some of the 6-7 (more at a lower score); MTCNN finds all 7 but takes about 1.5 s a "
    "1080p frame.",
    "- The embedder compiles once per padded batch size on first use (0.5-1 s each on two "
    "cores); the loop's warm-up covers one and two faces before its threads start.",
]


def make_clip(stills: list[Path], path: Path) -> int:
    """Write the webcam-like 640x480 clip; returns its frame count."""
    w, h = CLIP_SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, (w, h))
    n = 0
    for still in stills:
        face = cv2.imread(str(still))  # BGR, as the writer wants
        face = cv2.resize(face, (400, 400), interpolation=cv2.INTER_LINEAR)
        for k in range(HOLD_FRAMES):
            frame = np.full((h, w, 3), 110, np.uint8)
            x = 100 + k * 2  # a slow drift so boxes move between frames
            frame[40:440, x : x + 400] = face
            writer.write(frame)
            n += 1
    writer.release()
    return n


def lockstep_source(path: Path) -> tuple[IterableSource, Callable]:
    """A source that hands over frame i+1 only once frame i's result is out.

    Returns the source and the callback that releases the next frame. The frame's
    timestamp is taken at hand-over, so latency excludes decoding.
    """
    ready = threading.Semaphore(0)

    def frames():
        with VideoFileSource(path) as video:
            for frame in video:
                yield Frame(frame.image, time.monotonic(), frame.index)
                if not ready.acquire(timeout=60):
                    return

    return IterableSource(frames()), lambda result: ready.release()


def run_loop(
    source,
    recognizer,
    *,
    tracking: bool | TrackerOptions,
    person: str | None = None,
    callback=None,
    **loop_options,
):
    """Run to the end; returns stats and the share of frames whose largest face is
    labelled ``person`` (LFW stills often show a second, partial face in the background:
    those faces should not be named, so they are not counted)."""
    named = [0, 0]

    def count(result):
        if len(result):
            areas = (result.boxes[:, 2] - result.boxes[:, 0]) * (
                result.boxes[:, 3] - result.boxes[:, 1]
            )
            named[0] += result.names[int(np.argmax(areas))] == person
            named[1] += 1
        if callback is not None:
            callback(result)

    if tracking is True:
        tracking = TrackerOptions()
    live = LiveRecognizer(
        source, recognizer, tracking=tracking or None, on_result=count, **loop_options
    )
    with live:
        if not live.wait(timeout=600):
            raise SystemExit("a run did not finish in 10 minutes")
    return live.stats(), (named[0] / named[1] if named[1] else float("nan"))


def row(label: str, stats: LiveStats, extra: str = "") -> str:
    return (
        f"| {label} | {stats.frames_processed}/{stats.frames_captured} | "
        f"{stats.processed_fps:.1f} | {stats.latency_p50_ms:.1f} | {stats.latency_p95_ms:.1f} | "
        f"{stats.detect_ms:.1f} | {stats.embed_ms:.1f} | {stats.faces} | {stats.embeddings} |"
        f"{extra}"
    )


def soak(frames: list[np.ndarray], recognizer, n: int) -> list[str]:
    """N frames through the loop in lockstep (every one recognized, none dropped)."""
    import psutil

    process = psutil.Process()
    # Warm the parts first: MediaPipe and TensorFlow start helper threads of their own on
    # first use, which are not the loop's to join.
    recognizer.recognize(frames[0])
    threads_before = set(threading.enumerate())
    gc.collect()
    rss_before = process.memory_info().rss
    seen: list[int] = []
    ready = threading.Semaphore(0)

    def frames_in_lockstep():
        for i in range(n):
            # A fresh array per frame, as a camera gives: a leaked frame would show.
            yield Frame(frames[i % len(frames)].copy(), time.monotonic(), i)
            if not ready.acquire(timeout=60):
                return

    def on_result(result):
        seen.append(result.frame_id)
        ready.release()

    live = LiveRecognizer(IterableSource(frames_in_lockstep()), recognizer, on_result=on_result)
    t0 = time.monotonic()
    with live:
        live.wait()
    elapsed = time.monotonic() - t0
    gc.collect()
    growth = (process.memory_info().rss - rss_before) / 2**20
    stats = live.stats()
    twice = len(seen) - len(set(seen))
    ordered = bool(np.all(np.diff(seen) > 0)) if len(seen) > 1 else True
    left = sorted(t.name for t in threading.enumerate() if t not in threads_before)
    return [
        "",
        f"Soak: {n} frames of the clip (fresh copies) in lockstep, tracking on: "
        f"{stats.frames_processed} processed, {stats.frames_dropped} dropped in "
        f"{elapsed:.0f} s ({stats.processed_fps:.1f} fps, latency p95 "
        f"{stats.latency_p95_ms:.1f} ms); resident memory {rss_before / 2**20:.0f} MB before, "
        f"growth {growth:+.1f} MB; threads left: {left or 'none'}; frames processed twice: "
        f"{twice}; in order: {ordered}.",
    ]


CAMERA_NOTEBOOK_CELLS = [
    """import json, threading, time
from pathlib import Path
import ipywebrtc
from workbench.live import BrowserCameraSource
cam = ipywebrtc.CameraStream(
    constraints={"audio": False, "video": {"width": 640, "height": 480}}
)
recorder = ipywebrtc.ImageRecorder(stream=cam)
cam""",
    """def measure(fmt, seconds):
    source = BrowserCameraSource(cam, recorder, image_format=fmt, frame_timeout_s=60)
    stamps, shape = [], None
    for frame in source:
        stamps.append(frame.timestamp)
        shape = frame.image.shape
        if stamps[-1] - stamps[0] >= seconds:
            break
    source.close()
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    return {
        "format": fmt,
        "frames": len(stamps),
        "fps": (len(stamps) - 1) / (stamps[-1] - stamps[0]),
        "gap_p50_ms": 1000 * gaps[len(gaps) // 2],
        "gap_p95_ms": 1000 * gaps[int(len(gaps) * 0.95)],
        "shape": list(shape),
        "gap_max_ms": 1000 * gaps[-1],
    }

def run():
    try:
        out = [measure(fmt, SECONDS) for fmt in ("jpeg", "png")]
    except Exception as exc:
        out = {"error": repr(exc)}
    Path(RESULT).write_text(json.dumps(out))

# On a thread: widget messages (the frames) only reach the kernel while it is idle.
threading.Thread(target=run, daemon=True).start()""",
]


def write_y4m(stills: list[Path], path: Path, seconds_each: float = 1.0) -> None:
    """A 640x480 30 fps y4m clip for Chromium's fake camera, written without ffmpeg."""
    w, h = CLIP_SIZE
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for still in stills:
            frame = np.full((h, w, 3), 110, np.uint8)
            frame[40:440, 120:520] = cv2.resize(cv2.imread(str(still)), (400, 400))
            i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
            for _ in range(int(30 * seconds_each)):
                f.write(b"FRAME\n" + i420)


def browser_camera(stills: list[Path], tmp: Path, seconds: float) -> list[str]:
    """Frames/s that ipywebrtc's ImageRecorder delivers to BrowserCameraSource in a real
    JupyterLab in headless Chromium fed by a fake camera (JPEG and PNG snapshots)."""
    import json

    from playwright.sync_api import sync_playwright

    from workbench.testing.lab import CHROMIUM, chromium_flags, jupyter_lab, write_notebook

    clip = tmp / "camera.y4m"
    write_y4m(stills[:3], clip)
    root = tmp / "lab"
    root.mkdir()
    result = tmp / "camera.json"
    write_notebook(
        root / "camera.ipynb",
        [f"SECONDS = {seconds}\nRESULT = {str(result)!r}", *CAMERA_NOTEBOOK_CELLS],
    )
    with jupyter_lab(root, workdir=tmp) as server:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_flags(clip)
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.grant_permissions(["camera"])
                page = context.new_page()
                page.goto(server.url("/lab/tree/camera.ipynb?reset"))
                page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=90_000)
                time.sleep(5)  # let the kernel start
                for _ in range(3):  # toasts and dialogs (news, kernel choice) in the way
                    dialog = page.locator(".jp-Dialog .jp-mod-accept")
                    if not dialog.count():
                        break
                    dialog.first.click()
                    time.sleep(1)
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                deadline = time.monotonic() + 3 * seconds + 120
                while not result.exists() and time.monotonic() < deadline:
                    time.sleep(0.5)
            finally:
                browser.close()
    if not result.exists():
        return ["", "Browser camera: no result (see the lab log); not measured."]
    runs = json.loads(result.read_text())
    if isinstance(runs, dict):
        return ["", f"Browser camera: failed: {runs['error']}"]
    lines = [
        "",
        f"Browser camera (ipywebrtc 0.6 `ImageRecorder` re-armed by `BrowserCameraSource`, "
        f"JupyterLab in headless Chromium, fake 640x480 30 fps camera, {seconds:g} s each):",
        "",
        "| snapshot format | frames | frames/s into the kernel | gap p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r['format']} | {r['frames']} | {r['fps']:.1f} | {r['gap_p50_ms']:.0f} | "
            f"{r['gap_p95_ms']:.0f} | {r['gap_max_ms']:.0f} |"
        )
    lines += [
        "",
        "Seen in the first measurements: frames come in bursts (50-250 ms apart) broken by "
        "waits of about 2.7 s between arming a snapshot and its image arriving, so in the "
        "browser or on the way (ipywebrtc's snapshot builds a new `<video>` element per "
        "frame and waits for it to play); the kernel re-arms as soon as an image is in. "
        "That is too slow for live recognition: a camera widget that streams JPEG frames "
        "itself (anywidget) is the way DESIGN.md foresaw.",
    ]
    return lines


def stranger_stills(data: Path, n: int, skip: set[str]) -> list[Path]:
    """The first photo each of ``n`` LFW people (alphabetical, ``skip`` left out): a clip
    of strangers to a gallery of ``skip``."""
    people = sorted(p for p in (data / "lfw").iterdir() if p.is_dir() and p.name not in skip)
    return [sorted(p.glob("*.jpg"))[0] for p in people[:n]]


def _no_mirror_class():
    from workbench.embed.fused import FusedEmbedder

    class Stage2WithoutMirror(FusedEmbedder):
        """The fused embedder whose cascade stage 2 adds MobileFaceNet only (the probe's
        plain dlib vector in the fused vector; no mirror chip): measured, not the product."""

        def complete_dlib(self, image, keypoints, chips, dlib_vectors, *, batch_size=32):
            return self.fuse(dlib_vectors, self.embed_mobilefacenet(image, keypoints))

    return Stage2WithoutMirror


def fused_comparison(photos, data, args, tmp: Path, *, repeats: int = 2) -> list[str]:
    """Today's default embedder (dlib) against the fused one (dlib + MobileFaceNet, both
    models on every face and the cascade) on the same clips, in the same process,
    alternating ``repeats`` times so load drifts hit all: lockstep, every face every frame
    (each frame embeds its face: the per-face cost) and with tracking. Clips: the enrolled
    person's stills (a known face), one still each of people not enrolled (strangers) and
    ``crowd_walk.mp4`` with tracking (the product's default live configuration; nobody in
    it enrolled). Each run attaches the product's unknowns keeper as the live panel and
    the CLI do (``UnknownsKeeper(gallery, detector=, source=, embedder=)`` as an
    ``on_result`` callback: it runs on the worker thread); its time (completing the fused
    vectors it stores, aligning, writing) is added to the loop's process time."""
    from workbench.cascade import BAND_ABOVE, BAND_BELOW
    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.embed.fused import FusedEmbedder
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer, UnknownsKeeper

    clips = {"known face": tmp / "clip.avi", "strangers": tmp / "strangers.avi"}
    make_clip(photos[args.enroll : args.enroll + args.stills], clips["known face"])
    enrolled = {args.person, *DISTRACTORS}
    make_clip(stranger_stills(data, args.stills, enrolled), clips["strangers"])
    modes = [(c, m) for c in clips for m in ("every", "track")]
    crowd = data / "video" / "crowd_walk.mp4"
    if not args.skip_crowd and crowd.is_file():
        clips["crowd_walk.mp4"] = crowd
        modes.append(("crowd_walk.mp4", "track"))
    dlib = default_embedder().load()
    fused = FusedEmbedder(dlib=dlib).load()
    # label: (embedder, cascade band (below, above)); the fused gallery's default is the
    # cascade (workbench/cascade.py), None runs both models on every face. Stage 2
    # without the mirror chip is a benchmark-only embedder (enrollment keeps the mirror).
    no_mirror = _no_mirror_class()(dlib=dlib, mobilefacenet=fused.mobilefacenet)
    embedders = {"dlib (default)": (dlib, None), "fused, both models on every face": (fused, None)}
    default = (BAND_BELOW, BAND_ABOVE)
    extra = [tuple(float(x) for x in b.split(":")) for b in args.bands]
    for band in dict.fromkeys([default, *extra]):
        tag = " (the default for a fused gallery)" if band == default else ""
        embedders[f"fused, cascade -{band[0]:g}/+{band[1]:g}{tag}"] = (fused, band)
    if args.no_mirror:
        label = f"fused, cascade -{default[0]:g}/+{default[1]:g}, stage 2 without the mirror"
        embedders[label] = (no_mirror, default)
    per = {k: {cm: [] for cm in modes} for k in embedders}
    with create_detector("mediapipe") as detector:
        recs = {}
        for n, (label, (embedder, band)) in enumerate(embedders.items()):
            gallery = Gallery(tmp / f"g{n}.sqlite", model_id=embedder.model_id)
            kw = (
                {"cascade": False}
                if band is None
                else {"band_below": band[0], "band_above": band[1]}
            )
            rec = Recognizer(detector, embedder, gallery, **kw)
            enroller = Recognizer(detector, fused if embedder is no_mirror else embedder)
            gallery.enroll(args.person, photos[: args.enroll], recognizer=enroller)
            for other in DISTRACTORS:
                gallery.enroll(
                    other, sorted((data / "lfw" / other).glob("*.jpg"))[:3], recognizer=enroller
                )
            run_loop(VideoFileSource(clips["known face"]), rec, tracking=False)  # warm-up
            recs[label] = (rec, gallery)
        for r in range(repeats):
            for label, (rec, gallery) in recs.items():
                for clip, mode in modes:
                    source, release = lockstep_source(clips[clip])
                    keeper = UnknownsKeeper(
                        gallery,
                        detector=detector,
                        source=f"benchmark {clip} {mode} {r}",
                        embedder=rec.embedder,
                    )
                    spent = [0.0]

                    def on_result(result, keeper=keeper, spent=spent, release=release):
                        t0 = time.perf_counter()
                        keeper(result)
                        spent[0] += time.perf_counter() - t0
                        release(result)

                    before = rec.cascade_counts
                    stats, right = run_loop(
                        source,
                        rec,
                        tracking=mode == "track",
                        person=args.person if clip == "known face" else UNKNOWN,
                        callback=on_result,
                    )
                    t0 = time.perf_counter()
                    keeper.flush()  # the last batch: the keeper's work too
                    spent[0] += time.perf_counter() - t0
                    after = rec.cascade_counts
                    per[label][clip, mode].append(
                        {
                            "stats": stats,
                            "right": right,
                            "keeper_ms": 1000.0 * spent[0] / max(stats.frames_processed, 1),
                            "keeper": keeper.counts,
                            "faces": after["faces"] - before["faces"],
                            "second": after["second"] - before["second"],
                            "stored": keeper.kept,
                        }
                    )
        for _, gallery in recs.values():
            gallery.close()
    lines = [
        "| embedder | clip | mode | processed fps | process ms/frame | keeper ms/frame | "
        "process + keeper ms/frame | embed + keeper ms per face embedded | faces / "
        "embeddings | main face named right (else: unknown) | MobileFaceNet ran on "
        "(cascade's stage 2 + keeper) | unknowns offered / passed over / displaced / stored |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = {}
    for clip, mode in modes:
        for label in embedders:
            runs = per[label][clip, mode]
            proc = np.median([x["stats"].process_ms for x in runs])
            keep_ms = np.median([x["keeper_ms"] for x in runs])
            total = np.median([x["stats"].process_ms + x["keeper_ms"] for x in runs])
            per_face = np.median(
                [
                    (x["stats"].embed_ms + x["keeper_ms"])
                    * x["stats"].frames_processed
                    / max(x["stats"].embeddings, 1)
                    for x in runs
                ]
            )
            fps = np.median([x["stats"].processed_fps for x in runs])
            x = runs[-1]
            s, k = x["stats"], x["keeper"]
            if label.startswith("fused, both"):
                mfn = f"every face ({s.embeddings})"
            elif embedders[label][1] is not None:
                mfn = f"{x['second']} + {k.completed} of {x['faces']} faces"
                if k.named:
                    mfn += f" ({k.named} named by the keeper)"
            else:
                mfn = ""
            ratio = ratio_face = ""
            if label.startswith("dlib"):
                base[clip, mode] = (total, per_face)
            else:
                ratio = f" ({total / base[clip, mode][0]:.2f}x)"
                ratio_face = f" ({per_face / base[clip, mode][1]:.2f}x)"
            lines.append(
                f"| {label} | {clip} | "
                f"{'every face every frame' if mode == 'every' else 'tracking'} "
                f"| {fps:.1f} | {proc:.1f} | {keep_ms:.1f} | {total:.1f}{ratio} "
                f"| {per_face:.1f}{ratio_face} | {s.faces} / {s.embeddings} | {x['right']:.1%} "
                f"| {mfn} | {k.offered} / {k.passed_over} / {k.displaced} / {x['stored']} |"
            )
            print(lines[-1], flush=True)
    return lines


#: The lead's crowd gallery: two people, neither of whom walks in crowd_walk.mp4.
CROWD_GALLERY = {"Tony_Blair": 3, "Colin_Powell": 2}


def matched(boxes: np.ndarray, reference: np.ndarray, *, iou: float = 0.5) -> np.ndarray:
    """Which reference boxes a box overlaps by ``iou`` or more (one box each, greedy)."""
    from workbench.faces import box_iou

    hit = np.zeros(len(reference), bool)
    if not len(boxes) or not len(reference):
        return hit
    overlap = box_iou(reference, boxes)
    used = set()
    for r in range(len(reference)):
        for b in np.argsort(-overlap[r]):
            if overlap[r, b] < iou:
                break
            if int(b) not in used:
                used.add(int(b))
                hit[r] = True
                break
    return hit


CROWD_SEARCH_INTRO = [
    "Crowd, default detector (`auto`) and tracking, lockstep, gallery of 2 people "
    "(Tony_Blair 3 LFW photos, Colin_Powell 2; nobody in the video enrolled): the search "
    "over every tile every N processed frames (between: the whole frame at full range and "
    "the grid tiles holding the tracks seen in the last two frames; every tile after all "
    "when not one of those faces is found again), and a name shown once `agree` "
    "recognitions of the track "
    "say it. Reference: every tile on every frame, agree 1 (the defaults before). Found: "
    "reference faces matched by a face of the same frame at IoU 0.5; extra: faces the "
    "reference did not have; reference tracks found: tracks of the reference run 3 frames "
    "or longer with at least one face found.",
]

#: (search_every, agree) runs of :func:`crowd_search`; the first is the reference
#: (every tile on every frame, a name from one recognition: the defaults before).
CROWD_RUNS = ((1, 1), (3, 1), (5, 1), (10, 1), (1, 2), (5, 2))


def crowd_search(data: Path, tmp: Path, runs=CROWD_RUNS) -> list[str]:
    """crowd_walk.mp4 through the loop in lockstep with the default detector (auto) and
    the lead's 2-person gallery (nobody in the video enrolled): frames/s, faces found
    against searching every tile on every frame (``search_every=1``, the reference),
    tracks, and stranger tracks named (ever shown a name / named on most of their
    frames, as `workbench live`'s closing summary counts them)."""
    from collections import Counter

    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

    crowd = data / "video" / "crowd_walk.mp4"
    embedder = default_embedder()
    lines = [
        "| search every | agree | processed fps | detect ms | faces | found of reference | "
        "extra | reference tracks (3+ frames) found | tracks | embeddings | "
        "strangers ever named | named by majority |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with (
        create_detector("mediapipe") as detector,
        Gallery(tmp / "crowd.sqlite", model_id=embedder.model_id) as gallery,
    ):
        rec = Recognizer(detector, embedder, gallery)
        for person, n in CROWD_GALLERY.items():
            gallery.enroll(
                person, sorted((data / "lfw" / person).glob("*.jpg"))[:n], recognizer=rec
            )
        reference: dict[int, np.ndarray] = {}
        reference_tracks: dict[int, np.ndarray] = {}
        for every, agree in runs:
            boxes: dict[int, np.ndarray] = {}
            names: dict[int, Counter] = {}

            tracks: dict[int, np.ndarray] = {}

            def keep(result, boxes=boxes, names=names, tracks=tracks):
                boxes[result.frame_id] = result.boxes.copy()
                tracks[result.frame_id] = result.track_ids.copy()
                for tid, name in zip(result.track_ids, result.names, strict=True):
                    names.setdefault(int(tid), Counter())[name] += 1

            source, release = lockstep_source(crowd)

            def callback(result, keep=keep, release=release):
                keep(result)
                release(result)

            options = TrackerOptions(agree=agree)
            stats, _ = run_loop(
                source, rec, tracking=options, callback=callback, search_every=every
            )
            if not reference:
                reference, reference_tracks = boxes, tracks
            total = sum(len(b) for b in reference.values())
            hits = {f: matched(boxes.get(f, np.zeros((0, 4))), r) for f, r in reference.items()}
            found = sum(int(h.sum()) for h in hits.values())
            # People, not boxes: a reference track of 3 frames or more counts as found
            # when any of its faces is found in the same frame.
            seen, long_tracks = Counter(), set()
            for f, ids in reference_tracks.items():
                for tid, hit in zip(ids, hits[f], strict=True):
                    seen[int(tid)] += 1
                    if hit:
                        long_tracks.add(int(tid))
            people = [t for t, n in seen.items() if n >= 3]
            people_found = sum(t in long_tracks for t in people)
            ever = sum(any(n != "unknown" for n in c) for c in names.values())
            major = sum(c.most_common(1)[0][0] != "unknown" for c in names.values())
            lines.append(
                f"| {every} | {agree} | {stats.processed_fps:.1f} | {stats.detect_ms:.1f} | "
                f"{stats.faces} | {found}/{total} ({found / max(total, 1):.1%}) | "
                f"{stats.faces - found} | {people_found}/{len(people)} | {len(names)} | "
                f"{stats.embeddings} | "
                f"{ever} | {major} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person", default="Colin_Powell")
    parser.add_argument("--enroll", type=int, default=8, help="photos enrolled")
    parser.add_argument("--stills", type=int, default=20, help="other photos in the clip")
    parser.add_argument("--soak-frames", type=int, default=0)
    parser.add_argument("--skip-crowd", action="store_true")
    parser.add_argument(
        "--browser-seconds",
        type=float,
        default=0,
        help="also measure the browser camera for this long per format (needs chromium)",
    )
    parser.add_argument("--only-browser", action="store_true", help="just that measurement")
    parser.add_argument(
        "--only-fused",
        action="store_true",
        help="just today's embedder against the fused one (printed, not written)",
    )
    parser.add_argument(
        "--bands",
        nargs="+",
        default=[],
        help="with --only-fused: more cascades beside the product's, each band as "
        "below:above (dlib distance)",
    )
    parser.add_argument(
        "--no-mirror",
        action="store_true",
        help="with --only-fused: the product's cascade with stage 2 without the mirror chip "
        "too (MobileFaceNet fused with the plain dlib vector; enrollment keeps the mirror)",
    )
    parser.add_argument(
        "--only-crowd-search",
        action="store_true",
        help="just the crowd video with the small-face search every N frames and the "
        "naming agreement (printed, not written)",
    )
    parser.add_argument(
        "--output", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks" / "live.md"
    )
    args = parser.parse_args()

    data = shared_data_dir()
    if data is None or not (data / "lfw" / args.person).is_dir():
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    photos = sorted((data / "lfw" / args.person).glob("*.jpg"))
    if len(photos) < args.enroll + args.stills:
        raise SystemExit(f"{args.person} has {len(photos)} photos; need enroll + stills")

    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

    if args.only_fused:
        load0 = os.getloadavg()
        with tempfile.TemporaryDirectory() as tmp:
            lines = fused_comparison(photos, data, args, Path(tmp))
        print(f"Machine: {machine()}; load average before {load0}, after {os.getloadavg()}")
        print("\n".join(lines))
        return
    if args.only_crowd_search:
        load0 = os.getloadavg()
        with tempfile.TemporaryDirectory() as tmp:
            lines = crowd_search(data, Path(tmp))
        print(f"Machine: {machine()}; load average before {load0}, after {os.getloadavg()}")
        print("\n".join(lines))
        return
    if args.only_browser:
        with tempfile.TemporaryDirectory() as tmp:
            print("\n".join(browser_camera(photos, Path(tmp), args.browser_seconds or 10)))
        return

    load_before = os.getloadavg()[0]
    lines: list[str] = []
    browser_lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        embedder = default_embedder()
        embedder.load()
        clip = tmp / "clip.avi"
        n_frames = make_clip(photos[args.enroll : args.enroll + args.stills], clip)
        with (
            create_detector("mediapipe") as detector,
            Gallery(tmp / "g.sqlite", model_id=embedder.model_id) as gallery,
        ):
            rec = Recognizer(detector, embedder, gallery)
            gallery.enroll(args.person, photos[: args.enroll], recognizer=rec)
            for other in DISTRACTORS:
                others = sorted((data / "lfw" / other).glob("*.jpg"))[:3]
                if others:
                    gallery.enroll(other, others, recognizer=rec)
            # Warm-up: first calls build MediaPipe's graph and TensorFlow's functions.
            warm = VideoFileSource(clip)
            run_loop(warm, rec, tracking=False)

            header = [
                "| run | processed/captured | processed fps | latency p50 ms | p95 ms | "
                "detect ms | embed ms/frame | faces | embeddings | main face named right / saved |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            clip_rows = []
            for label, tracking in (("tracking", True), ("every face (baseline)", False)):
                source, release = lockstep_source(clip)
                stats, right = run_loop(
                    source, rec, tracking=tracking, person=args.person, callback=release
                )
                clip_rows.append(row(f"lockstep, {label}", stats, f" {right:.1%} |"))
            stats, right = run_loop(VideoFileSource(clip), rec, tracking=True, person=args.person)
            clip_rows.append(row("file (default, lossless), tracking", stats, f" {right:.1%} |"))
            for label, tracking in (("tracking", True), ("every face (baseline)", False)):
                stats, right = run_loop(
                    VideoFileSource(clip, realtime=True),
                    rec,
                    tracking=tracking,
                    person=args.person,
                )
                clip_rows.append(row(f"realtime 30 fps, {label}", stats, f" {right:.1%} |"))

        crowd_rows = []
        crowd = data / "video" / "crowd_walk.mp4"
        if not args.skip_crowd and crowd.is_file():
            # Short range finds no face here (they are small); full range at the default
            # score finds 2-4 of the 6-7, at 0.3 about 3-5 (MTCNN finds all 7 but takes
            # 1.5 s a frame). "auto" (the default: short range, then the tiled search when
            # it finds nothing) is what a user gets.
            for rng, min_score in (("auto", None), ("short", 0.5), ("full", 0.5), ("full", 0.3)):
                options = (
                    {"range": rng} if min_score is None else {"range": rng, "min_score": min_score}
                )
                with (
                    create_detector("mediapipe", **options) as detector,
                    Gallery(tmp / "g.sqlite", model_id=embedder.model_id) as gallery,
                ):
                    rec = Recognizer(detector, embedder, gallery)
                    results = {}
                    for label, tracking in (("tracking", True), ("every face", False)):
                        source, release = lockstep_source(crowd)
                        stats, _ = run_loop(source, rec, tracking=tracking, callback=release)
                        results[label] = stats
                    base = results["every face"]
                    score = detector.options.min_score
                    for label, stats in results.items():
                        saved = 1 - stats.embeddings / base.embeddings if base.embeddings else 0
                        crowd_rows.append(
                            row(
                                f"crowd, {rng} range, score >= {score}, lockstep, {label}",
                                stats,
                            )
                            + f" saved {saved:.0%} |"
                        )

        search_lines = []
        if not args.skip_crowd and crowd.is_file():
            search_lines = ["", *CROWD_SEARCH_INTRO, "", *crowd_search(data, tmp)]
        soak_lines = []
        if args.soak_frames:
            frames = [f.image for f in VideoFileSource(clip)]
            with (
                create_detector("mediapipe") as detector,
                Gallery(tmp / "g.sqlite", model_id=embedder.model_id) as gallery,
            ):
                soak_lines = soak(frames, Recognizer(detector, embedder, gallery), args.soak_frames)
        if args.browser_seconds:
            browser_lines = browser_camera(photos, tmp, args.browser_seconds)
    load_after = os.getloadavg()[0]

    import mediapipe

    command = "`.venv/bin/python benchmarks/live.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        "## Live loop (`benchmarks/live.py`)",
        "",
        f"Command: {command.replace(' `', '`')}",
        f"Machine: {machine()}, Python {platform.python_version()}, mediapipe "
        f"{mediapipe.__version__}, OpenCV {cv2.__version__}. Load average {load_before:.1f} "
        f"before, {load_after:.1f} after (other work shares these cores).",
        f"Clip: {n_frames} frames, 640x480 at 30 fps, MJPG, from {args.stills} LFW stills "
        f"of {args.person} not enrolled (each held 0.5 s, drifting 2 px a frame); gallery: "
        f"{args.enroll} photos of {args.person} and 3 each of {len(DISTRACTORS)} others. "
        "Detector MediaPipe short range unless said; tracking: IoU 0.3, re-embed every "
        "10 frames, vote over 5. Lockstep: the next frame is handed over when the last "
        "result is out (every frame processed, latency excludes decoding); file: "
        "a VideoFileSource as `workbench live FILE` opens it, the reader waits for the "
        "worker so every frame is processed, decoding overlapping recognition; realtime: "
        "paced at 30 fps as a camera. Latency is capture to published result.",
        "",
        *header,
        *clip_rows,
        *crowd_rows,
        *search_lines,
        *soak_lines,
        *browser_lines,
        *NOTES,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
