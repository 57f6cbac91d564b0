"""Test-time augmentation: the jittered template moves the chip by exactly the jitter,
the chips come in the documented order, and bad options are refused."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.align import KEYPOINT_WEIGHTS, TEMPLATES, align_face, chip_transform
from workbench.augment import JITTERS, Jitter, augmented_chips, jittered_template
from workbench.errors import InvalidArgumentError

# Keypoints of a face in a 250x250 photo, slightly tilted (LFW-like).
KEYPOINTS = np.array(
    [[100.0, 112.0], [148.0, 108.0], [126.0, 138.0], [104.0, 162.0], [146.0, 159.0]],
    np.float32,
)


def _as3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("jitter", JITTERS)
def test_jittered_template_composes_the_jitter_with_the_alignment(template, jitter):
    weights = KEYPOINT_WEIGHTS[template]
    plain = chip_transform(KEYPOINTS, template=template, weights=weights)
    moved = chip_transform(
        KEYPOINTS, template=jittered_template(TEMPLATES[template], jitter), weights=weights
    )
    # The jitter alone, as the similarity about the chip centre.
    a = np.deg2rad(jitter.degrees)
    r = jitter.scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array([75.0, 75.0])
    j = np.eye(3)
    j[:2, :2] = r
    j[:2, 2] = c - r @ c + [jitter.dx, jitter.dy]
    np.testing.assert_allclose(_as3(moved), j @ _as3(plain), atol=1e-6)


def test_jitters_stay_within_dlibs_ranges():
    assert len(JITTERS) == len(set(JITTERS))
    for j in JITTERS:
        assert abs(j.degrees) <= 3 and 0.97 <= j.scale <= 1.03
        assert max(abs(j.dx), abs(j.dy)) <= 3  # 2% of 150 px


def test_augmented_chips_order_and_count():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
    chips = augmented_chips(image, KEYPOINTS, template="mediapipe", jitter=3, flip=True)
    assert chips.shape == (8, 150, 150, 3) and chips.dtype == np.uint8
    np.testing.assert_array_equal(chips[0], align_face(image, KEYPOINTS, template="mediapipe"))
    np.testing.assert_array_equal(chips[4:], chips[:4, :, ::-1])
    # Every jitter moves the chip.
    assert all((chips[i] != chips[0]).any() for i in range(1, 4))
    plain = augmented_chips(image, KEYPOINTS, template="mtcnn")
    assert plain.shape == (1, 150, 150, 3)


def test_jittered_template_shift():
    t = jittered_template(np.array([[75.0, 75.0], [100.0, 75.0]]), Jitter(90.0, 2.0, 1.0, 0.0))
    np.testing.assert_allclose(t, [[76.0, 75.0], [76.0, 125.0]], atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"jitter": -1}, "jitter"), ({"jitter": 99}, "jitter"), ({"template": "nope"}, "template")],
)
def test_bad_options_are_refused(kwargs, match):
    image = np.zeros((250, 250, 3), np.uint8)
    options = {"template": "mtcnn", **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        augmented_chips(image, KEYPOINTS, **options)
