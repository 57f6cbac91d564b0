"""MediaPipe's face mesh on detected faces: 468 points per face, and the head's pose.

The mesh model (``face_landmark.tflite`` from the ``mediapipe==0.10.21`` wheel, through
:mod:`workbench.assets`) runs on LiteRT (``ai-edge-litert``), not on MediaPipe's graph
runtime: MediaPipe's Tasks API takes only its bundled ``.task`` files, and this needs no
TensorFlow. Each face is cut as MediaPipe's own face-landmark graph cuts it from a
detection (``face_detection_front_detection_to_roi``): a square of 1.5 times the box's
longer side around the box's centre, turned so the eyes are level, seen at 192x192 with
pixels in ``[0, 1]`` and replicated borders. With ``passes=2`` the square is then cut again
from the first mesh (MediaPipe's tracking ROI, ``face_landmark_landmarks_to_roi``: the
box of all points and the outer eye corners for the angle), which makes the cut the same
whatever detector gave the box.

The pose comes from the mesh alone (no canonical face model ships in the wheel): the
face's left-right axis is the mean of the 3-D vectors between mirrored points (eye
corners, cheeks, jaw, mouth corners, brows), its up axis the chin-to-forehead line made
orthogonal to it. The mesh's ``z`` is on the same scale as ``x`` (MediaPipe's
documentation), so the axes give angles in degrees: ``yaw`` > 0 when the face turns
towards the image's right (the person's own left), ``pitch`` > 0 when the chin comes
forward (looking up), ``roll`` > 0 when the eye line turns clockwise in the image. A
mesh regressed from one photo under-reads large turns; the angles rank faces by pose
well (a photo and its mirror image get opposite yaws) but are not a calibrated
measurement.

Example:
    >>> with FaceMesh() as mesh:  # doctest: +SKIP
    ...     meshes = mesh.run(image, detector.detect(image))
    ...     meshes.yaw, meshes.keypoints.shape
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from workbench.errors import DetectorError, InvalidArgumentError, ModelAssetError
from workbench.faces import FaceDetections
from workbench.images import ImageInput
from workbench.native_logs import quiet_native_logs

#: The model's input side in pixels.
INPUT_SIZE = 192
#: Points per face.
N_POINTS = 468
#: The ROI's side over the box's (or the mesh's) longer side, as MediaPipe's graphs use.
ROI_SCALE = 1.5

#: Mesh indices of each eye's contour (image-left eye first, that is the person's right).
LEFT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT = 1, 61, 291
FOREHEAD, CHIN = 10, 152
#: Mirrored point pairs (image-left, image-right in a frontal face): outer and inner eye
#: corners, the face oval from temple to jaw, mouth corners, brows and nose wings.
MIRRORED = (
    (33, 263), (133, 362), (127, 356), (234, 454), (93, 323), (132, 361), (58, 288),
    (172, 397), (136, 365), (150, 379), (61, 291), (70, 300), (105, 334), (107, 336),
    (129, 358), (162, 389), (54, 284),
)  # fmt: skip


#: A face turned less than this far (degrees of yaw, either way) is a frontal view; on
#: the pose test set (``benchmarks/pose.py``) enrolling turned views as well as frontal
#: ones named far more faces seen turned away.
VIEW_YAW = 15.0
#: The views :func:`view_of` names.
VIEWS = ("frontal", "turned left", "turned right")


def view_of(yaw: float | None) -> str | None:
    """``"frontal"``, ``"turned left"`` or ``"turned right"`` (as seen in the photo: the
    face looks towards the image's left or right) for a yaw in degrees; ``None`` for an
    unknown (``None`` or NaN) yaw.

    Example:
        >>> view_of(3.0), view_of(-30.0), view_of(22.0), view_of(None)
        ('frontal', 'turned left', 'turned right', None)
    """
    if yaw is None or not np.isfinite(yaw):
        return None
    if abs(yaw) < VIEW_YAW:
        return "frontal"
    return "turned left" if yaw < 0 else "turned right"


def count_views(yaws) -> dict[str, int]:
    """How many of ``yaws`` (degrees; ``None``/NaN skipped) are each of :data:`VIEWS`.

    Example:
        >>> count_views([1.0, -20.0, None, 4.0])
        {'frontal': 2, 'turned left': 1, 'turned right': 0}
    """
    counts = dict.fromkeys(VIEWS, 0)
    for yaw in yaws:
        view = view_of(yaw)
        if view is not None:
            counts[view] += 1
    return counts


def views_hint(counts: dict[str, int]) -> str | None:
    """``"2 frontal, 1 turned left; add a photo turned right"`` when a turned view is
    missing from ``counts`` (:func:`count_views`), else ``None``."""
    missing = [v for v in VIEWS[1:] if not counts.get(v)]
    if not missing:
        return None
    have = ", ".join(f"{c} {v}" for v, c in counts.items() if c) or "no view known"
    return f"{have}; add a photo {' and one '.join(missing)}"


@dataclass(frozen=True)
class FaceMeshes:
    """The mesh of each face of one image, in the detections' order.

    Attributes:
        points: ``(n, 468, 3)`` float32: ``x, y`` in image pixels, ``z`` the depth on the
            same scale (smaller is nearer the camera), relative to the face.
        scores: ``(n,)`` float32 in ``[0, 1]``: the model's confidence that a face is in
            its crop.
        yaw, pitch, roll: ``(n,)`` float32 degrees (signs in the module docstring).
    """

    points: np.ndarray
    scores: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    @property
    def keypoints(self) -> np.ndarray:
        """``(n, 5, 2)`` float32 in :data:`workbench.faces.KEYPOINT_NAMES` order from the
        mesh: eye centres (mean of each eye's contour), nose tip and mouth corners."""
        xy = self.points[..., :2]
        return np.stack(
            [
                xy[:, list(LEFT_EYE)].mean(1),
                xy[:, list(RIGHT_EYE)].mean(1),
                xy[:, NOSE_TIP],
                xy[:, MOUTH_LEFT],
                xy[:, MOUTH_RIGHT],
            ],
            axis=1,
        ).astype(np.float32)


def roi_from_box(box: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``(cx, cy, side, angle)`` of MediaPipe's mesh crop for one detection: the box's
    centre, 1.5 times its longer side, the angle (radians) of its eye line."""
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    eye_l, eye_r = np.asarray(keypoints, np.float64)[:2]
    angle = np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, ROI_SCALE * max(x2 - x1, y2 - y1), angle])


def roi_from_mesh(points: np.ndarray) -> np.ndarray:
    """MediaPipe's tracking ROI from a mesh: the centre of the points' box, 1.5 times its
    longer side, and the angle of the outer eye corners' line."""
    xy = np.asarray(points, np.float64)[:, :2]
    d = xy[263] - xy[33]
    angle = np.arctan2(d[1], d[0])
    # The box is taken in the image's axes, as LandmarksToDetection does, then turned.
    lo, hi = xy.min(0), xy.max(0)
    return np.array([*(lo + hi) / 2, ROI_SCALE * max(hi - lo), angle])


def crop_transform(roi: np.ndarray) -> np.ndarray:
    """``(2, 3)`` image-to-crop affine of a ROI ``(cx, cy, side, angle)``."""
    cx, cy, side, angle = roi
    k = INPUT_SIZE / side
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[c * k, s * k, 0.0], [-s * k, c * k, 0.0]])
    m[:, 2] = INPUT_SIZE / 2 - m[:, :2] @ np.array([cx, cy])
    return m


def pose_angles(points: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees from one ``(468, 3)`` mesh (see the module
    docstring for the method and the signs)."""
    p = np.asarray(points, np.float64)
    left, right = np.array(MIRRORED).T
    x = (p[right] - p[left]).mean(0)
    x /= np.linalg.norm(x)
    up = p[FOREHEAD] - p[CHIN]
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    yaw = np.degrees(np.arcsin(np.clip(x[2], -1, 1)))
    roll = np.degrees(np.arctan2(x[1], x[0]))
    pitch = np.degrees(np.arcsin(np.clip(y[2], -1, 1)))
    return float(yaw), float(pitch), float(roll)


class FaceMesh:
    """The face mesh model; loads on first use, once, behind a lock.

    Calls are serialised (one LiteRT interpreter is not re-entrant), so one instance may
    be shared by threads. Use it as a context manager or call :meth:`close`.

    Args:
        model_path: use this file instead of the cached asset (still sha256-checked).
        passes: 1 cuts each face from its detection box only; 2 cuts it again from the
            first mesh (twice the cost).
        num_threads: LiteRT threads (the model is small: one is fastest per face).
    """

    def __init__(
        self, *, model_path: str | None = None, passes: int = 1, num_threads: int = 1
    ) -> None:
        if passes not in (1, 2):
            raise InvalidArgumentError(f"passes must be 1 or 2, but got {passes!r}")
        if num_threads < 1:
            raise InvalidArgumentError(f"num_threads must be >= 1, but got {num_threads}")
        self.model_path = model_path
        self.passes = passes
        self.num_threads = num_threads
        self._lock = threading.Lock()
        self._interpreter = None
        self._closed = False

    def _load(self):
        if self._interpreter is not None:
            return self._interpreter
        from workbench import assets

        path = assets.asset_path("face_landmark", path=self.model_path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelAssetError(
                "the face mesh needs ai-edge-litert (pip install ai-edge-litert==2.3.0)"
            ) from exc
        try:
            # Creating the interpreter logs "INFO: Created TensorFlow Lite XNNPACK
            # delegate" to fd 2.
            with quiet_native_logs():
                it = Interpreter(model_path=str(path), num_threads=self.num_threads)
                it.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise DetectorError(f"LiteRT could not load {path.name}: {exc}") from exc
        inp = it.get_input_details()[0]["index"]
        outs = sorted(it.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self._io = inp, outs[0]["index"], outs[1]["index"]
        self._interpreter = it
        return it

    def _infer(self, image: np.ndarray, roi: np.ndarray) -> tuple[np.ndarray, float]:
        """One mesh in image coordinates for one ROI, and the face score (lock held)."""
        import cv2

        m = crop_transform(roi)
        crop = cv2.warpAffine(
            image, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        it = self._interpreter
        inp, out_points, out_score = self._io
        it.set_tensor(inp, (crop.astype(np.float32) * (1 / 255))[None])
        with quiet_native_logs():
            it.invoke()
        raw = it.get_tensor(out_points).reshape(N_POINTS, 3).astype(np.float64)
        logit = float(it.get_tensor(out_score).ravel()[0])
        inv = cv2.invertAffineTransform(m)
        pts = np.empty_like(raw)
        pts[:, :2] = raw[:, :2] @ inv[:, :2].T + inv[:, 2]
        pts[:, 2] = raw[:, 2] * (roi[2] / INPUT_SIZE)
        return pts, 1 / (1 + np.exp(-logit))

    def run(self, image: ImageInput, detections: FaceDetections) -> FaceMeshes:
        """The mesh and pose of each detected face of ``image``.

        Args:
            image: the image the detections came from (anything
                :func:`workbench.images.load_image` takes).
            detections: its :class:`workbench.faces.FaceDetections` (any detector).

        Returns:
            A :class:`FaceMeshes` of ``len(detections)`` faces.

        Raises:
            InvalidImageError: the image cannot be read.
            InvalidArgumentError: ``detections`` is not a FaceDetections.
            ModelAssetError, DetectorError: the model cannot be obtained or loaded.
        """
        from workbench.detect.base import as_rgb

        if not isinstance(detections, FaceDetections):
            raise InvalidArgumentError(
                f"detections must be a FaceDetections, but got {type(detections).__name__}"
            )
        image = np.ascontiguousarray(as_rgb(image))
        n = len(detections)
        points = np.empty((n, N_POINTS, 3), np.float32)
        scores = np.empty(n, np.float32)
        angles = np.empty((n, 3), np.float32)
        with self._lock:
            if self._closed:
                raise InvalidArgumentError("this FaceMesh is closed")
            self._load()
            for i in range(n):
                roi = roi_from_box(detections.xyxy[i], detections.keypoints[i])
                if not np.isfinite(roi).all() or roi[2] < 2:
                    # A degenerate box has no crop to run on: no mesh, no pose.
                    points[i], scores[i], angles[i] = np.nan, 0.0, np.nan
                    continue
                pts, score = self._infer(image, roi)
                if self.passes == 2:
                    pts, score = self._infer(image, roi_from_mesh(pts))
                points[i], scores[i] = pts, score
                angles[i] = pose_angles(pts)
        return FaceMeshes(points, scores, *angles.T.copy())

    def close(self) -> None:
        with self._lock:
            self._interpreter = None
            self._closed = True

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_shared: FaceMesh | None = None
_shared_lock = threading.Lock()


def default_mesh() -> FaceMesh:
    """One :class:`FaceMesh` shared by the process (its model loads on first use), as
    :func:`workbench.embed.default_embedder` shares the embedder."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = FaceMesh()
        return _shared
