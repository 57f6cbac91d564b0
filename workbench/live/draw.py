"""Draw recognitions onto frames: boxes (OpenCV), names and distances, an FPS line.

``cv2.putText`` only has Hershey fonts, which cover ASCII; names such as "José" or
"Łukasz" would come out as question marks. Labels are therefore rendered with Pillow and
a TrueType font into small patches that are pasted onto the frame. A patch is cached per
(text, size, colours), so a steady name costs one array copy per frame rather than a
full-frame Pillow round trip.

Example:
    >>> import numpy as np
    >>> img = np.zeros((120, 160, 3), np.uint8)
    >>> out = draw_faces(img, np.array([[20, 30, 80, 100]]), ["Zoë"], [0.41])
    >>> out.shape, bool(out.any()), bool(img.any())
    ((120, 160, 3), True, False)
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workbench.errors import InvalidImageError

if TYPE_CHECKING:
    from workbench.live.loop import LiveResult, LiveStats

#: RGB colours: named faces green, unknown faces orange-red, "X or Y?" (two look-alikes
#: the gallery cannot tell apart) amber, the status line white on grey.
KNOWN_COLOR = (40, 200, 90)
UNKNOWN_COLOR = (235, 80, 40)
AMBIGUOUS_COLOR = (235, 175, 30)
TEXT_COLOR = (255, 255, 255)
STATUS_BG = (40, 40, 40)

#: Fonts tried in order: matplotlib's bundled DejaVu Sans (always here, since matplotlib
#: is a dependency), then common system fonts; DejaVu covers Latin, Greek and Cyrillic.
_SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)

_LOCK = threading.Lock()
_FONTS: dict[int, Any] = {}
_PATCHES: OrderedDict[tuple, np.ndarray] = OrderedDict()
_PATCH_CACHE_SIZE = 512


def font_path() -> Path | None:
    """The TrueType font labels are drawn with, ``None`` if none was found."""
    spec = importlib.util.find_spec("matplotlib")
    candidates = []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "mpl-data/fonts/ttf/DejaVuSans.ttf")
    candidates.extend(Path(p) for p in _SYSTEM_FONTS)
    return next((p for p in candidates if p.is_file()), None)


def get_font(size: int) -> Any:
    """A cached Pillow font of ``size`` pixels (Pillow's own default when no TrueType
    font exists on the system, which covers fewer scripts)."""
    with _LOCK:
        font = _FONTS.get(size)
        if font is None:
            path = font_path()
            font = (
                ImageFont.truetype(str(path), size)
                if path is not None
                else ImageFont.load_default(size)
            )
            _FONTS[size] = font
        return font


def render_label(
    text: str, size: int, background: tuple[int, int, int], color: tuple[int, int, int] = TEXT_COLOR
) -> np.ndarray:
    """Render ``text`` on a filled rectangle.

    Args:
        text: any Unicode text the font covers.
        size: font size in pixels.
        background: RGB fill.
        color: RGB text colour.

    Returns:
        ``(h, w, 3)`` uint8 RGB patch (cached: treat as read-only).
    """
    key = (text, size, background, color)
    with _LOCK:
        patch = _PATCHES.get(key)
        if patch is not None:
            _PATCHES.move_to_end(key)
            return patch
    font = get_font(size)
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, size // 5)
    w, h = max(1, right - left) + 2 * pad, max(1, bottom - top) + 2 * pad
    image = Image.new("RGB", (int(w), int(h)), background)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=font, fill=color)
    patch = np.asarray(image)
    patch.setflags(write=False)
    with _LOCK:
        _PATCHES[key] = patch
        if len(_PATCHES) > _PATCH_CACHE_SIZE:
            _PATCHES.popitem(last=False)
    return patch


def paste(image: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy ``patch`` into ``image`` with its top-left corner at ``(x, y)``, clipped."""
    h, w = image.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + pw), min(h, y + ph)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def draw_faces(
    image: np.ndarray,
    boxes: np.ndarray,
    names: Sequence[str],
    distances: Sequence[float] | np.ndarray | None = None,
    *,
    copy: bool = True,
) -> np.ndarray:
    """Draw a box and a ``name distance`` label per face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(n, 4)`` boxes ``x1, y1, x2, y2`` in pixels.
        names: ``n`` labels, coloured by :func:`label_color`.
        distances: ``n`` distances (NaN or ``None`` to leave one out), or ``None``.
        copy: draw on a copy (default) rather than on ``image`` itself.

    Returns:
        The ``(H, W, 3)`` uint8 RGB image with the drawing.

    Raises:
        InvalidImageError: ``image`` is not ``(H, W, 3)`` uint8.
    """
    out = _checked(image, copy)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = out.shape[:2]
    scale = max(h, w) / 640.0
    thickness = max(1, round(2 * scale))
    size = max(12, round(16 * scale))
    for i, box in enumerate(boxes):
        name = names[i]
        color = label_color(name)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        dist = None if distances is None else distances[i]
        text = name if dist is None or np.isnan(dist) else f"{name} {float(dist):.2f}"
        patch = render_label(text, size, color)
        # Above the box when there is room, else just inside its top edge.
        y = y1 - patch.shape[0] if y1 - patch.shape[0] >= 0 else y1
        paste(out, patch, x1, y)
    return out


