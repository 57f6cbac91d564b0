"""Small and far faces: the default detector on LFW faces placed 32 px tall into real
frames (the full table by height is benchmarks/small_faces.py)."""

from __future__ import annotations

import pytest

from workbench.detect import create_detector
from workbench.testing.placed_faces import FRAME_SIZES, background_frames, placed_face_frames, score


@pytest.fixture(scope="module")
def faces_32px(lfw_dir, crowd_video):
    bands = background_frames()
    return [
        frame
        for size in FRAME_SIZES
        for frame in placed_face_frames(face_height=32, frames=13, size=size, backgrounds=bands)
    ]


def test_default_detector_finds_32px_faces(faces_32px):
    """Measured 94-100% (benchmarks/small_faces.py); the floor leaves room for noise."""
    assert sum(len(f.boxes) for f in faces_32px) >= 100
    with create_detector("mediapipe") as detector:
        result = score(faces_32px, [detector.detect(f.image) for f in faces_32px])
    print(
        f"\ndefault: {result.found}/{result.faces} = {result.recall:.1%}, "
        f"{result.false_per_frame:.2f} false per frame"
    )
    assert result.recall >= 0.85
    assert result.false_per_frame <= 1.0


def test_short_range_alone_misses_them(faces_32px):
    """The old default (short range, 128x128 input) sees none of these faces: the set
    measures what the tiled search adds."""
    frames = faces_32px[:8]
    with create_detector("mediapipe", range="short", min_face_size=0) as detector:
        result = score(frames, [detector.detect(f.image) for f in frames])
    assert result.recall <= 0.1
