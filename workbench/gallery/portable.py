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
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError
from workbench.files import atomic_path
from workbench.gallery import integrity, store
from workbench.gallery.names import validate_name
from workbench.gallery.types import FaceBatch

if TYPE_CHECKING:
    from workbench.gallery import Gallery

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
    with gallery.locked():
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


#: What an export may hold: these members, each an ``.npy`` of this dtype.
_MEMBERS = {
    "manifest": np.dtype(np.uint8),
    "embeddings": np.dtype("<f4"),
    "person": np.dtype("<i4"),
    "boxes": np.dtype("<f4"),
    "scores": np.dtype("<f4"),
}

#: Caps checked against the zip directory before anything is inflated: a manifest holds
#: about 200 bytes per face, so 256 MiB is over a million faces; the arrays' sizes then
#: follow from the manifest's face count and ``dim``.
MAX_MANIFEST_BYTES = 256 * 2**20
MAX_FACES = 2_000_000
MAX_TEXT = {"source": 4096, "sha256": 64, "detector": 100, "created": 64, "model_id": 200}


def _bad(path: Path, what: str) -> GalleryError:
    return GalleryError(f"{path}: expected a gallery export, but {what}")


def _read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape) -> np.ndarray:
    """One ``.npy`` member, its header checked against ``shape`` and the dtype expected
    before any data is inflated; ``shape`` ``None``: any 1-D length (the manifest)."""
    key = info.filename[:-4]
    dtype = _MEMBERS[key]
    with zf.open(info) as fh:
        try:
            major, _ = np.lib.format.read_magic(fh)
            read_header = {
                1: np.lib.format.read_array_header_1_0,
                2: np.lib.format.read_array_header_2_0,
            }.get(major)
            if read_header is None:
                raise ValueError(f"npy format version {major}")
            got_shape, fortran, got_dtype = read_header(fh, max_header_size=1024)
        except Exception as exc:  # noqa: BLE001 - numpy parses the header with ast and
            # tokenize: damage gives ValueError, SyntaxError, tokenize.TokenError, ...
            raise _bad(path, f"{key}: unreadable array header ({type(exc).__name__})") from None
        if (
            got_dtype != dtype
            or fortran
            or (shape is None and len(got_shape) != 1)
            or (shape is not None and tuple(got_shape) != shape)
        ):
            want = f"{dtype} {'(n,)' if shape is None else shape}"
            raise _bad(path, f"{key}: expected {want}, but got {got_dtype} {tuple(got_shape)}")
        nbytes = int(np.prod(got_shape, dtype=np.int64)) * dtype.itemsize
        if info.file_size != fh.tell() + nbytes:
            raise _bad(path, f"{key}: the zip says {info.file_size} bytes, the header {nbytes}")
        data = fh.read(nbytes + 1)
    if len(data) != nbytes:
        raise _bad(path, f"{key}: {len(data)} bytes of data, the header says {nbytes}")
    return np.frombuffer(data, dtype).reshape(got_shape)


