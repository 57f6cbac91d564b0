"""``workbench detect IMAGE... [--detector NAME] [--json]``."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="find faces in images",
        description="Find faces in images and print their boxes, scores and keypoints.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--detector", default="mediapipe", help="mediapipe (default) or mtcnn")
    p.add_argument("--min-score", type=float, default=0.5, help="drop faces below this score")
    p.add_argument(
        "--min-face-size", type=int, default=20, help="drop faces smaller than this (pixels)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.detect import create_detector
    from workbench.images import load_image

    # Read every input first: a bad file anywhere fails before any model loads.
    images = [load_image(path) for path in args.images]
    with create_detector(
        args.detector, min_score=args.min_score, min_face_size=args.min_face_size
    ) as detector:
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
