"""EmbeddingExplorer: the pure helpers on synthetic vectors, the panel on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.ui.explore import (
    EmbeddingExplorer,
    distance_matrix,
    flipped_pairs,
    pair_table,
    project,
    threshold_label,
)


def clusters(n_people: int = 3, per: int = 4, seed: int = 0):
    """Unit-ish vectors around one centre per person."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.concatenate([c + 0.03 * rng.normal(size=(per, 128)) for c in centres])
    names = [f"person {k}" for k in range(n_people) for _ in range(per)]
    return vectors.astype(np.float32), names


def test_distance_matrix_matches_brute_force():
    v, _ = clusters()
    d = distance_matrix(v)
    brute = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)
    np.testing.assert_allclose(d, brute, atol=1e-5)
    assert d.shape == (len(v), len(v))
    assert np.all(np.diag(d) == 0)


def test_pair_table_counts_and_labels():
    v, names = clusters(n_people=3, per=4)
    pairs = pair_table(v, names)
    assert len(pairs.distances) == 12 * 11 // 2
    assert int(pairs.genuine.sum()) == 3 * (4 * 3 // 2)
    assert np.all(pairs.i < pairs.j)


def test_pair_table_samples_impostors_past_the_limit(monkeypatch):
    import workbench.ui.explore as explore

    monkeypatch.setattr(explore, "ALL_PAIRS_UP_TO", 50)
    monkeypatch.setattr(explore, "MAX_IMPOSTOR_PAIRS", 300)
    v, names = clusters(n_people=6, per=10)  # 60 faces: past the (patched) limit
    pairs = pair_table(v, names)
    assert pairs.sampled and np.all(pairs.i < pairs.j)
    labels = np.asarray(names)
    np.testing.assert_array_equal(pairs.genuine, labels[pairs.i] == labels[pairs.j])
    assert int(pairs.genuine.sum()) == 6 * (10 * 9 // 2)  # every genuine pair
    assert int((~pairs.genuine).sum()) == 300
    assert len({(a, b) for a, b in zip(pairs.i, pairs.j, strict=True)}) == len(pairs.i)
    np.testing.assert_allclose(
        pairs.distances, np.linalg.norm(v[pairs.i] - v[pairs.j], axis=1), rtol=1e-5
    )
    assert not pair_table(v[:40], names[:40]).sampled


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [(0.5, 0.5, []), (0.5, 0.7, [1]), (0.7, 0.5, [1]), (0.1, 1.0, [2, 1, 0])],
)
def test_flipped_pairs(old, new, expected):
    from workbench.ui.explore import PairTable

    pairs = PairTable(
        np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([0.3, 0.6, 0.9]), np.ones(3, bool)
    )
    assert flipped_pairs(pairs, old, new).tolist() == expected


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_shape(method):
    v, _ = clusters()
    assert project(v, method).shape == (len(v), 2)


@pytest.mark.parametrize(
    ("vectors", "method", "match"),
    [(np.zeros((5, 4)), "umap", "method must be one of"), (np.zeros((2, 4)), "pca", "at least 3")],
)
def test_project_refuses(vectors, method, match):
    with pytest.raises(InvalidArgumentError, match=match):
        project(vectors, method)


def test_explorer_refuses_a_single_person():
    v, _ = clusters(n_people=1)
    with pytest.raises(InvalidArgumentError, match="at least two people"):
        EmbeddingExplorer(v, ["a"] * len(v))


def test_slider_redraws_and_lists_flips():
    v, names = clusters()
    ex = EmbeddingExplorer(v, names, threshold=0.6)
    assert ex.heatmap.n == len(v) and ex.heatmap.labels[0] == "person 0 · face 1"
    assert ex.heatmap.starts == [0, 4, 8]  # one block per person, named
    assert ex.heatmap.people == ["person 0", "person 1", "person 2"]
    assert not ex.flipped()
    hist, roc = ex.histogram.value, ex.roc.value
    # Every genuine pair sits near 0.6 (2 * 0.03 * sqrt(128) ~ 0.48 apart); dropping the
    # threshold to 0.1 rejects them all: they flip to "different".
    ex.threshold.value = 0.1
    flips = ex.flipped()
    assert len(flips) == int(ex.pairs.genuine.sum())
    assert all(f["genuine"] and f["now"] == "different" for f in flips)
    assert ex.histogram.value != hist and ex.roc.value != roc
    assert "pairs flip" in ex.flips.value
    assert ex.rates(0.1) == (0.0, 0.0)
    assert ex.errors.last is None


def test_histogram_bins_and_threshold_field_do_not_depend_on_the_slider():
    v, names = clusters()
    ex = EmbeddingExplorer(v, names, threshold=0.6)
    bins = ex.histogram_bins()
    for t in (0.1, float(ex.threshold.max)):
        ex.threshold.value = t
        np.testing.assert_array_equal(ex.histogram_bins(), bins)
    ex.threshold_field.value = 0.37  # the number field is precise to 0.01 and drives all
    assert ex.threshold.value == 0.37 and "<b>0.37</b>" in ex.summary.value
    ex.threshold.value = 0.52
    assert ex.threshold_field.value == 0.52


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ("default", "default"),
        ("set", "set by you"),  # a gallery written before "set by you"
        ("set by you", "set by you"),
        ("prior for 3 people", "prior"),
        ("calibrated on 30 people / 60 faces", "calibrated"),
    ],
)
def test_the_threshold_is_called_what_it_is(source, label):
    v, names = clusters()
    ex = EmbeddingExplorer(v, names, threshold=0.6, threshold_source=source)
    assert ex.threshold_kind == label
    assert f"from the {label} threshold" in ex.flips.value


