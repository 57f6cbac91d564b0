"""The live loop with the real parts: MediaPipe, the Keras embedder, a SQLite gallery."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from workbench.live import Frame, IterableSource, LiveRecognizer, VideoFileSource
from workbench.live.draw import draw_result

PERSON = "Colin_Powell"


@pytest.fixture(scope="module")
def recognizer(lfw_dir, mediapipe_detector, tmp_path_factory):
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

    photos = sorted((lfw_dir / PERSON).glob("*.jpg"))
    if len(photos) < 8:
        pytest.skip(f"{PERSON} needs 8 photos in {lfw_dir}")
    embedder = default_embedder()
    path = tmp_path_factory.mktemp("live") / "gallery.sqlite"
    with Gallery(path, model_id=embedder.model_id) as gallery:
        rec = Recognizer(mediapipe_detector, embedder, gallery)
        gallery.enroll(PERSON, photos[:4], recognizer=rec)
        gallery.enroll(
            "Tony_Blair", sorted((lfw_dir / "Tony_Blair").glob("*.jpg"))[:3], recognizer=rec
        )
        yield rec, photos[4:8]


def webcam_frames(stills, hold=8):
    """640x480 frames, each still held ``hold`` frames and drifting as a webcam face."""
    for still in stills:
        face = cv2.resize(cv2.imread(str(still))[..., ::-1], (400, 400))
        for k in range(hold):
            frame = np.full((480, 640, 3), 110, np.uint8)
            frame[40:440, 100 + 2 * k : 500 + 2 * k] = face
            yield frame


def lockstep(frames):
    """Hand over a frame only when the previous result is out, so none is dropped."""
    ready = threading.Semaphore(0)

    def gen():
        for i, image in enumerate(frames):
            yield Frame(image, time.monotonic(), i)
            assert ready.acquire(timeout=60)

    return IterableSource(gen()), lambda result: ready.release()


def test_real_faces_are_named_and_tracking_saves_embeddings(recognizer):
    rec, stills = recognizer
    results = []
    source, release = lockstep(webcam_frames(stills))

    def on_result(result):
        results.append(result)
        release(result)

    with LiveRecognizer(source, rec, on_result=on_result) as live:
        assert live.wait(timeout=120)
    stats = live.stats()
    assert stats.frames_processed == len(results) == 32
    main_names = []
    for r in results:
        assert len(r), f"no face found in frame {r.frame_id}"
        areas = (r.boxes[:, 2] - r.boxes[:, 0]) * (r.boxes[:, 3] - r.boxes[:, 1])
        main_names.append(r.names[int(np.argmax(areas))])
    assert main_names.count(PERSON) >= 0.75 * len(main_names), main_names
    # Each still is a new position: the drift keeps one track per still, embedded
    # when new and then every 10 frames, far fewer than every face every frame.
    assert stats.embeddings < stats.faces / 2
    assert draw_result(results[-1], stats=stats).shape == (480, 640, 3)


def test_a_video_file_of_real_faces_is_processed_whole(recognizer, tmp_path):
    rec, stills = recognizer
    path = tmp_path / "stills.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    for frame in webcam_frames(stills[:2], hold=10):
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    results = []
    with LiveRecognizer(VideoFileSource(path), rec, on_result=results.append) as live:
        assert live.wait(timeout=120)
    stats = live.stats()
    # No hand-over trick: the file source itself makes the reader wait for the worker.
    assert stats.frames_captured == stats.frames_processed == len(results) == 20
    assert stats.frames_dropped == 0
    assert [r.frame_id for r in results] == list(range(20))
    named = [r for r in results if PERSON in r.names]
    assert len(named) >= 15, [r.names for r in results]


def test_real_crowd_video_file(recognizer, crowd_video):
    from workbench.detect import create_detector
    from workbench.recognize import Recognizer

    base, _ = recognizer
    # The crowd's faces are small: BlazeFace short range finds none, full range does.
    detector = create_detector("mediapipe", range="full", min_score=0.3)
    rec = Recognizer(detector, base.embedder, base.gallery)
    video = VideoFileSource(crowd_video)
    frames = (f.image for f, _ in zip(video, range(12), strict=False))
    source, release = lockstep(frames)
    with LiveRecognizer(source, rec, on_result=release) as live:
        assert live.wait(timeout=180)
    video.close()
    detector.close()
    stats = live.stats()
    result = live.latest()
    assert stats.frames_processed == 12 and result is not None
    assert result.image.shape == (1080, 1920, 3)
    assert stats.faces >= stats.frames_processed  # several faces a frame
    assert 0 < stats.embeddings < stats.faces
    assert set(result.names) <= {PERSON, "Tony_Blair", "unknown"}


def side_by_side_frames(stills, hold=6):
    """640x480 frames, each still 240 px wide in a quadrant of its own, so that each
    still starts a new track."""
    for i, still in enumerate(stills):
        face = cv2.resize(cv2.imread(str(still))[..., ::-1], (240, 240))
        x, y = (20, 360)[i % 2], (0, 240)[(i // 2) % 2]
        for k in range(hold):
            frame = np.full((480, 640, 3), 110, np.uint8)
            frame[y : y + 240, x + k : x + k + 240] = face
            yield frame


def frames_until_named(recognizer, stills, tracking):
    """For each still (a new track), the processed frames it took until its track showed
    the person's name (``None``: never)."""
    from collections import defaultdict

    rec, _ = recognizer
    shown = defaultdict(list)
    source, release = lockstep(side_by_side_frames(stills))

    def on_result(result):
        areas = (result.boxes[:, 2] - result.boxes[:, 0]) * (
            result.boxes[:, 3] - result.boxes[:, 1]
        )
        main = int(np.argmax(areas))
        shown[int(result.track_ids[main])].append(result.names[main])
        release(result)

    with LiveRecognizer(source, rec, tracking=tracking, on_result=on_result) as live:
        assert live.wait(timeout=120)
    return [names.index(PERSON) if PERSON in names else None for names in shown.values()]


