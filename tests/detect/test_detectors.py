"""Both detectors on real faces: LFW stills, blank and noise images, a crowd video."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import lfw_images
from workbench.detect import (
    DETECTOR_CHOICES,
    DETECTORS,
    Detector,
    create_detector,
    create_detector_choice,
)
from workbench.detect.base import fit_image
from workbench.detect.mediapipe_detector import merge_overlapping, tile_starts, tiles_holding
from workbench.errors import InvalidArgumentError, InvalidImageError
from workbench.faces import FaceDetections, box_iou
from workbench.images import load_image

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


# --- input limits: nothing reaches a backend that it cannot take ---------------------


@pytest.mark.parametrize(
    "shape",
    [(10, 32767), (32767, 10), (40, 40000), (40000, 40), (3, 100000), (1, 1)],
    ids=lambda s: f"{s[0]}x{s[1]}",
)
def test_huge_or_thin_images_give_no_faces_and_no_crash(detector, shape):
    """MediaPipe's OpenCV aborts the process (SIGABRT) on a side of 32,767 px or more;
    these arrays are small in bytes (at most 1.2 MB) but past that limit."""
    image = np.full((*shape, 3), 128, np.uint8)
    assert len(detector.detect(image)) == 0
    assert [len(f) for f in detector.detect_batch([image, image])] == [0, 0]


@pytest.mark.parametrize("name", ["mediapipe", "mtcnn"])
def test_scaled_down_image_maps_faces_back(name, lfw_dir):
    """With a max_side below the photo's size the detector sees a smaller copy; boxes and
    keypoints come back in the original's pixels, close to a full-size detection."""
    image = load_image(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    tall = np.concatenate([image, np.zeros((350, 250, 3), np.uint8)])  # 600x250
    with create_detector(name) as det:
        full = det.detect(tall).largest()
    with create_detector(name, max_side=300, min_face_size=0) as det:
        half = det.detect(tall).largest()
    assert len(full) == 1 and len(half) == 1
    assert iou(full.xyxy[0], half.xyxy[0]) > 0.75
    eye_distance = np.linalg.norm(full.keypoints[0, 1] - full.keypoints[0, 0])
    assert np.abs(full.keypoints - half.keypoints).max() < 0.25 * eye_distance
    assert half.xyxy[0, 3] <= 250, "the face stays in the photo's part of the frame"


def test_mtcnn_sees_at_most_max_side(monkeypatch):
    """MTCNN on a 7000x7000 photo took 97 s and 5.1 GB: its input is bounded."""
    det = create_detector("mtcnn")
    seen: list[tuple[int, ...]] = []
    run = det._run

    def spy(images, **kwargs):
        seen.extend(im.shape for im in images)
        return run(images, **kwargs)

    monkeypatch.setattr(det, "_run", spy)
    with det:
        det.detect(np.full((120, 6000, 3), 90, np.uint8))
        det.detect_batch([np.full((3000, 3000, 3), 90, np.uint8)] * 2)
    assert seen == [(41, 2048, 3), (2048, 2048, 3), (2048, 2048, 3)]


def test_fit_image_keeps_small_images_and_scales_large_ones():
    small = np.zeros((480, 640, 3), np.uint8)
    same, scale = fit_image(small, max_side=640)
    assert same is small and scale == (1.0, 1.0)
    fitted, (sx, sy) = fit_image(np.zeros((10, 40000, 3), np.uint8), max_side=4096)
    assert fitted.shape == (1, 4096, 3)
    assert sx == pytest.approx(40000 / 4096) and sy == 10.0


@pytest.mark.parametrize(
    "name, max_side",
    [("mediapipe", 32767), ("mediapipe", 16), ("mtcnn", 10000)],
)
def test_max_side_outside_the_detector_limits(name, max_side):
    with pytest.raises(InvalidArgumentError, match="max_side"):
        create_detector(name, max_side=max_side)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# --- ranges: auto, tiled ---------------------------------------------------------------


@pytest.mark.parametrize(
    "length, size, overlap, expected",
    [(100, 224, 56, [0]), (224, 224, 56, [0]), (640, 224, 56, [0, 139, 277, 416])],
)
def test_tile_starts_cover_with_overlap(length, size, overlap, expected):
    starts = tile_starts(length, size, overlap)
    assert starts == expected
    assert starts[-1] + size >= length
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_merge_overlapping_keeps_the_best_of_a_face_seen_twice():
    faces = FaceDetections(
        np.array([[10, 10, 30, 30], [11, 11, 31, 31], [10, 10, 20, 30], [60, 60, 80, 80]]),
        np.array([0.9, 0.8, 0.95, 0.7]),
        np.zeros((4, 5, 2)),
    )
    merged = merge_overlapping(faces)
    # the half face (inside the whole one) scores best, but the group keeps the whole
    # face's box with the best score: one box per face, the face's full extent
    assert len(merged) == 2
    np.testing.assert_allclose(merged.xyxy, [[10, 10, 30, 30], [60, 60, 80, 80]])
    np.testing.assert_allclose(merged.scores, [0.95, 0.7])


def test_auto_searches_tiles_only_where_short_range_finds_nothing(lfw_dir, monkeypatch):
    det = create_detector("mediapipe")
    assert det.options.range.value == "auto"
    calls = []
    tiled = det._tiled
    monkeypatch.setattr(
        det, "_tiled", lambda image, **kw: calls.append(image.shape) or tiled(image, **kw)
    )
    with det:
        near = det.detect(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
        assert len(near) == 1 and calls == []
        det.detect(np.zeros((360, 640, 3), np.uint8))
        assert calls == [(360, 640, 3)]


def test_tiles_holding_keeps_the_grid_tiles_under_the_boxes():
    grid = [(x, y, 224) for y in tile_starts(720, 224, 56) for x in tile_starts(1280, 224, 56)]
    assert len(grid) == 32
    inside = [[20, 20, 50, 50]]  # in the first tile only
    straddling = [[200, 20, 240, 60]]  # across the first two tiles' shared strip
    tiles = tiles_holding(grid, np.array(inside, np.float32))
    assert tiles == [grid[0]]
    tiles = tiles_holding(grid, np.array(straddling, np.float32))
    assert grid[0] in tiles and grid[1] in tiles and len(tiles) == 2
    assert tiles_holding(grid, np.zeros((0, 4), np.float32)) == []
    assert tiles_holding(grid, np.array([[-50, -50, -10, -10]], np.float32)) == []


@pytest.fixture(scope="module")
def crowd_start(crowd_video):
    """Frames 0-3 of crowd_walk.mp4, consecutive (as the live loop sees them)."""
    from workbench.live import VideoFileSource

    with VideoFileSource(crowd_video) as video:
        return [f.image for f, _ in zip(video, range(4), strict=False)]


def test_auto_near_expected_faces_finds_the_crowds_faces_with_few_calls(crowd_start, monkeypatch):
    """Frame 3 of crowd_walk.mp4 searched every tile (the reference) and searched only
    around frame 0's faces (what the live loop does between full searches): most of the
    reference faces are found again, with a fraction of the model calls."""
    det = create_detector("mediapipe")
    calls = []
    run = det._run
    monkeypatch.setattr(
        det, "_run", lambda asset, image, **kw: calls.append(asset) or run(asset, image, **kw)
    )
    with det:
        previous = det.detect(crowd_start[0]).xyxy
        calls.clear()
        reference = det.detect(crowd_start[3])
        full_calls, calls[:] = len(calls), []
        near = det.detect(crowd_start[3], near=previous)
        near_calls, calls[:] = len(calls), []
        only_frame = det.detect(crowd_start[3], near=np.zeros((0, 4), np.float32))
        assert len(calls) == 2  # short range, then full range on the whole frame
    assert len(reference) >= 5 and len(previous) >= 5
    found = (box_iou(reference.xyxy, near.xyxy).max(axis=1) >= 0.3).sum()
    assert found >= 0.8 * len(reference), (found, len(reference))
    assert near_calls <= full_calls / 3, (near_calls, full_calls)
    # The whole-frame call alone misses most of these small faces: the tiles matter.
    assert len(only_frame) < len(near)


def test_auto_searches_every_tile_when_the_expected_faces_are_not_there(crowd_start):
    """Expected faces where frame 3 has none (frame 0's boxes moved up into the arches):
    the hint is wrong, so the search falls back to every tile and finds what it finds."""
    with create_detector("mediapipe") as det:
        reference = det.detect(crowd_start[3])
        previous = det.detect(crowd_start[0]).xyxy
        wrong = previous - np.array([0, 400, 0, 400], np.float32)
        assert (wrong[:, 3] > 0).all()
        faces = det.detect(crowd_start[3], near=wrong)
    assert len(reference) >= 5
    np.testing.assert_allclose(faces.xyxy, reference.xyxy)


def test_tiled_in_video_mode_keeps_timestamps(lfw_dir):
    path = lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"
    with create_detector("mediapipe", range="tiled", running_mode="video") as det:
        assert centre_hits(det.detect(path, timestamp_ms=5), 250, 250) == 1
        with pytest.raises(InvalidArgumentError, match="increasing"):
            det.detect(path, timestamp_ms=5)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"tile_size": 50}, "tile_size"),
        ({"model_path": "/x.tflite"}, "model_path needs range"),
        ({"range": "wide"}, "range must be one of"),
    ],
)
def test_bad_range_options(options, match):
    with pytest.raises(InvalidArgumentError, match=match):
        create_detector("mediapipe", **options)


def test_detector_choices_build_and_unknown_label_lists_them():
    for label, (name, options) in DETECTOR_CHOICES.items():
        det = create_detector_choice(label)
        assert det.name == name
        for key, value in options.items():
            assert getattr(det.options, key).value == value
        det.close()
    with pytest.raises(ValueError, match="valid choices"):
        create_detector_choice("mediapipe medium")
