"""IoU tracker: matching, embedding schedule, rolling-mode votes."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.live.tracking import UNKNOWN, Tracker, TrackerOptions, box_iou

A = [0, 0, 10, 10]
B = [100, 100, 120, 120]


def boxes(*bs):
    return np.array(bs, np.float32).reshape(-1, 4)


@pytest.mark.parametrize(
    "a,b,expected",
    [
        (A, A, 1.0),
        (A, [5, 0, 15, 10], 50 / 150),
        (A, B, 0.0),
        (A, [0, 0, 5, 5], 0.25),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_box_iou_table(a, b, expected):
    iou = box_iou(boxes(a), boxes(b))
    assert iou.shape == (1, 1)
    assert iou[0, 0] == pytest.approx(expected)


def test_box_iou_shape_is_pairwise():
    assert box_iou(boxes(A, B, A), boxes(B, A)).shape == (3, 2)


def test_new_tracks_need_embedding_then_follow_boxes():
    tracker = Tracker(TrackerOptions(agree=1))
    ids, need = tracker.update(boxes(A, B))
    assert ids.tolist() == [1, 2] and need.tolist() == [True, True]
    tracker.record(1, "alice", 0.3)
    tracker.record(2, "bob", 0.4)
    # Order of detections changes and boxes move a little: ids follow the faces.
    ids, need = tracker.update(boxes([102, 101, 121, 121], [1, 0, 11, 10]))
    assert ids.tolist() == [2, 1] and need.tolist() == [False, False]
    names, dists = tracker.labels(ids)
    assert names == ["bob", "alice"]
    assert dists.dtype == np.float32 and dists.tolist() == pytest.approx([0.4, 0.3])


def test_stale_tracks_are_embedded_again_every_n_frames():
    tracker = Tracker(TrackerOptions(refresh_every=3, agree=1))
    schedule = []
    for _ in range(8):
        ids, need = tracker.update(boxes(A))
        schedule.append(bool(need[0]))
        if need[0]:
            tracker.record(int(ids[0]), "alice", 0.3)
    assert schedule == [True, False, False, True, False, False, True, False]


def test_a_first_name_is_confirmed_on_the_next_frame_then_refreshed_as_usual():
    tracker = Tracker(TrackerOptions(refresh_every=3))  # default agree: 2
    schedule, shown = [], []
    for _ in range(8):
        ids, need = tracker.update(boxes(A))
        schedule.append(bool(need[0]))
        if need[0]:
            tracker.record(int(ids[0]), "alice", 0.3)
        shown.append(tracker.labels(ids)[0][0])
    assert schedule == [True, True, False, False, True, False, False, True]
    assert shown == [UNKNOWN] + ["alice"] * 7


def test_a_name_said_once_is_never_shown():
    # A stranger who resembles someone on one frame: the next recognition disagrees.
    tracker = Tracker()
    ids, _ = tracker.update(boxes(A))
    assert tracker.record(int(ids[0]), "alice", 0.5) == UNKNOWN
    ids, need = tracker.update(boxes(A))
    assert need[0]
    assert tracker.record(int(ids[0]), UNKNOWN, 0.7) == UNKNOWN
    # Nothing awaits agreement now: back to the regular refresh.
    assert not tracker.update(boxes(A))[1][0]
    # A one-frame track (it ends before a second recognition) shows unknown throughout.
    ids, _ = tracker.update(boxes(A, B))
    assert tracker.record(int(ids[1]), "bob", 0.5) == UNKNOWN
    assert tracker.labels(ids)[0] == [UNKNOWN, UNKNOWN]


def test_an_x_or_y_label_needs_agreement_too():
    tracker = Tracker()
    ids, _ = tracker.update(boxes(A))
    tid = int(ids[0])
    pair = ("Ann", "Bea")
    assert tracker.record(tid, "Ann or Bea?", 0.45, candidates=pair) == UNKNOWN
    assert tracker.candidates(ids) == [None]
    tracker.update(boxes(A))
    assert tracker.record(tid, "Ann or Bea?", 0.44, candidates=pair) == "Ann or Bea?"
    assert tracker.candidates(ids) == [pair]


def test_refresh_every_one_embeds_every_frame():
    tracker = Tracker(TrackerOptions(refresh_every=1))
    for _ in range(4):
        ids, need = tracker.update(boxes(A, B))
        assert need.all()
        for i in ids:
            tracker.record(int(i), "x", 0.1)


def test_missed_tracks_survive_max_missed_then_go():
    tracker = Tracker(TrackerOptions(max_missed=2, agree=1))
    ids, _ = tracker.update(boxes(A))
    tracker.record(int(ids[0]), "alice", 0.3)
    tracker.update(boxes())
    tracker.update(boxes())
    ids2, need = tracker.update(boxes(A))
    assert ids2.tolist() == ids.tolist() and not need[0]
    assert tracker.track(int(ids[0])).label == "alice"
    for _ in range(3):
        tracker.update(boxes())
    assert tracker.tracks == []
    ids3, need = tracker.update(boxes(A))
    assert ids3[0] != ids[0] and need[0]


def test_ages_count_updates_not_source_frames():
    # Dropped frames do not age a track: only processed frames (updates) do.
    tracker = Tracker(TrackerOptions(refresh_every=3, agree=1))
    ids, _ = tracker.update(boxes(A))
    tracker.record(int(ids[0]), "alice", 0.3)
    assert tracker.step == 0
    assert [bool(tracker.update(boxes(A))[1][0]) for _ in range(3)] == [False, False, True]


def test_a_face_that_jumps_gets_a_new_track():
    tracker = Tracker()
    ids, _ = tracker.update(boxes(A))
    ids2, need = tracker.update(boxes([50, 50, 60, 60]))
    assert ids2[0] != ids[0] and need[0]


def record_sequence(labels, *, window=5, agree=1):
    tracker = Tracker(TrackerOptions(vote_window=window, refresh_every=1, agree=agree))
    shown = []
    for label in labels:
        ids, _ = tracker.update(boxes(A))
        shown.append(tracker.record(int(ids[0]), label, 0.5))
    return shown


@pytest.mark.parametrize(
    "votes,shown",
    [
        # One bad frame does not flip a name.
        (["alice", "alice", "bob", "alice"], ["alice", "alice", "alice", "alice"]),
        # A tie keeps the current label.
        (["alice", "bob"], ["alice", "alice"]),
        # Unknown stays unknown until the vote says otherwise.
        (["unknown", "alice", "unknown", "alice", "alice"], [UNKNOWN] * 4 + ["alice"]),
        # A persistent change wins once it is the majority of the window.
        (["alice"] * 3 + ["bob"] * 4, ["alice"] * 5 + ["bob"] * 2),
        # A known face fades to unknown the same way.
        (["alice"] * 2 + ["unknown"] * 3, ["alice"] * 4 + [UNKNOWN]),
    ],
)
def test_label_is_rolling_mode_of_last_k(votes, shown):
    assert record_sequence(votes) == shown


@pytest.mark.parametrize(
    "votes,shown",
    [
        # A name is shown from its second vote, not its first.
        (["alice", "alice", "alice"], [UNKNOWN, "alice", "alice"]),
        # One vote for bob among unknowns never shows bob.
        (["unknown", "bob", "unknown", "unknown"], [UNKNOWN] * 4),
        # Two disagreeing names: neither has two votes yet.
        (["alice", "bob", "bob"], [UNKNOWN, UNKNOWN, "bob"]),
        # A shown name keeps winning ties, as without agreement.
        (["alice", "alice", "bob", "bob"], [UNKNOWN, "alice", "alice", "alice"]),
    ],
)
def test_with_agree_two_a_name_needs_two_votes(votes, shown):
    assert record_sequence(votes, agree=2) == shown


def test_agree_is_capped_by_a_smaller_window():
    assert record_sequence(["a", "b", "a"], window=1, agree=2) == ["a", "b", "a"]


def test_window_one_shows_the_latest():
    assert record_sequence(["a", "b", "a"], window=1) == ["a", "b", "a"]


def test_old_votes_leave_the_window():
    # Window 3: after three bobs the alices are gone entirely.
    assert record_sequence(["alice"] * 5 + ["bob"] * 3, window=3)[-1] == "bob"


def test_distance_is_latest_agreeing_with_label():
    tracker = Tracker(TrackerOptions(refresh_every=1))
    ids, _ = tracker.update(boxes(A))
    tid = int(ids[0])
    tracker.record(tid, "alice", 0.30)
    tracker.record(tid, "alice", 0.35)
    tracker.record(tid, "bob", 0.2)
    track = tracker.track(tid)
    assert track.label == "alice" and track.distance == pytest.approx(0.35)
    assert track.recognitions == 3


def test_empty_frames_and_bad_boxes():
    tracker = Tracker()
    ids, need = tracker.update(np.zeros((0, 4), np.float32))
    assert ids.shape == (0,) and need.shape == (0,) and need.dtype == bool
    names, dists = tracker.labels(ids)
    assert names == [] and dists.shape == (0,)
    with pytest.raises(InvalidArgumentError, match=r"shape \(_, 4\)"):
        tracker.update(np.zeros((3,), np.float32))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iou_threshold": 0},
        {"iou_threshold": 1.5},
        {"refresh_every": 0},
        {"vote_window": 0},
        {"max_missed": -1},
        {"agree": 0},
    ],
)
def test_options_are_checked(kwargs):
    with pytest.raises(InvalidArgumentError):
        TrackerOptions(**kwargs)
