"""``FaceDetections``: the one result type every detector returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import InvalidArgumentError

#: The label of a face nobody is named for: no gallery match under the threshold, or (in
#: the live loop) no recognition yet. ``Match.label`` and the tracker use this one value.
UNKNOWN = "unknown"


def or_label(first: str, second: str) -> str:
    """The label of a face the gallery cannot tell between two look-alikes: ``"X or Y?"``.

    A person name never holds ``?`` (:func:`workbench.gallery.names.validate_name`), so
    no such label is ever a name; :func:`is_named` tells them apart.

    Example:
        >>> or_label("Ann", "Bea")
        'Ann or Bea?'
    """
    return f"{first} or {second}?"


def is_named(label: str) -> bool:
    """Whether a face's label names one person: not :data:`UNKNOWN` and not an
    :func:`or_label` ``"X or Y?"`` (names never hold ``?``).

    Example:
        >>> [is_named(x) for x in ("Ann", "unknown", "Ann or Bea?")]
        [True, False, False]
    """
    return label != UNKNOWN and not label.endswith("?")


#: Keypoint order shared by both detectors and by :mod:`workbench.align`. "Left" is the
#: side on the image's left, which is the subject's right for a photo facing the camera.
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True, eq=False)
class FaceDetections:
    """Faces found in one image, as parallel arrays.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes ``x1, y1, x2, y2`` in pixels of the input image.
        scores: ``(n,)`` float32 detector confidences in ``[0, 1]``.
        keypoints: ``(n, 5, 2)`` float32 ``(x, y)`` pixels in :data:`KEYPOINT_NAMES` order.

    BlazeFace (MediaPipe) gives six keypoints: right eye, left eye, nose tip, mouth
    centre, right ear tragion, left ear tragion, with "right" meaning the subject's right
    (image left). They map onto ours as: left_eye = BlazeFace right eye, right_eye =
    BlazeFace left eye, nose = nose tip, and both mouth corners are estimated from the
    mouth centre moved sideways by 0.44 of the eye distance along the eye line (BlazeFace
    has no corners; the factor is the mean ratio of mouth width to eye distance measured
    with MTCNN on LFW). The ears are dropped. MTCNN's ``left_eye``/``right_eye``/``nose``/
    ``mouth_left``/``mouth_right`` are already image-left/right and map one to one.

    Example:
        >>> dets = FaceDetections.empty()
        >>> len(dets)
        0
        >>> dets[dets.scores > 0.5].xyxy.shape
        (0, 4)
    """

    xyxy: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        xyxy = _as_float_array(self.xyxy, "xyxy")
        scores = _as_float_array(self.scores, "scores")
        keypoints = _as_float_array(self.keypoints, "keypoints")
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidArgumentError(
                f"xyxy must be a 2D array with shape (_, 4), but got shape {xyxy.shape}"
            )
        n = xyxy.shape[0]
        if scores.shape != (n,):
            raise InvalidArgumentError(
                f"scores must have shape ({n},) to match xyxy, but got shape {scores.shape}"
            )
        if keypoints.shape != (n, 5, 2):
            raise InvalidArgumentError(
                f"keypoints must have shape ({n}, 5, 2) to match xyxy, "
                f"but got shape {keypoints.shape}"
            )
        if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
            raise InvalidArgumentError("xyxy boxes must have x2 >= x1 and y2 >= y1")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "keypoints", keypoints)

    @classmethod
    def empty(cls) -> FaceDetections:
        """No faces."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 5, 2), np.float32),
        )

    @classmethod
    def concatenate(cls, parts: list[FaceDetections]) -> FaceDetections:
        """Join detections of the same image."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: Any) -> FaceDetections:
        """Select faces by a boolean mask, an index array, a slice or an int."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return FaceDetections(self.xyxy[index], self.scores[index], self.keypoints[index])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def widths(self) -> np.ndarray:
        """``(n,)`` box widths in pixels."""
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        """``(n,)`` box heights in pixels."""
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def areas(self) -> np.ndarray:
        """``(n,)`` box areas in square pixels."""
        return self.widths * self.heights

    def mapped(
        self, *, scale: tuple[float, float] = (1.0, 1.0), offset: tuple[float, float] = (0.0, 0.0)
    ) -> FaceDetections:
        """Boxes and keypoints moved into another image's pixels: ``x * sx + dx``,
        ``y * sy + dy`` (a scaled-down copy or a crop back to the original)."""
        (sx, sy), (dx, dy) = scale, offset
        if not len(self) or (sx, sy, dx, dy) == (1.0, 1.0, 0.0, 0.0):
            return self
        factor = np.array([sx, sy], np.float32)
        shift = np.array([dx, dy], np.float32)
        xyxy = (self.xyxy.reshape(-1, 2, 2) * factor + shift).reshape(-1, 4)
        return FaceDetections(xyxy, self.scores, self.keypoints * factor + shift)

    def largest(self) -> FaceDetections:
        """The single largest face (empty if there is none)."""
        if not len(self):
            return self
        return self[int(np.argmax(self.areas))]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain Python lists, ready for JSON."""
        return [
            {
                "box": [round(float(v), 1) for v in self.xyxy[i]],
                "score": round(float(self.scores[i]), 4),
                "keypoints": {
                    name: [round(float(v), 1) for v in self.keypoints[i, k]]
                    for k, name in enumerate(KEYPOINT_NAMES)
                },
            }
            for i in range(len(self))
        ]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union.

    Args:
        a: ``(n, 4)`` boxes ``x1, y1, x2, y2``.
        b: ``(m, 4)`` boxes.

    Returns:
        ``(n, m)`` float32 IoU in ``[0, 1]`` (0 for empty boxes).
    """
    a = np.asarray(a, np.float32)[:, None, :]
    b = np.asarray(b, np.float32)[None, :, :]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise InvalidArgumentError(f"{name} must be finite, but contains NaN or infinity")
    return arr
