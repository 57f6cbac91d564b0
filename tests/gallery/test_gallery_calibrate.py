"""Threshold calibration from a gallery's own pairs."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import FaceBatch, Gallery
from workbench.gallery.calibrate import choose_threshold, pair_distances, stranger_distances


def test_pair_distances_counts() -> None:
    vectors = np.stack([face_vector(p, v) for p in range(4) for v in range(3)])
    owners = np.repeat(np.arange(4), 3)
    genuine, impostor = pair_distances(vectors, owners)
    assert genuine.shape == (4 * 3,) and impostor.shape == (66 - 12,)
    np.testing.assert_allclose(genuine[0], np.linalg.norm(vectors[0] - vectors[1]), rtol=1e-6)
    _, sampled = pair_distances(vectors, owners, max_impostor=20)
    assert sampled.shape == (20,)


def test_choose_threshold_meets_the_target() -> None:
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.4, 0.05, 2000)
    impostor = rng.normal(0.9, 0.08, 100_000)
    cal = choose_threshold(genuine, impostor, 1e-3)
    assert cal.far <= 1e-3 and cal.resolved
    assert cal.far >= 0.5e-3  # and it is not needlessly strict
    assert 0.6 < cal.threshold < 0.7 and cal.frr < 0.01
    few = choose_threshold(genuine, impostor[:100], 1e-3)
    assert not few.resolved and few.far == 0.0 and few.threshold < impostor[:100].min()
    with pytest.raises(InvalidArgumentError):
        choose_threshold(genuine, impostor, 0.0)


def test_stranger_distances_leave_the_person_out() -> None:
    vectors = np.zeros((3, 128), np.float32)
    vectors[1, 0], vectors[2, 0] = 0.5, 2.0  # a: rows 0, 1; b: row 2
    owners = np.array([0, 0, 1])
    genuine, impostor = stranger_distances(vectors, owners)
    np.testing.assert_allclose(genuine, [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(impostor, [2.0, 1.5, 1.5], atol=1e-6)
    genuine, impostor = stranger_distances(vectors, owners, centroid=True)
    np.testing.assert_allclose(genuine, [0.5, 0.5], atol=1e-6)  # other face = own centroid
    np.testing.assert_allclose(impostor, [2.0, 1.5, 1.75], atol=1e-6)


@pytest.mark.parametrize("per", ["pair", "stranger"])
def test_calibrate_stores_the_threshold(gallery_path, per) -> None:
    with Gallery(gallery_path, model_id=MODEL) as g:
        for p in range(40):
            g.add_embeddings(f"p{p}", np.stack([face_vector(p, v, noise=0.4) for v in range(3)]))
        cal = g.calibrate(target_far=0.01, per=per)
        assert g.threshold == cal.threshold and cal.per == per
        if per == "pair":
            assert cal.genuine == 120 and cal.impostor == 120 * 119 // 2 - 120
        else:
            assert cal.genuine == 120 and cal.impostor == 120
        assert cal.far <= 0.01 and cal.frr == 0.0
        assert g.threshold_source == "calibrated on 40 people / 120 faces"
        assert g.threshold_info.per == per and g.threshold_info.target_far == 0.01
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.threshold == pytest.approx(cal.threshold)


def test_stranger_threshold_shrinks_as_the_gallery_grows(tmp_path) -> None:
    rng = np.random.default_rng(0)
    thresholds = []
    for people in (20, 400):
        with Gallery(tmp_path / f"{people}.sqlite", model_id=MODEL) as g:
            x = rng.standard_normal((people, 128)).astype(np.float32) / np.sqrt(128)
            g.add_many([FaceBatch(f"p{i}", x[i : i + 1]) for i in range(people)])
            thresholds.append(g.calibrate(target_far=0.05).threshold)
            assert np.isnan(g.calibrate(target_far=0.05).frr)  # one face each: no genuine
    assert thresholds[1] < thresholds[0]


def test_calibrate_needs_people_with_several_faces(gallery) -> None:
    gallery.add_embeddings("p0", face_vector(0, 0)[None])
    with pytest.raises(GalleryError, match="at least 2 people"):
        gallery.calibrate()
    for p in range(1, 3):
        gallery.add_embeddings(f"p{p}", face_vector(p, 0)[None])
    with pytest.raises(GalleryError, match="2 or more faces"):
        gallery.calibrate(per="pair")
    gallery.add_embeddings("p0", face_vector(0, 1)[None])
    gallery.calibrate(target_far=0.1, per="pair")
    with pytest.raises(GalleryError, match="3 or more faces"):
        gallery.calibrate(per="pair", min_faces=3)
    with pytest.raises(InvalidArgumentError, match="per must be"):
        gallery.calibrate(per="face")
