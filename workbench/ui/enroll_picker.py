"""``FacePicker``: the faces of one photo as clickable thumbnails, for the enroll panel.

A photo (upload, webcam frame, folder photo) with several faces is not enrolled by a
rule ("largest", "skip"): the user clicks the face to enroll. Each thumbnail is an
``ipywidgets.Button`` whose background is the face's crop, so the picture itself is what
is clicked in the browser and ``button.click()`` drives it from tests.
"""

from __future__ import annotations

import base64
import html
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.ui.common import crop_face, encode_image, thumbnail

if TYPE_CHECKING:
    from workbench.faces import FaceDetections

#: Side of a face thumbnail, CSS pixels.
THUMB_PX = 96
_ids = itertools.count()


def _css(token: str, thumbs: list[bytes]) -> str:
    """One rule per face: its JPEG as the button's background (data URI)."""
    rules = [
        f".wb-face-pick.{token}-{i} {{ background-image: url('data:image/jpeg;base64,"
        f"{base64.b64encode(t).decode('ascii')}'); }}"
        for i, t in enumerate(thumbs)
    ]
    return (
        "<style>.wb-face-pick { background-size: cover; background-position: center; "
        "border: 3px solid transparent; padding: 0; }"
        ".wb-face-pick.wb-face-picked { border-color: #2e7d32; }" + "".join(rules) + "</style>"
    )


def left_to_right(detections: FaceDetections) -> list[int]:
    """Face indices ordered by the left edge of their box, as the photo shows them."""
    return [int(i) for i in np.argsort(np.asarray(detections.xyxy)[:, 0], kind="stable")]


class FacePicker:
    """Thumbnails of the faces of one photo; clicking one calls ``on_pick(index)``.

    Attributes:
        widget: the ``VBox`` to place in a panel (empty when nothing is to pick).
        buttons: one ``Button`` per face, in the detector's order (``.click()`` picks).
        thumbnails: the JPEG bytes shown on each button.
        skip_button: drops the photo (shown when ``on_skip`` is given).
    """

    def __init__(self) -> None:
        import ipywidgets as w

        self.title = w.HTML()
        self.style = w.HTML()
        self.faces = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.skip_button = w.Button(description="Skip this photo", icon="times")
        self.buttons: list[Any] = []
        self.thumbnails: list[bytes] = []
        self.picked: int | None = None
        self._on_skip: Callable[[Any], None] | None = None  # the guarded handler
        self.skip_button.on_click(lambda b: self._on_skip and self._on_skip(b))
        self.widget = w.VBox()

    @property
    def showing(self) -> bool:
        """Whether faces are on show."""
        return bool(self.buttons)

    def show(
        self,
        image: np.ndarray,
        detections: FaceDetections,
        *,
        title: str,
        on_pick: Callable[[int], None],
        on_skip: Callable[[], None] | None = None,
        picked: int | None = None,
        wrap: Callable[[Callable], Callable] = lambda fn: fn,
    ) -> None:
        """Show the faces of ``image`` (``title``: plain text above them).

        ``wrap``: applied to each click handler (the panel's ``ErrorLog.guard``, so an
        error lands in the panel, next to the picker).
        """
        import ipywidgets as w

        token = f"wb-face-{next(_ids)}"
        self.thumbnails = [
            encode_image(thumbnail(crop_face(image, box), THUMB_PX))
            for box in np.asarray(detections.xyxy)
        ]
        self.buttons = []
        for i, (box, score) in enumerate(zip(detections.xyxy, detections.scores, strict=True)):
            height = float(box[3] - box[1])
            button = w.Button(
                description="",
                tooltip=f"face {i + 1}: {height:.0f} px tall, score {float(score):.2f}",
                layout=w.Layout(width=f"{THUMB_PX + 6}px", height=f"{THUMB_PX + 6}px"),
            )
            button.add_class("wb-face-pick")
            button.add_class(f"{token}-{i}")
            button.on_click(wrap(lambda _b, i=i: on_pick(i)))
            self.buttons.append(button)
        self._on_skip = None if on_skip is None else wrap(lambda _b: on_skip())
        self.style.value = _css(token, self.thumbnails)
        self.title.value = html.escape(title, quote=False)
        # Shown left to right as in the photo; ``buttons`` stay in the detector's order
        # (the index ``enroll(face=i)`` and ``workbench add --face`` take).
        self.faces.children = [self.buttons[i] for i in left_to_right(detections)]
        self.mark(picked)
        rows = [self.style, self.title, self.faces]
        if on_skip is not None:
            rows.append(self.skip_button)
        self.widget.children = rows

    def mark(self, index: int | None) -> None:
        """Outline the picked face (``None``: none)."""
        self.picked = index
        for i, button in enumerate(self.buttons):
            if i == index:
                button.add_class("wb-face-picked")
            else:
                button.remove_class("wb-face-picked")

    def clear(self) -> None:
        """Nothing to pick: the picker takes no room."""
        self.buttons, self.thumbnails, self.picked = [], [], None
        self._on_skip = None
        self.faces.children = ()
        self.widget.children = ()
