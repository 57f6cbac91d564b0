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

from collections.abc import Mapping
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


def read(st: GalleryStore, dim: int, p: Pending, s: Snapshot) -> Read:
    """Inside the caller's read transaction on ``st``: the people and faces ``p`` names
    (an added face may belong to a person of the snapshot ``s``).

    Raises:
        GalleryError: a damaged row (as a full load would say).
    """
    people = st.people_in(ranges=p.people_ranges, ids=list(p.renamed))
    face_ids, owners, vectors = st.faces_in(dim, p.face_ranges, SnapshotNames(s, people))
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
    Costs what changed, not the gallery's size, except a removal, which copies the kept
    rows once (as a removal by this process does).
    """
    pids = s.person_ids
    names = list(s.people)
    new_people: dict[int, str] = {}
    for pid, name in got.people.items():
        i = _index(pids, pid)
        if i is None:
            new_people[pid] = name  # renamed too, maybe: the name is the store's now
        else:
            names[i] = name  # renamed (or a write of this process, replayed)
    for pid in p.renamed:
        if pid not in got.people and pid not in p.removed_people:
            return None  # renamed, not removed, yet gone: the log does not tell all
    gone = sorted(i for pid in p.removed_people if (i := _index(pids, pid)) is not None)
    new_pids = np.fromiter(sorted(new_people), np.int64, count=len(new_people))
    if new_pids.size and pids.size and new_pids[0] <= pids[-1]:
        return None  # ids only grow; anything else: start over
    person_ids = np.concatenate([np.delete(pids, gone), new_pids])
    if gone:
        drop_person = set(gone)
        names = [n for i, n in enumerate(names) if i not in drop_person]
    names += [new_people[int(pid)] for pid in new_pids]
    # Faces the snapshot has already (a write of this process, mirrored) stay as they are.
    new = _absent(s.face_ids, got.face_ids)
    face_ids, owner_ids, vectors = got.face_ids[new], got.owner_ids[new], got.vectors[new]
    if face_ids.size and s.n and face_ids[0] <= s.face_ids[-1]:
        return None
    owners = np.searchsorted(person_ids, owner_ids)
    if face_ids.size and (
        owners.max() >= person_ids.size or not np.array_equal(person_ids[owners], owner_ids)
    ):
        return None  # a face of nobody we know: start over
    drop = np.zeros(s.n, bool)
    if p.removed_faces and s.n:
        removed = np.sort(np.fromiter(p.removed_faces, np.int64))
        drop[np.flatnonzero(~_absent(removed, s.face_ids))] = True
    if gone and s.n:
        drop |= np.isin(s.owners, np.array(gone, np.int64))
    changed_new = np.unique(owner_ids)
    if not gone and not drop.any():
        # Only additions (and renames): the old rows keep their owner indexes.
        if face_ids.size:
            buffers.append(face_ids, owners, vectors)
        return Applied(person_ids, tuple(names), buffers, np.zeros(0, np.int64), changed_new)
    keep = ~drop
    remap = np.full(pids.size, -1, np.int64)  # old person index -> new one
    kept_people = np.ones(pids.size, bool)
    kept_people[gone] = False
    remap[kept_people] = np.arange(int(kept_people.sum()))
    rows = Buffers(
        np.concatenate([s.face_ids[keep], face_ids]),
        np.concatenate([remap[s.owners[keep]], owners]),
        np.concatenate([s.vectors[keep], vectors]),
    )
    changed = np.unique(np.concatenate([pids[s.owners[drop]], changed_new]))
    return Applied(person_ids, tuple(names), rows, s.face_ids[drop], changed)


def _index(sorted_ids: np.ndarray, pid: int) -> int | None:
    i = int(np.searchsorted(sorted_ids, pid))
    return i if i < sorted_ids.size and int(sorted_ids[i]) == pid else None


def _absent(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Which of ``ids`` are not in ``sorted_ids`` (ascending): a binary search each."""
    if not sorted_ids.size:
        return np.ones(ids.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
    return sorted_ids[pos] != ids


class SnapshotNames(Mapping):
    """``{person id: name}`` of a snapshot plus ``extra``, looked up by binary search
    instead of built whole (25,000 people at 100k faces: a dict per change cost ~30 ms)."""

    def __init__(self, s: Snapshot, extra: dict[int, str]) -> None:
        self._s, self._extra = s, extra

    def __getitem__(self, pid: int) -> str:
        if pid in self._extra:
            return self._extra[pid]
        i = _index(self._s.person_ids, int(pid))
        if i is None:
            raise KeyError(pid)
        return self._s.people[i]

    def __iter__(self):
        yield from self._extra
        yield from (int(p) for p in self._s.person_ids if int(p) not in self._extra)

    def __len__(self) -> int:
        return len(set(self._extra) | set(self._s.person_ids.tolist()))
