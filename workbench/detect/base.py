"""The detector protocol and the options every detector understands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.faces import FaceDetections
from workbench.images import ImageInput, load_image


@dataclass(frozen=True, kw_only=True)
class DetectorOptions:
    """Options shared by every detector.

    Attributes:
        min_score: faces scoring below this are dropped, in ``[0, 1]``.
        min_face_size: faces whose shorter box side is below this many pixels are dropped.
        max_side: an image whose longer side exceeds this many pixels is scaled down to
            it for detection, and the faces are mapped back to the original's pixels.
            Each detector has its own default and ceiling (:attr:`MAX_SIDE_LIMIT`).
    """

    #: The largest ``max_side`` this detector accepts (subclasses lower it).
    MAX_SIDE_LIMIT = 16384

    min_score: float = 0.5
    min_face_size: int = 20
    max_side: int = 4096

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidArgumentError(f"min_score must be in [0, 1], but got {self.min_score}")
        if self.min_face_size < 0:
            raise InvalidArgumentError(
                f"min_face_size must be >= 0 pixels, but got {self.min_face_size}"
            )
        if not 32 <= self.max_side <= self.MAX_SIDE_LIMIT:
            raise InvalidArgumentError(
                f"max_side must be in [32, {self.MAX_SIDE_LIMIT}] pixels for this detector, "
                f"but got {self.max_side}"
            )

    def filter(self, detections: FaceDetections) -> FaceDetections:
        """Drop faces below the score or the size limit."""
        if not len(detections):
            return detections
        keep = (detections.scores >= self.min_score) & (
            np.minimum(detections.widths, detections.heights) >= self.min_face_size
        )
        return detections if keep.all() else detections[keep]


@runtime_checkable
class Detector(Protocol):
    """What the pipeline needs from a face detector."""

    name: str

    def detect(self, image: ImageInput) -> FaceDetections:
        """Faces in one image (any input :func:`workbench.images.load_image` takes)."""
        ...

    def detect_batch(self, images: Iterable[ImageInput]) -> list[FaceDetections]:
        """Faces in each of several images, in order."""
        ...

    def close(self) -> None:
        """Release the model; the detector cannot be used afterwards."""
        ...


class DetectorBase:
    """Shared plumbing: input loading, fitting the image to the backend's limits,
    mapping faces back, the score and size filter, context manager, closed-state checks.

    Subclasses implement :meth:`_detect` on an image already within their limits and
    return every face in that image's pixels, unfiltered.
    """

    name = "base"
    #: Set by subclasses: their options dataclass instance.
    options: DetectorOptions
    #: The shorter image side (after scaling) below which the backend can see no face;
    #: such an image gets no faces without a call.
    MIN_SIDE = 1

    def __init__(self) -> None:
        self._closed = False

    def detect(self, image: ImageInput) -> FaceDetections:
        self._check_open()
        return self._detect_within_limits(as_rgb(image))

    def detect_batch(self, images: Iterable[ImageInput]) -> list[FaceDetections]:
        self._check_open()
        return [self._detect_within_limits(as_rgb(image)) for image in images]

    def _detect_within_limits(self, image: np.ndarray, **kwargs) -> FaceDetections:
        fitted, scale = fit_image(image, max_side=self.options.max_side)
        if min(fitted.shape[:2]) < self.MIN_SIDE:
            return FaceDetections.empty()
        if kwargs.get("near") is not None:
            # Boxes given in the original's pixels, into the fitted copy's.
            kwargs["near"] = np.asarray(kwargs["near"], np.float32).reshape(-1, 4) / np.array(
                [*scale, *scale], np.float32
            )
        faces = self._detect(fitted, **kwargs).mapped(scale=scale)
        return self.options.filter(faces)

    def _detect(self, image: np.ndarray) -> FaceDetections:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError(f"the {self.name} detector is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"{type(self).__name__}({state})"


def as_rgb(image: ImageInput) -> np.ndarray:
    """Fast path for arrays that are already RGB uint8; everything else goes through
    :func:`load_image` (so bad input gets ``InvalidImageError``)."""
    if (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    ):
        return image
    return load_image(image)


def fit_image(image: np.ndarray, *, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale ``image`` down so that its longer side is at most ``max_side``.

    Native backends have hard limits (OpenCV inside MediaPipe aborts the whole process on
    a side of 32,767 px or more) and MTCNN's time and memory grow with the pixel count, so
    every detector sees a bounded copy; the detector models work at 128-192 px (BlazeFace)
    or search a pyramid from the face size up, so nothing they can find is lost.

    Returns:
        The image (the same object when it already fits) and ``(sx, sy)``, the factors
        that map the returned image's pixels back to the original's.
    """
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image, (1.0, 1.0)
    ratio = max_side / max(height, width)
    new_w = min(max_side, max(1, round(width * ratio)))
    new_h = min(max_side, max(1, round(height * ratio)))
    import cv2  # mediapipe's own OpenCV; resize has no SHRT_MAX limit

    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), (width / new_w, height / new_h)
