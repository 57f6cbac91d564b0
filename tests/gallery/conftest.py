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


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): a test of the SQLite file itself (its bytes, journal, "
        "permissions); runs against the SQLite store only",
    )


@pytest.fixture(params=["sqlite", "postgres"])
def gallery_path(request, tmp_path: Path):
    """Where the test's gallery lives: a file in ``tmp_path``, or (second run of every
    test) a fresh database on the session's throwaway PostgreSQL server. Tests of the
    SQLite file itself carry ``@pytest.mark.sqlite_only(reason)``."""
    if request.param == "sqlite":
        return tmp_path / "gallery.sqlite"
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"SQLite-only: {reason}")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def gallery(gallery_path: Path):
    from workbench.gallery import Gallery

    with Gallery(gallery_path, model_id=MODEL) as g:
        yield g
