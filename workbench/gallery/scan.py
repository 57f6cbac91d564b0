"""Every face of every photo under a folder into the gallery's unknowns (``workbench
cluster DIR``): a photo archive, any layout, nested folders included.

Photos are read, detected and aligned a batch at a time; the batch's chips are embedded
in one call and stored in one transaction. Faces the gallery already names are not
unknowns and are left out, and so are faces below the recognizer's size gate
(:meth:`Recognizer.too_small <workbench.recognize.Recognizer.too_small>`, the one that
keeps them from being named): too small to embed reliably, they would cluster as noise.
Photos whose faces are already stored (same path) are skipped, so scanning a folder
again adds only its new photos.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import InvalidArgumentError, InvalidImageError
from workbench.gallery import unknowns as _unknowns
from workbench.pipeline import needs_photo

if TYPE_CHECKING:
    from workbench.gallery import Gallery


@dataclass
class ScanSummary:
    """What :func:`scan_folder` did.

    Attributes:
        photos: photos found under the folder.
        skipped: photos skipped because their faces were stored before.
        unreadable: ``(path, reason)`` of photos that could not be read.
        faces: faces detected in the photos read.
        too_small: faces below the size gate (not embedded, not stored).
        known: faces the gallery named, or narrowed to two look-alikes ("X or Y?"):
            faces of enrolled people (not stored).
        kept: unknown faces stored (within the gallery's retention bounds).
        seconds: wall time.
    """

    photos: int = 0
    skipped: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    faces: int = 0
    too_small: int = 0
    known: int = 0
    kept: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.photos} photos ({self.skipped} scanned before, {len(self.unreadable)} "
            f"unreadable): {self.faces} faces, {self.too_small} too small to keep, "
            f"{self.known} of enrolled people, "
            f"{self.kept} unknown faces kept, in {self.seconds:.1f} s"
        )


def scan_folder(
    gallery: Gallery,
    folder: str | os.PathLike,
    *,
    recognizer,
    progress: bool = True,
    batch_size: int = 16,
) -> ScanSummary:
    """Detect and embed every face under ``folder`` into ``gallery``'s unknowns.

    Args:
        gallery: the gallery (its enrolled people are searched; its unknowns filled).
        folder: a folder of photos, any layout.
        recognizer: offers ``detector``, ``embedder``, ``chips(image, detections)`` and
            ``too_small(detections)`` (:class:`workbench.recognize.Recognizer`).
        progress: show a progress bar.
        batch_size: photos per batch (one embedding call and one transaction each).

    Raises:
        InvalidArgumentError: not a folder, or no photos in it.
        GalleryError: the gallery keeps no unknowns (its policy), or a write failed
            (the batches written before stay; a batch is all or nothing).
    """
    from tqdm.auto import tqdm

    from workbench.errors import GalleryError
    from workbench.photos import photos_in

    start = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidArgumentError(f"expected a folder of photos, but {folder} is not a folder")
    photos = photos_in(folder)
    if not photos:
        raise InvalidArgumentError(
            f"{folder}: no photos here or in its folders (looked for .jpg, .png, .webp, ...)"
        )
    if not gallery.unknowns_policy.keep:
        raise GalleryError(
            f"{gallery.path}: this gallery keeps no unknown faces (`workbench unknowns "
            "--keep`) so there is nothing to cluster"
        )
    seen = _unknowns.sources(gallery)
    todo = [p for p in photos if str(p) not in seen]
    summary = ScanSummary(photos=len(photos), skipped=len(photos) - len(todo))
    bar = tqdm(total=len(todo), desc="faces", unit="photo", disable=not progress)
    try:
        for i in range(0, len(todo), batch_size):
            _scan_batch(gallery, todo[i : i + batch_size], recognizer, summary)
            bar.update(len(todo[i : i + batch_size]))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _scan_batch(gallery: Gallery, paths: list[Path], recognizer, summary: ScanSummary) -> None:
    from workbench.images import load_image

    images, sources = [], []
    for p in paths:
        try:
            images.append(load_image(p))
            sources.append(str(p))
        except InvalidImageError as exc:
            summary.unreadable.append((str(p), str(exc)))
    if not images:
        return
    found = recognizer.detector.detect_batch(images)
    chips, boxes, scores, face_sources, vectors = [], [], [], [], []
    photo = needs_photo(recognizer.embedder)  # it cuts its own chips from the photo
    for image, dets, src in zip(images, found, sources, strict=True):
        summary.faces += len(dets)
        if len(dets):
            # The gate that keeps these faces from being named keeps them out here too.
            small = recognizer.too_small(dets)
            summary.too_small += int(small.sum())
            dets = dets[~small]
        if not len(dets):
            continue
        chips.append(recognizer.chips(image, dets))
        if photo:
            vectors.append(np.asarray(recognizer.embed(image, dets), np.float32))
        boxes.append(np.asarray(dets.xyxy, np.float64))
        scores.append(np.asarray(dets.scores, np.float64))
        face_sources += [src] * len(dets)
    if not chips:
        return
    chip_arr = np.concatenate(chips)
    if photo:
        embeddings = np.concatenate(vectors)
    else:
        embeddings = np.asarray(recognizer.embedder.embed(chip_arr), np.float32)
    unknown = np.ones(len(chip_arr), bool)
    if len(gallery):
        # An "X or Y?" face is one of two enrolled people: left out like a named one.
        best = gallery.search(embeddings).best()
        unknown = ~np.array([m.accepted or m.ambiguous for m in best], bool)
    summary.known += int((~unknown).sum())
    idx = np.flatnonzero(unknown)
    if not idx.size:
        return
    ids = gallery.add_unknowns(
        embeddings[idx],
        chips=chip_arr[idx],
        source=[face_sources[i] for i in idx],
        boxes=np.concatenate(boxes)[idx],
        scores=np.concatenate(scores)[idx],
        detector=getattr(recognizer.detector, "name", None),
    )
    summary.kept += len(ids)
