"""JupyterLab on a free loopback port, and headless Chromium with a fake camera.

The real-browser test and the camera benchmarks all need the same two things: a JupyterLab
server that only this process can reach (loopback, a random token) and that leaves no
process behind, and Debian's Chromium started with the flags that work in this sandbox
and play a clip as the webcam.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: Debian's chromium; Playwright's own browser download does not work offline.
CHROMIUM = Path("/usr/bin/chromium")

_BASE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--use-fake-device-for-media-stream",
)


class LabStartError(RuntimeError):
    """JupyterLab exited or did not answer in time."""


def chromium_flags(
    clip: str | os.PathLike | None = None, *, allow_camera: bool = True
) -> list[str]:
    """Chromium's command-line flags.

    Args:
        clip: a ``.y4m`` file played as the webcam (Chromium's own test pattern if None).
        allow_camera: accept the camera prompt; ``False`` makes ``getUserMedia`` fail with
            a permission error, as when a person clicks "Block".
    """
    flags = list(_BASE_FLAGS)
    if allow_camera:
        flags.append("--use-fake-ui-for-media-stream")
    if clip is not None:
        flags.append(f"--use-file-for-fake-video-capture={clip}")
    return flags


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL, token and log file."""

    base: str
    token: str
    log: Path

    def api(self, path: str, method: str = "GET"):
        """Call the server's REST API; returns the decoded JSON (or None)."""
        request = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            body = response.read()
        return json.loads(body) if body else None

    def url(self, path: str) -> str:
        """A browser URL with the token, e.g. ``url("/lab/tree/x.ipynb?reset")``."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"


def choose_files(button, files, *, attempts: int = 3, timeout_ms: float = 15_000) -> None:
    """Click a FileUpload ``button`` (a Playwright locator) and hand the browser's file
    chooser ``files``.

    FileUpload has no ``<input type=file>`` in the page: its button makes one and clicks
    it. A click that lands while the page is still wiring its widgets opens no chooser
    (seen once in four CI runs of the Voila app), as a person's first click might not;
    so it clicks again, up to ``attempts`` times.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        try:
            with button.page.expect_file_chooser(timeout=timeout_ms) as chooser:
                button.click()
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            continue
        chooser.value.set_files([str(f) for f in files])
        return


def write_notebook(path: str | os.PathLike, cells: list[str]) -> Path:
    """Write a notebook of code ``cells`` with the python3 kernelspec (without one,
    JupyterLab asks which kernel to use in a modal dialog); returns the path."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return Path(path)


@contextlib.contextmanager
def _server_process(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    ready: Callable[[], object],
    timeout: float,
) -> Iterator[None]:
    """Run ``command`` in its own process group, wait until ``ready()`` stops raising
    OSError, and on exit stop the group (TERM, then KILL after 20 s).

    Raises:
        LabStartError: the process exited or was not ready within ``timeout``.
    """
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # The server and every kernel it starts share one process group, so one
            # signal stops them all.
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise LabStartError(f"{name} exited: {log_path.read_text()[-2000:]}")
                try:
                    ready()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise LabStartError(
                            f"{name} did not answer within {timeout:.0f} s"
                        ) from None
                    time.sleep(0.5)
            yield
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass


@contextlib.contextmanager
def jupyter_lab(
    root_dir: str | os.PathLike,
    *,
    workdir: str | os.PathLike,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> Iterator[LabServer]:
    """Start JupyterLab serving ``root_dir`` and stop it, and every kernel, on exit.

    Args:
        root_dir: the folder the server shows.
        workdir: where its log, runtime and workspace files go.
        env: extra environment variables for the server and its kernels.
        timeout: seconds to wait for the server to answer.

    Raises:
        LabStartError: the server exited or did not answer within ``timeout``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    log_path = workdir / "lab.log"
    full_env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
        **(env or {}),
    }
    server = LabServer(f"http://127.0.0.1:{port}", token, log_path)
    command = (
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1"]
        + [f"--port={port}", f"--IdentityProvider.token={token}"]
        + [f"--ServerApp.root_dir={root_dir}", "--ServerApp.port_retries=0"]
        + [
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        + (["--allow-root"] if os.geteuid() == 0 else [])
    )
    with _server_process(
        "JupyterLab",
        command,
        env=full_env,
        log_path=log_path,
        ready=lambda: server.api("/api/status"),
        timeout=timeout,
    ):
        try:
            yield server
        finally:
            # Kernels first, through the API, so they can shut down cleanly.
            with contextlib.suppress(OSError):
                for kernel in server.api("/api/kernels") or []:
                    server.api(f"/api/kernels/{kernel['id']}", "DELETE")


def _port_open(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


@contextlib.contextmanager
def voila_app(
    notebook: str | os.PathLike,
    *,
    workdir: str | os.PathLike,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> Iterator[LabServer]:
    """Serve ``notebook`` with Voila (as ``make app`` does) on a free loopback port behind
    a random token, and stop it and its kernel on exit.

    Raises:
        LabStartError: the server exited or did not answer within ``timeout``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    log_path = workdir / "voila.log"
    full_env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"), **(env or {})}
    server = LabServer(f"http://127.0.0.1:{port}", token, log_path)
    command = [sys.executable, "-m", "voila", str(notebook), "--no-browser"] + [
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        f"--token={token}",
    ]
    with _server_process(
        "Voila",
        command,
        env=full_env,
        log_path=log_path,
        ready=lambda: _port_open(port),
        timeout=timeout,
    ):
        yield server
