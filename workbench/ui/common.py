"""Small pieces the panels share: errors shown in an ``Output``, images to PNG bytes,
figures rendered without pyplot, face quality.

Nothing here imports a model; the panels receive ready detectors, embedders and galleries.
"""

from __future__ import annotations

import functools
import html
import io
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.faces import FaceDetections


class ErrorLog:
    """Shows exceptions raised in widget callbacks to the user.

    Args:
        output: the panel's ``Output`` widget, for errors that belong to no control.

    A :class:`~workbench.errors.WorkbenchError` is shown as its one-line message (it
    already says what was expected and what arrived): next to the control that caused it
    when the callback was guarded with ``near=`` (an ``HTML`` widget beside it), else in
    the output. Anything else is a bug and goes to the output with its traceback.
    ``last`` keeps the latest message so tests can read it; each guarded call starts by
    clearing it and its own message, so an error stays on screen only until that control
    is used again.
    """

    def __init__(self, output: Any) -> None:
        self.output = output
        self.last: str | None = None
        self._lock = threading.Lock()

    def show(self, exc: BaseException, *, near: Any = None) -> None:
        """Show ``exc`` next to ``near`` or in the output (safe from any thread)."""
        if isinstance(exc, WorkbenchError):
            text = f"{type(exc).__name__}: {exc}"
        else:
            text = "".join(traceback.format_exception(exc)).rstrip()
            near = None
        with self._lock:
            self.last = text
            if near is not None:
                near.value = error_html(text)
            else:
                # append_stderr works from any thread; `with output:` only on the main one.
                self.output.append_stderr(text + "\n")

    def clear(self) -> None:
        with self._lock:
            self.last = None
            self.output.clear_output()

    def guard(self, fn: Callable[..., Any], *, near: Any = None) -> Callable[..., Any]:
        """Wrap a callback so an exception is shown (next to ``near``, an ``HTML``
        widget, when given) instead of being lost in the kernel log."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.last = None
            if near is not None and near.value.startswith(_ERROR_MARK):
                near.value = ""
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user, not swallowed
                self.show(exc, near=near)
                return None

        return wrapper


_ERROR_MARK = "<span class='wb-error'"


def error_html(text: str) -> str:
    """One error message as the panels show it next to a control."""
    return f"{_ERROR_MARK} style='color:#c62828'>{html.escape(text)}</span>"


def message_html(text: str, *, colour: str | None = None, italic: bool = False) -> str:
    """A short status line (escaped) in ``colour``, for an ``HTML`` widget."""
    body = html.escape(text)
    if italic:
        body = f"<i>{body}</i>"
    return f"<span style='color:{colour}'>{body}</span>" if colour else body


#: ipywebrtc's camera view is a bare ``<video>`` at the camera's size inside the widget's
#: box; this scales it to the box's width instead of cropping it.
CAMERA_CSS = "<style>.wb-camera video { width: 100%; height: auto; }</style>"


def set_image(widget: Any, data: bytes) -> None:
    """Show ``data`` in an ``ipywidgets.Image``; empty bytes hide it (no broken icon)."""
    widget.value = data
    widget.layout.display = "" if data else "none"


def encode_image(image: np.ndarray, *, fmt: str = "jpeg", quality: int = 85) -> bytes:
    """``(H, W, 3)`` uint8 RGB array to JPEG or PNG bytes for an ``ipywidgets.Image``."""
    from PIL import Image

    buf = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image))
    if fmt == "jpeg":
        pil.save(buf, format="JPEG", quality=quality)
    else:
        pil.save(buf, format="PNG")
    return buf.getvalue()


def figure_png(fig: Any) -> bytes:
    """Render a ``matplotlib.figure.Figure`` to PNG bytes (Agg, no pyplot state)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def new_figure(width: float = 5.0, height: float = 4.0) -> Any:
    """A ``Figure`` on the Agg canvas: thread-safe and independent of the notebook's
    matplotlib backend (pyplot would also show it a second time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def crop_face(image: np.ndarray, box: np.ndarray, *, margin: float = 0.25) -> np.ndarray:
    """The face box widened by ``margin`` on each side, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(int(x1 - mx), 0), max(int(y1 - my), 0)
    right, bottom = min(int(x2 + mx), w), min(int(y2 + my), h)
    if right <= left or bottom <= top:
        return image
    return image[top:bottom, left:right]


def thumbnail(image: np.ndarray, size: int = 64) -> np.ndarray:
    """A copy at most ``size`` pixels on its longer side."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    pil.thumbnail((size, size))
    return np.asarray(pil)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: low values mean blur."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_quality(image: np.ndarray, detections: FaceDetections) -> tuple[str, bool]:
    """A one-line verdict on a capture for enrollment, and whether it is usable.

    Usable means exactly one face, detector score at least 0.7, face at least 80 px wide.
    """
    n = len(detections)
    if n == 0:
        return "no face found: face the camera, more light", False
    if n > 1:
        return f"{n} faces found: only the person to enroll should be in view", False
    score = float(detections.scores[0])
    x1, y1, x2, y2 = (float(v) for v in detections.xyxy[0])
    width = x2 - x1
    sharp = sharpness(crop_face(image, detections.xyxy[0], margin=0.0))
    text = f"score {score:.2f}, face {width:.0f} px wide, sharpness {sharp:.0f}"
    if score < 0.7:
        return text + ": low score, retake facing the camera", False
    if width < 80:
        return text + ": face too small, come closer", False
    return text + ": good", True


def threshold_html(gallery: Any) -> str:
    """The gallery's threshold and where it came from, one line of HTML for the panels."""
    import html

    info = gallery.threshold_info
    return f"threshold <b>{info.threshold:.3f}</b> &middot; {html.escape(info.source)}" + (
        f" (target FAR {info.target_far:g} per {info.per})" if info.auto else ""
    )
