"""MobileFaceNet only where dlib is unsure: the recognition cascade of a fused gallery.

A fused gallery stores ``[sqrt(w) dlib, sqrt(1 - w) c mfn_unit]`` per face
(:mod:`workbench.embed.fused`; dlib's part the mean of the chip's and its mirror's), so
dlib's part of every stored vector (and of every centroid, a mean of such vectors) is its
first 128 numbers over ``sqrt(w)``. Stage 1 embeds one plain dlib chip and searches those
parts exactly; when the nearest person's dlib distance lies outside a band around dlib's
threshold for this gallery, dlib decides alone. Otherwise stage 2 adds dlib's embedding
of the mirrored chip and MobileFaceNet (:meth:`FusedEmbedder.complete_dlib
<workbench.embed.fused.FusedEmbedder.complete_dlib>`, the vector enrollment stores) and
the gallery's own search decides on that full fused vector.

A face dlib turns away is not completed here: the unknowns keeper
(:class:`workbench.recognize.UnknownsKeeper`) completes only the faces it will store
(stored unknowns are clustered as full fused vectors), so a crowd of strangers costs
dlib's chip per face, not both models; it searches the vectors it completed and does
not store a face the full vector names (an enrolled person dlib alone turned away).

On LFW View 2 (pair level, ``benchmarks/lfw_fusion.py``) the band of 0.10
(:data:`CASCADE_BAND`) gives 99.50% (30 errors, the full fused vectors' own figure) with
stage 2 on 12.7% of pairs; docs/benchmarks/lfw.md.

dlib's threshold for a gallery is the gallery's (fused) threshold times the ratio of the
two priors at its size and target (:func:`dlib_threshold`): it is dlib's own prior while
the gallery is on its prior, and follows a calibrated or hand-set threshold in proportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbench.gallery.search import Match, exact_search
from workbench.gallery.types import Decision

#: Half-width of the band around dlib's threshold where MobileFaceNet is asked too.
#: LFW View 2, stage 1 one plain dlib chip against the gallery's flipped dlib parts, with
#: dlib's threshold derived as a gallery derives it (the priors' ratio 0.790: 0.595,
#: against the folds' own 0.610): 0.10 keeps the full fused 99.50% (30 errors) with
#: stage 2 on 12.7% of pairs, 0.05 loses 2 pairs (99.47%) on 3.9%
#: (``benchmarks/lfw_fusion.py``, docs/benchmarks/lfw.md).
CASCADE_BAND = 0.10
#: dlib's model id prefix: its prior table is the one for a dlib gallery.
_DLIB_PRIOR_ID = "dlib"


@dataclass(frozen=True)
class CascadeResult:
    """One batch of faces through the cascade.

    Attributes:
        embeddings: ``(n, 320)`` float32; a face stage 2 did not see carries
            ``[sqrt(w) dlib, 0]`` with its plain dlib vector (faces dlib accepted or
            turned away: the unknowns keeper completes those it stores,
            :meth:`FusedEmbedder.complete <workbench.embed.fused.FusedEmbedder.complete>`).
        matches: one :class:`~workbench.gallery.Match` per face; its distance is in the
            gallery's (fused) units (dlib's distance times the threshold ratio when dlib
            decided alone).
        dlib_distance: ``(n,)`` dlib distance to the nearest person (``inf`` if none).
        second: ``(n,)`` bool, the faces within the band (MobileFaceNet decided).
        complete: ``(n,)`` bool, the faces whose row of ``embeddings`` is the full fused
            vector (those of ``second``).
    """

    embeddings: np.ndarray
    matches: list[Match]
    dlib_distance: np.ndarray
    second: np.ndarray
    complete: np.ndarray


def dlib_threshold(gallery) -> float:
    """dlib's threshold for ``gallery`` (a fused one): its threshold scaled by the ratio of
    dlib's prior to the fused prior at its number of people and target rate."""
    from workbench.gallery.calibrate import DEFAULT_TARGET_FAR

    threshold = float(gallery.threshold)
    people = max(int(gallery.snapshot().searchable), 1)
    try:
        far = float(gallery.threshold_info.target_far)
    except Exception:  # an old gallery without a stored target: the default's
        far = DEFAULT_TARGET_FAR
    if not 0.0 < far < 1.0:
        far = DEFAULT_TARGET_FAR
    return threshold * threshold_ratio(people, far, model_id=gallery.model_id)


def threshold_ratio(people: int, target_far: float, *, model_id: str) -> float:
    """dlib's prior threshold over the fused model's (``model_id``) for ``people`` enrolled
    people at ``target_far``: what turns a fused gallery's threshold into dlib's."""
    from workbench.gallery.calibrate import prior_threshold

    fused = prior_threshold(people, target_far, model_id=model_id)
    return prior_threshold(people, target_far, model_id=_DLIB_PRIOR_ID) / fused


