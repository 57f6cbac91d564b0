"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent) and
one detector of each kind per session, since loading models is the slow part."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.data import shared_data_dir

NO_DATA = (
    "shared test data not found: set WORKBENCH_DATA or place the shared folder at "
    "../shared/data beside the project (CI always has it)"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip(NO_DATA)
    return root


@pytest.fixture(scope="session")
def lfw_dir(shared_data: Path) -> Path:
    path = shared_data / "lfw"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def lfw_pairs_file(shared_data: Path) -> Path:
    path = shared_data / "lfw-pairs.txt"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def crowd_video(shared_data: Path) -> Path:
    path = shared_data / "video" / "crowd_walk.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def mediapipe_detector():
    from workbench.detect import create_detector

    with create_detector("mediapipe") as detector:
        yield detector


@pytest.fixture(scope="session")
def mtcnn_detector():
    from workbench.detect import create_detector

    with create_detector("mtcnn") as detector:
        yield detector
