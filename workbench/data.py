"""Where the shared test and benchmark data lives (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: the folder holding ``pyproject.toml``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``$WORKBENCH_DATA`` if set, else ``../shared/data`` beside the project; ``None``
    when neither exists (a user's fresh clone)."""
    env = os.environ.get("WORKBENCH_DATA")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(PROJECT_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def lfw_images(limit: int | None = None) -> list[Path]:
    """LFW image paths in sorted order (empty when the data is absent)."""
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        return []
    paths = sorted((root / "lfw").glob("*/*.jpg"))
    return paths[:limit] if limit else paths
