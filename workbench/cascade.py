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

The band reaches :data:`BAND_BELOW` under dlib's threshold and :data:`BAND_ABOVE` over
it (0.10 each; ``below=``/``above=`` here, ``band_below=``/``band_above=`` on
:class:`~workbench.recognize.Recognizer`). They were checked without View 2's pairs, by a
rule fixed before its results were seen (``benchmarks/cascade_band.py``: on LFW people
outside View 2 it asks for 0.11 / 0.09, one grid step off; the open set rejects that move,
:data:`BAND_BELOW`). On LFW View 2 (pair level, ``benchmarks/lfw_fusion.py``) they give
99.50% (30 errors, the full fused vectors' own figure) with stage 2 on 12.7% of pairs.
Stage 2 keeps the mirror chip: without it (MobileFaceNet fused with stage 1's plain dlib
vector: one dlib run less per stage-2 face; in the live loop strangers every face every
frame 2.64x -> 2.38x dlib's cost, and no case brought within 1.5x that was not already)
View 2 falls to 99.47% (32 errors) and the open set names 11 known people fewer at 1,000
people (11/2, p = 0.02); docs/benchmarks/lfw.md.

dlib's threshold for a gallery is the gallery's (fused) threshold times the ratio of the
two priors at its size and target (:func:`dlib_threshold`): it is dlib's own prior while
the gallery is on its prior, and follows a calibrated or hand-set threshold in proportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.gallery.search import Match, exact_search
from workbench.gallery.types import Decision

#: How far below dlib's threshold the band reaches (dlib distance): a face dlib accepts by
#: less than this, or with a rival within this of its nearest person, goes to stage 2.
#: Checked without View 2 (``benchmarks/cascade_band.py``, its rule fixed beforehand: per
#: side the narrowest width holding 99% of the pairs the full fused vector decides
#: otherwise than dlib, on the pairs of LFW people outside View 2 at a one-person
#: gallery's prior thresholds): 0.11 below (0.10 holds 98.9% of 3,351), 0.09 above (0.10
#: holds 99.8% of 1,707); at 10 / 100 / 1,000 people's thresholds 0.12 / 0.09 / 0.03
#: below and 0.12 / 0.10 / 0.12 above. That one-step move was not adopted: in the open
#: set (``benchmarks/cascade.py``, 1,000 people) it names 9 known people fewer than 0.10
#: either side (McNemar 9/0, p = 0.004); 0.12 either side names 7 more and 1 fewer
#: (p = 0.07) with stage 2 on 51% of strangers instead of 33%. LFW View 2: 99.50% (30
#: errors) with each, stage 2 on 12.7% of pairs at 0.10 / 0.10.
BAND_BELOW = 0.10
#: How far above dlib's threshold the band reaches: a face dlib turns away by less than
#: this goes to stage 2 (beyond it dlib turns it away alone). See :data:`BAND_BELOW`;
#: 0.20 above names every turned probe the full vector names on the pose set
#: (``benchmarks/pose.py``) but sends 89-99% of the open set's strangers to stage 2.
BAND_ABOVE = 0.10
#: dlib's model id prefix: its prior table is the one for a dlib gallery.
_DLIB_PRIOR_ID = "dlib"


def check_band(below: float, above: float) -> tuple[float, float]:
    """``(below, above)`` as floats.

    Raises:
        InvalidArgumentError: either is not a finite number >= 0.
    """
    out = []
    for name, value in (("below", below), ("above", above)):
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if isinstance(value, bool) or not (math.isfinite(v) and v >= 0):
            raise InvalidArgumentError(
                f"the cascade's band {name} dlib's threshold must be a number >= 0, got {value!r}"
            )
        out.append(v)
    return out[0], out[1]


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
    """

    embeddings: np.ndarray
    matches: list[Match]
    dlib_distance: np.ndarray
    second: np.ndarray

    @property
    def complete(self) -> np.ndarray:
        """``(n,)`` bool, the faces whose row of ``embeddings`` is the full fused vector:
        those of :attr:`second` (the keeper completes the others it stores)."""
        return self.second


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
        second: ``(n,)`` bool, MobileFaceNet must decide (within the band around dlib's
            threshold, or a dlib accept with a rival within the band's lower width
            behind it or of a person with corrections: the gallery's look-alike and
            correction rules work on its own vectors).
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
    below: float = BAND_BELOW,
    above: float = BAND_ABOVE,
    skip: np.ndarray | None = None,
) -> FirstStage:
    """dlib's decision on ``(n, 128)`` plain dlib vectors against a fused ``gallery``, and
    which faces need stage 2: those whose dlib distance lies from ``below`` under dlib's
    threshold to ``above`` over it (``skip``: faces never named, which never do).

    Raises:
        InvalidArgumentError: a band width that is not a number >= 0.
    """
    below, above = check_band(below, above)
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
    near_threshold = (d1 >= t_dlib - below) & (d1 <= t_dlib + above)
    accept = d1 < t_dlib - below
    second = near_threshold | (accept & ((d2nd - d1 <= below) | has_corrections))
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
    below: float = BAND_BELOW,
    above: float = BAND_ABOVE,
    skip: np.ndarray | None = None,
) -> CascadeResult:
    """The cascade for the faces at ``keypoints`` of ``image`` (``chips``: their dlib
    chips) against a fused ``gallery`` with the :class:`~workbench.embed.fused.FusedEmbedder`
    ``embedder``; ``below``, ``above``: the band (:func:`first_stage`). ``skip``: ``(n,)``
    bool, faces never named nor kept (too small): dlib only."""
    kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
    n = kps.shape[0]
    d = embedder.embed_dlib(chips) if n else np.zeros((0, 128), np.float32)
    first = first_stage(gallery, d, embedder.weight, below=below, above=above, skip=skip)
    rows, d1, accept, second = first.rows, first.distance, first.accept, first.second
    small = np.zeros(n, bool) if skip is None else np.asarray(skip, bool).reshape(n)
    s = first.snapshot
    t_fused, t_dlib = first.threshold, first.dlib_threshold
    embeddings = embedder.fuse(d, np.zeros((n, 192), np.float32))
    idx = np.flatnonzero(second)
    matches: list[Match] = [None] * n  # type: ignore[list-item]
    if idx.size:
        embeddings[idx] = embedder.complete_dlib(image, kps[idx], np.asarray(chips)[idx], d[idx])
        for i, m in zip(idx, gallery.search(embeddings[idx], k=1).best(), strict=True):
            matches[i] = m
    scale = t_fused / t_dlib
    for i in np.flatnonzero(~second):
        r = int(rows[i])
        name = s.people[r] if r >= 0 else None
        dd = float(d1[i]) * scale if r >= 0 else math.inf
        matches[i] = Match(name, dd, bool(accept[i]) and not small[i])
    return CascadeResult(embeddings, matches, d1.astype(np.float32), second)


__all__ = [
    "BAND_ABOVE",
    "BAND_BELOW",
    "CascadeResult",
    "FirstStage",
    "check_band",
    "dlib_nearest",
    "dlib_threshold",
    "first_stage",
    "run_cascade",
    "threshold_ratio",
]
