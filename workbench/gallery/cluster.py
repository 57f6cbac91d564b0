"""Group face embeddings of people nobody has named into proposed people.

The algorithm, chosen by measurement (``benchmarks/cluster.py``, ``docs/benchmarks/
cluster.md``, LFW's 9,164 photos of 1,680 people as an unlabelled archive): average-
linkage agglomerative clustering of the L2-normalised embeddings, cut at
:data:`DEFAULT_THRESHOLD`; BCubed F 0.949 there. Average linkage merges two groups when
the mean distance between their faces is small, so one stray near pair does not chain two
people together (single linkage, DBSCAN and Chinese whispers chain: 0.14, 0.04 and 0.89
on the same embeddings), and a person's many photos stay one group even when the farthest
two are far apart (complete linkage splits them: 0.86 at its best cut). HDBSCAN (0.93)
keeps precision but leaves 544 faces alone. Normalising first matters: dlib's embeddings
have norms from 1.2 to 1.7 and the direction carries the identity (0.939 at the
calibrated raw cut). Tried and dropped: local density scaling of the distances,
shared-nearest-neighbour (Jaccard) distances, attaching leftover faces to the nearest
group (all lower on the held-out people).

Groups smaller than ``min_size`` are "unclustered": faces seen once are not proposed as
a person.

No gallery here: plain arrays in, :class:`Clustering` out, so the benchmark, the
gallery and the CLI run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import InvalidArgumentError

#: Cut of the average-linkage tree, in Euclidean distance between unit-length embeddings
#: (``0.38`` is a cosine distance of 0.072). Chosen on the LFW people whose names start
#: with A-L and checked on M-Z (``docs/benchmarks/cluster.md``).
DEFAULT_THRESHOLD = 0.38

#: A proposed person has at least this many faces.
DEFAULT_MIN_SIZE = 2

#: The tree needs all n*(n-1)/2 distances in memory (8 bytes each): 10,000 faces take
#: 400 MB, 30,000 take 3.6 GB. Past this the caller must thin the faces first.
MAX_FACES = 30_000


@dataclass(frozen=True)
class Clustering:
    """Proposed people among ``n`` faces.

    Attributes:
        labels: ``(n,)`` int, the cluster of each face (``0 .. k-1``, largest cluster
            first), ``-1`` for a face in no cluster.
        threshold: the cut used.
        min_size: the smallest cluster kept.
    """

    labels: np.ndarray
    threshold: float
    min_size: int

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    @property
    def clusters(self) -> list[np.ndarray]:
        """Face indices of each cluster, largest first."""
        return [np.flatnonzero(self.labels == k) for k in range(self.n_clusters)]

    @property
    def unclustered(self) -> np.ndarray:
        """Indices of the faces in no cluster."""
        return np.flatnonzero(self.labels < 0)


def check_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """``(n, d)`` finite float64 rows, or an :class:`InvalidArgumentError` saying why not."""
    arr = np.asarray(embeddings)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidArgumentError(
            f"embeddings must be a 2D array of shape (n, d), but got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidArgumentError(f"embeddings must be numbers, but got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InvalidArgumentError("embeddings contain NaN or infinite values")
    return arr


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.where(norms > 0, norms, 1.0)


def relabel(raw: np.ndarray, min_size: int) -> np.ndarray:
    """Labels ``0..k-1`` by decreasing size (ties: first face first), ``-1`` for groups
    smaller than ``min_size``."""
    raw = np.asarray(raw)
    _, first, inverse, counts = np.unique(
        raw, return_index=True, return_inverse=True, return_counts=True
    )
    order = sorted(
        (g for g in range(len(counts)) if counts[g] >= min_size),
        key=lambda g: (-counts[g], first[g]),
    )
    new = np.full(len(counts), -1, np.int64)
    new[order] = np.arange(len(order))
    return new[inverse.ravel()]


def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_size: int = DEFAULT_MIN_SIZE,
) -> Clustering:
    """Group faces that are likely the same person.

    Args:
        embeddings: ``(n, d)`` face embeddings (any scale; they are normalised here).
        threshold: cut of the average-linkage tree, in distance between unit vectors.
        min_size: the smallest group proposed as a person (at least 1).

    Returns:
        A :class:`Clustering`; with fewer than 2 faces every face is unclustered (or one
        cluster of one face when ``min_size`` is 1).

    Raises:
        InvalidArgumentError: a wrongly shaped or non-finite array, a threshold outside
            ``(0, 2]``, ``min_size`` below 1, or more than :data:`MAX_FACES` faces.

    Example:
        >>> c = cluster_embeddings(np.array([[1, 0], [1, 0.01], [0, 1.0]]))
        >>> c.labels.tolist()
        [0, 0, -1]
    """
    x = check_embeddings(embeddings)
    if not 0.0 < threshold <= 2.0:
        raise InvalidArgumentError(
            f"threshold is a distance between unit vectors in (0, 2], but got {threshold}"
        )
    if int(min_size) != min_size or min_size < 1:
        raise InvalidArgumentError(f"min_size must be an integer >= 1, but got {min_size}")
    n = len(x)
    if n > MAX_FACES:
        raise InvalidArgumentError(
            f"clustering holds all pairwise distances in memory: at most {MAX_FACES:,} "
            f"faces, but got {n:,}"
        )
    if n < 2:
        return Clustering(relabel(np.zeros(n, int), min_size), float(threshold), int(min_size))
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(normalize(x)), method="average")
    raw = fcluster(tree, t=threshold, criterion="distance")
    return Clustering(relabel(raw, min_size), float(threshold), int(min_size))
