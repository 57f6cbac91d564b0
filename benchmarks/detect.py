"""Detector throughput on 640x480 frames holding one real face.

Frames are LFW stills (250x250) pasted at varying places on a 640x480 grey canvas, so
each frame holds one real face at webcam scale. Reports frames/s of the bare MediaPipe
Tasks call (the baseline), of our MediaPipe wrapper (IMAGE and VIDEO modes, short range),
and of MTCNN, all in one run.

Run: .venv/bin/python benchmarks/detect.py [--frames 600] [--mtcnn-frames 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from workbench.data import lfw_images
from workbench.detect import create_detector
from workbench.images import load_image


def make_frames(n: int) -> list[np.ndarray]:
    paths = lfw_images()[::97][:n] or []
    if not paths:
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        face = load_image(paths[i % len(paths)])
        frame = np.full((480, 640, 3), 118, np.uint8)
        y, x = rng.integers(0, 480 - 250), rng.integers(0, 640 - 250)
        frame[y : y + 250, x : x + 250] = face
        frames.append(frame)
    return frames


def rate(fn, frames, warmup: int = 5) -> tuple[float, int]:
    for f in frames[:warmup]:
        fn(f)
    found = 0
    start = time.perf_counter()
    for f in frames:
        found += fn(f) >= 1
    return len(frames) / (time.perf_counter() - start), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--mtcnn-frames", type=int, default=40)
    args = parser.parse_args()
    frames = make_frames(args.frames)

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from workbench.assets import asset_path

    bare = vision.FaceDetector.create_from_options(
        vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(asset_path("blaze_face_short_range")))
        )
    )

    def bare_call(frame):
        return len(bare.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)).detections)

    rows = []
    fps, found = rate(bare_call, frames)
    rows.append(("MediaPipe Tasks API, bare call (baseline)", fps, found, len(frames)))
    bare.close()
    with create_detector("mediapipe") as det:
        fps, found = rate(lambda f: len(det.detect(f)), frames)
        rows.append(("workbench mediapipe, IMAGE mode", fps, found, len(frames)))
    with create_detector("mediapipe", running_mode="video") as det:
        fps, found = rate(lambda f: len(det.detect(f)), frames)
        rows.append(("workbench mediapipe, VIDEO mode", fps, found, len(frames)))
    small = frames[: args.mtcnn_frames]
    with create_detector("mtcnn") as det:
        fps, found = rate(lambda f: len(det.detect(f)), small, warmup=2)
        rows.append(("workbench mtcnn", fps, found, len(small)))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| detector | frames/s (640x480) | frames with a face |")
    print("| --- | ---: | ---: |")
    for name, fps, found, n in rows:
        print(f"| {name} | {fps:.1f} | {found}/{n} |")


if __name__ == "__main__":
    main()
