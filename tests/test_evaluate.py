"""The verification protocol's arithmetic, checked against brute force and scikit-learn."""

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.evaluate import (
    best_threshold,
    kfold_accuracy,
    kfold_correct,
    mcnemar_exact,
    read_pairs,
    roc_curve,
    threshold_at_far,
)


def _synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    d = np.where(same, rng.normal(0.4, 0.1, n), rng.normal(0.8, 0.1, n))
    return d, same


def test_best_threshold_matches_brute_force():
    d, same = _synthetic()
    t, acc = best_threshold(d, same)
    brute = max(((d <= c) == same).mean() for c in np.unique(d))
    assert acc == pytest.approx(brute)
    assert ((d <= t) == same).mean() == pytest.approx(acc)
    assert not np.isclose(d, t).any(), "the threshold must fall between pairs"


def test_best_threshold_edge_cases():
    t, acc = best_threshold(np.array([0.1, 0.2]), np.array([False, False]))
    assert acc == 1.0 and t < 0.1
    t, acc = best_threshold(np.array([0.1, 0.2]), np.array([True, True]))
    assert acc == 1.0 and t >= 0.2


def test_kfold_uses_other_folds():
    d, same = _synthetic(600)
    folds = np.repeat(np.arange(10), 60)
    report = kfold_accuracy(d, same, folds)
    assert report.accuracies.shape == (10,)
    for f in range(10):
        t, _ = best_threshold(d[folds != f], same[folds != f])
        assert report.thresholds[f] == pytest.approx(t)
    assert 0.95 < report.mean <= 1.0
    assert "+-" in str(report)


def test_roc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    d, same = _synthetic()
    roc = roc_curve(d, same)
    assert roc.auc == pytest.approx(roc_auc_score(same, -d), abs=1e-9)
    assert np.all(np.diff(roc.far) >= 0) and np.all(np.diff(roc.tar) >= 0)
    assert roc.far[-1] == 1.0 and roc.tar[-1] == 1.0
    assert 0.0 <= roc.tar_at_far(0.01) <= 1.0
    with pytest.raises(InvalidArgumentError):
        roc_curve(d, np.ones_like(same))


@pytest.mark.parametrize("far", [0.0, 0.001, 0.01, 0.1])
def test_threshold_at_far_accepts_at_most_that_many(far):
    impostors = np.random.default_rng(1).normal(0.8, 0.1, 5000)
    t = threshold_at_far(impostors, far)
    assert (impostors <= t).mean() <= far
    assert (impostors <= np.nextafter(np.sort(impostors)[int(far * 5000)], np.inf)).mean() > far


def test_read_pairs_two_fold_slice(lfw_pairs_file, tmp_path):
    lines = lfw_pairs_file.read_text().splitlines()
    short = tmp_path / "pairs.txt"
    short.write_text("\n".join(["2\t300", *lines[1:1201]]) + "\n")
    pairs = read_pairs(short)
    assert (pairs.n_folds, pairs.per_fold, len(pairs.pairs)) == (2, 300, 1200)
    assert pairs.same.sum() == 600
    assert pairs.pairs[0].a == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert pairs.pairs[0].b == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert set(pairs.folds) == {0, 1}
    full = read_pairs(lfw_pairs_file)
    assert len(full.pairs) == 6000 and len(full.images) == 7701


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "header"),
        ("1 2\nA 1 2\n", "promises"),
        ("1 1\nA 1 2\nA x B 2\n", "line 3"),
        ("1 1\nA 1 2\nA 1\n", "line 3"),
    ],
)
def test_read_pairs_errors(tmp_path, text, match):
    path = tmp_path / "p.txt"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=match):
        read_pairs(path)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        read_pairs(tmp_path / "absent.txt")


def test_lfw_one_fold_slice_through_the_whole_pipeline(lfw_dir, lfw_pairs_file, tmp_path):
    """Fold 1 of LFW View 2 (600 pairs, about 1,150 images) with MediaPipe detection:
    the full protocol runs end to end and the model separates people. The 10-fold MTCNN
    figure (about 15 minutes) lives in benchmarks/lfw.py."""
    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.evaluate import evaluate_lfw

    lines = lfw_pairs_file.read_text().splitlines()
    one_fold = tmp_path / "pairs.txt"
    one_fold.write_text("\n".join(["1\t300", *lines[1:601]]) + "\n")
    with create_detector("mediapipe") as detector:
        report = evaluate_lfw(
            lfw_dir, one_fold, detector=detector, embedder=default_embedder(), progress=False
        )
    summary = report.summary()
    print(f"\nLFW fold 1, mediapipe: {summary}")
    assert summary["pairs"] == 600 and summary["folds"] == 1
    assert summary["accuracy_mean"] >= 0.97
    assert 0.4 < summary["threshold"] < 0.8
    assert summary["images_without_face"] < 30


