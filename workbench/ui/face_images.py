"""The picture of each face in a set: a hover thumbnail and a 150x150 chip.

The explorer shows a face's thumbnail when its point is hovered and two faces' chips when
two points are clicked. Where the chips are known (embedded here, e.g.
:meth:`EmbeddingExplorer.from_images`) they are used; otherwise the face is cut from its
source photo by its stored box, and aligned again when a detector is at hand. Everything
is made on first use and cached, so a 10,000-face gallery costs nothing until hovered.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.ui.common import crop_face, thumbnail

if TYPE_CHECKING:
    from workbench.detect.base import Detector

#: Thumbnail size in pixels (the longer side) sent to the browser on hover.
THUMB_PX = 64


class FaceImages:
    """Chips and thumbnails of ``N`` faces, by index.

    Args:
        sources: ``N`` photo paths (or ``None`` where unknown).
        boxes: ``N`` face boxes ``(x1, y1, x2, y2)`` in those photos (or ``None``).
        chips: ``(N, 150, 150, 3)`` uint8 aligned chips, when already known.
        detector: to align a face cut from its photo (else it is cropped by its box).
    """

    def __init__(
        self,
        sources: Sequence[str | None],
        *,
        boxes: Sequence[Any] | None = None,
        chips: np.ndarray | None = None,
        detector: Detector | None = None,
    ) -> None:
        self.sources = list(sources)
        self.boxes = list(boxes) if boxes is not None else [None] * len(self.sources)
        self._chips = chips
        self.detector = detector
        self._cache: dict[int, np.ndarray | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, keep: Sequence[int]) -> FaceImages:
        """The faces at ``keep``, in that order (the cache is not carried over)."""
        keep = list(keep)
        return FaceImages(
            [self.sources[k] for k in keep],
            boxes=[self.boxes[k] for k in keep],
            chips=None if self._chips is None else self._chips[keep],
            detector=self.detector,
        )

    def chip(self, i: int) -> np.ndarray | None:
        """Face ``i`` as a ``(150, 150, 3)`` uint8 RGB chip (aligned where possible), or
        ``None`` when its photo cannot be read."""
        if self._chips is not None:
            return self._chips[i]
        with self._lock:
            if i in self._cache:
                return self._cache[i]
        chip = self._make_chip(i)
        with self._lock:
            self._cache[i] = chip
        return chip

    def thumbnail(self, i: int) -> np.ndarray | None:
        """Face ``i`` at most :data:`THUMB_PX` pixels on a side, or ``None``."""
        chip = self.chip(i)
        return None if chip is None else thumbnail(chip, THUMB_PX)

    def _make_chip(self, i: int) -> np.ndarray | None:
        import cv2

        from workbench.images import load_image

        source = self.sources[i]
        if not source or not Path(source).is_file():
            return None
        try:
            image = load_image(source)
        except WorkbenchError:
            return None
        box = self.boxes[i]
        if self.detector is not None:
            aligned = self._align(image, box)
            if aligned is not None:
                return aligned
        crop = crop_face(image, np.asarray(box, float), margin=0.1) if box is not None else image
        return cv2.resize(np.ascontiguousarray(crop), (150, 150), interpolation=cv2.INTER_AREA)

    def _align(self, image: np.ndarray, box: Any) -> np.ndarray | None:
        from workbench.pipeline import align, pick_face

        faces = self.detector.detect(image)
        face = pick_face(faces, tuple(float(v) for v in box) if box is not None else "largest")
        return align(image, face, detector=self.detector)[0] if len(face) else None
