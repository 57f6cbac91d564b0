"""What a search reads: an immutable snapshot of the gallery's vectors, and the
append-only buffers the writer fills.

One writer appends rows to :class:`Buffers` and publishes a new :class:`Snapshot` (views of
the buffers' first rows) with one reference assignment; a reader keeps whichever snapshot
it picked up, so it never sees half a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything a search reads, never changed once published.

    ``vectors``, ``face_ids``, ``owners`` and ``sq_norms`` may be views of the first rows
    of larger buffers that later writes append to; rows a snapshot can see are never
    written again.
    """

    face_ids: np.ndarray  # (n,) int64, ascending
    owners: np.ndarray  # (n,) int64 index into people
    vectors: np.ndarray  # (n, D) float32
    sq_norms: np.ndarray  # (n,) float32
    people: tuple[str, ...]  # index -> name, in person-id order
    person_ids: np.ndarray  # (P,) int64, ascending
    version: int  # bumped by every committed write

    @property
    def n(self) -> int:
        return self.face_ids.shape[0]

    @cached_property
    def counts(self) -> np.ndarray:
        return np.bincount(self.owners, minlength=len(self.people))

    @cached_property
    def searchable(self) -> int:
        """People with at least one face."""
        return int((self.counts > 0).sum()) if self.n else 0

    @cached_property
    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(perm, starts, person)``: rows grouped by owner, for per-person minima."""
        perm = np.argsort(self.owners, kind="stable")
        sorted_owners = self.owners[perm]
        starts = np.flatnonzero(np.r_[True, sorted_owners[1:] != sorted_owners[:-1]])
        return perm, starts, sorted_owners[starts]

    def person_faces(self, person: int) -> np.ndarray:
        """``(n, D)`` enrolled faces of the person at index ``person``."""
        perm, starts, owners = self.groups
        g = int(np.searchsorted(owners, person))
        end = starts[g + 1] if g + 1 < len(starts) else self.n
        return self.vectors[perm[starts[g] : end]]

    @cached_property
    def centroid_row(self) -> np.ndarray:
        """``(P,)`` row of each person in :attr:`centroids`, -1 for people without faces."""
        out = np.full(len(self.people), -1, np.int64)
        person = self.groups[2]
        out[person] = np.arange(person.shape[0])
        return out

    @cached_property
    def centroids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(centroids (G, D), sq_norms (G,), person (G,))`` for people with faces."""
        perm, starts, person = self.groups
        if not self.n:
            dim = self.vectors.shape[1]
            return np.zeros((0, dim), np.float32), np.zeros(0, np.float32), person
        sums = np.add.reduceat(self.vectors[perm].astype(np.float64), starts, axis=0)
        cents = (sums / self.counts[person][:, None]).astype(np.float32)
        return cents, np.einsum("ij,ij->i", cents, cents), person

    def centroids_of(self, persons: np.ndarray) -> np.ndarray:
        """``(m, D)`` float32 centroids of the people at indexes ``persons`` (each must
        have faces): the rows :attr:`centroids` has for them, bit for bit, without
        computing every person's. The approximate search needs only its candidates' and
        the changed people's; all of them at 1M faces took seconds to a minute per new
        snapshot on the shared 2-core machine, i.e. after every change another process
        made (docs/benchmarks/gallery.md)."""
        persons = np.asarray(persons, np.int64).ravel()
        if "centroids" in self.__dict__:  # already computed for this snapshot
            return self.centroids[0][self.centroid_row[persons]]
        if not persons.size:
            return np.zeros((0, self.vectors.shape[1]), np.float32)
        perm, starts, _ = self.groups
        g = self.centroid_row[persons]
        # Each group ends where the next starts (the last at n): O(m), not O(people).
        last = len(starts) - 1
        ends = np.where(g < last, starts[np.minimum(g + 1, last)], self.n)
        lengths = ends - starts[g]
        offsets = np.cumsum(lengths) - lengths
        rows = perm[np.repeat(starts[g] - offsets, lengths) + np.arange(int(lengths.sum()))]
        # The same float64 sums in the same row order as `centroids`: the same bits.
        sums = np.add.reduceat(self.vectors[rows].astype(np.float64), offsets, axis=0)
        return (sums / lengths[:, None]).astype(np.float32)


class Buffers:
    """Append-only row storage with doubling capacity, written only by the writer."""

    def __init__(self, face_ids: np.ndarray, owners: np.ndarray, vectors: np.ndarray) -> None:
        self.n = 0
        cap = max(1024, face_ids.shape[0])
        self.dim = vectors.shape[1]
        self.face_ids = np.empty(cap, np.int64)
        self.owners = np.empty(cap, np.int64)
        self.vectors = np.empty((cap, self.dim), np.float32)
        self.sq_norms = np.empty(cap, np.float32)
        self.append(face_ids, owners, vectors)

    def append(self, face_ids: np.ndarray, owners: np.ndarray, vectors: np.ndarray) -> None:
        m = face_ids.shape[0]
        if self.n + m > self.face_ids.shape[0]:
            # New arrays, not resize in place: published snapshots keep viewing the old ones.
            cap = max(2 * self.face_ids.shape[0], self.n + m)
            for name in ("face_ids", "owners", "sq_norms"):
                old = getattr(self, name)
                new = np.empty(cap, old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
            new_vectors = np.empty((cap, self.dim), np.float32)
            new_vectors[: self.n] = self.vectors[: self.n]
            self.vectors = new_vectors
        s = slice(self.n, self.n + m)
        self.face_ids[s] = face_ids
        self.owners[s] = owners
        self.vectors[s] = vectors
        self.sq_norms[s] = np.einsum("ij,ij->i", vectors, vectors)
        self.n += m

    def views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = self.n
        return self.face_ids[:n], self.owners[:n], self.vectors[:n], self.sq_norms[:n]
