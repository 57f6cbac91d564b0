"""Look-alikes: enrolled people whose faces fall near each other (siblings, twins).

Two checks, both on person centroids (the mean of a person's enrolled faces):

- :func:`look_alikes` after an enrollment: each enrolled person whose centroid lies
  within :data:`LOOKALIKE_DISTANCE` of another person's is reported ("looks like X:
  centroid distance 0.48") in the enrollment summary, the CLI and the panel.
- :func:`margin_veto` in every search: when the best and the second-best person of a
  probe are such a pair, the best must beat the second by :data:`DEFAULT_MARGIN`, else
  the probe is not accepted rather than named as one of the two by a hair: it is
  answered "X or Y?" (``Match.rival``; :mod:`.verdict`).

Both constants are measured by ``benchmarks/lookalike.py`` (``docs/benchmarks/
lookalike.md``) on the 100 closest pairs of distinct LFW people. They are distances, and
the fused embedder's (:mod:`workbench.embed.fused`) have another scale: a gallery takes
the values of its model from :func:`defaults_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.gallery.types import is_fused

#: Centroid distance under which two enrolled people count as look-alikes (dlib's
#: embeddings: two photos of one person are typically 0.3-0.45 apart). Chosen on LFW
#: people A-L and checked on M-Z (``benchmarks/lookalike.py``): the largest distance at
#: which the warning flags none of 200 random people; 0.42 (the value before that check)
#: flagged 2 of 200 in both halves with the same decisions at margin 0.02.
LOOKALIKE_DISTANCE = 0.40

#: How much nearer the best of two look-alikes must be than the second to be accepted
#: (else "X or Y?"). Chosen on LFW A-L, held out on M-Z: named as the other 0.87% ->
#: 0.00% of the close pairs' probes for 1.1 points of accepted-and-right (92.4 -> 91.3%).
#: One value for both models (why: :data:`FUSED_LOOKALIKE_DISTANCE`).
DEFAULT_MARGIN = 0.02

#: The fused embedder's :data:`LOOKALIKE_DISTANCE` (its distances are larger: LFW pair
#: threshold 0.75 against 0.60). Chosen on A-L by the same rule: the largest grid value
#: flagging none of 200 random people (0.60 flagged 4; M-Z: 0 at 0.56, 2 at 0.60). It
#: warns 18 of A-L's and 7 of M-Z's close-pair people; dlib's 0.40 on fused vectors warns
#: none (the closest fused pair of LFW is 0.49 apart). The margin (:data:`DEFAULT_MARGIN`)
#: is shared: on fused vectors no close-pair probe is named as the other even without a
#: margin (0 of 741 on A-L, 0 of 785 on M-Z), and 0.02 changes no decision at 0.56
#: (margins up to 0.04 neither), so the figures cannot tell 0.02 from 0 (the rule, the
#: smaller margin on a tie, says 0); 0.02 is kept as the safety it costs nothing to be,
#: for look-alikes closer than LFW's (``docs/benchmarks/lookalike.md``).
FUSED_LOOKALIKE_DISTANCE = 0.56


@dataclass(frozen=True)
class LookAlikeDefaults:
    """The look-alike constants of one model family: the centroid ``distance`` under
    which two people are look-alikes, and the ``margin`` between them."""

    distance: float
    margin: float


def defaults_for(model_id: str | None) -> LookAlikeDefaults:
    """The rule for a gallery of ``model_id`` (``Gallery.model_id``): the fused
    embedder's for its ids (:func:`workbench.gallery.types.is_fused`), else dlib's.

    Example:
        >>> defaults_for("dlib_resnet_v1-55533b28a958")
        LookAlikeDefaults(distance=0.4, margin=0.02)
    """
    if is_fused(model_id):
        return LookAlikeDefaults(FUSED_LOOKALIKE_DISTANCE, DEFAULT_MARGIN)
    return LookAlikeDefaults(LOOKALIKE_DISTANCE, DEFAULT_MARGIN)


@dataclass(frozen=True)
class LookAlike:
    """``person``'s centroid lies ``distance`` from ``other``'s."""

    person: str
    other: str
    distance: float

    def __str__(self) -> str:
        return f"{self.person} looks like {self.other}: centroid distance {self.distance:.2f}"


def look_alikes(snapshot, names, *, within: float) -> list[LookAlike]:
    """The nearest other person of each of ``names`` when within ``within`` (centroids;
    the gallery's ``lookalike_distance``, :func:`defaults_for` its model)."""
    cents, _, person = snapshot.centroids
    if len(person) < 2:
        return []
    index = {snapshot.people[p]: g for g, p in enumerate(person)}
    out = []
    for name in dict.fromkeys(names):
        g = index.get(name)
        if g is None:
            continue
        d = np.sqrt(((cents - cents[g]) ** 2).sum(1))
        d[g] = np.inf
        j = int(np.argmin(d))
        if d[j] <= within:
            out.append(LookAlike(name, snapshot.people[person[j]], float(d[j])))
    return out


def margin_veto(snapshot, rows, dist, accepted, *, margin: float, within: float) -> np.ndarray:
    """``accepted`` with column 0 turned away where the best two people are look-alikes
    (centroids within ``within``) and the best is not ``margin`` nearer.

    Args:
        rows: ``(N, >=2)`` person index of the nearest people (-1 for none).
        dist: ``(N, >=2)`` their distances.
        accepted: ``(N, k)`` bool.
    """
    if margin <= 0 or rows.shape[1] < 2:
        return accepted
    close = (rows[:, 1] >= 0) & (dist[:, 1] - dist[:, 0] < margin) & accepted[:, 0]
    if not close.any():
        return accepted
    at = snapshot.centroid_row
    out = accepted.copy()
    for i in np.flatnonzero(close):
        a, b = rows[i, 0], rows[i, 1]
        if at[a] < 0 or at[b] < 0:
            continue
        # Only these two centroids: all of them cost seconds per snapshot at 1M faces.
        ca, cb = snapshot.centroids_of(np.array([a, b]))
        if np.linalg.norm(ca - cb) <= within:
            out[i, 0] = False
    return out
