"""Export a gallery to one portable ``.npz`` file and import it back, without pickle.

The file holds plain arrays only: ``embeddings (n, D) float32``, ``person (n,) int32``,
``boxes (n, 4) float32`` (NaN where unknown), ``scores (n,) float32`` (NaN where unknown)
and ``manifest``, UTF-8 JSON as a uint8 array: format, version, model id, threshold,
people (name, created) and per face source, sha256, detector, created. ``np.load`` is
called with ``allow_pickle=False``, so a crafted file cannot run code.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError
from workbench.files import atomic_path

if TYPE_CHECKING:
    from workbench.gallery.core import Gallery

FORMAT = "workbench-gallery"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_file` added.

    Attributes:
        people_added: people that were new to the gallery.
        faces_added: faces written.
        duplicates: faces skipped because their sha256 is already enrolled.
    """

    people_added: int
    faces_added: int
    duplicates: int


def export(gallery: Gallery, path: str | os.PathLike) -> Path:
    """Write the whole gallery to ``path`` (``.npz``; temp file renamed into place).

    Returns:
        The path written.

    Raises:
        GalleryError: the file cannot be written.
    """
    path = Path(path)
    # faces() and embeddings() both list faces by id; a concurrent write between the two
    # calls would show as a length mismatch, so they are read under the writer lock.
    with gallery._lock:  # noqa: SLF001 - same package
        records = gallery.faces()
        vectors, owner_names = gallery.embeddings()
        people = gallery.list_people()
    if len(records) != len(vectors):
        raise GalleryError(f"{gallery.path}: gallery changed during export; try again")
    index = {p.name: i for i, p in enumerate(people)}
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model_id": gallery.model_id,
        "dim": gallery.dim,
        "threshold": gallery.threshold,
        "threshold_source": gallery.threshold_source,
        "people": [{"name": p.name, "created": p.created} for p in people],
        "faces": [
            {"source": r.source, "sha256": r.sha256, "detector": r.detector, "created": r.created}
            for r in records
        ],
    }
    nan4 = (np.nan,) * 4
    arrays = {
        "embeddings": vectors.astype(np.float32),
        "person": np.array([index[r.person] for r in records], np.int32),
        "boxes": np.array([r.box or nan4 for r in records], np.float32).reshape(-1, 4),
        "scores": np.array([np.nan if r.score is None else r.score for r in records], np.float32),
        "manifest": np.frombuffer(json.dumps(manifest, ensure_ascii=False).encode(), np.uint8),
    }
    try:
        with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    except OSError as exc:
        raise GalleryError(f"{path}: cannot write the export: {exc}") from None
    return path


def read_export(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """``(manifest, arrays)`` of an export file, checked for shape and format.

    Raises:
        GalleryError: not an export of this format, or inconsistent arrays.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("embeddings", "person", "boxes", "scores", "manifest")}
        manifest = json.loads(arrays.pop("manifest").tobytes().decode("utf-8"))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise GalleryError(f"{path}: expected a gallery export (.npz), but {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GalleryError(f"{path}: expected a {FORMAT!r} export, but the manifest says otherwise")
    if manifest.get("version") != FORMAT_VERSION:
        raise GalleryError(
            f"{path}: export format version {manifest.get('version')} is not supported; "
            f"this workbench reads version {FORMAT_VERSION}"
        )
    n = len(manifest.get("faces", []))
    emb, person = arrays["embeddings"], arrays["person"]
    n_people = len(manifest.get("people", []))
    if (
        emb.dtype != np.float32
        or emb.shape != (n, int(manifest.get("dim", -1)))
        or person.shape != (n,)
        or arrays["boxes"].shape != (n, 4)
        or arrays["scores"].shape != (n,)
        or (n and (person.min() < 0 or person.max() >= n_people))
    ):
        raise GalleryError(
            f"{path}: the export's arrays do not match its manifest "
            f"({n} faces, {n_people} people, embeddings {emb.shape} {emb.dtype})"
        )
    return manifest, arrays


def import_file(gallery: Gallery, path: str | os.PathLike) -> ImportSummary:
    """Add an export's people and faces to ``gallery`` in one transaction.

    People are matched by name; a face whose sha256 is already enrolled is skipped. The
    gallery keeps its own threshold.

    Raises:
        GalleryError: not an export, or an export of another embedding model.
        InvalidNameError: a person name the gallery refuses.
    """
    manifest, arrays = read_export(path)
    if manifest.get("model_id") != gallery.model_id:
        raise GalleryError(
            f"{path}: the export holds embeddings of model {manifest.get('model_id')!r}, "
            f"but the gallery {gallery.path} is of model {gallery.model_id!r}"
        )
    faces = manifest["faces"]
    known = gallery.sha256_known({f["sha256"] for f in faces if f.get("sha256")})
    existing = set(gallery.people)
    batches = []
    duplicates = 0
    people_added = 0
    for p_index, person in enumerate(manifest["people"]):
        rows = [
            i
            for i in np.flatnonzero(arrays["person"] == p_index)
            if not (faces[i].get("sha256") and faces[i]["sha256"] in known)
        ]
        duplicates += int((arrays["person"] == p_index).sum()) - len(rows)
        if not rows:
            continue
        boxes = [None if np.isnan(b).any() else b for b in arrays["boxes"][rows]]
        scores = [None if np.isnan(s) else float(s) for s in arrays["scores"][rows]]
        batches.append(
            (
                person["name"],
                arrays["embeddings"][rows],
                [faces[i].get("source") for i in rows],
                [faces[i].get("sha256") for i in rows],
                boxes,
                [faces[i].get("detector") for i in rows],
                scores,
            )
        )
        people_added += person["name"] not in existing
    added = gallery._add_many(batches)  # noqa: SLF001 - one transaction for the whole file
    return ImportSummary(people_added, sum(len(a) for a in added), duplicates)