def _brute_scores(labels, truth):
    """Pairwise and BCubed by their definitions, face by face (noise = own cluster)."""
    labels = [lab if lab >= 0 else f"alone{i}" for i, lab in enumerate(labels)]
    n = len(labels)
    together = same = both = 0
    for i in range(n):
        for j in range(i + 1, n):
            t, s = labels[i] == labels[j], truth[i] == truth[j]
            together += t
            same += s
            both += t and s
    bp = np.mean(
        [
            sum(labels[j] == labels[i] and truth[j] == truth[i] for j in range(n))
            / sum(labels[j] == labels[i] for j in range(n))
            for i in range(n)
        ]
    )
    br = np.mean(
        [
            sum(labels[j] == labels[i] and truth[j] == truth[i] for j in range(n))
            / sum(truth[j] == truth[i] for j in range(n))
            for i in range(n)
        ]
    )
    return both / together, both / same, bp, br


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_clustering_matches_definitions(seed):
    from workbench.evaluate import score_clustering

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 6, size=40)
    labels = np.where(rng.random(40) < 0.2, -1, (truth + (rng.random(40) < 0.3)) % 5)
    s = score_clustering(labels, truth)
    pp, pr, bp, br = _brute_scores(labels.tolist(), truth.tolist())
    assert (s.pairwise_precision, s.pairwise_recall) == pytest.approx((pp, pr))
    assert (s.bcubed_precision, s.bcubed_recall) == pytest.approx((bp, br))
    assert s.bcubed_f == pytest.approx(2 * bp * br / (bp + br))
    assert s.people == len(set(truth.tolist()))
    sizes = {}
    for i, lab in enumerate(labels.tolist()):
        key = lab if lab >= 0 else f"alone{i}"
        sizes[key] = sizes.get(key, 0) + 1
    assert s.singletons == sum(v == 1 for v in sizes.values())
    assert s.clusters == sum(v >= 2 for v in sizes.values())


def test_score_clustering_pairwise_matches_scikit_learn():
    from sklearn.metrics.cluster import pair_confusion_matrix

    from workbench.evaluate import score_clustering

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 8, size=200)
    labels = (truth + (rng.random(200) < 0.25)) % 7
    (_, fp), (fn, tp) = pair_confusion_matrix(truth, labels) // 2
    s = score_clustering(labels, truth)
    assert s.pairwise_precision == pytest.approx(tp / (tp + fp))
    assert s.pairwise_recall == pytest.approx(tp / (tp + fn))


def test_score_clustering_perfect_and_errors():
    from workbench.evaluate import score_clustering

    s = score_clustering([0, 0, 1, -1], ["a", "a", "b", "c"])
    assert s.bcubed_f == 1.0 and s.pairwise_f == 1.0
    assert (s.clusters, s.singletons, s.people) == (1, 2, 3)
    with pytest.raises(InvalidArgumentError):
        score_clustering([0, 1], ["a"])
    with pytest.raises(InvalidArgumentError):
        score_clustering([], [])


def test_kfold_correct_matches_kfold_accuracy():
    rng = np.random.default_rng(3)
    same = rng.random(600) < 0.5
    d = np.where(same, rng.normal(0.45, 0.1, 600), rng.normal(0.75, 0.1, 600))
    folds = np.repeat(np.arange(10), 60)
    correct, report = kfold_correct(d, same, folds)
    per_fold = [correct[folds == f].mean() for f in range(10)]
    np.testing.assert_allclose(per_fold, report.accuracies)
    np.testing.assert_allclose(report.accuracies, kfold_accuracy(d, same, folds).accuracies)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 5), (3, 11), (20, 20), (40, 17)])
def test_mcnemar_exact_matches_scipys_binomial_test(b, c):
    from scipy.stats import binomtest

    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InvalidArgumentError):
        mcnemar_exact(-1, 2)
