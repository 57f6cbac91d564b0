"""Fakes for the live loop: a recognizer whose faces are written into the frames."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from workbench.faces import FaceDetections


@dataclass(frozen=True)
class FakeMatch:
    name: str
    distance: float
    accepted: bool

    @property
    def label(self) -> str:
        return self.name if self.accepted else "unknown"


class FakeRecognizer:
    """Finds one face per entry of ``boxes``; names come from ``names`` in box order.

    Args:
        boxes: ``(n, 4)`` boxes every frame has.
        names: one name per box; ``None`` makes that face unknown.
        delay_s: sleep in ``detect`` to play a slow detector.
        fail_on_frame: ``detect`` raises from the frame with this marker on (frames may
            be dropped, so an exact frame might never reach it).
    """

    def __init__(
        self, boxes=((10, 10, 60, 60),), names=("alice",), *, delay_s=0.0, fail_on_frame=None
    ):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.names = list(names)
        self.delay_s = delay_s
        self.fail_on_frame = fail_on_frame
        self.detect_calls = 0
        self.embedded = 0
        self.lock = threading.Lock()

    def detect(self, image):
        with self.lock:
            self.detect_calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on_frame is not None and frame_marker(image) >= self.fail_on_frame:
            raise RuntimeError(f"detector failed on frame {frame_marker(image)}")
        n = len(self.boxes)
        kps = np.zeros((n, 5, 2), np.float32)
        return FaceDetections(self.boxes.copy(), np.ones(n, np.float32), kps)

    def embed(self, image, detections):
        with self.lock:
            self.embedded += len(detections)
        out = np.zeros((len(detections), 128), np.float32)
        # Encode which configured box each face is, so identify can name it.
        for i, box in enumerate(detections.xyxy):
            out[i, 0] = int(np.argmin(np.abs(self.boxes - box).sum(axis=1)))
        return out

    def identify(self, embeddings):
        out = []
        for row in embeddings:
            name = self.names[int(row[0])]
            out.append(FakeMatch(name or "", 0.4 if name else 0.9, name is not None))
        return out


def frame_marker(image) -> int:
    """Frames made by :func:`make_frames` carry their number in the first pixels."""
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])


def make_frames(n, *, shape=(120, 160, 3)):
    """A generator of ``n`` new RGB frames, frame ``i`` marked with ``i``."""
    for i in range(n):
        img = np.zeros(shape, np.uint8)
        img[0, 0, 0] = i % 256
        img[0, 0, 1] = (i // 256) % 256
        yield img


@pytest.fixture
def kit():
    """The fakes, as a fixture (tests run with --import-mode=importlib, so a test module
    cannot import from this file)."""
    return SimpleNamespace(Recognizer=FakeRecognizer, frames=make_frames, marker=frame_marker)


@pytest.fixture
def no_thread_leak():
    """Fails the test if it leaves a thread behind."""
    before = set(threading.enumerate())
    yield
    # No grace period: stop() joins its threads, so they must be gone already.
    left = [t.name for t in threading.enumerate() if t not in before]
    assert not left, f"threads left running: {left}"
