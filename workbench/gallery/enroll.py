"""Enrollment: photos of a person -> one face each -> embeddings in the gallery.

Per photo: read (and hash) it, skip it if that exact file is enrolled already, detect,
keep one face by the :class:`MultipleFaces` policy, embed. The faces of one person go
into the gallery in one transaction, so an interrupted ``enroll_folder`` keeps every
person it finished and a rerun skips them as duplicates.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError, InvalidImageError
from workbench.gallery.names import folder_key, validate_name
from workbench.gallery.types import FaceBatch
from workbench.photos import is_photo, photos_in
from workbench.pipeline import Pick, needs_photo, pick_face

if TYPE_CHECKING:
    from workbench.faces import FaceDetections
    from workbench.gallery import Gallery
    from workbench.pipeline import FaceRecognizer


class MultipleFaces(enum.Enum):
    """What to do with a reference photo that shows several faces.

    ``LARGEST``: enroll the largest face (reference photos are usually portraits with
    someone in the background). ``SKIP``: enroll nothing from that photo. ``ASK``: enroll
    nothing from it yet and hand it back with its faces in
    :attr:`EnrollSummary.to_pick`, for a front end that lets the user pick the face (the
    enroll panel); enrolling ``DetectedPhoto(photo, detections, face=i)`` then does not
    detect again.
    """

    LARGEST = "largest"
    SKIP = "skip"
    ASK = "ask"


@dataclass(frozen=True)
class DetectedPhoto:
    """A photo whose faces were found already, as :func:`enroll` takes it: the faces are
    reused (a panel detects once for its preview and again never), and ``face`` says
    which one to enroll.

    Attributes:
        photo: what :func:`enroll` takes: a path, encoded bytes, an array or a PIL image.
        detections: every face the same recognizer's detector found in it.
        face: the face the user picked, an index into ``detections`` or a box (as
            ``enroll(face=...)``); ``None``: the ``multiple_faces`` policy decides.
    """

    photo: Any
    detections: FaceDetections
    face: Pick | None = None


@dataclass
class EnrollSummary:
    """What an enrollment did, photo by photo.

    Attributes:
        enrolled: ``(person, source)`` of every face added.
        no_face: sources in which no face was found.
        several_faces: ``(source, faces found)`` of photos with more than one face.
        policy: the :class:`MultipleFaces` policy applied to those (``"largest"``: they
            are also in ``enrolled``; ``"skip"``: they are not).
        duplicates: ``(source, person)`` of photos skipped because the same file
            (sha256) is enrolled already, to ``person``.
        unreadable: ``(source, reason)`` of files that could not be read as images.
        invalid_names: ``(folder, reason)`` of person folders whose name is refused.
        unlisted_folders: ``(folder, reason)`` of folders that could not be listed (no
            permission): the photos in them were not seen.
        ignored: files that are not photos (by ending) or not inside a person folder.
        seconds: wall time.
        face_ids: gallery ids of the faces added, in the order of ``enrolled``.
        look_alikes: warnings ``"Ada looks like Bea: centroid distance 0.39"`` for
            enrolled people whose faces fall near another person's.
        unknowns_kept: the other faces of multi-face photos kept as unknowns (for
            ``workbench cluster``), within the gallery's policy.
        to_pick: with the ``"ask"`` policy, ``(person, DetectedPhoto)`` of each photo
            with several faces, not enrolled: the user picks the face (empty otherwise).
        yaws: the yaw in degrees of each face in ``enrolled`` (:mod:`workbench.mesh`),
            ``None`` where it is not known (a recognizer without a mesh).
    """

    enrolled: list[tuple[str, str]] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    several_faces: list[tuple[str, int]] = field(default_factory=list)
    policy: str = MultipleFaces.LARGEST.value
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    invalid_names: list[tuple[str, str]] = field(default_factory=list)
    unlisted_folders: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0
    face_ids: list[int] = field(default_factory=list)
    look_alikes: list[str] = field(default_factory=list)
    unknowns_kept: int = 0
    to_pick: list[tuple[str, DetectedPhoto]] = field(default_factory=list)
    yaws: list[float | None] = field(default_factory=list)

    def views(self) -> dict[str, dict[str, int]]:
        """Per person with known yaws, how many faces of this enrollment are frontal,
        turned left and turned right (:func:`workbench.mesh.count_views`)."""
        from workbench.mesh import count_views

        yaws: dict[str, list[float]] = {}
        for (person, _), yaw in zip(self.enrolled, self.yaws, strict=False):
            if yaw is not None:
                yaws.setdefault(person, []).append(yaw)
        return {person: count_views(ys) for person, ys in yaws.items()}

    def view_hints(self) -> list[str]:
        """One line per person missing a turned view: a face seen turned away is named
        far more often when the person was also enrolled turned (``benchmarks/pose.py``:
        faces at 25 degrees or more named right 68% -> 83% with 3 photos)."""
        from workbench.mesh import views_hint

        hints = []
        for person, counts in self.views().items():
            hint = views_hint(counts)
            if hint:
                hints.append(f"{person}: {hint} so {person} is named when turned away")
        return hints

    @property
    def people(self) -> list[str]:
        """People who got at least one face, in order of enrollment."""
        return list(dict.fromkeys(p for p, _ in self.enrolled))

    @property
    def photos_seen(self) -> int:
        """Photos looked at (enrolled, no face, skipped, duplicate or unreadable)."""
        held = (MultipleFaces.SKIP.value, MultipleFaces.ASK.value)
        skipped = len(self.several_faces) if self.policy in held else 0
        return (
            len(self.enrolled)
            + len(self.no_face)
            + skipped
            + len(self.duplicates)
            + len(self.unreadable)
        )

    def __str__(self) -> str:
        rate = self.photos_seen / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"enrolled {len(self.enrolled)} faces of {len(self.people)} people "
            f"from {self.photos_seen} photos in {self.seconds:.1f} s ({rate:.1f} photos/s)",
            f"no face: {len(self.no_face)}",
            f"several faces ({self.policy}): {len(self.several_faces)}",
            f"duplicates skipped: {len(self.duplicates)}",
            f"unreadable: {len(self.unreadable)}",
        ]
        if self.invalid_names:
            lines.append(f"refused folder names: {len(self.invalid_names)}")
        if self.unlisted_folders:
            lines.append(f"folders that could not be listed: {len(self.unlisted_folders)}")
        if self.ignored:
            lines.append(f"ignored files: {len(self.ignored)}")
        for source, reason in self.unreadable[:5]:
            # The image errors start with the file's name or path; say it once.
            for prefix in (f"{source}: ", f"{Path(source).name}: "):
                reason = reason.removeprefix(prefix)
            lines.append(f"  unreadable {source}: {reason}")
        for folder, reason in self.invalid_names[:5]:
            lines.append(f"  refused {folder}: {reason}")
        for folder, reason in self.unlisted_folders[:5]:
            lines.append(f"  not listed {folder}: {reason}")
        lines.extend(f"warning: {w}" for w in self.look_alikes[:10])
        lines.extend(f"views: {h}" for h in self.view_hints()[:10])
        return "\n".join(lines)


def _policy(value: MultipleFaces | str) -> MultipleFaces:
    try:
        return MultipleFaces(value)
    except ValueError:
        valid = [m.value for m in MultipleFaces]
        raise InvalidArgumentError(
            f"multiple_faces must be one of {valid}, but got {value!r}"
        ) from None


def _read(item: Any, i: int) -> tuple[str | None, str, Any]:
    """``(source label or None, sha256, input for load_image)``; file read once."""
    if isinstance(item, str | os.PathLike):
        from workbench.images import read_image_file

        data = read_image_file(item)  # FIFOs, links and folders refused before reading
        return str(item), hashlib.sha256(data).hexdigest(), data
    if isinstance(item, bytes | bytearray | memoryview):
        data = bytes(item)
        return None, hashlib.sha256(data).hexdigest(), data
    if isinstance(item, np.ndarray):
        h = hashlib.sha256(f"{item.shape}{item.dtype}".encode())
        h.update(np.ascontiguousarray(item).tobytes())
        return None, h.hexdigest(), item
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None  # noqa: N806
    if Image is not None and isinstance(item, Image.Image):
        h = hashlib.sha256(f"{item.mode}{item.size}".encode())
        h.update(item.tobytes())
        return None, h.hexdigest(), item
    raise InvalidImageError(
        f"expected a path, bytes, a numpy array or a PIL image, but got {type(item).__name__}"
    )


def _check_model(gallery: Gallery, recognizer: FaceRecognizer) -> None:
    embedder = getattr(recognizer, "embedder", None)
    model_id = getattr(embedder, "model_id", None) or getattr(recognizer, "model_id", None)
    if model_id is not None and model_id != gallery.model_id:
        raise GalleryError(
            f"{gallery.path}: this gallery holds embeddings of model {gallery.model_id!r}, "
            f"but the recognizer embeds with {model_id!r}"
        )


def _detector_name(recognizer: FaceRecognizer) -> str | None:
    detector = getattr(recognizer, "detector", None)
    name = getattr(detector, "name", None) or getattr(recognizer, "detector_name", None)
    return None if name is None else str(name)


class _Known:
    """Which photos (by sha256) are enrolled already: in the gallery or earlier this run."""

    def __init__(self, gallery: Gallery) -> None:
        self.gallery = gallery
        self.seen: dict[str, str] = {}

    def get(self, digest: str) -> str | None:
        if digest in self.seen:
            return self.seen[digest]
        return self.gallery.sha256_known([digest]).get(digest)


@dataclass
class _Faces:
    """Faces of one person gathered before they are written in one transaction."""

    embeddings: list[np.ndarray] = field(default_factory=list)
    chips: list[np.ndarray] = field(default_factory=list)  # batched path: embedded later
    labels: list[str] = field(default_factory=list)
    sources: list[str | None] = field(default_factory=list)
    sha256s: list[str] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    yaws: list[float | None] = field(default_factory=list)
    saved: list[bool] = field(default_factory=list)  # the workbench wrote this source
    # The other faces of multi-face photos: (chips, detections, source), kept as unknowns.
    others: list[tuple] = field(default_factory=list)
    # Their embeddings, when the embedder needs the photo (it cannot embed chips later).
    other_vectors: list[np.ndarray] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # files this run created


def _one_face(
    dets: FaceDetections,
    face: Pick | None,
    policy: MultipleFaces,
    summary: EnrollSummary,
    label: str,
    held: tuple[str, Any],
) -> FaceDetections | None:
    """The one face of a photo to enroll, or ``None`` (recorded in ``summary``)."""
    if len(dets) and face is not None:
        # The user picked the face (an index or a box), whatever the count.
        dets = pick_face(dets, face)
    if len(dets) == 0:
        summary.no_face.append(label)
        return None
    if len(dets) > 1:
        summary.several_faces.append((label, len(dets)))
        if policy is MultipleFaces.ASK:
            person, item = held
            summary.to_pick.append((person, DetectedPhoto(item, dets)))
        if policy is not MultipleFaces.LARGEST:
            return None
        dets = pick_face(dets, "largest")
    return dets


def _yaw(recognizer: FaceRecognizer, image: np.ndarray, dets: FaceDetections) -> float | None:
    """The enrolled face's yaw (degrees) when the recognizer can tell it, else ``None``."""
    yaw_of = getattr(recognizer, "yaw", None)
    yaw = float(yaw_of(image, dets)[0]) if callable(yaw_of) else float("nan")
    return yaw if np.isfinite(yaw) else None


