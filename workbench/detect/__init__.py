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


#: Detector set-ups offered in menus (the live panel's dropdown): label -> registry name
#: and options. The first is the default.
DETECTOR_CHOICES: dict[str, tuple[str, dict]] = {
    "mediapipe": ("mediapipe", {}),
    "mediapipe tiled (small faces)": ("mediapipe", {"range": "tiled"}),
    "mediapipe short range": ("mediapipe", {"range": "short"}),
    "mediapipe full range": ("mediapipe", {"range": "full"}),
    "mtcnn": ("mtcnn", {}),
}


def create_detector_choice(label: str) -> Detector:
    """Build the detector of a :data:`DETECTOR_CHOICES` label.

    Raises:
        ValueError: an unknown label, listing the valid ones.
    """
    try:
        name, options = DETECTOR_CHOICES[label]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown detector choice {label!r}; valid choices: {list(DETECTOR_CHOICES)}"
        ) from None
    return create_detector(name, **options)


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
    "DETECTOR_CHOICES",
    "Detector",
    "DetectorOptions",
    "MTCNNDetector",
    "MTCNNOptions",
    "MediaPipeDetector",
    "MediaPipeOptions",
    "Range",
    "RunningMode",
    "create_detector",
    "create_detector_choice",
]
