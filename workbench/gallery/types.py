"""The gallery's shared types: how a person's distance is decided, what a person row
holds, and one person's faces on their way into a write.

Every gallery module (core, store, search, calibrate, enroll, portable) may import this
one; it imports none of them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Model ids of the fused embedder (:mod:`workbench.embed.fused`) start so. Its distances
#: have another scale than dlib's (LFW pair threshold 0.75 against 0.60), so every
#: constant measured in distances (the threshold prior, the clustering cut, the
#: look-alike rule) has a fused value, picked by :func:`is_fused`.
FUSED_PREFIX = "fused-"


def is_fused(model_id: str | None) -> bool:
    """Whether ``model_id`` (``Gallery.model_id``, ``Embedder.model_id``) is the fused
    embedder's.

    Example:
        >>> is_fused("fused-dlib_resnet_v1-55533b28a958+mobilefacenet-d8ba40c0127f-w0.625")
        True
        >>> is_fused("dlib_resnet_v1-55533b28a958"), is_fused(None)
        (False, False)
    """
    return model_id is not None and model_id.startswith(FUSED_PREFIX)


class Decision(enum.Enum):
    """How a query's distance to a person is defined.

    ``CENTROID`` (the default): the distance to the mean of that person's enrolled faces.
    ``NEAREST_FACE``: the distance to that person's nearest enrolled face.

    Measured on LFW with 3 photos enrolled for each of 610 people and thresholds
    calibrated per decision so that the same share of 4,069 strangers is rejected: the
    centroid names 92.2 % of known probes right at 95.7 % strangers rejected, the nearest
    face 87.7 %; at 99.3 % rejected 73.9 % against 64.3 %; rank-1 98.0 % against 97.7 %.
    Averaging cancels pose and lighting noise of single photos, while the nearest face
    lets any one lucky photo of someone else match. With one photo per person the two
    are the same. Details: ``docs/benchmarks/gallery.md``.
    """

    NEAREST_FACE = "nearest_face"
    CENTROID = "centroid"


@dataclass(frozen=True)
class PersonInfo:
    """One enrolled person.

    Attributes:
        name: the person's name (NFC).
        faces: number of enrolled faces.
        created: UTC ISO 8601 time the person was first enrolled.
    """

    name: str
    faces: int
    created: str


@dataclass(frozen=True, eq=False)
class FaceBatch:
    """One person's faces to add in a write (:meth:`Gallery.add_many`).

    Attributes:
        name: the person (created if new).
        embeddings: ``(m, D)`` float embeddings of the gallery's model.
        sources: per face, the photo's path (or ``None``).
        sha256s: per face, the photo's sha256 (for dedupe; or ``None``).
        boxes: per face, ``x1, y1, x2, y2`` in the photo (or ``None``).
        detector: the detector that found the faces, or one name per face.
        scores: per face, the detector's score (or ``None``).
        saved: per face, whether the workbench saved the photo at ``sources`` itself
            (removing the face then deletes that file); ``None``: none was.
    """

    name: str
    embeddings: np.ndarray
    sources: Sequence[str | None] | None = None
    sha256s: Sequence[str | None] | None = None
    boxes: Sequence[object] | None = None
    detector: str | Sequence[str | None] | None = None
    scores: Sequence[float | None] | None = None
    saved: Sequence[bool] | None = None