def test_a_true_person_is_named_one_frame_later_with_agreement(recognizer):
    from workbench.live import TrackerOptions

    _, stills = recognizer
    before = frames_until_named(recognizer, stills, TrackerOptions(agree=1))
    after = frames_until_named(recognizer, stills, TrackerOptions())  # default: agree 2
    assert len(before) == len(after) == len(stills), (before, after)
    assert before.count(0) >= 3, before  # named on its first frame without agreement
    # With agreement: the first name waits for the next frame's recognition, no more.
    for b, a in zip(before, after, strict=True):
        assert b is not None and a is not None and a <= b + 1, (before, after)
    assert after.count(1) >= 3, after


def test_faces_the_gallery_names_are_not_kept_while_their_track_awaits_agreement(recognizer):
    """A new track's first recognition names the person but shows ``unknown`` until a
    second agrees (TrackerOptions.agree): that face is the person's, not an unknown to
    cluster. Only faces whose own recognition found nobody are kept."""
    from workbench.recognize import UnknownsKeeper

    rec, stills = recognizer
    gallery = rec.gallery
    gallery.remove_unknowns()
    source, release = lockstep(side_by_side_frames(stills))
    own_unknown = 0

    def on_result(result):
        nonlocal own_unknown
        keeper(result)
        shown = np.asarray(result.names)[result.embedded]
        own_unknown += sum(
            label == "unknown" and name == "unknown"
            for label, name in zip(result.recognized, shown, strict=True)
        )
        release(result)

    with UnknownsKeeper(gallery, detector=rec.detector, source="live") as keeper:
        with LiveRecognizer(source, rec, on_result=on_result) as live:
            assert live.wait(timeout=120)
    faces, embeddings = gallery.unknown_embeddings()
    try:
        assert len(faces) <= own_unknown
        assert not any(m.accepted for m in rec.identify(embeddings)), [f.id for f in faces]
    finally:
        gallery.remove_unknowns()
