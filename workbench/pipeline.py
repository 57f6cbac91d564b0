"""The face pipeline: images in, faces, aligned chips and embeddings out.

This is the only code that turns an image into faces, chips and embeddings; the
recognizer, the evaluation, fine-tuning, the Siamese verifier, enrollment and the panels
call it. One image goes::

    load_image -> detector.detect -> pick_face (one face, by policy) -> align (the
    detector's template) -> embedder.embed

and many images go the same way in batches (:func:`face_chips`, :func:`embed_chips`).

Which face of a photo counts is a parameter, :data:`Pick`:

- ``"largest"``: the largest box (reference photos: the subject is nearest the camera);
- ``"central"``: the box whose centre is nearest the image centre (LFW centres the named
  person, with bystanders around);
- an ``int``: that index into the detections;
- a box ``(x1, y1, x2, y2)``: the detection that overlaps it most (a tracked face in a
  live frame).

Photo discovery (which files are photos, ``<person>/<photos>`` folders) is
:mod:`workbench.photos`.

Example:
    >>> import numpy as np
    >>> from workbench.faces import FaceDetections
    >>> faces = FaceDetections(
    ...     np.array([[0, 0, 10, 10], [40, 40, 100, 100]], np.float32),
    ...     np.array([0.9, 0.8], np.float32),
    ...     np.zeros((2, 5, 2), np.float32),
    ... )
    >>> pick_face(faces, "largest").xyxy.tolist()
    [[40.0, 40.0, 100.0, 100.0]]
    >>> pick_face(faces, "central", image_size=(20, 20)).xyxy.tolist()
    [[0.0, 0.0, 10.0, 10.0]]
    >>> pick_face(faces, (38, 41, 99, 98)).xyxy.tolist()
    [[40.0, 40.0, 100.0, 100.0]]
    >>> len(pick_face(FaceDetections.empty(), "largest"))
    0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.faces import FaceDetections, box_iou
from workbench.images import ImageInput

if TYPE_CHECKING:
    from workbench.detect.base import Detector
    from workbench.embed.embedder import FaceEmbedder

#: Named face-picking policies (see the module docstring); an int or a box also works.
PICKS = ("largest", "central")


def too_small(boxes: np.ndarray, min_face_px: float) -> np.ndarray:
    """``(n,)`` bool: faces whose box is less tall than ``min_face_px`` (``0``: none).

    The one size gate (:data:`workbench.recognize.MIN_FACE_PX` by default): such a face,
    upsampled to the chip, embeds near strangers, so it is neither named
    (:meth:`Recognizer.identify <workbench.recognize.Recognizer.identify>`) nor kept as an
    unknown face to cluster.

    Example:
        >>> too_small(np.array([[0, 0, 30, 30], [0, 0, 50, 50]], np.float32), 40).tolist()
        [True, False]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (boxes[:, 3] - boxes[:, 1]) < float(min_face_px)


#: A face-picking policy: a name from :data:`PICKS`, an index, or a box ``x1, y1, x2, y2``.
Pick = Union[str, int, Sequence[float], np.ndarray]  # noqa: UP007 - a runtime alias


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


