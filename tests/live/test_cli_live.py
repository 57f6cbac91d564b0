"""``workbench live`` with a fake recognizer on a clip made in a temp folder."""

from __future__ import annotations

import contextlib
import json

import cv2
import numpy as np
import pytest

import workbench.cli as cli
from workbench.cli import live as live_cli

pytestmark = pytest.mark.usefixtures("no_thread_leak")


@pytest.fixture
def run_cli(monkeypatch, kit):
    """``main(argv)`` with ``live`` registered and the recognizer replaced by a fake."""
    if "live" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "live"))
    opened = []

    def fake_open(args):
        opened.append(args)
        rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["Zoë", None])
        return contextlib.nullcontext(rec)

    monkeypatch.setattr(live_cli, "open_recognizer", fake_open)
    return cli.main


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for i in range(30):
        writer.write(np.full((120, 160, 3), i * 8, np.uint8))
    writer.release()
    return path


def test_live_json_prints_one_object_with_settled_names_and_stats(run_cli, clip, capsys):
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    report = json.loads(out[0])
    stats = report["stats"]
    assert stats["frames_captured"] == 30
    assert stats["frames_processed"] + stats["frames_dropped"] == 30
    assert stats["end_reason"] == "end of stream"
    assert {k for k in stats} >= {
        "capture_fps",
        "processed_fps",
        "detect_ms",
        "embed_ms",
        "search_ms",
        "latency_p50_ms",
        "latency_p95_ms",
    }
    if stats["frames_processed"] >= 3:
        names = sorted((e["track_id"], e["name"]) for e in report["recognitions"])
        assert names == [(1, "Zoë"), (2, "unknown")]


def test_a_file_through_live_is_processed_whole_and_summarised_per_track(
    run_cli, clip, monkeypatch, kit, capsys
):
    # A detector slower than decoding: before, the reader outran it and dropped frames.
    def slow_open(args):
        rec = kit.Recognizer(
            boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["Zoë", None], delay_s=0.01
        )
        return contextlib.nullcontext(rec)

    monkeypatch.setattr(live_cli, "open_recognizer", slow_open)
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stats = report["stats"]
    assert stats["frames_captured"] == stats["frames_processed"] == 30
    assert stats["frames_dropped"] == 0
    # Times are positions in the 25 fps clip: frame 29 is at 1.16 s.
    assert report["tracks"] == [
        {"track_id": 1, "name": "Zoë", "candidates": None, "first_s": 0.0, "last_s": 1.16,
         "first_frame": 0, "last_frame": 29, "frames": 30},
        {"track_id": 2, "name": "unknown", "candidates": None, "first_s": 0.0, "last_s": 1.16,
         "first_frame": 0, "last_frame": 29, "frames": 30},
    ]  # fmt: skip
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite"]) == 0
    out = capsys.readouterr().out
    assert "30 of 30 frames recognized (0 dropped)" in out
    assert "2 tracks (times in the video):" in out
    assert "track    1  Zoë  seen 0.00-1.16 s  30 frames" in out


def test_live_realtime_file_may_drop_and_counts_what_it_drops(
    run_cli, clip, monkeypatch, kit, capsys
):
    def slow_open(args):
        return contextlib.nullcontext(kit.Recognizer(delay_s=0.1))

    monkeypatch.setattr(live_cli, "open_recognizer", slow_open)
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--realtime", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    # 30 frames at 25 fps take 1.2 s; a 100 ms detector keeps up with about 12.
    assert stats["frames_captured"] == 30 and stats["frames_dropped"] > 0
    assert stats["frames_processed"] + stats["frames_dropped"] == 30


def test_live_text_output(run_cli, clip, capsys):
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--realtime"]) == 0
    out = capsys.readouterr().out
    assert "Zoë" in out and "track    2  unknown" in out
    assert "frames recognized" in out and "latency p50" in out


def test_live_seconds_stops_an_endless_source(run_cli, monkeypatch, capsys):
    from workbench.live import IterableSource

    def endless():
        while True:
            yield np.zeros((32, 32, 3), np.uint8)

    monkeypatch.setattr(live_cli, "open_source", lambda spec, realtime: IterableSource(endless()))
    assert run_cli(["live", "0", "--gallery", "g", "--seconds", "0.3", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["end_reason"] == "stopped" and stats["frames_processed"] > 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["live", "missing.mp4", "--gallery", "g"], "video file not found: missing.mp4"),
        (["live", "96", "--gallery", "g"], "cannot open camera 96"),
        (["live", "x.mp4", "--gallery", "g", "--seconds", "0"], "--seconds must be > 0"),
    ],
)
def test_live_bad_input_is_one_line_and_exit_2(run_cli, argv, message, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_live_json_carries_the_threshold_and_its_source(run_cli, clip, monkeypatch, kit, capsys):
    from workbench.gallery import Gallery

    gallery = Gallery(clip.with_name("g.sqlite"), model_id="fake")
    gallery.set_threshold(0.55)

    def open_with_gallery(args):
        rec = kit.Recognizer(boxes=[(10, 10, 60, 60)], names=["Zoë"])
        rec.gallery = gallery
        return contextlib.nullcontext(rec)

    monkeypatch.setattr(live_cli, "open_recognizer", open_with_gallery)
    with gallery:
        assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == 0.55 and report["threshold_source"] == "set by you"


def test_live_on_a_truncated_file_prints_its_report_then_exits_2(run_cli, clip, tmp_path, capsys):
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    assert run_cli(["live", str(cut), "--gallery", "g.sqlite", "--json"]) == 2
    captured = capsys.readouterr()
    stats = json.loads(captured.out.strip().splitlines()[-1])["stats"]
    assert 0 < stats["frames_captured"] < 30
    [line] = captured.err.strip().splitlines()
    assert line == (
        f"workbench live: error: {cut}: the video ended after {stats['frames_captured']} of "
        "its 30 frames (the file is truncated or damaged)"
    )


def test_live_says_x_or_y_between_look_alikes(run_cli, clip, monkeypatch, kit, capsys):
    """A recognizer answering "Ann or Bea?" (the gallery's Match with a rival): the
    settled recognition and the track say ``name: unknown`` with both candidates in
    JSON, and ``Ann or Bea?`` in the text output."""
    from workbench.gallery import Match

    class Torn(kit.Recognizer):
        def identify(self, embeddings):
            return [Match("Ann", 0.41, False, rival="Bea") for _ in embeddings]

    monkeypatch.setattr(live_cli, "open_recognizer", lambda args: contextlib.nullcontext(Torn()))
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [event] = report["recognitions"]
    assert event["name"] == "unknown" and event["candidates"] == ["Ann", "Bea"]
    [track] = report["tracks"]
    assert track["name"] == "unknown" and track["candidates"] == ["Ann", "Bea"]
    assert run_cli(["live", str(clip), "--gallery", "g.sqlite"]) == 0
    out = capsys.readouterr().out
    assert "track    1  Ann or Bea?  0.410" in out
