"""Fixtures of the gallery tests (the fakes live in ``gallery_fakes.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The test modules import the fakes by module name; pytest (rootdir mode, no __init__.py
# in tests/) does not put this folder on sys.path for us.
sys.path.insert(0, str(Path(__file__).parent))

from gallery_fakes import MODEL, FakeRecognizer  # noqa: E402


@pytest.fixture
def recognizer() -> FakeRecognizer:
    return FakeRecognizer()


@pytest.fixture
def gallery_path(tmp_path: Path) -> Path:
    return tmp_path / "gallery.sqlite"


@pytest.fixture
def gallery(gallery_path: Path):
    from workbench.gallery import Gallery

    with Gallery(gallery_path, model_id=MODEL) as g:
        yield g
