"""Verification on pairs: the LFW protocol, ROC curves and threshold calibration.

The LFW View 2 protocol: for each of the folds, the distance threshold that maximises
accuracy on the other folds is applied to the held-out fold; the result is the mean and
standard deviation of the per-fold accuracies. The number of folds and pairs per fold
come from the pairs file's header, so a file with header ``2 300`` runs two folds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import InvalidArgumentError, WorkbenchError
from workbench.pipeline import (
    embed_chips,  # evaluate's step 2 (re-exported for its callers)
    needs_photo,
)


@dataclass(frozen=True)
class Pair:
    """Two images and whether they show the same person."""

    a: str
    b: str
    same: bool
    fold: int


@dataclass(frozen=True)
class PairsFile:
    """A parsed LFW-style pairs file."""

    n_folds: int
    per_fold: int
    pairs: list[Pair]

    @property
    def images(self) -> list[str]:
        """Every image named by a pair, once, in first-seen order."""
        return list(dict.fromkeys(p for pair in self.pairs for p in (pair.a, pair.b)))

    @property
    def image_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)``: each pair's two images as indices into :attr:`images`."""
        index = {n: i for i, n in enumerate(self.images)}
        a = np.array([index[p.a] for p in self.pairs], np.int64)
        b = np.array([index[p.b] for p in self.pairs], np.int64)
        return a, b

    @property
    def same(self) -> np.ndarray:
        return np.array([p.same for p in self.pairs], bool)

    @property
    def folds(self) -> np.ndarray:
        return np.array([p.fold for p in self.pairs], np.int32)


def lfw_image_path(name: str, number: int) -> str:
    """The relative path LFW uses: ``Name/Name_0001.jpg``."""
    return f"{name}/{name}_{number:04d}.jpg"


def read_pairs(path: str | Path) -> PairsFile:
    """Parse an LFW pairs file: a header ``folds per_fold``, then per fold ``per_fold``
    same-person lines (``name n1 n2``) and ``per_fold`` different-person lines
    (``name1 n1 name2 n2``).

    Raises:
        InvalidArgumentError: a missing file or a line that does not fit the format.
    """
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read pairs file ({exc.strerror})") from None
    if not lines or len(lines[0]) != 2 or not all(t.isdigit() for t in lines[0]):
        raise InvalidArgumentError(f"{path}: expected a header 'folds pairs_per_fold'")
    n_folds, per_fold = int(lines[0][0]), int(lines[0][1])
    body = lines[1:]
    if len(body) < n_folds * 2 * per_fold:
        raise InvalidArgumentError(
            f"{path}: header promises {n_folds} folds of {2 * per_fold} pairs, "
            f"but the file has {len(body)} pair lines"
        )
    pairs = []
    for i, tokens in enumerate(body[: n_folds * 2 * per_fold]):
        fold = i // (2 * per_fold)
        try:
            if len(tokens) == 3:
                pairs.append(
                    Pair(
                        lfw_image_path(tokens[0], int(tokens[1])),
                        lfw_image_path(tokens[0], int(tokens[2])),
                        True,
                        fold,
                    )
                )
            elif len(tokens) == 4:
                pairs.append(
                    Pair(
                        lfw_image_path(tokens[0], int(tokens[1])),
                        lfw_image_path(tokens[2], int(tokens[3])),
                        False,
                        fold,
                    )
                )
            else:
                raise ValueError
        except ValueError:
            raise InvalidArgumentError(
                f"{path}: line {i + 2}: expected 'name n1 n2' or 'name1 n1 name2 n2', "
                f"but got {' '.join(tokens)!r}"
            ) from None
    return PairsFile(n_folds, per_fold, pairs)


