"""Drawing: boxes, Unicode labels, the status line."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidImageError
from workbench.live import draw
from workbench.live.loop import LiveResult, LiveStats, Timings


def test_a_truetype_font_is_found_and_cached():
    assert draw.font_path() is not None
    assert draw.get_font(20) is draw.get_font(20)


@pytest.mark.parametrize("name", ["Zoë", "Łukasz", "José Ñúñez", "Ольга", "Ελένη"])
def test_unicode_names_render_real_glyphs(name):
    font = draw.get_font(24)
    # Each character has a glyph of its own: not the font's "missing glyph" box, which
    # is what a private-use code point renders as.
    missing = np.asarray(font.getmask("\U000f0000"))
    for ch in set(name) - {" "}:
        mask = np.asarray(font.getmask(ch))
        assert mask.any(), ch
        assert mask.shape != missing.shape or not np.array_equal(mask, missing), ch
    assert not np.array_equal(
        draw.render_label(name, 24, draw.KNOWN_COLOR),
        draw.render_label(name.encode("ascii", "replace").decode(), 24, draw.KNOWN_COLOR),
    )


def test_render_label_is_cached_and_read_only():
    a = draw.render_label("alice 0.31", 16, draw.KNOWN_COLOR)
    assert a is draw.render_label("alice 0.31", 16, draw.KNOWN_COLOR)
    assert a.dtype == np.uint8 and a.ndim == 3 and not a.flags.writeable


def test_draw_faces_draws_boxes_and_labels_on_a_copy():
    img = np.zeros((240, 320, 3), np.uint8)
    boxes = np.array([[40, 60, 120, 160], [200, 5, 300, 100]], np.float32)
    out = draw.draw_faces(img, boxes, ["alice", "unknown"], [0.31, float("nan")])
    assert not img.any()
    assert out.shape == img.shape and out.dtype == np.uint8
    # The box edge is in each face's colour.
    assert tuple(out[110, 40]) == draw.KNOWN_COLOR
    assert tuple(out[50, 200]) == draw.UNKNOWN_COLOR
    # The first label sits above its box, the second (no room above) inside it.
    assert out[40:59, 40:100].any()
    assert out[6:20, 201:260].any()


def test_draw_faces_in_place_and_clipped_at_edges():
    img = np.zeros((50, 50, 3), np.uint8)
    out = draw.draw_faces(img, [[-10, -10, 70, 70]], ["a very long name indeed"], copy=False)
    assert out is img and img.any()


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), [[0, 0, 0]]]
)
def test_draw_rejects_non_images(bad):
    with pytest.raises(InvalidImageError, match=r"\(H, W, 3\) uint8"):
        draw.draw_faces(bad, np.zeros((0, 4)), [])


def test_draw_result_with_stats_line():
    img = np.zeros((120, 160, 3), np.uint8)
    result = LiveResult(
        frame_id=3,
        boxes=np.array([[20, 30, 80, 100]], np.float32),
        names=("alice",),
        distances=np.array([0.4], np.float32),
        track_ids=np.array([1]),
        embedded=np.array([True]),
        timings=Timings(1.0, 2.0, 0.1, 3.5, 12.0),
        image=img,
        timestamp=0.0,
    )
    stats = LiveStats(10, 9, 1, 9, 2, 30.0, 29.5, 1.0, 2.0, 0.1, 3.5, 12.0, 20.0, 0.3, None)
    assert draw.status_text(stats) == "29.5 fps · p50 12 ms · p95 20 ms · dropped 1"
    out = draw.draw_result(result, stats=stats)
    assert out is not img and not img.any()
    assert out[:10, :40].any()
    assert draw.draw_result(result).shape == img.shape
