"""MTCNN (the ``mtcnn`` package, weights in its wheel): slower, with true mouth corners."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from workbench.detect.base import DetectorBase, DetectorOptions, as_rgb, fit_image
from workbench.errors import DetectorError, InvalidArgumentError
from workbench.faces import FaceDetections
from workbench.images import ImageInput


@dataclass(frozen=True, kw_only=True)
class MTCNNOptions(DetectorOptions):
    """Options of :class:`MTCNNDetector`.

    Attributes:
        scale_factor: image pyramid step; larger is slower and finds more small faces.
        thresholds: confidence thresholds of the P-, R- and O-Net stages.
        max_side: larger images are scaled down to this for detection (faces mapped
            back). MTCNN's time and memory grow with the pixels (a 7000x7000 photo took
            97 s and 5.1 GB); at 2048 a photo costs seconds, and in a larger photo faces
            under ``12 * longer_side / 2048`` px are too small to be found.
    """

    MAX_SIDE_LIMIT = 8192

    max_side: int = 2048
    scale_factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.1 <= self.scale_factor < 1.0:
            raise InvalidArgumentError(
                f"scale_factor must be in [0.1, 1), but got {self.scale_factor}"
            )
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise InvalidArgumentError(
                f"thresholds must be three values in [0, 1], but got {self.thresholds}"
            )


class MTCNNDetector(DetectorBase):
    """MTCNN face detector with five landmarks.

    TensorFlow and the weights load on the first call, once, behind a lock.
    """

    name = "mtcnn"
    #: P-Net's window: a shorter side below this cannot hold a face it can see.
    MIN_SIDE = 12

    def __init__(self, options: MTCNNOptions | None = None, **kwargs) -> None:
        super().__init__()
        if options is not None and kwargs:
            raise InvalidArgumentError("pass either options or keyword options, not both")
        self.options = options or MTCNNOptions(**kwargs)
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            try:
                from workbench.native_logs import quiet_native_logs

                # mtcnn imports TensorFlow, which logs oneDNN/CPU-feature lines to fd 2.
                with quiet_native_logs():
                    from mtcnn import MTCNN

                    self._model = MTCNN(device="CPU:0")
            except Exception as exc:  # noqa: BLE001
                raise DetectorError(f"MTCNN could not load: {exc}") from exc
        return self._model

    def _run(self, images: list[np.ndarray], *, min_face_size: float) -> list[FaceDetections]:
        """Raw faces (unfiltered) in images of one size, already within the limits."""
        o = self.options
        with self._lock:
            model = self._load()
            try:
                rows = model.detect_faces(
                    images,
                    box_format="xyxy",
                    output_type="numpy",
                    # The pyramid starts at our minimum size (in this image's pixels; but
                    # MTCNN needs >= 12 px); the filter runs in the original's pixels.
                    min_face_size=max(12, int(min_face_size)),
                    scale_factor=o.scale_factor,
                    threshold_pnet=o.thresholds[0],
                    threshold_rnet=o.thresholds[1],
                    threshold_onet=o.thresholds[2],
                )
            except Exception as exc:  # noqa: BLE001
                raise DetectorError(f"MTCNN detection failed: {exc}") from exc
        return [
            from_mtcnn(rows, image_index=i, width=im.shape[1], height=im.shape[0])
            for i, im in enumerate(images)
        ]

    def detect(self, image: ImageInput) -> FaceDetections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Iterable[ImageInput]) -> list[FaceDetections]:
        """Faces in several images. Images of one size run as one batch through the
        network; mixed sizes are grouped by size (MTCNN pads a batch to its largest)."""
        self._check_open()
        arrays = [as_rgb(im) for im in images]
        results: list[FaceDetections | None] = [None] * len(arrays)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, arr in enumerate(arrays):
            by_shape.setdefault(arr.shape, []).append(i)
        for indices in by_shape.values():
            fitted = [fit_image(arrays[i], max_side=self.options.max_side) for i in indices]
            scale = fitted[0][1]  # one original size, so one scale
            if min(fitted[0][0].shape[:2]) < self.MIN_SIDE:
                for i in indices:
                    results[i] = FaceDetections.empty()
                continue
            faces = self._run(
                [image for image, _ in fitted],
                min_face_size=self.options.min_face_size / max(scale),
            )
            for i, det in zip(indices, faces, strict=True):
                results[i] = self.options.filter(det.mapped(scale=scale))
        return results  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            self._model = None
        super().close()


def from_mtcnn(rows: np.ndarray, *, image_index: int, width: int, height: int) -> FaceDetections:
    """Convert mtcnn's numpy output for one image of a batch into :class:`FaceDetections`.

    A row is ``image_id, x1, y1, x2, y2, score``, then the five x coordinates, then the
    five y coordinates, in our keypoint order (as mtcnn's own ``parse_landmarks`` reads
    them). The numpy output keeps sub-pixel keypoints; mtcnn's JSON rounds them.
    """
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 16)
    rows = rows[rows[:, 0] == image_index]
    if not len(rows):
        return FaceDetections.empty()
    xyxy = rows[:, 1:5].copy()
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return FaceDetections(xyxy, rows[:, 5], np.stack([rows[:, 6:11], rows[:, 11:16]], axis=-1))
