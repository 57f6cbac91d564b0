"""Embedding throughput: our Keras embedder against dlib-bin on the same real chips.

Chips are real LFW faces aligned by dlib itself (HOG detector, 5-point shape predictor,
``get_face_chip(size=150, padding=0.25)``). In one run it measures faces/s of dlib-bin's
``compute_face_descriptor`` (the baseline, one call per chip and one call per batch list)
and of :class:`workbench.embed.Embedder` at several batch sizes, prints the ratio, checks
the two agree, and writes a Markdown section to ``docs/benchmarks/embed.md``.

Run: .venv/bin/python benchmarks/embed.py [--chips 96] [--repeats 3] [--batch-sizes 1,8,32]
         [--save-reference ref.npz]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine  # noqa: E402 - the script's folder is on sys.path

from workbench.data import PROJECT_ROOT, lfw_images


def make_chips(n: int) -> np.ndarray:
    """``(n, 150, 150, 3)`` uint8 chips of different LFW people, aligned by dlib."""
    import dlib
    from face_recognition_models import pose_predictor_five_point_model_location
    from PIL import Image

    paths = lfw_images()[::53][:n]
    if len(paths) < n:
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(pose_predictor_five_point_model_location())
    chips = []
    for path in paths:
        img = np.asarray(Image.open(path).convert("RGB"))
        found = detector(img, 0)
        h, w = img.shape[:2]
        rect = found[0] if len(found) else dlib.rectangle(w // 4, h // 4, 3 * w // 4, 3 * h // 4)
        chips.append(dlib.get_face_chip(img, predictor(img, rect), size=150, padding=0.25))
    return np.stack(chips)


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=96, help="chips per measurement")
    parser.add_argument("--dlib-chips", type=int, default=32, help="chips for dlib (slow)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--no-fold", action="store_true", help="run the layer-for-layer model")
    parser.add_argument(
        "--save-reference",
        type=Path,
        help="also save the dlib-measured chips and dlib's descriptors as .npz "
        "(for benchmarks/embed_gpu.py --check)",
    )
    parser.add_argument(
        "--output", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks" / "embed.md"
    )
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    import dlib
    import keras
    import tensorflow as tf

    from workbench.assets import asset_path
    from workbench.embed import Embedder

    chips = make_chips(max(args.chips, args.dlib_chips))
    load_before = os.getloadavg()[0]

    # Baseline: dlib-bin on the same chips.
    reference = dlib.face_recognition_model_v1(str(asset_path("dlib_resnet_v1")))
    dchips = list(chips[: args.dlib_chips])
    t_one = timed(lambda: [reference.compute_face_descriptor(c) for c in dchips], args.repeats)
    t_list = timed(lambda: reference.compute_face_descriptor(dchips), args.repeats)
    dlib_rates = {"1": len(dchips) / t_one, f"{len(dchips)} (list)": len(dchips) / t_list}
    dlib_best = max(dlib_rates.values())
    dlib_vectors = np.array([np.asarray(v) for v in reference.compute_face_descriptor(dchips)])

    if args.save_reference:
        np.savez_compressed(args.save_reference, chips=np.stack(dchips), dlib=dlib_vectors)

    # The Keras runtime: this script measures the Keras model (benchmarks/startup.py
    # compares it with the default ONNX runtime).
    embedder = Embedder(runtime="keras", fold_affine=not args.no_fold)
    start = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - start
    ours: dict[int, float] = {}
    for bs in batch_sizes:
        n = min(len(chips), max(args.chips, bs))
        ours[bs] = n / timed(
            lambda bs=bs, n=n: embedder.embed(chips[:n], batch_size=bs), args.repeats
        )
    diff = float(np.abs(embedder.embed(chips[: len(dchips)]) - dlib_vectors).max())
    # The other model variant at the largest batch, for comparison in the same run.
    other = Embedder(runtime="keras", fold_affine=args.no_fold).load()
    bs = batch_sizes[-1]
    n = min(len(chips), max(args.chips, bs))
    other_rate = n / timed(lambda: other.embed(chips[:n], batch_size=bs), args.repeats)
    other_label = "affine folded" if args.no_fold else "layer-for-layer (no folding)"
    load_after = os.getloadavg()[0]

    command = "`.venv/bin/python benchmarks/embed.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        "## Embedding (`benchmarks/embed.py`)",
        "",
        f"Command: {command.replace(' `', '`')}",
        f"Chips: {len(chips)} real LFW faces aligned by dlib (150x150); dlib measured on "
        f"{len(dchips)} of them. Median of {args.repeats} timed runs after a warm-up.",
        f"Machine: {machine()}, Python {platform.python_version()}, tensorflow-cpu "
        f"{tf.__version__}, Keras {keras.__version__} ({keras.backend.backend()} backend), "
        f"dlib {dlib.__version__}. Load average {load_before:.1f} before, {load_after:.1f} "
        "after (other work shares these 2 cores).",
        f"Model: {'layer-for-layer' if args.no_fold else 'affine folded into convolutions'}; "
        f"first load {load_s:.1f} s; largest |ours - dlib| on these chips {diff:.1e}.",
        "",
        "| embedder | batch | faces/s | x dlib (best) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, rate in dlib_rates.items():
        lines.append(
            f"| dlib-bin `compute_face_descriptor` (baseline) | {label} | {rate:.1f} | "
            f"{rate / dlib_best:.2f} |"
        )
    for bs, rate in ours.items():
        lines.append(f"| workbench Keras embedder | {bs} | {rate:.1f} | {rate / dlib_best:.1f} |")
    lines.append(
        f"| workbench Keras embedder, {other_label} | {batch_sizes[-1]} | {other_rate:.1f} | "
        f"{other_rate / dlib_best:.1f} |"
    )
    lines.append("")
    text = "\n".join(lines)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
