"""Training the Siamese network: fine-tune the twin tower on your own people.

The frozen embedder (:class:`workbench.embed.Embedder`, dlib's ResNet) already maps faces
so that Euclidean distance means identity. This module fine-tunes a part of it on a
labelled set of faces with a pairwise (contrastive) or triplet loss:

- ``trainable="head"`` (default): a small projection head on top of the frozen 128-D
  embedding. It starts as the identity (a linear map initialised to ``I`` plus a residual
  MLP whose output layer starts at zero), so step 0 *is* the base model. It trains on
  cached 128-D embeddings, so it runs in seconds on a CPU.
- ``trainable="last_stage"``: the network's last residual stage (dlib's ``level0``, one
  down-sampling block of 256 filters) plus the final 128-unit ``fc``. It trains on cached
  activations at the stage's input (``(4, 4, 256)`` per face), so the frozen trunk runs
  once per face, not once per step.

Data flows as plain arrays in a :class:`FaceSet` (samples + integer labels + names).
:func:`split_by_person` makes a validation split with no person on both sides;
:class:`PairGenerator` and :class:`TripletGenerator` draw balanced batches (optionally
with hard negatives mined under the current model); :class:`SiameseTrainer` fits, stops
early on a validation figure (verification accuracy by default) and replaces the base
model (epoch 0) only with an epoch that beats it by twice the validation set's standard
error. It returns a :class:`FineTunedEmbedder`, which has the embedder's ``embed()``
signature, its own ``model_id``, and saves to ``.weights.h5`` + ``.json`` with its
provenance (no pickle).

Example:
    >>> faces = load_face_folder("reference_images", detector=det)  # doctest: +SKIP
    >>> trainer = SiameseTrainer(default_embedder(), TrainingConfig(epochs=10))  # doctest: +SKIP
    >>> result = trainer.fit(faces, progress=print)  # doctest: +SKIP
    >>> result.embedder.save("models/my_people")  # doctest: +SKIP
    >>> tuned = load_finetuned("models/my_people")  # doctest: +SKIP
    >>> tuned.embed(chips).shape  # doctest: +SKIP
    (N, 128)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
from keras import ops

from workbench.embed.embedder import CHIP_SHAPE, EMBEDDING_DIM, Embedder
from workbench.errors import ModelAssetError, TrainingError

#: Parts of the network that can be fine-tuned.
TRAINABLE = ("head", "last_stage")
#: Losses the trainer knows.
LOSSES = ("contrastive", "triplet")
#: Validation figures early stopping can watch.
MONITORS = ("val_auc", "val_accuracy", "val_loss")
#: Default margins: contrastive pushes impostor pairs beyond 0.8 (through our detector and
#: aligner, the base model's LFW impostor distances average about 0.7, genuine ones about
#: 0.45); triplet asks the negative to be 0.2 further than the positive.
DEFAULT_MARGINS = {"contrastive": 0.8, "triplet": 0.2}
#: The layer whose output enters the last residual stage of dlib's ResNet.
LAST_STAGE_INPUT = "relu_26"
#: Shape of one sample for each kind of :class:`FaceSet`.
SAMPLE_SHAPES = {
    "chips": CHIP_SHAPE,
    "embeddings": (EMBEDDING_DIM,),
    "stage_inputs": (4, 4, 256),
}
#: Written in the JSON beside saved weights; bumped when the layout changes.
FORMAT = "workbench-siamese/1"


# -- data ---------------------------------------------------------------------------------


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

    def save(self, path: str | os.PathLike) -> None:
        """Write to a ``.npz`` (plain arrays, no pickle), atomically."""
        path = Path(path)
        _atomic_write(
            path,
            lambda tmp: _savez(
                tmp,
                samples=self.samples,
                labels=self.labels,
                names=np.array(self.names, dtype=str),
                paths=np.array(self.paths, dtype=str),
            ),
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
        folder: a folder of person folders holding ``.jpg``/``.jpeg``/``.png`` photos.
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
    folders = (
        [folder / p for p in people]
        if people is not None
        else sorted(p for p in folder.iterdir() if p.is_dir())
    )
    files: list[tuple[str, Path]] = []
    for person in folders:
        photos = sorted(
            p for p in person.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        if len(photos) >= min_photos:
            files += [(person.name, p) for p in photos[:max_photos]]
    if not files:
        raise TrainingError(f"{folder}: no person with {min_photos} or more photos")

    import workbench.align

    # The key covers the photos, the detector and the aligner's code, so a cache made
    # before either changed is rebuilt rather than trusted.
    key = hashlib.sha256(
        "\n".join(
            [getattr(detector, "name", type(detector).__name__)]
            + [hashlib.sha256(Path(workbench.align.__file__).read_bytes()).hexdigest()]
            + [f"{p.relative_to(folder)}:{p.stat().st_size}" for _, p in files]
        ).encode()
    ).hexdigest()
    if cache is not None and Path(cache).is_file():
        try:
            with np.load(cache, allow_pickle=False) as data:
                if str(data["key"]) == key:
                    return FaceSet(
                        data["samples"],
                        data["labels"],
                        tuple(data["names"].tolist()),
                        tuple(data["paths"].tolist()),
                    )
        except (OSError, KeyError, ValueError):
            pass  # a damaged or foreign cache is rebuilt

    from tqdm.auto import tqdm

    from workbench.align import TEMPLATES, align_face
    from workbench.evaluate import pick_central_face
    from workbench.images import load_image

    detector_name = getattr(detector, "name", "")
    template = detector_name if detector_name in TEMPLATES else None
    chips, names, paths = [], [], []
    for name, path in tqdm(files, desc="detect + align", disable=not progress):
        image = load_image(path)
        keypoints = pick_central_face(detector.detect(image), image.shape[1], image.shape[0])
        if keypoints is None:
            continue
        chips.append(
            align_face(image, keypoints)
            if template is None
            else align_face(image, keypoints, template=template)
        )
        names.append(name)
        paths.append(str(path.relative_to(folder)))
    if not chips:
        raise TrainingError(f"{folder}: the detector found no face in {len(files)} photos")
    people_names = tuple(dict.fromkeys(names))
    index = {n: i for i, n in enumerate(people_names)}
    faces = FaceSet(
        np.stack(chips), np.array([index[n] for n in names]), people_names, tuple(paths)
    )
    if cache is not None:
        _atomic_write(
            Path(cache),
            lambda tmp: _savez(
                tmp,
                key=np.array(key),
                samples=faces.samples,
                labels=faces.labels,
                names=np.array(faces.names, dtype=str),
                paths=np.array(faces.paths, dtype=str),
            ),
        )
    return faces


# -- batch generators ---------------------------------------------------------------------


class _Sampler:
    """Shared by the generators: per-person sample indices and hard-negative mining."""

    def __init__(
        self,
        faces: FaceSet,
        *,
        batch_size: int,
        steps: int,
        hard_negatives: bool,
        embed: Callable[[np.ndarray], np.ndarray] | None,
        pool: int,
        seed: int,
    ) -> None:
        if not isinstance(faces, FaceSet):
            raise TrainingError(f"expected a FaceSet, got {type(faces).__name__}")
        if batch_size < 2 or steps < 1:
            raise TrainingError(f"need batch_size >= 2 and steps >= 1, got {batch_size}, {steps}")
        if hard_negatives and embed is None:
            raise TrainingError("hard_negatives needs embed, the current model's forward pass")
        by_person = [np.flatnonzero(faces.labels == k) for k in range(len(faces.names))]
        self.multi = [idx for idx in by_person if len(idx) >= 2]
        if not self.multi or faces.people < 2:
            raise TrainingError(
                "training needs at least 2 people and one with 2 or more photos, but got "
                f"{faces.people} people, {len(self.multi)} with 2 or more"
            )
        self.faces = faces
        self.batch_size = batch_size
        self.steps = steps
        self.hard_negatives = hard_negatives
        self.embed = embed
        self.pool = pool
        self.seed = seed
        self.epoch = 0
        self.vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def refresh(self) -> None:
        """Re-embed every sample under the current model (for mining)."""
        if self.hard_negatives:
            with self._lock:
                self.vectors = np.asarray(self.embed(self.faces.samples), np.float32)

    def positives(self, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` anchor/positive index pairs: a person (uniform), then two of their photos."""
        who = rng.integers(0, len(self.multi), size=n)
        a = np.empty(n, np.int64)
        p = np.empty(n, np.int64)
        for k, w in enumerate(who):
            a[k], p[k] = rng.choice(self.multi[w], size=2, replace=False)
        return a, p

    def negatives(self, rng, anchors: np.ndarray) -> np.ndarray:
        """One sample of another person per anchor: random, or the nearest of a random
        pool under the current model when mining."""
        labels = self.faces.labels
        n = len(labels)
        cand = rng.integers(0, n, size=(len(anchors), self.pool if self.hard_negatives else 8))
        valid = labels[cand] != labels[anchors][:, None]
        if self.hard_negatives:
            if self.vectors is None:
                self.refresh()
            d = np.linalg.norm(self.vectors[cand] - self.vectors[anchors][:, None], axis=-1)
            d = np.where(valid, d, np.inf)
            choice = np.argmin(d, axis=1)
        else:
            choice = np.argmax(valid, axis=1)  # first valid candidate
        out = cand[np.arange(len(anchors)), choice]
        # If every candidate was the same person (tiny sets), draw until it is not.
        for k in np.flatnonzero(labels[out] == labels[anchors]):
            others = np.flatnonzero(labels != labels[anchors[k]])
            out[k] = rng.choice(others)
        return out


