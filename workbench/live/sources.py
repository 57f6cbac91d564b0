"""Frame sources for the live loop: any iterable, a video file or URL, a local camera, and
the browser's camera (the streaming :class:`WebcamSource`, or ipywebrtc's snapshots).

Every source is an iterator of :class:`Frame` with ``close()`` and a context manager. A
source that cannot be opened raises :class:`~workbench.errors.SourceError`; a source that
stops delivering (file ends, camera unplugged, browser silent) ends its iteration normally
and says why in ``reason``. ``close()`` may be called from any thread and never blocks: it
never frees a backend under a read in progress (OpenCV is not safe for that); when a read
is in flight, the reading thread releases the backend as soon as that read returns.

Example:
    >>> import numpy as np
    >>> frames = [np.zeros((4, 4, 3), np.uint8)] * 2
    >>> with IterableSource(frames) as source:
    ...     [f.index for f in source], source.reason
    ([0, 1], 'end of stream')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from workbench.errors import InvalidArgumentError, InvalidImageError, SourceError
from workbench.input_files import file_problem

#: ``reason`` of a source whose frames ran out (file end, finite iterable).
END_OF_STREAM = "end of stream"
#: ``reason`` of a source ended by ``close()``.
CLOSED = "closed"


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        timestamp: ``time.monotonic()`` seconds when the frame was captured; the live loop
            measures end-to-end latency from it.
        index: position of the frame in its source, from 0, without gaps for frames the
            source delivered (frames the loop drops still use up their index).
    """

    image: np.ndarray
    timestamp: float
    index: int


@runtime_checkable
class FrameSource(Protocol):
    """What the live loop reads from.

    Iterating yields :class:`Frame` until the source ends; ``reason`` is ``None`` while it
    runs and a short text once it has ended (:data:`END_OF_STREAM`, :data:`CLOSED`, or
    what went wrong). ``close()`` is idempotent and safe from any thread.
    """

    reason: str | None
    #: True when every frame should be processed: the source's frames do not happen on
    #: their own clock (a file decoded as fast as it goes), so the loop's reader waits
    #: for the worker instead of dropping frames. Sources without it count as live.
    lossless: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


