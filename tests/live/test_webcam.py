"""The anywidget camera without a browser: the tests play the frontend by calling the
widget's message handler with JPEG buffers, as the browser's ``model.send`` delivers them."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.live import FrameSource, WebcamSource, WebcamWidget
from workbench.live.sources import CLOSED
from workbench.live.webcam import WebcamFrame, decode_jpeg


class FakeBrowser:
    """Plays the widget's JavaScript: sends frames, at most ``max_in_flight`` of them
    unacknowledged, and records the kernel's acks."""

    def __init__(self, widget: WebcamWidget):
        self.widget = widget
        self.acks: list[int] = []
        self.in_flight: set[int] = set()
        self.seq = 0
        widget.send = self._receive  # kernel -> browser

    def _receive(self, content, buffers=None):
        assert content["type"] == "ack"
        self.acks.append(content["seq"])
        self.in_flight.discard(content["seq"])

    def can_send(self) -> bool:
        return len(self.in_flight) < self.widget.max_in_flight

    def send(self, jpeg: bytes, *, t_ms: float | None = None, deliver: bool = True) -> int:
        """Send one frame; ``deliver=False`` leaves it queued (a busy kernel)."""
        self.seq += 1
        self.in_flight.add(self.seq)
        content = {
            "type": "frame",
            "seq": self.seq,
            "t": time.time() * 1000 if t_ms is None else t_ms,
            "width": 0,
            "height": 0,
            "in_flight": len(self.in_flight),
        }
        if deliver:
            self.deliver(content, jpeg)
        return self.seq

    def deliver(self, content, jpeg):
        # ipykernel hands buffers over as memoryviews.
        self.widget._handle_custom_msg(content, [memoryview(jpeg)])

    def error(self, name: str, message: str):
        # The JS sets the trait and sends a message; either one is enough.
        self.widget._handle_custom_msg({"type": "error", "name": name, "message": message}, [])


@pytest.fixture
def face(lfw_dir):
    """A real LFW face, RGB, and its JPEG bytes."""
    path = sorted((lfw_dir / "Colin_Powell").glob("*.jpg"))[0]
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    ok, jpg = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    assert ok
    return rgb, jpg.tobytes()


@pytest.fixture
def cam():
    widget = WebcamWidget(width=320, height=240, fps=30, max_in_flight=2)
    yield widget
    widget.close()


def read_in_thread(source, frames, n=None):
    def run():
        for frame in source:
            frames.append(frame)
            if n is not None and len(frames) >= n:
                break

    reader = threading.Thread(target=run)
    reader.start()
    return reader


def test_widget_options_are_checked():
    for kwargs, match in (
        ({"fps": 0}, "fps"),
        ({"quality": 1.5}, "quality"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"width": 0}, "width"),
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            WebcamWidget(**kwargs)
    with pytest.raises(InvalidArgumentError, match="frame_timeout_s"):
        WebcamSource(WebcamWidget(), frame_timeout_s=0)
    with pytest.raises(InvalidArgumentError, match="needs a workbench.live.WebcamWidget"):
        WebcamSource(object())


def test_widget_ships_inline_esm_without_remote_imports():
    esm = WebcamWidget._esm
    assert "export default" in esm and "getUserMedia" in esm and "toBlob" in esm
    assert "import " not in esm and "import(" not in esm and "://" not in esm


def test_source_yields_the_decoded_real_face(cam, face, no_thread_leak):
    rgb, jpeg = face
    browser = FakeBrowser(cam)
    source = WebcamSource(cam, frame_timeout_s=5)
    assert isinstance(source, FrameSource)
    frames = []
    reader = read_in_thread(source, frames, n=1)
    time.sleep(0.05)
    before = time.monotonic()
    browser.send(jpeg)
    reader.join(5)
    assert not reader.is_alive()
    (frame,) = frames
    assert frame.index == 0 and frame.image.dtype == np.uint8
    assert frame.image.shape == rgb.shape == (250, 250, 3)
    # JPEG is lossy; the decoded face is the same picture.
    assert np.abs(frame.image.astype(int) - rgb).mean() < 4
    assert frame.timestamp <= time.monotonic() and frame.timestamp >= before - 1
    assert np.array_equal(cam.read(timeout=1), frame.image)
    source.close()
    assert source.reason == CLOSED


def test_each_frame_is_acked_and_the_browser_never_exceeds_its_limit(cam, face):
    _, jpeg = face
    browser = FakeBrowser(cam)
    for _ in range(5):
        assert browser.can_send()
        browser.send(jpeg)
    assert browser.acks == [1, 2, 3, 4, 5] and not browser.in_flight
    assert cam.received == 5 and cam.latest().seq == 5

    # A busy kernel (a blocking cell) handles no message: the browser stops at the limit
    # instead of queueing a backlog, and resumes as soon as the acks come.
    queued = []
    while browser.can_send():
        seq = browser.send(jpeg, deliver=False)
        queued.append(({"type": "frame", "seq": seq, "t": time.time() * 1000}, jpeg))
    assert len(queued) == cam.max_in_flight == 2
    for content, data in queued:  # the kernel is idle again
        browser.deliver(content, data)
    assert browser.acks[-2:] == [6, 7] and browser.can_send()


