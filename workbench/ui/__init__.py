"""Notebook widgets, thin over the package: enrollment, the embedding explorer, live view.

Nothing in ``workbench/`` imports this package; the panels take ready galleries,
recognizers and embedders. Importing it loads no model and no ipywidgets.

Example:
    >>> from workbench.ui import EnrollPanel  # doctest: +SKIP
    >>> EnrollPanel(gallery, recognizer)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmbeddingExplorer", "EnrollPanel", "LivePanel"]

_WHERE = {
    "EnrollPanel": "workbench.ui.enroll",
    "EmbeddingExplorer": "workbench.ui.explore",
    "LivePanel": "workbench.ui.live",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'workbench.ui' has no attribute {name!r}")
