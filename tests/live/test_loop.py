"""The threaded loop with a fake recognizer: lifecycle, errors, drops, no double work."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError, SourceError
from workbench.live import IterableSource, LiveRecognizer, LiveResult, TrackerOptions
from workbench.live.loop import STOPPED
from workbench.live.sources import CLOSED, END_OF_STREAM

pytestmark = pytest.mark.usefixtures("no_thread_leak")


def run_to_end(source, recognizer, **kwargs):
    results = []
    kwargs.setdefault("warm_up", False)  # keeps the fake's call counts to the frames
    live = LiveRecognizer(source, recognizer, on_result=results.append, **kwargs)
    with live:
        assert live.wait(timeout=30)
    return live, results


def paced(frames, period_s):
    """Frames at most one per ``period_s``, so a fast worker sees most of them."""
    for img in frames:
        time.sleep(period_s)
        yield img


def test_finite_source_runs_to_end_and_joins_threads(kit):
    before = set(threading.enumerate())
    rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["alice", None])
    # agree=1: a fast source may leave one processed frame, one recognition per face.
    live = LiveRecognizer(IterableSource(kit.frames(20)), rec, tracking=TrackerOptions(agree=1))
    live.start()
    assert live.wait(timeout=30)
    live.stop()
    assert set(threading.enumerate()) == before
    assert live.end_reason == END_OF_STREAM
    assert not live.running and live.error is None
    result = live.latest()
    assert isinstance(result, LiveResult)
    assert result.names == ("alice", "unknown")
    assert result.boxes.shape == (2, 4) and result.distances.shape == (2,)
    assert result.track_ids.tolist() == [1, 2]
    stats = live.stats()
    assert stats.frames_captured == 20
    assert stats.frames_processed + stats.frames_dropped == 20
    assert stats.faces == 2 * stats.frames_processed
    assert stats.end_reason == END_OF_STREAM
    assert stats.latency_p95_ms >= stats.latency_p50_ms >= 0


def test_stop_on_an_endless_source_joins_every_thread(kit):
    def endless():
        while True:
            yield np.zeros((32, 32, 3), np.uint8)

    before = set(threading.enumerate())
    with LiveRecognizer(IterableSource(endless()), kit.Recognizer(delay_s=0.002)) as live:
        deadline = time.monotonic() + 10
        while live.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert set(threading.enumerate()) == before
    assert live.end_reason == STOPPED
    assert live.source.reason == CLOSED
    stats = live.stats()
    assert stats.frames_processed >= 1
    assert stats.frames_processed + stats.frames_dropped == stats.frames_captured


def test_slow_worker_drops_frames_and_counts_them(kit):
    live, results = run_to_end(
        IterableSource(kit.frames(60)), kit.Recognizer(delay_s=0.01), tracking=None
    )
    stats = live.stats()
    assert stats.frames_dropped > 0
    assert stats.frames_processed == len(results)
    assert stats.frames_processed + stats.frames_dropped == 60
    # The newest frame is always the one processed: the last frame is never dropped.
    assert results[-1].frame_id == 59


def test_lossless_source_has_every_frame_processed_by_a_slow_worker(kit):
    source = IterableSource(kit.frames(40), lossless=True)
    live, results = run_to_end(source, kit.Recognizer(delay_s=0.005), tracking=None)
    assert live.lossless
    stats = live.stats()
    assert stats.frames_captured == stats.frames_processed == 40
    assert stats.frames_dropped == 0
    assert [r.frame_id for r in results] == list(range(40))
    assert [kit.marker(r.image) for r in results] == list(range(40))


def test_lossless_loop_stopped_midway_joins_and_counts_the_waiting_frame(kit):
    def endless():
        while True:
            yield np.zeros((32, 32, 3), np.uint8)

    before = set(threading.enumerate())
    rec = kit.Recognizer(delay_s=0.02)
    with LiveRecognizer(IterableSource(endless()), rec, lossless=True) as live:
        deadline = time.monotonic() + 10
        while live.stats().frames_processed < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert set(threading.enumerate()) == before
    stats = live.stats()
    assert stats.end_reason == STOPPED
    # The reader waited for the worker: at most the frame in the slot and the one
    # waiting to go in are left over, not a backlog.
    assert stats.frames_captured - stats.frames_processed <= 2
    assert stats.frames_processed + stats.frames_dropped == stats.frames_captured


def test_no_frame_processed_twice_and_ids_match_pixels(kit):
    live, results = run_to_end(IterableSource(kit.frames(300)), kit.Recognizer())
    ids = [r.frame_id for r in results]
    assert ids == sorted(set(ids))
    assert all(kit.marker(r.image) == r.frame_id for r in results)


def test_tracking_embeds_only_new_and_stale_tracks(kit):
    rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["a", "b"])
    live, results = run_to_end(
        IterableSource(paced(kit.frames(40), 0.003)),
        rec,
        tracking=TrackerOptions(refresh_every=10),
    )
    stats = live.stats()
    assert stats.frames_processed > 10
    assert stats.embeddings == rec.embedded
    assert stats.embeddings < stats.faces
    # Both faces are embedded on the first processed frame, again on the next (their
    # first names await a second, agreeing recognition), then every 10 processed frames
    # (dropped frames do not count).
    for step, r in enumerate(results):
        due = step == 0 or step % 10 == 1
        assert r.embedded.tolist() == [due, due], r.frame_id
    assert results[0].embedded.all()
    assert sum(int(r.embedded.sum()) for r in results) == rec.embedded


def test_without_tracking_every_face_is_embedded(kit):
    rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["a", "b"])
    live, results = run_to_end(IterableSource(kit.frames(30)), rec, tracking=None)
    stats = live.stats()
    assert stats.embeddings == stats.faces == rec.embedded == 2 * stats.frames_processed
    assert all(r.track_ids.tolist() == [-1, -1] for r in results)
    assert results[-1].names == ("a", "b")


def test_worker_exception_reaches_the_caller_at_stop(kit):
    rec = kit.Recognizer(fail_on_frame=5)

    def paced():
        for img in kit.frames(1000):
            time.sleep(0.001)
            yield img

    live = LiveRecognizer(IterableSource(paced()), rec, warm_up=False)
    live.start()
    assert live.wait(timeout=30)
    assert isinstance(live.error, RuntimeError)
    assert "error: RuntimeError" in live.end_reason
    with pytest.raises(RuntimeError, match="failed on frame"):
        live.stop()
    live.stop()  # raised once; a second stop is quiet


def test_capture_exception_reaches_the_caller_at_context_exit(kit):
    def broken():
        yield np.zeros((8, 8, 3), np.uint8)
        raise OSError("camera unplugged mid-read")

    with pytest.raises(OSError, match="unplugged"):
        with LiveRecognizer(IterableSource(broken()), kit.Recognizer()) as live:
            live.wait(timeout=30)
    assert isinstance(live.error, OSError)


def test_bad_frame_surfaces_as_invalid_image(kit):
    from workbench.errors import InvalidImageError

    with pytest.raises(InvalidImageError):
        with LiveRecognizer(IterableSource([np.zeros((4, 4), np.uint8)]), kit.Recognizer()) as live:
            live.wait(timeout=30)


def test_callback_exception_stops_the_loop_and_is_raised(kit):
    def callback(result):
        raise ValueError("display broke")

    live = LiveRecognizer(IterableSource(kit.frames(50)), kit.Recognizer(), on_result=callback)
    with pytest.raises(ValueError, match="display broke"):
        with live:
            live.wait(timeout=30)
    assert live.stats().frames_processed == 1


def test_body_exception_wins_over_thread_exception(kit):
    with pytest.raises(KeyError):
        with LiveRecognizer(
            IterableSource(kit.frames(5)), kit.Recognizer(fail_on_frame=0), warm_up=False
        ) as live:
            live.wait(timeout=30)
            raise KeyError("body")
    assert isinstance(live.error, RuntimeError)


def test_stop_from_a_callback_does_not_deadlock(kit):
    holder = {}

    def callback(result):
        if result.frame_id >= 3:
            holder["live"].stop()

    def endless():
        while True:
            time.sleep(0.001)
            yield np.zeros((16, 16, 3), np.uint8)

    live = LiveRecognizer(IterableSource(endless()), kit.Recognizer(), on_result=callback)
    holder["live"] = live
    live.start()
    assert live.wait(timeout=30)
    live.stop()
    assert live.end_reason == STOPPED


def test_start_twice_is_refused_and_options_checked(kit):
    live = LiveRecognizer(IterableSource(kit.frames(2)), kit.Recognizer())
    with live:
        with pytest.raises(InvalidArgumentError, match="already started"):
            live.start()
    with pytest.raises(InvalidArgumentError):
        LiveRecognizer(IterableSource([]), kit.Recognizer(), join_timeout_s=0)


def test_stop_before_start_and_stats_before_start(kit):
    live = LiveRecognizer(IterableSource([]), kit.Recognizer())
    live.stop()
    assert live.wait() is True
    assert live.stats().frames_captured == 0 and live.latest() is None


def test_a_source_stuck_in_a_read_is_reported_not_hung(kit):
    gate = threading.Event()

    def stuck():
        yield np.zeros((8, 8, 3), np.uint8)
        gate.wait(10)  # a backend read that does not return (for the test's length)

    live = LiveRecognizer(IterableSource(stuck()), kit.Recognizer(), join_timeout_s=0.2)
    live.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="did not stop within 0.2 s"):
        live.stop()
    assert time.monotonic() - t0 < 2
    gate.set()
    live._threads[0].join(5)  # let it go so the leak check passes
    assert live.source.reason == CLOSED


def test_result_to_dict_is_json_ready(kit):
    import json

    live, results = run_to_end(
        IterableSource(kit.frames(3)), kit.Recognizer(), tracking=TrackerOptions(agree=1)
    )
    d = results[-1].to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["faces"][0]["name"] == "alice"
    assert json.loads(json.dumps(live.stats().to_dict()))["frames_captured"] == 3


def test_warm_up_runs_once_before_the_threads_and_its_errors_raise_from_start(kit):
    rec = kit.Recognizer()
    with LiveRecognizer(IterableSource(kit.frames(3)), rec) as live:
        assert live.wait(timeout=30)
    # Synthetic faces (one, then two) embedded before the frames; the frames' come on top.
    assert rec.embedded == 3 + live.stats().embeddings
    before = set(threading.enumerate())
    failing = LiveRecognizer(IterableSource(kit.frames(3)), kit.Recognizer(fail_on_frame=0))
    with pytest.raises(RuntimeError, match="detector failed"):
        failing.start()
    assert set(threading.enumerate()) == before and not failing.running
    assert failing.source.reason == CLOSED


def test_result_carries_the_frames_detections_and_matches(kit):
    """A result extends the frame's FaceDetections (scores, keypoints kept) and offers
    Recognition's matches, so no consumer detects the frame again."""
    rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["alice", None])
    _, results = run_to_end(IterableSource(kit.frames(3)), rec, tracking=TrackerOptions(agree=1))
    result = results[-1]
    assert result.detections is not None and len(result.detections) == len(result) == 2
    np.testing.assert_array_equal(result.detections.xyxy, result.boxes)
    assert result.detections.keypoints.shape == (2, 5, 2)
    assert [m.label for m in result.matches] == list(result.names) == ["alice", "unknown"]
    assert [m.accepted for m in result.matches] == [True, False]


