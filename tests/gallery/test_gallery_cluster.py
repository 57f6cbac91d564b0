"""Clustering unnamed faces: synthetic groups, scikit-learn as the reference, real LFW faces."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.evaluate import score_clustering
from workbench.gallery import cluster as cluster_mod
from workbench.gallery.cluster import DEFAULT_THRESHOLD, cluster_embeddings, normalize


def _blobs(sizes, *, spread=0.05, seed=0, dim=128):
    """Groups of unit vectors around random centres, far apart in 128 dimensions."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for person, size in enumerate(sizes):
        centre = rng.normal(size=dim)
        centre /= np.linalg.norm(centre)
        rows.append(centre + rng.normal(scale=spread / np.sqrt(dim), size=(size, dim)))
        truth += [person] * size
    # Scale each row differently: the clustering must not care about the norm.
    x = np.concatenate(rows) * rng.uniform(1.2, 1.7, size=(len(truth), 1))
    return x.astype(np.float32), np.array(truth)


def test_recovers_separated_groups_largest_first():
    x, truth = _blobs([5, 9, 2, 1])
    c = cluster_embeddings(x)
    assert c.n_clusters == 3
    # Largest first: the 9-face person is cluster 0.
    assert set(c.labels[truth == 1]) == {0}
    assert set(c.labels[truth == 0]) == {1}
    assert set(c.labels[truth == 2]) == {2}
    assert c.labels[truth == 3].tolist() == [-1]
    assert c.unclustered.tolist() == [int(np.flatnonzero(truth == 3)[0])]
    assert [len(k) for k in c.clusters] == [9, 5, 2]


@pytest.mark.parametrize(("min_size", "expected"), [(1, 4), (2, 3), (3, 2), (10, 0)])
def test_min_size(min_size, expected):
    x, _ = _blobs([5, 9, 2, 1])
    assert cluster_embeddings(x, min_size=min_size).n_clusters == expected


def test_same_partition_as_scikit_learn_average_linkage():
    from sklearn.cluster import AgglomerativeClustering

    # Random points in few dimensions: the cut at the threshold decides every merge.
    x = np.random.default_rng(3).normal(size=(60, 3)).astype(np.float32)
    ours = cluster_embeddings(x, threshold=DEFAULT_THRESHOLD, min_size=1).labels
    ref = AgglomerativeClustering(
        n_clusters=None, linkage="average", distance_threshold=DEFAULT_THRESHOLD
    ).fit_predict(normalize(x.astype(np.float64)))
    assert 1 < len(set(ours)) < len(x)
    assert score_clustering(ours, ref).bcubed_f == pytest.approx(1.0)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_faces(n):
    c = cluster_embeddings(np.ones((n, 128)))
    assert c.labels.tolist() == [-1] * n and c.n_clusters == 0
    assert cluster_embeddings(np.ones((n, 128)), min_size=1).n_clusters == n


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embeddings": np.zeros(5)}, "shape"),
        ({"embeddings": np.zeros((3, 0))}, "shape"),
        ({"embeddings": np.array([[1.0, np.nan]])}, "NaN"),
        ({"embeddings": np.array([["a", "b"]])}, "dtype"),
        ({"embeddings": np.ones((2, 4)), "threshold": 0}, "threshold"),
        ({"embeddings": np.ones((2, 4)), "threshold": 2.5}, "threshold"),
        ({"embeddings": np.ones((2, 4)), "min_size": 0}, "min_size"),
        ({"embeddings": np.ones((2, 4)), "min_size": 1.5}, "min_size"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        cluster_embeddings(**kwargs)


def test_too_many_faces(monkeypatch):
    monkeypatch.setattr(cluster_mod, "MAX_FACES", 10)
    with pytest.raises(InvalidArgumentError, match="at most 10"):
        cluster_embeddings(np.ones((11, 4)))


PEOPLE = ["Colin_Powell", "Serena_Williams", "Hugo_Chavez", "Ariel_Sharon", "Laura_Bush"]


def test_real_faces_group_by_person(lfw_dir, mediapipe_detector):
    """Six photos each of five LFW people, through the real pipeline: one group each."""
    from workbench.embed import default_embedder
    from workbench.evaluate import align_images, embed_chips

    paths = [p for person in PEOPLE for p in sorted((lfw_dir / person).glob("*.jpg"))[:6]]
    truth = np.array([p.parent.name for p in paths])
    aligned = align_images(paths, detector=mediapipe_detector, progress=False)
    x = embed_chips(aligned.chips, embedder=default_embedder())
    c = cluster_embeddings(x)
    scores = score_clustering(c.labels, truth)
    # Measured: every photo with its person. A margin for a detector or model update.
    assert scores.bcubed_precision >= 0.95
    assert scores.bcubed_f >= 0.85
    assert 4 <= c.n_clusters <= 7
