"""Corrections that stick: "this is not X" stored as a negative example of X.

The decision uses them: a probe whose best match is X is not accepted as X when it lies
nearer to one of X's negatives than to the nearest of X's own enrolled faces. One
correction therefore turns away that stranger's other photos (they sit near the
negative) without touching X's own photos (they sit nearer X's faces). Measured on LFW
by ``benchmarks/corrections.py`` (``docs/benchmarks/corrections.md``).

Negatives are kept per person id, so a rename keeps them and removing the person removes
them (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError
from workbench.gallery import integrity, store
from workbench.gallery.names import lookup_name
from workbench.gallery.search import check_queries
from workbench.gallery.unknowns import checked_ids

if TYPE_CHECKING:
    from workbench.gallery import Gallery


@dataclass(frozen=True)
class NegativeRecord:
    """One stored correction: a face that is not ``person``."""

    id: int
    person: str
    source: str | None
    created: str

    def to_dict(self) -> dict:
        return {"id": self.id, "not": self.person, "source": self.source, "created": self.created}


def _checksum(values: tuple, blob: bytes) -> bytes:
    return integrity.checksum("negatives", values, blob)


def load(conn, path, dim: int) -> dict[int, np.ndarray]:
    """``{person id: (m, dim) float32}`` of every stored negative, each row checked.

    Raises:
        GalleryError: a damaged row.
    """
    rows = store.negative_rows(conn)  # [] for an old read-only file without the table
    out: dict[int, list[np.ndarray]] = {}
    for r in rows:
        blob, digest = r[5], r[6]
        if not isinstance(blob, bytes) or len(blob) != dim * 4 or digest != _checksum(r[:5], blob):
            raise GalleryError(
                f"{path}: correction {r[0]} is damaged (its checksum does not match); remove "
                "it with `workbench negatives --remove`"
            )
        out.setdefault(int(r[1]), []).append(np.frombuffer(blob, np.float32))
    return {pid: np.stack(v) for pid, v in out.items()}


def reject(gallery: Gallery, embeddings: np.ndarray, name: str, *, source: str | None = None):
    """Store ``embeddings`` (one ``(D,)`` or ``(n, D)``) as faces that are not ``name``, in
    one transaction. Returns the new correction ids.

    Raises:
        InvalidArgumentError: a wrongly shaped or non-finite embedding.
        GalleryError: no person called ``name``.
    """
    name = lookup_name(name)
    vecs = check_queries(embeddings, gallery.dim)
    bad = integrity.bad_embedding_rows(vecs)
    if bad.size:
        from workbench.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"embedding {int(bad[0])} {integrity.describe_embedding(vecs[bad[0]])}: "
            "that is no face embedding"
        )
    with gallery.writer() as conn:
        with store.transaction(conn, gallery.path):
            pid, _ = store.existing_person(conn, gallery.path, name, "correct")
            created = store.now()
            first = store.next_negative_id(conn)
            ids, rows = [], []
            for i, v in enumerate(vecs):
                values = (first + i, pid, source, gallery.model_id, created)
                blob = v.tobytes()
                rows.append((*values, blob, _checksum(values, blob)))
                ids.append(first + i)
            store.insert_negatives(conn, rows)
        gallery.reload_negatives()
    return ids


def records(gallery: Gallery, name: str | None = None) -> list[NegativeRecord]:
    """Stored corrections (all, or those of ``name``), by id."""
    name = None if name is None else lookup_name(name)
    with gallery.reader() as conn:
        rows = store.negative_records(conn, gallery.path, name)
    return [NegativeRecord(*r) for r in rows]


def remove(gallery: Gallery, ids) -> int:
    """Remove corrections by id (all or none), in one transaction; returns how many.

    Raises:
        GalleryError: an id that is not stored.
    """
    wanted = checked_ids(ids)
    with gallery.writer() as conn:
        with store.transaction(conn, gallery.path):
            present = store.present_ids(conn, "negatives", wanted)
            missing = [i for i in wanted if i not in present]
            if missing:
                raise GalleryError(f"{gallery.path}: no correction with id {missing[0]}")
            store.delete_ids(conn, "negatives", wanted)
        gallery.reload_negatives()
    return len(wanted)


def veto(
    queries: np.ndarray,
    person_rows: np.ndarray,
    accepted: np.ndarray,
    *,
    person_ids: np.ndarray,
    negatives: dict[int, np.ndarray],
    own_faces,
) -> np.ndarray:
    """``accepted`` with the matches turned away that lie nearer one of the person's
    negatives than to that person's nearest own face.

    Args:
        queries: ``(N, D)`` float32.
        person_rows: ``(N, k)`` person index of each result (-1 for none).
        accepted: ``(N, k)`` bool.
        person_ids: ``(P,)`` person id of each index.
        negatives: ``{person id: (m, D)}``.
        own_faces: ``index -> (n, D)`` enrolled faces of that person.
    """
    if not negatives:
        return accepted
    out = accepted.copy()
    for qi, col in zip(*np.nonzero(accepted), strict=True):
        p = int(person_rows[qi, col])
        neg = negatives.get(int(person_ids[p])) if p >= 0 else None
        if neg is None:
            continue
        q = queries[qi]
        d_neg = np.sqrt(((neg - q) ** 2).sum(1)).min()
        d_own = np.sqrt(((own_faces(p) - q) ** 2).sum(1)).min()
        if d_neg < d_own:
            out[qi, col] = False
    return out