def dlib_nearest(gallery, dlib_vectors: np.ndarray, weight: float):
    """``(person rows (n, 2), dlib distances (n, 2))``: the two nearest people of each
    dlib vector by dlib's part of the gallery's vectors, with the gallery's decision
    (centroid or nearest face), exactly (row -1 and ``inf`` where fewer people)."""
    s = gallery.snapshot()
    q = np.ascontiguousarray(np.asarray(dlib_vectors, np.float32) * np.float32(math.sqrt(weight)))
    n = q.shape[0]
    rows = np.full((n, 2), -1, np.int64)
    dist = np.full((n, 2), np.inf, np.float32)
    if not s.searchable or not n:
        return rows, dist
    dim = q.shape[1]
    if gallery.decision is Decision.CENTROID:
        cents, _, person = s.centroids
        part = np.ascontiguousarray(cents[:, :dim])
        cols, d2 = exact_search(q, part, np.einsum("ij,ij->i", part, part), 2)
        found = person[cols]
    else:
        part = np.ascontiguousarray(s.vectors[:, :dim])
        found, d2 = exact_search(
            q, part, np.einsum("ij,ij->i", part, part), 2, (s.owners, *s.groups)
        )
    got = found.shape[1]
    rows[:, :got] = found
    dist[:, :got] = np.sqrt(np.maximum(d2, 0.0)) / math.sqrt(weight)
    return rows, dist


@dataclass(frozen=True)
class FirstStage:
    """What dlib alone says of ``n`` faces (:func:`first_stage`).

    Attributes:
        rows: ``(n,)`` person index of the nearest person by dlib (-1: none).
        distance: ``(n,)`` its dlib distance (``inf``: none).
        accept: ``(n,)`` bool, dlib accepts it (below its threshold less the band).
        second: ``(n,)`` bool, MobileFaceNet must decide (within the band of dlib's
            threshold, or a dlib accept with a rival within the band behind it or of a
            person with corrections: the gallery's look-alike and correction rules work
            on its own vectors).
        threshold, dlib_threshold: the gallery's and dlib's thresholds used.
    """

    rows: np.ndarray
    distance: np.ndarray
    accept: np.ndarray
    second: np.ndarray
    threshold: float
    dlib_threshold: float
    snapshot: object


def first_stage(
    gallery,
    dlib_vectors: np.ndarray,
    weight: float,
    *,
    band: float = CASCADE_BAND,
    skip: np.ndarray | None = None,
) -> FirstStage:
    """dlib's decision on ``(n, 128)`` plain dlib vectors against a fused ``gallery``, and
    which faces need stage 2 (``skip``: faces never named, which never do)."""
    t_fused = float(gallery.threshold)  # reads the file again if another process wrote
    t_dlib = dlib_threshold(gallery)
    rows, dist = dlib_nearest(gallery, dlib_vectors, weight)
    n = rows.shape[0]
    d1, d2nd = dist[:, 0], dist[:, 1]
    s = gallery.snapshot()
    corrected = set(getattr(gallery, "_negatives", {}) or {})  # noqa: SLF001 - read only
    has_corrections = np.array(
        [r >= 0 and int(s.person_ids[r]) in corrected for r in rows[:, 0]], bool
    ).reshape(n)
    near_threshold = np.abs(d1 - t_dlib) <= band
    accept = d1 < t_dlib - band
    second = near_threshold | (accept & ((d2nd - d1 <= band) | has_corrections))
    second &= np.isfinite(d1)
    small = np.zeros(n, bool) if skip is None else np.asarray(skip, bool).reshape(n)
    second &= ~small
    accept &= ~second
    return FirstStage(rows[:, 0], d1, accept, second, t_fused, t_dlib, s)


def run_cascade(
    gallery,
    embedder,
    image: np.ndarray,
    keypoints: np.ndarray,
    chips: np.ndarray,
    *,
    band: float = CASCADE_BAND,
    skip: np.ndarray | None = None,
) -> CascadeResult:
    """The cascade for the faces at ``keypoints`` of ``image`` (``chips``: their dlib
    chips) against a fused ``gallery`` with the :class:`~workbench.embed.fused.FusedEmbedder`
    ``embedder``. ``skip``: ``(n,)`` bool, faces never named nor kept (too small): dlib
    only."""
    kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
    n = kps.shape[0]
    d = embedder.embed_dlib(chips) if n else np.zeros((0, 128), np.float32)
    first = first_stage(gallery, d, embedder.weight, band=band, skip=skip)
    rows, d1, accept = first.rows, first.distance, first.accept
    second = complete = first.second
    small = np.zeros(n, bool) if skip is None else np.asarray(skip, bool).reshape(n)
    s = first.snapshot
    t_fused, t_dlib = first.threshold, first.dlib_threshold
    embeddings = embedder.fuse(d, np.zeros((n, 192), np.float32))
    idx = np.flatnonzero(complete)
    if idx.size:
        embeddings[idx] = embedder.complete_dlib(image, kps[idx], np.asarray(chips)[idx], d[idx])
    matches: list[Match] = [None] * n  # type: ignore[list-item]
    if idx.size:
        for i, m in zip(idx, gallery.search(embeddings[idx], k=1).best(), strict=True):
            matches[i] = m
    scale = t_fused / t_dlib
    for i in np.flatnonzero(~complete):
        r = int(rows[i])
        name = s.people[r] if r >= 0 else None
        dd = float(d1[i]) * scale if r >= 0 else math.inf
        matches[i] = Match(name, dd, bool(accept[i]) and not small[i])
    return CascadeResult(embeddings, matches, d1.astype(np.float32), second, complete.copy())


__all__ = [
    "CASCADE_BAND",
    "CascadeResult",
    "FirstStage",
    "dlib_nearest",
    "dlib_threshold",
    "first_stage",
    "run_cascade",
    "threshold_ratio",
]
