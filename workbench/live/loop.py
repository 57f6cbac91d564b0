"""The threaded live loop: capture, detect, track, recognize, publish.

Two threads, so the video never waits for the neural network::

    capture thread:  source -> one-slot "latest frame" buffer (an unread frame is
                     replaced by the newer one and counted as dropped; for a lossless
                     source such as a video file, the capture thread waits instead)
    worker thread:   latest frame -> detect -> track (IoU) -> embed only new or stale
                     tracks -> identify -> LiveResult -> callbacks + latest() slot

``stop()`` (or leaving the ``with`` block) closes the source, joins both threads and
re-raises the first exception either thread hit. A source that ends (file over, camera
unplugged) ends the loop normally; ``end_reason`` says why.

Example:
    >>> with LiveRecognizer(source, recognizer, on_result=print) as live:  # doctest: +SKIP
    ...     live.wait(timeout=10)
    >>> live.stats().processed_fps  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InvalidArgumentError, SourceError
from workbench.faces import UNKNOWN, FaceDetections, is_named
from workbench.live.sources import END_OF_STREAM, Frame, FrameSource
from workbench.live.tracking import Tracker, TrackerOptions
from workbench.pipeline import too_small

if TYPE_CHECKING:
    from workbench.gallery.search import Match
    from workbench.recognize import Recognizer

#: ``end_reason`` after ``stop()`` ended a loop whose source was still delivering.
STOPPED = "stopped"
#: How many recent end-to-end latencies the percentiles are computed over; bounded so a
#: loop left running for hours holds constant memory.
LATENCY_WINDOW = 10_000
#: Processed frames between two searches of every tile for small faces (see
#: ``LiveRecognizer(search_every=)``); chosen on crowd_walk.mp4 in docs/benchmarks/live.md.
SEARCH_EVERY = 5


@dataclass(frozen=True)
class Timings:
    """Where one frame's time went, in milliseconds.

    Attributes:
        detect_ms: the detector.
        embed_ms: alignment and embedding of the faces that needed it (0 when none did).
        search_ms: the gallery search (0 when nothing was embedded).
        process_ms: the worker's whole step, tracking and publishing included.
        latency_ms: from the frame's capture to its result's publication, so it includes
            the time the frame waited in the buffer.
    """

    detect_ms: float
    embed_ms: float
    search_ms: float
    process_ms: float
    latency_ms: float


@dataclass(frozen=True, eq=False)
class LiveResult:
    """The recognition of one frame: :class:`workbench.recognize.Recognition`'s faces and
    matches, smoothed per track, with the frame and the tracking columns.

    Attributes:
        frame_id: the frame's index in its source.
        boxes: ``(n, 4)`` float32 face boxes ``x1, y1, x2, y2`` in pixels.
        names: ``n`` labels (a name, ``"X or Y?"`` between two look-alikes, or
            ``"unknown"``), smoothed per track; :attr:`named` says which name one person.
        distances: ``(n,)`` float32 distance backing each label (NaN when none does).
        track_ids: ``(n,)`` int64 track id per face (-1 when tracking is off).
        embedded: ``(n,)`` bool, which faces were embedded on this frame.
        timings: where the time went.
        image: ``(H, W, 3)`` uint8 RGB frame the result belongs to (not a copy: do not
            draw on it in place if another consumer reads it).
        timestamp: the frame's capture time, ``time.monotonic()`` seconds.
        detections: the frame's :class:`FaceDetections` as the detector returned them
            (``boxes`` is their ``xyxy``; scores and keypoints too), so a consumer never
            detects the frame again; ``None`` in a result built by hand.
        embeddings: ``(embedded.sum(), 128)`` float32 embeddings of the faces embedded on
            this frame, in face order (``None`` in a result built by hand); the keeper of
            unknown faces stores these.
        too_small: ``(n,)`` bool, faces below the recognizer's ``min_face_px``: kept
            ``unknown`` however near a gallery face (``None`` in a result built by hand).
        candidates: per face, the two look-alikes ``(X, Y)`` of an ``"X or Y?"`` label,
            nearest first, else ``None`` (``None`` in a result built by hand).
        recognized: this frame's own recognitions, one label per embedded face in face
            order, before the track's vote: a new track's first name shows as
            ``"unknown"`` in :attr:`names` until a second recognition agrees, but the face
            was still recognized (``None`` in a result built by hand).
    """

    frame_id: int
    boxes: np.ndarray
    names: tuple[str, ...]
    distances: np.ndarray
    track_ids: np.ndarray
    embedded: np.ndarray
    timings: Timings
    image: np.ndarray
    timestamp: float
    detections: FaceDetections | None = None
    embeddings: np.ndarray | None = field(default=None, repr=False)
    too_small: np.ndarray | None = None
    candidates: tuple[tuple[str, str] | None, ...] | None = None
    recognized: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def named(self) -> np.ndarray:
        """``(n,)`` bool, the faces whose label names one person (not ``"unknown"``,
        not ``"X or Y?"``)."""
        return np.array([is_named(n) for n in self.names], bool).reshape(len(self))

    def candidates_of(self, i: int) -> tuple[str, str] | None:
        """The two look-alikes of face ``i`` when its label is ``"X or Y?"``."""
        return None if self.candidates is None else self.candidates[i]

    @property
    def matches(self) -> list[Match]:
        """One :class:`Match` per face, as :attr:`Recognition.matches`: the smoothed
        label (accepted when it names one person; an ``"X or Y?"`` is a match with a
        ``rival``) and the distance backing it."""
        from workbench.gallery.search import Match

        out = []
        for i, (name, d) in enumerate(zip(self.names, self.distances, strict=True)):
            pair = self.candidates_of(i)
            if pair is not None:
                out.append(Match(pair[0], float(d), False, rival=pair[1]))
            elif is_named(name):
                out.append(Match(name, float(d), True))
            else:
                out.append(Match(None, float(d), False))
        return out

    def is_too_small(self, i: int) -> bool:
        """Whether face ``i`` is below the recognizer's size gate (drawn, not named)."""
        return bool(self.too_small is not None and self.too_small[i])

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values for JSON (the image left out)."""
        return {
            "frame_id": self.frame_id,
            "faces": [
                {
                    "track_id": int(self.track_ids[i]),
                    # As `workbench recognize --json`: a name only when confident.
                    "name": self.names[i] if is_named(self.names[i]) else UNKNOWN,
                    "distance": None
                    if np.isnan(self.distances[i])
                    else round(float(self.distances[i]), 4),
                    "box": [round(float(v), 1) for v in self.boxes[i]],
                    "embedded": bool(self.embedded[i]),
                    "too_small": self.is_too_small(i),
                    "candidates": None
                    if self.candidates_of(i) is None
                    else list(self.candidates_of(i)),
                }
                for i in range(len(self))
            ],
            "timings": {k: round(v, 3) for k, v in asdict(self.timings).items()},
        }


@dataclass(frozen=True)
class LiveStats:
    """Counters and rates of a loop, as of the moment they were read.

    Attributes:
        frames_captured: frames the source delivered.
        frames_processed: frames the worker recognized.
        frames_dropped: frames replaced in the buffer before the worker took them (and
            one left there at stop): captured = processed + dropped once stopped. Zero
            for a lossless loop that ran to the end of its source.
        faces: faces detected over all processed frames.
        embeddings: faces embedded; ``faces - embeddings`` is what tracking saved.
        capture_fps: frames captured per second since start.
        processed_fps: frames processed per second since start.
        detect_ms: mean detector time per processed frame.
        embed_ms: mean embedding time per processed frame.
        search_ms: mean gallery search time per processed frame.
        process_ms: mean worker step per processed frame.
        latency_p50_ms: median capture-to-publish latency over the last
            :data:`LATENCY_WINDOW` frames.
        latency_p95_ms: 95th percentile of the same.
        elapsed_s: seconds from start to now, or to the worker's end.
        end_reason: why the loop ended, ``None`` while it runs.
        gallery_problem: why the gallery's store cannot be reached now (a PostgreSQL
            server gone: names then come from the gallery's last snapshot), else ``None``.
        gallery_outages: times the gallery lost its store since it was opened.
    """

    frames_captured: int
    frames_processed: int
    frames_dropped: int
    faces: int
    embeddings: int
    capture_fps: float
    processed_fps: float
    detect_ms: float
    embed_ms: float
    search_ms: float
    process_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    elapsed_s: float
    end_reason: str | None
    gallery_problem: str | None = None
    gallery_outages: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain values, floats rounded, ready for JSON."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


class _LatestSlot:
    """A one-slot buffer: ``put`` replaces an unread item (counted), ``get`` blocks.

    With ``lossless``, ``put`` waits until the slot is empty instead, so nothing is
    replaced; ``close()`` wakes a waiting ``put`` (its item then counts as dropped).
    """

    def __init__(self, *, lossless: bool = False) -> None:
        self._cond = threading.Condition()
        self._item: Frame | None = None
        self._closed = False
        self.lossless = lossless
        self.dropped = 0

    def put(self, item: Frame) -> None:
        with self._cond:
            while self.lossless and self._item is not None and not self._closed:
                self._cond.wait()
            if self._closed:
                self.dropped += 1
                return
            if self._item is not None:
                self.dropped += 1
            self._item = item
            # Both sides wait on this condition: wake the getter (and nobody else waits).
            self._cond.notify_all()

    def get(self) -> Frame | None:
        """The newest item; ``None`` once closed and empty."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            item, self._item = self._item, None
            # A lossless put may be waiting for the slot to empty.
            self._cond.notify_all()
            return item

    def close(self, *, discard: bool = False) -> None:
        """No more puts; ``discard`` also drops the unread item (counted)."""
        with self._cond:
            self._closed = True
            if discard and self._item is not None:
                self._item = None
                self.dropped += 1
            self._cond.notify_all()