class _SampledDataset(keras.utils.PyDataset):
    """What the pair and triplet generators share: a :class:`_Sampler`, a fixed number
    of steps, and a new epoch (fresh mining) at each epoch's end."""

    def __init__(
        self,
        faces: FaceSet,
        *,
        batch_size: int = 64,
        steps: int = 50,
        hard_negatives: bool = False,
        embed: Callable[[np.ndarray], np.ndarray] | None = None,
        pool: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.sampler = _Sampler(
            faces,
            batch_size=batch_size,
            steps=steps,
            hard_negatives=hard_negatives,
            embed=embed,
            pool=pool,
            seed=seed,
        )

    def __len__(self) -> int:
        return self.sampler.steps

    def on_epoch_end(self) -> None:
        self.sampler.epoch += 1
        self.sampler.refresh()


class PairGenerator(_SampledDataset):
    """Balanced pairs for the contrastive loss, as a ``keras.utils.PyDataset``.

    Each batch is half genuine pairs (a person drawn uniformly, then two of their photos)
    and half impostor pairs (an anchor and a photo of someone else: random, or with
    ``hard_negatives`` the nearest of ``pool`` random candidates under the current model).

    Args:
        faces: the training :class:`FaceSet` (any kind of samples).
        batch_size: pairs per batch (half genuine).
        steps: batches per epoch.
        hard_negatives: mine impostors; needs ``embed``.
        embed: ``samples -> (N, D)`` under the current model; called once per epoch.
        pool: candidates per anchor when mining.
        seed: batches are a function of ``(seed, epoch, index)``.

    Yields:
        ``((a, b), same)``: two ``(batch, *sample_shape)`` arrays and ``(batch,)`` float32
        (1 genuine, 0 impostor).
    """

    def indices(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample indices ``a, b`` and ``same`` of batch ``index`` (no arrays copied)."""
        s = self.sampler
        rng = s.rng(index)
        n_pos = s.batch_size // 2
        a_pos, b_pos = s.positives(rng, n_pos)
        a_neg = rng.integers(0, len(s.faces), size=s.batch_size - n_pos)
        b_neg = s.negatives(rng, a_neg)
        same = np.concatenate([np.ones(n_pos), np.zeros(len(a_neg))]).astype(np.float32)
        return np.concatenate([a_pos, a_neg]), np.concatenate([b_pos, b_neg]), same

    def __getitem__(self, index: int):
        a, b, same = self.indices(index)
        x = self.sampler.faces.samples
        return (x[a], x[b]), same


class TripletGenerator(_SampledDataset):
    """Triplets (anchor, positive, negative) for the triplet loss, as a ``PyDataset``.

    Anchor and positive are two photos of a person drawn uniformly; the negative is a
    photo of someone else, random or mined as in :class:`PairGenerator`. Arguments as
    there.

    Yields:
        ``((anchor, positive, negative), zeros)``: three ``(batch, *sample_shape)`` arrays
        and a dummy ``(batch,)`` target.
    """

    def indices(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.sampler
        rng = s.rng(index)
        a, p = s.positives(rng, s.batch_size)
        return a, p, s.negatives(rng, a)

    def __getitem__(self, index: int):
        a, p, n = self.indices(index)
        x = self.sampler.faces.samples
        return (x[a], x[p], x[n]), np.zeros(len(a), np.float32)


# -- losses ---------------------------------------------------------------------------------


def contrastive_loss(same, distances, *, margin: float = DEFAULT_MARGINS["contrastive"]):
    """Hadsell, Chopra and LeCun's contrastive loss, averaged over pairs.

    ``same * d**2 + (1 - same) * max(margin - d, 0)**2``: genuine pairs are pulled
    together, impostor pairs pushed beyond ``margin``.

    Args:
        same: ``(N,)`` 1 for a genuine pair, 0 for an impostor pair.
        distances: ``(N,)`` Euclidean distances.
        margin: distance beyond which impostors cost nothing.

    Returns:
        A scalar tensor (``keras.ops``; any backend).
    """

    same = ops.cast(ops.reshape(same, (-1,)), "float32")
    d = ops.cast(ops.reshape(distances, (-1,)), "float32")
    pos = same * ops.square(d)
    neg = (1.0 - same) * ops.square(ops.relu(margin - d))
    return ops.mean(pos + neg)


def triplet_loss(d_positive, d_negative, *, margin: float = DEFAULT_MARGINS["triplet"]):
    """The triplet loss on Euclidean distances, averaged over triplets.

    ``max(d(a, p) - d(a, n) + margin, 0)``. Distances rather than squared distances, so
    the margin is in the same unit as the verification threshold.

    Returns:
        A scalar tensor (``keras.ops``; any backend).
    """

    dp = ops.cast(ops.reshape(d_positive, (-1,)), "float32")
    dn = ops.cast(ops.reshape(d_negative, (-1,)), "float32")
    return ops.mean(ops.relu(dp - dn + margin))


def _keras_loss(kind: str, margin: float):
    """A ``(y_true, y_pred) -> scalar`` function for ``Model.compile``."""
    if kind == "contrastive":

        def loss(y_true, y_pred):
            return contrastive_loss(y_true, y_pred, margin=margin)

    else:

        def loss(y_true, y_pred):  # y_true is a dummy; y_pred (N, 2): d(a, p), d(a, n)
            return triplet_loss(y_pred[:, 0], y_pred[:, 1], margin=margin)

    loss.__name__ = f"{kind}_loss"
    return loss


# -- models ---------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="workbench")
class SafeEuclideanDistance(keras.layers.Layer):
    """``||a - b||`` along the last axis, with a floor under the square root so that a
    zero distance (the same image twice) has a finite gradient: ``(N, D), (N, D) -> (N,)``.
    """

    def call(self, inputs):
        a, b = inputs
        return ops.sqrt(ops.maximum(ops.sum(ops.square(a - b), axis=-1), 1e-12))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][:-1]


def build_head(*, dim: int = EMBEDDING_DIM, hidden: int = 256, name: str = "siamese_head"):
    """The projection head: ``y = W x + b + V relu(U x + c)``, starting as ``y = x``.

    ``W`` starts as the identity and ``V`` at zero, so before training the head returns
    the base embedding unchanged and fine-tuning starts from the base model's accuracy.
    ``hidden=0`` leaves out the MLP: a linear map (a learned Mahalanobis metric).

    Returns:
        A ``keras.Model`` ``(N, dim) -> (N, dim)``.
    """
    from keras import layers

    x = keras.Input((dim,), name="embedding")
    y = layers.Dense(dim, kernel_initializer=keras.initializers.Identity(), name="projection")(x)
    if hidden:
        h = layers.Dense(hidden, activation="relu", name="hidden")(x)
        residual = layers.Dense(dim, kernel_initializer="zeros", name="residual")(h)
        y = layers.Add(name="head_embedding")([y, residual])
    return keras.Model(x, y, name=name)


def build_last_stage(base_model):
    """A trainable copy of the base ResNet's last residual stage and ``fc``.

    Args:
        base_model: the layer-for-layer model (``Embedder.model``); it is not changed (the
            copy has its own weights).

    Returns:
        A ``keras.Model`` ``(N, 4, 4, 256)`` (the output of :data:`LAST_STAGE_INPUT`) ->
        ``(N, 128)``.
    """

    from workbench.embed.resnet import build_resnet

    means = base_model.get_layer("input_normalization").get_weights()[0]
    clone = build_resnet(means=means, name="dlib_resnet_v1_finetune")
    clone.set_weights(base_model.get_weights())
    tail = keras.Model(clone.get_layer(LAST_STAGE_INPUT).output, clone.output, name="last_stage")
    return tail


def twin_model(tower, *, triplet: bool = False):
    """Twin (or triplet) towers sharing ``tower``'s weights, for training and plotting.

    Returns:
        Inputs ``a, b`` -> ``(N,)`` distances; with ``triplet``, inputs ``anchor,
        positive, negative`` -> ``(N, 2)`` distances ``d(a, p), d(a, n)``.
    """

    distance = SafeEuclideanDistance
    shape = tuple(tower.input.shape[1:])
    if not triplet:
        a = keras.Input(shape, name="a")
        b = keras.Input(shape, name="b")
        d = distance(name="distance")([tower(a), tower(b)])
        return keras.Model([a, b], d, name="siamese")
    a = keras.Input(shape, name="anchor")
    p = keras.Input(shape, name="positive")
    n = keras.Input(shape, name="negative")
    ea, ep, en = tower(a), tower(p), tower(n)
    dist = distance(name="distances")
    d = keras.layers.Concatenate(name="d_ap_an")(
        [keras.ops.expand_dims(dist([ea, ep]), -1), keras.ops.expand_dims(dist([ea, en]), -1)]
    )
    return keras.Model([a, p, n], d, name="siamese_triplet")


# -- configuration and results ------------------------------------------------------------


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :class:`SiameseTrainer` (all saved with the model).

    Attributes:
        trainable: ``"head"`` (a projection head on the frozen embedding) or
            ``"last_stage"`` (the ResNet's last residual stage and ``fc``).
        loss: ``"contrastive"`` (pairs) or ``"triplet"``.
        margin: the loss's margin; ``None`` takes :data:`DEFAULT_MARGINS`.
        hidden: the head's hidden width (``trainable="head"``); 0 makes it linear.
        learning_rate: Adam's step size; ``None`` takes 1e-4 for the head, 1e-5 for the
            last stage (larger steps overfit the few people a user has within an epoch).
        batch_size: pairs or triplets per step.
        steps_per_epoch: steps between validations.
        epochs: at most this many epochs.
        patience: stop after this many epochs without a better ``monitor``.
        val_fraction: share of people held out for validation (when no validation set is
            given).
        val_pairs: validation pairs (half genuine).
        hard_negatives: mine impostors under the current model each epoch.
        monitor: what early stopping and ``restore_best`` watch on the validation pairs:
            ``"val_accuracy"`` (at the best threshold; the default, as verification is
            judged by accuracy), ``"val_auc"`` (area under the ROC: smoother, but on LFW
            it rose while accuracy on held-out people fell) or ``"val_loss"``.
        min_delta: how much the best epoch must beat the base model (epoch 0) on
            ``monitor`` to replace it. ``None``: twice the standard error of the base
            model's validation figure (binomial for the accuracy, Hanley and McNeil's for
            the AUC; 0 for the loss), so the base model is only replaced by one that is
            better beyond the noise of the validation set (on LFW, one standard error
            still let through an epoch that was worse on held-out people).
        restore_best: keep the best epoch by ``monitor`` if it beats the base model by
            ``min_delta``, else the base model; ``False`` keeps the last epoch run.
        seed: seeds the split, the batches and the initial weights.

    Raises:
        TrainingError: a value outside its range or an unknown name.
    """

    trainable: str = "head"
    loss: str = "contrastive"
    margin: float | None = None
    hidden: int = 256
    learning_rate: float | None = None
    batch_size: int = 64
    steps_per_epoch: int = 20
    epochs: int = 30
    patience: int = 6
    val_fraction: float = 0.2
    val_pairs: int = 10000
    hard_negatives: bool = True
    monitor: str = "val_accuracy"
    min_delta: float | None = None
    restore_best: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise TrainingError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        if self.loss not in LOSSES:
            raise TrainingError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.monitor not in MONITORS:
            raise TrainingError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        checks = {
            "hidden": (self.hidden, 0),
            "batch_size": (self.batch_size, 2),
            "steps_per_epoch": (self.steps_per_epoch, 1),
            "epochs": (self.epochs, 1),
            "patience": (self.patience, 1),
            "val_pairs": (self.val_pairs, 2),
        }
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TrainingError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.min_delta is not None and (
            isinstance(self.min_delta, bool)
            or not isinstance(self.min_delta, int | float)
            or self.min_delta < 0
        ):
            raise TrainingError(f"min_delta must be >= 0 or None, got {self.min_delta!r}")
        for name in ("margin", "learning_rate"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
            ):
                raise TrainingError(f"{name} must be a positive number or None, got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainingError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")

    @property
    def effective_margin(self) -> float:
        return float(self.margin if self.margin is not None else DEFAULT_MARGINS[self.loss])

    @property
    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 1e-4 if self.trainable == "head" else 1e-5


@dataclass
class TrainingResult:
    """What :meth:`SiameseTrainer.fit` returns.

    Attributes:
        embedder: the fine-tuned model at its best epoch.
        history: one record per epoch (epoch 0 is the base model): ``epoch``, ``loss``
            (training, ``nan`` at epoch 0), ``val_loss``, ``val_accuracy``, ``val_auc``,
            ``val_threshold``, ``seconds``.
        best_epoch: the epoch kept (0 means training did not beat the base model on the
            validation people; with ``restore_best=False``, the last epoch).
        seconds: wall time of the training (feature extraction excluded).
        feature_seconds: wall time spent running the frozen part over the faces.
        last: the model at the last epoch run, when that is not the one kept (for
            comparison: what training reached before early stopping stepped in).
    """

    embedder: FineTunedEmbedder
    history: list[dict]
    best_epoch: int
    seconds: float
    feature_seconds: float = 0.0
    last: FineTunedEmbedder | None = None

    @property
    def before(self) -> dict:
        return self.history[0]

    @property
    def best(self) -> dict:
        return self.history[self.best_epoch]


# -- the fine-tuned embedder ----------------------------------------------------------------


class FineTunedEmbedder:
    """The base embedder followed by a fine-tuned part; usable wherever an Embedder is.

    ``embed(chips)`` has :meth:`Embedder.embed`'s signature; :attr:`model_id` names the
    base model, the trained part and a hash of its weights, so a gallery never mixes its
    embeddings with the base model's.

    Args:
        base: the frozen :class:`Embedder`.
        tower: the trained part (:func:`build_head` or :func:`build_last_stage`).
        trainable: ``"head"`` or ``"last_stage"``.
        provenance: JSON-able facts saved beside the weights (config, data, metrics).
    """

    def __init__(self, base: Embedder, tower, *, trainable: str, provenance: dict | None = None):
        if trainable not in TRAINABLE:
            raise TrainingError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
        self.base = base
        self.tower = tower
        self.trainable = trainable
        self.provenance = dict(provenance or {})
        self._trunk = None
        self._lock = threading.RLock()

    @property
    def weights_sha256(self) -> str:
        """sha256 over the trained part's weights (shapes and float32 bytes, in order)."""
        h = hashlib.sha256()
        for w in self.tower.get_weights():
            w = np.ascontiguousarray(w, np.float32)
            h.update(str(w.shape).encode())
            h.update(w.tobytes())
        return h.hexdigest()

    @property
    def model_id(self) -> str:
        """``<base model_id>+siamese-<trainable>-<first 12 hex of the weights' sha256>``."""
        return f"{self.base.model_id}+siamese-{self.trainable}-{self.weights_sha256[:12]}"

    @property
    def model(self):
        """The whole network as one ``keras.Model`` ``(N,150,150,3) -> (N,128)``."""
        inputs = keras.Input(CHIP_SHAPE, name="chips")
        if self.trainable == "head":
            out = self.tower(self.base.model(inputs))
        else:
            out = self.tower(self._trunk_model()(inputs))
        return keras.Model(inputs, out, name=f"finetuned_{self.trainable}")

    def load(self) -> FineTunedEmbedder:
        self.base.load()
        return self

    def close(self) -> None:
        """Drop the cached trunk; the base embedder is shared and left open."""
        with self._lock:
            self._trunk = None

    def __enter__(self) -> FineTunedEmbedder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _trunk_model(self):
        """The frozen part of the ResNet up to the last stage's input (affines folded)."""
        with self._lock:
            if self._trunk is None:
                from workbench.embed.resnet import fold_affine_layers

                folded = fold_affine_layers(self.base.model)
                self._trunk = keras.Model(
                    folded.input, folded.get_layer(LAST_STAGE_INPUT).output, name="trunk"
                )
            return self._trunk

    def features(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """The trained part's input for these chips: ``(N, 128)`` base embeddings for the
        head, ``(N, 4, 4, 256)`` last-stage inputs for the last stage."""
        if self.trainable == "head":
            return self.base.embed(chips, batch_size=batch_size)
        return stage_inputs(self._trunk_model(), chips, batch_size=batch_size)

    def embed_features(self, features: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Run the trained part on :meth:`features` output: ``(N, 128)`` float32."""
        return _forward(self.tower, np.asarray(features, np.float32), batch_size)

    def embed(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Embed aligned face chips, as :meth:`Embedder.embed`.

        Args:
            chips: ``(N, 150, 150, 3)`` uint8 RGB aligned chips.
            batch_size: faces per forward pass.

        Returns:
            ``(N, 128)`` float32 embeddings; compare with Euclidean distance.

        Raises:
            InvalidImageError: chips of another shape or dtype.
        """
        from workbench.embed.embedder import check_chips

        chips = check_chips(chips)
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_DIM), np.float32)
        return self.embed_features(self.features(chips, batch_size=batch_size))

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``<path>.weights.h5`` and ``<path>.json`` (provenance), each atomically.

        Returns:
            The two paths written.
        """
        weights, meta = _model_paths(path)
        _atomic_write(weights, lambda tmp: self.tower.save_weights(tmp), suffix=".weights.h5")

        record = {
            "format": FORMAT,
            "model_id": self.model_id,
            "trainable": self.trainable,
            "base": {"model_id": self.base.model_id, "sha256": self.base.sha256},
            "weights": {
                "file": weights.name,
                "file_sha256": _sha256_file(weights),
                "values_sha256": self.weights_sha256,
            },
            "head": {"hidden": _head_hidden(self.tower)} if self.trainable == "head" else None,
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.provenance,
        }
        text = json.dumps(_jsonable(record), indent=2, sort_keys=False)
        _atomic_write(meta, lambda tmp: Path(tmp).write_text(text + "\n"), suffix=".json")
        return weights, meta

    def __repr__(self) -> str:
        return f"FineTunedEmbedder({self.trainable}, base={self.base.model_id})"


def load_finetuned(path: str | os.PathLike, embedder: Embedder | None = None) -> FineTunedEmbedder:
    """Load a model written by :meth:`FineTunedEmbedder.save`.

    Args:
        path: ``<path>``, ``<path>.json`` or ``<path>.weights.h5``.
        embedder: the base embedder; defaults to :func:`default_embedder`. Its weights
            must be the ones the model was trained on.

    Raises:
        ModelAssetError: a missing or damaged file, another format, or a base embedder
            with other weights than the one recorded.
    """
    from workbench.embed.embedder import default_embedder

    weights, meta = _model_paths(path)
    try:
        record = json.loads(meta.read_text())
    except OSError as exc:
        raise ModelAssetError(f"cannot read {meta}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ModelAssetError(f"{meta}: not JSON ({exc})") from None
    found = record.get("format") if isinstance(record, dict) else type(record).__name__
    if found != FORMAT:
        raise ModelAssetError(f"{meta}: expected format {FORMAT!r}, got {found!r}")
    try:
        base_sha, base_id = record["base"]["sha256"], record["base"]["model_id"]
        file_sha, values_sha = record["weights"]["file_sha256"], record["weights"]["values_sha256"]
        trainable = record["trainable"]
        hidden = int(record["head"]["hidden"]) if trainable == "head" else 0
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelAssetError(f"{meta}: incomplete record ({type(exc).__name__}: {exc})") from None
    base = embedder if embedder is not None else default_embedder()
    if base_sha != base.sha256:
        raise ModelAssetError(
            f"{meta}: trained on base weights {base_id}, but the embedder given is {base.model_id}"
        )
    if not weights.is_file():
        raise ModelAssetError(f"{weights}: the weights file is missing")
    if _sha256_file(weights) != file_sha:
        raise ModelAssetError(f"{weights}: sha256 differs from the one recorded in {meta.name}")
    if trainable == "head":
        tower = build_head(hidden=hidden)
    elif trainable == "last_stage":
        tower = build_last_stage(base.model)
    else:
        raise ModelAssetError(f"{meta}: unknown trainable part {trainable!r}")
    try:
        tower.load_weights(weights)
    except Exception as exc:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise ModelAssetError(f"{weights}: cannot load the weights ({exc})") from None
    keep = {
        k: v
        for k, v in record.items()
        if k not in ("format", "model_id", "trainable", "base", "weights", "head", "saved")
        and k not in ("keras", "backend")
    }
    model = FineTunedEmbedder(base, tower, trainable=trainable, provenance=keep)
    if model.weights_sha256 != values_sha:
        raise ModelAssetError(f"{weights}: the loaded values differ from those recorded")
    return model


# -- the trainer ----------------------------------------------------------------------------


class SiameseTrainer:
    """Fine-tunes the twin tower on labelled faces.

    Args:
        embedder: the frozen base :class:`Embedder` (default: :func:`default_embedder`).
        config: hyper-parameters; keyword overrides are applied on top.

    Example:
        >>> trainer = SiameseTrainer(embedder, epochs=5, loss="triplet")  # doctest: +SKIP
        >>> result = trainer.fit(faces)  # doctest: +SKIP
    """

    def __init__(
        self, embedder: Embedder | None = None, config: TrainingConfig | None = None, **overrides
    ):
        from workbench.embed.embedder import default_embedder

        config = config if config is not None else TrainingConfig()
        try:
            self.config = replace(config, **overrides) if overrides else config
        except TypeError as exc:
            raise TrainingError(f"unknown option: {exc}") from None
        self.embedder = embedder if embedder is not None else default_embedder()
        self._frozen = None

    def new_model(self) -> FineTunedEmbedder:
        """A fresh, untrained fine-tuning model (the head starts as the identity)."""
        keras.utils.set_random_seed(self.config.seed)
        if self.config.trainable == "head":
            tower = build_head(hidden=self.config.hidden)
        else:
            tower = build_last_stage(self.embedder.model)
        return FineTunedEmbedder(self.embedder, tower, trainable=self.config.trainable)

    def twin_model(self, model: FineTunedEmbedder | None = None):
        """The Siamese training model around ``model``'s tower (for ``summary()``)."""
        model = model if model is not None else self.new_model()
        return twin_model(model.tower, triplet=self.config.loss == "triplet")

    def features(self, faces: FaceSet, model: FineTunedEmbedder | None = None) -> FaceSet:
        """``faces`` with samples replaced by the trained part's input.

        Chips are run through the frozen part once; embeddings pass through for the head.

        Raises:
            TrainingError: embeddings given for ``trainable="last_stage"`` (it needs chips
                or last-stage inputs), or last-stage inputs for the head.
        """
        if not isinstance(faces, FaceSet):
            raise TrainingError(f"expected a FaceSet, got {type(faces).__name__}")
        want = "embeddings" if self.config.trainable == "head" else "stage_inputs"
        if faces.kind == want:
            return faces
        if faces.kind != "chips":
            raise TrainingError(
                f"trainable={self.config.trainable!r} trains on chips or {want}, but the "
                f"faces hold {faces.kind}"
            )
        model = model if model is not None else self._model_for_features()
        return faces.with_samples(model.features(faces.samples))

    def _model_for_features(self) -> FineTunedEmbedder:
        """A model without a trained part: runs the frozen part only (its trunk cached)."""
        if self._frozen is None:
            self._frozen = FineTunedEmbedder(self.embedder, None, trainable=self.config.trainable)
        return self._frozen

    def fit(
        self,
        faces: FaceSet,
        *,
        validation: FaceSet | None = None,
        progress: Callable[[dict], None] | None = None,
    ) -> TrainingResult:
        """Train, stopping early on the validation figure; keep the best epoch.

        Args:
            faces: labelled chips (or, for the head, embeddings; for the last stage,
                last-stage inputs). Split by person into training and validation unless
                ``validation`` is given.
            validation: held-out people; must share no name with ``faces``.
            progress: called with each epoch's record (epoch 0 is the base model): for a
                live curve.

        Returns:
            A :class:`TrainingResult`.

        Raises:
            TrainingError: too few people or photos, a person on both sides, samples of
                the wrong kind.
        """
        cfg = self.config
        if not isinstance(faces, FaceSet):
            raise TrainingError(f"expected a FaceSet, got {type(faces).__name__}")
        if validation is None:
            train, val = split_by_person(faces, val_fraction=cfg.val_fraction, seed=cfg.seed)
        else:
            train, val = faces, validation
            both = set(np.asarray(train.names)[np.unique(train.labels)]) & set(
                np.asarray(val.names)[np.unique(val.labels)]
            )
            if both:
                raise TrainingError(
                    f"{len(both)} people are in both training and validation, e.g. "
                    f"{sorted(both)[0]!r}"
                )
        t0 = time.perf_counter()
        train_f, val_f = self.features(train), self.features(val)
        feature_seconds = time.perf_counter() - t0

        model = self.new_model()
        triplet = cfg.loss == "triplet"
        generator_cls = TripletGenerator if triplet else PairGenerator
        generator = generator_cls(
            train_f,
            batch_size=cfg.batch_size,
            steps=cfg.steps_per_epoch,
            hard_negatives=cfg.hard_negatives,
            embed=model.embed_features,
            seed=cfg.seed,
        )
        net = twin_model(model.tower, triplet=triplet)
        net.compile(
            optimizer=keras.optimizers.Adam(cfg.effective_learning_rate),
            loss=_keras_loss(cfg.loss, cfg.effective_margin),
        )
        vi, vj, vsame = verification_pairs(val_f.labels, max_pairs=cfg.val_pairs, seed=cfg.seed)
        monitor = _Monitor(model, val_f.samples, vi, vj, vsame, cfg, progress)
        start = time.perf_counter()
        monitor.record(0, float("nan"), start)
        net.fit(
            generator,
            epochs=cfg.epochs,
            verbose=0,
            callbacks=[monitor],
        )
        last_epoch = len(monitor.history) - 1
        kept, kept_weights = monitor.kept if cfg.restore_best else (last_epoch, None)
        last = None
        if kept != last_epoch:
            # Keep the last epoch's model too, to show what early stopping protected from.
            last = self.new_model()
            last.tower.set_weights(model.tower.get_weights())
            model.tower.set_weights(kept_weights)
        seconds = time.perf_counter() - start
        model.provenance = {
            "config": asdict(cfg),
            "data": {"train": train.summary(), "validation": val.summary()},
            "metrics": {
                "best_epoch": kept,
                "epochs_run": len(monitor.history) - 1,
                "before": monitor.history[0],
                "after": monitor.history[kept],
                "train_seconds": round(seconds, 2),
            },
        }
        return TrainingResult(model, monitor.history, kept, seconds, feature_seconds, last)


class _Monitor(keras.callbacks.Callback):
    """Validation, early stopping with the best weights kept, and progress reports."""

    def __init__(self, model, val_samples, vi, vj, vsame, cfg, progress):
        super().__init__()
        self.ft = model
        self.val = val_samples
        self.vi, self.vj, self.vsame = vi, vj, vsame
        self.cfg = cfg
        self.progress = progress
        self.history: list[dict] = []
        self.best_score = -float("inf")  # the best epoch so far, by the raw figure
        self.best_epoch = 0
        self.best_weights = None
        self.base_score = 0.0
        self.base_weights = None
        self.min_delta = 0.0
        self.wait = 0
        self.start = 0.0

    def record(self, epoch: int, loss: float, start: float | None = None) -> None:
        from workbench.evaluate import best_threshold, roc_curve

        if start is not None:
            self.start = start
        emb = self.ft.embed_features(self.val)
        d = np.linalg.norm(emb[self.vi] - emb[self.vj], axis=1)
        if self.cfg.loss == "contrastive":
            val_loss = _np_contrastive(self.vsame, d, self.cfg.effective_margin)
        else:
            val_loss = _np_triplet_from_pairs(d, self.vsame, self.cfg.effective_margin)
        threshold, acc = best_threshold(d, self.vsame)
        rec = {
            "epoch": epoch,
            "loss": loss,
            "val_loss": float(val_loss),
            "val_accuracy": acc,
            "val_auc": roc_curve(d, self.vsame).auc,
            "val_threshold": threshold,
            "seconds": round(time.perf_counter() - self.start, 3),
        }
        self.history.append(rec)
        score = -rec["val_loss"] if self.cfg.monitor == "val_loss" else rec[self.cfg.monitor]
        if epoch == 0:
            self.base_score = score
            self.base_weights = [w.copy() for w in self.ft.tower.get_weights()]
            self.min_delta = self._min_delta(rec, d)
        # Patience counts epochs without any gain; ties keep the earlier model.
        if score > self.best_score:
            self.best_score = score
            self.best_epoch = epoch
            self.best_weights = [w.copy() for w in self.ft.tower.get_weights()]
            self.wait = 0
        else:
            self.wait += 1
        if self.progress is not None:
            self.progress(dict(rec))

    @property
    def kept(self) -> tuple[int, list]:
        """The epoch to keep and its weights: the best epoch if it beats the base model
        (epoch 0) by more than ``min_delta``, else the base model."""
        if self.best_epoch and self.best_score > self.base_score + self.min_delta:
            return self.best_epoch, self.best_weights
        return 0, self.base_weights

    def _min_delta(self, rec: dict, d: np.ndarray) -> float:
        """The configured ``min_delta``, or twice the standard error of the base model's
        validation figure: Hanley and McNeil's for the AUC, the binomial one for the
        accuracy, 0 for the loss."""
        if self.cfg.min_delta is not None:
            return float(self.cfg.min_delta)
        n_pos, n_neg = int(self.vsame.sum()), int((~self.vsame).sum())
        if self.cfg.monitor == "val_auc":
            return 2 * auc_standard_error(rec["val_auc"], n_pos, n_neg)
        if self.cfg.monitor == "val_accuracy":
            p = rec["val_accuracy"]
            return 2 * math.sqrt(max(p * (1 - p), 1e-12) / len(d))
        return 0.0

    def on_epoch_end(self, epoch, logs=None):
        self.record(epoch + 1, float((logs or {}).get("loss", float("nan"))))
        if self.wait >= self.cfg.patience:
            self.model.stop_training = True


def auc_standard_error(auc: float, n_positive: int, n_negative: int) -> float:
    """Standard error of an ROC AUC estimate (Hanley and McNeil, 1982).

    Args:
        auc: the estimated area.
        n_positive: genuine pairs.
        n_negative: impostor pairs.
    """
    a = min(max(float(auc), 1e-9), 1 - 1e-9)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (
        n_positive * n_negative
    )
    return math.sqrt(max(var, 0.0))


def _np_contrastive(same: np.ndarray, d: np.ndarray, margin: float) -> float:
    same = same.astype(np.float64)
    return float(np.mean(same * d**2 + (1 - same) * np.maximum(margin - d, 0.0) ** 2))


def _np_triplet_from_pairs(d: np.ndarray, same: np.ndarray, margin: float) -> float:
    """Validation triplet loss from the fixed validation pairs: the k-th genuine distance
    against the k-th impostor distance (both drawn at random, so a fair pairing)."""
    dp, dn = d[same], d[~same]
    n = min(len(dp), len(dn))
    return float(np.mean(np.maximum(dp[:n] - dn[:n] + margin, 0.0)))


# -- helpers --------------------------------------------------------------------------------


def stage_inputs(trunk, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """``(N, 4, 4, 256)`` float32: the trunk's output for these chips, in batches."""
    from workbench.embed.embedder import check_chips

    chips = check_chips(chips)
    return _forward(trunk, chips, batch_size)


def _forward(model, x: np.ndarray, batch_size: int) -> np.ndarray:

    outs = [
        ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
        for i in range(0, len(x), batch_size)
    ]
    if not outs:
        return np.empty((0, *model.output.shape[1:]), np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)


def _head_hidden(tower) -> int:
    names = {layer.name for layer in tower.layers}
    return int(tower.get_layer("hidden").units) if "hidden" in names else 0


def _model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    name = path.name
    for suffix in (".weights.h5", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return path.with_name(name + ".weights.h5"), path.with_name(name + ".json")


def _savez(path: str, **arrays) -> None:
    with open(path, "wb") as f:  # a file object: numpy appends no ".npz" to the name
        np.savez(f, **arrays)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(target: Path, write: Callable[[str], object], *, suffix: str = "") -> None:
    """Call ``write(tmp)`` on a temporary name beside ``target``, then rename it over."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix or "".join(target.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "DEFAULT_MARGINS",
    "LOSSES",
    "TRAINABLE",
    "FaceSet",
    "FineTunedEmbedder",
    "PairGenerator",
    "SiameseTrainer",
    "TrainingConfig",
    "TrainingResult",
    "TripletGenerator",
    "build_head",
    "auc_standard_error",
    "build_last_stage",
    "contrastive_loss",
    "load_face_folder",
    "load_finetuned",
    "split_by_person",
    "triplet_loss",
    "twin_model",
    "verification_pairs",
]
