"""Enrolled identities in one SQLite file or a PostgreSQL database; exact and approximate
search; threshold.

Example:
    >>> from workbench.gallery import Gallery
    >>> with Gallery(DEFAULT_PATH, model_id=embedder.model_id) as g:  # doctest: +SKIP
    ...     summary = g.enroll_folder("reference_images/", recognizer=rec)
    ...     print(g.threshold_info)  # re-derived by the enrollment: prior or calibrated
    ...     print([m.label for m in g.search(embeddings).best()])
"""

from __future__ import annotations

from workbench.gallery.calibrate import Calibration, ThresholdInfo
from workbench.gallery.core import DEFAULT_PATH, Gallery, default_threshold
from workbench.gallery.enroll import DetectedPhoto, EnrollSummary, MultipleFaces
from workbench.gallery.names import validate_name
from workbench.gallery.pgstore import gallery_location
from workbench.gallery.portable import ImportSummary
from workbench.gallery.search import ANN_THRESHOLD, UNKNOWN, IndexOptions, Match, SearchResult
from workbench.gallery.store import SCHEMA_VERSION, FaceRecord
from workbench.gallery.types import Decision, FaceBatch, PersonInfo
from workbench.gallery.unknowns import UnknownFace, UnknownsPolicy

__all__ = [
    "ANN_THRESHOLD",
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "UNKNOWN",
    "Calibration",
    "Decision",
    "DetectedPhoto",
    "EnrollSummary",
    "FaceBatch",
    "FaceRecord",
    "Gallery",
    "ImportSummary",
    "IndexOptions",
    "Match",
    "MultipleFaces",
    "PersonInfo",
    "SearchResult",
    "ThresholdInfo",
    "UnknownFace",
    "UnknownsPolicy",
    "default_threshold",
    "gallery_location",
    "validate_name",
]
