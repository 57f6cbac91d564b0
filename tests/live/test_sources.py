"""Frame sources: iterables, video files made in a temp folder, cameras that are absent."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from workbench.errors import InvalidArgumentError, InvalidImageError, SourceError
from workbench.live.sources import (
    CLOSED,
    END_OF_STREAM,
    BrowserCameraSource,
    CameraSource,
    Frame,
    FrameSource,
    IterableSource,
    VideoFileSource,
)


def write_clip(path, n=12, size=(160, 120), fps=25.0, fourcc="MJPG"):
    """A clip whose frame i is a flat colour with red channel 20*i (decodable back)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(n):
        bgr = np.zeros((size[1], size[0], 3), np.uint8)
        bgr[..., 2] = min(20 * i, 255)
        writer.write(bgr)
    writer.release()
    return path


def test_iterable_source_wraps_arrays_in_frames():
    images = [np.full((4, 5, 3), i, np.uint8) for i in range(3)]
    with IterableSource(images) as source:
        assert isinstance(source, FrameSource)
        assert source.reason is None
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.image is img for f, img in zip(frames, images, strict=True))
    ts = [f.timestamp for f in frames]
    assert ts == sorted(ts) and ts[-1] <= time.monotonic()
    assert source.reason == END_OF_STREAM


def test_iterable_source_passes_frames_through():
    frame = Frame(np.zeros((2, 2, 3), np.uint8), 1.5, 7)
    assert list(IterableSource([frame])) == [frame]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3)), "x.jpg"],
)
def test_iterable_source_rejects_non_rgb(bad):
    with pytest.raises(InvalidImageError, match=r"\(H, W, 3\) uint8 RGB"):
        list(IterableSource([bad]))


def test_iterable_source_close_stops_and_closes_generator():
    closed = []

    def gen():
        try:
            while True:
                yield np.zeros((2, 2, 3), np.uint8)
        finally:
            closed.append(True)

    source = IterableSource(gen())
    it = iter(source)
    next(it)
    source.close()
    assert list(it) == []
    assert source.reason == CLOSED
    assert closed == [True]


