"""The small-faces measurement set: seeded, inside the frame, one height, real pixels."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.detect.base import as_rgb
from workbench.faces import FaceDetections
from workbench.testing.placed_faces import (
    BACKGROUND_ROWS,
    PlacedFrame,
    background_frames,
    placed_face_frames,
    score,
)


@pytest.fixture(scope="module")
def bands(lfw_dir, crowd_video):
    return background_frames()


@pytest.mark.parametrize("size", [(640, 360), (640, 480)])
def test_frames_hold_faces_of_one_height_inside_the_frame(bands, size):
    frames = placed_face_frames(face_height=20, frames=3, size=size, backgrounds=bands)
    assert len(frames) == 3
    for frame in frames:
        assert as_rgb(frame.image).shape == (size[1], size[0], 3)
        assert frame.boxes.shape == (4, 4)
        heights = frame.boxes[:, 3] - frame.boxes[:, 1]
        np.testing.assert_allclose(heights, 20, atol=0.01)
        assert (frame.boxes[:, :2] >= 0).all()
        assert (frame.boxes[:, 2] <= size[0]).all() and (frame.boxes[:, 3] <= size[1]).all()


def test_same_seed_same_frames_other_seed_other_frames(bands):
    a = placed_face_frames(face_height=24, frames=2, backgrounds=bands)
    b = placed_face_frames(face_height=24, frames=2, backgrounds=bands)
    c = placed_face_frames(face_height=24, frames=2, backgrounds=bands, seed=1)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].image, c[0].image)


def test_backgrounds_are_the_video_top_band(bands):
    assert len(bands) >= 10
    assert all(band.shape == (BACKGROUND_ROWS, 1920, 3) for band in bands)
    assert float(np.std(bands[0])) > 10  # real texture, not a flat fill


def test_score_counts_found_missed_and_false():
    frame = PlacedFrame(
        np.zeros((100, 100, 3), np.uint8), np.array([[10, 10, 30, 30], [60, 60, 80, 80]]), 20
    )
    dets = FaceDetections(
        np.array([[12, 14, 30, 32], [0, 0, 5, 5], [60, 60, 160, 160]], np.float32),
        np.array([0.9, 0.8, 0.7]),
        np.zeros((3, 5, 2)),
    )
    result = score([frame], [dets])
    # the first face is found; the tiny box and the far too large one are false
    assert (result.faces, result.found, result.false_detections) == (2, 1, 2)
    assert result.recall == 0.5 and result.false_per_frame == 2.0
