"""Face detectors behind one protocol, chosen by name.

Example:
    >>> from workbench.detect import create_detector
    >>> with create_detector("mediapipe", min_score=0.6) as detector:  # doctest: +SKIP
    ...     faces = detector.detect("photo.jpg")
"""

from __future__ import annotations

from workbench.detect.base import Detector, DetectorBase, DetectorOptions
from workbench.detect.mediapipe_detector import (
    MediaPipeDetector,
    MediaPipeOptions,
    Range,
    RunningMode,
)
from workbench.detect.mtcnn_detector import MTCNNDetector, MTCNNOptions
from workbench.errors import InvalidArgumentError

#: Name -> detector class. Constructing one loads nothing; the model loads on first use.
DETECTORS: dict[str, type[DetectorBase]] = {
    "mediapipe": MediaPipeDetector,
    "mtcnn": MTCNNDetector,
}


def create_detector(name: str = "mediapipe", **options) -> Detector:
    """Build a detector by name.

    Args:
        name: a key of :data:`DETECTORS` (exact, lower case).
        **options: keyword options of that detector (see :class:`MediaPipeOptions`,
            :class:`MTCNNOptions`).

    Raises:
        InvalidArgumentError: (a ``ValueError``) an unknown name, listing the valid
            ones, or an option outside its range.
    """
    try:
        cls = DETECTORS[name]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"unknown detector {name!r}; valid names: {sorted(DETECTORS)}"
        ) from None
    return cls(**options)


__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorOptions",
    "MTCNNDetector",
    "MTCNNOptions",
    "MediaPipeDetector",
    "MediaPipeOptions",
    "Range",
    "RunningMode",
    "create_detector",
]
