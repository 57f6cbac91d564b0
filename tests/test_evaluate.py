"""The verification protocol's arithmetic, checked against brute force and scikit-learn."""

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.evaluate import (
    auc_placements,
    best_threshold,
    delong_test,
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
    # Each pair's images as indices into `images`, what the benchmarks index vectors by.
    a, b = full.image_indices
    assert a.shape == b.shape == (6000,)
    assert [full.images[i] for i in a[:3]] == [p.a for p in full.pairs[:3]]
    assert [full.images[i] for i in b[-3:]] == [p.b for p in full.pairs[-3:]]
    assert full.images[int(a[0])] != full.images[int(b[0])]


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


def _brute_placements(d, same):
    """The Mann-Whitney table itself: psi = 1 where the genuine distance is the smaller,
    1/2 on a tie, 0 otherwise; genuine rows by impostor columns."""
    g, i = d[same], d[~same]
    psi = np.array([[1.0 if x < y else 0.5 if x == y else 0.0 for y in i] for x in g])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def _tied_pairs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    # Rounded to 0.05, so many distances tie within and across the two kinds.
    a = np.round(np.where(same, rng.normal(0.5, 0.15, n), rng.normal(0.8, 0.15, n)) * 20) / 20
    b = np.round((0.6 * a + rng.normal(0, 0.1, n)) * 20) / 20
    return a, b, same


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_placements_are_the_mann_whitney_count(seed):
    a, _, same = _tied_pairs(seed=seed)
    auc, genuine, impostor = auc_placements(a, same)
    brute_auc, brute_g, brute_i = _brute_placements(a, same)
    assert auc == pytest.approx(brute_auc, abs=1e-12)
    np.testing.assert_allclose(genuine, brute_g, atol=1e-12)
    np.testing.assert_allclose(impostor, brute_i, atol=1e-12)
    # The same area as under the ROC curve (ties are its diagonal steps).
    assert auc == pytest.approx(roc_curve(a, same).auc, abs=1e-12)


def test_delong_worked_example():
    # Genuine 0.1 beats both impostors (placement 1), genuine 0.6 only 0.9 (1/2);
    # impostor 0.4 is beaten by one genuine (1/2), 0.9 by both (1): AUC 0.75. Scorer b
    # separates all (placements 1). Differences: genuine (0, 1/2), impostor (1/2, 0),
    # each of sample variance 1/8, over 2 pairs: var = 1/16 + 1/16, se = sqrt(1/8).
    same = np.array([True, True, False, False])
    r = delong_test(np.array([0.1, 0.6, 0.4, 0.9]), np.array([0.1, 0.2, 0.4, 0.9]), same)
    assert (r.auc_a, r.auc_b, r.difference) == (0.75, 1.0, 0.25)
    assert r.se == pytest.approx(np.sqrt(1 / 8))
    assert r.z == pytest.approx(0.25 / np.sqrt(1 / 8))
    assert r.p == pytest.approx(0.4795001221869535)  # erfc(0.5): two-sided at z = 1/sqrt(2)
    assert (r.genuine, r.impostor) == (2, 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_variance_matches_the_brute_force_placements(seed):
    a, b, same = _tied_pairs(seed=seed)
    r = delong_test(a, b, same)
    _, ga, ia = _brute_placements(a, same)
    _, gb, ib = _brute_placements(b, same)
    # DeLong's covariance matrices of the two areas, entry by entry.
    s10, s01 = np.cov(np.stack([ga, gb])), np.cov(np.stack([ia, ib]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(ga) + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / len(ia)
    assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)
    assert r.difference == pytest.approx(gb.mean() - ga.mean(), abs=1e-12)


def test_delong_identical_scorers_differ_by_nothing():
    a, _, same = _tied_pairs()
    for other in (a, 3 * a + 1):  # the same ranking, so the same area
        r = delong_test(a, other, same)
        assert (r.difference, r.se, r.z, r.p) == (0.0, 0.0, 0.0, 1.0)
        assert r.auc_a == r.auc_b
    assert "p = 1" in str(r)


def test_delong_finds_a_clearly_better_scorer():
    rng = np.random.default_rng(5)
    same = rng.random(600) < 0.5
    shared = rng.normal(0, 0.1, 600)
    weak = np.where(same, 0.5, 0.7) + shared + rng.normal(0, 0.15, 600)
    strong = np.where(same, 0.5, 0.7) + shared + rng.normal(0, 0.02, 600)
    r = delong_test(weak, strong, same)
    assert r.auc_b > r.auc_a and r.z > 3 and r.p < 1e-3
    back = delong_test(strong, weak, same)
    assert back.z == pytest.approx(-r.z) and back.p == pytest.approx(r.p)


def test_delong_standard_error_is_the_spread_over_repeated_samples():
    # The variance estimate, not only its formula: over many independent samples the
    # differences spread as far as the mean standard error says (a factor of 2 would
    # show here).
    rng = np.random.default_rng(7)
    diffs, ses = [], []
    for _ in range(300):
        same = rng.random(200) < 0.5
        shared = rng.normal(0, 0.1, 200)
        a = np.where(same, 0.5, 0.65) + shared + rng.normal(0, 0.08, 200)
        b = np.where(same, 0.5, 0.65) + shared + rng.normal(0, 0.05, 200)
        r = delong_test(a, b, same)
        diffs.append(r.difference)
        ses.append(r.se)
    assert 0.85 < np.std(diffs) / np.mean(ses) < 1.15


def test_delong_refuses_bad_input():
    d, same = np.array([0.1, 0.2, 0.3]), np.array([True, False, True])
    with pytest.raises(InvalidArgumentError, match="same pairs"):
        delong_test(d, d[:2], same)
    with pytest.raises(InvalidArgumentError, match="both genuine and impostor"):
        delong_test(d, d, np.ones(3, bool))
    with pytest.raises(InvalidArgumentError, match="finite"):
        delong_test(d, np.array([0.1, np.nan, 0.3]), same)
    with pytest.raises(InvalidArgumentError, match="one length"):
        auc_placements(d, same[:2])
