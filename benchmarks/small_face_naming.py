"""Naming small faces: known faces named right and strangers accepted, by face size.

A gallery of ``--people`` LFW people (2 full-size photos each, enrolled as ``workbench
enroll`` does: default detector, one chip per face, the gallery's own threshold). Probes:
another photo of each enrolled person, and one photo of each of ``--strangers`` people who
are not enrolled. Every probe is detected once at full size (250x250, the central face);
then the photo is downscaled (area filter) so that the detection box is ``--sizes`` px tall,
the box and keypoints are scaled with it, and the face is aligned from the small image and
embedded: the chip is upsampled to 150x150 exactly as the pipeline does for a far face.
Detection itself is not redone on the small image (the detector's own small-face recall is
benchmarks/small_faces.py); the figures are about the naming decision only.

For each size: known probes named right / named wrong / unknown, and strangers accepted
(false accepts), at the gallery's threshold; plus the distance below which at most
``--far`` of that size's strangers fall (what a size-dependent threshold would need).

Run: .venv/bin/python benchmarks/small_face_naming.py [--people 100] [--strangers 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lfw_cache import people_with_photos  # noqa: E402
from _machine import machine  # noqa: E402

SIZES = (20, 24, 28, 32, 40, 48, 64, 250)


def central(dets, image):
    """The detection nearest the image centre (LFW centres the named person)."""
    h, w = image.shape[:2]
    c = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
    return dets[[int(np.argmin(((c - [w / 2, h / 2]) ** 2).sum(1)))]]


def scaled(image, dets, height_px, jpeg=None):
    """The image and detection downscaled so the box is ``height_px`` tall (then JPEG
    coded at quality ``jpeg``, as a far face in a compressed video stream is)."""
    import cv2

    from workbench.faces import FaceDetections

    box_h = float(dets.xyxy[0, 3] - dets.xyxy[0, 1])
    s = min(1.0, height_px / box_h)
    if s >= 1.0:
        return image, dets
    size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        small = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return small, FaceDetections(dets.xyxy * s, dets.scores, dets.keypoints * s)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    p.add_argument("--people", type=int, default=100)
    p.add_argument("--strangers", type=int, default=200)
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--far", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jpeg", type=int, help="JPEG-code the small image at this quality")
    p.add_argument("--names", nargs="+", help="enroll these LFW people instead of --people")
    p.add_argument("--save", type=Path, help="write the distances to this .npz")
    args = p.parse_args()

    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.images import load_image
    from workbench.recognize import align, embed_chips

    rng = np.random.default_rng(args.seed)
    known = people_with_photos(args.lfw, min_photos=3)
    names = args.names or sorted(rng.choice(sorted(known), args.people, replace=False))
    singles = sorted(
        p.name for p in args.lfw.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) == 1
    )
    strangers = sorted(rng.choice(singles, args.strangers, replace=False))
    embedder = default_embedder()
    start = time.perf_counter()
    with create_detector("mediapipe") as det, tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(Path(tmp) / "g.sqlite", model_id=embedder.model_id)

        def faces(path):
            image = load_image(path)
            dets = det.detect(image)
            return (image, central(dets, image)) if len(dets) else None

        for name in names:
            embs = []
            for photo in known[name][:2]:
                f = faces(photo)
                if f is not None:
                    embs.append(embed_chips(align(f[0], f[1], detector=det), embedder=embedder))
            if embs:
                gallery.add_embeddings(name, np.concatenate(embs))
        threshold = gallery.threshold
        probes = [(n, known[n][2]) for n in names] + [
            (None, next((args.lfw / n).glob("*.jpg"))) for n in strangers
        ]
        found = [(n, faces(path)) for n, path in probes]
        found = [(n, f) for n, f in found if f is not None]
        truth = np.array([n or "" for n, _ in found])
        box_h = np.array([float(f[1].xyxy[0, 3] - f[1].xyxy[0, 1]) for _, f in found])
        rows, saved = [], {}
        for size in args.sizes:
            chips = []
            for _, (image, dets) in found:
                small, sdets = scaled(image, dets, size, args.jpeg)
                chips.append(align(small, sdets, detector=det))
            emb = embed_chips(np.concatenate(chips), embedder=embedder)
            best = gallery.search(emb, k=1).best()
            name = np.array([m.name or "" for m in best])
            dist = np.array([m.distance for m in best], np.float64)
            acc = np.array([m.accepted for m in best])
            is_known = truth != ""
            right = acc & (name == truth) & is_known
            wrong = acc & (name != truth) & is_known
            fa = acc & ~is_known
            far_d = float(np.quantile(dist[~is_known], args.far))
            med = float(np.median(dist[~is_known]))
            nk, ns = is_known.sum(), (~is_known).sum()
            rows.append((size, nk, right.sum(), wrong.sum(), ns, fa.sum(), far_d, med))
            saved[f"d{size}"], saved[f"name{size}"] = dist, name
            print(f"size {size}: done ({time.perf_counter() - start:.0f} s)", flush=True)
        gallery.close()
    print()
    print(f"machine: {machine()}; detector mediapipe (default); gallery {len(names)} people x 2")
    print(f"photos, threshold {threshold:.3f} (the gallery's own); full-size box height median")
    took = time.perf_counter() - start
    print(f"{np.median(box_h):.0f} px; jpeg {args.jpeg}; seed {args.seed}; {took:.0f} s")
    print()
    print(
        "| face box height (px) | known probes | named right | named wrong "
        f"| strangers | strangers accepted | stranger distance at {args.far:.0%} FAR "
        "| median stranger distance |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, nk, r, w, ns, fa, far_d, med in rows:
        label = f"full size (~{np.median(box_h):.0f})" if size >= 250 else str(size)
        print(
            f"| {label} | {nk} | {r} ({r / nk:.0%}) | {w} ({w / nk:.0%}) | {ns} "
            f"| {fa} ({fa / ns:.1%}) | {far_d:.3f} | {med:.3f} |"
        )
    if args.save:
        np.savez(args.save, truth=truth, threshold=threshold, **saved)


if __name__ == "__main__":
    main()
