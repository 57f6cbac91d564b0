"""MediaPipe BlazeFace through the Tasks API: the fast detector (hundreds of frames/s)."""

from __future__ import annotations

import enum
import sys
import threading
import types
from dataclasses import dataclass

import numpy as np

from workbench import assets
from workbench.detect.base import DetectorBase, DetectorOptions, as_rgb, fit_image
from workbench.errors import DetectorError, InvalidArgumentError
from workbench.faces import FaceDetections, box_iou
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
    """Which BlazeFace model, and how it covers the frame.

    ``SHORT``: the short-range model (selfie distance) on the whole frame; it sees the
    frame at 128x128, so in a 640-wide frame it finds faces of about 100 px and more.
    ``FULL``: the full-range model (up to ~5 m) on the whole frame at 192x192: about 60 px
    and more. ``TILED``: the full-range model on the whole frame and on tiles of the frame
    at its own scale (:attr:`MediaPipeOptions.tile_size`): faces down to about 16-20 px,
    at a cost of one model call per tile. ``AUTO``: short range first, the tiled search
    only when it finds no face, so a frame with a near face costs one short-range call.
    See ``docs/benchmarks/detect.md`` for the figures that chose ``AUTO`` as the default.
    """

    SHORT = "short"
    FULL = "full"
    TILED = "tiled"
    AUTO = "auto"


class RunningMode(enum.Enum):
    """IMAGE treats every call alone; VIDEO lets MediaPipe use the previous frame."""

    IMAGE = "image"
    VIDEO = "video"


#: The tiled search works on the frame scaled to at most this longer side: a 1280x960
#: frame is 7x6 tiles (about 40 model calls), and a 12-megapixel photo would otherwise be
#: 400. Faces must then be at least ~16 px in the scaled copy.
TILING_MAX_SIDE = 1280


@dataclass(frozen=True, kw_only=True)
class MediaPipeOptions(DetectorOptions):
    """Options of :class:`MediaPipeDetector`.

    Attributes:
        range: :class:`Range` or its value (``"auto"``, ``"short"``, ``"full"``,
            ``"tiled"``).
        running_mode: :class:`RunningMode` or its value (``"image"`` / ``"video"``). In
            VIDEO mode the whole-frame model follows the timestamps; tiles run as images.
        suppression_threshold: IoU above which overlapping boxes are merged.
        model_path: use this model file (still checked against the pinned sha256); only
            with ``short``, ``full`` or ``tiled``, which use one model.
        tile_size: side of the tiles of the tiled search, in frame pixels; at 192 (the
            full-range model's input) a tile is seen at 1:1, at the default 224 slightly
            shrunk (half the model calls of 192 on a 640x480 frame, and still 80% of
            20 px faces). Tiles overlap by a quarter of their side.
        max_side: larger images are scaled down to this for detection (faces mapped
            back). BlazeFace sees 128 or 192 px, so this costs nothing it could find;
            the ceiling is below OpenCV's 32,767 px, where MediaPipe aborts the process.
    """

    MAX_SIDE_LIMIT = 32766

    range: Range | str = Range.AUTO
    running_mode: RunningMode | str = RunningMode.IMAGE
    suppression_threshold: float = 0.3
    model_path: str | None = None
    tile_size: int = 224
    # A 16 px face gets a BlazeFace box of about 14 px (its box is 0.86 of MTCNN's height).
    min_face_size: int = 10
    # At 0.5 the tiled search saw 0.2-0.6 faces per frame in textured background; at 0.6
    # 0.05-0.14, with the same recall of 20-32 px faces (docs/benchmarks/detect.md).
    min_score: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "range", _enum(Range, self.range, "range"))
        object.__setattr__(
            self, "running_mode", _enum(RunningMode, self.running_mode, "running_mode")
        )
        if self.model_path is not None and self.range is Range.AUTO:
            raise InvalidArgumentError(
                "model_path needs range 'short', 'full' or 'tiled' (auto uses two models)"
            )
        if not 96 <= self.tile_size <= 1024:
            raise InvalidArgumentError(
                f"tile_size must be in [96, 1024] pixels, but got {self.tile_size}"
            )


def _enum(kind: type[enum.Enum], value, name: str):
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        valid = [m.value for m in kind]
        raise InvalidArgumentError(f"{name} must be one of {valid}, but got {value!r}") from None


_SHORT, _FULL = "blaze_face_short_range", "blaze_face_full_range_sparse"


