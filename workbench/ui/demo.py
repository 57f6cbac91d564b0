"""Camera-free material for the notebooks and tests: a few LFW people, a clip of one.

Everything here reads the shared data folder (:func:`workbench.data.shared_data_dir`) and
writes only where it is told (a temporary folder), never into ``reference_images/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.data import shared_data_dir
from workbench.errors import InvalidArgumentError


def lfw_people(n_people: int = 3, n_photos: int = 3, *, skip: int = 0) -> dict[str, list[Path]]:
    """``{name: photo paths}`` of the first ``n_people`` LFW people (in name order, after
    ``skip`` of them) with at least ``n_photos`` photos; empty when the data is absent."""
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        return {}
    out: dict[str, list[Path]] = {}
    seen = 0
    for folder in sorted((root / "lfw").iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) < n_photos:
            continue
        seen += 1
        if seen <= skip:
            continue
        out[folder.name] = photos[:n_photos]
        if len(out) == n_people:
            break
    return out


def copy_people(people: dict[str, Sequence[Path]], folder: str | Path) -> Path:
    """Copy ``{name: photos}`` into ``folder/<name>/`` (an enrollment folder); returns it."""
    folder = Path(folder)
    for name, photos in people.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for photo in photos:
            shutil.copyfile(photo, folder / name / Path(photo).name)
    return folder


def letterbox(image: np.ndarray, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """``image`` scaled to fit ``size`` (width, height), centred on black."""
    import cv2

    w, h = size
    scale = min(w / image.shape[1], h / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - resized.shape[0]) // 2, (w - resized.shape[1]) // 2
    out[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return out


def make_clip(
    photos: Sequence[str | Path],
    path: str | Path,
    *,
    fps: int = 15,
    seconds_per_photo: float = 1.0,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """Write an MP4 that shows each photo for ``seconds_per_photo``, letterboxed to
    ``size``: a stand-in for a webcam.

    Raises:
        InvalidArgumentError: no photos, or OpenCV cannot write the file.
    """
    import cv2

    from workbench.images import load_image

    if not photos:
        raise InvalidArgumentError("make_clip needs at least one photo")
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise InvalidArgumentError(f"cannot write a video to {path}")
    try:
        for photo in photos:
            frame = cv2.cvtColor(letterbox(load_image(photo), size), cv2.COLOR_RGB2BGR)
            for _ in range(max(1, round(fps * seconds_per_photo))):
                writer.write(frame)
    finally:
        writer.release()
    return path
