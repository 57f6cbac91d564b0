"""The throwaway PostgreSQL server of the tests: reachable on 127.0.0.1 only, gone after
its owner ends, also when the owner is killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def test_session_server_answers_on_loopback_only(pg_cluster, pg_url):
    import psycopg

    with psycopg.connect(pg_url) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
        user = conn.execute("SELECT current_user").fetchone()[0]
    assert listen == "127.0.0.1"
    assert user == "workbench"
    assert pg_cluster.datadir.is_dir()


def _server_running(datadir: Path) -> bool:
    pid_file = datadir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    return Path(f"/proc/{pid}").exists()


def test_killed_owner_leaves_no_server(pg_cluster):
    # A child starts its own server, prints where, and dies by SIGKILL (no finally, no
    # atexit): the watchdog must stop the server and remove its folder.
    code = (
        "import os\n"
        "from workbench.testing.pgcluster import start_cluster\n"
        "c = start_cluster()\n"
        "print(c.datadir, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    root = str(Path(__file__).parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert proc.returncode == -9, proc.stderr
    datadir = Path(proc.stdout.strip())
    deadline = time.monotonic() + 20
    while (datadir.exists() or _server_running(datadir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not datadir.exists(), "the killed owner's server folder is still there"


def test_missing_install_is_reported(monkeypatch):
    from workbench.testing import pgcluster

    monkeypatch.setattr(pgcluster.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pgcluster.shutil, "which", lambda name: None)
    with pytest.raises(pgcluster.ClusterUnavailable, match="not installed"):
        pgcluster.find_bindir()
