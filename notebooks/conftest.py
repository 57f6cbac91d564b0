"""Run the notebooks under nbval (``make test``) against a temporary gallery and photo
folder, never your ``reference_images/``.

The notebooks read ``WORKBENCH_GALLERY`` and ``WORKBENCH_PHOTOS``; kernels inherit this
process's environment, so setting them here (before any kernel starts) is enough.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def pytest_configure(config) -> None:
    root = Path(tempfile.mkdtemp(prefix="workbench-nbval-"))
    os.environ.setdefault("WORKBENCH_GALLERY", str(root / "gallery.sqlite"))
    os.environ.setdefault("WORKBENCH_PHOTOS", str(root / "photos"))
    # Keep 05_benchmark quick: two folds of 40 pairs (set these to 10 and 0 for the
    # full protocol).
    os.environ.setdefault("WORKBENCH_BENCH_FOLDS", "2")
    os.environ.setdefault("WORKBENCH_BENCH_PAIRS", "40")
