"""FaceScatter without a browser: the points it sends and the thumbnails it answers."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.ui.scatter import FaceScatter, person_colors


def test_points_are_sent_as_float32_and_person_indices():
    xy = np.array([[0, 1], [2, 3], [4, 5]], np.float64)
    w = FaceScatter(xy, ["bob", "ann", "bob"], labels=["b1", "a1", "b2"])
    assert len(w) == 3
    np.testing.assert_array_equal(np.frombuffer(w.x, np.float32), [0, 2, 4])
    np.testing.assert_array_equal(np.frombuffer(w.y, np.float32), [1, 3, 5])
    assert w.people == ["ann", "bob"]
    np.testing.assert_array_equal(np.frombuffer(w.person, np.uint16), [1, 0, 1])
    assert len(w.colors) == 2 and all(c.startswith("#") for c in w.colors)
    w.selected, w.group = [0, 2], [1]
    w.set_points(xy[:2], ["a", "b"])
    assert w.selected == [] and w.group == [] and w.labels == ["a", "b"]


@pytest.mark.parametrize(
    ("xy", "names"),
    [(np.zeros((3, 3)), ["a"] * 3), (np.zeros((3, 2)), ["a"] * 2), (np.zeros(6), ["a"] * 6)],
)
def test_bad_shapes_are_refused(xy, names):
    with pytest.raises(InvalidArgumentError, match="expected"):
        FaceScatter(xy, names)


def test_thumbnail_request_is_answered_with_a_jpeg():
    chips = np.random.default_rng(0).integers(0, 255, (2, 150, 150, 3), dtype=np.uint8)
    w = FaceScatter(np.zeros((2, 2)), ["a", "b"], thumbnail=lambda i: chips[i] if i else None)
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._handle_custom_msg({"type": "thumb", "index": 1}, [])
    w._handle_custom_msg({"type": "thumb", "index": 0}, [])  # no picture for this one
    w._handle_custom_msg({"type": "thumb", "index": 99}, [])  # out of range: empty
    assert [c["index"] for c, _ in sent] == [1, 0, 99]
    assert bytes(sent[0][1][0])[:2] == b"\xff\xd8"
    assert sent[1][1] == [b""] and sent[2][1] == [b""]


@pytest.mark.parametrize("n", [1, 10, 15, 40])
def test_person_colors_are_distinct(n):
    colors = person_colors(n)
    assert len(colors) == n and len(set(colors)) == n
