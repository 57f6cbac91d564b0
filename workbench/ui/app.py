"""``WorkbenchApp``: the panels as one page (enroll and people, explore, live) in tabs.

Made for Voilà (``make app``), which shows a notebook's outputs without its code: the
app notebook (``app/workbench.ipynb``) only builds this and shows it. The explorer tab is
rebuilt from the gallery each time it is opened, so people enrolled in the first tab
show up there.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.ui.common import ErrorLog

ENROLL, EXPLORE, LIVE = "Enroll and people", "Explore", "Live"


class WorkbenchApp:
    """Enroll, explore and live panels over one gallery, in tabs.

    Args:
        gallery: the :class:`workbench.gallery.Gallery` every tab uses.
        detector, embedder: the ready models (one of each for the whole app).
        photos_dir: where enrolled photos are saved (``<photos_dir>/<name>/``).
        camera: show the browser camera in the enroll and live tabs.
    """

    def __init__(
        self,
        gallery: Any,
        *,
        detector: Any,
        embedder: Any,
        photos_dir: str | Path = "reference_images",
        camera: bool = True,
    ) -> None:
        import ipywidgets as w

        from workbench.recognize import Recognizer
        from workbench.ui.enroll import EnrollPanel
        from workbench.ui.live import BROWSER, VIDEO, LivePanel

        self.gallery = gallery
        self.detector = detector
        self.embedder = embedder
        self.enroll = EnrollPanel(
            gallery, Recognizer(detector, embedder), photos_dir=photos_dir, camera=camera
        )
        self.live = LivePanel(gallery, embedder, source=BROWSER if camera else VIDEO)
        self.explorer: Any = None
        self.explore_box = w.VBox()
        self.output = w.Output()
        self.errors = ErrorLog(self.output)
        self.tabs = w.Tab(children=[self.enroll.widget, self.explore_box, self.live.widget])
        for k, title in enumerate((ENROLL, EXPLORE, LIVE)):
            self.tabs.set_title(k, title)
        self.tabs.observe(self.errors.guard(self._on_tab), names="selected_index")
        self.widget = w.VBox([self.tabs, self.output])
        self.refresh_explorer()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _on_tab(self, change: dict) -> None:
        if change["new"] == 1:
            self.refresh_explorer()
        if change["old"] == 2 and self.live.running:
            self.live.stop()  # the camera is not watched from another tab

    def refresh_explorer(self) -> None:
        """Rebuild the explorer from the gallery (or say what it still needs)."""
        import ipywidgets as w

        from workbench.ui.explore import EmbeddingExplorer

        try:
            self.explorer = EmbeddingExplorer.from_gallery(
                self.gallery, detector=self.detector, embedder=self.embedder
            )
        except WorkbenchError as exc:
            self.explorer = None
            self.explore_box.children = [
                w.HTML(
                    "<i>Enroll at least two people, one of them with two photos or more, "
                    f"to explore the embedding</i> ({html.escape(str(exc))})"
                )
            ]
            return
        self.explore_box.children = [self.explorer.widget]

    def close(self) -> None:
        """Stop the live loop and release its detectors and camera."""
        self.live.close()
