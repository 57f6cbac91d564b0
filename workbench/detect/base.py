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
    """

    min_score: float = 0.5
    min_face_size: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise InvalidArgumentError(f"min_score must be in [0, 1], but got {self.min_score}")
        if self.min_face_size < 0:
            raise InvalidArgumentError(
                f"min_face_size must be >= 0 pixels, but got {self.min_face_size}"
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
    """Shared plumbing: input loading, context manager, closed-state checks."""

    name = "base"

    def __init__(self) -> None:
        self._closed = False

    def detect(self, image: ImageInput) -> FaceDetections:
        self._check_open()
        return self._detect(as_rgb(image))

    def detect_batch(self, images: Iterable[ImageInput]) -> list[FaceDetections]:
        self._check_open()
        return [self._detect(as_rgb(image)) for image in images]

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
