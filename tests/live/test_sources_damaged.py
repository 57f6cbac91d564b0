"""Damaged and odd video inputs: each is named for what it is, a truncated file ends with a
reason (not "end of stream"), and the CLI exits 2 with our line, not FFmpeg's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import SourceError
from workbench.live.sources import END_OF_STREAM, VideoFileSource

ROOT = Path(__file__).parents[2]
#: Lines OpenCV and FFmpeg print on their own ("[ WARN:0@0.03] global cap.cpp...",
#: "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x...] moov atom not found", "[mjpeg @ 0x...] ...").
NATIVE_MARKERS = ("[ WARN:", "[ERROR:", "[OPENCV:", " @ 0x")


def _avi(path: Path, frames: int = 40) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def _cut(path: Path, out: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def test_whole_file_ends_normally(tmp_path):
    with VideoFileSource(_avi(tmp_path / "whole.avi")) as source:
        assert sum(1 for _ in source) == 40 == source.frame_count
    assert source.reason == END_OF_STREAM


def test_truncated_file_ends_with_the_reason(tmp_path):
    # AVI keeps its frame count in the header at the start, so FFmpeg opens the half
    # file and reads until the data stops; before, that ended as "end of stream".
    cut = _cut(_avi(tmp_path / "whole.avi"), tmp_path / "cut.avi")
    with VideoFileSource(cut) as source:
        read = sum(1 for _ in source)
    assert 0 < read < 40
    assert source.reason == (
        f"{cut}: the video ended after {read} of its 40 frames (the file is truncated or damaged)"
    )


def test_mp4_without_its_index_is_named(crowd_video, tmp_path):
    # The crowd video keeps its moov box at the end, as most cameras write it.
    cut = _cut(crowd_video, tmp_path / "cut.mp4")
    with pytest.raises(SourceError, match="no 'moov' index: the recording or copy was cut short"):
        VideoFileSource(cut)


def test_junk_named_mp4(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).bytes(300))
    with pytest.raises(SourceError, match="not an MP4/MOV file"):
        VideoFileSource(junk)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.symlink_to(p) or p, "symbolic link loop"),
        (lambda p: os.mkfifo(p) or p, "FIFO"),
        (lambda p: p.mkdir() or p, "directory"),
        (lambda p: p.write_bytes(b"") and p or p, "empty"),
        (lambda p: p.symlink_to(p.parent / "gone.mp4") or p, "broken symbolic link"),
    ],
)
def test_odd_paths_are_named(tmp_path, make, match):
    path = make(tmp_path / "clip.mp4")
    with pytest.raises(SourceError, match=match):
        VideoFileSource(path)


def _workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _no_native_lines(stderr: str) -> None:
    native = [line for line in stderr.splitlines() if any(m in line for m in NATIVE_MARKERS)]
    assert not native, native


def test_cli_recognize_a_video_without_index_fails_at_once(crowd_video, tmp_path):
    cut = _cut(crowd_video, tmp_path / "cut.mp4")
    proc = _workbench("recognize", str(cut), "--gallery", str(tmp_path / "g.sqlite"))
    assert proc.returncode == 2, proc.stderr
    _no_native_lines(proc.stderr)
    assert proc.stderr.strip().splitlines() == [
        f"workbench recognize: error: cannot open video file {cut}: it has no 'moov' index: "
        "the recording or copy was cut short before the end (FFmpeg: moov atom not found)"
    ]


def test_cli_recognize_a_truncated_video_prints_its_frames_then_exits_2(tmp_path):
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery

    gallery = tmp_path / "g.sqlite"
    Gallery(gallery, model_id=default_embedder().model_id, create=True).close()
    cut = _cut(_avi(tmp_path / "whole.avi"), tmp_path / "cut.avi")
    proc = _workbench("recognize", str(cut), "--gallery", str(gallery), "--json")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    _no_native_lines(proc.stderr)
    frames = proc.stdout.strip().splitlines()
    assert len(frames) > 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        f"workbench recognize: error: {cut}: the video ended after {len(frames)} of its 40 "
        "frames (the file is truncated or damaged)"
    )


def test_cli_live_on_a_missing_camera_prints_one_line(tmp_path):
    # OpenCV logs "[ERROR:0@0.05] ... Camera index out of range" for this one.
    proc = _workbench("live", "96", "--gallery", str(tmp_path / "g.sqlite"))
    assert proc.returncode == 2, proc.stderr
    _no_native_lines(proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("workbench live: error: cannot open camera 96")
