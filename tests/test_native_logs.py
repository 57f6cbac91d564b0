"""Filtering the C++ libraries' log lines at fd 2 (workbench.native_logs)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from workbench.native_logs import VERBOSE_ENV, filter_native_lines, quiet_native_logs

# Lines seen on this machine from MediaPipe 1.2.3, LiteRT and TensorFlow 2.21.
NATIVE = [
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    "WARNING: [model_load.cc:402] Sparsity tensors may not yet be fully supported.\n",
    "INFO: [environment.cc:36] Creating LiteRT environment with options\n",
    "INFO: [accelerator_registry.cc:43] DestroyAccelerator: ptr=0x7f2764004770, "
    "name=CpuAccelerator\n",
    "W0000 00:00:1796154636.356582    8788 inference_runner_litert.cc:1433] Input tensor "
    "memory is not aligned according to LiteRt's memory alignment requirements.\n",
    "I0000 00:00:1796154619.488346    8294 port.cc:153] oneDNN custom operations are on.\n",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "WARNING: Logging before InitGoogle() is written to STDERR\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n",
]
KEPT = [
    "workbench detect: error: no such file: x.jpg\n",
    "UserWarning: something of ours\n",
    "E0000 00:00:1796154636.356582    8788 model.cc:12] Failed to load the model\n",
    "INFO is not a prefix of ours without the colon and space\n",
]


@pytest.mark.parametrize("line", NATIVE)
def test_native_info_and_warning_lines_are_dropped(line):
    assert filter_native_lines(line) == ""


@pytest.mark.parametrize("line", KEPT)
def test_our_lines_and_native_errors_are_kept(line):
    assert filter_native_lines(line) == line


def test_fd2_writes_inside_the_block_are_filtered_then_written_back(capfd):
    os.write(2, b"before\n")
    with quiet_native_logs():
        os.write(2, "".join(NATIVE + KEPT).encode())
        with quiet_native_logs():  # nested: one redirection
            os.write(2, b"inner\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\n" + "".join(KEPT) + "inner\nafter\n"


def test_overlapping_blocks_on_threads_lose_nothing(capfd):
    barrier = threading.Barrier(4)

    def work(i):
        with quiet_native_logs():
            barrier.wait()
            os.write(2, f"{NATIVE[0]}ours {i}\n".encode())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == [f"ours {i}" for i in range(4)]


def test_verbose_lets_everything_through(capfd, monkeypatch):
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with quiet_native_logs():
        os.write(2, NATIVE[0].encode())
    assert capfd.readouterr().err == NATIVE[0]


def test_an_exception_inside_restores_fd2(capfd):
    with pytest.raises(RuntimeError), quiet_native_logs():
        raise RuntimeError("boom")
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"


def test_a_notebook_cell_running_the_detector_shows_no_native_line(lfw_dir):
    """In a kernel, fd 2 goes to the cell's output: MediaPipe's lines would show there.

    (ipykernel forwards fd 2 only when ``PYTEST_CURRENT_TEST`` is absent, as in a user's
    JupyterLab; the kernel here runs without it.)"""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from workbench.native_logs import NATIVE_LOG_LINE

    photo = lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"
    source = (
        "from workbench.detect import create_detector\n"
        "with create_detector('mediapipe') as detector:\n"
        f"    print(len(detector.detect({str(photo)!r})), 'face')\n"
        "import os; os.write(2, b'ours\\n')\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    root = str(Path(__file__).resolve().parents[1])
    env_path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": env_path, VERBOSE_ENV: ""}
    env.pop("PYTEST_CURRENT_TEST", None)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    assert "1 face" in text and "ours" in text
    assert not [line for line in text.splitlines() if NATIVE_LOG_LINE.match(line)], text