class NearRecognizer:
    """Wraps a fake recognizer with a detector that can narrow its small-face search
    (``searches_near``) and records what each frame's ``detect`` was given."""

    searches_near = True

    def __init__(self, base):
        self.base = base
        self.near: list = []

    def detect(self, image, *, near=None):
        self.near.append(None if near is None else np.asarray(near).copy())
        return self.base.detect(image)

    def embed(self, image, detections):
        return self.base.embed(image, detections)

    def identify(self, embeddings):
        return self.base.identify(embeddings)


def test_the_full_search_runs_every_n_frames_and_between_around_live_tracks(kit):
    boxes = [(10, 10, 60, 60), (80, 10, 130, 60)]
    rec = NearRecognizer(kit.Recognizer(boxes=boxes, names=["a", None]))
    source = IterableSource(kit.frames(7), lossless=True)
    run_to_end(source, rec, search_every=3)
    assert [n is None for n in rec.near] == [True, False, False, True, False, False, True]
    for near in rec.near[1:3] + rec.near[4:6]:
        np.testing.assert_array_equal(near, np.array(boxes, np.float32))
    # search_every=1 searches everything on every frame; so does a loop without tracking.
    for options in ({"search_every": 1}, {"tracking": None}):
        rec = NearRecognizer(kit.Recognizer(boxes=boxes, names=["a", "b"]))
        run_to_end(IterableSource(kit.frames(4), lossless=True), rec, **options)
        assert rec.near == [None] * 4
    with pytest.raises(InvalidArgumentError, match="search_every"):
        LiveRecognizer(IterableSource(kit.frames(1)), rec, search_every=0)