def _process(
    items: Iterable[Any],
    recognizer: FaceRecognizer,
    policy: MultipleFaces,
    summary: EnrollSummary,
    known: _Known,
    label_offset: int,
    progress: Any,
    batch: bool = False,
    save_dir: Path | None = None,
    face: Pick | None = None,
    person: str = "",
) -> _Faces:
    """Read, dedupe, detect and embed (or with ``batch`` only align) each photo; with
    ``save_dir``, keep a copy of each enrolled photo there (it becomes the source).
    A :class:`DetectedPhoto` brings its faces (not detected again) and maybe its pick."""
    from workbench.images import load_image

    out = _Faces()
    default_pick = face
    for i, item in enumerate(items):
        given, face = None, default_pick
        if isinstance(item, DetectedPhoto):
            given, face = item.detections, default_pick if item.face is None else item.face
            item = item.photo
        is_path = isinstance(item, str | os.PathLike)
        label = str(item) if is_path else f"<image {label_offset + i}>"
        source = payload = None
        try:
            source, digest, payload = _read(item, label_offset + i)
            holder = known.get(digest)
            if holder is not None:
                summary.duplicates.append((label, holder))
                continue
            # The bytes were read once (to hash them); the message names the file.
            image = load_image(payload, label=None if source is None else Path(source).name)
            dets = recognizer.detect(image) if given is None else given
        except InvalidImageError as exc:
            summary.unreadable.append((label, str(exc)))
            continue
        finally:
            if progress is not None:
                progress.update(1)
        found = dets
        dets = _one_face(dets, face, policy, summary, label, (person, item))
        if dets is None:
            continue
        if batch:
            # Each face's chips (several with enrollment's test-time augmentation) are
            # embedded in _commit and averaged into one gallery embedding.
            many = getattr(recognizer, "enrollment_chips", None)
            out.chips.append(many(image, dets)[0] if many else recognizer.chips(image, dets)[:1])
        else:
            vec = np.asarray(recognizer.embed(image, dets), np.float32).reshape(1, -1)
            out.embeddings.append(vec[0])
        saved = save_dir is not None and isinstance(payload, bytes)
        if saved:
            path, wrote = _save_photo(save_dir, payload, digest, source)
            source = label = str(path)
            if wrote:
                out.written.add(source)
        out.saved.append(saved)
        known.seen[digest] = "(this run)"
        out.labels.append(label)
        out.sources.append(source)
        out.sha256s.append(digest)
        out.boxes.append(dets.xyxy[0])
        out.scores.append(float(dets.scores[0]))
        out.yaws.append(_yaw(recognizer, image, dets))
        if len(found) > 1 and hasattr(recognizer, "chips"):
            # The other faces of the photo are people nobody named: kept as unknowns
            # (within the gallery's policy) after the enrollment commits.
            rest = [i for i in range(len(found)) if not np.array_equal(found.xyxy[i], dets.xyxy[0])]
            gate = getattr(recognizer, "too_small", None)  # the size gate that names faces
            if rest and gate is not None:
                rest = [i for i, small in zip(rest, gate(found[rest]), strict=True) if not small]
            if rest:
                others = found[rest]
                out.others.append((recognizer.chips(image, others), others, source))
                if needs_photo(getattr(recognizer, "embedder", None)):
                    out.other_vectors.append(np.asarray(recognizer.embed(image, others)))
    return out


