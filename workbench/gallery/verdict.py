"""The verdict between a search's nearest people and its result.

Two rules can turn an accepted match away: a correction "this is not X" vetoes X for
probes nearer to it than to X's own faces (:mod:`.negatives`), and of two look-alike
people the best must beat the second by a margin (:mod:`.lookalike`). A match the margin
alone turns away is answered "X or Y?" (``SearchResult.rivals``, ``Match.rival``): it
was within the threshold, and the one thing in doubt is which of the two it is. A match
a correction vetoes is not X, so it is no "X or Y?" either.
"""

from __future__ import annotations

import numpy as np

from workbench.gallery import lookalike, negatives
from workbench.gallery.search import SearchResult, to_result
from workbench.gallery.snapshot import Snapshot


def decide(
    s: Snapshot,
    queries: np.ndarray,
    rows: np.ndarray,
    d2: np.ndarray,
    *,
    k: int,
    threshold: float,
    margin: float,
    corrections: dict[int, np.ndarray],
    within: float,
) -> SearchResult:
    """The ``(N, k)`` result of :meth:`.search.Searcher.nearest`'s person ``rows`` and
    squared distances ``d2`` (at least two columns when ``margin > 0``).

    Args:
        s: the snapshot searched.
        queries: ``(N, D)`` float32.
        k: columns of the result.
        threshold: accept a person nearer than this.
        margin: the look-alike margin (0: no rule).
        within: centroid distance under which two people are look-alikes (the gallery's
            ``lookalike_distance``, of its model: no default, dlib's would be wrong for a
            fused gallery).
        corrections: ``{person id: (m, D)}`` negatives.
    """
    result = to_result(s, rows[:, :k], d2[:, :k], k, threshold)
    accepted = result.accepted
    if corrections:
        person_rows = np.full(result.names.shape, -1, np.int64)
        person_rows[:, : min(k, rows.shape[1])] = rows[:, :k]
        accepted = negatives.veto(
            queries,
            person_rows,
            accepted,
            person_ids=s.person_ids,
            negatives=corrections,
            own_faces=s.person_faces,
        )
    rivals = None
    if margin > 0 and rows.shape[1] >= 2:
        # After the corrections (both rules only turn matches away, so the order changes
        # nothing accepted): what the margin alone turns away is "X or Y?".
        dist = np.where(rows >= 0, np.sqrt(np.maximum(d2, 0.0)), np.inf)
        sure = lookalike.margin_veto(s, rows, dist, accepted, margin=margin, within=within)
        torn = np.flatnonzero(accepted[:, 0] & ~sure[:, 0])
        if torn.size:
            rivals = np.full(len(rows), None, dtype=object)
            rivals[torn] = [s.people[r] for r in rows[torn, 1].tolist()]
        accepted = sure
    return SearchResult(result.names, result.distances, accepted, threshold, rivals)
