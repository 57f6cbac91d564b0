"""Training data: labelled faces as arrays, splits by person, verification pairs, and
aligned chips read from a ``<person>/<photos>`` folder.

Imports no Keras: a :class:`FaceSet` can be built, saved and split without TensorFlow.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.embed.embedder import CHIP_SHAPE, EMBEDDING_DIM
from workbench.errors import TrainingError
from workbench.files import atomic_path

#: Shape of one sample for each kind of :class:`FaceSet`.
SAMPLE_SHAPES = {
    "chips": CHIP_SHAPE,
    "embeddings": (EMBEDDING_DIM,),
    "stage_inputs": (4, 4, 256),
}


@dataclass(frozen=True, eq=False)
class FaceSet:
    """Labelled faces as parallel arrays.

    Attributes:
        samples: ``(N, 150, 150, 3)`` uint8 chips, ``(N, 128)`` float32 embeddings, or
            ``(N, 4, 4, 256)`` float32 activations at the last stage's input.
        labels: ``(N,)`` int64 person index into ``names``.
        names: the person of each label.
        paths: optional ``(N,)`` source file of each sample (for provenance).

    Raises:
        TrainingError: arrays of the wrong shape, dtype or length, or labels outside
            ``names``.
    """

    samples: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        labels = np.asarray(self.labels)
        kind = _sample_kind(samples.shape[1:]) if samples.ndim >= 2 else None
        if kind is None:
            raise TrainingError(
                "samples must be chips (N, 150, 150, 3), embeddings (N, 128) or last-stage "
                f"inputs (N, 4, 4, 256), but got shape {samples.shape}"
            )
        if kind == "chips" and samples.dtype != np.uint8:
            raise TrainingError(f"chips must be uint8, but got dtype {samples.dtype}")
        if kind != "chips":
            if not np.issubdtype(samples.dtype, np.floating):
                raise TrainingError(f"{kind} must be floating point, got dtype {samples.dtype}")
            samples = samples.astype(np.float32, copy=False)
        if labels.shape != (len(samples),) or not np.issubdtype(labels.dtype, np.integer):
            raise TrainingError(
                f"labels must be ({len(samples)},) integers to match the samples, but got "
                f"shape {labels.shape} dtype {labels.dtype}"
            )
        names = tuple(str(n) for n in self.names)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
            raise TrainingError(
                f"labels must index names (0..{len(names) - 1}), but range over "
                f"{labels.min()}..{labels.max()}"
            )
        paths = tuple(str(p) for p in self.paths)
        if paths and len(paths) != len(samples):
            raise TrainingError(f"paths must be empty or {len(samples)} long, got {len(paths)}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "paths", paths)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def kind(self) -> str:
        """``"chips"``, ``"embeddings"`` or ``"stage_inputs"``."""
        return _sample_kind(self.samples.shape[1:])

    @property
    def people(self) -> int:
        """Number of people with at least one sample."""
        return len(np.unique(self.labels))

    def with_samples(self, samples: np.ndarray) -> FaceSet:
        """The same faces and labels with other samples (e.g. their embeddings)."""
        return FaceSet(samples, self.labels, self.names, self.paths)

    def select_people(self, people: Sequence[int]) -> FaceSet:
        """The samples of these labels, relabelled ``0..len(people)-1`` in that order."""
        people = [int(p) for p in people]
        remap = np.full(len(self.names), -1, np.int64)
        remap[people] = np.arange(len(people))
        keep = np.flatnonzero(remap[self.labels] >= 0)
        return FaceSet(
            self.samples[keep],
            remap[self.labels[keep]],
            tuple(self.names[p] for p in people),
            tuple(self.paths[i] for i in keep) if self.paths else (),
        )

    def summary(self) -> dict:
        """A JSON-able description for provenance: counts and a hash of the names."""
        counts = np.bincount(self.labels, minlength=len(self.names))
        counts = counts[counts > 0]
        people = sorted(self.names[i] for i in np.unique(self.labels))
        return {
            "kind": self.kind,
            "images": len(self),
            "people": len(people),
            "photos_per_person": {
                "min": int(counts.min()) if len(counts) else 0,
                "median": float(np.median(counts)) if len(counts) else 0.0,
                "max": int(counts.max()) if len(counts) else 0,
            },
            "people_sha256": hashlib.sha256("\n".join(people).encode()).hexdigest(),
        }

    def save(self, path: str | os.PathLike, *, key: str = "") -> None:
        """Write to a ``.npz`` (plain arrays, no pickle), atomically; ``key`` is stored
        beside them (what a cache was made from)."""
        with atomic_path(path) as tmp:
            _savez(
                tmp,
                key=np.array(key),
                samples=self.samples,
                labels=self.labels,
                names=np.array(self.names, dtype=str),
                paths=np.array(self.paths, dtype=str),
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> FaceSet:
        """Read a file written by :meth:`save`.

        Raises:
            TrainingError: not such a file.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    data["samples"],
                    data["labels"],
                    tuple(data["names"].tolist()),
                    tuple(data["paths"].tolist()),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise TrainingError(f"{path}: not a saved FaceSet ({exc})") from None


