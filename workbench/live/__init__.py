"""Live recognition: frame sources, IoU tracking with label smoothing, the threaded loop.

Drawing lives in :mod:`workbench.live.draw` (it imports OpenCV and Pillow).

Example:
    >>> from workbench.live import LiveRecognizer, VideoFileSource  # doctest: +SKIP
    >>> with LiveRecognizer(VideoFileSource("clip.mp4"), recognizer) as live:  # doctest: +SKIP
    ...     live.wait()
    >>> print(live.stats())  # doctest: +SKIP
"""

from workbench.live.loop import LiveRecognizer, LiveResult, LiveStats, Timings
from workbench.live.sources import (
    BrowserCameraSource,
    CameraSource,
    Frame,
    FrameSource,
    IterableSource,
    VideoFileSource,
    WebcamSource,
)
from workbench.live.tracking import Track, Tracker, TrackerOptions


def __getattr__(name: str):
    # The widget imports anywidget (and ipywidgets); only load it when asked for.
    if name == "WebcamWidget":
        from workbench.live.webcam import WebcamWidget

        return WebcamWidget
    raise AttributeError(f"module 'workbench.live' has no attribute {name!r}")


__all__ = [
    "BrowserCameraSource",
    "CameraSource",
    "Frame",
    "FrameSource",
    "IterableSource",
    "LiveRecognizer",
    "LiveResult",
    "LiveStats",
    "Timings",
    "Track",
    "Tracker",
    "TrackerOptions",
    "VideoFileSource",
    "WebcamSource",
    "WebcamWidget",
]
