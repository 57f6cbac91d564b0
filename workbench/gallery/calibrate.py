"""Threshold calibration from a gallery's own genuine and impostor pairs.

A genuine pair is two faces of one person, an impostor pair two faces of different
people. For a target false-accept rate (FAR) the threshold is the distance below which
that fraction of impostor pairs falls; the genuine pairs then say what it costs (the
false-reject rate, FRR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError

if TYPE_CHECKING:
    from workbench.gallery.core import Gallery

#: At most this many impostor pairs are drawn (at random, fixed seed); beyond it the FAR
#: quantile does not move by more than sampling noise.
MAX_IMPOSTOR_PAIRS = 2_000_000


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured and chose.

    Attributes:
        threshold: the chosen distance threshold.
        target_far: the false-accept rate asked for.
        far: impostor pairs at or below the threshold, as a fraction.
        frr: genuine pairs above the threshold, as a fraction.
        genuine_pairs: number of genuine pairs used.
        impostor_pairs: number of impostor pairs used.
        resolved: ``False`` when there were too few impostor pairs to measure
            ``target_far`` (fewer than ``1 / target_far``); the threshold is then just
            below the nearest impostor pair, the strictest value the data can support.
    """

    threshold: float
    target_far: float
    far: float
    frr: float
    genuine_pairs: int
    impostor_pairs: int
    resolved: bool

    def describe(self) -> str:
        """One line for the gallery's meta table and for people."""
        note = "" if self.resolved else ", too few impostor pairs to resolve the target"
        return (
            f"calibrated: target FAR {self.target_far:g}, measured FAR {self.far:.4g}, "
            f"FRR {self.frr:.4g}, {self.genuine_pairs} genuine / "
            f"{self.impostor_pairs} impostor pairs{note}"
        )


def pair_distances(
    vectors: np.ndarray, owners: np.ndarray, *, max_impostor: int = MAX_IMPOSTOR_PAIRS, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of all genuine pairs and of (a sample of) the impostor pairs.

    Args:
        vectors: ``(n, D)`` float32 embeddings.
        owners: ``(n,)`` integer person of each row.
        max_impostor: sample at most this many impostor pairs.
        seed: random seed of the sample.

    Returns:
        ``(genuine (g,), impostor (i,))`` float64 Euclidean distances.
    """
    vectors = np.asarray(vectors, np.float64)
    owners = np.asarray(owners)
    n = vectors.shape[0]
    genuine = []
    for p in np.unique(owners):
        rows = np.flatnonzero(owners == p)
        if len(rows) > 1:
            v = vectors[rows]
            sq = (v * v).sum(1)
            d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * v @ v.T, 0.0))
            genuine.append(d[np.triu_indices(len(rows), 1)])
    genuine_d = np.concatenate(genuine) if genuine else np.zeros(0)
    n_pairs = n * (n - 1) // 2
    n_impostor = n_pairs - genuine_d.shape[0]
    if n_impostor <= max_impostor:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(seed)
        # Oversample, then drop self and genuine pairs.
        i = rng.integers(0, n, int(max_impostor * 1.2) + 16)
        j = rng.integers(0, n, i.shape[0])
    keep = owners[i] != owners[j]
    i, j = i[keep][:max_impostor], j[keep][:max_impostor]
    impostor = np.empty(i.shape[0])
    for s in range(0, i.shape[0], 200_000):
        a, b = vectors[i[s : s + 200_000]], vectors[j[s : s + 200_000]]
        impostor[s : s + 200_000] = np.sqrt(((a - b) ** 2).sum(-1))
    return genuine_d, impostor


def choose_threshold(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> Calibration:
    """The largest threshold whose impostor accept rate is at most ``target_far``.

    Raises:
        InvalidArgumentError: ``target_far`` outside ``(0, 1)``.
        GalleryError: no genuine or no impostor pairs.
    """
    if not 0.0 < target_far < 1.0:
        raise InvalidArgumentError(f"target_far must be in (0, 1), but got {target_far}")
    if not genuine.size:
        raise GalleryError(
            "calibration needs genuine pairs: at least one person with 2 or more faces, "
            "but every person has one face"
        )
    if not impostor.size:
        raise GalleryError("calibration needs impostor pairs: at least 2 people, but got 1")
    imp = np.sort(impostor)
    allowed = int(np.floor(target_far * imp.size))  # impostor pairs we may accept
    resolved = allowed >= 1
    if allowed >= imp.size:
        threshold = float(imp[-1])
    else:
        # Accept strictly below the (allowed+1)-th smallest impostor distance.
        threshold = float(np.nextafter(imp[allowed], -np.inf))
    far = float(np.mean(impostor <= threshold))
    frr = float(np.mean(genuine > threshold))
    return Calibration(threshold, target_far, far, frr, genuine.size, impostor.size, resolved)


def calibrate(
    gallery: Gallery, target_far: float = 1e-3, *, min_faces: int = 2, store: bool = True
) -> Calibration:
    """Derive the threshold from the gallery's own pairs and (by default) store it.

    Args:
        gallery: the gallery.
        target_far: the false-accept rate to aim for (per impostor pair).
        min_faces: people with fewer faces give no genuine pairs (they still serve as
            impostors); raise to require more evidence per person.
        store: write the threshold into the gallery (``meta`` table).

    Returns:
        A :class:`Calibration` with the threshold, measured FAR and FRR.

    Raises:
        GalleryError: no person with ``min_faces`` faces, or fewer than 2 people.
    """
    vectors, names = gallery.embeddings()
    owners = np.unique(np.array(names, dtype=object), return_inverse=True)[1]
    counts = np.bincount(owners) if owners.size else np.zeros(0, int)
    eligible = np.flatnonzero(counts >= max(2, min_faces))
    if not eligible.size:
        raise GalleryError(
            f"{gallery.path}: calibration needs at least one person with {max(2, min_faces)} "
            f"or more faces, but the most any person has is {counts.max() if counts.size else 0}"
        )
    genuine, impostor = pair_distances(vectors, owners)
    if min_faces > 2:
        keep = np.isin(owners, eligible)
        genuine, _ = pair_distances(vectors[keep], owners[keep], max_impostor=0)
    result = choose_threshold(genuine, impostor, target_far)
    if store:
        gallery.set_threshold(result.threshold, source=result.describe())
    return result
