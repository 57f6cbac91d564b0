"""LFW View 2, 10-fold: test-time augmentation (flip, jitter) against the plain chip.

Each detector's keypoints are found once and cached (``.cache/lfw_tta/``, git-ignored);
then every chip variant (plain, each of :data:`workbench.augment.JITTERS`, and the mirror
of each) is cut from the photo and embedded once, also cached, so every combination
(plain, flip, jitter k, jitter k + flip) is an average of cached embeddings. Each row
gives the 10-fold accuracy, the errors in 6,000 pairs, a McNemar exact test against the
plain chip and against plain + flip (the same per-fold thresholds decide each pair), the
chips embedded per face (the cost), and the accuracy on the tenth of the pairs whose yaw
differs most (yaw from the 5 keypoints: the nose's offset from the eyes' midpoint over
the eye distance) next to the other nine tenths. The "enrolled side only" rows augment
only the pair's first face and keep the second plain, as a gallery enrolled with
augmentation meets the live loop's single chip.

Run: .venv/bin/python benchmarks/lfw_tta.py [--detectors mediapipe mtcnn] [--jitter 4]
         [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from workbench.augment import JITTERS, augmented_chips
from workbench.data import shared_data_dir
from workbench.detect import create_detector
from workbench.embed import default_embedder
from workbench.evaluate import (
    kfold_correct,
    mcnemar_exact,
    named_pair_distances,
    read_pairs,
)
from workbench.images import load_image
from workbench.pipeline import picked_faces

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "lfw_tta"


def keypoints(paths: list[Path], detector_name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """``(n, 5, 2)`` keypoints of the central face per image, found mask, seconds."""
    cache = CACHE / f"{detector_name}_keypoints.npz"
    if cache.exists():
        z = np.load(cache)
        return z["keypoints"], z["found"], float(z["seconds"])
    start = time.perf_counter()
    kps, found = [], []
    with create_detector(detector_name) as detector:
        for _, face in picked_faces(paths, detector=detector, pick="central", batch_size=32):
            found.append(len(face) > 0)
            kps.append(face.keypoints[0] if len(face) else np.zeros((5, 2), np.float32))
    kps, found = np.array(kps, np.float32), np.array(found, bool)
    if found.any() and not found.all():
        kps[~found] = kps[found].mean(0)  # LFW faces are roughly centred
    seconds = time.perf_counter() - start
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, keypoints=kps, found=found, seconds=seconds)
    return kps, found, seconds


def variant_embeddings(paths, kps, detector_name, jitter, embedder) -> tuple[np.ndarray, dict]:
    """``(n, (1 + jitter) * 2, 128)``: plain, jitters, then the mirrors, in that order;
    and the seconds spent cutting chips and embedding them, per variant."""
    cache = CACHE / f"{detector_name}_variants_{jitter}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["emb"], json.loads(str(z["cost"]))
    k = (1 + jitter) * 2
    emb = np.empty((len(paths), k, 128), np.float32)
    cut_s = embed_s = 0.0
    chunk = 128
    for s in range(0, len(paths), chunk):
        t0 = time.perf_counter()
        chips = np.stack(
            [
                augmented_chips(load_image(p), kp, template=detector_name, jitter=jitter, flip=True)
                for p, kp in zip(paths[s : s + chunk], kps[s : s + chunk], strict=True)
            ]
        )
        t1 = time.perf_counter()
        e = embedder.embed(chips.reshape(-1, 150, 150, 3), batch_size=32)
        embed_s += time.perf_counter() - t1
        cut_s += t1 - t0
        emb[s : s + chunk] = e.reshape(len(chips), k, 128)
        print(f"  {detector_name}: {min(s + chunk, len(paths))}/{len(paths)}", flush=True)
    cost = {"cut_s": cut_s, "embed_s": embed_s, "chips": k * len(paths)}
    np.savez(cache, emb=emb, cost=json.dumps(cost))
    return emb, cost


def yaw_proxy(kps: np.ndarray) -> np.ndarray:
    """Signed yaw proxy per face: nose offset from the eyes' midpoint / eye distance."""
    eyes = (kps[:, 0] + kps[:, 1]) / 2
    span = np.linalg.norm(kps[:, 1] - kps[:, 0], axis=1)
    return (kps[:, 2, 0] - eyes[:, 0]) / np.maximum(span, 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["mediapipe"])
    parser.add_argument("--jitter", type=int, default=4, choices=range(len(JITTERS) + 1))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    root = shared_data_dir()
    if root is None:
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    pairs = read_pairs(root / "lfw-pairs.txt")
    names = pairs.images
    index = {n: i for i, n in enumerate(names)}
    paths = [root / "lfw" / n for n in names]
    same, folds = pairs.same, pairs.folds
    ia = np.array([index[p.a] for p in pairs.pairs])
    ib = np.array([index[p.b] for p in pairs.pairs])
    embedder = default_embedder()
    rows = []
    for det in args.detectors:
        kps, found, detect_s = keypoints(paths, det)
        yaw = yaw_proxy(kps)
        dyaw = np.abs(yaw[ia] - yaw[ib])
        hard = dyaw >= np.quantile(dyaw, 0.9)
        emb, cost = variant_embeddings(paths, kps, det, args.jitter, embedder)
        n_var = 1 + args.jitter
        per_chip_ms = 1000 * (cost["cut_s"] + cost["embed_s"]) / cost["chips"]
        combos = [("plain", [0])]
        combos.append(("flip", [0, n_var]))
        for j in range(1, args.jitter + 1):
            combos.append((f"jitter {j}", list(range(j + 1))))
            combos.append(
                (f"jitter {j} + flip", list(range(j + 1)) + list(range(n_var, n_var + j + 1)))
            )
        # Enrollment-side only: the gallery face (the pair's first image) augmented, the
        # probe (the second) the plain chip, as a gallery enrolled with augmentation
        # meets the live loop's single chip.
        combos += [(f"{label}, enrolled side only", cols) for label, cols in combos[1:]]
        decided = {}
        for label, cols in combos:
            e = emb[:, cols].mean(1)
            if label.endswith("side only"):
                d = np.linalg.norm(e[ia] - emb[ib, 0], axis=1)
            else:
                d = named_pair_distances(e, index, pairs.pairs)
            correct, report = kfold_correct(d, same, folds)
            decided[label] = correct
            row = {
                "detector": det,
                "variant": label,
                "chips_per_face": len(cols),
                "one_side": label.endswith("side only"),
                "accuracy": report.mean,
                "std": report.std,
                "errors": int((~correct).sum()),
                "hard_yaw_accuracy": float(correct[hard].mean()),
                "rest_accuracy": float(correct[~hard].mean()),
                "ms_per_face": per_chip_ms * len(cols),
            }
            for ref in ("plain", "flip"):
                if ref in decided and ref != label:
                    b = int((decided[ref] & ~correct).sum())  # ref right, this wrong
                    c = int((~decided[ref] & correct).sum())
                    row[f"vs_{ref}"] = {"ref_only": b, "this_only": c, "p": mcnemar_exact(b, c)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(
            f"{det}: detection {detect_s:.0f} s for {len(paths)} images "
            f"({int((~found).sum())} without a face); {per_chip_ms:.1f} ms per chip "
            f"(cut {cost['cut_s']:.0f} s + embed {cost['embed_s']:.0f} s for {cost['chips']})"
        )

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"{len(pairs.pairs)} pairs, {pairs.n_folds} folds, {len(names)} images"
    )
    print(
        "| detector | variant | chips/face | accuracy | errors | vs plain (b/c, p) "
        "| vs flip (b/c, p) | hardest-yaw tenth | rest | ms/face |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:

        def cmp(key, r=r):
            v = r.get(key)
            return f"{v['ref_only']}/{v['this_only']}, {v['p']:.3f}" if v else "-"

        print(
            f"| {r['detector']} | {r['variant']} | {r['chips_per_face']} "
            f"| {r['accuracy']:.2%} +- {r['std']:.2%} | {r['errors']} | {cmp('vs_plain')} "
            f"| {cmp('vs_flip')} | {r['hard_yaw_accuracy']:.2%} | {r['rest_accuracy']:.2%} "
            f"| {r['ms_per_face']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