class LiveRecognizer:
    """Recognize faces in a frame source on two background threads.

    Args:
        source: a :class:`~workbench.live.sources.FrameSource`; its ``close()`` must be
            safe to call from another thread (all sources in this package are).
        recognizer: offers ``detect(image) -> FaceDetections``,
            ``embed(image, detections) -> (N, 128) float32`` and
            ``identify(embeddings) -> list[Match]`` (``workbench.recognize.Recognizer``).
        tracking: tracker knobs; ``None`` turns tracking off, so every face of every
            processed frame is embedded and shown unsmoothed (the baseline).
        on_result: called with each :class:`LiveResult`, on the worker thread; keep it
            quick. An exception in it stops the loop and is re-raised by ``stop()``.
        close_source: close the source at ``stop()`` (the loop owns it by default).
        warm_up: run the recognizer once on a synthetic frame in ``start()``, before the
            threads start, so model loading (seconds) is neither counted as latency nor
            paid for with a backlog of dropped frames; errors in it (a bad gallery, a
            missing model) are raised by ``start()`` directly.
        join_timeout_s: how long ``stop()`` waits for each thread before giving up with
            a :class:`~workbench.errors.SourceError` (a source stuck in a read).
        search_every: with tracking on and a detector whose small-face search can
            narrow to expected faces (MediaPipe ``auto``/``tiled``,
            :attr:`~workbench.recognize.Recognizer.searches_near`), the search over
            the whole frame's tiles runs on every N-th processed frame only; the frames
            between search the whole frame at full range and a tile around each live
            track, so faces already followed are kept and a new far face waits at most
            N - 1 frames (:data:`SEARCH_EVERY`; 1 searches every tile on every frame).
        lossless: process every frame: the capture thread waits for the worker instead
            of replacing an unread frame, so ``frames_processed == frames_captured`` at
            the end. ``None`` (default) asks the source (its ``lossless`` attribute:
            true for a video file decoded as fast as it goes, false for cameras, URLs
            and ``realtime`` playback, where dropping keeps the result current).

    Raises:
        InvalidArgumentError: ``join_timeout_s`` is not positive.
    """

    def __init__(
        self,
        source: FrameSource,
        recognizer: Recognizer,
        *,
        tracking: TrackerOptions | None = TrackerOptions(),  # noqa: B008 (frozen, immutable)
        on_result: Callable[[LiveResult], None] | None = None,
        close_source: bool = True,
        warm_up: bool = True,
        join_timeout_s: float = 15.0,
        lossless: bool | None = None,
        search_every: int = SEARCH_EVERY,
    ) -> None:
        if join_timeout_s <= 0:
            raise InvalidArgumentError(f"join_timeout_s must be > 0, but got {join_timeout_s}")
        if search_every < 1:
            raise InvalidArgumentError(f"search_every must be >= 1, but got {search_every}")
        self.search_every = int(search_every)
        self.source = source
        self.recognizer = recognizer
        self.tracker = Tracker(tracking) if tracking is not None else None
        self.close_source = close_source
        self._warm_up = warm_up
        self.join_timeout_s = float(join_timeout_s)
        self._callbacks: list[Callable[[LiveResult], None]] = []
        if on_result is not None:
            self._callbacks.append(on_result)
        if lossless is None:
            lossless = bool(getattr(source, "lossless", False))
        self.lossless = lossless
        self._slot = _LatestSlot(lossless=lossless)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the counters, the latest slot and errors
        self._latest: LiveResult | None = None
        self._error: BaseException | None = None
        self._error_raised = False
        self._end_reason: str | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        self._t_start = 0.0
        self._t_end: float | None = None
        self._captured = 0
        self._processed = 0
        self._faces = 0
        self._embeddings = 0
        self._sum_detect = self._sum_embed = self._sum_search = self._sum_process = 0.0
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    # Lifecycle -------------------------------------------------------------------------

    def start(self) -> LiveRecognizer:
        """Start the capture and worker threads; returns ``self``.

        Raises:
            InvalidArgumentError: the loop was started before (make a new one instead).
            Exception: whatever the recognizer raises during the warm-up (the source is
                closed then, when the loop owns it).
        """
        if self._started:
            raise InvalidArgumentError("this LiveRecognizer was already started; make a new one")
        if self._warm_up:
            try:
                warm_up(self.recognizer)
            except BaseException:
                # A loop that never ran must not keep a camera open behind the caller.
                if self.close_source:
                    self.source.close()
                raise
        self._started = True
        self._t_start = time.monotonic()
        self._threads = [
            threading.Thread(target=self._capture_main, name="workbench-live-capture"),
            threading.Thread(target=self._worker_main, name="workbench-live-worker"),
        ]
        for thread in self._threads:
            # Daemon so a forgotten loop cannot keep the interpreter alive at exit;
            # stop() still joins them.
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        """Stop, close the source, join every thread, and re-raise a thread's exception.

        Idempotent; the exception is raised once. Called from a callback (the worker
        thread) it only signals the stop, since a thread cannot join itself.

        Raises:
            SourceError: a thread did not finish within ``join_timeout_s``.
            BaseException: the first exception raised in the capture or worker thread.
        """
        if not self._started:
            return
        with self._lock:
            if self._end_reason is None:
                self._end_reason = STOPPED
        self._stop.set()
        self._slot.close(discard=True)
        if self.close_source:
            # Wakes a capture thread blocked in a read (sources make this thread-safe).
            self.source.close()
        current = threading.current_thread()
        if current in self._threads:
            return
        stuck = []
        for thread in self._threads:
            thread.join(self.join_timeout_s)
            if thread.is_alive():
                stuck.append(thread.name)
        self._raise_error_once()
        if stuck:
            raise SourceError(
                f"live loop threads did not stop within {self.join_timeout_s:g} s: "
                f"{', '.join(stuck)} (a source stuck in a read?)"
            )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has finished (source ended, error, or stop).

        Returns:
            True when it has finished, False when ``timeout`` seconds passed first.
        """
        if not self._started:
            return True
        worker = self._threads[1]
        worker.join(timeout)
        return not worker.is_alive()

    def __enter__(self) -> LiveRecognizer:
        if not self._started:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
            return
        # The body's own exception matters more; a thread's stays readable in .error.
        try:
            self.stop()
        except BaseException:
            pass

    # Reading ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return bool(self._threads) and self._threads[1].is_alive()

    @property
    def error(self) -> BaseException | None:
        """The first exception raised in a loop thread, ``None`` if none was."""
        with self._lock:
            return self._error

    @property
    def end_reason(self) -> str | None:
        """Why the loop ended (the source's reason, ``"stopped"``, or the error)."""
        with self._lock:
            return self._end_reason

    def latest(self) -> LiveResult | None:
        """The most recent result (``None`` before the first). Safe from any thread."""
        with self._lock:
            return self._latest

    def stats(self) -> LiveStats:
        """A consistent snapshot of the counters and rates. Safe from any thread."""
        gallery = getattr(self.recognizer, "gallery", None)
        with self._lock:
            end = self._t_end if self._t_end is not None else time.monotonic()
            elapsed = max(end - self._t_start, 1e-9) if self._started else 0.0
            n = self._processed
            lat = np.fromiter(self._latencies, np.float64, len(self._latencies))
            p50, p95 = np.percentile(lat, [50, 95]).tolist() if lat.size else [0.0, 0.0]
            return LiveStats(
                frames_captured=self._captured,
                frames_processed=n,
                frames_dropped=self._slot.dropped,
                faces=self._faces,
                embeddings=self._embeddings,
                capture_fps=self._captured / elapsed if elapsed else 0.0,
                processed_fps=n / elapsed if elapsed else 0.0,
                detect_ms=self._sum_detect / n if n else 0.0,
                embed_ms=self._sum_embed / n if n else 0.0,
                search_ms=self._sum_search / n if n else 0.0,
                process_ms=self._sum_process / n if n else 0.0,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                elapsed_s=elapsed,
                end_reason=self._end_reason,
                gallery_problem=getattr(gallery, "store_problem", None),
                gallery_outages=getattr(gallery, "store_outages", 0),
            )

    # Threads ---------------------------------------------------------------------------

    def _capture_main(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                with self._lock:
                    self._captured += 1
                self._slot.put(frame)
            with self._lock:
                if self._end_reason is None:
                    self._end_reason = getattr(self.source, "reason", None) or END_OF_STREAM
        except BaseException as exc:
            self._fail(exc)
        finally:
            # The worker drains the last frame, then sees the slot closed and ends.
            self._slot.close()

    def _worker_main(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._slot.get()
                if frame is None or self._stop.is_set():
                    break
                result = self._process(frame)
                with self._lock:
                    self._latest = result
                    callbacks = self._callbacks
                for callback in callbacks:
                    callback(result)
        except BaseException as exc:
            self._fail(exc)
        finally:
            with self._lock:
                self._t_end = time.monotonic()

    def _process(self, frame: Frame) -> LiveResult:
        rec = self.recognizer
        t0 = time.perf_counter()
        near = self._expected_faces()
        detections = rec.detect(frame.image) if near is None else rec.detect(frame.image, near=near)
        t1 = time.perf_counter()
        boxes = np.asarray(detections.xyxy, np.float32).reshape(-1, 4)
        n = len(boxes)
        if self.tracker is not None:
            track_ids, needs = self.tracker.update(boxes)
        else:
            track_ids, needs = np.full(n, -1, np.int64), np.ones(n, bool)
        todo = np.flatnonzero(needs)
        embed_s = search_s = 0.0
        matches: list = []
        embeddings = np.zeros((0, 128), np.float32)
        if len(todo):
            t2 = time.perf_counter()
            if getattr(rec, "cascade_active", False):
                # The cascade searches between its two models: its time is embed time.
                embeddings, matches = rec.embed_identify(frame.image, detections[todo])
                t3 = t4 = time.perf_counter()
            else:
                embeddings = rec.embed(frame.image, detections[todo])
                t3 = time.perf_counter()
                matches = list(_identify(rec, embeddings, detections[todo]))
                t4 = time.perf_counter()
            embed_s, search_s = t3 - t2, t4 - t3
            if len(matches) != len(todo):
                raise InvalidArgumentError(
                    f"recognizer.identify returned {len(matches)} matches for "
                    f"{len(todo)} embeddings"
                )
        if self.tracker is not None:
            for i, match in zip(todo, matches, strict=True):
                self.tracker.record(
                    int(track_ids[i]), match.label, _dist(match), candidates=_pair(match)
                )
            names, distances = self.tracker.labels(track_ids)
            candidates = self.tracker.candidates(track_ids)
        else:
            names = [m.label for m in matches]
            distances = np.array([_dist(m) for m in matches], np.float32).reshape(n)
            candidates = [_pair(m) for m in matches]
        t_end = time.perf_counter()
        latency_ms = (time.monotonic() - frame.timestamp) * 1000.0
        timings = Timings(
            detect_ms=(t1 - t0) * 1000.0,
            embed_ms=embed_s * 1000.0,
            search_ms=search_s * 1000.0,
            process_ms=(t_end - t0) * 1000.0,
            latency_ms=latency_ms,
        )
        with self._lock:
            self._processed += 1
            self._faces += n
            self._embeddings += len(todo)
            self._sum_detect += timings.detect_ms
            self._sum_embed += timings.embed_ms
            self._sum_search += timings.search_ms
            self._sum_process += timings.process_ms
            self._latencies.append(latency_ms)
        return LiveResult(
            frame_id=frame.index,
            boxes=boxes,
            names=tuple(names),
            distances=distances,
            track_ids=track_ids,
            embedded=needs,
            timings=timings,
            image=frame.image,
            timestamp=frame.timestamp,
            detections=detections,
            embeddings=embeddings,
            # The same rule as Recognizer.identify, for every face (not only embedded ones).
            too_small=too_small(boxes, getattr(rec, "min_face_px", 0.0)),
            candidates=tuple(candidates),
            recognized=tuple(m.label for m in matches),
        )

    def _expected_faces(self) -> np.ndarray | None:
        """The recent tracks' boxes when this frame's small-face search may narrow to them,
        else ``None`` (a full search: every ``search_every``-th frame, the first, and
        whenever tracking is off or the detector cannot narrow)."""
        tracker = self.tracker
        if tracker is None or self.search_every <= 1:
            return None
        if (tracker.step + 1) % self.search_every == 0:
            return None
        if not getattr(self.recognizer, "searches_near", False):
            return None
        # Tracks seen in one of the last two frames: a track missed for longer is likely
        # gone, and the detector searches every tile when most expected faces are missing.
        recent = [t.box for t in tracker.tracks if tracker.step - t.last_seen <= 1]
        return np.array(recent, np.float32).reshape(-1, 4)

    def _fail(self, exc: BaseException) -> None:
        """Record the first thread exception and bring the whole loop down."""
        with self._lock:
            if self._error is None:
                self._error = exc
                self._end_reason = f"error: {type(exc).__name__}: {exc}"
        self._stop.set()
        self._slot.close(discard=True)
        if self.close_source:
            try:
                self.source.close()
            except Exception:
                # The first error is the one to report; a second from close() adds noise.
                pass

    def _raise_error_once(self) -> None:
        with self._lock:
            error = self._error
            if error is None or self._error_raised:
                return
            self._error_raised = True
        raise error


def warm_up(recognizer: Recognizer) -> None:
    """Run detect, embed and identify on a synthetic 640x480 frame with made-up faces, so
    lazily loaded models load now.

    Embedding runs for one face and for two: the embedder compiles once per (padded)
    batch size, 0.5-1 s each on two cores, and one or two faces are the common case at a
    webcam. Larger groups still pay that once, on their first frame.
    """
    from workbench.faces import FaceDetections

    image = np.full((480, 640, 3), 128, np.uint8)
    recognizer.detect(image)
    # A frontal face's five points in a 200 px box: eyes, nose, mouth corners.
    keypoints = np.array([[270, 200], [370, 200], [320, 250], [280, 290], [360, 290]])
    box = np.array([220, 140, 420, 340])
    for n in (1, 2):
        shift = np.arange(n)[:, None] * 10  # distinct boxes, same face size
        faces = FaceDetections(
            (box[None] + shift).astype(np.float32),
            np.ones(n, np.float32),
            (keypoints[None] + shift[:, :, None]).astype(np.float32),
        )
        recognizer.identify(recognizer.embed(image, faces))


def _identify(rec, embeddings: np.ndarray, detections: FaceDetections) -> list:
    """``rec.identify`` with the faces' boxes (the size gate of
    :meth:`workbench.recognize.Recognizer.identify`), for recognizers that take them."""
    import inspect

    # A stand-in recognizer (tests, notebooks) may have the older one-argument identify.
    if "detections" in inspect.signature(rec.identify).parameters:
        return rec.identify(embeddings, detections=detections)
    return rec.identify(embeddings)


def _dist(match: Match) -> float:
    """A match's distance as a float (NaN when the match carries none)."""
    return float("nan") if match.distance is None else float(match.distance)


def _pair(match: Match) -> tuple[str, str] | None:
    """The two look-alikes of an ``"X or Y?"`` match (``None`` for any other, and for a
    recognizer's own match type that has no such notion)."""
    pair = getattr(match, "candidates", None)
    return None if pair is None else (str(pair[0]), str(pair[1]))