class _SourceBase:
    """Shared lifecycle: ``_read()`` returns an RGB image or ``None`` (end, with reason).

    ``_lock`` is held for each read and for the release. ``close()`` only takes it when it
    is free; otherwise the thread holding it (reading) releases once its read returns and
    it sees the closed flag, or when its iterator is closed.
    """

    #: Live by default: a camera's frames keep coming whether or not anyone reads them.
    lossless = False

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._released = False
        self._next_index = 0

    def __iter__(self) -> Iterator[Frame]:
        try:
            while not self._closed.is_set():
                with self._lock:
                    if self._closed.is_set():
                        break
                    item = self._read_frame()
                if item is None:
                    # _read may have set a more precise reason; the first one set wins.
                    self._end(CLOSED if self._closed.is_set() else END_OF_STREAM)
                    return
                image, timestamp = item
                frame = Frame(image, timestamp, self._next_index)
                self._next_index += 1
                yield frame
        finally:
            # Also runs when the consumer abandons the iterator (a ``break``), which is
            # how a close() that found a read in flight gets its release done.
            self._end(CLOSED)

    def _end(self, reason: str) -> None:
        """Record why the source ended (the first reason wins) and release it."""
        if self.reason is None:
            self.reason = reason
        self._closed.set()
        self._release_once()

    def _release_once(self, *, blocking: bool = True) -> None:
        if not self._lock.acquire(blocking=blocking):
            return
        try:
            if not self._released:
                self._released = True
                self._release()
        finally:
            self._lock.release()

    def _read_frame(self) -> tuple[np.ndarray, float] | None:
        """The next image and its timestamp, or None at the end. Sources whose frames
        carry their own capture time override this; the rest implement ``_read``."""
        image = self._read()
        return None if image is None else (image, time.monotonic())

    def _read(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free backend resources; called once, under the read lock."""

    def _wake(self) -> None:
        """Unblock a read waiting for data (sources that wait on events override this)."""

    def close(self) -> None:
        """Stop the source and free what it holds. Idempotent, safe from any thread,
        never blocks (a read in flight elsewhere releases when it returns)."""
        if self.reason is None:
            self.reason = CLOSED
        self._closed.set()
        self._wake()
        self._release_once(blocking=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Interpreter shutdown may have torn down the lock's module already.
        try:
            self.close()
        except Exception:
            pass


class IterableSource(_SourceBase):
    """Frames from any iterable of ``(H, W, 3)`` uint8 RGB arrays or :class:`Frame` objects.

    Arrays are wrapped with the current monotonic time and a running index; ``Frame``
    objects pass through unchanged. An exception raised by the iterable propagates to
    whoever iterates (the live loop surfaces it to its caller).

    Args:
        frames: the frames; a generator is closed when the source closes.
        lossless: the live loop processes every frame (its reader waits for the worker)
            instead of keeping only the newest; off by default, since an iterable may be
            a live feed.

    Raises:
        InvalidImageError: (while iterating) an item that is not an RGB uint8 image.
    """

    def __init__(self, frames: Iterable[np.ndarray | Frame], *, lossless: bool = False) -> None:
        super().__init__()
        self._iterator = iter(frames)
        self.lossless = bool(lossless)

    def __iter__(self) -> Iterator[Frame]:
        try:
            while not self._closed.is_set():
                with self._lock:
                    if self._closed.is_set():
                        break
                    try:
                        item = next(self._iterator)
                    except StopIteration:
                        item = None
                if item is None:
                    self._end(END_OF_STREAM)
                    return
                if isinstance(item, Frame):
                    self._next_index = item.index + 1
                    yield item
                    continue
                frame = Frame(_check_rgb(item), time.monotonic(), self._next_index)
                self._next_index += 1
                yield frame
        finally:
            self._end(CLOSED)

    def _release(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:
                # "generator already executing": it is being read elsewhere; the flag
                # set by close() stops the next read instead.
                pass


class _CaptureSource(_SourceBase):
    """A ``cv2.VideoCapture`` read to RGB; subclasses say how to open it."""

    #: Consecutive failed reads tolerated before the source ends: cameras drop a frame now
    #: and then, and ending the loop on the first miss would be too eager.
    max_failed_reads = 1

    def __init__(self) -> None:
        super().__init__()
        self._capture: Any = None
        self._fail_reason = END_OF_STREAM

    def _read(self) -> np.ndarray | None:
        import cv2

        for _ in range(self.max_failed_reads):
            ok, bgr = self._capture.read()
            if ok and bgr is not None:
                if bgr.ndim == 2:
                    return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.reason = self.reason or self._failure()
        return None

    def _failure(self) -> str:
        """The reason to record when a read fails."""
        return self._fail_reason

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @property
    def fps(self) -> float:
        """Frame rate the backend reports (0.0 when it does not know)."""
        import cv2

        with self._lock:
            if self._capture is None:
                return 0.0
            return float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)


class VideoFileSource(_CaptureSource):
    """A video file or a stream URL (anything FFmpeg opens), decoded with OpenCV.

    A file read as fast as it decodes is :attr:`lossless`: the live loop processes every
    frame of it. A file played with ``realtime`` and a URL are live: the loop keeps the
    newest frame and counts the others as dropped, as with a camera.

    Args:
        path_or_url: a local file path, or a URL such as ``rtsp://`` or ``http://``.
        realtime: pace frames at the video's own frame rate (as a camera would deliver
            them) instead of as fast as they decode.
        open_timeout_s: how long FFmpeg may take to open a URL, and to wait for each
            frame of it, before the source gives up (so a dead stream never hangs).

    Raises:
        SourceError: the file does not exist or cannot be decoded, or the URL cannot be
            opened.
        InvalidArgumentError: ``open_timeout_s`` is not positive.
    """

    def __init__(
        self, path_or_url: str | Path, *, realtime: bool = False, open_timeout_s: float = 10.0
    ) -> None:
        import cv2

        super().__init__()
        if open_timeout_s <= 0:
            raise InvalidArgumentError(f"open_timeout_s must be > 0, but got {open_timeout_s}")
        self.name = str(path_or_url)
        is_url = "://" in self.name
        problem = None if is_url else file_problem(self.name, kind="video file")
        if problem == "no such file":
            raise SourceError(f"video file not found: {self.name}")
        if problem is not None:  # a link loop, FIFO (would block), folder, empty file...
            raise SourceError(f"video file {self.name}: {problem}")
        timeout_ms = int(open_timeout_s * 1000)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            timeout_ms,
        ]
        capture = cv2.VideoCapture(self.name, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            what = "stream" if is_url else "video file"
            why = (None if is_url else _container_problem(self.name)) or (
                "FFmpeg could not open or decode it"
            )
            raise SourceError(f"cannot open {what} {self.name}: {why}")
        self._capture = capture
        self._fail_reason = END_OF_STREAM
        self.realtime = realtime
        self.is_url = is_url
        self.lossless = not realtime and not is_url
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        # Some containers report 0 or absurd rates; 30 is what a camera would give.
        self._period = 1.0 / fps if 1.0 <= fps <= 240.0 else 1.0 / 30.0
        self._t0: float | None = None
        #: Frames the container's index promises (0: unknown, e.g. a stream).
        self.frame_count = 0 if is_url else max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def _failure(self) -> str:
        # A file cut short (a copy that stopped, a download in progress) fails its next
        # read just as a file at its end does; the index tells them apart. Estimated
        # counts (containers without an index) can be off by a frame or two, hence 1%.
        read = self._next_index
        if self.frame_count and read < self.frame_count * 0.99 - 1:
            return (
                f"{self.name}: the video ended after {read} of its {self.frame_count} "
                "frames (the file is truncated or damaged)"
            )
        return END_OF_STREAM

    def _read(self) -> np.ndarray | None:
        image = super()._read()
        if image is not None and self.realtime:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            due = self._t0 + self._next_index * self._period
            # Sleep in short steps so close() from another thread is honoured quickly.
            while now < due and not self._closed.is_set():
                time.sleep(min(due - now, 0.05))
                now = time.monotonic()
        return image

    @property
    def frame_period_s(self) -> float:
        """Seconds between frames in the video (1/30 when the container's rate is absurd);
        frame ``i`` is at ``i * frame_period_s`` in the video."""
        return self._period

    def __repr__(self) -> str:
        return f"VideoFileSource({self.name!r}, realtime={self.realtime})"


class CameraSource(_CaptureSource):
    """A camera attached to the machine the kernel runs on (``cv2.VideoCapture(index)``).

    Args:
        index: the camera's index (0 for the first one).
        width: requested frame width in pixels; the camera may pick the nearest it has.
        height: requested frame height in pixels.

    Raises:
        SourceError: no camera at that index, or it is busy or not permitted.
    """

    max_failed_reads = 5

    def __init__(self, index: int = 0, *, width: int | None = None, height: int | None = None):
        import cv2

        super().__init__()
        self.index = int(index)
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open camera {self.index}: no such device, or it is busy or not "
                "permitted (the camera must be on the machine the kernel runs on)"
            )
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        self._capture = capture
        self._fail_reason = f"camera {self.index} stopped delivering frames (unplugged?)"

    def __repr__(self) -> str:
        return f"CameraSource({self.index})"


class BrowserCameraSource(_SourceBase):
    """The browser's webcam through ipywebrtc: a ``CameraStream`` and an ``ImageRecorder``.

    The recorder takes one snapshot each time its ``recording`` trait turns true and turns
    it back to false when the image has arrived, so this source takes the image and
    re-arms it on every false for continuous capture. The widget callback runs where the
    kernel handles comm messages (a subshell thread in JupyterLab 4.6 with ipykernel 7,
    the main thread with older kernels, where frames arrive only while no cell runs: run
    the loop on its threads, not in a blocking cell) and only stores the encoded bytes;
    decoding happens in the thread that iterates. Only the newest snapshot is kept.

    Measured in headless Chromium with a fake camera (``benchmarks/live.py
    --browser-seconds``): about one frame a second reaches the kernel, in bursts with
    multi-second waits inside ipywebrtc's snapshot; fine for enrolling a face, too slow
    for smooth live video.

    Args:
        camera: an ``ipywebrtc.CameraStream`` (shown in the notebook by the caller).
        recorder: an ``ipywebrtc.ImageRecorder`` bound to ``camera``; made when omitted.
        frame_timeout_s: the source ends (with a reason) when no frame arrives for this
            long, e.g. the tab was closed or camera permission was refused; it covers
            the first frame too, so it leaves time to answer the browser's permission
            prompt.
        image_format: ``"jpeg"`` (fast to encode in the browser) or ``"png"``.

    Raises:
        SourceError: ipywebrtc is not installed.
        InvalidArgumentError: an unknown ``image_format`` or a non-positive timeout.
    """

    def __init__(
        self,
        camera: Any,
        recorder: Any = None,
        *,
        frame_timeout_s: float = 30.0,
        image_format: str = "jpeg",
    ) -> None:
        super().__init__()
        if image_format not in ("jpeg", "png"):
            raise InvalidArgumentError(
                f"image_format must be 'jpeg' or 'png', but got {image_format!r}"
            )
        if frame_timeout_s <= 0:
            raise InvalidArgumentError(f"frame_timeout_s must be > 0, but got {frame_timeout_s}")
        if recorder is None:
            try:
                import ipywebrtc
            except ImportError as exc:
                raise SourceError(
                    "the browser camera needs ipywebrtc (pip install ipywebrtc==0.6.0)"
                ) from exc
            recorder = ipywebrtc.ImageRecorder(stream=camera, format=image_format)
        else:
            recorder.format = image_format
        self.camera = camera
        self.recorder = recorder
        self.frame_timeout_s = float(frame_timeout_s)
        self._cond = threading.Condition()
        self._pending: bytes | None = None
        self.received = 0
        recorder.observe(self._on_recording, names="recording")
        recorder.recording = True

    # Widget callback: kernel main thread. Keep it tiny.
    def _on_recording(self, change: dict) -> None:
        # The browser sets the image, then turns ``recording`` off, in that order on one
        # channel; so "off" means "a snapshot is in". Reading the image here instead of
        # observing it also catches a snapshot identical to the previous one, for which
        # traitlets sends no change (a still scene would otherwise look like a dead
        # camera).
        if change.get("new"):
            return
        data = self.recorder.image.value
        if data:
            with self._cond:
                self._pending = bytes(data)
                self.received += 1
                self._cond.notify_all()
        if not self._closed.is_set():
            self.recorder.recording = True

    def _read(self) -> np.ndarray | None:
        import cv2

        deadline = time.monotonic() + self.frame_timeout_s
        with self._cond:
            while self._pending is None and not self._closed.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    self.reason = self.reason or (
                        f"no frame from the browser camera for {self.frame_timeout_s:g} s "
                        "(tab closed, camera permission refused, or the widget not shown?)"
                    )
                    return None
                self._cond.wait(left)
            data, self._pending = self._pending, None
        if data is None:
            return None
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            self.reason = self.reason or "the browser camera sent an image that cannot be decoded"
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _release(self) -> None:
        try:
            self.recorder.unobserve(self._on_recording, names="recording")
        except ValueError:
            pass
        self.recorder.recording = False


class WebcamSource(_SourceBase):
    """The browser's webcam through :class:`~workbench.live.webcam.WebcamWidget`, which
    streams JPEG frames to the kernel (about 30 frames/s where ipywebrtc's
    ``ImageRecorder`` gives about one; see ``docs/benchmarks/webcam.md``).

    Each read waits for a frame newer than the last one read and decodes it; frames the
    widget received in between were overwritten (counted in ``skipped``). The frame's
    timestamp is when the browser captured it, so the live loop's latency includes the
    trip to the kernel. Iterate on a thread (the live loop does), not in a cell: where the
    kernel handles widget messages on its main thread, frames only arrive between cells.

    The source ends, with the reason, when the browser reports an error (camera
    permission refused, no camera, camera unplugged), when the widget is closed, or when
    no frame arrives for ``frame_timeout_s`` (tab closed, widget never shown). Closing
    the source leaves the widget and its camera running, for the next source.

    Args:
        widget: a ``WebcamWidget``, shown in the notebook by the caller.
        frame_timeout_s: how long to wait for a frame before ending; covers the first
            frame too, so it leaves time to answer the browser's permission prompt.

    Raises:
        InvalidArgumentError: ``frame_timeout_s`` is not positive, or ``widget`` is not a
            ``WebcamWidget``.
    """

    def __init__(self, widget: Any, *, frame_timeout_s: float = 30.0) -> None:
        super().__init__()
        if frame_timeout_s <= 0:
            raise InvalidArgumentError(f"frame_timeout_s must be > 0, but got {frame_timeout_s}")
        if not callable(getattr(widget, "wait_frame", None)):
            raise InvalidArgumentError(
                "WebcamSource needs a workbench.live.WebcamWidget, but got "
                f"{type(widget).__name__} (for ipywebrtc use BrowserCameraSource)"
            )
        self.widget = widget
        self.frame_timeout_s = float(frame_timeout_s)
        self.skipped = 0
        self._last_seq = 0
        #: The last frame read, encoded (``seq``, capture and receive times).
        self.last: Any = None

    def _read_frame(self) -> tuple[np.ndarray, float] | None:
        deadline = time.monotonic() + self.frame_timeout_s
        while not self._closed.is_set():
            # Short waits so close() is honoured even if its wake-up is missed.
            left = deadline - time.monotonic()
            frame = self.widget.wait_frame(self._last_seq, min(max(left, 0.0), 0.5))
            if frame is not None:
                break
            ended = self.widget.ended
            if ended is not None:
                self.reason = self.reason or ended
                return None
            if time.monotonic() >= deadline:
                self.reason = self.reason or (
                    f"no frame from the browser camera for {self.frame_timeout_s:g} s "
                    "(tab closed, camera permission not answered, or the widget not shown?)"
                )
                return None
        else:
            return None
        if self._last_seq and frame.seq > self._last_seq + 1:
            self.skipped += frame.seq - self._last_seq - 1
        self._last_seq = frame.seq
        self.last = frame
        try:
            image = frame.decode()
        except InvalidImageError as exc:
            self.reason = self.reason or str(exc)
            return None
        return image, frame.captured

    def _wake(self) -> None:
        self.widget.wake()

    def __repr__(self) -> str:
        return f"WebcamSource({type(self.widget).__name__}, reason={self.reason!r})"


#: ISO base media files (MP4, MOV, 3GP): FFmpeg needs the ``moov`` box (the index).
_ISO_MEDIA = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".3g2"})


def _container_problem(path: str) -> str | None:
    """Why FFmpeg could not open an MP4/MOV, where the top-level boxes tell: the
    ``moov`` index is missing (a recording cut off before it was written, or a copy
    that stopped). ``None`` when the boxes look fine or the file is of another kind."""
    if Path(path).suffix.lower() not in _ISO_MEDIA:
        return None
    try:
        size = Path(path).stat().st_size
        kinds = []
        with open(path, "rb") as fh:
            offset = 0
            while offset + 8 <= size and len(kinds) < 64:
                fh.seek(offset)
                head = fh.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1 and len(head) == 16:
                    length = int.from_bytes(head[8:16], "big")  # 64-bit box size
                elif length == 0:
                    length = size - offset  # the box runs to the end of the file
                if length < 8:
                    return "not an MP4/MOV file (its box structure is broken)"
                kinds.append(kind)
                offset += length
    except OSError:
        return None
    if not kinds or kinds[0] not in (b"ftyp", b"wide", b"free", b"skip", b"mdat", b"moov"):
        return "not an MP4/MOV file (it does not start with an ftyp box)"
    if b"moov" not in kinds:
        return (
            "it has no 'moov' index: the recording or copy was cut short before the end "
            "(FFmpeg: moov atom not found)"
        )
    return None


def _check_rgb(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise InvalidImageError(f"frames must be (H, W, 3) uint8 RGB arrays, but got {got}")
    if image.shape[2] != 3:
        raise InvalidImageError(
            f"frames must be (H, W, 3) uint8 RGB arrays, but got shape {image.shape}"
        )
    return image