def _commit(
    gallery: Gallery,
    people: list[tuple[str, _Faces]],
    recognizer: FaceRecognizer,
    detector: str | None,
    summary: EnrollSummary,
    *,
    refresh: bool = True,
) -> None:
    """Embed any chips still waiting, then write these people in one transaction.

    ``refresh``: re-derive the gallery's threshold afterwards (see :meth:`Gallery.add_many`).
    """
    people = [(name, f) for name, f in people if f.embeddings or f.chips]
    if not people:
        return
    chips = [c for _, f in people for c in f.chips]
    keep_others = gallery.unknowns_policy.keep
    other_chips = [c for _, f in people for cs, _, _ in f.others for c in cs] if keep_others else []
    other_vectors = None
    if keep_others and any(f.other_vectors for _, f in people):
        other_vectors = np.concatenate([v for _, f in people for v in f.other_vectors])
    if chips:
        # One forward pass over every waiting face (the other faces of multi-face photos
        # too): batches run ~2x faster than singles. Each enrolled face has its own chips
        # (several with enrollment's test-time augmentation), averaged into one embedding.
        sizes = [len(c) for c in chips]
        n = sum(sizes)
        flat = np.asarray(
            recognizer.embedder.embed(np.concatenate([*chips, *[c[None] for c in other_chips]])),
            np.float32,
        )
        other_vectors = flat[n:]
        vectors = np.add.reduceat(flat[:n], np.cumsum([0, *sizes[:-1]]), axis=0)
        vectors /= np.array(sizes, np.float32)[:, None]
        start = 0
        for _, f in people:
            f.embeddings.extend(vectors[start : start + len(f.chips)])
            start += len(f.chips)
            f.chips.clear()
    held: dict[str, str] = {}  # photos another writer enrolled since we checked
    ids = gallery.add_many(
        [
            FaceBatch(
                name,
                np.stack(f.embeddings),
                f.sources,
                f.sha256s,
                f.boxes,
                detector,
                f.scores,
                saved=f.saved,  # removing these faces deletes the photos saved for them
            )
            for name, f in people
        ],
        refresh=refresh,
        skip_known=held,
    )
    for (name, f), person_ids in zip(people, ids, strict=True):
        for label, digest, source, saved, yaw in zip(
            f.labels, f.sha256s, f.sources, f.saved, f.yaws, strict=True
        ):
            if digest in held:
                summary.duplicates.append((label, held[digest]))
                if saved and source in f.written:  # our copy of a photo not enrolled
                    Path(source).unlink(missing_ok=True)
            else:
                summary.enrolled.append((name, label))
                summary.yaws.append(yaw)
        summary.face_ids.extend(int(i) for i in person_ids)
    # People whose faces fall near another enrolled person's (siblings, twins): said in
    # the summary, and their decision asks for a margin (see lookalike.py).
    warned = {w.split(" looks like ")[0] for w in summary.look_alikes}
    summary.look_alikes.extend(
        str(w) for w in gallery.look_alikes([n for n, _ in people]) if w.person not in warned
    )
    if keep_others:
        _keep_others(gallery, people, recognizer, detector, summary, other_vectors)