def test_flipped_pairs_name_their_photos():
    v, names = clusters(n_people=2, per=3)
    sources = [f"/photos/{n}/{k}.jpg" for k, n in enumerate(names)]
    ex = EmbeddingExplorer(v, names, threshold=0.6, sources=sources)
    flips = ex.flipped(0.1)
    assert len({(f["photo_a"], f["photo_b"]) for f in flips}) == len(flips) == 6
    assert flips[0]["photo_a"].endswith(".jpg") and "/" not in flips[0]["photo_a"]
    ex.threshold.value = 0.1
    assert flips[0]["photo_a"] in ex.flips.value


def test_two_clicked_faces_show_distance_and_verdict_at_the_slider():
    v, names = clusters(n_people=2, per=3)
    ex = EmbeddingExplorer(v, names, threshold=0.6)
    assert len(ex.projection) == 6
    assert "click two faces" in ex.pick_verdict.value
    ex.projection.selected = [0]
    assert "click a second face" in ex.pick_verdict.value
    ex.projection.selected = [0, 1]  # two faces of person 0
    pick = ex.picked()
    assert pick["a"] == pick["b"] == "person 0" and pick["same"]
    np.testing.assert_allclose(pick["distance"], np.linalg.norm(v[0] - v[1]), rtol=1e-5)
    assert f"{pick['distance']:.3f}" in ex.pick_verdict.value
    assert "same person" in ex.pick_verdict.value
    ex.threshold.value = 0.1  # the verdict follows the slider
    assert "different people" in ex.pick_verdict.value and "(wrong)" in ex.pick_verdict.value


def test_a_group_not_from_a_gallery_cannot_be_removed():
    v, names = clusters()
    ex = EmbeddingExplorer(v, names)
    ex.projection.group = [0, 1, 5]
    assert "3 face(s)" in ex.group_label.value and ex.remove_group_button.disabled
    ex.remove_group_button.click()
    assert "not from a gallery" in ex.errors.last
    assert "not from a gallery" in ex.group_message.value


def test_compare_without_models_is_shown_in_the_panel():
    v, names = clusters()
    ex = EmbeddingExplorer(v, names)
    ex.compare_button.click()  # nothing uploaded
    assert "upload one photo" in ex.errors.last


def test_explorer_on_real_faces(people, mediapipe_detector, embedder, uploaded, tmp_path):
    ex = EmbeddingExplorer.from_images(people, detector=mediapipe_detector, embedder=embedder)
    assert len(ex.names) == 9
    assert ex.images.thumbnail(3).shape == (64, 64, 3)  # from the aligned chips
    far, tar = ex.rates(ex.calibrated)
    assert tar > 0.8 and far < 0.2
    (a, b, c) = next(iter(people.values()))
    other = list(people.values())[1][0]
    assert ex.compare(a, b)["same"] is True
    assert ex.compare(a, other)["same"] is False
    assert ex.chip_a.value and "different people" in ex.verdict.value
    # The upload path, as the browser would fill it.
    ex.upload_a.value = (uploaded(a),)
    ex.upload_b.value = (uploaded(c),)
    ex.compare_button.click()
    assert ex.errors.last is None
    assert "same person" in ex.verdict.value
    # From code, the verdict is at the gallery's threshold wherever the slider was left.
    ex.threshold.value = 0.05
    assert ex.compare(a, b)["same"] is True
    assert ex.compare(a, b, threshold=0.05)["same"] is False
    # A bad upload names the file, and the old verdict does not stay on screen.
    ex.upload_b.value = (uploaded(a),)
    ex.compare_button.click()
    assert ex.verdict.value and ex.errors.last is None
    broken = tmp_path / "not-a-photo.jpg"
    broken.write_bytes(b"nope")
    ex.upload_b.value = (uploaded(broken),)
    ex.compare_button.click()
    assert "photo B (not-a-photo.jpg)" in ex.errors.last
    assert "not-a-photo.jpg" in ex.verdict.value and "distance" not in ex.verdict.value
    assert not ex.chip_a.value


