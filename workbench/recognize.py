"""``Recognizer``: detector + aligner + embedder + gallery, one image at a time.

The steps themselves (pick a face, align, embed; many images in batches) are
:mod:`workbench.pipeline`, re-exported here. The live loop uses the parts separately
(detect every frame, embed only new tracks); everything else calls
:meth:`Recognizer.recognize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from workbench.detect.base import as_rgb
from workbench.faces import FaceDetections
from workbench.images import ImageInput
from workbench.pipeline import (
    PICKS,
    FaceChips,
    Pick,
    align,
    embed_chips,
    embed_faces,
    face_chips,
    pick_face,
    picked_faces,
)

if TYPE_CHECKING:
    from workbench.detect.base import Detector
    from workbench.embed.embedder import FaceEmbedder
    from workbench.gallery import Gallery, Match


@runtime_checkable
class FaceRecognizer(Protocol):
    """What enrollment and the live loop need of a recognizer: :class:`Recognizer` is
    one; so is any object with these two methods (the tests' fakes)."""

    def detect(self, image: ImageInput) -> FaceDetections:
        """Every face in one image."""
        ...

    def embed(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, D)`` float32 embeddings of the given faces of ``image``."""
        ...


@dataclass(frozen=True)
class Recognition:
    """Faces in one image and who they are.

    Attributes:
        detections: the faces found.
        matches: one match per face (``.label`` is the name or ``"unknown"``).
        embeddings: ``(n, 128)`` float32 embeddings of the faces.
    """

    detections: FaceDetections
    matches: list[Match]
    embeddings: np.ndarray

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready faces: box, name (or ``"unknown"``), distance, accepted."""
        out = []
        for i, match in enumerate(self.matches):
            out.append(
                {
                    "box": [round(float(v), 1) for v in self.detections.xyxy[i]],
                    "name": match.label,
                    "distance": None if match.distance is None else round(float(match.distance), 4),
                    "accepted": bool(match.accepted),
                }
            )
        return out


class Recognizer:
    """Finds faces and names them against a gallery.

    Args:
        detector: a :class:`workbench.detect.Detector`.
        embedder: a :class:`workbench.embed.Embedder`.
        gallery: a :class:`workbench.gallery.Gallery`, or ``None`` to only detect and embed
            (enrollment needs no gallery to search).

    The recognizer does not own its parts: closing them is the caller's job (or use
    :func:`open_recognizer`).
    """

    def __init__(
        self, detector: Detector, embedder: FaceEmbedder, gallery: Gallery | None = None
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery

    def detect(self, image: ImageInput) -> FaceDetections:
        """Faces in one image."""
        return self.detector.detect(image)

    def chips(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, 150, 150, 3)`` uint8 aligned chips of the given faces of ``image``, with
        this detector's template (many images: :func:`workbench.pipeline.face_chips`)."""
        return align(image, detections, detector=self.detector)

    def embed(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, 128)`` float32 embeddings of the given faces of ``image``."""
        return embed_faces(image, detections, detector=self.detector, embedder=self.embedder)

    def identify(self, embeddings: np.ndarray) -> list[Match]:
        """The best gallery match of each embedding."""
        if self.gallery is None:
            raise ValueError("this recognizer has no gallery to identify against")
        if not len(embeddings):
            return []
        return self.gallery.search(embeddings, k=1).best()

    def recognize(self, image: ImageInput) -> Recognition:
        """Detect, align, embed and identify every face in ``image``."""
        image = as_rgb(image)
        detections = self.detect(image)
        embeddings = self.embed(image, detections)
        matches = self.identify(embeddings) if len(detections) else []
        return Recognition(detections, matches, embeddings)


class open_recognizer:  # noqa: N801 - used like a function: `with open_recognizer(...) as r`
    """Build a recognizer that owns its detector, embedder and (optional) gallery file,
    and closes them on exit.

    Example:
        >>> with open_recognizer(gallery="gallery.sqlite") as rec:  # doctest: +SKIP
        ...     print(rec.recognize("photo.jpg").to_dicts())
    """

    def __init__(self, *, detector: str = "mediapipe", gallery=None, **detector_options) -> None:
        self._detector_name = detector
        self._detector_options = detector_options
        self._gallery_path = gallery
        self._owned: list = []

    def __enter__(self) -> Recognizer:
        from workbench.detect import create_detector
        from workbench.embed import default_embedder

        try:
            detector = create_detector(self._detector_name, **self._detector_options)
            self._owned.append(detector)
            embedder = default_embedder()
            gallery = None
            if self._gallery_path is not None:
                from workbench.gallery import Gallery

                gallery = Gallery(self._gallery_path, model_id=embedder.model_id, create=False)
                self._owned.append(gallery)
            return Recognizer(detector, embedder, gallery)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info) -> None:
        while self._owned:
            self._owned.pop().close()


__all__ = [
    "PICKS",
    "FaceChips",
    "FaceRecognizer",
    "Pick",
    "Recognition",
    "Recognizer",
    "align",
    "embed_chips",
    "embed_faces",
    "face_chips",
    "open_recognizer",
    "pick_face",
    "picked_faces",
]