def _keep_others(gallery, people, recognizer, detector, summary, vectors) -> None:
    """The other faces of the multi-face photos, into the unknowns (a second transaction,
    after the enrollment's). ``vectors``: their embeddings when already computed."""
    others = [o for _, f in people for o in f.others]
    if not others:
        return
    chips = np.concatenate([c for c, _, _ in others])
    if vectors is None or len(vectors) != len(chips):
        vectors = np.asarray(recognizer.embedder.embed(chips), np.float32)
    ids = gallery.add_unknowns(
        vectors,
        chips=chips,
        source=[src for _, dets, src in others for _ in range(len(dets))],
        boxes=np.concatenate([np.asarray(d.xyxy, np.float64) for _, d, _ in others]),
        scores=np.concatenate([np.asarray(d.scores, np.float64) for _, d, _ in others]),
        detector=detector,
    )
    summary.unknowns_kept += len(ids)


#: Leading bytes of the formats a saved photo is named after (anything else: ``.jpg``).
_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


def _save_photo(folder: Path, data: bytes, digest: str, source: str | None) -> tuple[Path, bool]:
    """Write an enrolled photo as ``folder/<time>-<sha256[:8]><suffix>`` (atomically; a
    file of that name is kept), so the gallery's sources point at a copy it controls.

    Returns:
        The path, and whether this call created the file.
    """
    from workbench.files import atomic_write_bytes

    suffix = Path(source).suffix.lower() if source is not None else ""
    if not suffix:
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            suffix = ".webp"
        else:
            suffix = next((s for magic, s in _MAGIC if data.startswith(magic)), ".jpg")
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest[:8]}{suffix}"
    if path.exists():
        return path, False
    atomic_write_bytes(path, data)
    return path, True