def label_color(label: str) -> tuple[int, int, int]:
    """The colour a face's label is drawn in: :data:`KNOWN_COLOR` for a name,
    :data:`AMBIGUOUS_COLOR` for ``"X or Y?"``, :data:`UNKNOWN_COLOR` for ``"unknown"``.

    Example:
        >>> label_color("Ann or Bea?") == AMBIGUOUS_COLOR
        True
    """
    from workbench.faces import UNKNOWN, is_named

    if is_named(label):
        return KNOWN_COLOR
    return UNKNOWN_COLOR if label == UNKNOWN else AMBIGUOUS_COLOR


def draw_status(image: np.ndarray, text: str, *, copy: bool = True) -> np.ndarray:
    """Draw one status line (e.g. FPS and latency) in the top-left corner."""
    out = _checked(image, copy)
    size = max(12, round(14 * max(out.shape[:2]) / 640.0))
    paste(out, render_label(text, size, STATUS_BG), 0, 0)
    return out


def status_text(stats: LiveStats) -> str:
    """``"24.8 fps · p50 31 ms · p95 44 ms · dropped 3"`` from a ``LiveStats``."""
    return (
        f"{stats.processed_fps:.1f} fps · p50 {stats.latency_p50_ms:.0f} ms · "
        f"p95 {stats.latency_p95_ms:.0f} ms · dropped {stats.frames_dropped}"
    )


def draw_result(result: LiveResult, *, stats: LiveStats | None = None) -> np.ndarray:
    """A copy of ``result.image`` with its faces and, given ``stats``, the FPS line.

    Args:
        result: a :class:`~workbench.live.loop.LiveResult`.
        stats: a :class:`~workbench.live.loop.LiveStats`; without it the line shows
            this frame's latency only.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = draw_faces(result.image, result.boxes, result.names, result.distances)
    if stats is not None:
        text = status_text(stats)
    else:
        text = f"frame {result.frame_id} · latency {result.timings.latency_ms:.0f} ms"
    return draw_status(out, text, copy=False)


def _checked(image: np.ndarray, copy: bool) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise InvalidImageError(f"expected an (H, W, 3) uint8 RGB image, but got {got}")
    if image.shape[2] != 3:
        raise InvalidImageError(
            f"expected an (H, W, 3) uint8 RGB image, but got shape {image.shape}"
        )
    if copy or not image.flags.writeable:
        return image.copy()
    # cv2 drawing needs a C-contiguous array to draw in place.
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)