def _text(value, key: str, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT.get(key, 4096):
        shown = (
            f"{type(value).__name__} of length {len(value)}"
            if isinstance(value, str)
            else (type(value).__name__)
        )
        raise ValueError(
            f"{where}.{key}: expected text of at most {MAX_TEXT.get(key, 4096)} "
            f"characters, but got {shown}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}.{key}: not valid Unicode text") from None
    return value


def _check_manifest(path: Path, manifest: object) -> dict:
    """Every field of the manifest, by type and size; returns it normalised."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GalleryError(f"{path}: expected a {FORMAT!r} export, but the manifest says otherwise")
    version = manifest.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise GalleryError(
            f"{path}: export format version {str(version)[:20]} is not supported; "
            f"this workbench reads version {FORMAT_VERSION}"
        )
    try:
        dim = manifest.get("dim")
        if type(dim) is not int or not 1 <= dim <= store.MAX_DIM:
            raise ValueError(f"dim: expected an integer in 1..{store.MAX_DIM}, got {dim!r:.40}")
        problem = integrity.threshold_problem(manifest.get("threshold"))
        if problem or type(manifest.get("threshold")) not in (int, float):
            raise ValueError(f"threshold: {problem or 'expected a number'}")
        out = {
            "model_id": _text(manifest.get("model_id"), "model_id", "manifest", optional=False),
            "dim": dim,
            "threshold": float(manifest["threshold"]),
        }
        people, faces = manifest.get("people"), manifest.get("faces")
        if not isinstance(people, list) or not isinstance(faces, list):
            raise ValueError("people and faces must be lists")
        if len(faces) > MAX_FACES or len(people) > MAX_FACES:
            raise ValueError(f"more than {MAX_FACES} faces or people")
        names = []
        for i, p in enumerate(people):
            if not isinstance(p, dict):
                raise ValueError(f"people[{i}]: expected an object, got {type(p).__name__}")
            names.append(validate_name(p.get("name")))
            _text(p.get("created"), "created", f"people[{i}]", optional=False)
        if len(set(names)) != len(names):
            raise ValueError("a person is listed twice")
        checked = []
        for i, f in enumerate(faces):
            if not isinstance(f, dict):
                raise ValueError(f"faces[{i}]: expected an object, got {type(f).__name__}")
            face = {k: _text(f.get(k), k, f"faces[{i}]") for k in ("source", "sha256", "detector")}
            _text(f.get("created"), "created", f"faces[{i}]", optional=False)
            checked.append(face)
    except GalleryError as exc:  # a refused name: say where it came from
        raise _bad(path, str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise _bad(path, str(exc)) from None
    return {**out, "people": names, "faces": checked}


def read_export(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """``(manifest, arrays)`` of an export file, every field checked.

    Nothing is inflated before the zip directory has been checked (the expected
    members, sizes under :data:`MAX_MANIFEST_BYTES`); the arrays' headers are checked
    against the manifest's face count and ``dim`` before their data is read, and every
    value is checked as a write would check it (names, finite unit-scale embeddings,
    owners in range, boxes and scores finite or NaN).

    Returns:
        The manifest with ``people`` as a list of checked names and ``faces`` as a list
        of ``{source, sha256, detector}``, and the four arrays.

    Raises:
        GalleryError: not an export of this format, or any field malformed.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {}
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else None
                if key not in _MEMBERS or key in infos:
                    raise _bad(path, f"it holds the unexpected member {info.filename[:60]!r}")
                infos[key] = info
            missing = sorted(set(_MEMBERS) - set(infos))
            if missing:
                raise _bad(path, f"it lacks {', '.join(missing)}")
            if infos["manifest"].file_size > MAX_MANIFEST_BYTES:
                raise _bad(
                    path,
                    f"its manifest has {infos['manifest'].file_size} bytes (the limit is "
                    f"{MAX_MANIFEST_BYTES})",
                )
            raw = _read_member(path, zf, infos["manifest"], None)
            try:
                manifest = _check_manifest(path, json.loads(raw.tobytes().decode("utf-8")))
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                raise _bad(path, f"its manifest is not JSON ({str(exc)[:80]})") from None
            n, dim = len(manifest["faces"]), manifest["dim"]
            shapes = {"embeddings": (n, dim), "person": (n,), "boxes": (n, 4), "scores": (n,)}
            arrays = {k: _read_member(path, zf, infos[k], shape) for k, shape in shapes.items()}
    except GalleryError:
        raise
    except (
        OSError,
        EOFError,
        ValueError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,  # a compression method zipfile lacks
        RuntimeError,  # an encrypted member
        zlib.error,
        MemoryError,
    ) as exc:
        raise GalleryError(f"{path}: expected a gallery export (.npz), but {exc}") from None
    _check_values(path, manifest, arrays)
    return manifest, arrays


def _check_values(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    n_people = len(manifest["people"])
    person = arrays["person"]
    if person.size and (person.min() < 0 or person.max() >= n_people):
        raise _bad(path, f"the arrays do not match the manifest: owners outside 0..{n_people - 1}")
    bad = integrity.bad_embedding_rows(arrays["embeddings"])
    if bad.size:
        why = integrity.describe_embedding(arrays["embeddings"][bad[0]])
        raise _bad(path, f"embedding {int(bad[0])} {why}")
    boxes, scores = arrays["boxes"], arrays["scores"]
    with np.errstate(invalid="ignore"):
        box_ok = np.isfinite(boxes).all(axis=1) | np.isnan(boxes).all(axis=1)
    if not box_ok.all():
        raise _bad(path, f"box {int(np.flatnonzero(~box_ok)[0])} is neither finite nor unknown")
    if np.isinf(scores).any():
        raise _bad(path, f"score {int(np.flatnonzero(np.isinf(scores))[0])} is infinite")


def import_file(gallery: Gallery, path: str | os.PathLike) -> ImportSummary:
    """Add an export's people and faces to ``gallery`` in one transaction.

    People are matched by name; a face whose sha256 is already enrolled is skipped. The
    gallery keeps its own threshold.

    Raises:
        GalleryError: not an export, or an export of another embedding model.
        InvalidNameError: a person name the gallery refuses.
    """
    manifest, arrays = read_export(path)
    if manifest["model_id"] != gallery.model_id or manifest["dim"] != gallery.dim:
        raise GalleryError(
            f"{path}: the export holds embeddings of model {manifest['model_id']!r}, "
            f"but the gallery {gallery.path} is of model {gallery.model_id!r}"
        )
    faces = manifest["faces"]
    known = gallery.sha256_known({f["sha256"] for f in faces if f["sha256"]})
    existing = set(gallery.people)
    batches = []
    duplicates = 0
    people_added = 0
    for p_index, name in enumerate(manifest["people"]):
        rows = [
            i
            for i in np.flatnonzero(arrays["person"] == p_index)
            if not (faces[i]["sha256"] and faces[i]["sha256"] in known)
        ]
        duplicates += int((arrays["person"] == p_index).sum()) - len(rows)
        if not rows:
            continue
        boxes = [None if np.isnan(b).any() else b for b in arrays["boxes"][rows]]
        scores = [None if np.isnan(s) else float(s) for s in arrays["scores"][rows]]
        batches.append(
            FaceBatch(
                name,
                arrays["embeddings"][rows],
                [faces[i]["source"] for i in rows],
                [faces[i]["sha256"] for i in rows],
                boxes,
                [faces[i]["detector"] for i in rows],
                scores,
            )
        )
    # One transaction for the whole file; photos another writer enrolled since the
    # check above are skipped inside it.
    held: dict[str, str] = {}
    added = gallery.add_many(batches, skip_known=held)
    for batch, ids in zip(batches, added, strict=True):
        people_added += bool(ids) and batch.name not in existing
    faces_added = sum(len(a) for a in added)
    duplicates += sum(len(b.embeddings) for b in batches) - faces_added
    return ImportSummary(people_added, faces_added, duplicates)
