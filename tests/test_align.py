"""Alignment: the similarity fit, keypoints landing on the template, the pyramid path for
big faces, input errors, and a comparison with dlib's own chips on real LFW photos."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from workbench.align import (
    CHIP_SIZE,
    TEMPLATES,
    align_face,
    align_faces,
    chip_transform,
    similarity_transform,
)
from workbench.errors import InvalidArgumentError, InvalidImageError
from workbench.faces import FaceDetections

ROOT = Path(__file__).resolve().parent.parent


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array(
        [
            [scale * math.cos(a), -scale * math.sin(a), tx],
            [scale * math.sin(a), scale * math.cos(a), ty],
        ]
    )


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.hstack([pts, np.ones((len(pts), 1))]) @ m.T


def test_similarity_transform_recovers_a_known_one():
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    m = _similarity(17, 1.7, 12.0, -30.0)
    np.testing.assert_allclose(similarity_transform(src, _apply(m, src)), m, atol=1e-9)


def test_similarity_transform_never_mirrors():
    src = np.array([[0, 0], [10, 0], [0, 10], [30, 20]], float)
    m = similarity_transform(src, src * [-1, 1])
    assert np.linalg.det(m[:, :2]) >= 0


def test_weights_choose_the_points_that_count():
    src = np.array([[0, 0], [10, 0], [5, 5], [0, 10], [10, 10]], float)
    dst = src.copy()
    dst[3:] += 7.0  # the last two points disagree
    m = similarity_transform(src, dst, weights=[1, 1, 1, 0, 0])
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def _dotted_image(keypoints: np.ndarray, shape=(400, 500), radius=3) -> np.ndarray:
    """A grey image with a bright red dot at each keypoint."""
    img = np.full((*shape, 3), 60, np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for x, y in keypoints:
        img[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = (255, 0, 0)
    return img


def _dot_centres(chip: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Centroid of the red pixels closest to each of the points ``near``."""
    ys, xs = np.nonzero(chip[..., 0] > 150)
    pix = np.stack([xs, ys], 1).astype(float)
    owner = np.argmin(np.linalg.norm(pix[:, None] - near[None], axis=2), axis=1)
    return np.array([pix[owner == k].mean(0) for k in range(len(near))])


@pytest.mark.parametrize(("angle", "scale"), [(0, 1.0), (12, 1.4), (-25, 0.8)])
def test_keypoints_land_on_the_template(angle, scale):
    template = TEMPLATES["mtcnn"].astype(float)
    # Place the face in the image by a known similarity of the template.
    keypoints = _apply(_similarity(angle, scale, 160, 120), template)
    chip = align_face(_dotted_image(keypoints, radius=4), keypoints, template="mtcnn")
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and chip.dtype == np.uint8
    np.testing.assert_allclose(_dot_centres(chip, template), template, atol=1.0)


def test_big_face_goes_through_the_pyramid():
    template = TEMPLATES["mediapipe"].astype(float)
    keypoints = _apply(_similarity(8, 6.0, 300, 150), template)  # 6x the chip's scale
    image = _dotted_image(keypoints, shape=(1400, 1500), radius=20)
    chip = align_face(image, keypoints, template="mediapipe")
    np.testing.assert_allclose(_dot_centres(chip, template), template, atol=1.5)
    m = chip_transform(keypoints, template="mediapipe")
    assert math.isclose(np.sqrt(np.linalg.det(m[:, :2])), 1 / 6, rel_tol=1e-6)


def test_face_off_the_edge_is_black_there():
    template = TEMPLATES["mtcnn"].astype(float)
    keypoints = _apply(_similarity(0, 1.0, -60, 0), template)  # left part outside
    chip = align_face(np.full((200, 200, 3), 200, np.uint8), keypoints)
    assert (chip[:, :40] == 0).all() and (chip[:, 80:] == 200).all()


