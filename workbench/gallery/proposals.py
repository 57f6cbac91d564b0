"""Proposed people: the gallery's unknown faces grouped by :mod:`.cluster`.

A proposal's ``id`` is the smallest unknown-face id in it. Face ids are never reused, so
an id names the same group for as long as that face stays; naming, merging or discarding
by id re-clusters first and refuses an id that no longer names a proposal (the unknowns
changed since it was shown) instead of acting on other faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError
from workbench.gallery.cluster import DEFAULT_MIN_SIZE, cluster_embeddings
from workbench.gallery.types import is_fused
from workbench.gallery.unknowns import UnknownFace

if TYPE_CHECKING:
    from workbench.gallery import Gallery

#: A proposal "looks like" an enrolled person when its mean embedding is within the
#: gallery's threshold plus this much of that person (the faces themselves were each
#: too far to be named, but together they may sit close). Set without a measurement;
#: measured since (``benchmarks/proposals_near.py``, LFW, 3 seeds): on dlib's vectors it
#: hints right 63-80% of the proposals of enrolled people and also hints 70-79% of the
#: strangers' proposals (0: 41-53% right, 4-8% of strangers') (``docs/benchmarks/
#: cluster.md``).
NEAR_MARGIN = 0.1

#: The fused embedder's :data:`NEAR_MARGIN`: the largest grid value whose share of
#: strangers' proposals hinted is at most dlib's at 0.1 on the same A-L people (the hint
#: no noisier than it is for dlib): 0.06 on all 3 seeds (A-L 60-72% of strangers'
#: proposals, M-Z 61-64%); dlib's 0.1 on fused vectors hints 89-97% of them.
FUSED_NEAR_MARGIN = 0.06


def near_margin_for(model_id: str | None) -> float:
    """:data:`NEAR_MARGIN` for a gallery of ``model_id``: the fused embedder's for its ids
    (:func:`workbench.gallery.types.is_fused`), else dlib's.

    Example:
        >>> near_margin_for(None), near_margin_for("fused-x")
        (0.1, 0.06)
    """
    return FUSED_NEAR_MARGIN if is_fused(model_id) else NEAR_MARGIN


@dataclass(frozen=True)
class Near:
    """The enrolled person nearest to a proposal; ``rival``: the look-alike the gallery
    cannot tell ``name`` from for the proposal's mean face (:attr:`Match.rival
    <workbench.gallery.Match.rival>`), else ``None``."""

    name: str
    distance: float
    rival: str | None = None

    def __str__(self) -> str:
        who = self.name if self.rival is None else f"{self.name} or {self.rival}"
        return f"looks like {who} (distance {self.distance:.2f})"


@dataclass(frozen=True)
class ProposedPerson:
    """One group of unknown faces that are likely one person.

    Attributes:
        id: the smallest face id in the group (see the module docstring).
        faces: the faces, best quality first; ``faces[0]`` is the representative.
        near: the nearest enrolled person when within reach, else ``None``.
    """

    id: int
    faces: list[UnknownFace]
    near: Near | None

    @property
    def face_ids(self) -> list[int]:
        return [f.id for f in self.faces]

    @property
    def representative(self) -> UnknownFace:
        return self.faces[0]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "faces": [_face_dict(f) for f in self.faces],
            "near": None
            if self.near is None
            else {
                "name": self.near.name,
                "distance": round(self.near.distance, 4),
                "rival": self.near.rival,
            },
        }


def _face_dict(face: UnknownFace) -> dict:
    return {
        "id": face.id,
        "source": face.source,
        "box": None if face.box is None else [round(v, 1) for v in face.box],
        "frame": face.frame,
    }


@dataclass(frozen=True)
class Proposals:
    """The result of :meth:`Gallery.cluster_unknowns`.

    Attributes:
        clusters: proposed people, largest first.
        unclustered: faces that joined no group (seen once), by id.
        threshold: the clustering cut used.
    """

    clusters: list[ProposedPerson]
    unclustered: list[UnknownFace]
    threshold: float

    def __str__(self) -> str:
        n, m = len(self.clusters), len(self.unclustered)
        people = "proposed person" if n == 1 else "proposed people"
        return f"{n} {people}, {m} face{'' if m == 1 else 's'} seen once"

    def get(self, cluster_id: int) -> ProposedPerson:
        """The proposal with this id.

        Raises:
            GalleryError: no proposal has this id (any more).
        """
        for c in self.clusters:
            if c.id == cluster_id:
                return c
        raise GalleryError(
            f"no proposed person with id {cluster_id!r}: the unknowns changed since it was "
            f"shown (cluster again); ids now: {[c.id for c in self.clusters][:10]}"
        )

    def to_dict(self) -> dict:
        """``{"clusters": [...], "unclustered": [...]}`` as ``workbench cluster --json``."""
        return {
            "clusters": [c.to_dict() for c in self.clusters],
            "unclustered": [
                {k: v for k, v in _face_dict(f).items() if k != "frame"} for f in self.unclustered
            ],
        }


def _order(faces: list[UnknownFace]) -> list[UnknownFace]:
    return sorted(faces, key=lambda f: (-(f.quality if f.quality is not None else -1.0), f.id))


def cluster_unknowns(
    gallery: Gallery,
    *,
    threshold: float | None = None,
    min_size: int = DEFAULT_MIN_SIZE,
) -> Proposals:
    """Group the gallery's unknown faces into proposed people.

    Raises:
        GalleryError: the gallery holds no unknown faces, or a damaged one.
        InvalidArgumentError: a bad ``threshold`` or ``min_size``.
    """
    faces, vectors = gallery.unknown_embeddings()
    if not faces:
        raise GalleryError(
            f"{gallery.path}: no unknown faces to cluster: `workbench recognize`, `workbench "
            "live` and `workbench cluster DIR` keep the faces they cannot name"
        )
    from workbench.gallery.naming import groups as user_groups

    # Faces the user grouped by hand (merged, moved out) stay as grouped; the rest are
    # clustered.
    hand = user_groups(gallery)
    by_hand: dict[int, list[int]] = {}
    for row, face in enumerate(faces):
        if face.id in hand:
            by_hand.setdefault(hand[face.id], []).append(row)
    grouped = {r for rows in by_hand.values() for r in rows}
    free = np.array([i for i in range(len(faces)) if i not in grouped], np.int64)
    # The cut of the gallery's model: a fused gallery's distances are larger than dlib's.
    result = cluster_embeddings(
        vectors[free], threshold=threshold, min_size=min_size, model_id=gallery.model_id
    )
    groups = [free[rows] for rows in result.clusters]
    alone = list(free[result.unclustered])
    for rows in by_hand.values():
        if len(rows) >= min_size:
            groups.append(np.array(rows, np.int64))
        else:
            alone += rows
    groups.sort(key=lambda rows: (-len(rows), min(faces[i].id for i in rows)))
    clusters = []
    nears = _nearest(gallery, vectors, groups)
    for rows, near in zip(groups, nears, strict=True):
        members = [faces[i] for i in rows]
        clusters.append(ProposedPerson(min(f.id for f in members), _order(members), near))
    unclustered = sorted((faces[i] for i in alone), key=lambda f: f.id)
    return Proposals(clusters, unclustered, result.threshold)


def _nearest(gallery: Gallery, vectors: np.ndarray, groups: list[np.ndarray]) -> list:
    if not groups or not len(gallery):
        return [None] * len(groups)
    means = np.stack([vectors[rows].mean(axis=0) for rows in groups])
    best = gallery.search(means, k=1).best()
    reach = gallery.threshold + near_margin_for(gallery.model_id)
    return [
        Near(m.name, float(m.distance), m.rival)
        if m.name is not None and m.distance is not None and m.distance <= reach
        else None
        for m in best
    ]
