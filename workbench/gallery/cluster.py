"""Group face embeddings of people nobody has named into proposed people.

The algorithm, chosen by measurement (``benchmarks/cluster.py``, ``docs/benchmarks/
cluster.md``, LFW's 9,164 photos of 1,680 people as an unlabelled archive; every
constant chosen on the people whose names start with A-L, checked on M-Z): average-
linkage agglomerative clustering of the L2-normalised embeddings, cut at
:data:`DEFAULT_THRESHOLD`, with one more rule, the *gap*: above :data:`DEFAULT_GAP_ABOVE`,
two groups of two or more faces join only when they are no farther apart (mean distance
between their faces) than their own faces are from each other (mean distance within
them) plus :data:`DEFAULT_GAP`. Two halves of one person's photos are about as far apart
as the photos inside each half; two look-alike people are tight groups a little farther
apart, which a fixed cut alone cannot tell from a person photographed in many ways.
Near-copies (closer than :data:`DUPLICATE_DISTANCE`: a track's frames, a burst) count
as one face in the rule.
BCubed F 0.955 there (plain average linkage at its best cut, 0.38: 0.949).

Average linkage merges two groups when the mean distance between their faces is small,
so one stray near pair does not chain two people together (single linkage, DBSCAN and
Chinese whispers chain), and a person's many photos stay one group even when the
farthest two are far apart (complete linkage splits them). HDBSCAN keeps precision but
leaves many faces alone. Normalising first matters: dlib's embeddings have norms from 1.2
to 1.7 and the direction carries the identity. A group refused by the gap rule stays
apart from everything above it in the tree (the tree is cut there), so a refused merge
never happens later by another route. Tried and dropped: local density scaling of the
distances, shared-nearest-neighbour (Jaccard) distances, attaching leftover faces to the
nearest group, centring the embeddings, merging after the cut only when the pair of
groups is unambiguous (nearest to each other by a margin), approximate rank-order
clustering (all lower on A-L).

The cut and ``gap_above`` are distances, and the fused embedder's (dlib + MobileFaceNet,
:mod:`workbench.embed.fused`) are larger than dlib's for the same faces: its own values,
chosen on the same A-L people by the same grid, come from :func:`defaults_for` with
the gallery's model id (``model_id=`` here). dlib's 0.40 / 0.34 on fused vectors score
BCubed F 0.732 on M-Z, the fused 0.56 / 0.52 score 0.990. The gap (0.08) and the
near-copy distance (0.15) did as well for both and are shared.

Groups smaller than ``min_size`` are "unclustered": faces seen once are not proposed as
a person.

No gallery here: plain arrays in, :class:`Clustering` out, so the benchmark, the
gallery and the CLI run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.gallery.types import is_fused

#: Cut of the average-linkage tree, in Euclidean distance between unit-length embeddings
#: (``0.40`` is a cosine distance of 0.08). With the gap rule a looser cut than plain
#: average linkage's best (0.38): the rule refuses most of the wrong merges the looser
#: cut would add. Chosen on the LFW people whose names start with A-L and checked on M-Z
#: (``docs/benchmarks/cluster.md``).
DEFAULT_THRESHOLD = 0.40

#: The gap rule: above :data:`DEFAULT_GAP_ABOVE`, two groups of two or more faces join
#: only when their mean distance exceeds the mean distance within them by at most this.
#: One value for both models: on fused vectors 0.08 ties the best (see
#: :data:`FUSED_GAP_ABOVE`).
DEFAULT_GAP = 0.08

#: Merges closer than this are taken without the gap rule: about the unit-vector
#: distance where dlib's pair false-accept rate is 1e-4 on LFW (0.349). Below it a
#: merge inside one person's photos can still have a large gap (two tight sub-groups of
#: one person), and refusing it would split that person for good.
DEFAULT_GAP_ABOVE = 0.34

#: Faces closer than this count as one face in the gap rule: a track's best frames, a
#: burst, the same photo twice. Counted apart, such near-copies make a group look tight
#: and the rule then refuses the rest of the person's photos (LFW's M-Z people with every
#: photo three times, copies about 0.08 apart: 0.908 counted apart, 0.959 counted as one;
#: plain cut 0.38: 0.951). 0.15 is chosen on A-L three times (0.10: 0.952, 0.20 as good
#: on the copies but lower without them); 0.03% of the distances between two photos of
#: one LFW person are below it (the 1st percentile is 0.21). One value for both models
#: (fused copies, 0.10 apart: 0.15 as good as 0.19-0.25; see :data:`FUSED_GAP_ABOVE`).
DUPLICATE_DISTANCE = 0.15

#: The fused embedder's cut (:mod:`workbench.embed.fused`; its unit vectors lie farther
#: apart than dlib's: the median distance between two photos of one LFW person is 0.39
#: against 0.31). Chosen on LFW A-L by the same grid as :data:`DEFAULT_THRESHOLD`:
#: BCubed F 0.990 there, 0.990 on M-Z held out (dlib's 0.40 / 0.34 on the same fused
#: vectors: 0.749 / 0.732; plain average linkage at its best fused cut, 0.54: 0.986 on
#: M-Z). Cuts 0.56-0.62 tie within 0.001 on A-L. ``docs/benchmarks/cluster.md``.
FUSED_THRESHOLD = 0.56

#: The fused embedder's :data:`DEFAULT_GAP_ABOVE`: like dlib's, about the unit-vector
#: distance where its pair false-accept rate on LFW A-L is 1e-4 (0.527); best on A-L.
#: The gap itself (:data:`DEFAULT_GAP`) is shared: 0.10 scored 0.0006 higher on A-L,
#: within the grid's ties, 0.08 as good on M-Z (0.989 vs 0.990). So is
#: :data:`DUPLICATE_DISTANCE`: with every A-L photo three times (fused copies about 0.10
#: apart) 0.15 scores 0.989, as 0.19 and 0.25 do (0.10: 0.983).
FUSED_GAP_ABOVE = 0.52


@dataclass(frozen=True)
class ClusterDefaults:
    """The clustering constants measured in distances, for one model family."""

    threshold: float
    gap_above: float


def defaults_for(model_id: str | None) -> ClusterDefaults:
    """The cut and ``gap_above`` for embeddings of ``model_id`` (``Gallery.model_id``):
    the fused embedder's for its ids (:func:`workbench.gallery.types.is_fused`), else
    dlib's (also for ``None``).

    Example:
        >>> defaults_for(None)
        ClusterDefaults(threshold=0.4, gap_above=0.34)
    """
    if is_fused(model_id):
        return ClusterDefaults(FUSED_THRESHOLD, FUSED_GAP_ABOVE)
    return ClusterDefaults(DEFAULT_THRESHOLD, DEFAULT_GAP_ABOVE)


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


def gap_cut(
    tree: np.ndarray,
    *,
    threshold: float,
    gap: float | None,
    gap_above: float,
    duplicate: float = DUPLICATE_DISTANCE,
):
    """Flat labels ``(n,)`` from a scipy average-linkage ``tree`` (``(n-1, 4)``).

    A merge is kept when its distance is at most ``threshold`` and, above ``gap_above``
    and between two groups of two or more faces, when its distance minus the mean
    distance within the two groups is at most ``gap``; a group is a kept merge whose
    merges below are all kept. ``gap=None``: the plain cut (scipy's ``fcluster``).
    Faces joined at ``duplicate`` or closer count as one face in the rule (their pairs
    are left out of the mean within, and they make one face of the two needed).

    Average linkage's merge distance is the mean distance between the two groups' faces,
    so the sum of distances within each group comes for free from the tree (the two
    children's sums plus the merge distance times the pairs across): no distances are
    recomputed.
    """
    n = len(tree) + 1
    size = np.ones(2 * n - 1)
    faces = np.ones(2 * n - 1)  # faces of a group, near-copies counted once
    within = np.zeros(2 * n - 1)  # sum of the distances between a group's faces
    pairs = np.zeros(2 * n - 1)  # how many pairs that sum is over
    kept = np.ones(2 * n - 1, bool)
    rows = tree[:, :3].tolist()
    for r, (a, b, d) in enumerate(rows):
        a, b, node = int(a), int(b), n + r
        na, nb = size[a], size[b]
        size[node] = na + nb
        if d > duplicate:
            faces[node] = faces[a] + faces[b]
            within[node] = within[a] + within[b] + d * na * nb
            pairs[node] = pairs[a] + pairs[b] + na * nb
        ok = kept[a] and kept[b] and d <= threshold
        if ok and gap is not None and d > gap_above and faces[a] >= 2 and faces[b] >= 2:
            ok = d - (within[a] + within[b]) / (pairs[a] + pairs[b]) <= gap
        kept[node] = ok
    # Top-down: every face takes the label of its highest kept group (itself if none).
    label = np.arange(2 * n - 1)
    for r in range(n - 2, -1, -1):
        if kept[n + r]:
            a, b = int(rows[r][0]), int(rows[r][1])
            label[a] = label[b] = label[n + r]
    return label[:n]


def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    threshold: float | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
    gap: float | None = DEFAULT_GAP,
    gap_above: float | None = None,
    model_id: str | None = None,
) -> Clustering:
    """Group faces that are likely the same person.

    Args:
        embeddings: ``(n, d)`` face embeddings (any scale; they are normalised here).
        threshold: cut of the average-linkage tree, in distance between unit vectors;
            ``None``: the model's (:func:`defaults_for`).
        min_size: the smallest group proposed as a person (at least 1).
        gap: the gap rule's allowance (see the module); ``None`` for plain average
            linkage cut at ``threshold``.
        gap_above: merges closer than this skip the gap rule (at or above
            ``threshold``: a plain cut); ``None``: the model's.
        model_id: the embedder the vectors come from (``Gallery.model_id``), for the
            defaults; ``None``: dlib's.

    Returns:
        A :class:`Clustering`; with fewer than 2 faces every face is unclustered (or one
        cluster of one face when ``min_size`` is 1).

    Raises:
        InvalidArgumentError: a wrongly shaped or non-finite array, a threshold outside
            ``(0, 2]``, ``min_size`` below 1, a negative ``gap`` or ``gap_above``,
            or more than :data:`MAX_FACES` faces.

    Example:
        >>> c = cluster_embeddings(np.array([[1, 0], [1, 0.01], [0, 1.0]]))
        >>> c.labels.tolist()
        [0, 0, -1]
    """
    x = check_embeddings(embeddings)
    defaults = defaults_for(model_id)
    threshold = defaults.threshold if threshold is None else threshold
    gap_above = defaults.gap_above if gap_above is None else gap_above
    if not 0.0 < threshold <= 2.0:
        raise InvalidArgumentError(
            f"threshold is a distance between unit vectors in (0, 2], but got {threshold}"
        )
    if int(min_size) != min_size or min_size < 1:
        raise InvalidArgumentError(f"min_size must be an integer >= 1, but got {min_size}")
    if gap is not None and not (np.isfinite(gap) and gap >= 0):
        raise InvalidArgumentError(f"gap must be a finite distance >= 0 or None, but got {gap}")
    # gap_above at or over the cut is allowed: the rule then never applies (a user's
    # stricter --threshold keeps working as a plain cut).
    if not (np.isfinite(gap_above) and gap_above >= 0):
        raise InvalidArgumentError(f"gap_above must be a finite distance >= 0, but got {gap_above}")
    n = len(x)
    if n > MAX_FACES:
        raise InvalidArgumentError(
            f"clustering holds all pairwise distances in memory: at most {MAX_FACES:,} "
            f"faces, but got {n:,}"
        )
    if n < 2:
        return Clustering(relabel(np.zeros(n, int), min_size), float(threshold), int(min_size))
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(normalize(x)), method="average")
    raw = gap_cut(tree, threshold=threshold, gap=gap, gap_above=gap_above)
    return Clustering(relabel(raw, min_size), float(threshold), int(min_size))
