"""Search: exact against brute force, the approximate index against exact, decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.errors import InvalidArgumentError
from workbench.gallery import Decision, FaceBatch, Gallery, IndexOptions, Match, SearchResult


def _brute(queries, vectors, owners, centroid):
    people = np.unique(owners)
    out = []
    for q in queries:
        per = {}
        for o in people:
            v = vectors[owners == o]
            per[o] = (
                np.linalg.norm(q - v.mean(0)) if centroid else np.linalg.norm(q - v, axis=1).min()
            )
        out.append(sorted(per.items(), key=lambda kv: kv[1]))
    return out


@pytest.mark.parametrize("decision", list(Decision))
def test_exact_matches_brute_force(gallery_path, decision) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((60, 128)).astype(np.float32) * 0.1
    owners = np.repeat(np.arange(12), 5)
    with Gallery(gallery_path, model_id=MODEL, decision=decision) as gallery:
        for p in range(12):
            gallery.add_embeddings(f"p{p}", vectors[owners == p])
        queries = rng.standard_normal((7, 128)).astype(np.float32) * 0.1
        result = gallery.search(queries, k=3)
        expected = _brute(queries, vectors, owners, decision is Decision.CENTROID)
        assert result.names.shape == (7, 3) and result.distances.dtype == np.float32
        for i in range(7):
            assert list(result.names[i]) == [f"p{o}" for o, _ in expected[i][:3]]
            np.testing.assert_allclose(
                result.distances[i], [d for _, d in expected[i][:3]], atol=1e-5
            )
        np.testing.assert_array_equal(result.accepted, result.distances <= gallery.threshold)


def test_default_decision_is_centroid(gallery) -> None:
    assert gallery.decision is Decision.CENTROID


def test_k_larger_than_people_pads(gallery) -> None:
    gallery.add_embeddings("a", face_vector(0, 0)[None])
    result = gallery.search(face_vector(0, 1), k=3)
    assert result.names.tolist() == [["a", None, None]]
    assert np.isinf(result.distances[0, 1:]).all() and not result.accepted[0, 1:].any()


def test_empty_gallery_says_unknown(gallery) -> None:
    matches = gallery.search(np.zeros((2, 128), np.float32)).best()
    assert matches == [Match(None, math.inf, False)] * 2
    assert [m.label for m in matches] == ["unknown", "unknown"]
    assert len(gallery.search(np.zeros((0, 128), np.float32))) == 0


def _origin(n: int) -> np.ndarray:
    """``n`` copies of the point these geometry tests start from: one unit along the last
    axis (a stored embedding must be of embedding scale, and the zero vector is not)."""
    out = np.zeros((n, 128), np.float32)
    out[:, -1] = 1.0
    return out


def test_threshold_decides_acceptance(gallery) -> None:
    gallery.add_embeddings("a", _origin(1))
    q = _origin(2)
    q[0, 0], q[1, 0] = 0.5, 0.7
    best = gallery.search(q).best()
    assert [m.label for m in best] == ["a", "unknown"]
    assert [m.name for m in best] == ["a", "a"]
    assert best[1].distance == pytest.approx(0.7)
    gallery.set_threshold(0.8)
    assert [m.label for m in gallery.search(q).best()] == ["a", "a"]


@pytest.mark.parametrize(
    ("queries", "k", "match"),
    [
        (np.zeros((2, 64)), 1, r"shape \(_, 128\)"),
        (np.zeros((2, 128, 1)), 1, "shape"),
        (np.full((1, 128), np.inf), 1, "finite"),
        (np.array([["a"] * 128]), 1, "numeric"),
        (np.zeros((1, 128)), 0, "k must be"),
    ],
)
def test_bad_queries(gallery, queries, k, match) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        gallery.search(queries, k=k)


def test_search_result_checks_shapes() -> None:
    with pytest.raises(ValueError, match="share one"):
        SearchResult(np.zeros((2, 1)), np.zeros((2, 2)), np.zeros((2, 1), bool), 0.6)


def test_centroid_decision(gallery_path) -> None:
    # Person a: two faces far apart (centroid between them); person b: one face.
    a = _origin(2)
    a[0, 0], a[1, 0] = -1.0, 1.0
    b = _origin(1)
    b[0, 1] = 0.6
    q = _origin(1)
    q[0, 0] = 0.9  # near a's second face, 1.08 from b, 0.9 from a's centroid
    with Gallery(gallery_path, model_id=MODEL, decision="nearest_face") as g:
        g.add_embeddings("a", a)
        g.add_embeddings("b", b)
        assert g.search(q).best()[0].name == "a"
        assert g.search(q).best()[0].distance == pytest.approx(0.1)
    with Gallery(gallery_path, model_id=MODEL, decision="centroid") as g:
        best = g.search(q).best()[0]
        assert best.name == "a" and best.distance == pytest.approx(0.9)
        q2 = _origin(1)
        q2[0, 0], q2[0, 1] = -0.9, 0.35  # 0.36 from a's face, 0.93 from b, 0.97 from a's mean
        assert g.search(q2).best()[0].name == "b"
    with pytest.raises(InvalidArgumentError, match="decision must be one of"):
        Gallery(gallery_path, model_id=MODEL, decision="median")


def _unit(rng, n):
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("decision", list(Decision))
def test_ann_agrees_with_exact_and_follows_edits(tmp_path, decision) -> None:
    rng = np.random.default_rng(1)
    x = _unit(rng, 3000)
    opts = IndexOptions(threshold=500, nprobe=16)
    queries = x[::30] + 0.03 * rng.standard_normal((100, 128)).astype(np.float32)
    with (
        Gallery(tmp_path / "ann.sqlite", model_id=MODEL, index=opts, decision=decision) as ann,
        Gallery(tmp_path / "exact.sqlite", model_id=MODEL, decision=decision) as exact,
    ):
        for g in (ann, exact):
            g.add_many([FaceBatch(f"p{i}", x[i : i + 2]) for i in range(0, 3000, 2)])
        a, e = ann.search(queries, k=1), exact.search(queries, k=1)
        assert np.mean(a.names[:, 0] == e.names[:, 0]) >= 0.99
        # The index never finds a distance below the true one.
        assert (a.distances >= e.distances - 1e-5).all()
        # Faces added after the index was built are found (incremental add).
        ann.add_embeddings("newcomer", queries[:1] + 0.001)
        assert ann.search(queries[:1]).best()[0].name == "newcomer"
        # ... and removed ones are gone.
        ann.remove_person("newcomer")
        assert "newcomer" not in set(ann.search(queries[:3], k=3).names.ravel())
        k3 = ann.search(queries[:5], k=3).names
        assert all(len(set(row)) == 3 for row in k3)  # distinct people


def test_index_is_rebuilt_when_gallery_grows(tmp_path) -> None:
    rng = np.random.default_rng(2)
    opts = IndexOptions(threshold=200, rebuild_growth=2.0)
    with Gallery(tmp_path / "g.sqlite", model_id=MODEL, index=opts, decision="nearest_face") as g:
        g.add_embeddings("first", _unit(rng, 300))
        g.build_index()
        first = g._ann[Decision.NEAREST_FACE].index
        assert first is not None and first.trained_on == 300
        x = _unit(rng, 400)
        g.add_embeddings("second", x)
        assert g.search(x[:5]).best()[0].name == "second"
        assert g._ann[Decision.NEAREST_FACE].index is not first


@pytest.mark.parametrize("quantize", [True, False])
def test_index_codes_and_float_copies_give_exact_distances(tmp_path, quantize) -> None:
    rng = np.random.default_rng(3)
    x = _unit(rng, 1500)
    opts = IndexOptions(threshold=100, quantize=quantize)
    with Gallery(tmp_path / "g.sqlite", model_id=MODEL, index=opts, decision="nearest_face") as g:
        g.add_many([FaceBatch(f"p{i}", x[i : i + 1]) for i in range(1500)])
        q = x[:50] + 0.02 * rng.standard_normal((50, 128)).astype(np.float32)
        result = g.search(q)
        assert list(result.names[:, 0]) == [f"p{i}" for i in range(50)]
        np.testing.assert_allclose(
            result.distances[:, 0], np.linalg.norm(q - x[:50], axis=1), rtol=1e-5
        )
