"""Fixtures for the widget tests: one embedder, a few LFW people, a fresh gallery each."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def embedder():
    from workbench.embed import default_embedder

    return default_embedder()


@pytest.fixture(scope="session")
def recognizer(mediapipe_detector, embedder):
    from workbench.recognize import Recognizer

    return Recognizer(mediapipe_detector, embedder)


@pytest.fixture(scope="session")
def people(lfw_dir: Path) -> dict[str, list[Path]]:
    """Three LFW people with three photos each."""
    from workbench.ui.demo import lfw_people

    found = lfw_people(n_people=3, n_photos=3)
    if len(found) < 3:
        pytest.skip("fewer than 3 LFW people with 3 photos in the shared data")
    return found


@pytest.fixture
def gallery(tmp_path: Path, embedder):
    from workbench.gallery import Gallery

    with Gallery(tmp_path / "gallery.sqlite", model_id=embedder.model_id) as g:
        yield g


@pytest.fixture(scope="session")
def uploaded():
    """``uploaded(path) -> dict``: one ``FileUpload.value`` entry, as the browser sends it."""
    from datetime import UTC, datetime

    def make(path: Path) -> dict:
        data = Path(path).read_bytes()
        return {
            "name": Path(path).name,
            "type": "image/jpeg",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.now(UTC),
        }

    return make
