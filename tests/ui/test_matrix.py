"""DistanceMatrix without a browser: what it sends, and what hover would show."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.ui.matrix import MAX_FACES, DistanceMatrix


def test_cells_hold_the_distances_to_within_one_level():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(7, 16))
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    m = DistanceMatrix(d, [f"face {k}" for k in range(7)], starts=[0, 3])
    assert m.n == 7 and len(m.cells) == 49 and m.starts == [0, 3]
    assert len(m.lut) == 256 and m.lut[0] != m.lut[255]
    for i, j in [(0, 0), (0, 6), (6, 0), (3, 4)]:
        assert abs(m.distance_at(i, j) - d[i, j]) <= m.vmax / 255 / 2 + 1e-9


@pytest.mark.parametrize(
    ("shape", "n_labels", "match"),
    [((3, 4), 3, "expected an"), ((3, 3), 2, "expected an"), ((MAX_FACES + 1,) * 2, None, "large")],
)
def test_bad_matrices_are_refused(shape, n_labels, match):
    n_labels = shape[0] if n_labels is None else n_labels
    with pytest.raises(InvalidArgumentError, match=match):
        DistanceMatrix(np.zeros(shape), ["x"] * n_labels)