def best_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold (``distance <= t`` means same) with the highest accuracy.

    Candidates are midpoints between consecutive sorted distances, so the result does not
    sit exactly on a training pair. Returns ``(threshold, accuracy)``.
    """
    d = np.asarray(distances, np.float64)
    s = np.asarray(same, bool)
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    # Accepting the first k pairs: true accepts = cumsum(same), true rejects = the
    # different pairs after k.
    tp = np.concatenate([[0], np.cumsum(s)])
    tn = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = tp + tn
    # Only cut between distinct distances.
    valid = np.ones(len(d) + 1, bool)
    valid[1:-1] = d[1:] > d[:-1]
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        threshold = d[0] - 1e-6
    elif k == len(d):
        threshold = d[-1] + 1e-6
    else:
        threshold = (d[k - 1] + d[k]) / 2
    return float(threshold), float(correct[k] / len(d))


@dataclass(frozen=True)
class FoldReport:
    """Per-fold accuracies of the k-fold protocol.

    Attributes:
        accuracies: ``(folds,)`` accuracy on each held-out fold.
        thresholds: ``(folds,)`` threshold chosen on the other folds.
        threshold: the threshold chosen on all pairs (the one to use afterwards).
    """

    accuracies: np.ndarray
    thresholds: np.ndarray
    threshold: float

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std())

    def __str__(self) -> str:
        return f"{self.mean:.2%} +- {self.std:.2%} (threshold {self.threshold:.4f})"


def kfold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> FoldReport:
    """Choose the threshold on all folds but one, score the held-out fold, for each fold."""
    distances = np.asarray(distances, np.float64)
    same = np.asarray(same, bool)
    folds = np.asarray(folds)
    if not (len(distances) == len(same) == len(folds)):
        raise InvalidArgumentError("distances, same and folds must have the same length")
    fold_ids = np.unique(folds)
    accs, ths = [], []
    for f in fold_ids:
        test = folds == f
        train = ~test if len(fold_ids) > 1 else test
        t, _ = best_threshold(distances[train], same[train])
        accs.append(float(((distances[test] <= t) == same[test]).mean()))
        ths.append(t)
    overall, _ = best_threshold(distances, same)
    return FoldReport(np.array(accs), np.array(ths), overall)


def kfold_correct(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, FoldReport]:
    """Per pair, whether the k-fold protocol decides it right (each fold's pairs judged
    at the threshold chosen on the other folds), and the :class:`FoldReport`.

    Two verifiers scored on the same pairs can then be compared pair by pair
    (:func:`mcnemar_exact`)."""
    report = kfold_accuracy(distances, same, folds)
    d = np.asarray(distances, np.float64)
    s = np.asarray(same, bool)
    folds = np.asarray(folds)
    correct = np.empty(len(d), bool)
    for f, t in zip(np.unique(folds), report.thresholds, strict=True):
        test = folds == f
        correct[test] = (d[test] <= t) == s[test]
    return correct, report


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` pairs only the first verifier got right,
    ``c`` only the second (the binomial test of ``b`` against ``b + c`` at 1/2)."""
    if b < 0 or c < 0:
        raise InvalidArgumentError(f"counts must be non-negative, but got {b} and {c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class RocCurve:
    """Receiver operating characteristic over distance thresholds.

    Attributes:
        thresholds: ``(m,)`` increasing distance thresholds.
        far: ``(m,)`` false accept rate (impostor pairs with distance <= threshold).
        tar: ``(m,)`` true accept rate (genuine pairs with distance <= threshold).
    """

    thresholds: np.ndarray
    far: np.ndarray
    tar: np.ndarray

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.tar, self.far))

    def tar_at_far(self, far: float) -> float:
        """The true accept rate at the largest threshold whose FAR is at most ``far``."""
        ok = self.far <= far
        return float(self.tar[ok].max()) if ok.any() else 0.0


