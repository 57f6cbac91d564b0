"""Threshold calibration from a gallery's own genuine and impostor pairs.

Two ways to count a false accept:

``per="stranger"`` (the default) asks the open-set question: what fraction of strangers
would be named as somebody? Each enrolled face plays a stranger in turn: its own person is
left out and its distance to the *nearest* other person (nearest face or centroid, as the
gallery decides) is one impostor sample. The genuine sample of a face is its distance to
its own person with itself left out. This false-accept rate grows with the number of
people enrolled, and so the threshold shrinks: on LFW with 1,680 people enrolled, dlib's
pairwise 0.6 let 94 % of strangers through (``docs/benchmarks/gallery.md``). It works
with one face per person (then there is no genuine sample and the FRR is unknown).

``per="pair"`` is the verification rate: a genuine pair is two faces of one person, an
impostor pair two faces of different people; the threshold keeps that fraction of
impostor pairs below it.
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
        far: impostor samples at or below the threshold, as a fraction.
        frr: genuine samples above the threshold, as a fraction (NaN without any).
        genuine: number of genuine samples (pairs, or probes with a face of their own
            person left).
        impostor: number of impostor samples (pairs, or stranger probes).
        resolved: ``False`` when there were too few impostor samples to measure
            ``target_far`` (fewer than ``1 / target_far``); the threshold is then just
            below the nearest impostor, the strictest value the data can support.
        per: ``"stranger"`` or ``"pair"``, see the module docstring.
    """

    threshold: float
    target_far: float
    far: float
    frr: float
    genuine: int
    impostor: int
    resolved: bool
    per: str = "pair"

    def describe(self) -> str:
        """One line for the gallery's meta table and for people."""
        note = "" if self.resolved else ", too few impostor samples to resolve the target"
        unit = "stranger probes" if self.per == "stranger" else "pairs"
        return (
            f"calibrated per {self.per}: target FAR {self.target_far:g}, measured FAR "
            f"{self.far:.4g}, FRR {self.frr:.4g}, {self.genuine} genuine / "
            f"{self.impostor} impostor {unit}{note}"
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


def choose_threshold(
    genuine: np.ndarray, impostor: np.ndarray, target_far: float, *, per: str = "pair"
) -> Calibration:
    """The largest threshold whose impostor accept rate is at most ``target_far``.

    Raises:
        InvalidArgumentError: ``target_far`` outside ``(0, 1)``.
        GalleryError: no impostor samples, or (``per="pair"``) no genuine ones.
    """
    if not 0.0 < target_far < 1.0:
        raise InvalidArgumentError(f"target_far must be in (0, 1), but got {target_far}")
    if not genuine.size and per == "pair":
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
    frr = float(np.mean(genuine > threshold)) if genuine.size else float("nan")
    return Calibration(threshold, target_far, far, frr, genuine.size, impostor.size, resolved, per)


def stranger_distances(
    vectors: np.ndarray,
    owners: np.ndarray,
    *,
    centroid: bool = False,
    max_probes: int = 20_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-person-out distances: each face as a stranger and as a known probe.

    Args:
        vectors: ``(n, D)`` embeddings.
        owners: ``(n,)`` integer person of each row.
        centroid: measure to person centroids instead of nearest faces.
        max_probes: probe at most this many faces (a random sample, fixed seed); each
            probe costs one pass over the gallery.
        seed: random seed of the sample.

    Returns:
        ``(genuine (g,), impostor (p,))`` Euclidean distances: per probe, the distance to
        its own person without itself (only probes whose person has another face), and
        the distance to the nearest other person.
    """
    v = np.asarray(vectors, np.float64)
    owners = np.asarray(owners)
    n = v.shape[0]
    rng = np.random.default_rng(seed)
    probes = np.arange(n) if n <= max_probes else np.sort(rng.choice(n, max_probes, False))
    counts = np.bincount(owners)
    if centroid:
        sums = np.zeros((counts.shape[0], v.shape[1]))
        np.add.at(sums, owners, v)
        ref = sums / np.maximum(counts, 1)[:, None]
        ref_owner = np.arange(counts.shape[0])
    else:
        ref, ref_owner = v, owners
    ref_sq = (ref * ref).sum(1)
    genuine, impostor = [], []
    step = max(1, 2**24 // max(1, ref.shape[0]))
    for i in range(0, probes.shape[0], step):
        idx = probes[i : i + step]
        q = v[idx]
        d2 = ref_sq[None, :] - 2.0 * q @ ref.T + (q * q).sum(1)[:, None]
        own = ref_owner[None, :] == owners[idx][:, None]
        impostor.append(np.where(own, np.inf, d2).min(1))
        if centroid:
            o = owners[idx]
            many = counts[o] > 1
            loo = (sums[o[many]] - q[many]) / (counts[o[many]] - 1)[:, None]
            genuine.append(((q[many] - loo) ** 2).sum(1))
        else:
            d2[np.arange(len(idx)), idx] = np.inf  # not itself
            g = np.where(own, d2, np.inf).min(1)
            genuine.append(g[np.isfinite(g)])
    imp = np.sqrt(np.maximum(np.concatenate(impostor), 0.0))
    gen = np.sqrt(np.maximum(np.concatenate(genuine), 0.0)) if genuine else np.zeros(0)
    return gen, imp[np.isfinite(imp)]


def calibrate(
    gallery: Gallery,
    target_far: float = 1e-2,
    *,
    per: str = "stranger",
    min_faces: int = 2,
    store: bool = True,
) -> Calibration:
    """Derive the threshold from the gallery's own faces and (by default) store it.

    Args:
        gallery: the gallery.
        target_far: the false-accept rate to aim for: per stranger searched against the
            whole gallery (``per="stranger"``) or per impostor pair (``per="pair"``).
        per: ``"stranger"`` (open set, the default) or ``"pair"`` (verification); see
            the module docstring.
        min_faces: ``per="pair"``: people with fewer faces give no genuine pairs (they
            still serve as impostors); raise to require more evidence per person.
        store: write the threshold into the gallery (``meta`` table).

    Returns:
        A :class:`Calibration` with the threshold, measured FAR and FRR.

    Raises:
        InvalidArgumentError: ``per`` is neither ``"stranger"`` nor ``"pair"``.
        GalleryError: fewer than 2 people with faces, or (``per="pair"``) no person with
            ``min_faces`` faces.
    """
    if per not in ("stranger", "pair"):
        raise InvalidArgumentError(f"per must be 'stranger' or 'pair', but got {per!r}")
    vectors, names = gallery.embeddings()
    owners = np.unique(np.array(names, dtype=object), return_inverse=True)[1]
    counts = np.bincount(owners) if owners.size else np.zeros(0, int)
    if counts.size < 2:
        raise GalleryError(
            f"{gallery.path}: calibration needs faces of at least 2 people, "
            f"but the gallery has {counts.size}"
        )
    if per == "stranger":
        from workbench.gallery.core import Decision

        genuine, impostor = stranger_distances(
            vectors, owners, centroid=gallery.decision is Decision.CENTROID
        )
    else:
        eligible = np.flatnonzero(counts >= max(2, min_faces))
        if not eligible.size:
            raise GalleryError(
                f"{gallery.path}: calibration needs at least one person with "
                f"{max(2, min_faces)} or more faces, but the most any person has is "
                f"{counts.max()}"
            )
        genuine, impostor = pair_distances(vectors, owners)
        if min_faces > 2:
            keep = np.isin(owners, eligible)
            genuine, _ = pair_distances(vectors[keep], owners[keep], max_impostor=0)
    result = choose_threshold(genuine, impostor, target_far, per=per)
    if store:
        gallery.set_threshold(result.threshold, source=result.describe())
    return result
