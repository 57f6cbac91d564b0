"""``workbench live SOURCE --gallery FILE [--detector NAME] [--seconds N] [--json]``.

Runs the threaded live loop headless on a camera index, a video file or a stream URL,
prints each recognition once it has settled (the same label for a track over
:data:`SETTLE_RESULTS` results in a row), and ends with one summary line per track and
the loop's stats. With ``--json`` it prints one JSON object at the end instead: the
settled recognitions, the tracks and the stats. Ctrl-C ends the run like the end of the
source does, stats included.

A video file is processed whole by default (every frame, none dropped; the reader waits
for the recognizer); ``--realtime`` plays it at its own rate as a camera would, keeping
only the newest frame when the recognizer falls behind. Cameras and URLs are live.
"""

from __future__ import annotations

import argparse
import queue
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workbench.cli import GALLERY_HELP, add_detector_arguments

#: Results in a row a track must keep its label before the command reports it.
SETTLE_RESULTS = 3
#: Frames after which a track not seen any more is forgotten by the printer.
FORGET_AFTER_FRAMES = 300


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "live",
        help="recognize faces live in a camera, video file or stream",
        description=(
            "Recognize faces in a camera (an index such as 0), a video file or a stream "
            "URL on background threads; print recognitions as they settle, then stats."
        ),
    )
    p.add_argument("source", metavar="SOURCE", help="camera index, video file, or URL")
    p.add_argument("--gallery", required=True, metavar="GALLERY", help=GALLERY_HELP)
    add_detector_arguments(p)
    p.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds")
    p.add_argument(
        "--realtime",
        action="store_true",
        help=(
            "play a video file at its own frame rate as a camera would, dropping frames "
            "the recognizer cannot keep up with (default: every frame, as fast as it goes)"
        ),
    )
    p.add_argument("--json", action="store_true", help="one JSON object at the end")
    p.add_argument(
        "--no-unknowns",
        action="store_true",
        help="do not keep the unknown tracks' best faces in the gallery for `workbench "
        "cluster` (kept by default, within the gallery's bounds)",
    )
    p.set_defaults(func=run)


def open_source(spec: str, *, realtime: bool = False):
    """A camera for an integer, else a video file or URL.

    Raises:
        SourceError: the source cannot be opened.
    """
    from workbench.live.sources import CameraSource, VideoFileSource

    if spec.strip().isdigit():
        return CameraSource(int(spec))
    return VideoFileSource(spec, realtime=realtime)


def open_recognizer(args: argparse.Namespace):
    """The real recognizer as a context manager (tests replace this function)."""
    from workbench.cli import detector_options
    from workbench.recognize import open_recognizer as _open

    return _open(detector=args.detector, gallery=args.gallery, **detector_options(args))


