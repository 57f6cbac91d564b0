"""The face pipeline: face-picking policies, batched chips against the one-image path,
and the errors a bad policy gets."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.faces import FaceDetections
from workbench.pipeline import align, face_chips, pick_face, picked_faces


def faces(*boxes) -> FaceDetections:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return FaceDetections(
        xyxy,
        np.linspace(0.9, 0.5, len(xyxy), dtype=np.float32),
        np.repeat(xyxy[:, None, :2], 5, axis=1),
    )


# A small face in the middle of a 200x200 image, a large one in a corner.
SMALL_CENTRE = (90, 90, 110, 110)
LARGE_CORNER = (0, 0, 80, 80)


@pytest.mark.parametrize(
    ("pick", "expected"),
    [
        ("largest", LARGE_CORNER),
        ("central", SMALL_CENTRE),
        (0, SMALL_CENTRE),
        (1, LARGE_CORNER),
        (-1, LARGE_CORNER),
        ((2, 3, 70, 75), LARGE_CORNER),  # the detection overlapping the box most
        (np.array([88, 92, 111, 108]), SMALL_CENTRE),
    ],
)
def test_pick_face_policies(pick, expected):
    got = pick_face(faces(SMALL_CENTRE, LARGE_CORNER), pick, image_size=(200, 200))
    assert len(got) == 1
    assert got.xyxy[0].tolist() == list(map(float, expected))


@pytest.mark.parametrize("pick", ["largest", "central", (0, 0, 10, 10)])
def test_pick_face_of_no_faces_is_empty(pick):
    assert len(pick_face(FaceDetections.empty(), pick, image_size=(10, 10))) == 0


def test_box_pick_without_overlap_is_empty():
    assert len(pick_face(faces(SMALL_CENTRE), (150, 150, 190, 190))) == 0


@pytest.mark.parametrize(
    ("pick", "kwargs", "match"),
    [
        ("biggest", {}, "pick must be one of"),
        ("central", {}, "needs image_size"),
        (2, {}, "out of range for 2 faces"),
        ((1, 2, 3), {}, r"\(x1, y1, x2, y2\), but got shape \(3,\)"),
        (True, {}, "a name, an index or a box"),
    ],
)
def test_pick_face_errors(pick, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        pick_face(faces(SMALL_CENTRE, LARGE_CORNER), pick, **kwargs)


def test_face_chips_match_the_one_image_path(lfw_dir, mediapipe_detector):
    """Batched detection + pick + align gives, per photo, the chip the one-image path
    gives; a photo without a face is reported, not aligned."""
    from workbench.images import load_image

    photos = sorted(lfw_dir.glob("*/*.jpg"))[:5]
    blank = np.full((120, 120, 3), 128, np.uint8)
    inputs = [*photos[:3], blank, *photos[3:]]
    done = []
    got = face_chips(
        inputs, detector=mediapipe_detector, pick="central", batch_size=2, progress=done.append
    )
    assert len(done) == len(inputs)
    assert got.found.tolist() == [True, True, True, False, True, True]
    assert got.index.tolist() == [0, 1, 2, 4, 5]
    assert got.chips.shape == (5, 150, 150, 3) and got.chips.dtype == np.uint8
    for chip, i in zip(got.chips, got.index, strict=True):
        image = load_image(inputs[i])
        one = pick_face(mediapipe_detector.detect(image), "central", image_size=image.shape[1::-1])
        np.testing.assert_array_equal(chip, align(image, one, detector=mediapipe_detector)[0])


def test_picked_faces_refuses_a_bad_batch_size(mediapipe_detector):
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(
            picked_faces([np.zeros((8, 8, 3), np.uint8)], detector=mediapipe_detector, batch_size=0)
        )
