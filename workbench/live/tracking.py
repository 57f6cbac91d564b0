"""IoU tracking of faces across frames, with per-track label smoothing.

The tracker decides which faces need the embedder: a face matched to a track that was
embedded recently reuses that track's label, so a steady face costs one detection per
frame and one embedding every ``refresh_every`` frames. Each track keeps its last
``vote_window`` recognitions and shows their rolling mode, keeping its current label on a
tie, so one bad frame does not flip a name and an unknown face stays unknown until most
of the recent votes name someone.

Ages are counted in tracker updates (processed frames), not in source frame numbers: when
the loop drops frames because recognition is slower than the source, a frame-number age
would call every track stale on every processed frame and embed all faces all the time,
exactly when the time is shortest.

Pure Python and numpy; the loop calls it from one thread only.

A name is shown once ``agree`` (2) recognitions say it: the first one asks for a second
on the next frame, after which the track is embedded every ``refresh_every`` frames.

Example:
    >>> import numpy as np
    >>> tracker = Tracker(TrackerOptions(vote_window=3))
    >>> ids, need = tracker.update(np.array([[0, 0, 10, 10]], np.float32))
    >>> need.tolist()
    [True]
    >>> tracker.record(int(ids[0]), "alice", 0.4)
    'unknown'
    >>> tracker.update(np.array([[1, 0, 11, 10]], np.float32))[1].tolist()
    [True]
    >>> tracker.record(int(ids[0]), "alice", 0.41)
    'alice'
    >>> tracker.update(np.array([[2, 0, 12, 10]], np.float32))[1].tolist()
    [False]
    >>> tracker.track(int(ids[0])).label
    'alice'
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.faces import UNKNOWN, box_iou


@dataclass(frozen=True)
class TrackerOptions:
    """Tracking and smoothing knobs.

    Attributes:
        iou_threshold: minimum box overlap for a detection to continue a track.
        max_missed: updates a track survives without a matching detection (a missed
            detection or a brief occlusion keeps the name).
        refresh_every: a track is embedded again when its last embedding is at least this
            many updates old (1 embeds every face every frame).
        vote_window: K, how many recent recognitions the label vote looks at (1 shows
            the latest recognition unsmoothed).
        agree: a track shows a name (or an ``"X or Y?"``) only once at least this many
            of its last K recognitions say it; until then it shows unknown, and it is
            embedded again on the next update instead of ``refresh_every`` later, so a
            true person is named one processed frame later than with 1 (a stranger
            who resembles someone in one frame only, often the one frame of a short
            track, stays unknown). 1 names a track from its first recognition.
    """

    iou_threshold: float = 0.3
    max_missed: int = 10
    refresh_every: int = 10
    vote_window: int = 5
    agree: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise InvalidArgumentError(
                f"iou_threshold must be in (0, 1], but got {self.iou_threshold}"
            )
        for name in ("refresh_every", "vote_window", "agree"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, but got {getattr(self, name)}")
        if self.max_missed < 0:
            raise InvalidArgumentError(f"max_missed must be >= 0, but got {self.max_missed}")


@dataclass(eq=False)
class Track:
    """One face followed across frames.

    Attributes:
        id: unique within the tracker, increasing from 1.
        box: ``(4,)`` float32 last matched box ``x1, y1, x2, y2``.
        first_step: tracker update at which the track started.
        last_seen: tracker update of the last matched detection.
        last_embedded: tracker update of the last recognition, ``None`` before the first.
        label: the current vote winner (:data:`UNKNOWN` before any recognition; an
            ``"X or Y?"`` label between two look-alikes is a label of its own, so a track
            is named X only when most of its votes say X).
        distance: distance of the most recent recognition that agrees with ``label``
            (NaN when none does).
        candidates: the two look-alikes of an ``"X or Y?"`` ``label`` (from the same
            recognition as ``distance``), else ``None``.
        votes: the last K recognitions as ``(label, distance, candidates)``.
        recognitions: total recognitions recorded for this track.
    """

    id: int
    box: np.ndarray
    first_step: int
    last_seen: int
    last_embedded: int | None = None
    label: str = UNKNOWN
    distance: float = float("nan")
    candidates: tuple[str, str] | None = None
    votes: deque = field(default_factory=deque)
    recognitions: int = 0


class Tracker:
    """Greedy IoU tracker with rolling-mode labels.

    Per frame: :meth:`update` with the detected boxes gives each box a track id and says
    which boxes need an embedding; :meth:`record` stores each recognition made for them;
    :meth:`labels` reads the smoothed names back.

    Args:
        options: tracking knobs; defaults when omitted.
    """

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._step = -1

    @property
    def step(self) -> int:
        """Number of the last :meth:`update` (from 0; -1 before the first)."""
        return self._step

    @property
    def tracks(self) -> list[Track]:
        """Live tracks, oldest first."""
        return list(self._tracks.values())

    def track(self, track_id: int) -> Track:
        """The track with that id.

        Raises:
            KeyError: no live track has that id.
        """
        return self._tracks[track_id]

    def reset(self) -> None:
        """Forget every track (e.g. when the source changes)."""
        self._tracks.clear()

    def update(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Match the next processed frame's boxes to tracks.

        Args:
            boxes: ``(n, 4)`` float32 ``x1, y1, x2, y2`` detections of the frame.

        Returns:
            ``(track_ids, needs_embedding)``: ``(n,)`` int64 track id per box, and
            ``(n,)`` bool, true for boxes of new tracks and of tracks whose last
            embedding is ``refresh_every`` or more updates old.

        Raises:
            InvalidArgumentError: ``boxes`` is not ``(n, 4)``.
        """
        boxes = np.asarray(boxes, np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InvalidArgumentError(
                f"boxes must be a 2D array with shape (_, 4), but got shape {boxes.shape}"
            )
        self._step += 1
        step = self._step
        opts = self.options
        tracks = list(self._tracks.values())
        ids = np.zeros(len(boxes), np.int64)
        matched_tracks: set[int] = set()
        if tracks and len(boxes):
            iou = box_iou(boxes, np.stack([t.box for t in tracks]))
            # Greedy by overlap: with a handful of faces it gives the same pairs as the
            # Hungarian method and needs no scipy.
            order = np.argsort(-iou, axis=None)
            used_boxes: set[int] = set()
            for flat in order:
                b, t = divmod(int(flat), len(tracks))
                if iou[b, t] < opts.iou_threshold:
                    break
                if b in used_boxes or t in matched_tracks:
                    continue
                used_boxes.add(b)
                matched_tracks.add(t)
                track = tracks[t]
                track.box = boxes[b].copy()
                track.last_seen = step
                ids[b] = track.id
        for t, track in enumerate(tracks):
            if t not in matched_tracks and step - track.last_seen > opts.max_missed:
                del self._tracks[track.id]
        for b in np.flatnonzero(ids == 0):
            track = Track(
                id=self._next_id,
                box=boxes[b].copy(),
                first_step=step,
                last_seen=step,
                votes=deque(maxlen=opts.vote_window),
            )
            self._next_id += 1
            self._tracks[track.id] = track
            ids[b] = track.id
        needs = np.array([self._needs_embedding(self._tracks[int(i)]) for i in ids], bool).reshape(
            len(ids)
        )
        return ids, needs

    def _needs_embedding(self, track: Track) -> bool:
        if track.last_embedded is None:
            return True
        age = self._step - track.last_embedded
        if age >= self.options.refresh_every:
            return True
        agree = min(self.options.agree, self.options.vote_window)
        return agree > 1 and age >= 1 and _awaits_agreement(track)

    def record(
        self,
        track_id: int,
        label: str,
        distance: float,
        *,
        candidates: tuple[str, str] | None = None,
    ) -> str:
        """Store one recognition of a track, made on the last updated frame, and re-run
        its vote.

        Args:
            track_id: from :meth:`update`.
            label: ``Match.label`` (a name, ``"X or Y?"``, or :data:`UNKNOWN`).
            distance: the match's distance.
            candidates: ``Match.candidates``: the two look-alikes of an ``"X or Y?"``.

        Returns:
            The track's label after the vote.
        """
        track = self._tracks[track_id]
        track.votes.append((label, float(distance), candidates))
        track.last_embedded = self._step
        track.recognitions += 1
        agree = min(self.options.agree, self.options.vote_window)
        track.label = _vote(track.votes, track.label, agree=agree)
        track.distance, track.candidates = next(
            ((d, c) for lab, d, c in reversed(track.votes) if lab == track.label),
            (float("nan"), None),
        )
        return track.label

    def labels(self, track_ids: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Smoothed names and distances for these track ids.

        Returns:
            ``(names, distances)``: a list of labels and an ``(n,)`` float32 array.
        """
        tracks = [self._tracks[int(i)] for i in track_ids]
        names = [t.label for t in tracks]
        distances = np.array([t.distance for t in tracks], np.float32).reshape(len(tracks))
        return names, distances

    def candidates(self, track_ids: np.ndarray) -> list[tuple[str, str] | None]:
        """The two look-alikes of each of these tracks whose label is ``"X or Y?"``
        (``None`` for the others), in the order of :meth:`labels`."""
        return [self._tracks[int(i)].candidates for i in track_ids]


def _vote(votes: deque, current: str, *, agree: int = 1) -> str:
    """Rolling mode of the votes' labels; a tie keeps ``current`` if it is among the tied,
    else the most recent of the tied labels wins (a newer opinion beats an older one). A
    winner other than :data:`UNKNOWN` said by fewer than ``agree`` votes gives
    :data:`UNKNOWN`."""
    counts = Counter(label for label, *_ in votes)
    best = max(counts.values())
    tied = {label for label, n in counts.items() if n == best}
    winner = current if current in tied else None
    if winner is None:
        winner = next((label for label, *_ in reversed(votes) if label in tied), current)
    if winner != UNKNOWN and counts[winner] < agree:
        return UNKNOWN
    return winner


def _awaits_agreement(track: Track) -> bool:
    """The latest recognition names someone the track does not show yet (too few votes
    agree): one more recognition settles it sooner than the regular refresh would."""
    return bool(track.votes) and track.votes[-1][0] not in (UNKNOWN, track.label)
