"""Keep the C++ libraries' log lines (MediaPipe, LiteRT, TensorFlow) out of the user's way.

MediaPipe, LiteRT and TensorFlow log through glog/absl or plain ``fprintf(stderr)``
straight to file descriptor 2, from their own threads too, so neither ``sys.stderr`` nor
``TF_CPP_MIN_LOG_LEVEL`` / ``GLOG_minloglevel`` stops them (absl logging in these builds
ignores both; measured: the lines below appear with both set before the import). A
Jupyter kernel forwards fd 2 to the cell that runs, so they show as red blocks in
notebooks, and on the CLI they follow every successful run::

    INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
    W0000 00:00:1796154849.103798   12779 inference_runner_litert.cc:1433] Input tensor ...
    INFO: [accelerator_registry.cc:43] DestroyAccelerator: ptr=0x..., name=CpuAccelerator

:func:`quiet_native_logs` points fd 2 at a temporary file around the calls that log
(model creation, the first inference, closing, TensorFlow's import), then writes back
every line that is not such an info or warning line, so our own messages, Python
warnings and the libraries' errors (``E``/``F`` lines) still show, only later. The
redirection is process-wide, so it is reference-counted: overlapping uses from several
threads share one redirection, restored when the last one leaves.

Set ``WORKBENCH_VERBOSE=1`` (the CLI's ``--verbose`` does) to let everything through.

Example:
    >>> with quiet_native_logs():
    ...     pass  # create a MediaPipe task here
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Environment variable that turns the filtering off (any value but "", "0").
VERBOSE_ENV = "WORKBENCH_VERBOSE"

#: Lines dropped: glog/absl info and warning lines (absl prints epoch seconds where the
#: time of day would be before it is initialised: ``W0000 00:00:1796154849.10 ...``),
#: LiteRT's and TFLite's "INFO:" lines and LiteRT's "WARNING: [file.cc:N]" lines,
#: absl's and glog's notices about logging before initialisation, and TensorFlow's CPU
#: feature notice (two lines). Errors and fatal lines (``E``/``F``) are kept.
NATIVE_LOG_LINE = re.compile(
    r"^(?:"
    r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-]+:\d+\] "
    r"|INFO: "
    r"|WARNING: \[[\w.\-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r")"
)

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
#: One unnamed temporary file for the whole process, emptied after each use: creating a
#: file per block cost about 0.6 ms, too much around every detector call; reusing it
#: costs a few system calls.
_capture = None


def verbose() -> bool:
    """True when the C++ libraries' logs should go through unfiltered."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def filter_native_lines(text: str) -> str:
    """``text`` without the C++ libraries' info and warning lines."""
    kept = [line for line in text.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line)]
    return "".join(kept)


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hold back the C++ libraries' log lines written to fd 2 inside the block.

    Lines that are not theirs are written to fd 2 when the (outermost) block ends. Does
    nothing when :func:`verbose`, or when fd 2 cannot be duplicated (no stderr at all).
    """
    if verbose() or not _enter():
        yield
        return
    try:
        yield
    finally:
        _leave()


def _enter() -> bool:
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth:
            _depth += 1
            return True
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            return False
        if _capture is None:
            _capture = tempfile.TemporaryFile()
        os.dup2(_capture.fileno(), 2)
        _saved_fd, _depth = saved, 1
        return True


def _leave() -> None:
    global _depth, _saved_fd
    with _lock:
        _depth -= 1
        if _depth:
            return
        saved, _saved_fd = _saved_fd, None
        os.dup2(saved, 2)
        os.close(saved)
        size = os.lseek(_capture.fileno(), 0, os.SEEK_CUR)
        text = ""
        if size:
            text = os.pread(_capture.fileno(), size, 0).decode("utf-8", "replace")
            os.ftruncate(_capture.fileno(), 0)
            os.lseek(_capture.fileno(), 0, os.SEEK_SET)
    rest = filter_native_lines(text)
    if rest:
        os.write(2, rest.encode("utf-8", "replace"))
