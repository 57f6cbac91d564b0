"""``workbench eval lfw --images DIR --pairs FILE [--detector] [--runtime] [--flip] [--json]``.

``--runtime keras`` runs the embedder on Keras instead of ONNX Runtime. Measured on 1,200
pairs (1,583 images, MediaPipe, load 8-11): ONNX Runtime 35.0 s wall / 10.1 s CPU, Keras
52.3 s / 16.2 s, same accuracy; so ONNX stays the default here too, although TensorFlow
is faster on bare batches of 32 (docs/benchmarks/startup.md).
"""

from __future__ import annotations

import argparse

from workbench.cli import add_detector_arguments
from workbench.cli.gallery import EMBEDDER_CHOICES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="verification accuracy on LFW-style pairs",
        description="Run detect, align, embed over the images of a pairs file and score "
        "them with the k-fold protocol (threshold chosen on the other folds).",
    )
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    sub.required = True
    lfw = sub.add_parser("lfw", help="LFW View 2 (or any file in its format)")
    lfw.add_argument("--images", required=True, help="folder with <Name>/<Name>_NNNN.jpg")
    lfw.add_argument("--pairs", required=True, help="pairs file; its header sets the folds")
    add_detector_arguments(lfw, default="mtcnn")
    lfw.add_argument(
        "--runtime",
        choices=("onnx", "keras"),
        default="onnx",
        help="embedder runtime: onnx (default, no TensorFlow) or keras",
    )
    lfw.add_argument(
        "--embedder",
        choices=EMBEDDER_CHOICES,
        default=None,
        help="fused (default: dlib + MobileFaceNet, what a new gallery gets) or dlib "
        "(dlib's network alone); see docs/benchmarks/lfw.md",
    )
    lfw.add_argument(
        "--flip",
        action="store_true",
        help="--embedder dlib: average with the mirrored face (the fused one always does)",
    )
    lfw.add_argument("--json", action="store_true", help="print one JSON object")
    lfw.add_argument("--quiet", action="store_true", help="no progress bars")
    lfw.set_defaults(func=run_lfw)


def run_lfw(args: argparse.Namespace) -> int:
    import sys

    from workbench.cli import detector_options, print_json_line
    from workbench.detect import create_detector
    from workbench.embed import DEFAULT_EMBEDDER, Embedder
    from workbench.evaluate import evaluate_lfw, read_pairs

    read_pairs(args.pairs)  # bad file: fail before loading any model
    with (
        create_detector(args.detector, **detector_options(args)) as detector,
        Embedder(runtime=args.runtime) as dlib,
    ):
        embedder = dlib
        if (args.embedder or DEFAULT_EMBEDDER) == "fused":
            from workbench.embed.fused import FusedEmbedder

            embedder = FusedEmbedder(dlib=dlib)
        report = evaluate_lfw(
            args.images,
            args.pairs,
            detector=detector,
            embedder=embedder,
            flip=args.flip,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    summary = report.summary()
    if args.json:
        print_json_line(summary)
        return 0
    print(
        f"LFW {summary['folds']}-fold, {summary['pairs']} pairs, detector {summary['detector']}"
        f"{', flip' if summary['flip'] else ''}"
    )
    print(f"accuracy: {report.folds.mean:.2%} +- {report.folds.std:.2%}")
    print(f"threshold (all folds): {report.folds.threshold:.4f}   AUC: {report.roc.auc:.5f}")
    print(
        f"images: {summary['images']}, {summary['images_per_second']:.1f} images/s, "
        f"without a face: {summary['images_without_face']} ({summary['no_face_policy']})"
    )
    return 0
