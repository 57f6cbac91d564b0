"""A measurement set for small and far faces: real LFW faces placed small into real frames.

Each frame is a crop of the face-free top band of ``video/crowd_walk.mp4`` (the
arcade's arches, the opera house sign and its columns: the walkers' heads start at about
row 500 of the 1080 rows, so rows 0-479 hold no face in any of its 105 frames), scaled to
640x360 or 640x480, and holds a few LFW faces shrunk to one height and blended in at
random, non-overlapping places through a feathered oval mask. Everything is made at run
time from the shared data with a seed; nothing is stored.

"Face height" is the height of MTCNN's box (brow to chin): on LFW's deep-funneled 250x250
photos that box is at :data:`LFW_FACE_BOX` (the median over 300 photos; p10-p90 within
about 10 px of it), so a photo scaled by ``h / 124`` puts an ``h``-pixel face in the frame.

Example:
    >>> frames = placed_face_frames(face_height=32, frames=5)  # doctest: +SKIP
    >>> frames[0].image.shape, frames[0].boxes.shape  # doctest: +SKIP
    ((360, 640, 3), (4, 4))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data import lfw_images, shared_data_dir
from workbench.images import load_image

#: MTCNN's median face box on LFW deep-funneled photos, x1, y1, x2, y2 (250x250 pixels).
LFW_FACE_BOX = (78.0, 65.0, 170.0, 188.0)
#: Rows of the 1920x1080 crowd video that never show a face.
BACKGROUND_ROWS = 480
FRAME_SIZES = ((640, 360), (640, 480))


@dataclass(frozen=True)
class PlacedFrame:
    """One frame of the set.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(n, 4)`` float32 ``x1, y1, x2, y2`` of the placed faces (MTCNN-style
            brow-to-chin boxes).
        face_height: the height every placed face was scaled to, in pixels.
    """

    image: np.ndarray
    boxes: np.ndarray
    face_height: int


def background_frames(*, step: int = 8) -> list[np.ndarray]:
    """The face-free top band (``(480, 1920, 3)`` RGB) of every ``step``-th video frame.

    Raises:
        FileNotFoundError: the shared crowd video is absent.
    """
    import cv2

    root = shared_data_dir()
    path = None if root is None else Path(root) / "video" / "crowd_walk.mp4"
    if path is None or not path.is_file():
        raise FileNotFoundError("video/crowd_walk.mp4 not found in the shared data")
    cap = cv2.VideoCapture(str(path))
    bands = []
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                band = frame[:BACKGROUND_ROWS]
                bands.append(np.ascontiguousarray(cv2.cvtColor(band, cv2.COLOR_BGR2RGB)))
            index += 1
    finally:
        cap.release()
    return bands


def placed_face_frames(
    *,
    face_height: int,
    frames: int,
    size: tuple[int, int] = (640, 360),
    faces_per_frame: int = 4,
    seed: int = 0,
    backgrounds: list[np.ndarray] | None = None,
) -> list[PlacedFrame]:
    """``frames`` frames of ``size`` (width, height), each with ``faces_per_frame`` LFW
    faces of ``face_height`` pixels at random places.

    The same seed gives the same frames; different heights draw different photos.

    Raises:
        FileNotFoundError: LFW or the crowd video is absent.
    """
    import cv2

    photos = lfw_images()
    if not photos:
        raise FileNotFoundError("LFW not found in the shared data")
    bands = backgrounds if backgrounds is not None else background_frames()
    rng = np.random.default_rng([seed, face_height, *size])
    width, height = size
    out = []
    for _ in range(frames):
        frame = _background(bands, width, height, rng, cv2)
        boxes: list[np.ndarray] = []
        tries = 0
        while len(boxes) < faces_per_frame and tries < 200:
            tries += 1
            photo = load_image(photos[int(rng.integers(len(photos)))])
            placed = place_face(frame, photo, face_height, boxes, rng)
            if placed is not None:
                boxes.append(placed)
        out.append(PlacedFrame(frame, np.array(boxes, np.float32).reshape(-1, 4), face_height))
    return out


def _background(bands, width, height, rng, cv2) -> np.ndarray:
    band = bands[int(rng.integers(len(bands)))]
    # A crop of 1 to 1.5 frame widths (as far as the band's height allows), resized to
    # the frame: a different part and scale of the arcade each time.
    most = min(1.5, BACKGROUND_ROWS / height)
    k = rng.uniform(min(1.0, most), most)
    cw, ch = int(width * k), int(height * k)
    x = int(rng.integers(0, band.shape[1] - cw + 1))
    y = int(rng.integers(0, band.shape[0] - ch + 1))
    crop = band[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))


def place_face(
    frame: np.ndarray, photo: np.ndarray, face_height: int, boxes: list, rng
) -> np.ndarray | None:
    """Blend the face of a 250x250 LFW ``photo``, scaled to ``face_height``, into
    ``frame`` (in place) at a random spot clear of ``boxes``; returns its box, or
    ``None`` when the spot drawn was taken (draw again)."""
    import cv2

    fx1, fy1, fx2, fy2 = LFW_FACE_BOX
    s = face_height / (fy2 - fy1)
    # The patch: the face box grown by 40% across and 30% down/up, so hair, ears and the
    # chin's edge come along and the oval's feather falls outside the face.
    cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
    half_w, half_h = 0.7 * (fx2 - fx1), 0.65 * (fy2 - fy1)
    x0, y0 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x1, y1 = min(250, int(cx + half_w) + 1), min(250, int(cy + half_h) + 1)
    pw, ph = max(2, round((x1 - x0) * s)), max(2, round((y1 - y0) * s))
    patch = cv2.resize(photo[y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_AREA)
    height, width = frame.shape[:2]
    if pw >= width or ph >= height:
        return None
    px = int(rng.integers(0, width - pw))
    py = int(rng.integers(0, height - ph))
    box = np.array(
        [px + (fx1 - x0) * s, py + (fy1 - y0) * s, px + (fx2 - x0) * s, py + (fy2 - y0) * s],
        np.float32,
    )
    patch_box = np.array([px, py, px + pw, py + ph], np.float32)
    for other in boxes:
        if _overlap(patch_box, other, margin=0.5 * face_height):
            return None
    yy, xx = np.mgrid[0:ph, 0:pw]
    r = np.sqrt(((xx + 0.5) / pw * 2 - 1) ** 2 + ((yy + 0.5) / ph * 2 - 1) ** 2)
    alpha = np.clip((1.0 - r) / 0.25, 0.0, 1.0)[..., None]  # feathered oval
    region = frame[py : py + ph, px : px + pw].astype(np.float32)
    frame[py : py + ph, px : px + pw] = (alpha * patch + (1 - alpha) * region + 0.5).astype(
        np.uint8
    )
    return box


def _overlap(a: np.ndarray, b: np.ndarray, *, margin: float) -> bool:
    return not (
        a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1]
    )


@dataclass(frozen=True)
class Score:
    """Recall and false detections of one detector on a set of frames."""

    faces: int
    found: int
    false_detections: int
    frames: int

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 0.0

    @property
    def false_per_frame(self) -> float:
        return self.false_detections / self.frames if self.frames else 0.0


def score(frames: list[PlacedFrame], detections: list) -> Score:
    """Match detections to placed faces: a face is found when a detection's centre lies
    in its box and the two heights agree within a factor of two (detectors draw boxes
    differently: BlazeFace's is square and lower); every other detection is false."""
    faces = found = false = 0
    for frame, dets in zip(frames, detections, strict=True):
        faces += len(frame.boxes)
        used = np.zeros(len(dets), bool)
        if len(dets):
            cx = (dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2
            cy = (dets.xyxy[:, 1] + dets.xyxy[:, 3]) / 2
            dh = dets.xyxy[:, 3] - dets.xyxy[:, 1]
        for x1, y1, x2, y2 in frame.boxes:
            if not len(dets):
                break
            ok = (
                ~used
                & (cx >= x1)
                & (cx <= x2)
                & (cy >= y1)
                & (cy <= y2)
                & (dh >= 0.5 * (y2 - y1))
                & (dh <= 2.0 * (y2 - y1))
            )
            if ok.any():
                used[int(np.argmax(ok))] = True
                found += 1
        false += int((~used).sum())
    return Score(faces, found, false, len(frames))