def _batches(recognizer: FaceRecognizer) -> bool:
    """Whether faces can be aligned now and embedded later, many in one pass (not when
    the embedder cuts its own chips from the photo: the photo is gone by then)."""
    return (
        callable(getattr(recognizer, "chips", None))
        and hasattr(recognizer, "embedder")
        and not needs_photo(recognizer.embedder)
    )


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # notebook-aware: a widget in Jupyter, text in a terminal

    return tqdm(total=total, desc=desc, unit="photo")


def enroll(
    gallery: Gallery,
    name: str,
    images: Iterable[Any] | Any,
    *,
    recognizer: FaceRecognizer,
    multiple_faces: MultipleFaces | str = MultipleFaces.LARGEST,
    progress: bool = False,
    save_photos: str | os.PathLike | None = None,
    face: Pick | None = None,
) -> EnrollSummary:
    """Enroll photos of one person (one transaction).

    Every front end enrolls through here (the CLI and :meth:`Gallery.enroll`, the enroll
    panel), so dedupe, photo saving and the summary are the same for all.

    Args:
        gallery: the gallery to add to.
        name: the person; created if new, added to if known.
        images: photos: paths, encoded bytes, ``(H, W, 3)`` uint8 arrays or PIL images
            (one of them alone also works), or :class:`DetectedPhoto` (faces found
            already, maybe the one picked).
        recognizer: has ``detect(image) -> FaceDetections`` and
            ``embed(image, detections) -> (n, D)``; a :class:`workbench.recognize.Recognizer`.
        multiple_faces: policy for photos with several faces, see :class:`MultipleFaces`.
        progress: show a progress bar.
        save_photos: a folder; photos given as bytes are saved under
            ``save_photos/<name>/`` and recorded with that path as their source (a panel's
            captures and uploads, which have no file of their own).
        face: which face of each photo to enroll when the user picked one: an index
            (in the detector's order, as ``workbench detect`` lists them) or a box
            ``(x1, y1, x2, y2)`` (the detection overlapping it most); overrides
            ``multiple_faces``. An index out of range raises before anything is written.

    Returns:
        An :class:`EnrollSummary` (``face_ids`` lists the new faces).

    Raises:
        InvalidNameError: a bad name (before any photo is read).
        GalleryError: the recognizer's model is not the gallery's, or the write failed.
    """
    t0 = time.perf_counter()
    name = validate_name(name)
    policy = _policy(multiple_faces)
    _check_model(gallery, recognizer)
    if isinstance(images, str | os.PathLike | bytes | np.ndarray) or not isinstance(
        images, Iterable
    ):
        images = [images]
    items = list(images)
    summary = EnrollSummary(policy=policy.value)
    known = _Known(gallery)
    bar = _progress_bar(len(items), progress, name)
    try:
        save_dir = None if save_photos is None else Path(save_photos) / name
        faces = _process(
            items,
            recognizer,
            policy,
            summary,
            known,
            0,
            bar,
            _batches(recognizer),
            save_dir,
            face=face,
            person=name,
        )
    finally:
        if bar is not None:
            bar.close()
    _commit(gallery, [(name, faces)], recognizer, _detector_name(recognizer), summary)
    summary.seconds = time.perf_counter() - t0
    return summary


