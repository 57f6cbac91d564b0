"""Both detectors on real faces: LFW stills, blank and noise images, a crowd video."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import lfw_images
from workbench.detect import DETECTORS, Detector, create_detector
from workbench.errors import InvalidArgumentError, InvalidImageError
from workbench.faces import FaceDetections

DETECTOR_FIXTURES = ["mediapipe_detector", "mtcnn_detector"]


@pytest.fixture(params=DETECTOR_FIXTURES)
def detector(request) -> Detector:
    return request.getfixturevalue(request.param)


def centre_hits(faces: FaceDetections, width: int, height: int) -> int:
    cx, cy = width / 2, height / 2
    x1, y1, x2, y2 = faces.xyxy.T
    return int(((x1 <= cx) & (cx <= x2) & (y1 <= cy) & (cy <= y2)).sum())


def test_one_face_at_the_centre_of_lfw_images(detector, lfw_dir):
    paths = lfw_images(500)
    assert len(paths) == 500
    results = detector.detect_batch(paths)
    good = sum(centre_hits(faces, 250, 250) == 1 for faces in results)
    rate = good / len(paths)
    print(f"\n{detector.name}: exactly one face at the centre in {good}/500 = {rate:.1%}")
    assert rate >= 0.97


def test_keypoints_are_in_order_and_inside_the_box(detector, lfw_dir):
    faces = detector.detect(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert len(faces) >= 1
    face = faces.largest()
    kp = face.keypoints[0]
    left_eye, right_eye, nose, mouth_left, mouth_right = kp
    assert left_eye[0] < right_eye[0], "left eye must be on the image's left"
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x1, y1, x2, y2 = face.xyxy[0]
    assert (kp[:, 0] >= x1 - 5).all() and (kp[:, 0] <= x2 + 5).all()
    assert 0.5 < face.scores[0] <= 1.0


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.random.default_rng(8).integers(0, 256, (250, 250, 3), dtype=np.uint8),
    ],
    ids=["black", "white", "noise-640", "noise-250"],
)
def test_no_face_in_blank_or_noise(detector, image):
    assert len(detector.detect(image)) == 0


@pytest.fixture(scope="module")
def crowd_frames(crowd_video) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(crowd_video))
    frames = []
    try:
        for index in range(60):
            ok, frame = cap.read()
            assert ok, f"could not read frame {index} of {crowd_video}"
            if index in (0, 30, 59):
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames


@pytest.mark.parametrize(
    "name, options",
    [("mediapipe", {"range": "full", "min_score": 0.3}), ("mtcnn", {})],
    ids=["mediapipe-full-range", "mtcnn"],
)
def test_several_faces_in_crowd_video(crowd_frames, name, options):
    """Faces in the 1080p crowd are about 80-130 px tall: the short-range BlazeFace (a
    128x128 input meant for selfies) misses them, the full-range model finds them."""
    with create_detector(name, **options) as detector:
        counts = [len(f) for f in detector.detect_batch(crowd_frames)]
    print(f"\n{name}: faces in crowd frames 0, 30, 59: {counts}")
    assert all(c >= 3 for c in counts)


def test_min_face_size_and_score_filter(lfw_dir):
    path = lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"
    with create_detector("mediapipe", min_face_size=200) as det:
        assert len(det.detect(path)) == 0
    with create_detector("mediapipe", min_score=0.99) as det:
        assert len(det.detect(path)) == 0


def test_video_mode_needs_increasing_timestamps(lfw_dir):
    path = lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"
    with create_detector("mediapipe", running_mode="video") as det:
        assert len(det.detect(path, timestamp_ms=10)) == 1
        assert len(det.detect(path)) == 1  # 11 ms, implied
        with pytest.raises(InvalidArgumentError, match="increasing"):
            det.detect(path, timestamp_ms=5)


def test_full_range_model_finds_the_face(lfw_dir):
    with create_detector("mediapipe", range="full") as det:
        faces = det.detect(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert centre_hits(faces, 250, 250) == 1


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"valid names: \['mediapipe', 'mtcnn'\]"):
        create_detector("CNN")


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("mediapipe", {"min_score": 1.5}, "min_score"),
        ("mediapipe", {"range": "medium"}, "range must be one of"),
        ("mediapipe", {"running_mode": "stream"}, "running_mode must be one of"),
        ("mtcnn", {"scale_factor": 1.2}, "scale_factor"),
        ("mtcnn", {"min_face_size": -1}, "min_face_size"),
    ],
)
def test_bad_options(name, options, match):
    with pytest.raises(InvalidArgumentError, match=match):
        create_detector(name, **options)


def test_construction_loads_nothing_and_close_is_final():
    for name, cls in DETECTORS.items():
        det = create_detector(name)
        assert isinstance(det, cls) and isinstance(det, Detector)
        det.close()
        with pytest.raises(InvalidArgumentError, match="closed"):
            det.detect(np.zeros((10, 10, 3), np.uint8))


def test_bad_image_input(mediapipe_detector):
    with pytest.raises(InvalidImageError):
        mediapipe_detector.detect(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(InvalidImageError, match="no such file"):
        mediapipe_detector.detect_batch(["/nonexistent/face.jpg"])
