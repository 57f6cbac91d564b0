"""Test-time augmentation: several slightly moved chips of one face, embedded and averaged.

dlib's ``compute_face_descriptor(..., num_jitters=n)`` embeds ``n`` randomly jittered
copies of the chip (rotation up to 3 degrees, scale 0.97 to 1.0, shift up to 2%, mirror
half the time) and averages them. Here the jitters are a fixed table (:data:`JITTERS`),
so an embedding is reproducible, and each jittered chip is cut from the *photo* again
(the template is moved, not the chip), so no black border enters the chip.

On LFW View 2 (MediaPipe, 10-fold, both faces of each pair augmented) flip alone gives
99.20%, jitter 1 + flip (4 chips) 99.37%, jitter 4 + flip (10 chips) 99.38% (McNemar
against flip p = 0.003); ``benchmarks/lfw_tta.py``, ``docs/benchmarks/lfw.md``.

Moving the template by a similarity ``J`` about the chip centre gives the chip of
``J`` composed with the face's alignment, because the least-squares similarity fit is
equivariant under a similarity of its targets.

Example:
    >>> import numpy as np
    >>> t = jittered_template(np.array([[50.0, 50.0], [100.0, 50.0]]), Jitter(0, 1.0, 2, 0))
    >>> t.round(1).tolist()
    [[52.0, 50.0], [102.0, 50.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import InvalidArgumentError


@dataclass(frozen=True)
class Jitter:
    """One move of the chip: rotation (degrees, about the chip centre), scale, shift (chip
    pixels)."""

    degrees: float
    scale: float
    dx: float
    dy: float


#: The fixed jitters, in the order they are used (``jitter=k`` takes the first ``k``);
#: each within dlib's ``jitter_image`` ranges (3 degrees, 3% scale, 2% = 3 px shift).
JITTERS: tuple[Jitter, ...] = (
    Jitter(3.0, 1.0, 0.0, 0.0),
    Jitter(-3.0, 1.0, 0.0, 0.0),
    Jitter(0.0, 0.97, 0.0, 0.0),
    Jitter(0.0, 1.03, 0.0, 0.0),
    Jitter(0.0, 1.0, 3.0, 0.0),
    Jitter(0.0, 1.0, -3.0, 0.0),
    Jitter(0.0, 1.0, 0.0, 3.0),
    Jitter(0.0, 1.0, 0.0, -3.0),
)


@dataclass(frozen=True)
class Augment:
    """Which chips of a face are embedded and averaged: the plain chip, the first
    ``jitter`` of :data:`JITTERS`, and with ``flip`` the mirror of each."""

    jitter: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.jitter, bool) or not 0 <= int(self.jitter) <= len(JITTERS):
            raise InvalidArgumentError(
                f"jitter must be 0 to {len(JITTERS)}, but got {self.jitter!r}"
            )

    @property
    def chips_per_face(self) -> int:
        """Embeddings each face costs."""
        return (1 + self.jitter) * (1 + self.flip)


#: No augmentation: one chip per face (the live loop and recognition).
NONE = Augment()
#: What enrollment embeds per face (:meth:`workbench.recognize.Recognizer.enrollment_chips`).
#: One chip: on LFW View 2 (MediaPipe, 10-fold) augmenting only the enrolled face of each
#: pair gave at best 99.15% against 98.98% plain (jitter 2 + flip, 6 chips; McNemar p =
#: 0.064), not beyond noise; augmenting both faces gives 99.38% (jitter 4 + flip) but needs
#: the live loop to embed 4 to 10 chips a face. ``docs/benchmarks/lfw.md`` has the table.
ENROLL_AUGMENT = NONE


def jittered_template(template: np.ndarray, jitter: Jitter, *, size: int = 150) -> np.ndarray:
    """``template`` (``(n, 2)`` chip pixels) moved by ``jitter`` about the chip centre."""
    t = np.asarray(template, np.float64)
    a = np.deg2rad(jitter.degrees)
    rot = jitter.scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array([size / 2, size / 2])
    return (t - c) @ rot.T + c + np.array([jitter.dx, jitter.dy])


def augmented_chips(
    image: np.ndarray,
    keypoints: np.ndarray,
    *,
    template: str,
    jitter: int = 0,
    flip: bool = False,
) -> np.ndarray:
    """The chips whose embeddings are averaged for one face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(5, 2)`` keypoints of the face.
        template: a key of :data:`workbench.align.TEMPLATES` (the detector's).
        jitter: how many of :data:`JITTERS` to add to the plain chip (0 to 8).
        flip: add the mirror image of every chip.

    Returns:
        ``(k, 150, 150, 3)`` uint8, the plain chip first; ``k = (1 + jitter) * (1 + flip)``.
    """
    from workbench.align import KEYPOINT_WEIGHTS, TEMPLATES, align_face

    if not 0 <= jitter <= len(JITTERS):
        raise InvalidArgumentError(f"jitter must be 0 to {len(JITTERS)}, but got {jitter}")
    if template not in TEMPLATES:
        raise InvalidArgumentError(f"unknown template {template!r}; known: {sorted(TEMPLATES)}")
    base = TEMPLATES[template]
    weights = KEYPOINT_WEIGHTS[template]
    chips = [align_face(image, keypoints, template=template)]
    for j in JITTERS[:jitter]:
        chips.append(
            align_face(image, keypoints, template=jittered_template(base, j), weights=weights)
        )
    out = np.stack(chips)
    if flip:
        out = np.concatenate([out, out[:, :, ::-1]])
    return np.ascontiguousarray(out)


__all__ = [
    "ENROLL_AUGMENT",
    "JITTERS",
    "NONE",
    "Augment",
    "Jitter",
    "augmented_chips",
    "jittered_template",
]
