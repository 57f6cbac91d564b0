"""``workbench enroll DIR --gallery FILE``, ``workbench recognize INPUT... --gallery FILE``
and ``workbench calibrate --gallery FILE [--far F | --set T]``.

``recognize`` output, one block (or with ``--json`` one JSON object per line) per image::

    {"source": "a.jpg", "faces": [{"box": [x1, y1, x2, y2], "name": "Ada",
                                   "distance": 0.41, "accepted": true,
                                   "too_small": false, "candidates": null}],
     "threshold": 0.508, "threshold_source": "calibrated on 30 people / 60 faces"}

For a video, one line per processed frame with ``"frame"`` (its index) added. ``name`` is
``"unknown"`` when the distance is above the gallery's threshold, or when the face's box is
less than ``workbench.recognize.MIN_FACE_PX`` tall (``"too_small": true``: drawn, not
named); ``distance`` is ``null`` when the gallery is empty. Between two look-alikes
(enrolled people whose centroids lie close) the nearest must win by the gallery's margin;
when it does not, the face is answered "Ada or Bea?": ``"name": "unknown"``,
``"accepted": false`` and ``"candidates": ["Ada", "Bea"]`` (nearest first; ``distance``
is Ada's). The text output prints ``Ada or Bea?`` as the name.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path

from workbench.cli import GALLERY_HELP, add_detector_arguments

#: Inputs with these endings (or any URL) are read as videos, everything else as images.
#: ``workbench.embed.EMBEDDERS``, not imported here so ``--help`` stays instant (a test
#: checks they match).
EMBEDDER_CHOICES = ("dlib", "fused")
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "enroll",
        help="enroll a folder of <person>/<photos> into a gallery",
        description="Detect, embed and store one face per photo of DIR/<person>/ (nested "
        "folders allowed) in the gallery FILE, created if missing. Photos enrolled before "
        "(same sha256) are skipped, so running it again only adds what is new.",
    )
    p.add_argument("folder", metavar="DIR", help="folder of <person>/<photos>")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    add_detector_arguments(p)
    p.add_argument(
        "--multiple-faces",
        default="largest",
        choices=["largest", "skip"],
        help="photos with several faces: enroll the largest (default) or skip the photo",
    )
    p.add_argument(
        "--embedder",
        choices=EMBEDDER_CHOICES,
        default=None,
        help="embedder of a new gallery: fused (default: dlib + MobileFaceNet, 99.50%% on "
        "LFW against 98.98%%; see docs/benchmarks/lfw.md) or dlib (dlib's network alone); "
        "an existing gallery keeps its own",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_enroll)

    p = subparsers.add_parser(
        "recognize",
        help="name the faces in images or a video against a gallery",
        description="Find the faces in each image (or each frame of a video) and print box, "
        "name or 'unknown', and distance to the nearest enrolled person.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or one video")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    add_detector_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p.add_argument(
        "--every", type=int, default=1, metavar="N", help="video: process every N-th frame"
    )
    p.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="video: stop after N frames"
    )
    p.add_argument(
        "--no-unknowns",
        action="store_true",
        help="do not keep the unknown faces in the gallery for `workbench cluster` (kept by "
        "default, within the gallery's bounds: `workbench unknowns --help`)",
    )
    p.set_defaults(func=run_recognize)

    p = subparsers.add_parser(
        "calibrate",
        help="derive a gallery's threshold from its own faces (or set it by hand)",
        description="Calibrate the gallery's threshold so that at most F of strangers are "
        "named as somebody, measured on its own faces; a gallery too small for that takes "
        "the prior for its number of people. Enrollment does this by itself; run it to "
        "change the target, or to hand a threshold set with --set back to enrollment. "
        "Prints threshold, source and the FAR and FRR measured on the gallery's faces.",
    )
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--far",
        type=float,
        default=None,
        metavar="F",
        help="false-accept rate per stranger to aim at (default: the gallery's, else 0.02)",
    )
    how.add_argument(
        "--set",
        type=float,
        default=None,
        metavar="T",
        help="set the threshold by hand; enrollment keeps it until calibrate runs again",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_calibrate)

    p = subparsers.add_parser(
        "remove",
        help="remove people from a gallery, with the photos the workbench saved for them",
        description="Remove each NAME and all their faces from the gallery FILE, and delete "
        "the photos the workbench saved for them (the enroll panel's captures and uploads). "
        "Photos enrolled from your own folders are never touched.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="person to remove")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument("--json", action="store_true", help="one JSON object per person")
    p.add_argument(
        "--no-purge",
        action="store_true",
        help="PostgreSQL: skip the VACUUM FULL that removes the rows' bytes from the "
        "table files (it locks the gallery's tables for its duration)",
    )
    p.set_defaults(func=run_remove)


def _embedder_and_gallery(path: str, *, create: bool, embedder: str | None = None):
    from workbench.recognize import open_gallery

    # The gallery opens before any model loads (they load on first use), so a bad file
    # fails at once; an existing gallery gets the embedder of its own model.
    return open_gallery(path, create=create, embedder=embedder)


def run_enroll(args: argparse.Namespace) -> int:
    import dataclasses

    from workbench.cli import detector_options, print_json_line
    from workbench.detect import create_detector
    from workbench.errors import InvalidArgumentError
    from workbench.recognize import Recognizer

    if not Path(args.folder).is_dir():
        raise InvalidArgumentError(
            f"expected a folder of <person>/<photos>, but {args.folder} is not a folder"
        )
    embedder, gallery = _embedder_and_gallery(args.gallery, create=True, embedder=args.embedder)
    with gallery, create_detector(args.detector, **detector_options(args)) as detector:
        summary = gallery.enroll_folder(
            args.folder,
            recognizer=Recognizer(detector, embedder),
            multiple_faces=args.multiple_faces,
            progress=not args.quiet and not args.json,
        )
        info = gallery.threshold_info
        if args.json:
            out = dataclasses.asdict(summary)
            out["gallery"] = str(gallery.path)
            out["people_in_gallery"] = len(gallery.people)
            out["faces_in_gallery"] = len(gallery)
            out["threshold"] = info.threshold
            out["threshold_source"] = info.source
            print_json_line(out)
        else:
            print(summary)
            print(f"gallery {gallery.path}: {len(gallery.people)} people, {len(gallery)} faces")
            print(info)
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.errors import InvalidArgumentError
    from workbench.gallery import Gallery

    if args.far is not None and not 0.0 < args.far < 1.0:
        raise InvalidArgumentError(f"--far must be in (0, 1), but got {args.far}")
    # No embedder needed: calibration reads the stored embeddings only.
    with Gallery(args.gallery, model_id=None, create=False) as gallery:
        if args.set is not None:
            gallery.set_threshold(args.set)
            info = gallery.threshold_info
        else:
            info = gallery.refresh_threshold(target_far=args.far, force=True)
        if args.json:
            out = {"gallery": str(gallery.path), **info.to_dict()}
            out["people"], out["faces"] = len(gallery.people), len(gallery)
            print_json_line(out)
        else:
            print(f"gallery {gallery.path}: {len(gallery.people)} people, {len(gallery)} faces")
            print(info)
    return 0


def _is_video(name: str) -> bool:
    return "://" in name or Path(name).suffix.lower() in VIDEO_SUFFIXES


def _faces(recognition) -> list[dict]:
    faces = recognition.to_dicts()
    for face in faces:
        d = face.get("distance")
        if d is not None and not math.isfinite(d):
            face["distance"] = None  # an empty gallery: JSON has no infinity
    return faces


def _print(source: str, faces: list[dict], *, as_json: bool, frame: int | None, threshold) -> None:
    from workbench.cli import print_json_line
    from workbench.faces import or_label

    if as_json:
        obj = {"source": source}
        if frame is not None:
            obj["frame"] = frame
        obj["faces"] = faces
        obj["threshold"], obj["threshold_source"] = threshold.threshold, threshold.source
        print_json_line(obj)
        return
    where = source if frame is None else f"{source} frame {frame}"
    print(f"{where}: {len(faces)} face{'s' if len(faces) != 1 else ''}", flush=frame is not None)
    for face in faces:
        x1, y1, x2, y2 = face["box"]
        d = "-" if face["distance"] is None else f"{face['distance']:.3f}"
        small = " (too small to name)" if face.get("too_small") else ""
        name = or_label(*face["candidates"]) if face.get("candidates") else face["name"]
        print(f"  box=({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) {name}{small} distance={d}")


def run_recognize(args: argparse.Namespace) -> int:
    from workbench.cli import detector_options
    from workbench.detect import create_detector
    from workbench.errors import InvalidArgumentError, SourceError
    from workbench.images import check_image_file, load_image
    from workbench.recognize import Recognizer, UnknownsKeeper

    videos = [s for s in args.inputs if _is_video(s)]
    if videos and len(args.inputs) > 1:
        raise InvalidArgumentError(
            f"expected image files or one video, but got {len(args.inputs)} inputs "
            f"including the video {videos[0]}"
        )
    if args.every < 1:
        raise InvalidArgumentError(f"--every must be >= 1, but got {args.every}")
    # Inputs are checked (and a video opened) before any model loads, so a bad file fails
    # at once; a link loop, FIFO or folder is named as such.
    video = None
    if videos:
        from workbench.live.sources import CLOSED, END_OF_STREAM, VideoFileSource

        video = VideoFileSource(videos[0])
    else:
        for source in args.inputs:
            check_image_file(source)
    with contextlib.ExitStack() as stack:
        if video is not None:
            stack.enter_context(video)
        embedder, gallery = _embedder_and_gallery(args.gallery, create=False)
        stack.enter_context(gallery)
        detector = stack.enter_context(create_detector(args.detector, **detector_options(args)))
        recognizer = Recognizer(detector, embedder, gallery)
        threshold = gallery.threshold_info
        if not args.json:
            print(f"gallery {gallery.path}: {threshold}")
        if video is not None:
            from workbench.live.tracking import Tracker

            # Faces are followed from frame to frame so that one person gives a few
            # unknown faces (their track's best), not one per frame.
            tracker = Tracker()
            keeper = UnknownsKeeper(
                gallery,
                detector=detector,
                source=videos[0],
                embedder=embedder,
                enabled=not args.no_unknowns,
            )
            done = 0
            for frame in video:
                if frame.index % args.every:
                    continue
                recognition = recognizer.recognize(frame.image)
                track_ids, _ = tracker.update(recognition.detections.xyxy)
                keeper.offer_recognition(
                    recognition, image=frame.image, frame=frame.index, track_ids=track_ids
                )
                faces = _faces(recognition)
                _print(videos[0], faces, as_json=args.json, frame=frame.index, threshold=threshold)
                done += 1
                if args.max_frames is not None and done >= args.max_frames:
                    break
            keeper.flush()
            _say_kept(keeper, as_json=args.json)
            if video.reason not in (None, END_OF_STREAM, CLOSED):
                # A truncated file: the frames it had are printed, then exit 2 with why.
                raise SourceError(video.reason)
            return 0
        kept = 0
        for source in args.inputs:
            image = load_image(source)
            recognition = recognizer.recognize(image)
            keeper = UnknownsKeeper(
                gallery,
                detector=detector,
                source=str(source),
                embedder=embedder,
                enabled=not args.no_unknowns,
            )
            keeper.offer_recognition(recognition, image=image)
            keeper.flush()
            kept += keeper.kept
            _print(source, _faces(recognition), as_json=args.json, frame=None, threshold=threshold)
        if kept and not args.json:
            print(f"kept {kept} unknown face{'s' if kept != 1 else ''} for `workbench cluster`")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.gallery import Gallery
    from workbench.gallery.removal import remove_people

    # No embedder: removing needs no model (and no TensorFlow import).
    with Gallery(args.gallery, model_id=None, create=False) as gallery:
        # The same path as the panels' Remove: rows, saved photos, then the purge.
        removed, purged = remove_people(gallery, args.names, purge=not args.no_purge)
        for r in removed:
            if args.json:
                print_json_line(
                    {"removed": r.name, "faces": r.faces, "photos_deleted": list(r.photos_deleted)}
                )
            else:
                print(
                    f"removed {r.name}: {r.faces} face(s), {len(r.photos_deleted)} photo(s) "
                    "the workbench had saved"
                )
        if purged and not args.json:
            # A PostgreSQL DELETE leaves the rows' bytes in the table files (docs/SCALING.md).
            print("purged: the removed rows are gone from the database's table files")
        print(f"gallery {gallery.path}: {len(gallery.people)} people, {len(gallery)} faces")
    return 0


def _say_kept(keeper, *, as_json: bool) -> None:
    if keeper.kept and not as_json:
        n = keeper.kept
        print(f"kept {n} unknown face{'s' if n != 1 else ''} for `workbench cluster`")
