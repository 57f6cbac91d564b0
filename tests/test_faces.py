import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.faces import FaceDetections


def _dets(n: int) -> FaceDetections:
    xyxy = np.array([[i * 10, 0, i * 10 + 5 + i, 8] for i in range(n)], np.float32)
    return FaceDetections(xyxy, np.linspace(0.1, 0.9, n), np.zeros((n, 5, 2)))


def test_len_and_mask_indexing():
    d = _dets(4)
    assert len(d) == 4
    kept = d[d.scores > 0.5]
    assert len(kept) == 2
    assert kept.scores.dtype == np.float32
    assert len(d[1]) == 1 and d[1].xyxy[0, 0] == 10
    assert len(d[1:3]) == 2
    assert len(d.largest()) == 1 and d.largest().xyxy[0, 0] == 30
    assert len(FaceDetections.empty().largest()) == 0
    assert [len(x) for x in d] == [1, 1, 1, 1]


def test_to_dicts_names_keypoints():
    item = _dets(1).to_dicts()[0]
    assert set(item) == {"box", "score", "keypoints"}
    assert list(item["keypoints"]) == [
        "left_eye", "right_eye", "nose", "mouth_left", "mouth_right",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "xyxy, scores, keypoints, match",
    [
        (np.zeros((3,)), np.zeros(3), np.zeros((3, 5, 2)), r"shape \(_, 4\), but got shape \(3,\)"),
        (np.zeros((2, 4)), np.zeros(3), np.zeros((2, 5, 2)), r"scores must have shape \(2,\)"),
        (np.zeros((2, 4)), np.zeros(2), np.zeros((2, 6, 2)), r"keypoints must have shape"),
        ([[5, 0, 1, 1]], [1.0], np.zeros((1, 5, 2)), "x2 >= x1"),
        ([[0, 0, np.nan, 1]], [1.0], np.zeros((1, 5, 2)), "NaN"),
    ],
)
def test_checked_when_built(xyxy, scores, keypoints, match):
    with pytest.raises(InvalidArgumentError, match=match):
        FaceDetections(xyxy, scores, keypoints)


def test_mapped_scales_and_shifts_boxes_and_keypoints():
    kp = np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    dets = FaceDetections(np.array([[1, 2, 3, 4]], np.float32), np.array([0.9]), kp)
    moved = dets.mapped(scale=(2.0, 3.0), offset=(10.0, 20.0))
    np.testing.assert_allclose(moved.xyxy, [[12, 26, 16, 32]])
    np.testing.assert_allclose(moved.keypoints[0, 1], [2 * 2 + 10, 3 * 3 + 20])
    np.testing.assert_allclose(moved.scores, dets.scores)
    assert dets.mapped() is dets
    assert FaceDetections.empty().mapped(scale=(2, 2)).xyxy.shape == (0, 4)