def _sample_kind(shape: tuple) -> str | None:
    for kind, expected in SAMPLE_SHAPES.items():
        if tuple(shape) == expected:
            return kind
    return None


def split_by_person(
    faces: FaceSet, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[FaceSet, FaceSet]:
    """Split into training and validation sets with no person in both.

    People are shuffled with ``seed`` and the first ``ceil(val_fraction * people)`` (at
    least 2, so validation has impostor pairs) go to validation; only people with at
    least two samples are used for validation, so it has genuine pairs too.

    Returns:
        ``(train, val)``, each relabelled ``0..people-1``.

    Raises:
        TrainingError: a fraction outside ``(0, 1)`` or too few people to split (each side
            needs two people with two photos).
    """
    if not 0.0 < val_fraction < 1.0:
        raise TrainingError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    counts = np.bincount(faces.labels, minlength=len(faces.names))
    present = np.flatnonzero(counts > 0)
    multi = np.flatnonzero(counts >= 2)
    if len(multi) < 4:
        raise TrainingError(
            "a split by person needs at least 4 people with 2 or more photos (2 for "
            f"training, 2 for validation), but got {len(multi)}"
        )
    rng = np.random.default_rng(seed)
    n_val = min(max(2, math.ceil(val_fraction * len(present))), len(multi) - 2)
    val = np.sort(rng.choice(multi, size=n_val, replace=False))
    train = np.setdiff1d(present, val)
    return faces.select_people(train), faces.select_people(val)


def verification_pairs(
    labels: np.ndarray, *, max_pairs: int | None = 3000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced genuine and impostor index pairs over a labelled set.

    Genuine pairs are every two samples of one person (a random subset when there are
    more than ``max_pairs // 2``); as many impostor pairs are drawn at random.

    Returns:
        ``i (P,)``, ``j (P,)`` sample indices and ``same (P,)`` bool.

    Raises:
        TrainingError: no person with two samples, or fewer than two people.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    gi, gj = np.triu_indices(len(labels), k=1)
    genuine = labels[gi] == labels[gj]
    if not genuine.any() or len(np.unique(labels)) < 2:
        raise TrainingError("verification pairs need two people and one with 2 photos or more")
    pos = np.flatnonzero(genuine)
    n = len(pos) if max_pairs is None else min(len(pos), max(1, max_pairs // 2))
    pos = np.sort(rng.choice(pos, size=n, replace=False))
    a = rng.integers(0, len(labels), size=4 * n + 16)
    b = rng.integers(0, len(labels), size=4 * n + 16)
    ok = labels[a] != labels[b]
    a, b = a[ok][:n], b[ok][:n]
    i = np.concatenate([gi[pos], a])
    j = np.concatenate([gj[pos], b])
    same = np.concatenate([np.ones(n, bool), np.zeros(len(a), bool)])
    return i, j, same


def load_face_folder(
    folder: str | os.PathLike,
    *,
    detector,
    min_photos: int = 1,
    max_photos: int | None = None,
    people: Sequence[str] | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> FaceSet:
    """Aligned chips of a ``<person>/<photos>`` folder, one face per photo.

    Each photo's face nearest the image centre is aligned with
    :func:`workbench.align.align_face` (with the detector's template when
    :data:`workbench.align.TEMPLATES` has one); photos without a face are skipped.

    Args:
        folder: a folder of person folders holding photos (the files
            :mod:`workbench.photos` accepts, nested folders included, as enrollment).
        detector: a :class:`workbench.detect.Detector` (it stays open).
        min_photos: skip people with fewer photos (counted before detection).
        max_photos: use at most this many photos of a person (the first in name order).
        people: only these person folders (by name), in this order.
        cache: a ``.npz`` path; when it exists and was made from the same files and
            detector, it is loaded instead of detecting again, otherwise written.
        progress: show a progress bar.

    Returns:
        A chips :class:`FaceSet` with ``paths`` relative to ``folder``.

    Raises:
        TrainingError: a missing folder or no face found at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"{folder}: expected a folder of <person>/<photos>, found none")
    if min_photos < 1 or (max_photos is not None and max_photos < min_photos):
        raise TrainingError(
            f"need 1 <= min_photos <= max_photos, got {min_photos} and {max_photos}"
        )
    files = _photo_files(folder, people, min_photos, max_photos)
    key = _cache_key(folder, files, detector)
    if cache is not None and (cached := _read_cache(cache, key)) is not None:
        return cached

    from tqdm.auto import tqdm

    from workbench.pipeline import face_chips

    # Each photo's face nearest the centre, as the LFW evaluation picks it.
    with tqdm(total=len(files), desc="detect + align", disable=not progress) as bar:
        picked = face_chips(
            [p for _, p in files], detector=detector, pick="central", progress=bar.update
        )
    chips = picked.chips
    names = [files[i][0] for i in picked.index]
    paths = [str(files[i][1].relative_to(folder)) for i in picked.index]
    if not len(chips):
        raise TrainingError(f"{folder}: the detector found no face in {len(files)} photos")
    people_names = tuple(dict.fromkeys(names))
    index = {n: i for i, n in enumerate(people_names)}
    faces = FaceSet(chips, np.array([index[n] for n in names]), people_names, tuple(paths))
    if cache is not None:
        faces.save(cache, key=key)
    return faces


def _photo_files(
    folder: Path, people: Sequence[str] | None, min_photos: int, max_photos: int | None
) -> list[tuple[str, Path]]:
    """``(person, photo)`` of the people with ``min_photos`` or more, at most
    ``max_photos`` each."""
    from workbench.photos import person_folders, photos_in

    folders = (
        [(folder / p, photos_in(folder / p)) for p in people]
        if people is not None
        else person_folders(folder)
    )
    files: list[tuple[str, Path]] = []
    for person, photos in folders:
        if len(photos) >= min_photos:
            files += [(person.name, p) for p in photos[:max_photos]]
    if not files:
        raise TrainingError(f"{folder}: no person with {min_photos} or more photos")
    return files


def _cache_key(folder: Path, files: list[tuple[str, Path]], detector) -> str:
    """Covers the photos, the detector and the code that picks and aligns faces, so a
    cache made before either changed is rebuilt rather than trusted."""
    import workbench.align
    import workbench.pipeline

    return hashlib.sha256(
        "\n".join(
            [getattr(detector, "name", type(detector).__name__)]
            + [
                hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest()
                for m in (workbench.align, workbench.pipeline)
            ]
            + [f"{p.relative_to(folder)}:{p.stat().st_size}" for _, p in files]
        ).encode()
    ).hexdigest()


def _read_cache(cache: str | os.PathLike, key: str) -> FaceSet | None:
    """The cached faces if ``cache`` was written under ``key``; a damaged or foreign
    cache is ``None`` (rebuilt)."""
    if not Path(cache).is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
        return FaceSet.load(cache)
    except (OSError, KeyError, ValueError, TrainingError):
        return None


def _savez(path: str, **arrays) -> None:
    with open(path, "wb") as f:  # a file object: numpy appends no ".npz" to the name
        np.savez(f, **arrays)
