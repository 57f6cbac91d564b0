"""MediaPipe BlazeFace through the Tasks API: the fast detector (hundreds of frames/s)."""

from __future__ import annotations

import enum
import sys
import threading
import types
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from workbench import assets
from workbench.detect.base import DetectorBase, DetectorOptions, as_rgb
from workbench.errors import DetectorError, InvalidArgumentError
from workbench.faces import FaceDetections
from workbench.images import ImageInput
from workbench.native_logs import quiet_native_logs

#: Half the mouth width as a fraction of the eye distance. BlazeFace gives only the mouth
#: centre; MTCNN's mouth corners on LFW put them this far either side of it (measured by
#: scripts/measure_mouth_ratio.py).
MOUTH_HALF_WIDTH = 0.44


#: The MediaPipe module that imports TensorFlow when TensorFlow is installed.
_OPTIONAL_DEPENDENCIES = "mediapipe.tasks.python.core.optional_dependencies"


def import_mediapipe():
    """``import mediapipe`` without importing TensorFlow; returns the module.

    ``mediapipe.tasks.python.core.optional_dependencies`` does ``from
    tensorflow.tools.docs import doc_controls`` for MediaPipe's API-doc generator only,
    and installs a no-op ``doc_controls`` when TensorFlow is absent. With TensorFlow
    installed (the embedder's Keras runs on it), that one import made ``import
    mediapipe`` cost 5-10 s of TensorFlow start-up (7.2 s of 7.5 s under ``python -X
    importtime``; 0.7 s without it). We register the same no-op module MediaPipe would
    use without TensorFlow, under that module's name, before MediaPipe imports it; the
    detector itself never touches TensorFlow. Skipped when MediaPipe or TensorFlow is
    already imported (then there is nothing left to save).
    """
    if "mediapipe" not in sys.modules and "tensorflow" not in sys.modules:
        stub = types.ModuleType(_OPTIONAL_DEPENDENCIES)
        stub.__doc__ = "workbench: MediaPipe's no-TensorFlow doc_controls (see import_mediapipe)"
        stub.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda obj: obj)
        sys.modules.setdefault(_OPTIONAL_DEPENDENCIES, stub)
    import mediapipe

    return mediapipe


class Range(enum.Enum):
    """Which BlazeFace model: short range (selfie distance) or full range (up to ~5 m)."""

    SHORT = "short"
    FULL = "full"


class RunningMode(enum.Enum):
    """IMAGE treats every call alone; VIDEO lets MediaPipe use the previous frame."""

    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, kw_only=True)
class MediaPipeOptions(DetectorOptions):
    """Options of :class:`MediaPipeDetector`.

    Attributes:
        range: :class:`Range` or its value (``"short"`` / ``"full"``).
        running_mode: :class:`RunningMode` or its value (``"image"`` / ``"video"``).
        suppression_threshold: IoU above which overlapping boxes are merged.
        model_path: use this model file (still checked against the pinned sha256).
        max_side: larger images are scaled down to this for detection (faces mapped
            back). BlazeFace sees 128 or 192 px, so this costs nothing it could find;
            the ceiling is below OpenCV's 32,767 px, where MediaPipe aborts the process.
    """

    MAX_SIDE_LIMIT = 32766

    range: Range | str = Range.SHORT
    running_mode: RunningMode | str = RunningMode.IMAGE
    suppression_threshold: float = 0.3
    model_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "range", _enum(Range, self.range, "range"))
        object.__setattr__(
            self, "running_mode", _enum(RunningMode, self.running_mode, "running_mode")
        )


def _enum(kind: type[enum.Enum], value, name: str):
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        valid = [m.value for m in kind]
        raise InvalidArgumentError(f"{name} must be one of {valid}, but got {value!r}") from None


