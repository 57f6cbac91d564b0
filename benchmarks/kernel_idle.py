"""How often the kernel shows Busy while a camera preview is on the page, nothing running.

Notebook 03's tour saw the kernel indicator flicker Busy/Idle (30-45% of half-second
samples Busy) with only the camera preview shown: the ``WebcamWidget`` streamed every
frame to the kernel (a widget message, acknowledged) whether or not the live loop read
it, and each message is a Busy/Idle pair. ``LivePanel`` now creates it with
``streaming=False`` and switches streaming on at *Start*, off at *Stop*.

One JupyterLab in headless Chromium (fake camera: Chromium's test pattern) shows a
``WebcamWidget`` with the preview on; for each setting, ``streaming`` False (the panel
now, before Start and after Stop) and True (the old default), the kernel's state is
sampled every 0.5 s for ``--seconds`` through the server's REST API (the execution
state the server follows from the kernel's status messages).

Run: .venv/bin/python benchmarks/kernel_idle.py [--seconds 20] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine  # noqa: E402

from workbench.data import PROJECT_ROOT  # noqa: E402
from workbench.testing.lab import (  # noqa: E402
    CHROMIUM,
    chromium_flags,
    jupyter_lab,
    write_notebook,
)

CELL = """
from workbench.live import WebcamWidget
cam = WebcamWidget(width=640, height=480, fps=30, streaming=False)
cam
"""


def _rest_state(server) -> str:
    for session in server.api("/api/sessions") or []:
        if session.get("kernel"):
            return session["kernel"].get("execution_state", "")
    return ""


def run(seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_notebook(root / "idle.ipynb", [CELL])
        env = {"PYTHONPATH": str(PROJECT_ROOT)}
        out = {}
        with jupyter_lab(root, workdir=root / "lab", env=env) as server, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_flags()
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.grant_permissions(["camera"])
            page = context.new_page()
            page.goto(server.url("/lab/tree/idle.ipynb?reset"))
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
            time.sleep(5)
            page.locator(".jp-NotebookPanel .jp-Cell").first.click()
            page.keyboard.press("Shift+Enter")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.wb-webcam video')]"
                ".some(v => v.readyState >= 2)",
                timeout=120_000,
            )
            time.sleep(3)
            for streaming in (False, True):
                if streaming:
                    _run_code(page, "cam.streaming = True")
                time.sleep(2)
                states = []
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    states.append(_rest_state(server))
                    time.sleep(0.5)
                out[streaming] = states
            browser.close()
    return out


def _run_code(page, code: str) -> None:
    """Append a cell with ``code`` and run it (then wait for the kernel to settle)."""
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    time.sleep(2)


def share(states: list[str]) -> str:
    busy = sum(s == "busy" for s in states)
    return f"{busy / len(states):.0%} ({busy} of {len(states)})" if states else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = run(args.seconds)
    load_after = os.getloadavg()
    lines = [
        "# Kernel Busy share with the camera preview on the page",
        "",
        f"Command: `.venv/bin/python benchmarks/kernel_idle.py --seconds {args.seconds:g} --write`",
        f"Machine: {machine()}; headless Debian Chromium, fake camera at 640x480 30 fps; load "
        f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after (shared machine).",
        "",
        "Share of half-second samples of the kernel's execution state (JupyterLab server's "
        "REST API, which follows the kernel's status messages) that were `busy`, with the "
        "preview shown and nothing running.",
        "",
        "| WebcamWidget streaming | Busy share |",
        "| --- | ---: |",
        f"| False (LivePanel before Start / after Stop, now) | {share(results[False])} |",
        f"| True (the old default: frames sent with nobody reading) | {share(results[True])} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        (PROJECT_ROOT / "docs" / "benchmarks" / "kernel_idle.md").write_text(text)


if __name__ == "__main__":
    main()
