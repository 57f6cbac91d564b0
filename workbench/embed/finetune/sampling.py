"""Batches for training: balanced pairs and triplets, with hard negatives mined under the
current model, as ``keras.utils.PyDataset`` objects."""

from __future__ import annotations

import threading
from collections.abc import Callable

import keras
import numpy as np

from workbench.embed.finetune.data import FaceSet
from workbench.errors import TrainingError


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