class MediaPipeDetector(DetectorBase):
    """BlazeFace face detector (MediaPipe Tasks ``FaceDetector``).

    The model loads on the first call, once, behind a lock; a detector may be shared by
    threads (calls are serialised, as the Tasks graph is not re-entrant).

    Example:
        >>> with MediaPipeDetector(min_score=0.6) as det:  # doctest: +SKIP
        ...     faces = det.detect("photo.jpg")
    """

    name = "mediapipe"

    def __init__(self, options: MediaPipeOptions | None = None, **kwargs) -> None:
        super().__init__()
        if options is not None and kwargs:
            raise InvalidArgumentError("pass either options or keyword options, not both")
        self.options = options or MediaPipeOptions(**kwargs)
        self._task = None
        self._lock = threading.Lock()
        self._last_timestamp_ms = -1
        # LiteRT warns once, on the first inference, from its own thread (see _detect).
        self._first_run_done = False

    def _load(self):
        if self._task is not None:
            return self._task
        asset = (
            "blaze_face_short_range"
            if self.options.range is Range.SHORT
            else "blaze_face_full_range_sparse"
        )
        path = assets.asset_path(asset, path=self.options.model_path)
        try:
            import_mediapipe()
            from mediapipe.tasks.python import BaseOptions, vision

            mode = (
                vision.RunningMode.VIDEO
                if self.options.running_mode is RunningMode.VIDEO
                else vision.RunningMode.IMAGE
            )
            task_options = vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_path=str(path)),
                running_mode=mode,
                # Let MediaPipe keep a little more than we do, then filter ourselves, so
                # the score limit means the same for every detector.
                min_detection_confidence=min(self.options.min_score, 0.5),
                min_suppression_threshold=self.options.suppression_threshold,
            )
            # Creating the task logs LiteRT's and XNNPACK's INFO lines to fd 2.
            with quiet_native_logs():
                self._task = vision.FaceDetector.create_from_options(task_options)
            self._first_run_done = False
        except Exception as exc:  # noqa: BLE001 - MediaPipe raises RuntimeError/ValueError
            raise DetectorError(f"MediaPipe could not load {path.name}: {exc}") from exc
        return self._task

    def detect(self, image: ImageInput, *, timestamp_ms: int | None = None) -> FaceDetections:
        """Faces in one image.

        Args:
            image: anything :func:`workbench.images.load_image` takes.
            timestamp_ms: the frame's time in VIDEO mode (strictly increasing); when
                omitted, the previous timestamp plus one is used.
        """
        self._check_open()
        return self._detect_within_limits(as_rgb(image), timestamp_ms=timestamp_ms)

    def _detect(self, image: np.ndarray, *, timestamp_ms: int | None = None) -> FaceDetections:
        mp = import_mediapipe()

        height, width = image.shape[:2]
        with self._lock:
            task = self._load()
            # The first inference logs "Input tensor memory is not aligned" once; later
            # ones log nothing, so they skip the redirection.
            quiet = quiet_native_logs() if not self._first_run_done else nullcontext()
            mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            try:
                if self.options.running_mode is RunningMode.VIDEO:
                    if timestamp_ms is None:
                        timestamp_ms = self._last_timestamp_ms + 1
                    if timestamp_ms <= self._last_timestamp_ms:
                        raise InvalidArgumentError(
                            "VIDEO mode needs increasing timestamps, but got "
                            f"{timestamp_ms} ms after {self._last_timestamp_ms} ms"
                        )
                    self._last_timestamp_ms = timestamp_ms
                    with quiet:
                        result = task.detect_for_video(mp_image, timestamp_ms)
                else:
                    with quiet:
                        result = task.detect(mp_image)
                self._first_run_done = True
            except InvalidArgumentError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise DetectorError(f"MediaPipe detection failed: {exc}") from exc
        return from_mediapipe(result, width=width, height=height)

    def close(self) -> None:
        with self._lock:
            if self._task is not None:
                # Closing logs LiteRT's "DestroyAccelerator" INFO line.
                with quiet_native_logs():
                    self._task.close()
                self._task = None
        super().close()


def from_mediapipe(result, *, width: int, height: int) -> FaceDetections:
    """Convert a Tasks ``FaceDetectorResult`` into :class:`FaceDetections`.

    Boxes are clipped to the image; keypoints (normalised in MediaPipe) become pixels and
    follow the mapping documented on :class:`FaceDetections`.
    """
    detections = result.detections
    n = len(detections)
    if n == 0:
        return FaceDetections.empty()
    xyxy = np.empty((n, 4), np.float32)
    scores = np.empty((n,), np.float32)
    keypoints = np.empty((n, 5, 2), np.float32)
    for i, det in enumerate(detections):
        box = det.bounding_box
        xyxy[i] = (box.origin_x, box.origin_y, box.origin_x + box.width, box.origin_y + box.height)
        scores[i] = det.categories[0].score if det.categories else 0.0
        kp = np.array([(k.x * width, k.y * height) for k in det.keypoints[:4]], np.float32)
        # BlazeFace: 0 subject's right eye (image left), 1 subject's left eye, 2 nose tip,
        # 3 mouth centre.
        eye_left, eye_right, nose, mouth = kp
        half = MOUTH_HALF_WIDTH * (eye_right - eye_left)
        keypoints[i] = (eye_left, eye_right, nose, mouth - half, mouth + half)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return FaceDetections(xyxy, scores, keypoints)