@dataclass
class _TrackSummary:
    """What the run saw of one track, for the closing summary line."""

    track_id: int
    first_s: float
    last_s: float
    first_frame: int
    last_frame: int
    frames: int = 0
    labels: Counter = field(default_factory=Counter)
    #: The two look-alikes of each "X or Y?" label the track held.
    pairs: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The label the track held on most of its frames (the earlier one on a tie)."""
        return self.labels.most_common(1)[0][0] if self.labels else "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            **_name_fields(self.name, self.pairs.get(self.name)),
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
        }


class _Settler:
    """Turns per-frame results into "track T is NAME" events once a label holds, and
    keeps a summary per track.

    Runs on the worker thread and only queues events; the main thread prints them.

    Args:
        t0: ``time.monotonic()`` the event times count from.
        frame_period_s: for a video file, seconds per frame: track times are then the
            position in the video (meaningful however fast the file was processed);
            ``None`` for a camera or a URL, where they count from ``t0``.
    """

    def __init__(self, t0: float, *, frame_period_s: float | None = None) -> None:
        self.events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.t0 = t0
        self.frame_period_s = frame_period_s
        self._runs: dict[int, tuple[str, int]] = {}
        self._reported: dict[int, str] = {}
        self._last_seen: dict[int, int] = {}
        # Never forgotten: a few numbers per track, read once the worker has stopped.
        self.tracks: dict[int, _TrackSummary] = {}

    def _time_of(self, result) -> float:
        if self.frame_period_s is not None:
            return result.frame_id * self.frame_period_s
        return result.timestamp - self.t0

    def __call__(self, result) -> None:
        seen_s = self._time_of(result) if len(result.names) else 0.0
        for i, name in enumerate(result.names):
            tid = int(result.track_ids[i])
            if tid < 0:  # no tracking: a face has no identity across frames
                continue
            summary = self.tracks.get(tid)
            if summary is None:
                summary = self.tracks[tid] = _TrackSummary(
                    tid, seen_s, seen_s, result.frame_id, result.frame_id
                )
            summary.last_s, summary.last_frame = seen_s, result.frame_id
            summary.frames += 1
            summary.labels[name] += 1
            if result.candidates_of(i) is not None:
                summary.pairs[name] = result.candidates_of(i)
            self._last_seen[tid] = result.frame_id
            prev, run = self._runs.get(tid, (None, 0))
            run = run + 1 if prev == name else 1
            self._runs[tid] = (name, run)
            if run >= SETTLE_RESULTS and self._reported.get(tid) != name:
                self._reported[tid] = name
                distance = float(result.distances[i])
                self.events.put(
                    {
                        "time_s": round(time.monotonic() - self.t0, 3),
                        "frame_id": result.frame_id,
                        "track_id": tid,
                        **_name_fields(name, result.candidates_of(i)),
                        "distance": None if distance != distance else round(distance, 4),
                        "box": [round(float(v), 1) for v in result.boxes[i]],
                        "too_small": result.is_too_small(i),
                    }
                )
        # Forget tracks long gone (the tracker never reuses an id) so memory stays flat.
        horizon = result.frame_id - FORGET_AFTER_FRAMES
        for tid in [t for t, seen in self._last_seen.items() if seen < horizon]:
            del self._last_seen[tid]
            self._runs.pop(tid, None)
            self._reported.pop(tid, None)


def _name_fields(label: str, pair) -> dict[str, Any]:
    """``name`` and ``candidates`` as `workbench recognize --json` gives them: a name only
    when it names one person; an "X or Y?" is ``"unknown"`` with both candidates."""
    from workbench.faces import UNKNOWN, is_named

    return {
        "name": label if is_named(label) else UNKNOWN,
        "candidates": None if pair is None else list(pair),
    }


def run(args: argparse.Namespace) -> int:
    from workbench.cli import print_json_line
    from workbench.errors import InvalidArgumentError
    from workbench.live import LiveRecognizer, VideoFileSource

    if args.seconds is not None and not args.seconds > 0:
        raise InvalidArgumentError(f"--seconds must be > 0, but got {args.seconds}")
    # Open the source first: a wrong path fails before any model loads.
    source = open_source(args.source, realtime=args.realtime)
    events: list[dict[str, Any]] = []
    try:
        with open_recognizer(args) as recognizer:
            gallery = getattr(recognizer, "gallery", None)
            threshold = None if gallery is None else gallery.threshold_info
            if threshold is not None and not args.json:
                print(f"gallery {args.gallery}: {threshold}", flush=True)
            is_file = isinstance(source, VideoFileSource) and not source.is_url
            settler = _Settler(
                time.monotonic(),
                frame_period_s=source.frame_period_s if is_file else None,
            )
            keeper = _keeper(recognizer, args)

            def on_result(result) -> None:
                settler(result)
                if keeper is not None:
                    keeper(result)

            live = LiveRecognizer(source, recognizer, on_result=on_result)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            with live:
                # Times in the printout count from here, after the models have loaded.
                settler.t0 = time.monotonic()
                try:
                    while not live.wait(timeout=0.1):
                        _drain(settler, events, args.json)
                        if deadline is not None and time.monotonic() >= deadline:
                            break
                except KeyboardInterrupt:
                    pass
            # stop() has joined the worker: every event is queued by now.
            _drain(settler, events, args.json)
            stats = live.stats()
            kept = 0
            if keeper is not None:
                keeper.flush()  # the last batch, after the worker has stopped
                kept = keeper.kept
    finally:
        source.close()
    tracks = [settler.tracks[t] for t in sorted(settler.tracks)]
    if args.json:
        print_json_line(
            {
                "source": args.source,
                "threshold": None if threshold is None else threshold.threshold,
                "threshold_source": None if threshold is None else threshold.source,
                "recognitions": events,
                "tracks": [t.to_dict() for t in tracks],
                "stats": stats.to_dict(),
                "unknowns_kept": kept,
            }
        )
        return _exit_code(source.reason)
    clock = "in the video" if settler.frame_period_s is not None else "since start"
    print(f"{len(tracks)} track{'s' if len(tracks) != 1 else ''} (times {clock}):")
    for t in tracks:
        print(
            f"  track {t.track_id:>4}  {t.name}  seen {t.first_s:.2f}-{t.last_s:.2f} s  "
            f"{t.frames} frame{'s' if t.frames != 1 else ''}"
        )
    print(
        f"{stats.frames_processed} of {stats.frames_captured} frames recognized "
        f"({stats.frames_dropped} dropped) in {stats.elapsed_s:.1f} s; ended: {stats.end_reason}"
    )
    print(
        f"capture {stats.capture_fps:.1f} fps, processed {stats.processed_fps:.1f} fps; "
        f"latency p50 {stats.latency_p50_ms:.1f} ms, p95 {stats.latency_p95_ms:.1f} ms"
    )
    print(
        f"per frame: detect {stats.detect_ms:.1f} ms, embed {stats.embed_ms:.1f} ms, "
        f"search {stats.search_ms:.2f} ms; {stats.embeddings} embeddings for "
        f"{stats.faces} faces"
    )
    if kept:
        print(f"kept {kept} unknown face{'s' if kept != 1 else ''} for `workbench cluster`")
    return _exit_code(source.reason)


def _keeper(recognizer, args: argparse.Namespace):
    """The keeper of unknown faces for this run, or ``None`` (``--no-unknowns``, or a
    recognizer without a real gallery)."""
    from workbench.gallery import Gallery
    from workbench.recognize import UnknownsKeeper

    gallery = getattr(recognizer, "gallery", None)
    detector = getattr(recognizer, "detector", None)  # its template aligns the chips
    if args.no_unknowns or not isinstance(gallery, Gallery) or detector is None:
        return None
    keeper = UnknownsKeeper(
        gallery,
        detector=detector,
        source=args.source,
        embedder=getattr(recognizer, "embedder", None),  # completes a fused gallery's faces
    )
    return keeper if keeper.enabled else None


def _exit_code(end_reason: str | None) -> int:
    """0 when the source ended normally (its end, or closed by --seconds or Ctrl-C); a
    source that failed (a truncated file, a camera gone) exits 2 after the output, with
    its reason as the one error line. Takes the source's reason, not the loop's: the
    loop's own errors are raised by ``wait()``."""
    from workbench.errors import SourceError
    from workbench.live.sources import CLOSED, END_OF_STREAM

    if end_reason in (None, END_OF_STREAM, CLOSED):
        return 0
    raise SourceError(end_reason)


def _drain(settler: _Settler, events: list[dict[str, Any]], quiet: bool) -> None:
    while True:
        try:
            event = settler.events.get_nowait()
        except queue.Empty:
            return
        events.append(event)
        if not quiet:
            distance = "" if event["distance"] is None else f"  {event['distance']:.3f}"
            print(
                f"{event['time_s']:7.2f}s  frame {event['frame_id']:>6}  "
                f"track {event['track_id']:>4}  {_shown(event)}{distance}",
                flush=True,
            )


def _shown(event: dict[str, Any]) -> str:
    """An event's label for the text output: the name, ``X or Y?`` or ``unknown``."""
    from workbench.faces import or_label

    pair = event.get("candidates")
    return or_label(*pair) if pair else event["name"]