def test_align_faces_batches_and_handles_none():
    image = np.full((300, 300, 3), 90, np.uint8)
    kp = _apply(_similarity(0, 1.0, 50, 50), TEMPLATES["mtcnn"].astype(float))
    dets = FaceDetections(
        np.array([[40, 40, 200, 200]] * 2, np.float32),
        np.array([0.9, 0.8], np.float32),
        np.stack([kp, kp + 30]).astype(np.float32),
    )
    chips = align_faces(image, dets)
    assert chips.shape == (2, CHIP_SIZE, CHIP_SIZE, 3)
    assert align_faces(image, FaceDetections.empty()).shape == (0, CHIP_SIZE, CHIP_SIZE, 3)


@pytest.mark.parametrize(
    ("image", "keypoints", "error", "message"),
    [
        (np.zeros((10, 10), np.uint8), np.zeros((5, 2)), InvalidImageError, r"\(H, W, 3\)"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((5, 2)), InvalidImageError, "float32"),
        ("photo.jpg", np.zeros((5, 2)), InvalidImageError, "str"),
        (np.zeros((10, 10, 3), np.uint8), np.zeros((4, 2)), InvalidArgumentError, r"\(4, 2\)"),
        (np.zeros((10, 10, 3), np.uint8), np.full((5, 2), np.nan), InvalidArgumentError, "finite"),
        (np.zeros((10, 10, 3), np.uint8), np.ones((5, 2)), InvalidArgumentError, "degenerate"),
    ],
)
def test_bad_inputs(image, keypoints, error, message):
    with pytest.raises(error, match=message):
        align_face(image, keypoints)


def test_unknown_template_lists_names():
    kp = TEMPLATES["mtcnn"]
    with pytest.raises(InvalidArgumentError, match="mediapipe"):
        align_face(np.zeros((150, 150, 3), np.uint8), kp, template="MTCNN")


def _derive_script():
    spec = importlib.util.spec_from_file_location(
        "derive_align_template", ROOT / "scripts" / "derive_align_template.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dlib_5_point(lfw_dir):
    dlib = pytest.importorskip("dlib", reason="dlib-bin (the reference oracle) is not installed")
    from face_recognition_models import pose_predictor_five_point_model_location

    from workbench.images import load_image

    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(pose_predictor_five_point_model_location())
    out = []
    for path in sorted(lfw_dir.glob("*/*.jpg"))[::701][:8]:
        image = load_image(path)
        rects = hog(image, 1)
        if len(rects) == 1:
            shape = predictor(image, rects[0])
            out.append((image, shape, np.asarray(dlib.get_face_chip(image, shape, 150, 0.25))))
    return out


def test_derivation_replays_dlibs_chip_transform(dlib_5_point):
    import cv2

    script = _derive_script()
    for image, shape, dlib_chip in dlib_5_point:
        parts = np.array([[shape.part(k).x, shape.part(k).y] for k in range(5)], float)
        to_image = script.dlib_chip_to_image(parts)
        replay = cv2.warpAffine(
            image, to_image, (150, 150), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        # dlib truncates where OpenCV rounds: at most one level apart, half on average.
        assert np.abs(replay.astype(int) - dlib_chip.astype(int)).mean() < 1.0


def test_our_chips_embed_like_dlibs(dlib_5_point, mediapipe_detector):
    from workbench.errors import ModelAssetError

    try:
        from workbench.embed import Embedder

        embedder = Embedder().load()
    except ModelAssetError as exc:
        pytest.skip(f"embedder weights unavailable: {exc}")
    ours, theirs = [], []
    for image, _, dlib_chip in dlib_5_point:
        faces = mediapipe_detector.detect(image)
        if len(faces):
            ours.append(align_face(image, faces.largest().keypoints[0], template="mediapipe"))
            theirs.append(dlib_chip)
    assert len(ours) >= 5
    d = np.linalg.norm(embedder.embed(np.stack(ours)) - embedder.embed(np.stack(theirs)), axis=1)
    print(f"\nembedding distance, our mediapipe chip vs dlib's chip: median {np.median(d):.3f}")
    # Same photo, two alignments: far below the 0.6 same-person threshold.
    assert np.median(d) < 0.3