class MediaPipeDetector(DetectorBase):
    """BlazeFace face detector (MediaPipe Tasks ``FaceDetector``).

    The models load on first use, once, behind a lock; a detector may be shared by
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
        #: (asset, video mode) -> Tasks FaceDetector
        self._tasks: dict[tuple[str, bool], object] = {}
        self._lock = threading.Lock()
        self._last_timestamp_ms = -1

    def _task(self, asset: str, *, video: bool):
        key = (asset, video)
        if key in self._tasks:
            return self._tasks[key]
        path = assets.asset_path(asset, path=self.options.model_path)
        try:
            import_mediapipe()
            from mediapipe.tasks.python import BaseOptions, vision

            mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
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
                self._tasks[key] = vision.FaceDetector.create_from_options(task_options)
        except Exception as exc:  # noqa: BLE001 - MediaPipe raises RuntimeError/ValueError
            raise DetectorError(f"MediaPipe could not load {path.name}: {exc}") from exc
        return self._tasks[key]

    def detect(
        self,
        image: ImageInput,
        *,
        timestamp_ms: int | None = None,
        near: np.ndarray | None = None,
    ) -> FaceDetections:
        """Faces in one image.

        Args:
            image: anything :func:`workbench.images.load_image` takes.
            timestamp_ms: the frame's time in VIDEO mode (strictly increasing); when
                omitted, the previous timestamp plus one is used.
            near: ``(k, 4)`` boxes ``x1, y1, x2, y2`` (image pixels) where faces are
                expected, e.g. a video's live tracks: the tiled search (``tiled``, or
                ``auto`` when short range finds no face) then covers the whole frame
                and only the tiles that hold those boxes (every tile when not one of
                them is found again); an empty array
                leaves the whole-frame full-range call only. ``None``: every tile.
                Ignored by ``short`` and ``full``.
        """
        self._check_open()
        return self._detect_within_limits(as_rgb(image), timestamp_ms=timestamp_ms, near=near)

    def _detect(
        self,
        image: np.ndarray,
        *,
        timestamp_ms: int | None = None,
        near: np.ndarray | None = None,
    ) -> FaceDetections:
        r = self.options.range
        with self._lock:
            timestamp_ms = self._next_timestamp(timestamp_ms)
            if r is Range.TILED:
                return self._tiled(image, near=near)
            first = _SHORT if r in (Range.SHORT, Range.AUTO) else _FULL
            faces = self._run(first, image, timestamp_ms=timestamp_ms)
            if r is Range.AUTO and not len(self.options.filter(faces)):
                faces = self._tiled(image, near=near)
            return faces

    def _next_timestamp(self, timestamp_ms: int | None) -> int | None:
        if self.options.running_mode is not RunningMode.VIDEO:
            return None
        if timestamp_ms is None:
            timestamp_ms = self._last_timestamp_ms + 1
        if timestamp_ms <= self._last_timestamp_ms:
            raise InvalidArgumentError(
                "VIDEO mode needs increasing timestamps, but got "
                f"{timestamp_ms} ms after {self._last_timestamp_ms} ms"
            )
        self._last_timestamp_ms = timestamp_ms
        return timestamp_ms

    def _run(self, asset: str, image: np.ndarray, *, timestamp_ms: int | None) -> FaceDetections:
        """One model call on the whole of ``image`` (the lock is held)."""
        mp = import_mediapipe()
        video = timestamp_ms is not None
        task = self._task(asset, video=video)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        try:
            # LiteRT logs "Input tensor memory is not aligned" once per process, on an
            # inference whose internal buffer happens to be misaligned: usually the first,
            # not always (notebook 05 hit a later one), so every call is covered; a
            # redirection costs about 20 us against 2-3 ms for the call.
            with quiet_native_logs():
                if video:
                    result = task.detect_for_video(mp_image, timestamp_ms)
                else:
                    result = task.detect(mp_image)
        except Exception as exc:  # noqa: BLE001
            raise DetectorError(f"MediaPipe detection failed: {exc}") from exc
        return from_mediapipe(result, width=image.shape[1], height=image.shape[0])

    def _tiled(self, image: np.ndarray, *, near: np.ndarray | None = None) -> FaceDetections:
        """The full-range model on the whole image and on overlapping tiles at the
        image's own scale (up to :data:`TILING_MAX_SIDE`), merged; with ``near``, on
        the tiles holding those boxes only (:func:`tiles_holding`)."""
        parts = [self._run(_FULL, image, timestamp_ms=None)]
        small, scale = fit_image(image, max_side=TILING_MAX_SIDE)
        size = self.options.tile_size
        overlap = size // 4
        tiles = [
            (x, y, size)
            for y in tile_starts(small.shape[0], size, overlap)
            for x in tile_starts(small.shape[1], size, overlap)
        ]
        if near is not None:
            # A box the whole-frame call found again needs no tile.
            near = np.asarray(near, np.float32).reshape(-1, 4)
            found = self.options.filter(parts[0]).xyxy
            todo = near
            if len(near) and len(found):
                todo = near[box_iou(near, found).max(axis=1) < 0.3]
            # The grid's own tiles, not tiles centred on the boxes: a tile placed
            # elsewhere gave 20 px faces one different look and found 7-14 points fewer
            # of those the grid finds (docs/benchmarks/live.md).
            tiles = tiles_holding(tiles, todo / np.array([*scale, *scale], np.float32))
        for x, y, side in tiles:
            parts.append(self._run_tile(small, x, y, side, scale))
        faces = merge_overlapping(FaceDetections.concatenate(parts))
        if near is not None and len(near) and not _any_found(near, self.options.filter(faces)):
            # Not one expected face is where it was (a cut, a jump): the hint is wrong,
            # search every tile after all. (Half is too strict: on crowd_walk.mp4 three
            # of seven faces of frame 0 are not found in frame 3 by any search.)
            return self._tiled(image)
        return faces

    def _run_tile(self, small, x: int, y: int, side: int, scale) -> FaceDetections:
        tile = small[y : y + side, x : x + side]
        faces = self._run(_FULL, tile, timestamp_ms=None)
        return faces.mapped(offset=(x, y)).mapped(scale=scale)

    def close(self) -> None:
        with self._lock:
            tasks, self._tasks = list(self._tasks.values()), {}
            # Closing logs LiteRT's "DestroyAccelerator" INFO line.
            with quiet_native_logs():
                for task in tasks:
                    task.close()
        super().close()


def _any_found(expected: np.ndarray, faces: FaceDetections) -> bool:
    """Whether any of the ``expected`` boxes overlaps a found face (IoU 0.3)."""
    if not len(faces):
        return False
    return bool((box_iou(np.asarray(expected, np.float32), faces.xyxy) >= 0.3).any())


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``size`` covering ``length`` pixels, spread evenly so
    that neighbours overlap by at least ``overlap``."""
    if length <= size:
        return [0]
    count = int(np.ceil((length - overlap) / (size - overlap)))
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def tiles_holding(
    tiles: list[tuple[int, int, int]], boxes: np.ndarray
) -> list[tuple[int, int, int]]:
    """The tiles ``(x, y, side)`` that hold half or more of any of ``boxes`` (a face cut
    by a tile's edge is seen whole in the neighbour that also holds it)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(boxes):
        return []
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    out = []
    for x, y, side in tiles:
        w = np.clip(np.minimum(boxes[:, 2], x + side) - np.maximum(boxes[:, 0], x), 0, None)
        h = np.clip(np.minimum(boxes[:, 3], y + side) - np.maximum(boxes[:, 1], y), 0, None)
        if (w * h >= 0.5 * area).any():
            out.append((x, y, side))
    return out


def merge_overlapping(faces: FaceDetections, *, iou: float = 0.3) -> FaceDetections:
    """Greedy suppression across tiles: take the best-scoring box and the boxes that
    overlap it by more than ``iou`` or lie mostly (60%) inside it or it inside them, and
    keep one face for the group: the largest box of the group that holds most of the best
    one (a face cut by a tile edge is seen whole in one tile and in part in the next, and
    the part may score higher), with the group's best score."""
    if len(faces) < 2:
        return faces
    x1, y1, x2, y2 = faces.xyxy.T
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(-faces.scores, kind="stable")
    keep, scores = [], []
    while len(order):
        i, rest = order[0], order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = area[i] + area[rest] - inter
        inside = inter / np.maximum(np.minimum(area[i], area[rest]), 1e-6)
        same = (inter > iou * union) | (inside >= 0.6)
        holders = rest[same & (inter >= 0.6 * area[i])]
        best = holders[np.argmax(area[holders])] if len(holders) else i
        keep.append(best if area[best] > area[i] else i)
        scores.append(faces.scores[i])
        order = rest[~same]
    merged = faces[np.array(keep)]
    return FaceDetections(merged.xyxy, np.array(scores, np.float32), merged.keypoints)


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
