"""Strangers named in the shared crowd video, by face size: every face of every frame.

The crowd in ``video/crowd_walk.mp4`` holds no enrolled person, so every face the
recognizer accepts is a false accept. Each frame goes through ``Recognizer.recognize``
(the default detector, no tracker: one decision per face, not per track) against a
gallery (default: the lead's, Tony_Blair 3 photos + Colin_Powell 2, threshold the prior
for 2 people) and the faces are binned by detection box height.

Run: .venv/bin/python benchmarks/small_face_video.py [--min-face-px 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine  # noqa: E402

BINS = (0, 24, 32, 40, 48, 64, 96, 10_000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--people", nargs="+", default=["Tony_Blair:3", "Colin_Powell:2"])
    p.add_argument("--min-face-px", type=float, help="the size gate (default: the recognizer's)")
    args = p.parse_args()

    import cv2

    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.images import load_image
    from workbench.recognize import Recognizer

    embedder = default_embedder()
    with create_detector("mediapipe") as det, tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(Path(tmp) / "g.sqlite", model_id=embedder.model_id)
        options = {} if args.min_face_px is None else {"min_face_px": args.min_face_px}
        rec = Recognizer(det, embedder, gallery, **options)
        for spec in args.people:
            name, n = spec.split(":")
            photos = sorted((args.data / "lfw" / name).glob("*.jpg"))[: int(n)]
            embs = [rec.recognize(load_image(ph)).embeddings[:1] for ph in photos]
            gallery.add_embeddings(name, np.concatenate(embs))
        cap = cv2.VideoCapture(str(args.data / "video" / "crowd_walk.mp4"))
        heights, accepted, small, dist = [], [], [], []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            r = rec.recognize(frame[..., ::-1].copy())
            heights += list(r.detections.xyxy[:, 3] - r.detections.xyxy[:, 1])
            accepted += [m.accepted for m in r.matches]
            small += [d.get("too_small", False) for d in r.to_dicts()]
            dist += [m.distance for m in r.matches]
        cap.release()
        threshold, source = gallery.threshold, gallery.threshold_source
        gate = rec.min_face_px
        gallery.close()
    h, a, s, d = (np.asarray(x, np.float64) for x in (heights, accepted, small, dist))
    print(f"machine: {machine()}; gallery {args.people}, threshold {threshold:.3f} ({source});")
    print(f"size gate min_face_px = {gate}; {len(h)} faces in the video, all strangers")
    print()
    print("| box height (px) | faces | accepted (false) | too small to name | median distance |")
    print("| --- | --- | --- | --- | --- |")
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        m = (h >= lo) & (h < hi)
        if m.any():
            label = f"{lo}-{hi}" if hi < 10_000 else f">= {lo}"
            print(
                f"| {label} | {int(m.sum())} | {int(a[m].sum())} ({a[m].mean():.0%}) "
                f"| {int(s[m].sum())} | {np.median(d[m]):.3f} |"
            )


if __name__ == "__main__":
    main()
