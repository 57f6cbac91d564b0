"""``workbench detect IMAGE... [--detector NAME] [--json]``."""

from __future__ import annotations

import argparse

from workbench.cli import add_detector_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="find faces in images",
        description="Find faces in images and print their boxes, scores and keypoints.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    add_detector_arguments(p)
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="drop faces below this score (default: the detector's, 0.6 for mediapipe, "
        "0.5 for mtcnn)",
    )
    p.add_argument(
        "--min-face-size",
        type=int,
        default=None,
        help="drop faces smaller than this (pixels; default: the detector's, 10 for "
        "mediapipe, 20 for mtcnn)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.cli import detector_options, print_json_line
    from workbench.detect import create_detector
    from workbench.images import load_image

    # Read every input first: a bad file anywhere fails before any model loads.
    images = [load_image(path) for path in args.images]
    options = detector_options(args)
    if args.min_face_size is not None:
        options["min_face_size"] = args.min_face_size
    if args.min_score is not None:
        options["min_score"] = args.min_score
    with create_detector(args.detector, **options) as detector:
        for path, image in zip(args.images, images, strict=True):
            faces = detector.detect(image)
            if args.json:
                print_json_line(
                    {
                        "source": path,
                        "width": image.shape[1],
                        "height": image.shape[0],
                        "faces": faces.to_dicts(),
                    }
                )
                continue
            print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
            for face in faces.to_dicts():
                x1, y1, x2, y2 = face["box"]
                print(f"  box=({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score={face['score']:.3f}")
    return 0
