"""``workbench`` as the user runs it, in its own process: what it imports and what reaches
stderr (in-process tests cannot see either: pytest has imported everything already and
captures fd 2 itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Runs the CLI, then reports on stdout whether TensorFlow was imported.
PROBE = (
    "import sys\n"
    "from workbench.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    "sys.exit(rc)\n"
)


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("WORKBENCH_VERBOSE", None)
    return subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def photo(lfw_dir) -> str:
    return str(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")


def test_detect_needs_no_tensorflow_and_leaves_stderr_empty(photo):
    done = run_cli("detect", photo)
    assert done.returncode == 0, done.stderr
    assert "1 face" in done.stdout
    assert "tensorflow imported: False" in done.stdout
    # No MediaPipe/LiteRT line ("INFO: Created TensorFlow Lite XNNPACK delegate", "W0000
    # ... inference_runner_litert.cc] Input tensor memory is not aligned", ...).
    assert done.stderr == ""


def test_detect_without_a_near_face_leaves_stderr_empty(tmp_path):
    """No near face: the default's tiled search loads the full-range model, whose loading
    logs 46 LiteRT "Sparsity tensors" warnings; none reaches stderr."""
    from PIL import Image

    path = tmp_path / "empty.png"
    Image.new("RGB", (640, 360), (120, 130, 140)).save(path)
    done = run_cli("detect", str(path))
    assert done.returncode == 0, done.stderr
    assert "0 faces" in done.stdout
    assert done.stderr == ""


def test_verbose_shows_the_native_lines(photo):
    done = run_cli("detect", photo, "--verbose")
    assert done.returncode == 0
    assert "XNNPACK" in done.stderr


def test_bad_input_still_gets_its_one_line(tmp_path):
    done = run_cli("detect", str(tmp_path / "missing.jpg"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "workbench detect: error:" in done.stderr


@pytest.fixture(scope="module")
def enrolled(lfw_dir, tmp_path_factory):
    """A gallery of two LFW people enrolled through the CLI, and the enrollment's run."""
    root = tmp_path_factory.mktemp("process")
    for person in ("Colin_Powell", "Tony_Blair"):
        (root / "photos" / person).mkdir(parents=True)
        for photo in sorted((lfw_dir / person).glob("*.jpg"))[:2]:
            (root / "photos" / person / photo.name).write_bytes(photo.read_bytes())
    gallery = root / "g.sqlite"
    done = run_cli("enroll", str(root / "photos"), "--gallery", str(gallery), "--quiet")
    return gallery, done


def test_enroll_and_recognize_need_no_tensorflow_and_leave_stderr_empty(enrolled, lfw_dir):
    gallery, enroll = enrolled
    assert enroll.returncode == 0, enroll.stderr
    assert "tensorflow imported: False" in enroll.stdout and enroll.stderr == ""
    probe = sorted((lfw_dir / "Colin_Powell").glob("*.jpg"))[5]
    done = run_cli("recognize", str(probe), "--gallery", str(gallery))
    assert done.returncode == 0, done.stderr
    assert "Colin_Powell distance=" in done.stdout
    assert "tensorflow imported: False" in done.stdout
    assert done.stderr == ""


def test_live_on_a_file_processes_every_frame_quietly(enrolled, lfw_dir, tmp_path):
    import json

    import cv2

    gallery, _ = enrolled
    still = cv2.resize(
        cv2.imread(str(sorted((lfw_dir / "Colin_Powell").glob("*.jpg"))[6])), (320, 320)
    )
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 320))
    for _ in range(30):
        writer.write(still)
    writer.release()
    done = run_cli("live", str(clip), "--gallery", str(gallery), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    stats = report["stats"]
    assert stats["frames_captured"] == stats["frames_processed"] == 30
    assert stats["frames_dropped"] == 0
    assert [t["name"] for t in report["tracks"]] == ["Colin_Powell"]
    assert report["tracks"][0]["frames"] == 30
    assert "tensorflow imported: False" in done.stdout and done.stderr == ""
