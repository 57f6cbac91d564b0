"""LivePanel without a browser: a clip of an enrolled person as the video source, and the
streaming browser camera played by calling its widget's message handler with real LFW
JPEGs, as the browser's ``model.send`` delivers frames."""

from __future__ import annotations

import html
import threading
import time

import numpy as np
import pytest

from workbench.ui import LivePanel
from workbench.ui.live import BROWSER, VIDEO


def wait_for(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def enrolled(gallery, recognizer, people):
    """The gallery with the first person enrolled from two photos; their third is kept
    back for the clip."""
    name, photos = next(iter(people.items()))
    gallery.enroll(name, photos[:2], recognizer=recognizer)
    return name, photos


def test_video_file_names_the_person(gallery, embedder, enrolled, tmp_path):
    from workbench.ui.demo import make_clip

    name, photos = enrolled
    clip = make_clip(photos, tmp_path / "clip.mp4", seconds_per_photo=0.5)
    before = threading.active_count()
    panel = LivePanel(gallery, embedder, source=VIDEO, video=clip)
    assert gallery.threshold_source in panel.threshold_label.value
    panel.realtime.value = False
    panel.start_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert panel.wait(30)
    assert wait_for(lambda: not panel.running and panel.start_button.disabled is False)
    assert name in panel.faces.value
    assert bytes(panel.view.value)[:2] == b"\xff\xd8"  # a JPEG
    assert "end of stream" in panel.stats.value
    panel.close()
    assert wait_for(lambda: threading.active_count() <= before, 5)


def test_errors_are_shown_in_the_panel(gallery, embedder, tmp_path):
    panel = LivePanel(gallery, embedder, source=VIDEO)
    panel.start_button.click()
    assert "path of a video file" in panel.errors.last
    panel.video.value = str(tmp_path / "missing.mp4")
    panel.start_button.click()
    assert "not found" in panel.errors.last
    panel.enroll_button.click()
    assert "no unknown face" in panel.errors.last
    assert not panel.running


def send_jpeg(camera, jpeg: bytes, seq: int) -> None:
    """Play the browser: one frame message with its JPEG buffer, as ``model.send`` delivers
    it (ipykernel hands buffers over as memoryviews)."""
    content = {"type": "frame", "seq": seq, "t": time.time() * 1000, "in_flight": 1}
    camera._handle_custom_msg(content, [memoryview(jpeg)])


def _enroll_after_a_failed_try(panel, gallery, name, monkeypatch) -> None:
    """Who is this? is one transaction: when its last step fails (removing the track's
    kept faces from the unknowns), neither the face in view nor the kept faces are
    enrolled, and the kept faces stay unknowns of a still unnamed track; clicked again,
    it enrolls them."""
    from workbench.errors import GalleryError
    from workbench.gallery import unknowns as unknowns_module

    track = int(panel.unknown.value)

    def fail(*_args, **_kwargs):
        raise GalleryError("the disk is full (a test's failure)")

    with monkeypatch.context() as patch:
        patch.setattr(unknowns_module, "delete_within", fail)
        panel.enroll_button.click()
    assert "the disk is full" in panel.errors.last
    assert name not in gallery.people and len(gallery) == 0
    kept = [u.id for u in gallery.unknowns() if u.track and u.track.endswith(f"#{track}")]
    assert kept, "the track's faces were kept as unknowns before the click"
    assert track not in panel._keeper.named_tracks
    panel.enroll_button.click()  # the failure gone: the same click names them all
    assert panel.errors.last is None, panel.errors.last
    assert name in gallery.people
    assert not any(u.id in kept for u in gallery.unknowns())


def test_browser_camera_and_who_is_this(gallery, embedder, people, monkeypatch):
    """An unknown face from the (simulated) streaming browser camera is enrolled by name,
    then recognized; boxes and names go to the webcam widget's overlays, not the image."""
    from workbench.live import WebcamSource, WebcamWidget

    name, photos = list(people.items())[1]
    jpeg = photos[0].read_bytes()  # a real LFW JPEG, as the browser would encode a frame
    panel = LivePanel(gallery, embedder, source=BROWSER)
    camera = panel.camera
    assert isinstance(camera, WebcamWidget)
    assert panel.camera_box.children == (camera,)
    assert panel.view.layout.display == "none"
    acks = []
    camera.send = lambda content, buffers=None: acks.append(content["seq"])
    seq = iter(range(1, 1_000_000))
    # The preview alone sends nothing (each frame would flip the kernel Busy/Idle).
    assert camera.streaming is False
    assert panel.enroll_button.disabled  # no unknown face in view yet
    panel.start()
    assert isinstance(panel.live.source, WebcamSource)
    assert camera.streaming is True

    def send_frame():
        send_jpeg(camera, jpeg, next(seq))
        return True

    def labels():
        return [o["label"] for o in camera.overlays]

    try:
        assert wait_for(lambda: send_frame() and "unknown" in panel.faces.value)
        assert wait_for(lambda: any(lab.startswith("unknown") for lab in labels()))
        (overlay,) = camera.overlays
        x1, y1, x2, y2 = overlay["box"]
        assert 0 <= x1 < x2 <= 250 and 0 <= y1 < y2 <= 250  # LFW photos are 250x250
        assert overlay["color"].startswith("#")
        assert acks and acks == sorted(acks)  # every frame acknowledged, in order
        assert panel.unknown.options and not panel.enroll_button.disabled
        panel.unknown.value = panel.unknown.options[0][1]
        panel.new_name.value = name
        _enroll_after_a_failed_try(panel, gallery, name, monkeypatch)
        # The track refreshes its embedding every few frames and the vote turns.
        assert wait_for(lambda: send_frame() and name in panel.faces.value, 30)
        assert wait_for(lambda: send_frame() and any(name in lab for lab in labels()), 10)
        # "This is not <name>": stored as a correction of that person.
        assert wait_for(lambda: send_frame() and bool(panel.named.options), 10)
        panel.named.value = panel.named.options[0][1]
        panel.reject_button.click()
        assert panel.errors.last is None, panel.errors.last
        [correction] = gallery.negatives(name)
        assert correction.source.startswith("live panel: ")
        # The annotated image view is not used for the browser camera.
        assert bytes(panel.view.value) == b""
        assert panel.view.layout.display == "none"
    finally:
        panel.stop()
    assert not panel.running
    assert camera.overlays == []  # no stale boxes over the preview once stopped
    assert camera.streaming is False
    assert "ended: stopped" in panel.stats.value
    # Nothing is "in view" once stopped; the last names are said as such.
    assert "in view" not in panel.faces.value.replace("last in view", "")
    assert panel.faces_text.startswith("not running; last in view: ")
    assert panel.unknown.options == () and panel.enroll_button.disabled
    assert panel.named.options == () and panel.reject_button.disabled
    # The face was unknown before it was named: its kept faces were named with it (the
    # people panel's path), so none of that track is left among the unknowns.
    assert all(not u.source.startswith("live panel: ") for u in gallery.unknowns())
    assert len(gallery.faces(name)) >= 1
    panel.close()
    assert panel.camera_box.children == ()
    assert camera.ended == "the camera widget was closed"


def test_look_alikes_are_x_or_y_in_the_live_panel(gallery, embedder, close_pair):
    """Two real close LFW people enrolled, the one the margin cannot settle in front of
    the (simulated) browser camera: drawn "X or Y?" in amber, offered to "Who is this?"
    and not to "Not X", kept neither as named nor as unknown; naming it settles it."""
    from workbench.live.draw import AMBIGUOUS_COLOR

    jong, kim = close_pair
    for person, (enrolled, _, _) in close_pair.items():
        gallery.add_embeddings(person, enrolled)
    jpeg = close_pair[jong][2].read_bytes()
    panel = LivePanel(gallery, embedder, source=BROWSER)
    camera = panel.camera
    camera.send = lambda content, buffers=None: None
    seq = iter(range(1, 1_000_000))

    def send_frame():
        send_jpeg(camera, jpeg, next(seq))
        return True

    label = f"{kim} or {jong}?"
    amber = "#{:02x}{:02x}{:02x}".format(*AMBIGUOUS_COLOR)
    panel.start()
    try:
        assert wait_for(lambda: send_frame() and label in html.unescape(panel.faces.value))
        assert wait_for(lambda: send_frame() and bool(camera.overlays))
        (overlay,) = camera.overlays
        assert overlay["label"].startswith(label) and overlay["color"] == amber
        [(text, track)] = panel.unknown.options
        assert text == f"track {track}: {label}" and not panel.enroll_button.disabled
        assert panel.named.options == () and panel.reject_button.disabled
        result = panel.live.latest()
        assert result.candidates == ((kim, jong),) and not result.named.any()
        [face] = result.to_dict()["faces"]
        assert face["name"] == "unknown" and face["candidates"] == [kim, jong]
        panel.unknown.value = track
        panel.new_name.value = jong
        panel.enroll_button.click()
        assert panel.errors.last is None, panel.errors.last
        assert len(gallery.faces(jong)) == 2
        assert wait_for(lambda: send_frame() and f"<b>{jong}</b>" in panel.faces.value, 30)
    finally:
        panel.stop()
    assert gallery.count_unknowns() == 0  # "X or Y?" faces are not kept as unknowns
    panel.close()


def test_source_switch_shows_the_right_view(gallery, embedder):
    panel = LivePanel(gallery, embedder, source=VIDEO)
    assert panel.camera_box.children == ()
    assert panel._camera is None  # no browser camera asked for
    panel.source.value = BROWSER
    assert panel.camera_box.children == (panel.camera,)
    panel.source.value = VIDEO
    assert panel.camera_box.children == ()
    panel.close()


def test_detector_switch_says_switching_not_ended(gallery, embedder, mediapipe_detector):
    from workbench.live import IterableSource

    panel = LivePanel(gallery, embedder, source=VIDEO, video="unused")
    # An endless source, made afresh for the restart.
    panel._make_source = lambda: IterableSource(
        np.zeros((120, 160, 3), np.uint8) for _ in iter(int, 1)
    )
    # The switch itself is under test, not MTCNN: it is not loaded here.
    panel._detectors["mtcnn"] = mediapipe_detector
    assert panel.detector_note.value == ""
    seen = []
    panel.stats.observe(lambda c: seen.append(c["new"]), names="value")
    panel.start()
    try:
        assert wait_for(lambda: panel.live.stats().frames_processed > 2)
        panel.detector.value = "mtcnn"
        assert "MTCNN is slow live" in panel.detector_note.value
        assert panel.running, panel.errors.last
        assert wait_for(lambda: panel.live.stats().frames_processed > 2)
        assert any("switching to mtcnn" in v for v in seen)
        assert not any("ended" in v for v in seen), seen
    finally:
        panel._detectors.clear()  # the shared detector is not the panel's to close
        panel.stop()
    assert "ended: stopped" in panel.stats.value


def test_stop_is_complete(gallery, embedder):
    from workbench.live import IterableSource

    panel = LivePanel(gallery, embedder, source=VIDEO, video="unused")
    frames = (np.zeros((120, 160, 3), np.uint8) for _ in iter(int, 1))  # endless
    panel._make_source = lambda: IterableSource(frames)
    panel.start()
    assert wait_for(lambda: panel.live is not None and panel.live.stats().frames_processed > 3)
    panel.stop_button.click()
    assert not panel.running and panel.stop_button.disabled
    assert "stopped" in panel.stats.value


def test_a_failing_source_is_reported_in_the_panel(gallery, embedder):
    from workbench.errors import SourceError
    from workbench.live import IterableSource

    def frames():
        yield np.zeros((120, 160, 3), np.uint8)
        raise SourceError("camera unplugged")

    panel = LivePanel(gallery, embedder, source=VIDEO, video="unused")
    panel._make_source = lambda: IterableSource(frames())
    panel.start()
    assert wait_for(lambda: panel.errors.last is not None)
    assert "camera unplugged" in panel.errors.last
    assert wait_for(lambda: not panel.running and not panel.start_button.disabled)
