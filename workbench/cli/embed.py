"""``workbench embed IMAGE... [--aligned] [--detector] [--json]``."""

from __future__ import annotations

import argparse

from workbench.cli import add_detector_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="128-D embeddings of the faces in images",
        description="Print one 128-D embedding per face found (with its box); with "
        "--aligned, embed each input as an already aligned 150x150 chip.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--aligned", action="store_true", help="inputs are aligned 150x150 chips")
    add_detector_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from workbench.cli import print_json_line
    from workbench.embed import default_embedder
    from workbench.errors import InvalidImageError
    from workbench.images import load_image

    images = [load_image(path) for path in args.images]
    if args.aligned:
        for path, image in zip(args.images, images, strict=True):
            if image.shape != (150, 150, 3):
                raise InvalidImageError(
                    f"{path}: --aligned expects a 150x150 chip, but got "
                    f"{image.shape[1]}x{image.shape[0]}"
                )
    embedder = default_embedder()
    if args.aligned:
        vectors = embedder.embed(np.stack(images))
        results = [(path, [{"embedding": v}]) for path, v in zip(args.images, vectors, strict=True)]
    else:
        from workbench.cli import detector_options
        from workbench.detect import create_detector
        from workbench.recognize import Recognizer

        results = []
        with create_detector(args.detector, **detector_options(args)) as detector:
            recognizer = Recognizer(detector, embedder)
            for path, image in zip(args.images, images, strict=True):
                faces = recognizer.detect(image)
                vectors = recognizer.embed(image, faces)
                results.append(
                    (
                        path,
                        [
                            {"box": [round(float(c), 1) for c in faces.xyxy[i]], "embedding": v}
                            for i, v in enumerate(vectors)
                        ],
                    )
                )
    for path, faces in results:
        if args.json:
            print_json_line(
                {
                    "source": path,
                    "faces": [
                        {**f, "embedding": [round(float(x), 6) for x in f["embedding"]]}
                        for f in faces
                    ],
                }
            )
            continue
        print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
        for f in faces:
            box = f.get("box")
            head = f"  box={tuple(round(c) for c in box)} " if box else "  "
            print(head + " ".join(f"{x:.4f}" for x in f["embedding"]))
    return 0