def test_a_detector_that_cannot_narrow_is_never_asked_to(kit):
    class Plain(NearRecognizer):
        searches_near = False

    rec = Plain(kit.Recognizer())
    run_to_end(IterableSource(kit.frames(4), lossless=True), rec)
    assert rec.near == [None] * 4
    # The fakes' plain detect(image) takes no near= at all: still called without it.
    base = kit.Recognizer()
    _, results = run_to_end(IterableSource(kit.frames(4), lossless=True), base)
    assert base.detect_calls == len(results) == 4


def test_a_track_missed_for_two_frames_is_no_longer_expected(kit):
    a, b = (10, 10, 60, 60), (80, 10, 130, 60)

    class Vanishing(kit.Recognizer):
        """Both faces on frame 0, only the first one afterwards."""

        def detect(self, image):
            faces = super().detect(image)
            return faces if kit.marker(image) == 0 else faces[np.array([0])]

    rec = NearRecognizer(Vanishing(boxes=[a, b], names=["a", None]))
    run_to_end(IterableSource(kit.frames(5), lossless=True), rec, search_every=10)
    assert rec.near[0] is None
    # Frames 1 and 2 still expect b (last seen on frame 0); from frame 3 on only a.
    assert [len(n) for n in rec.near[1:]] == [2, 2, 1, 1]
    np.testing.assert_array_equal(rec.near[3], np.array([a], np.float32))