@pytest.mark.parametrize("fourcc,suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_video_file_source_reads_every_frame_in_order(tmp_path, fourcc, suffix):
    path = write_clip(tmp_path / f"clip{suffix}", n=12, fourcc=fourcc)
    with VideoFileSource(path) as source:
        assert source.fps == pytest.approx(25.0)
        frames = list(source)
    assert len(frames) == 12
    assert [f.index for f in frames] == list(range(12))
    first = frames[0].image
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    # RGB order: the clip was written with red = 20 * i.
    reds = [float(f.image[..., 0].mean()) for f in frames]
    assert reds == pytest.approx([20 * i for i in range(12)], abs=6)
    assert float(frames[5].image[..., 2].mean()) < 6
    assert source.reason == END_OF_STREAM


def test_a_file_is_lossless_unless_played_in_realtime(tmp_path):
    path = write_clip(tmp_path / "clip.avi", n=3, fps=20.0)
    with VideoFileSource(path) as whole, VideoFileSource(path, realtime=True) as played:
        assert whole.lossless and not played.lossless
        assert whole.frame_period_s == pytest.approx(0.05)
    assert not IterableSource([]).lossless and IterableSource([], lossless=True).lossless


def test_video_file_source_realtime_paces_at_its_fps(tmp_path):
    path = write_clip(tmp_path / "clip.avi", n=6, fps=50.0)
    t0 = time.monotonic()
    with VideoFileSource(path, realtime=True) as source:
        n = sum(1 for _ in source)
    elapsed = time.monotonic() - t0
    assert n == 6
    # Five periods of 20 ms between six frames.
    assert elapsed >= 0.09


def test_video_file_source_close_from_another_thread_ends_a_paced_read(tmp_path):
    path = write_clip(tmp_path / "clip.avi", n=200, fps=5.0)
    source = VideoFileSource(path, realtime=True)
    got = []
    reader = threading.Thread(target=lambda: got.extend(source))
    reader.start()
    time.sleep(0.3)
    source.close()
    reader.join(2.0)
    assert not reader.is_alive()
    assert 1 <= len(got) < 200
    assert source.reason == CLOSED


def test_video_file_source_missing_file(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        VideoFileSource(tmp_path / "missing.mp4")


def test_video_file_source_undecodable_file(tmp_path):
    path = tmp_path / "not_a_video.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="cannot open"):
        VideoFileSource(path)


def test_video_file_source_rejects_bad_timeout(tmp_path):
    path = write_clip(tmp_path / "clip.avi", n=2)
    with pytest.raises(InvalidArgumentError):
        VideoFileSource(path, open_timeout_s=0)


def test_camera_source_absent_camera_raises():
    with pytest.raises(SourceError, match="cannot open camera 97"):
        CameraSource(97)


class _Trait:
    """Just enough of a traitlets object for the browser camera source."""

    def __init__(self, **values):
        self._observers = {}
        self.__dict__.update(values)

    def observe(self, fn, names):
        self._observers.setdefault(names, []).append(fn)

    def unobserve(self, fn, names):
        self._observers[names].remove(fn)

    def __setattr__(self, name, value):
        old = self.__dict__.get(name)
        self.__dict__[name] = value
        if name != "_observers" and old != value:
            for fn in list(self.__dict__.get("_observers", {}).get(name, [])):
                fn({"name": name, "old": old, "new": value})


class FakeRecorder(_Trait):
    """Plays ipywebrtc's ImageRecorder: recording=True -> image arrives -> recording=False."""

    def __init__(self, images):
        super().__init__(format="png", recording=False, image=_Trait(value=b""))
        self._images = list(images)
        self.arms = 0

    def snap(self):
        """What the browser does once per arming."""
        if not self.recording or not self._images:
            return False
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(self._images.pop(0), cv2.COLOR_RGB2BGR))
        self.image.value = jpg.tobytes()
        self.recording = False
        return True


def test_browser_camera_source_rearms_and_decodes():
    # Identical snapshots on purpose: traitlets sends no change for an equal value.
    images = [np.full((48, 64, 3), (200, 30, 30), np.uint8) for _ in range(3)]
    recorder = FakeRecorder(images)
    source = BrowserCameraSource(object(), recorder, frame_timeout_s=0.3)
    assert recorder.recording is True and recorder.format == "jpeg"
    frames = []
    reader = threading.Thread(target=lambda: frames.extend(source))
    reader.start()
    # The browser answers each arming; the source re-arms after every image.
    while recorder.snap():
        time.sleep(0.05)
    assert recorder.recording is True
    reader.join(3.0)
    assert not reader.is_alive()
    assert len(frames) >= 1 and [f.index for f in frames] == list(range(len(frames)))
    assert source.received == 3
    assert frames[0].image.shape == (48, 64, 3)
    assert np.abs(frames[0].image.mean(axis=(0, 1)) - (200, 30, 30)).max() < 8
    assert "no frame from the browser camera" in source.reason
    assert recorder.recording is False


def test_browser_camera_source_close_unblocks_a_waiting_read():
    recorder = FakeRecorder([])
    source = BrowserCameraSource(object(), recorder, frame_timeout_s=30)
    reader = threading.Thread(target=lambda: list(source))
    reader.start()
    time.sleep(0.1)
    source.close()
    reader.join(2.0)
    assert not reader.is_alive()
    assert source.reason == CLOSED


def test_video_source_reads_a_stream_url(tmp_path):
    import functools
    import http.server

    write_clip(tmp_path / "clip.avi", n=8)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, name="test-http")
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        with VideoFileSource(url) as source:
            frames = list(source)
        assert len(frames) == 8 and source.reason == END_OF_STREAM
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_video_source_refused_url_fails_fast():
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="cannot open stream rtsp://127.0.0.1:9/none"):
        VideoFileSource("rtsp://127.0.0.1:9/none", open_timeout_s=2)
    assert time.monotonic() - t0 < 5