def test_only_the_newest_frame_is_kept_and_skips_are_counted(cam, face):
    rgb, jpeg = face
    dark = cv2.imencode(".jpg", np.zeros((60, 80, 3), np.uint8))[1].tobytes()
    browser = FakeBrowser(cam)
    source = WebcamSource(cam, frame_timeout_s=2)
    browser.send(jpeg)
    it = iter(source)
    first = next(it)
    for _ in range(3):
        browser.send(dark)
    browser.send(jpeg)
    second = next(it)
    assert first.image.shape == second.image.shape == rgb.shape
    assert source.skipped == 3 and source.last.seq == 5
    assert [first.index, second.index] == [0, 1]
    source.close()


def test_capture_time_from_the_browser_clock_and_skew_ignored(cam, face):
    _, jpeg = face
    browser = FakeBrowser(cam)
    browser.send(jpeg, t_ms=time.time() * 1000 - 200)  # captured 200 ms ago
    frame = cam.latest()
    assert isinstance(frame, WebcamFrame)
    assert 0.15 < frame.received - frame.captured < 1.0
    browser.send(jpeg, t_ms=time.time() * 1000 + 60_000)  # a browser clock a minute ahead
    assert cam.latest().captured == cam.latest().received


@pytest.mark.parametrize(
    "how",
    ["message", "trait"],
)
def test_browser_error_ends_the_source_with_the_reason(cam, how, no_thread_leak):
    browser = FakeBrowser(cam)
    source = WebcamSource(cam, frame_timeout_s=30)
    frames = []
    reader = read_in_thread(source, frames)
    time.sleep(0.1)
    if how == "message":
        browser.error("NotAllowedError", "Permission denied")
    else:
        cam.error = "NotFoundError: Requested device not found"
    reader.join(3)
    assert not reader.is_alive() and frames == []
    assert source.reason.startswith("browser camera error: ")
    assert ("Permission denied" if how == "message" else "NotFoundError") in source.reason


def test_widget_closed_ends_the_source(face, no_thread_leak):
    _, jpeg = face
    cam = WebcamWidget()
    browser = FakeBrowser(cam)
    source = WebcamSource(cam, frame_timeout_s=30)
    frames = []
    reader = read_in_thread(source, frames)
    browser.send(jpeg)
    time.sleep(0.2)
    cam.close()
    reader.join(3)
    assert not reader.is_alive() and len(frames) == 1
    assert source.reason == "the camera widget was closed"


def test_close_unblocks_a_waiting_read_and_leaves_no_thread(cam, no_thread_leak):
    source = WebcamSource(cam, frame_timeout_s=30)
    frames = []
    reader = read_in_thread(source, frames)
    time.sleep(0.1)
    t0 = time.monotonic()
    source.close()
    reader.join(2)
    assert not reader.is_alive() and time.monotonic() - t0 < 1.0
    assert source.reason == CLOSED
    # The widget goes on for the next source.
    assert cam.ended is None


def test_silent_browser_times_out_with_a_reason(cam, no_thread_leak):
    with WebcamSource(cam, frame_timeout_s=0.3) as source:
        t0 = time.monotonic()
        assert list(source) == []
    assert time.monotonic() - t0 < 2
    assert "no frame from the browser camera for 0.3 s" in source.reason


def test_undecodable_frame_ends_the_source(cam, no_thread_leak):
    browser = FakeBrowser(cam)
    browser.send(b"not a jpeg")
    assert browser.acks == [1]
    with WebcamSource(cam, frame_timeout_s=1) as source:
        assert list(source) == []
    assert "not a decodable JPEG" in source.reason
    with pytest.raises(ValueError, match="10 bytes"):
        decode_jpeg(b"not a jpeg")


def test_live_loop_runs_on_the_webcam_source(cam, face, kit, no_thread_leak):
    from workbench.live import LiveRecognizer, TrackerOptions

    _, jpeg = face
    browser = FakeBrowser(cam)
    results = []
    source = WebcamSource(cam, frame_timeout_s=5)
    # agree=1: the first result is checked, named from its one recognition.
    tracking = TrackerOptions(agree=1)
    with LiveRecognizer(
        source, kit.Recognizer(), tracking=tracking, on_result=results.append
    ) as live:
        for _ in range(20):
            if browser.can_send():
                browser.send(jpeg)
            time.sleep(0.02)
        deadline = time.monotonic() + 5
        while not results and time.monotonic() < deadline:
            time.sleep(0.02)
        live.stop()
    assert results and list(results[0].names) == ["alice"]
