"""Other processes' changes applied to the in-memory snapshot, from the change log.

Every write that changes what a search reads adds a row to the store's ``changes`` table
in its own transaction (:func:`.store.log_change`). A process that learns another one
committed (``PRAGMA data_version``, or a NOTIFY from PostgreSQL) reads, in one read
transaction, the log rows after the last one it applied, and (:func:`read`), and only the
rows those name: the faces added, the people added or renamed. :func:`apply` then makes
the next snapshot from the current one: removals drop rows, additions append. A full
reload is left for what the log cannot tell: it was trimmed past this process's position
(``store.LOG_KEEP``), it went back, a row is damaged, or the schema changed.

Applying is idempotent: a face the snapshot holds already is not added twice, a removal
of what is not there does nothing, a rename reads the name the store holds now. So a
position that lags behind (a write of this process that was mirrored in memory without
moving it) costs a re-read, never a wrong snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.gallery.snapshot import Buffers, Snapshot
from workbench.gallery.stores import GalleryStore


@dataclass(frozen=True)
class Pending:
    """What the log rows after a position say changed.

    Attributes:
        newest: the sequence number of the last row (the new position).
        face_ranges: ``(first, last)`` ids of faces added, merged, ascending.
        people_ranges: ``(first, last)`` ids of people added.
        removed_faces: ids of faces removed one by one.
        removed_people: ids of people removed (with all their faces).
        renamed: ids of people renamed.
        negatives: the corrections changed (read them all again: few rows).
    """

    newest: int
    face_ranges: list[tuple[int, int]] = field(default_factory=list)
    people_ranges: list[tuple[int, int]] = field(default_factory=list)
    removed_faces: frozenset[int] = frozenset()
    removed_people: frozenset[int] = frozenset()
    renamed: frozenset[int] = frozenset()
    negatives: bool = False


def pending(rows: list[tuple], position: int) -> Pending:
    """Sum up log rows ``(seq, kind, person_id, first_id, last_id)`` after ``position``.

    Raises:
        ValueError: a kind this version does not know (a newer writer): reload instead.
    """
    faces, people = [], []
    removed_faces, removed_people, renamed = set(), set(), set()
    negatives = False
    for _seq, kind, person_id, first, last in rows:
        if kind == "faces":
            faces.append((int(first), int(last)))
        elif kind == "people":
            people.append((int(first), int(last)))
        elif kind == "face_removed":
            removed_faces.add(int(first))
        elif kind == "person_removed":
            removed_people.add(int(person_id))
        elif kind == "renamed":
            renamed.add(int(person_id))
        elif kind == "negatives":
            negatives = True
        else:
            raise ValueError(f"unknown change kind {kind!r}")
    return Pending(
        newest=int(rows[-1][0]) if rows else int(position),
        face_ranges=_merged(faces),
        people_ranges=_merged(people),
        removed_faces=frozenset(removed_faces),
        removed_people=frozenset(removed_people),
        renamed=frozenset(renamed),
        negatives=negatives,
    )


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


@dataclass(frozen=True)
class Read:
    """The rows a :class:`Pending` names, as the store holds them now."""

    people: dict[int, str]  # added or renamed people still there: id -> name
    face_ids: np.ndarray  # (m,) int64 ascending: added faces still there
    owner_ids: np.ndarray  # (m,) int64 person ids
    vectors: np.ndarray  # (m, D) float32


def read(st: GalleryStore, dim: int, p: Pending, known: dict[int, str]) -> Read:
    """Inside the caller's read transaction on ``st``: the people and faces ``p`` names.

    Args:
        known: ``{person id: name}`` of the snapshot (an added face may belong to one).

    Raises:
        GalleryError: a damaged row (as a full load would say).
    """
    people = st.people_in(ranges=p.people_ranges, ids=list(p.renamed))
    face_ids, owners, vectors = st.faces_in(dim, p.face_ranges, {**known, **people})
    return Read(people, face_ids, owners, vectors)


@dataclass(frozen=True)
class Applied:
    """The next snapshot's parts.

    Attributes:
        person_ids: ``(P,)`` ascending.
        names: one per person id.
        buffers: the rows (the same object, appended to, when nothing was removed).
        removed: face ids that went (for the approximate index).
        changed: person ids whose faces changed.
    """

    person_ids: np.ndarray
    names: tuple[str, ...]
    buffers: Buffers
    removed: np.ndarray
    changed: np.ndarray


def apply(s: Snapshot, buffers: Buffers, p: Pending, got: Read) -> Applied | None:
    """The snapshot after the changes of ``p`` (``got``: what the store holds of them
    now); ``None`` where they do not fit the snapshot (then reload everything).

    ``buffers`` must be the ones ``s`` views (it is appended to when nothing went).
    """
    names = dict(zip(s.person_ids.tolist(), s.people, strict=True))
    names.update(got.people)
    for pid in p.removed_people:
        names.pop(pid, None)
    if any(pid not in names and pid not in p.removed_people for pid in p.renamed):
        return None  # renamed, not removed, yet gone: the log does not tell all
    # Faces the snapshot has already (a write of this process, mirrored) stay as they are.
    new = ~np.isin(got.face_ids, s.face_ids) if s.n else np.ones(got.face_ids.shape, bool)
    face_ids, owner_ids, vectors = got.face_ids[new], got.owner_ids[new], got.vectors[new]
    if face_ids.size and s.n and face_ids[0] <= s.face_ids[-1]:
        return None  # ids only grow; anything else: start over
    person_ids = np.fromiter(sorted(names), np.int64, count=len(names))
    if not np.isin(owner_ids, person_ids).all():
        return None
    drop = np.zeros(s.n, bool)
    if p.removed_faces:
        drop |= np.isin(s.face_ids, np.fromiter(p.removed_faces, np.int64))
    if p.removed_people and s.n:
        drop |= np.isin(s.person_ids[s.owners], np.fromiter(p.removed_people, np.int64))
    name_tuple = tuple(names[int(pid)] for pid in person_ids)
    known = s.person_ids
    same_prefix = person_ids.size >= known.size and np.array_equal(person_ids[: known.size], known)
    if same_prefix and not drop.any():
        # Only additions (and renames): the old rows keep their owner indexes.
        if face_ids.size:
            buffers.append(face_ids, np.searchsorted(person_ids, owner_ids), vectors)
        return Applied(person_ids, name_tuple, buffers, np.zeros(0, np.int64), np.unique(owner_ids))
    keep = ~drop
    all_ids = np.concatenate([s.face_ids[keep], face_ids])
    all_owners = np.concatenate([s.person_ids[s.owners[keep]], owner_ids])
    rows = Buffers(
        all_ids,
        np.searchsorted(person_ids, all_owners),
        np.concatenate([s.vectors[keep], vectors]),
    )
    changed = np.unique(np.concatenate([s.person_ids[s.owners[drop]], owner_ids]))
    return Applied(person_ids, name_tuple, rows, s.face_ids[drop], changed)
