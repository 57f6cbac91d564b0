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

On the default path the threshold follows the gallery (:func:`refresh`, run after every
enrollment and import): calibrated per stranger at :data:`DEFAULT_TARGET_FAR` when the
gallery has enough people and faces for that, otherwise taken from :data:`PRIOR`, the
threshold measured on LFW as a function of the number of people enrolled. A threshold set
by hand (:meth:`Gallery.set_threshold`) is left alone until calibration is asked for
again (:meth:`Gallery.calibrate`, ``workbench calibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery.types import is_fused

if TYPE_CHECKING:
    from workbench.gallery import Gallery

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
    from workbench.evaluate import threshold_at_far

    genuine = np.asarray(genuine, np.float64)  # see stranger_distances: float32 rounds
    impostor = np.asarray(impostor, np.float64)
    threshold = threshold_at_far(impostor, target_far)
    # Unresolved: the target allows less than one of these impostor samples.
    resolved = int(np.floor(target_far * impostor.size)) >= 1
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
        # Sums per person, one bincount per dimension: np.add.at and np.add.reduceat
        # took over a second at 100k people.
        sums = np.stack(
            [np.bincount(owners, v[:, d], counts.shape[0]) for d in range(v.shape[1])], 1
        ).reshape(counts.shape[0], v.shape[1])
        ref = sums / np.maximum(counts, 1)[:, None]
        ref_owner = np.arange(counts.shape[0])
    else:
        ref, ref_owner = v, owners
    # The probe-to-everyone product in float32 (twice the speed; distances of unit-ish
    # embeddings keep ~1e-6 of precision), the leave-one-out centroids in float64.
    ref32 = ref.astype(np.float32)
    ref_sq = np.einsum("ij,ij->i", ref32, ref32)
    genuine, impostor = [], []
    step = max(1, 2**22 // max(1, ref.shape[0]))  # ~16 MB per temporary
    for i in range(0, probes.shape[0], step):
        idx = probes[i : i + step]
        q = v[idx]
        q32 = q.astype(np.float32)
        d2 = q32 @ ref32.T
        d2 *= -2.0
        d2 += ref_sq[None, :]
        d2 += np.einsum("ij,ij->i", q32, q32)[:, None]
        rows = np.arange(len(idx))
        if centroid:
            o = owners[idx]
            d2[rows, o] = np.inf  # one centroid per person: its own is one column
            impostor.append(d2.min(1))
            many = counts[o] > 1
            loo = (sums[o[many]] - q[many]) / (counts[o[many]] - 1)[:, None]
            genuine.append(((q[many] - loo) ** 2).sum(1))
        else:
            own = ref_owner[None, :] == owners[idx][:, None]
            impostor.append(np.where(own, np.inf, d2).min(1))
            d2[rows, idx] = np.inf  # not itself
            g = np.where(own, d2, np.inf).min(1)
            genuine.append(g[np.isfinite(g)])
    # float64 out: a float32 array compared with a Python float compares in float32, and
    # a threshold just below an impostor would round back onto it.
    imp = np.sqrt(np.maximum(np.concatenate(impostor).astype(np.float64), 0.0))
    gen = (
        np.sqrt(np.maximum(np.concatenate(genuine).astype(np.float64), 0.0))
        if genuine
        else np.zeros(0)
    )
    return gen, imp[np.isfinite(imp)]


#: The per-stranger false-accept rate the threshold aims at unless told otherwise: the
#: share of strangers a gallery names as somebody. Chosen on LFW galleries of 30 people
#: (2 photos each) against 0.01 and 0.05: see ``docs/benchmarks/gallery.md``.
DEFAULT_TARGET_FAR = 0.02

#: A gallery is calibrated from its own faces only when its stranger probes (one per
#: face) allow at least this many false accepts at the target (``faces * target_far``);
#: below that there is no measured quantile at all, only the nearest impostor.
MIN_ACCEPTS = 1.0

#: How much the prior weighs when a calibration is blended with it, in impostor samples
#: the target lets through: the threshold is ``w * measured + (1 - w) * prior`` with
#: ``w = a / (a + PRIOR_ACCEPTS)``, ``a = probes * target_far``. On LFW galleries of 20
#: to 50 people the measured cut alone named 4.6 % of strangers at a 2 % target (5th
#: percentile of draws: 8 to 14 %), the blend 2.8 % (4.7 %); at 1,000 people the two
#: agree (w = 0.76 there). Figures: ``docs/benchmarks/gallery.md``.
PRIOR_ACCEPTS = 10.0

#: Stranger probes of the calibration that runs after each enrollment (a random sample,
#: fixed seed): each probe costs a pass over the gallery's people, and 2,000 resolve a
#: FAR of 0.02 to about +-0.003.
AUTO_MAX_PROBES = 2_000

#: ... but at most about this many probe-to-person distances per re-derivation, and no
#: fewer than :data:`AUTO_MIN_PROBES` probes: 2,000 probes over 20,000 people took 4 s
#: on the busy 2-core machine, too long to pay after every enrollment. Fewer probes
#: weigh less against the prior (:data:`PRIOR_ACCEPTS`), so a big gallery's threshold
#: stays steady.
AUTO_DISTANCE_BUDGET = 10_000_000
AUTO_MIN_PROBES = 500

#: The prior: thresholds for a gallery too small to calibrate, by number of people
#: enrolled (rows) and per-stranger target FAR (columns), measured on LFW by
#: ``scripts/derive_threshold_prior.py`` (LFW people A to M: 1,165 with 2 photos
#: enrolled as centroids, the 2,825 single-photo people as strangers; the benchmark
#: scores it on N to Z). At 1 person and FAR 0.01 it lands on dlib's pairwise 0.6.
PRIOR_FARS = (0.01, 0.02, 0.05, 0.1)
PRIOR_PEOPLE = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000)
PRIOR_THRESHOLDS = (
    (0.5858, 0.6091, 0.6439, 0.6752),  # 1 person
    (0.5662, 0.5873, 0.6183, 0.6458),  # 2
    (0.5511, 0.5729, 0.6036, 0.6302),  # 3
    (0.5362, 0.5581, 0.5874, 0.6122),  # 5
    (0.5189, 0.5391, 0.5671, 0.5897),  # 10
    (0.4967, 0.5175, 0.5457, 0.5676),  # 20
    (0.4888, 0.5083, 0.5352, 0.5569),  # 30
    (0.4759, 0.4948, 0.5222, 0.5433),  # 50
    (0.4595, 0.4783, 0.5054, 0.5262),  # 100
    (0.4330, 0.4568, 0.4849, 0.5072),  # 200
    (0.4158, 0.4381, 0.4699, 0.4902),  # 500
    (0.3977, 0.4198, 0.4550, 0.4773),  # 1000
)

#: The same table for the fused embedder (:mod:`workbench.embed.fused`, 320-D; its
#: distances run larger than dlib's), by the same script on the same people: vectors
#: from ``benchmarks/lfw_fusion.py --prior-vectors`` (MediaPipe, central face, both
#: models flipped: dlib's part the mean of the chip's and its mirror's, as enrollment
#: stores it), then ``scripts/derive_threshold_prior.py --gallery lfw_fused.npz``. At 1
#: person and FAR 0.01 it lands near the fused LFW pair threshold (0.77), as dlib's table
#: does near 0.6. dlib's flip lowered every entry by 0.004-0.008 (the table before it:
#: 0.7534 at 1 person and FAR 0.01, 0.5907 at 1,000).
PRIOR_THRESHOLDS_FUSED = (
    (0.7477, 0.7710, 0.8064, 0.8377),  # 1 person
    (0.7278, 0.7493, 0.7814, 0.8094),  # 2
    (0.7144, 0.7354, 0.7658, 0.7921),  # 3
    (0.7009, 0.7207, 0.7494, 0.7741),  # 5
    (0.6834, 0.7014, 0.7280, 0.7504),  # 10
    (0.6645, 0.6829, 0.7074, 0.7284),  # 20
    (0.6567, 0.6732, 0.6969, 0.7171),  # 30
    (0.6446, 0.6601, 0.6841, 0.7031),  # 50
    (0.6313, 0.6459, 0.6672, 0.6854),  # 100
    (0.6130, 0.6279, 0.6494, 0.6669),  # 200
    (0.5989, 0.6116, 0.6319, 0.6485),  # 500
    (0.5831, 0.5994, 0.6168, 0.6335),  # 1000
)

#: What the source of a hand-set threshold reads.
SET_BY_YOU = "set by you"


def prior_threshold(
    people: int, target_far: float = DEFAULT_TARGET_FAR, *, model_id: str | None = None
) -> float:
    """The prior's threshold for ``people`` enrolled people at ``target_far`` per stranger.

    Interpolated linearly in log(people) and log(target_far) between the rows and columns
    of :data:`PRIOR_THRESHOLDS` (:data:`PRIOR_THRESHOLDS_FUSED` for the fused embedder's
    model ids: its distances have another scale), and held at the table's edges beyond
    them.

    Raises:
        InvalidArgumentError: ``target_far`` outside ``(0, 1)``.
    """
    if not 0.0 < target_far < 1.0:
        raise InvalidArgumentError(f"target_far must be in (0, 1), but got {target_far}")
    table = PRIOR_THRESHOLDS_FUSED if is_fused(model_id) else PRIOR_THRESHOLDS
    table = np.asarray(table, np.float64)
    x = np.log(np.asarray(PRIOR_PEOPLE, np.float64))
    y = np.log(np.asarray(PRIOR_FARS, np.float64))
    by_far = [np.interp(np.log(max(people, 1)), x, table[:, j]) for j in range(len(y))]
    return float(np.interp(np.log(target_far), y, by_far))


@dataclass(frozen=True)
class ThresholdInfo:
    """A gallery's threshold and where it came from.

    Attributes:
        threshold: the distance threshold in use.
        source: ``"calibrated on N people / M faces"``, ``"prior for N people"``,
            ``"set by you"`` (or ``"default"`` in a gallery never enrolled into since it
            was created).
        auto: whether enrollment re-derives it (``False`` once set by hand).
        target_far: the per-stranger (or per-pair) false-accept rate it aims at.
        per: ``"stranger"`` or ``"pair"``.
        far: false-accept rate measured on the gallery's own faces at ``threshold``
            (NaN when it cannot be measured: one person).
        frr: false-reject rate measured the same way (NaN without genuine samples).
        weight: the share of ``threshold`` measured on the gallery's own faces, the
            rest from the prior (0: the prior alone; 1: :func:`calibrate` alone).
    """

    threshold: float
    source: str
    auto: bool
    target_far: float
    per: str = "stranger"
    far: float = float("nan")
    frr: float = float("nan")
    weight: float = float("nan")

    def to_dict(self) -> dict:
        """JSON-ready (NaN becomes ``None``)."""
        out = {}
        for key, value in self.__dict__.items():
            out[key] = None if isinstance(value, float) and not np.isfinite(value) else value
        return out

    def __str__(self) -> str:
        rates = ""
        if np.isfinite(self.far) or np.isfinite(self.frr):
            rates = f", measured on its faces: FAR {self.far:.3g}, FRR {self.frr:.3g}"
        target = f" (target FAR {self.target_far:g} per {self.per}{rates})" if self.auto else ""
        return f"threshold {self.threshold:.3f}, {self.source}{target}"


def _float(meta: dict, key: str, default: float) -> float:
    try:
        return float(meta[key])
    except (KeyError, TypeError, ValueError):
        return default


def threshold_info(gallery: Gallery) -> ThresholdInfo:
    """The gallery's threshold and its source, as stored in its ``meta`` table."""
    meta = gallery.meta
    source = meta.get("threshold_source", "default")
    mode = meta.get("threshold_mode")
    if mode is None:  # a gallery written before modes: only "set" was by hand
        mode = "manual" if source == "set" else "auto"
    if source == "set":
        source = SET_BY_YOU
    return ThresholdInfo(
        threshold=float(meta["threshold"]),
        source=source,
        auto=mode == "auto",
        target_far=_float(meta, "threshold_target_far", DEFAULT_TARGET_FAR),
        per=meta.get("threshold_per", "stranger"),
        far=_float(meta, "threshold_far", float("nan")),
        frr=_float(meta, "threshold_frr", float("nan")),
        weight=_float(meta, "threshold_weight", float("nan")),
    )


def _store(gallery: Gallery, info: ThresholdInfo) -> None:
    gallery.write_meta(
        {
            "threshold": repr(float(info.threshold)),
            "threshold_source": info.source,
            "threshold_mode": "auto" if info.auto else "manual",
            "threshold_target_far": repr(float(info.target_far)),
            "threshold_per": info.per,
            "threshold_far": repr(float(info.far)),
            "threshold_frr": repr(float(info.frr)),
            "threshold_weight": repr(float(info.weight)),
        }
    )


def _owners(gallery: Gallery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors, owners, counts)`` of the current snapshot, owners numbered 0..P-1 over
    the people with faces (read-only views: a snapshot is never written)."""
    s = gallery.snapshot()  # one consistent set of rows
    owners = np.unique(s.owners, return_inverse=True)[1].reshape(-1)
    counts = np.bincount(owners) if owners.size else np.zeros(0, int)
    return s.vectors, owners, counts


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def refresh(
    gallery: Gallery,
    *,
    target_far: float | None = None,
    per: str | None = None,
    force: bool = False,
) -> ThresholdInfo:
    """Re-derive the threshold after the gallery changed, and store it.

    Runs after every enrollment and import. A hand-set threshold stays unless ``force``
    (the user asked for calibration). Otherwise: calibrated on the gallery's own faces
    when it has at least 2 people and enough faces (see :data:`MIN_ACCEPTS`), shrunk
    towards the prior while the faces are few (:data:`PRIOR_ACCEPTS`); else the
    :func:`prior_threshold` for its number of people.

    Args:
        gallery: the gallery.
        target_far: the false-accept rate to aim at; ``None`` keeps the gallery's (the
            default :data:`DEFAULT_TARGET_FAR` for a new one).
        per: ``"stranger"`` or ``"pair"``; ``None`` keeps the gallery's.
        force: also replace a threshold set by hand.

    Returns:
        The :class:`ThresholdInfo` now in force.

    Raises:
        InvalidArgumentError: ``target_far`` outside ``(0, 1)`` or a bad ``per``.
    """
    with gallery.locked():  # one writer: the snapshot and the meta agree
        current = threshold_info(gallery)
        if not current.auto and not force:
            return current
        target = current.target_far if target_far is None else float(target_far)
        per = current.per if per is None else per
        if per not in ("stranger", "pair"):
            raise InvalidArgumentError(f"per must be 'stranger' or 'pair', but got {per!r}")
        if not 0.0 < target < 1.0:
            raise InvalidArgumentError(f"target_far must be in (0, 1), but got {target}")
        vectors, owners, counts = _owners(gallery)
        people, faces = int(counts.size), int(owners.size)
        prior = prior_threshold(max(1, people), target, model_id=gallery.model_id)
        genuine = impostor = np.zeros(0)
        if people >= 2:  # the gallery's own faces: to calibrate on, or to measure the prior
            refs = people if gallery.decision.value == "centroid" else faces
            probes = int(np.clip(AUTO_DISTANCE_BUDGET // refs, AUTO_MIN_PROBES, AUTO_MAX_PROBES))
            genuine, impostor = _distances(gallery, vectors, owners, per, probes)
        accepts = impostor.size * target  # impostor samples the target lets through
        if per == "pair":
            can = bool(genuine.size) and accepts >= MIN_ACCEPTS
        else:
            can = people >= 2 and accepts >= MIN_ACCEPTS
        if can:
            cal = choose_threshold(genuine, impostor, target, per=per)
            # A few dozen faces pin the tail of the stranger distances down poorly: the
            # measured cut is shrunk towards the prior (per stranger only) with the
            # weight of PRIOR_ACCEPTS impostor samples at the target.
            weight = 1.0 if per == "pair" else accepts / (accepts + PRIOR_ACCEPTS)
            t = weight * cal.threshold + (1.0 - weight) * prior
            source = f"calibrated on {_people(people)} / {faces} faces"
        else:
            t, weight, source = prior, 0.0, f"prior for {_people(people)}"
        far = float(np.mean(impostor <= t)) if impostor.size else float("nan")
        frr = float(np.mean(genuine > t)) if genuine.size else float("nan")
        info = ThresholdInfo(t, source, True, target, per, far, frr, weight)
        _store(gallery, info)
        return info


def _distances(gallery: Gallery, vectors, owners, per: str, max_probes: int = AUTO_MAX_PROBES):
    from workbench.gallery.types import Decision

    if per == "pair":
        return pair_distances(vectors, owners)
    return stranger_distances(
        vectors,
        owners,
        centroid=gallery.decision is Decision.CENTROID,
        max_probes=max_probes,
    )


def set_by_hand(gallery: Gallery, threshold: float) -> ThresholdInfo:
    """Store a hand-set threshold, which enrollment then leaves alone."""
    current = threshold_info(gallery)
    info = ThresholdInfo(float(threshold), SET_BY_YOU, False, current.target_far, current.per)
    _store(gallery, info)
    return info


def calibrate(
    gallery: Gallery,
    target_far: float | None = None,
    *,
    per: str = "stranger",
    min_faces: int = 2,
    store: bool = True,
    max_probes: int = 20_000,
) -> Calibration:
    """Derive the threshold from the gallery's own faces and (by default) store it.

    Storing it also hands the threshold back to enrollment: later enrollments
    re-calibrate at the same ``target_far`` and ``per`` (see :func:`refresh`), even if it
    had been set by hand before.

    Args:
        gallery: the gallery.
        target_far: the false-accept rate to aim for: per stranger searched against the
            whole gallery (``per="stranger"``) or per impostor pair (``per="pair"``);
            ``None``: :data:`DEFAULT_TARGET_FAR`.
        per: ``"stranger"`` (open set, the default) or ``"pair"`` (verification); see
            the module docstring.
        min_faces: ``per="pair"``: people with fewer faces give no genuine pairs (they
            still serve as impostors); raise to require more evidence per person.
        store: write the threshold into the gallery (``meta`` table).
        max_probes: ``per="stranger"``: probe at most this many faces (a random sample).

    Returns:
        A :class:`Calibration` with the threshold, measured FAR and FRR.

    Raises:
        InvalidArgumentError: ``per`` is neither ``"stranger"`` nor ``"pair"``.
        GalleryError: fewer than 2 people with faces, or (``per="pair"``) no person with
            ``min_faces`` faces.
    """
    if target_far is None:
        target_far = DEFAULT_TARGET_FAR
    if per not in ("stranger", "pair"):
        raise InvalidArgumentError(f"per must be 'stranger' or 'pair', but got {per!r}")
    vectors, owners, counts = _owners(gallery)
    if counts.size < 2:
        raise GalleryError(
            f"{gallery.path}: calibration needs faces of at least 2 people, "
            f"but the gallery has {counts.size}"
        )
    if per == "stranger":
        genuine, impostor = _distances(gallery, vectors, owners, per, max_probes)
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
        source = f"calibrated on {_people(int(counts.size))} / {int(owners.size)} faces"
        _store(
            gallery,
            ThresholdInfo(
                result.threshold, source, True, target_far, per, result.far, result.frr, 1.0
            ),
        )
    return result
