"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent) and
one detector of each kind per session, since loading models is the slow part."""

from __future__ import annotations

import os
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
def two_faces(lfw_dir: Path):
    """``two_faces(path) -> path``: a group photo, Colin Powell left and Hugo Chavez right,
    side by side in one 500x250 image (written in ``path``'s format)."""

    def make(path: Path) -> Path:
        from PIL import Image

        left = Image.open(sorted((lfw_dir / "Colin_Powell").iterdir())[0])
        right = Image.open(sorted((lfw_dir / "Hugo_Chavez").iterdir())[0])
        both = Image.new("RGB", (500, 250))
        both.paste(left, (0, 0))
        both.paste(right, (250, 0))
        both.save(path)
        return path

    return make


@pytest.fixture(scope="session")
def mediapipe_detector():
    from workbench.detect import create_detector

    with create_detector("mediapipe") as detector:
        yield detector


@pytest.fixture(scope="session")
def fused_embedder():
    """The fused embedder (dlib + MobileFaceNet), skipped when LiteRT or a model is
    missing."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (LiteRT) is not installed")
    from workbench.assets import asset_path
    from workbench.embed.fused import FusedEmbedder
    from workbench.errors import ModelAssetError

    try:
        asset_path("mobilefacenet")
        asset_path("dlib_resnet_v1", download=False)
    except ModelAssetError as exc:
        pytest.skip(f"a model is not available: {exc}")
    with FusedEmbedder() as embedder:
        yield embedder


@pytest.fixture(scope="session")
def mtcnn_detector():
    from workbench.detect import create_detector

    with create_detector("mtcnn") as detector:
        yield detector


def _without_root_file_access() -> None:
    """In the child before exec: drop the capabilities that let root read any file
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the bounding set, so the program runs as
    root but meets file permissions as anyone would."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def run_python_without_root():
    """``run(code) -> CompletedProcess``: Python code in a child process that meets file
    permissions (as root too, where tests usually run), with this checkout on the path.
    Skips when the capabilities cannot be dropped here."""
    import os
    import subprocess
    import sys

    def run(code: str) -> subprocess.CompletedProcess:
        root = str(Path(__file__).parents[1])
        try:
            return subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([root, f"{root}/tests/gallery"])},
                preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
            )
        except subprocess.SubprocessError as exc:
            pytest.skip(f"cannot drop root's file access here: {exc}")

    return run


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL server for the session (workbench/testing/pgcluster.py),
    stopped and deleted at the end, also when tests fail; skips with the reason where
    PostgreSQL is not installed or cannot start."""
    from workbench.testing.pgcluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        pytest.skip(f"no PostgreSQL server for these tests: {exc}")
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster, request) -> str:
    """URL of a fresh, empty gallery database on the session's server, one per test: a
    schema of its own in one shared database (``CREATE SCHEMA`` takes milliseconds,
    ``CREATE DATABASE`` a second on this machine), chosen by the URL's search_path."""
    import re

    import psycopg

    db = "tests"
    schema = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + f"_{os.getpid()}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            admin.execute(f'CREATE DATABASE "{db}"')
    with psycopg.connect(pg_cluster.url(db), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return pg_cluster.url(db) + f"?options=-csearch_path%3D{schema}"


#: Two real LFW people among benchmarks/lookalike.py's 100 closest pairs (centroids 0.37
#: apart through the default pipeline): ``close_pair`` enrolls one photo of each and keeps
#: the other as a probe.
CLOSE_PAIR = ("Jong_Thae_Hwa", "Kim_Jin-sun")


@pytest.fixture(scope="session")
def close_pair(lfw_dir, mediapipe_detector):
    """``{person: (enrolled (1, D), probe (1, D), probe photo)}`` for the two people of
    :data:`CLOSE_PAIR` (in that order), through the package's own pipeline (detect,
    align, embed), as `workbench recognize` sees them."""
    from workbench.embed import default_embedder
    from workbench.evaluate import align_images, embed_chips

    photos = [lfw_dir / p / f"{p}_{i:04d}.jpg" for p in CLOSE_PAIR for i in (1, 2)]
    for photo in photos:
        if not photo.is_file():
            pytest.skip(f"{photo.name} is not in the shared LFW copy")
    aligned = align_images(photos, detector=mediapipe_detector, progress=False)
    x = embed_chips(aligned.chips, embedder=default_embedder())
    return {
        p: (x[2 * k : 2 * k + 1], x[2 * k + 1 : 2 * k + 2], photos[2 * k + 1])
        for k, p in enumerate(CLOSE_PAIR)
    }
