"""People nobody has named yet.

``workbench cluster [DIR] --gallery FILE [--json]`` groups the gallery's unknown faces
into proposed people (first detecting and embedding every photo under DIR into them).
``--json`` prints one object::

    {"clusters": [{"id": 12, "faces": [{"id": 12, "source": "a.jpg", "box": [...],
                   "frame": null}], "near": {"name": "Ada", "distance": 0.64,
                   "rival": null} | null}],
     "unclustered": [{"id": 3, "source": "b.jpg", "box": [...]}]}

``rival``: the look-alike the gallery cannot tell ``name`` from for the proposal's mean
face (it would answer "Ada or Bea?"), else ``null``.

``workbench unknowns --gallery FILE`` shows and sets what the gallery keeps of them.
``workbench name ID NAME``, ``workbench merge ID ID``, ``workbench discard ID`` and
``workbench move-out FACE`` act on the proposals ``cluster`` printed (one transaction each).
"""

from __future__ import annotations

import argparse

from workbench.cli import GALLERY_HELP, add_detector_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="group the unknown faces of a gallery into proposed people",
        description="Group the faces the gallery could not name (kept by recognize and "
        "live) into proposed people, each with its faces best first and the enrolled "
        "person it looks like, if any. With DIR, every face of every photo under DIR "
        "(any layout) is first detected and embedded into the unknowns; photos scanned "
        "before are skipped.",
    )
    p.add_argument("folder", nargs="?", metavar="DIR", help="photos to add first (optional)")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    add_detector_arguments(p)  # used with DIR
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="clustering cut, distance between unit vectors (default: the gallery's "
        "model's, measured on LFW: 0.40 for dlib, 0.56 for fused)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_cluster)

    p = subparsers.add_parser(
        "unknowns",
        help="show or set what a gallery keeps of the faces it cannot name",
        description="Unknown faces are kept for `workbench cluster`: a track's best few, "
        "at most --max-count and none older than --max-age-days. They are faces of "
        "people who did not agree to be enrolled: --keep-none removes them all and keeps "
        "no more; --remove ID... and --clear remove them for good.",
    )
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep", action="store_true", help="keep unknown faces (the default)")
    keep.add_argument(
        "--keep-none", action="store_true", help="remove every unknown face and keep no more"
    )
    p.add_argument("--max-count", type=int, default=None, metavar="N")
    p.add_argument("--max-age-days", type=float, default=None, metavar="D")
    p.add_argument("--per-track", type=int, default=None, metavar="K")
    p.add_argument("--remove", type=int, nargs="+", default=None, metavar="ID")
    p.add_argument("--clear", action="store_true", help="remove every unknown face now")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_unknowns)

    p = subparsers.add_parser(
        "name",
        help="enroll a proposed person (from `workbench cluster`) under a name",
        description="Enroll the faces of proposal ID as NAME (a new or an existing person) "
        "and remove them from the unknowns, in one transaction. Faces below the quality "
        "floor are left out of the enrollment (and leave the unknowns all the same).",
    )
    p.add_argument("cluster", type=int, metavar="ID", help="proposal id from `workbench cluster`")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument(
        "--min-quality", type=float, default=None, metavar="Q", help="quality floor (0.1)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_name)

    p = subparsers.add_parser("merge", help="make two proposed people one")
    p.add_argument("clusters", type=int, nargs=2, metavar="ID")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_merge)

    p = subparsers.add_parser("discard", help="delete a proposed person's faces for good")
    p.add_argument("cluster", type=int, metavar="ID")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_discard)

    p = subparsers.add_parser(
        "move-out", help="take one face (its id in `cluster --json`) out of its proposal"
    )
    p.add_argument("face", type=int, metavar="FACE")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_move_out)

    _register_corrections(subparsers)


def _register_corrections(subparsers) -> None:
    """``reject``, ``negatives`` and ``add`` (picking one face of a group)."""
    p = subparsers.add_parser(
        "reject",
        help='"this is not NAME": store a face as a correction the decision then uses',
        description="Store a face as a negative example of the enrolled person NAME: from "
        "then on a face nearer to it than to NAME's own faces is not taken for NAME. The "
        "face is an unknown face of the gallery (--unknown ID, from `cluster --json`) or "
        "a face in a photo (--image PHOTO, with --face INDEX when it shows several).",
    )
    p.add_argument("name", metavar="NAME", help="the enrolled person the face is not")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--unknown", type=int, metavar="ID", help="an unknown face's id")
    which.add_argument("--image", metavar="PHOTO", help="a photo of the face")
    p.add_argument(
        "--face", type=int, default=None, metavar="INDEX", help="with --image: which face"
    )
    add_detector_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_reject)

    p = subparsers.add_parser(
        "negatives", help="list (or remove) the corrections stored with `workbench reject`"
    )
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    p.add_argument("--name", default=None, help="only the corrections of this person")
    p.add_argument("--remove", type=int, nargs="+", default=None, metavar="ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_negatives)

    p = subparsers.add_parser(
        "add",
        help="enroll photos of one person, picking the face when a photo shows several",
        description="Enroll PHOTO... as NAME (new or existing). In a photo with several "
        "faces, --face INDEX (the order `workbench detect` lists them) or --box X1,Y1,X2,Y2 "
        "says which one; without either the largest is taken.",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--name", required=True, metavar="NAME")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--face", type=int, default=None, metavar="INDEX")
    pick.add_argument("--box", default=None, metavar="X1,Y1,X2,Y2")
    add_detector_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_add)


