"""Notebook widgets, thin over the package: enrollment, the embedding explorer, live view.

Nothing in ``workbench/`` imports this package; the panels take ready galleries,
recognizers and embedders. Importing it loads no model and no ipywidgets.

Example:
    >>> from workbench.ui import EnrollPanel  # doctest: +SKIP
    >>> EnrollPanel(gallery, recognizer)  # doctest: +SKIP
"""

from __future__ import annotations

from workbench._lazy import lazy_exports

__all__ = ["EmbeddingExplorer", "EnrollPanel", "LivePanel", "PeoplePanel"]

_WHERE = {
    "EnrollPanel": "workbench.ui.enroll",
    "EmbeddingExplorer": "workbench.ui.explore",
    "LivePanel": "workbench.ui.live",
    "PeoplePanel": "workbench.ui.people",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
