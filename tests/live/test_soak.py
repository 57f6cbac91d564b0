"""Soak: 10,000 frames through the loop; memory flat, no thread left, no frame twice.

Sized to finish in well under a minute on two shared cores; ``benchmarks/live.py`` has
the longer soak with the real recognizer.
"""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from workbench.live import IterableSource, LiveRecognizer

psutil = pytest.importorskip("psutil")

N_FRAMES = 10_000


def test_soak_ten_thousand_frames(kit):
    process = psutil.Process()
    before_threads = set(threading.enumerate())
    rec = kit.Recognizer(boxes=[(10, 10, 60, 60), (80, 10, 130, 60)], names=["alice", None])
    # Warm up once so allocator pools and lazy imports do not count as growth.
    with LiveRecognizer(IterableSource(kit.frames(200, shape=(240, 320, 3))), rec) as warm:
        assert warm.wait(timeout=60)
    gc.collect()
    rss_before = process.memory_info().rss

    def paced():
        # About 2,000 frames/s: fast, yet slow enough that the worker sees most frames,
        # so the soak exercises recognition and not only the drop path.
        for img in kit.frames(N_FRAMES, shape=(240, 320, 3)):
            time.sleep(0.0005)
            yield img

    seen = []  # frame ids only: holding results would hold their frames
    live = LiveRecognizer(
        # A fresh 240x320 frame each time: a leak of frames would show as ~2 GB.
        IterableSource(paced()),
        rec,
        on_result=lambda r: seen.append(r.frame_id),
    )
    with live:
        assert live.wait(timeout=120), "soak did not finish in 120 s"
    gc.collect()
    rss_growth_mb = (process.memory_info().rss - rss_before) / 2**20

    stats = live.stats()
    assert stats.frames_captured == N_FRAMES
    assert stats.frames_processed + stats.frames_dropped == N_FRAMES
    assert stats.frames_processed == len(seen) >= N_FRAMES // 2
    assert np.all(np.diff(seen) > 0), "a frame was processed twice or out of order"
    assert seen[-1] == N_FRAMES - 1
    assert set(threading.enumerate()) == before_threads
    assert rss_growth_mb < 50, f"resident memory grew by {rss_growth_mb:.1f} MB"
