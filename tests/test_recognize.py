"""Recognizer: enrollment's test-time augmentation on real LFW faces."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.align import template_for
from workbench.augment import NONE, Augment, augmented_chips
from workbench.images import load_image
from workbench.recognize import Recognizer


@pytest.fixture(scope="module")
def embedder():
    from workbench.embed import default_embedder

    return default_embedder()


def test_enrollment_averages_the_augmented_chips(lfw_dir, mediapipe_detector, embedder, tmp_path):
    from workbench.gallery import Gallery

    photos = [lfw_dir / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (1, 2)]
    augment = Augment(jitter=2, flip=True)
    rec = Recognizer(mediapipe_detector, embedder, enroll_augment=augment)
    with Gallery(tmp_path / "g.sqlite", model_id=embedder.model_id) as gallery:
        summary = gallery.enroll("Colin Powell", photos, recognizer=rec)
        assert len(summary.enrolled) == 2
        stored, _ = gallery.embeddings()
    template = template_for(mediapipe_detector)
    for vec, path in zip(stored, photos, strict=True):
        image = load_image(path)
        face = mediapipe_detector.detect(image).largest()
        chips = rec.enrollment_chips(image, face)
        assert chips.shape == (1, augment.chips_per_face, 150, 150, 3)
        np.testing.assert_array_equal(
            chips[0],
            augmented_chips(image, face.keypoints[0], template=template, jitter=2, flip=True),
        )
        np.testing.assert_allclose(vec, embedder.embed(chips[0]).mean(0), atol=1e-5)
        plain = embedder.embed(rec.chips(image, face))[0]
        # The average moves the embedding a little, not to another person.
        assert 0 < np.linalg.norm(vec - plain) < 0.2


def test_no_augmentation_is_the_plain_chip(lfw_dir, mediapipe_detector, embedder):
    image = load_image(lfw_dir / "Colin_Powell" / "Colin_Powell_0003.jpg")
    rec = Recognizer(mediapipe_detector, embedder, enroll_augment=NONE)
    faces = mediapipe_detector.detect(image)
    np.testing.assert_array_equal(rec.enrollment_chips(image, faces)[:, 0], rec.chips(image, faces))