def roc_curve(distances: np.ndarray, same: np.ndarray) -> RocCurve:
    """ROC of a distance-based verifier (accept when ``distance <= threshold``)."""
    d = np.asarray(distances, np.float64)
    s = np.asarray(same, bool)
    if s.all() or (~s).all():
        raise InvalidArgumentError("an ROC needs both genuine and impostor pairs")
    thresholds = np.unique(d)
    order = np.sort(d[s]), np.sort(d[~s])
    tar = np.searchsorted(order[0], thresholds, side="right") / s.sum()
    far = np.searchsorted(order[1], thresholds, side="right") / (~s).sum()
    thresholds = np.concatenate([[thresholds[0] - 1e-6], thresholds])
    return RocCurve(thresholds, np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]))


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` in increasing order, ties sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # A group of c equal values after k smaller ones holds ranks k+1 .. k+c.
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (before + (counts + 1) / 2.0)[inverse.ravel()]


def auc_placements(distances: np.ndarray, same: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The ROC area of a distance verifier (accept when ``distance <= t``) as the
    Mann-Whitney count, and its placements (DeLong et al. 1988).

    ``auc`` is the share of (genuine, impostor) pairs of pairs whose genuine distance is
    the smaller, ties counting a half (the area under :func:`roc_curve`). The placement
    of a genuine pair is the share of impostor pairs it beats, that of an impostor pair
    the share of genuine pairs that beat it; both average to ``auc``. Computed from
    midranks (Sun and Xu 2014) in O(n log n), not from the O(genuine x impostor) table.

    Returns:
        ``(auc, genuine placements (m,), impostor placements (n,))``.

    Raises:
        InvalidArgumentError: lengths differ, a distance is not finite, or one class is
            missing.
    """
    d = np.asarray(distances, np.float64).ravel()
    s = np.asarray(same, bool).ravel()
    if d.shape != s.shape:
        raise InvalidArgumentError(
            f"distances and same must have one length, but got {d.size} and {s.size}"
        )
    if not np.isfinite(d).all():
        raise InvalidArgumentError("distances must be finite")
    m, n = int(s.sum()), int((~s).sum())
    if not m or not n:
        raise InvalidArgumentError("an ROC area needs both genuine and impostor pairs")
    # Larger score = more alike: the ranks of -d.
    score = -d
    both = _midranks(score)
    genuine = (both[s] - _midranks(score[s])) / n
    impostor = 1.0 - (both[~s] - _midranks(score[~s])) / m
    return float(genuine.mean()), genuine, impostor


@dataclass(frozen=True)
class DelongTest:
    """DeLong's test of two correlated ROC areas: two verifiers scored on the same pairs
    (:func:`delong_test`).

    Attributes:
        auc_a, auc_b: the two ROC areas.
        difference: ``auc_b - auc_a``.
        se: the standard error of the difference (0 when the two rank every pair alike).
        z: ``difference / se`` (0 when both are 0).
        p: two-sided p-value of ``z`` under the normal distribution.
        genuine, impostor: how many pairs of each kind.
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p: float
    genuine: int
    impostor: int

    def __str__(self) -> str:
        return (
            f"AUC {self.auc_a:.5f} -> {self.auc_b:.5f} ({self.difference:+.5f} "
            f"+- {self.se:.5f}, z = {self.z:.2f}, p = {self.p:.2g})"
        )


def delong_test(distances_a: np.ndarray, distances_b: np.ndarray, same: np.ndarray) -> DelongTest:
    """DeLong, DeLong and Clarke-Pearson's (1988) test that two verifiers scored on the
    same pairs have the same ROC area; unlike :func:`mcnemar_exact` it needs no
    threshold, so it can speak where either verifier makes few errors.

    The variance of each area and their covariance come from the placements
    (:func:`auc_placements`): ``var(auc_b - auc_a) = var_g(P_b - P_a) / m +
    var_i(P_b - P_a) / n`` over the ``m`` genuine and ``n`` impostor pairs (sample
    variances). It reproduces pROC's documented ``roc.test`` example (aSAH, s100b
    against wfns: z = -2.209, p = 0.0272).

    Raises:
        InvalidArgumentError: see :func:`auc_placements`; or the two lengths differ.
    """
    a = np.asarray(distances_a, np.float64).ravel()
    b = np.asarray(distances_b, np.float64).ravel()
    if a.shape != b.shape:
        raise InvalidArgumentError(
            f"the two verifiers must score the same pairs, but got {a.size} and {b.size}"
        )
    auc_a, ga, ia = auc_placements(a, same)
    auc_b, gb, ib = auc_placements(b, same)
    m, n = len(ga), len(ia)
    # With one pair of a kind its placement's variance is unknown: taken as 0.
    var = (np.var(gb - ga, ddof=1) / m if m > 1 else 0.0) + (
        np.var(ib - ia, ddof=1) / n if n > 1 else 0.0
    )
    diff = auc_b - auc_a
    se = math.sqrt(max(float(var), 0.0))
    # Rounding leaves a few ulps where the two rank every pair alike.
    if se <= 1e-12 and abs(diff) <= 1e-12:
        z, p, diff, se = 0.0, 1.0, 0.0, 0.0
    elif se == 0.0:
        z, p = math.copysign(math.inf, diff), 0.0
    else:
        z = diff / se
        p = math.erfc(abs(z) / math.sqrt(2.0))
    return DelongTest(auc_a, auc_b, diff, se, z, p, m, n)


def threshold_at_far(impostor_distances: np.ndarray, target_far: float) -> float:
    """The largest threshold whose false accept rate on these impostor pairs is at most
    ``target_far`` (accept when ``distance <= threshold``)."""
    if not 0.0 <= target_far < 1.0:
        raise InvalidArgumentError(f"target_far must be in [0, 1), but got {target_far}")
    d = np.sort(np.asarray(impostor_distances, np.float64))
    if not len(d):
        raise InvalidArgumentError("threshold_at_far needs at least one impostor distance")
    allowed = int(np.floor(target_far * len(d)))
    # Accepting `allowed` impostors: cut just below the next one.
    return float(np.nextafter(d[allowed], -np.inf)) if allowed < len(d) else float(d[-1])


def named_pair_distances(embeddings: np.ndarray, index: dict[str, int], pairs: Sequence[Pair]):
    """Euclidean distance of each pair's two embeddings."""
    a = embeddings[[index[p.a] for p in pairs]]
    b = embeddings[[index[p.b] for p in pairs]]
    return np.linalg.norm(a - b, axis=1)


@dataclass
class EmbeddingRun:
    """Embeddings of a list of images through detect, align, embed.

    Attributes:
        embeddings: ``(n, 128)`` float32, one per image.
        no_face: ``(n,)`` bool, images where the detector found no face (these were
            aligned with the mean keypoints of the detected faces instead).
        seconds: wall time of the whole run.
    """

    embeddings: np.ndarray
    no_face: np.ndarray
    seconds: float
    detector: str
    flip: bool

    @property
    def images_per_second(self) -> float:
        return len(self.embeddings) / self.seconds if self.seconds else float("nan")


@dataclass
class AlignedImages:
    """One aligned chip per image.

    Attributes:
        chips: ``(n, 150, 150, 3)`` uint8 RGB.
        no_face: ``(n,)`` bool, images where the detector found no face; these were
            aligned with the mean keypoints of the detected faces instead.
        seconds: wall time of reading, detecting and aligning.
    """

    chips: np.ndarray
    no_face: np.ndarray
    seconds: float
    detector: str


def align_images(
    paths: Sequence[str | Path],
    *,
    detector,
    batch_size: int = 64,
    progress: bool = True,
) -> AlignedImages:
    """Detect and align one face (the central one) per image, through
    :func:`workbench.pipeline.face_chips` with ``pick="central"``.

    Images without a detection are aligned with the mean keypoints of the detected faces
    (LFW images are roughly centred), and flagged in ``no_face``.
    """
    from tqdm.auto import tqdm

    from workbench.align import align_face, template_for
    from workbench.images import load_image
    from workbench.pipeline import face_chips

    start = time.perf_counter()
    bar = tqdm(total=len(paths), desc=f"detect ({detector.name})", disable=not progress)
    try:
        picked = face_chips(
            paths, detector=detector, pick="central", batch_size=batch_size, progress=bar.update
        )
    finally:
        bar.close()
    found = picked.found
    if not found.any():
        raise WorkbenchError(f"the {detector.name} detector found no face in any image")
    chips = np.empty((len(paths), *picked.chips.shape[1:]), np.uint8)
    chips[picked.index] = picked.chips
    if not found.all():
        # The few images without a face are read again (rather than all images kept in
        # memory for them) and aligned at the mean keypoints of the faces found.
        mean_kp = np.mean([f.keypoints[0] for f in picked.faces if len(f)], axis=0)
        template = template_for(detector)
        for i in np.flatnonzero(~found):
            chips[i] = align_face(load_image(paths[i]), mean_kp, template=template)
    return AlignedImages(chips, ~found, time.perf_counter() - start, detector.name)


def embed_photos(
    paths: Sequence[str | Path], *, detector, embedder
) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (n, D), no_face (n,))``: the central face of each image embedded from
    the photo (:func:`workbench.pipeline.embed_faces`); images without a face at the
    mean keypoints of the faces found (read again, as :func:`align_images` does)."""
    from workbench.faces import FaceDetections
    from workbench.images import load_image
    from workbench.pipeline import embed_faces, picked_faces

    vectors: list[np.ndarray | None] = []
    kps = []
    for image, face in picked_faces(paths, detector=detector, pick="central", batch_size=64):
        if len(face):
            kps.append(face.keypoints[0])
            vectors.append(embed_faces(image, face, detector=detector, embedder=embedder)[0])
        else:
            vectors.append(None)
    missing = [i for i, v in enumerate(vectors) if v is None]
    if len(missing) == len(vectors):
        raise WorkbenchError(f"the {detector.name} detector found no face in any image")
    if missing:
        mean = np.mean(kps, axis=0, dtype=np.float64)
        face = FaceDetections(
            np.array([[0, 0, 1, 1]], np.float32),
            np.ones(1, np.float32),
            mean[None].astype(np.float32),
        )
        for i in missing:
            image = load_image(paths[i])
            vectors[i] = embed_faces(image, face, detector=detector, embedder=embedder)[0]
    no_face = np.zeros(len(vectors), bool)
    no_face[missing] = True
    return np.stack(vectors).astype(np.float32), no_face


def embed_images(
    paths: Sequence[str | Path],
    *,
    detector,
    embedder,
    flip: bool = False,
    progress: bool = True,
) -> EmbeddingRun:
    """Detect, align and embed one face (the central one) per image.

    An embedder that cuts its own chips from the photo (the fused one) embeds each image
    as it is read (:func:`embed_photos`); ``flip`` is then its own business.
    """
    start = time.perf_counter()
    if needs_photo(embedder):
        if flip:
            raise InvalidArgumentError(
                "--flip is for --embedder dlib; the fused embedder flips its chips itself"
            )
        embeddings, no_face = embed_photos(paths, detector=detector, embedder=embedder)
        return EmbeddingRun(embeddings, no_face, time.perf_counter() - start, detector.name, False)
    aligned = align_images(paths, detector=detector, progress=progress)
    embeddings = embed_chips(aligned.chips, embedder=embedder, flip=flip)
    return EmbeddingRun(
        embeddings, aligned.no_face, time.perf_counter() - start, detector.name, flip
    )


@dataclass
class LfwReport:
    """Result of :func:`evaluate_lfw`."""

    folds: FoldReport
    roc: RocCurve
    run: EmbeddingRun
    n_pairs: int
    n_images: int
    distances: np.ndarray = field(repr=False)
    same: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        return {
            "detector": self.run.detector,
            "flip": self.run.flip,
            # 320: the fused embedder (the default), 128: dlib's network alone.
            "embedding_dim": int(self.run.embeddings.shape[1]),
            "folds": len(self.folds.accuracies),
            "pairs": self.n_pairs,
            "images": self.n_images,
            "accuracy_mean": round(self.folds.mean, 5),
            "accuracy_std": round(self.folds.std, 5),
            "fold_accuracies": [round(float(a), 4) for a in self.folds.accuracies],
            "threshold": round(self.folds.threshold, 4),
            "auc": round(self.roc.auc, 5),
            "images_without_face": int(self.run.no_face.sum()),
            "no_face_policy": "aligned with the mean keypoints of detected faces",
            "images_per_second": round(self.run.images_per_second, 2),
            "seconds": round(self.run.seconds, 1),
        }


def evaluate_lfw(
    images_dir: str | Path,
    pairs_file: str | Path,
    *,
    detector,
    embedder,
    flip: bool = False,
    progress: bool = True,
) -> LfwReport:
    """The full pipeline over the images of an LFW pairs file, scored k-fold."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InvalidArgumentError(f"{images_dir}: not a folder of LFW images")
    pairs = read_pairs(pairs_file)
    names = pairs.images
    missing = [n for n in names if not (images_dir / n).is_file()]
    if missing:
        raise InvalidArgumentError(
            f"{images_dir}: {len(missing)} images named in {pairs_file} are missing, "
            f"e.g. {missing[0]}"
        )
    run = embed_images(
        [images_dir / n for n in names],
        detector=detector,
        embedder=embedder,
        flip=flip,
        progress=progress,
    )
    index = {n: i for i, n in enumerate(names)}
    distances = named_pair_distances(run.embeddings, index, pairs.pairs)
    same = pairs.same
    return LfwReport(
        kfold_accuracy(distances, same, pairs.folds),
        roc_curve(distances, same),
        run,
        len(pairs.pairs),
        len(names),
        distances,
        same,
    )


@dataclass(frozen=True)
class ClusterScores:
    """How well predicted groups of faces match the true people.

    Pairwise: over all pairs of faces, precision = pairs put together that are the same
    person / pairs put together; recall = same-person pairs put together / same-person
    pairs. BCubed (Bagga and Baldwin): per face, precision = share of its cluster that
    is its person, recall = share of its person that is in its cluster; averaged over
    faces, so a big person weighs by its photos, not by its pairs. A face in no cluster
    (label ``-1``) counts as a cluster of its own.
    """

    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    clusters: int
    people: int
    singletons: int

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score_clustering(labels, truth) -> ClusterScores:
    """Pairwise and BCubed scores of predicted ``labels`` (``(n,)``, ``-1`` = in no
    cluster) against ``truth`` (``(n,)`` person of each face).

    ``clusters`` counts predicted groups of two or more faces, ``singletons`` the faces
    left alone (noise or groups of one).

    Raises:
        InvalidArgumentError: arrays of different lengths, or empty.
    """
    labels = np.asarray(labels).ravel()
    truth = np.asarray(truth).ravel()
    if labels.shape != truth.shape or not labels.size:
        raise InvalidArgumentError(
            f"labels and truth must be non-empty and of one length, but got "
            f"{labels.size} and {truth.size}"
        )
    labels = labels.astype(np.int64).copy()
    alone = labels < 0
    # Each face in no cluster becomes a cluster of its own.
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    _, pred = np.unique(labels, return_inverse=True)
    _, true = np.unique(truth, return_inverse=True)
    pred, true = pred.ravel(), true.ravel()
    # Contingency counts of (cluster, person) cells that occur.
    cell, cell_of = np.unique(pred * (true.max() + 1) + true, return_inverse=True)
    n_cell = np.bincount(cell_of.ravel())
    n_pred = np.bincount(pred)
    n_true = np.bincount(true)

    def pairs(c):
        c = c.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    together, same, both = pairs(n_pred), pairs(n_true), pairs(n_cell)
    pp = both / together if together else 1.0
    pr = both / same if same else 1.0
    per_face = n_cell[cell_of.ravel()].astype(np.float64)
    bp = float(np.mean(per_face / n_pred[pred]))
    br = float(np.mean(per_face / n_true[true]))
    return ClusterScores(
        pp,
        pr,
        _f(pp, pr),
        bp,
        br,
        _f(bp, br),
        int((n_pred >= 2).sum()),
        len(n_true),
        int((n_pred == 1).sum()),
    )