def pick_face(
    detections: FaceDetections, pick: Pick = "largest", *, image_size: tuple[int, int] | None = None
) -> FaceDetections:
    """One face of ``detections`` by the ``pick`` policy (none when there is none).

    Args:
        detections: every face found in one image.
        pick: ``"largest"``, ``"central"``, an index, or a box ``(x1, y1, x2, y2)``.
        image_size: ``(width, height)`` of the image; needed by ``"central"``.

    Returns:
        A :class:`FaceDetections` of length 1, or 0 when ``detections`` is empty (or, for
        a box, when no detection overlaps it).

    Raises:
        InvalidArgumentError: an unknown policy name, an index out of range, a box of
            another shape, or ``"central"`` without ``image_size``.
    """
    if isinstance(pick, str):
        if pick not in PICKS:
            raise InvalidArgumentError(
                f"pick must be one of {PICKS}, an index or a box, got {pick!r}"
            )
        if pick == "central" and image_size is None:
            raise InvalidArgumentError("pick='central' needs image_size=(width, height)")
        if not len(detections):
            return detections
        if pick == "largest":
            return detections.largest()
        centres = (detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2
        dist = np.linalg.norm(centres - np.array(image_size, np.float64) / 2, axis=1)
        return detections[[int(np.argmin(dist))]]
    if isinstance(pick, bool):
        raise InvalidArgumentError(f"pick must be a name, an index or a box, got {pick!r}")
    if isinstance(pick, int | np.integer):
        if not -len(detections) <= int(pick) < len(detections):
            raise InvalidArgumentError(
                f"pick index {int(pick)} is out of range for {len(detections)} faces"
            )
        return detections[[int(pick)]]
    box = np.asarray(pick, np.float32)
    if box.shape != (4,):
        raise InvalidArgumentError(
            f"a box pick must be (x1, y1, x2, y2), but got shape {box.shape}"
        )
    if not len(detections):
        return detections
    iou = box_iou(box[None], detections.xyxy)[0]
    if not iou.max() > 0:
        return detections[np.zeros(len(detections), bool)]
    return detections[[int(np.argmax(iou))]]


def align(image: np.ndarray, detections: FaceDetections, *, detector: Detector) -> np.ndarray:
    """``(n, 150, 150, 3)`` uint8 aligned chips of the given faces of ``image``.

    Each detector puts its keypoints at its own places on the face, so the chips are
    aligned with the template derived for ``detector`` (:func:`workbench.align.template_for`).
    """
    from workbench.align import align_faces, template_for
    from workbench.detect.base import as_rgb

    return align_faces(as_rgb(image), detections, template=template_for(detector))


def needs_photo(embedder) -> bool:
    """Whether ``embedder`` embeds from the photo and keypoints (``embed_faces(image,
    keypoints, template=)``, as :class:`workbench.embed.fused.FusedEmbedder`) instead
    of from 150x150 chips."""
    return callable(getattr(embedder, "embed_faces", None))


def embed_faces(
    image: np.ndarray, detections: FaceDetections, *, detector: Detector, embedder: FaceEmbedder
) -> np.ndarray:
    """``(n, D)`` float32 embeddings of the given faces of ``image`` (``D`` = 128 for
    dlib's network).

    An embedder that cuts its own chips from the photo (``embed_faces``, as
    :class:`workbench.embed.fused.FusedEmbedder` does) gets the photo and the keypoints.
    """
    if needs_photo(embedder):
        from workbench.align import template_for
        from workbench.detect.base import as_rgb

        return embedder.embed_faces(
            as_rgb(image), np.asarray(detections.keypoints), template=template_for(detector)
        )
    if not len(detections):
        return np.zeros((0, 128), np.float32)
    return embedder.embed(align(image, detections, detector=detector))


def embed_chips(
    chips: np.ndarray, *, embedder: FaceEmbedder, flip: bool = False, batch_size: int = 32
) -> np.ndarray:
    """``(n, 128)`` float32 embeddings; with ``flip``, the mean of the face's and its
    mirror's (a test-time augmentation for evaluation)."""
    embeddings = embedder.embed(chips, batch_size=batch_size)
    if flip:
        mirrored = embedder.embed(np.ascontiguousarray(chips[:, :, ::-1]), batch_size=batch_size)
        embeddings = (embeddings + mirrored) / 2
    return np.asarray(embeddings, np.float32)


@dataclass(frozen=True)
class FaceChips:
    """One picked face per image of a batch, aligned.

    Attributes:
        chips: ``(m, 150, 150, 3)`` uint8 RGB, one per image where a face was picked.
        index: ``(m,)`` int64, the image each chip came from (its position in the input).
        faces: per input image, the picked face (length 1) or none (length 0).
    """

    chips: np.ndarray
    index: np.ndarray
    faces: list[FaceDetections]

    @property
    def found(self) -> np.ndarray:
        """``(n,)`` bool per input image: a face was picked."""
        return np.array([len(f) > 0 for f in self.faces], bool)


def picked_faces(
    images: Iterable[ImageInput],
    *,
    detector: Detector,
    pick: Pick = "largest",
    batch_size: int = 32,
    load: Callable[[ImageInput], np.ndarray] | None = None,
) -> Iterator[tuple[np.ndarray, FaceDetections]]:
    """``(image, picked face)`` per input, detected ``batch_size`` images at a time.

    Args:
        images: anything :func:`workbench.images.load_image` takes.
        detector: an open detector.
        pick: the face-picking policy.
        batch_size: images per :meth:`Detector.detect_batch` call.
        load: reads one input (default :func:`workbench.images.load_image`).
    """
    if load is None:
        from workbench.images import load_image as load
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    chunk: list[np.ndarray] = []

    def flush() -> Iterator[tuple[np.ndarray, FaceDetections]]:
        for image, faces in zip(chunk, detector.detect_batch(chunk), strict=True):
            yield image, pick_face(faces, pick, image_size=(image.shape[1], image.shape[0]))
        chunk.clear()

    for item in images:
        chunk.append(load(item))
        if len(chunk) >= batch_size:
            yield from flush()
    if chunk:
        yield from flush()


def face_chips(
    images: Iterable[ImageInput],
    *,
    detector: Detector,
    pick: Pick = "largest",
    batch_size: int = 32,
    progress: Callable[[int], object] | None = None,
) -> FaceChips:
    """Detect, pick one face per image and align it, for many images.

    Images are read one batch at a time (never all held at once).

    Args:
        images: paths, bytes, arrays or PIL images.
        detector: an open detector.
        pick: the face-picking policy (``"central"`` for LFW, ``"largest"`` for photos of
            one person).
        batch_size: images per detector call.
        progress: called with the number of images done after each one (a progress bar's
            ``update``).

    Returns:
        A :class:`FaceChips`: the chips of the images with a face, and which those were.
    """
    chips, index, faces = [], [], []
    for i, (image, face) in enumerate(
        picked_faces(images, detector=detector, pick=pick, batch_size=batch_size)
    ):
        faces.append(face)
        if len(face):
            chips.append(align(image, face, detector=detector)[0])
            index.append(i)
        if progress is not None:
            progress(1)
    stacked = np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8)
    return FaceChips(stacked, np.array(index, np.int64), faces)


__all__ = [
    "PICKS",
    "FaceChips",
    "FaceRecognizer",
    "Pick",
    "align",
    "embed_chips",
    "embed_faces",
    "face_chips",
    "needs_photo",
    "pick_face",
    "picked_faces",
    "too_small",
]