def run_cluster(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.cli import print_json_line
    from workbench.errors import InvalidArgumentError
    from workbench.gallery import Gallery

    # None: the cut of the gallery's model (a fused gallery's distances are larger).
    options = {"threshold": args.threshold}
    scanned = None
    if args.folder is not None:
        if not Path(args.folder).is_dir():
            raise InvalidArgumentError(
                f"expected a folder of photos, but {args.folder} is not a folder"
            )
        from workbench.cli import detector_options
        from workbench.detect import create_detector
        from workbench.photos import photos_in
        from workbench.recognize import Recognizer, open_gallery

        if not photos_in(args.folder):
            # Before the gallery is opened (or created): nothing is left behind.
            raise InvalidArgumentError(
                f"{args.folder}: no photos here or in its folders (looked for .jpg, .png, "
                ".webp, ...)"
            )

        embedder, gallery = open_gallery(args.gallery, create=True)
        with (
            gallery,
            create_detector(args.detector, **detector_options(args)) as detector,
        ):
            scanned = gallery.scan_folder(
                args.folder,
                recognizer=Recognizer(detector, embedder),
                progress=not (args.quiet or args.json),
            )
            proposals = gallery.cluster_unknowns(**options)
    else:
        # No embedder: clustering reads the stored embeddings only (no model loads).
        with Gallery(args.gallery, model_id=None, create=False) as gallery:
            proposals = gallery.cluster_unknowns(**options)
    if args.json:
        out = proposals.to_dict()
        if scanned is not None:
            out["scanned"] = {
                k: v for k, v in vars(scanned).items() if k not in ("unreadable", "seconds")
            } | {"unreadable": [p for p, _ in scanned.unreadable]}
        print_json_line(out)
        return 0
    if scanned is not None:
        print(scanned)
        for _path, why in scanned.unreadable[:5]:
            print(f"  unreadable: {why}")
    print(f"{proposals} (unclustered)")
    for c in proposals.clusters:
        near = f"  {c.near}" if c.near is not None else ""
        print(f"proposal {c.id}: {len(c.faces)} faces{near}")
        for f in c.faces[:5]:
            where = f.source if f.frame is None else f"{f.source} frame {f.frame}"
            print(f"  {where} box={_box(f.box)}")
        if len(c.faces) > 5:
            print(f"  ... {len(c.faces) - 5} more")
    return 0


def _box(box) -> str:
    return "-" if box is None else "(" + ", ".join(f"{v:.0f}" for v in box) + ")"


def run_unknowns(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.gallery import Gallery

    changes = {
        k: v
        for k, v in {
            "max_count": args.max_count,
            "max_age_days": args.max_age_days,
            "per_track": args.per_track,
        }.items()
        if v is not None
    }
    if args.keep or args.keep_none:
        changes["keep"] = bool(args.keep)
    from workbench.gallery.removal import purge_removed

    removed = 0
    with Gallery(args.gallery, model_id=None, create=False) as gallery:
        if changes:
            removed += gallery.set_unknowns_policy(**changes)
        if args.remove:
            removed += gallery.remove_unknowns(args.remove)
        if args.clear:
            removed += gallery.remove_unknowns()
        if removed:
            purge_removed(gallery)  # as `workbench remove`: no bytes left in the store
        policy, count = gallery.unknowns_policy, gallery.count_unknowns()
    if args.json:
        print_json_line({"policy": policy.to_dict(), "unknowns": count, "removed": removed})
        return 0
    state = "kept" if policy.keep else "NOT kept (keep none)"
    print(
        f"gallery {args.gallery}: {count} unknown faces; unknowns {state}: at most "
        f"{policy.max_count:,}, none older than {policy.max_age_days:g} days, "
        f"{policy.per_track} per track"
    )
    if removed:
        print(f"removed {removed} unknown face{'s' if removed != 1 else ''} for good")
    return 0


def _open_existing(path: str):
    from workbench.gallery import Gallery

    # No embedder: these act on stored embeddings only.
    return Gallery(path, model_id=None, create=False)


def run_name(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line

    options = {} if args.min_quality is None else {"min_quality": args.min_quality}
    with _open_existing(args.gallery) as gallery:
        result = gallery.name_proposal(args.cluster, args.name, **options)
        people, faces = len(gallery.people), len(gallery)
    if args.json:
        print_json_line({"cluster": args.cluster, **result.to_dict()})
    else:
        print(result)
        print(f"gallery {args.gallery}: {people} people, {faces} faces")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line

    with _open_existing(args.gallery) as gallery:
        merged = gallery.merge_proposals(*args.clusters)
        size = len(gallery.cluster_unknowns().get(merged).faces)
    if args.json:
        print_json_line({"merged": args.clusters, "cluster": merged, "faces": size})
    else:
        print(f"merged proposals {args.clusters[0]} and {args.clusters[1]}: proposal {merged}")
    return 0


def run_discard(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.gallery.removal import remove_unknowns

    with _open_existing(args.gallery) as gallery:
        n = remove_unknowns(gallery, lambda: gallery.discard_proposal(args.cluster))
    if args.json:
        print_json_line({"discarded": args.cluster, "faces": n})
    else:
        print(f"discarded proposal {args.cluster}: {n} faces removed for good")
    return 0


def run_move_out(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line

    with _open_existing(args.gallery) as gallery:
        gallery.move_face_out(args.face)
    if args.json:
        print_json_line({"moved_out": args.face})
    else:
        print(f"face {args.face} is on its own now")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line

    if args.unknown is not None:
        if args.face is not None:
            from workbench.errors import InvalidArgumentError

            raise InvalidArgumentError("--face goes with --image, not with --unknown")
        with _open_existing(args.gallery) as gallery:
            [face] = gallery.unknowns([args.unknown])
            ids = gallery.reject(face, args.name)
            n = len(gallery.negatives(args.name))
        source = face.source
    else:
        ids, source, n = _reject_image(args)
    if args.json:
        print_json_line({"not": args.name, "ids": ids, "source": source, "negatives": n})
    else:
        print(f"stored: {source} is not {args.name} ({n} correction{'s' if n != 1 else ''})")
    return 0


def _reject_image(args: argparse.Namespace):
    from workbench.cli import detector_options
    from workbench.detect import create_detector
    from workbench.errors import InvalidImageError
    from workbench.images import check_image_file, load_image
    from workbench.pipeline import pick_face
    from workbench.recognize import Recognizer, open_gallery

    check_image_file(args.image)
    embedder, gallery = open_gallery(args.gallery, create=False)
    with (
        gallery,
        create_detector(args.detector, **detector_options(args)) as detector,
    ):
        if args.name not in gallery:
            from workbench.errors import GalleryError

            raise GalleryError(f"{gallery.path}: no person named {args.name!r} to correct")
        image = load_image(args.image)
        dets = detector.detect(image)
        if not len(dets):
            raise InvalidImageError(f"{args.image}: no face found")
        if len(dets) > 1 and args.face is None:
            raise InvalidImageError(
                f"{args.image}: {len(dets)} faces; say which with --face 0..{len(dets) - 1} "
                "(in the order `workbench detect` lists them)"
            )
        one = pick_face(dets, 0 if args.face is None else args.face)
        vec = Recognizer(detector, embedder).embed(image, one)
        ids = gallery.reject(vec, args.name, source=str(args.image))
        return ids, str(args.image), len(gallery.negatives(args.name))


def run_negatives(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line

    with _open_existing(args.gallery) as gallery:
        removed = gallery.remove_negatives(args.remove) if args.remove else 0
        records = gallery.negatives(args.name)
    if args.json:
        print_json_line({"negatives": [r.to_dict() for r in records], "removed": removed})
        return 0
    if removed:
        print(f"removed {removed} correction{'s' if removed != 1 else ''}")
    print(f"{len(records)} correction{'s' if len(records) != 1 else ''}")
    for r in records:
        print(f"  {r.id}: {r.source or '(no source)'} is not {r.person}  ({r.created})")
    return 0


def _parse_box(text: str):
    from workbench.errors import InvalidArgumentError

    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise InvalidArgumentError(f"--box must be X1,Y1,X2,Y2 (four numbers), but got {text!r}")
    return box


def run_add(args: argparse.Namespace) -> int:
    import dataclasses

    from workbench.cli import detector_options, print_json_line
    from workbench.detect import create_detector
    from workbench.gallery.names import validate_name
    from workbench.images import check_image_file
    from workbench.recognize import Recognizer, open_gallery

    validate_name(args.name)
    face = _parse_box(args.box) if args.box is not None else args.face
    for photo in args.photos:
        check_image_file(photo)
    embedder, gallery = open_gallery(args.gallery, create=True)
    with (
        gallery,
        create_detector(args.detector, **detector_options(args)) as detector,
    ):
        summary = gallery.enroll(
            args.name, args.photos, recognizer=Recognizer(detector, embedder), face=face
        )
        people, faces = len(gallery.people), len(gallery)
    if args.json:
        print_json_line({**dataclasses.asdict(summary), "gallery": args.gallery})
    else:
        print(summary)
        print(f"gallery {args.gallery}: {people} people, {faces} faces")
    return 0
