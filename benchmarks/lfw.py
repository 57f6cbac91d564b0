"""LFW View 2, 10-fold, through the whole pipeline: detect, align, embed.

For each detector the images are detected and aligned once; the chips are embedded
plain and with ``--flip`` (mean of the face and its mirror), so the four rows share
their detections. With ``--dlib-baseline`` the same pairs also run through dlib's own
pipeline (HOG detector, 5-point shape predictor, ``get_face_chip``,
``compute_face_descriptor``: what the face_recognition library does), in the same run.

With ``--fused`` each detector also runs the fused embedder (dlib + MobileFaceNet,
:mod:`workbench.embed.fused`) over the same images, detected again (it cuts its own chips
from the photo); its row carries an exact McNemar test against that detector's plain row
(the default pipeline), pair by pair at the k-fold thresholds.

Run: .venv/bin/python benchmarks/lfw.py [--detectors mtcnn mediapipe] [--folds 10]
         [--dlib-baseline] [--fused] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.data import shared_data_dir
from workbench.detect import create_detector
from workbench.embed import default_embedder
from workbench.evaluate import (
    align_images,
    embed_chips,
    embed_images,
    kfold_accuracy,
    kfold_correct,
    mcnemar_exact,
    named_pair_distances,
    read_pairs,
    roc_curve,
)


def limited_pairs_file(pairs_file: Path, folds: int) -> Path:
    lines = pairs_file.read_text().splitlines()
    n, per = map(int, lines[0].split())
    if folds >= n:
        return pairs_file
    out = Path(tempfile.mkdtemp()) / "pairs.txt"
    out.write_text("\n".join([f"{folds}\t{per}", *lines[1 : 1 + folds * 2 * per]]) + "\n")
    return out


def dlib_pipeline(paths: list[Path]) -> tuple[np.ndarray, int, float]:
    import dlib

    from workbench.assets import asset_path
    from workbench.images import load_image

    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(asset_path("dlib_shape_predictor_5")))
    net = dlib.face_recognition_model_v1(str(asset_path("dlib_resnet_v1")))
    out, missing = [], 0
    start = time.perf_counter()
    for p in paths:
        img = load_image(p)
        rects = hog(img, 1)
        if len(rects):
            c = np.array([img.shape[1] / 2, img.shape[0] / 2])
            rect = min(rects, key=lambda r: np.hypot(r.center().x - c[0], r.center().y - c[1]))
        else:
            # face_recognition's comparison gave undetected images the centre box.
            missing += 1
            rect = dlib.rectangle(62, 62, 188, 188)
        chip = dlib.get_face_chip(img, shape(img, rect), size=150, padding=0.25)
        out.append(np.array(net.compute_face_descriptor(chip), np.float32))
    return np.stack(out), missing, time.perf_counter() - start


def _mcnemar(ref: np.ndarray, new: np.ndarray) -> list:
    """``[b, c, p]``: pairs only ``ref`` got right, only ``new`` got right, exact p."""
    b, c = int((ref & ~new).sum()), int((~ref & new).sum())
    return [b, c, mcnemar_exact(b, c)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["mtcnn", "mediapipe"])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--dlib-baseline", action="store_true")
    parser.add_argument("--fused", action="store_true", help="also the fused embedder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    root = shared_data_dir()
    if root is None:
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    pairs = read_pairs(limited_pairs_file(root / "lfw-pairs.txt", args.folds))
    names = pairs.images
    index = {n: i for i, n in enumerate(names)}
    paths = [root / "lfw" / n for n in names]
    embedder = default_embedder()
    rows = []
    for name in args.detectors:
        with create_detector(name) as detector:
            aligned = align_images(paths, detector=detector)
        for flip in (False, True):
            start = time.perf_counter()
            emb = embed_chips(aligned.chips, embedder=embedder, flip=flip)
            embed_s = time.perf_counter() - start
            d = named_pair_distances(emb, index, pairs.pairs)
            folds = kfold_accuracy(d, pairs.same, pairs.folds)
            correct, _ = kfold_correct(d, pairs.same, pairs.folds)
            if not flip:
                plain = correct
            rows.append(
                {
                    "pipeline": f"workbench {name}" + (" + flip" if flip else ""),
                    "accuracy": folds.mean,
                    "std": folds.std,
                    "threshold": folds.threshold,
                    "auc": roc_curve(d, pairs.same).auc,
                    "no_face": int(aligned.no_face.sum()),
                    "images_per_s": len(names) / (aligned.seconds + embed_s),
                    "errors": int((~correct).sum()),
                }
            )
            if flip:
                rows[-1]["mcnemar"] = _mcnemar(plain, correct)
            print(json.dumps(rows[-1]), flush=True)
        if args.fused:
            from workbench.embed.fused import FusedEmbedder

            with create_detector(name) as detector:
                run = embed_images(paths, detector=detector, embedder=FusedEmbedder(dlib=embedder))
            d = named_pair_distances(run.embeddings, index, pairs.pairs)
            folds = kfold_accuracy(d, pairs.same, pairs.folds)
            correct, _ = kfold_correct(d, pairs.same, pairs.folds)
            rows.append(
                {
                    "pipeline": f"workbench {name}, fused (dlib + MobileFaceNet with flip)",
                    "accuracy": folds.mean,
                    "std": folds.std,
                    "threshold": folds.threshold,
                    "auc": roc_curve(d, pairs.same).auc,
                    "no_face": int(run.no_face.sum()),
                    "images_per_s": len(names) / run.seconds,
                    "errors": int((~correct).sum()),
                    "mcnemar": _mcnemar(plain, correct),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    if args.dlib_baseline:
        emb, missing, seconds = dlib_pipeline(paths)
        d = named_pair_distances(emb, index, pairs.pairs)
        folds = kfold_accuracy(d, pairs.same, pairs.folds)
        rows.append(
            {
                "pipeline": "dlib HOG + 5-point + dlib ResNet (face_recognition)",
                "accuracy": folds.mean,
                "std": folds.std,
                "threshold": folds.threshold,
                "auc": roc_curve(d, pairs.same).auc,
                "no_face": missing,
                "images_per_s": len(names) / seconds,
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; {len(pairs.pairs)} pairs, "
        f"{pairs.n_folds} folds, {len(names)} images"
    )
    print(f"load average after: {os.getloadavg()}")
    print(
        "| pipeline | accuracy | errors | vs plain (b/c, McNemar p) | threshold | AUC "
        "| images without a face | images/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        m = r.get("mcnemar")
        vs = f"{m[0]}/{m[1]}, p = {m[2]:.2g}" if m else ""
        print(
            f"| {r['pipeline']} | {r['accuracy']:.2%} +- {r['std']:.2%} | {r.get('errors', '')} "
            f"| {vs} | {r['threshold']:.3f} | {r['auc']:.4f} | {r['no_face']} "
            f"| {r['images_per_s']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