def test_explorer_from_a_gallery(people, recognizer, gallery):
    for name, photos in people.items():
        gallery.enroll(name, photos, recognizer=recognizer)
    ex = EmbeddingExplorer.from_gallery(gallery, detector=recognizer.detector)
    assert len(ex.names) == len(gallery) == 9
    assert ex.calibrated == gallery.threshold
    assert ex.threshold_kind == threshold_label(gallery.threshold_source)
    assert set(ex.sources) == {p.name for photos in people.values() for p in photos}
    assert gallery.threshold_source in ex.source_label.value
    assert f"{gallery.threshold:.3f}" in ex.source_label.value
    assert ex.threshold_kind == "prior"  # 3 people, 9 faces: too few to calibrate
    # Hover thumbnails and clicked chips are cut from the photos (aligned again).
    assert ex.images.chip(0).shape == (150, 150, 3)
    assert max(ex.images.thumbnail(0).shape[:2]) == 64
    ex.projection.selected = [0, 8]
    assert ex.pick_a.value and ex.pick_b.value and "distance" in ex.pick_verdict.value

    # A boxed group is removed from the gallery, and the explorer redrawn without it.
    first = ex.names[0]
    ex.projection.group = [0, 1]
    assert not ex.remove_group_button.disabled
    ex.remove_group_button.click()
    assert ex.errors.last is None, ex.errors.last
    assert len(gallery) == 7 and len(ex.names) == len(ex.projection) == 7
    assert ex.names.count(first) == 1 and ex.projection.group == []
    assert "removed 2 face(s)" in ex.group_message.value
    assert ex.calibrated == gallery.threshold and gallery.threshold_source in ex.source_label.value
    # Removing what would leave nothing to explore is refused, and nothing is removed.
    ex.projection.group = list(range(7))
    ex.remove_group_button.click()
    assert "would leave" in ex.errors.last and len(gallery) == 7


def test_unknown_faces_are_grey_points_that_can_be_enrolled(people, recognizer, gallery):
    from workbench.evaluate import align_images
    from workbench.pipeline import embed_chips

    (a, pa), (b, pb), (c, pc) = list(people.items())
    gallery.enroll(a, pa, recognizer=recognizer)
    gallery.enroll(b, pb, recognizer=recognizer)
    aligned = align_images(pc, detector=recognizer.detector, progress=False)
    ids = gallery.add_unknowns(
        embed_chips(aligned.chips, embedder=recognizer.embedder),
        chips=aligned.chips,
        source=[str(p) for p in pc],
    )
    assert len(ids) == 3
    ex = EmbeddingExplorer.from_gallery(gallery, detector=recognizer.detector)
    n = len(ex.names)
    assert n == 6 and len(ex.projection) == 9  # the unknowns are points, not pairs
    assert ex.projection.labels[n].startswith("unknown · ")
    grey = ex.projection.people.index("unknown")
    assert ex.projection.colors[grey] == "#9e9e9e"
    assert ex.images and ex._thumbnail(n).shape[2] == 3  # the stored chip
    ex.projection.selected = [n, n + 1]  # two unknowns of one person
    pick = ex.picked()
    assert pick["a"] == pick["b"] == "unknown" and pick["same"]
    assert "(right)" not in ex.pick_verdict.value  # nobody knows who they are
    ex.projection.group = [0, n, n + 1, n + 2]
    assert "and 3 unknown face(s)" in ex.group_label.value
    if not hasattr(gallery, "name_faces"):
        pytest.skip("this gallery cannot name unknown faces yet (Gallery.name_faces)")
    assert not ex.name_group_button.disabled
    ex.group_name.value = c
    ex.name_group_button.click()
    assert ex.errors.last is None, ex.errors.last
    assert c in gallery.people and gallery.count_unknowns() == 0
    assert len(ex.names) == 9 and len(ex.projection) == 9


def test_explorer_of_fused_faces_judges_at_the_fused_threshold(
    people, mediapipe_detector, fused_embedder
):
    """Built from photos with the fused embedder (no gallery): the slider and the verdicts
    start at its threshold, not dlib's 0.6 (its distances are larger)."""
    from workbench.embed.fused import FUSED_THRESHOLD

    ex = EmbeddingExplorer.from_images(people, detector=mediapipe_detector, embedder=fused_embedder)
    assert ex.calibrated == FUSED_THRESHOLD == ex.threshold.value
    far, tar = ex.rates(ex.calibrated)
    assert tar == 1.0 and far == 0.0
    # Measured: two of the nine genuine pairs lie 0.66-0.68 apart, "different" at 0.6.
    assert ex.rates(0.6)[1] < 1.0
    (a, b, _), other = next(iter(people.values())), list(people.values())[1][0]
    assert ex.compare(a, b)["same"] is True
    assert ex.compare(a, other)["same"] is False
    assert EmbeddingExplorer(ex.embeddings, ex.names).calibrated == 0.6  # no model: dlib's
