"""Run the notebooks under nbval (``make test``) against a temporary gallery and photo
folder, never your ``reference_images/``.

The notebooks read ``WORKBENCH_GALLERY`` and ``WORKBENCH_PHOTOS``; kernels inherit this
process's environment, so setting them here (before any kernel starts) is enough.

Each cell's output is also checked for the C++ libraries' log lines and for HTML printed
as text (see ``pytest_runtest_makereport``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config) -> None:
    root = Path(tempfile.mkdtemp(prefix="workbench-nbval-"))
    os.environ.setdefault("WORKBENCH_GALLERY", str(root / "gallery.sqlite"))
    os.environ.setdefault("WORKBENCH_PHOTOS", str(root / "photos"))
    # Keep 05_benchmark quick: two folds of 40 pairs (set these to 10 and 0 for the
    # full protocol).
    os.environ.setdefault("WORKBENCH_BENCH_FOLDS", "2")
    os.environ.setdefault("WORKBENCH_BENCH_PAIRS", "40")
    _forward_kernel_fd2()


def _forward_kernel_fd2() -> None:
    """Start nbval's kernels so that what they write to fd 2 reaches the cell's output.

    That is where C++ libraries log, and where a user sees it in JupyterLab. Under nbval
    it would not: ipykernel stops forwarding fd 2 when ``PYTEST_CURRENT_TEST`` is in its
    environment (``ipykernel/iostream.py``), and nbval sends the kernel's own stderr to
    ``/dev/null``, so the check below could never see a log line. Kernels start without
    that variable instead.
    """
    try:
        import nbval.kernel
    except ImportError:
        return
    original = nbval.kernel.start_new_kernel
    if getattr(original, "forwards_fd2", False):
        return

    def start_new_kernel(*args, **kwargs):
        env = dict(kwargs.pop("env", None) or os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        return original(*args, env=env, **kwargs)

    start_new_kernel.forwards_fd2 = True
    nbval.kernel.start_new_kernel = start_new_kernel


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a notebook cell whose output holds a C++ log line (MediaPipe, LiteRT,
    TensorFlow): users saw them as red blocks; ``workbench.native_logs`` holds them back."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed:
        return
    from workbench.native_logs import NATIVE_LOG_LINE

    outputs = getattr(item, "test_outputs", None) or []
    lines = [
        line
        for out in outputs
        if out.get("output_type") == "stream"
        for line in out.get("text", "").splitlines()
        if NATIVE_LOG_LINE.match(line)
    ]
    # HTML printed as text (a widget's value printed instead of shown): users saw
    # "<span style='color:red'>...&#x27;" in notebook 01 and "<span class='wb-faces'>" in 03.
    raw_html = [line for line in _shown_text(outputs) if "<span" in line]
    if lines:
        report.outcome = "failed"
        report.longrepr = "C++ log lines in the cell's output:\n" + "\n".join(lines)
    elif raw_html:
        report.outcome = "failed"
        report.longrepr = "raw HTML printed as text in the cell's output:\n" + "\n".join(raw_html)


def _shown_text(outputs: list[dict]) -> list[str]:
    """The lines a reader sees as plain text: streams, and text results that are not a
    widget (a widget's text form holds its HTML but the widget is what is shown)."""
    lines = []
    for out in outputs:
        if out.get("output_type") == "stream":
            lines += out.get("text", "").splitlines()
            continue
        data = out.get("data") or {}
        if "application/vnd.jupyter.widget-view+json" in data or "text/html" in data:
            continue
        text = data.get("text/plain", "")
        lines += ("".join(text) if isinstance(text, list) else text).splitlines()
    return lines