def _without_case_clashes(people: list, gallery: Gallery, summary: EnrollSummary) -> list:
    """Folders whose name differs only by case from an enrolled person or an earlier
    folder (one folder on macOS and Windows) go to ``summary.invalid_names``: checked
    before any photo is read, so the rest of the folder still enrolls."""
    seen = {folder_key(n): n for n in gallery.people}
    out = []
    for name, photos in people:
        other = seen.setdefault(folder_key(name), name)
        if other != name:
            summary.invalid_names.append(
                (
                    name,
                    f"{name!r} differs from {other!r} only by case (one folder on macOS "
                    "and Windows): rename the folder",
                )
            )
            continue
        out.append((name, photos))
    return out


def iter_person_folders(root: Path, summary: EnrollSummary) -> Iterator[tuple[str, list[Path]]]:
    """``(validated name, photos)`` of each ``root/<person>/`` (photos found recursively).

    Refused folder names, stray files and folders that cannot be listed go to
    ``summary``.

    Raises:
        InvalidArgumentError: ``root`` itself cannot be listed.
    """
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        from workbench.input_files import os_error_reason

        raise InvalidArgumentError(f"cannot list {root}: {os_error_reason(exc)}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if is_photo(entry):
                summary.ignored.append(str(entry))
            continue
        try:
            name = validate_name(entry.name)
        except GalleryError as exc:
            summary.invalid_names.append((str(entry), str(exc)))
            continue
        photos = photos_in(entry, ignored=summary.ignored, unlisted=summary.unlisted_folders)
        if photos:
            yield name, photos


def enroll_folder(
    gallery: Gallery,
    folder: str | os.PathLike,
    *,
    recognizer: FaceRecognizer,
    multiple_faces: MultipleFaces | str = MultipleFaces.LARGEST,
    progress: bool = True,
    batch_size: int = 32,
) -> EnrollSummary:
    """Enroll every ``folder/<person>/<photos>`` (photos may sit in nested folders).

    People are written one transaction at a time (a few people per transaction when
    their faces are embedded as one batch): stopping half-way keeps the people finished,
    and running it again skips their photos as duplicates.

    Args:
        gallery: the gallery to add to.
        folder: the reference folder, e.g. ``reference_images/``.
        recognizer: see :func:`enroll`.
        multiple_faces: policy for photos with several faces.
        progress: show a progress bar (a widget in Jupyter).
        batch_size: faces embedded per forward pass when the recognizer has
            ``chips(image, detections)`` (aligned ``(n, 150, 150, 3)`` chips) and an
            ``embedder``.

    Returns:
        An :class:`EnrollSummary` of the whole folder.

    Raises:
        InvalidArgumentError: ``folder`` is not a folder, or cannot be listed.
        GalleryError: the recognizer's model is not the gallery's, or a write failed.
    """
    t0 = time.perf_counter()
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError(
            f"expected a folder of <person>/<photos>, but {root} is not a folder"
        )
    policy = _policy(multiple_faces)
    _check_model(gallery, recognizer)
    summary = EnrollSummary(policy=policy.value)
    known = _Known(gallery)
    people = _without_case_clashes(list(iter_person_folders(root, summary)), gallery, summary)
    total = sum(len(p) for _, p in people)
    detector = _detector_name(recognizer)
    bar = _progress_bar(total, progress, "enroll")
    # With a recognizer that can hand out aligned chips, faces of several people are
    # embedded together and those people written in one transaction; otherwise each
    # person is embedded photo by photo and written alone.
    batch = _batches(recognizer)
    waiting: list[tuple[str, _Faces]] = []
    offset = 0
    # The threshold is re-derived once at the end (also after an interruption), not
    # after every batch: each calibration passes over the whole gallery.
    try:
        for name, photos in people:
            if bar is not None:
                bar.set_postfix_str(name, refresh=False)
            faces = _process(
                photos, recognizer, policy, summary, known, offset, bar, batch, person=name
            )
            offset += len(photos)
            waiting.append((name, faces))
            if not batch or sum(len(f.chips) for _, f in waiting) >= batch_size:
                _commit(gallery, waiting, recognizer, detector, summary, refresh=False)
                waiting = []
        _commit(gallery, waiting, recognizer, detector, summary, refresh=False)
    finally:
        if bar is not None:
            bar.close()
        # Also when nothing was new but the threshold is still the creation default (a
        # gallery filled before thresholds followed it): running enroll again fixes it.
        if summary.enrolled or (len(gallery) and gallery.threshold_source == "default"):
            gallery.refresh_threshold()
    summary.seconds = time.perf_counter() - t0
    return summary


def delete_saved_photos(photos: list[tuple[str | None, str | None]]) -> None:
    """Delete photos the workbench saved, each only if its content is still the enrolled
    one (sha256); then their folders if left empty. Failures leave the file in place."""
    folders = set()
    for source, digest in photos:
        if not source:
            continue
        path = Path(source)
        try:
            if not path.is_file() or path.is_symlink():
                continue
            if digest and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                continue  # replaced by the user since: not ours to delete
            path.unlink()
            folders.add(path.parent)
        except OSError:
            continue
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty
