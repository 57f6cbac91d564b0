"""A throwaway PostgreSQL server for tests and benchmarks (not used by the product).

``initdb`` in a temporary folder, ``pg_ctl`` on a free port of 127.0.0.1 only, trust
authentication for one superuser, and a stop that happens whatever ends the run:

- the context manager's ``finally`` (tests pass or fail),
- an ``atexit`` hook (an exception or Ctrl-C that never reaches the ``finally``),
- a watchdog process that stops the server when the owning process is gone, also after
  ``kill -9`` (nothing in Python runs then).

PostgreSQL refuses to run as root: as root, ``initdb``, ``pg_ctl`` and the server run as
the ``postgres`` user (Debian's package creates it) through ``runuser``.

Example:
    >>> with throwaway_cluster() as cluster:  # doctest: +SKIP
    ...     Gallery(cluster.url("gallery"), model_id="m")
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The superuser of a throwaway cluster (trust authentication, 127.0.0.1 only).
USER = "workbench"

#: A user that must give a password (scram-sha-256), for tests of wrong credentials; the
#: cluster does not create the role, a test does (``CREATE ROLE ... PASSWORD``).
PASSWORD_USER = "wb_password"


class ClusterUnavailable(RuntimeError):
    """PostgreSQL is not installed here, or a throwaway server cannot start (the reason)."""


def find_bindir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: Debian keeps them out of PATH.

    Raises:
        ClusterUnavailable: no PostgreSQL installation found.
    """
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(found)
    for c in candidates:
        path = Path(c).resolve().parent
        if (path / "pg_ctl").is_file():
            return path
    raise ClusterUnavailable(
        "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); "
        "`make test` installs Debian's postgresql-15 where it runs as root"
    )


@dataclass
class Cluster:
    """A running throwaway server."""

    bindir: Path
    datadir: Path
    port: int
    runas: str | None  # the user the server runs as when we are root
    watchdog: subprocess.Popen | None = None
    stopped: bool = False
    durable: bool = False  # fsync on (benchmarks); off for tests

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://workbench@127.0.0.1:PORT/dbname``."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.runas, "--", *cmd] if self.runas else cmd

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owned by the test user); returns its URL."""
        _run(self._cmd("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name))
        return self.url(name)

    def stop(self, *, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: no checkpoint, like a crash; it is thrown away)."""
        if self.stopped:
            return
        with contextlib.suppress(ClusterUnavailable, OSError):
            _run(self._cmd("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop"))
        self.stopped = True

    def start(self) -> None:
        """Start (again, after :meth:`stop`) on the same port and data."""
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.datadir} "
            "-c max_connections=60"
        )
        if not self.durable:
            # Thrown away afterwards: durability against power loss buys tests nothing.
            opts += " -c fsync=off -c full_page_writes=off"
        log = self.datadir / "server.log"
        _run(
            self._cmd("pg_ctl", "-D", str(self.datadir), "-l", str(log), "-o", opts, "-w", "start")
        )
        self.stopped = False

    def files_hold(self, needle: bytes) -> bool:
        """Do the table files (``base/``, not the write-ahead log) hold ``needle``? Run a
        ``CHECKPOINT`` first so the pages reach them."""
        for root, _, files in os.walk(self.datadir / "base"):
            for f in files:
                try:
                    if needle in (Path(root) / f).read_bytes():
                        return True
                except OSError:
                    continue
        return False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)
        if self.watchdog is not None and self.watchdog.poll() is None:
            self.watchdog.terminate()


def _run(cmd: list[str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClusterUnavailable(f"{cmd[0]}: {exc}") from None
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ClusterUnavailable(f"{' '.join(cmd[:4])}...: exit {proc.returncode}: {tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runas() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable(
            "running as root, and there is no 'postgres' user to run the server as "
            "(PostgreSQL refuses to run as root)"
        ) from None
    if shutil.which("runuser") is None:
        raise ClusterUnavailable("running as root without runuser to drop to 'postgres'")
    return "postgres"


def _watchdog(cluster: Cluster) -> subprocess.Popen:
    """A shell that stops the server and removes its folder once this process is gone."""
    stop = " ".join(
        f"'{a}'" for a in cluster._cmd("pg_ctl", "-D", str(cluster.datadir), "-m", "immediate")
    )
    script = (
        f"while [ -e /proc/{os.getpid()} ]; do sleep 1; done; "
        f"{stop} stop >/dev/null 2>&1; rm -rf '{cluster.datadir.parent}'"
    )
    # Its own session: a Ctrl-C to the test run's process group does not reach it first.
    return subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_cluster(*, durable: bool = False) -> Cluster:
    """initdb + start; the caller must :meth:`Cluster.remove` (see :func:`throwaway_cluster`).

    ``durable``: PostgreSQL's default fsync (for benchmarks); tests turn it off.

    Raises:
        ClusterUnavailable: not installed, or initdb/start failed (with the reason).
    """
    bindir = find_bindir()
    runas = _runas()
    top = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    datadir = top / "data"
    datadir.mkdir()
    if runas:
        entry = pwd.getpwnam(runas)
        os.chown(datadir, entry.pw_uid, entry.pw_gid)
        os.chmod(top, 0o755)  # the postgres user must reach datadir
    cluster = Cluster(bindir, datadir, free_port(), runas, durable=durable)
    try:
        _run(
            cluster._cmd(
                "initdb", "-D", str(datadir), "-U", USER, "--auth=trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )
        )  # fmt: skip
        hba = datadir / "pg_hba.conf"
        line = f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(line + hba.read_text())  # first match wins: before the trust lines
        cluster.watchdog = _watchdog(cluster)
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    atexit.register(cluster.remove)
    return cluster


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A running server for the ``with`` block; stopped and deleted afterwards."""
    cluster = start_cluster(durable=durable)
    try:
        yield cluster
    finally:
        cluster.remove()


if __name__ == "__main__":  # python -m workbench.testing.pgcluster: a server until Ctrl-C
    import signal

    # SIGTERM (and SIGINT, which a background job ignores) end the with block cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with throwaway_cluster() as c:
        print(f"{c.create_database('gallery')}  (Ctrl-C stops and deletes it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
