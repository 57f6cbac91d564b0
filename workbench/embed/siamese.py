"""The Siamese view of the embedder: twin towers with shared weights, and face verification.

A Siamese network runs two inputs through the *same* tower and compares the outputs.
Here the tower is dlib's metric-learned ResNet (:mod:`workbench.embed.resnet`), trained
with a pairwise loss so that one person's faces land within :data:`DEFAULT_THRESHOLD`
(Euclidean) of each other. :class:`SiameseNetwork` offers:

- :meth:`SiameseNetwork.keras_model`: the twin-tower Keras model, two chip inputs, one
  shared tower, the Euclidean distance out (for inspection and for training);
- :meth:`SiameseNetwork.distance`: distances between embeddings;
- :meth:`SiameseNetwork.verify`: two images (or two aligned chips) in, ``(same, distance)``
  out, detecting and aligning the largest face of each image first.

Example:
    >>> siamese = SiameseNetwork()  # doctest: +SKIP
    >>> siamese.verify("a.jpg", "b.jpg")  # doctest: +SKIP
    Verification(same=True, distance=0.41)
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from workbench.embed.embedder import (
    CHIP_SHAPE,
    DEFAULT_THRESHOLD,
    Embedder,
    default_embedder,
)
from workbench.errors import InvalidArgumentError, InvalidImageError


class Verification(NamedTuple):
    """Result of :meth:`SiameseNetwork.verify`; unpacks as ``same, distance``."""

    same: bool
    distance: float


class SiameseNetwork:
    """Twin towers sharing one embedder.

    Args:
        embedder: the shared tower; defaults to :func:`default_embedder`.
        detector: a :class:`workbench.detect.Detector`, or a detector name for
            :func:`workbench.detect.create_detector`, used by :meth:`verify` on full
            images. Created on first use when given by name; closed by :meth:`close` only
            if this object created it.
        threshold: Euclidean distance below which two faces are the same person.

    Raises:
        InvalidArgumentError: a threshold that is not a positive number.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        detector=None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if not isinstance(threshold, int | float) or not threshold > 0:
            raise InvalidArgumentError(f"threshold must be a positive number, got {threshold!r}")
        self.embedder = embedder if embedder is not None else default_embedder()
        self.threshold = float(threshold)
        self._detector = detector if detector is not None else "mediapipe"
        self._owns_detector = isinstance(self._detector, str)
        self._lock = threading.Lock()

    # -- the Keras view -----------------------------------------------------------------

    def keras_model(self, tower=None):
        """The twin-tower Keras model.

        Args:
            tower: the shared tower, a ``keras.Model`` ``(N,150,150,3) -> (N,128)``;
                defaults to the embedder's layer-for-layer model.

        Returns:
            A functional ``keras.Model`` with inputs ``chips_a`` and ``chips_b``
            (``(N, 150, 150, 3)`` RGB 0..255) and output ``(N,)`` float32 Euclidean
            distances. Both inputs go through the same layer object, so the towers share
            every weight.
        """
        import keras

        from workbench.embed.resnet import EuclideanDistance

        if tower is None:
            tower = self.embedder.model
        a = keras.Input(shape=CHIP_SHAPE, name="chips_a")
        b = keras.Input(shape=CHIP_SHAPE, name="chips_b")
        distance = EuclideanDistance(name="distance")([tower(a), tower(b)])
        return keras.Model([a, b], distance, name="siamese_" + tower.name)

    # -- numbers ------------------------------------------------------------------------

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        """Euclidean distance between embeddings.

        Args:
            a: ``(128,)`` or ``(N, 128)``.
            b: ``(128,)`` or ``(N, 128)``; broadcasts against ``a``.

        Returns:
            A float for two single embeddings, else ``(N,)`` float32.

        Raises:
            InvalidArgumentError: shapes that do not end in 128 or do not broadcast.
        """
        a = np.asarray(a, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        if a.shape[-1:] != (128,) or b.shape[-1:] != (128,) or a.ndim > 2 or b.ndim > 2:
            raise InvalidArgumentError(
                f"embeddings must have shape (128,) or (N, 128), got {a.shape} and {b.shape}"
            )
        try:
            d = np.linalg.norm(a - b, axis=-1)
        except ValueError:
            raise InvalidArgumentError(
                f"embedding batches do not match: {a.shape} and {b.shape}"
            ) from None
        return float(d) if d.ndim == 0 else d.astype(np.float32)

    def verify_chips(
        self, chips_a: np.ndarray, chips_b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Compare aligned chips pairwise.

        Args:
            chips_a: ``(N, 150, 150, 3)`` uint8.
            chips_b: ``(N, 150, 150, 3)`` uint8.

        Returns:
            ``same (N,) bool`` and ``distance (N,) float32``.
        """
        if len(chips_a) != len(chips_b):
            raise InvalidArgumentError(
                "chips_a and chips_b must hold as many chips, "
                f"got {len(chips_a)} and {len(chips_b)}"
            )
        emb = self.embedder.embed(np.concatenate([chips_a, chips_b]))
        d = np.linalg.norm(emb[: len(chips_a)] - emb[len(chips_a) :], axis=1).astype(np.float32)
        return d < self.threshold, d

    def verify(self, image_a, image_b, *, aligned: bool = False) -> Verification:
        """Are these two faces the same person?

        Args:
            image_a: a path, bytes, PIL image or RGB array (anything
                :func:`workbench.images.load_image` takes); with ``aligned=True``, a
                ``(150, 150, 3)`` uint8 chip.
            image_b: the same for the other face.
            aligned: the inputs are already aligned chips: skip detection and alignment.

        Returns:
            ``Verification(same, distance)``: ``same`` is ``distance < threshold``.

        Raises:
            InvalidImageError: an unreadable image, or one where no face is found.
        """
        chips = np.stack(
            [self._chip(image_a, "image_a", aligned), self._chip(image_b, "image_b", aligned)]
        )
        emb = self.embedder.embed(chips)
        d = float(np.linalg.norm(emb[0] - emb[1]))
        return Verification(d < self.threshold, d)

    # -- helpers ------------------------------------------------------------------------

    def _chip(self, image, label: str, aligned: bool) -> np.ndarray:
        if aligned:
            chip = np.asarray(image)
            if chip.shape != CHIP_SHAPE or chip.dtype != np.uint8:
                raise InvalidImageError(
                    f"{label}: an aligned chip must be (150, 150, 3) uint8, got "
                    f"{chip.shape} {chip.dtype}"
                )
            return chip
        from workbench.images import load_image
        from workbench.pipeline import align, pick_face

        rgb = load_image(image)
        detector = self._get_detector()
        face = pick_face(detector.detect(rgb), "largest")
        if len(face) == 0:
            raise InvalidImageError(
                f"{label}: no face found in the image ({rgb.shape[1]}x{rgb.shape[0]})"
            )
        return align(rgb, face, detector=detector)[0]

    def _get_detector(self):
        with self._lock:
            if isinstance(self._detector, str):
                from workbench.detect import create_detector

                self._detector = create_detector(self._detector)
            return self._detector

    def close(self) -> None:
        """Close the detector if this object created it (the embedder is shared, kept)."""
        with self._lock:
            if self._owns_detector and not isinstance(self._detector, str):
                self._detector.close()

    def __enter__(self) -> SiameseNetwork:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
