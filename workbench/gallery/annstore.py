"""The approximate index kept between processes: beside the SQLite file, or in the database.

Building the IVF index of a 1M-face gallery takes minutes; reading it back takes about a
second (docs/benchmarks/gallery.md). What is kept is one blob: a header (format, model,
dimension, decision, the index options that shape it, the faces it reflects), the faiss
index serialised, and a sha256 of both. It is used only when all of it agrees:

- the checksum: a truncated, damaged or edited blob is rebuilt, never read;
- the key: model id, dimension, decision and index options;
- the content: the sha256 of the gallery's faces up to the highest face id the index
  holds (their ids, owners and float32 vectors) must be the one recorded. Face ids only
  grow and a face never changes in place, so faces another process added since are added
  to the loaded index (faiss IVF ``add``) instead of rebuilding it; a removal changes the
  digest, and a stale index is rebuilt.

Even a trusted index only proposes candidates: every distance a search reports is
recomputed from the gallery's own float32 vectors (:mod:`.search`), so an index that lies
can make a search miss, never name the wrong person.

Where it is kept:

- **SQLite**: ``<gallery file>.index`` beside the file, written whole through
  :func:`workbench.files.atomic_path`. The old file's bytes are overwritten with zeros
  before the new one replaces it, so a removed face's vector or code is not left in a
  freed file (``secure_delete`` does the same inside the gallery file).
- **PostgreSQL**: the ``UNLOGGED`` table ``wb_ann_index`` in the gallery's schema, in
  parts of 8 MB. In the database rather than in a per-machine cache: every machine that
  opens the gallery reads the one copy (a second machine opens in seconds too), and the
  process that removes a person rewrites that one copy; a cache on each machine would
  keep the removed person's codes on machines the remover cannot reach. ``UNLOGGED``:
  the blob is a cache that can be rebuilt, so it stays out of the write-ahead log (no
  WAL copies of removed faces' codes, 136 MB less WAL per save at 1M), at the price of
  being emptied by a server crash and not reaching standbys (a reader there builds its
  own). Each save ``TRUNCATE``\\ s it, which gives the table new files and unlinks the old.

A save happens after this process built an index (or added more than
:data:`.search.RESAVE_FRACTION` to a loaded one) and after this process removed faces. It is
written only if the store still holds exactly the faces the index reflects, checked
under the store's lock (SQLite: a read transaction, which keeps writers from
committing; PostgreSQL: the writers' row lock), so an index built from a snapshot taken
before another process's removal never replaces the remover's rewrite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.files import atomic_path
from workbench.gallery import pgstore
from workbench.gallery.snapshot import Snapshot

#: First bytes of a kept index (the last byte is the format version).
MAGIC = b"WBANNIX\x01"

#: The PostgreSQL table of the kept index.
TABLE = "wb_ann_index"

#: Size of one row of :data:`TABLE` (bytea values are limited to 1 GB each).
PART_BYTES = 8 * 2**20

_log = logging.getLogger(__name__)


class Rejected(Exception):
    """Why a kept index is not used (it is rebuilt)."""


@dataclass(frozen=True)
class IndexStatus:
    """Where the approximate index of this process came from.

    Attributes:
        source: ``"kept"`` (read back), ``"built"`` (built in this process) or ``"none"``
            (no index yet: below the threshold or not searched yet).
        detail: why, e.g. the reason a kept index was not used.
        seconds: how long reading or building it took.
        added: faces added to a kept index when it was read (enrolled since it was kept).
    """

    source: str = "none"
    detail: str = ""
    seconds: float = 0.0
    added: int = 0


@dataclass(frozen=True)
class Kept:
    """An index read back and checked against a snapshot."""

    index: object  # the faiss index
    trained_on: int
    max_face_id: int
    faces: int  # rows of the snapshot it reflects (face ids <= max_face_id)


def digest(s: Snapshot, max_face_id: int) -> tuple[int, str]:
    """``(rows, sha256 hex)`` of the snapshot's faces with ids up to ``max_face_id``:
    their ids, owners' person ids and float32 vectors (0.3 s at 1M faces)."""
    m = int(np.searchsorted(s.face_ids, max_face_id, side="right"))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(s.face_ids[:m], np.int64))
    h.update(np.ascontiguousarray(s.person_ids[s.owners[:m]], np.int64))
    h.update(np.ascontiguousarray(s.vectors[:m], np.float32))
    return m, h.hexdigest()


def pack(header: dict, payload) -> list:
    """The chunks of a kept index: magic, header length and JSON, payload, sha256."""
    head = json.dumps(header, sort_keys=True).encode()
    body = MAGIC + struct.pack("<Q", len(head)) + head
    h = hashlib.sha256(body)
    h.update(payload)
    return [body, payload, h.digest()]


def unpack(blob) -> tuple[dict, memoryview]:
    """``(header, payload)`` of a kept index.

    Raises:
        Rejected: not an index of this format, truncated, or its checksum disagrees.
    """
    view = memoryview(blob)
    if len(view) < len(MAGIC) + 8 + 32 or bytes(view[: len(MAGIC)]) != MAGIC:
        raise Rejected("not a kept index of this format (or truncated)")
    (n,) = struct.unpack("<Q", view[len(MAGIC) : len(MAGIC) + 8])
    start = len(MAGIC) + 8 + n
    if start + 32 > len(view) or hashlib.sha256(view[:-32]).digest() != bytes(view[-32:]):
        raise Rejected("checksum mismatch: the kept index is truncated or damaged")
    try:
        header = json.loads(bytes(view[len(MAGIC) + 8 : start]))
    except ValueError:
        raise Rejected("unreadable header") from None
    if not isinstance(header, dict):
        raise Rejected("unreadable header")
    return header, view[start:-32]


def _scrub(path: Path) -> None:
    """Overwrite a file's bytes with zeros in place (before it is replaced or unlinked:
    a freed file's blocks keep their content until reused)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    zeros = bytes(1 << 20)
    with open(path, "r+b") as fh:
        for offset in range(0, size, len(zeros)):
            fh.write(zeros[: min(len(zeros), size - offset)])
        fh.flush()
        os.fsync(fh.fileno())


class _Changed(Exception):
    """The store no longer holds the faces an index reflects: it is not written."""


class FileSlot:
    """The kept index of an SQLite gallery: ``<gallery>.index`` beside the file."""

    def __init__(self, gallery: Path) -> None:
        self.gallery = Path(gallery)
        self.path = self.gallery.with_name(self.gallery.name + ".index")

    def __str__(self) -> str:
        return str(self.path)

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def _holding(self, max_face_id: int, faces: int):
        """Hold the gallery's shared lock (no other connection commits meanwhile) and
        say whether it still has exactly ``faces`` faces with ids up to ``max_face_id``."""
        uri = self.gallery.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=10.0, isolation_level=None)
        try:
            conn.execute("BEGIN")
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM faces WHERE id <= ?", (int(max_face_id),)
            ).fetchone()
            yield int(n) == int(faces)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()

    def write(self, chunks: list, *, max_face_id: int, faces: int) -> bool:
        try:
            with contextlib.ExitStack() as stack:
                with atomic_path(self.path, suffix=".tmp") as tmp:
                    with open(tmp, "wb") as fh:
                        for chunk in chunks:
                            fh.write(chunk)
                    if not stack.enter_context(self._holding(max_face_id, faces)):
                        raise _Changed
                    _scrub(self.path)
                # Replaced while the lock is still held (the stack closes it after).
        except _Changed:
            return False
        except sqlite3.Error as exc:
            raise OSError(f"cannot check the gallery: {exc}") from None
        return True

    def erase(self) -> None:
        if self.path.exists():
            _scrub(self.path)
            self.path.unlink(missing_ok=True)


class PgSlot:
    """The kept index of a PostgreSQL gallery: the rows of :data:`TABLE`, read and written
    on a connection of its own (the gallery's is the gallery lock's)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __str__(self) -> str:
        return f"{pgstore.display(self.url)} ({TABLE})"

    def read(self) -> bytes | None:
        conn = pgstore.PgConnection(self.url)
        try:
            if TABLE not in conn.tables():
                return None
            rows = conn.execute(f"SELECT data FROM {TABLE} ORDER BY part").fetchall()
        finally:
            conn.close()
        return b"".join(bytes(r[0]) for r in rows) or None

    def _rewrite(self, chunks: list | None, max_face_id: int = -1, faces: int = 0) -> bool:
        conn = pgstore.PgConnection(self.url)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the writers' lock: nothing commits meanwhile
            try:
                if chunks is not None:
                    (n,) = conn.execute(
                        "SELECT COUNT(*) FROM faces WHERE id <= ?", (int(max_face_id),)
                    ).fetchone()
                    if int(n) != int(faces):
                        conn.execute("ROLLBACK")
                        return False
                if TABLE not in conn.tables():
                    if chunks is None:
                        conn.execute("ROLLBACK")
                        return True
                    conn.execute(
                        f"CREATE UNLOGGED TABLE {TABLE} "
                        "(part BIGINT PRIMARY KEY, data BYTEA NOT NULL)"
                    )
                    # The codes do not compress: skip TOAST's attempt.
                    conn.execute(f"ALTER TABLE {TABLE} ALTER COLUMN data SET STORAGE EXTERNAL")
                conn.execute(f"TRUNCATE {TABLE}")
                if chunks is not None:
                    blob = memoryview(b"".join(chunks))
                    for part, start in enumerate(range(0, len(blob), PART_BYTES)):
                        conn.execute(
                            f"INSERT INTO {TABLE} (part, data) VALUES (?, ?)",
                            (part, blob[start : start + PART_BYTES]),
                        )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(pgstore.PgError):
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return True

    def write(self, chunks: list, *, max_face_id: int, faces: int) -> bool:
        return self._rewrite(chunks, max_face_id, faces)

    def erase(self) -> None:
        self._rewrite(None)


def slot_for(location: Path | str, url: str | None) -> FileSlot | PgSlot:
    """Where the index of the gallery at ``location`` (or database ``url``) is kept."""
    return PgSlot(url) if url is not None else FileSlot(Path(location))


class KeptIndex:
    """Reading, checking, writing and erasing the kept index of one gallery.

    Failures to read or write are logged and never raised into a search: the index is
    then built (or just not kept) as before.
    """

    def __init__(self, slot: FileSlot | PgSlot, *, model_id: str, dim: int, options) -> None:
        self.slot = slot
        self.model_id = model_id
        self.dim = int(dim)
        self.options = options
        #: Where the index in use came from, see :class:`IndexStatus`.
        self.status = IndexStatus()

    def key(self, decision: str) -> dict:
        o = self.options
        return {
            "format": 1,
            "model_id": self.model_id,
            "dim": self.dim,
            "decision": decision,
            "lists_per_sqrt": float(o.lists_per_sqrt),
            "train_per_list": int(o.train_per_list),
            "quantize": bool(o.quantize),
        }

    def restore(self, s: Snapshot, decision: str, *, centroid: bool) -> Kept | None:
        """The kept index, if it is sound and reflects ``s`` (its faces up to the kept
        highest id); ``None`` otherwise (:attr:`status` says why)."""
        start = time.perf_counter()
        try:
            blob = self.slot.read()
        except (OSError, pgstore.PgError, Exception) as exc:  # noqa: BLE001 - logged, rebuilt
            self._rejected(f"cannot read it: {exc}")
            return None
        if blob is None:
            self.status = IndexStatus("none", f"no kept index at {self.slot}")
            return None
        try:
            kept = self._check(blob, s, decision, centroid=centroid)
        except Rejected as exc:
            self._rejected(str(exc))
            return None
        added = s.n - kept.faces
        self.status = IndexStatus(
            "kept", f"read from {self.slot}", time.perf_counter() - start, added
        )
        return kept

    def _check(self, blob, s: Snapshot, decision: str, *, centroid: bool) -> Kept:
        header, payload = unpack(blob)
        key = self.key(decision)
        made = {k: header.get(k) for k in key}
        if made != key:
            raise Rejected(f"made for other settings ({made}, wanted {key})")
        try:
            max_face_id, faces = int(header["max_face_id"]), int(header["faces"])
            trained_on = int(header["trained_on"])
            recorded = str(header["digest"])
        except (KeyError, TypeError, ValueError):
            raise Rejected("unreadable header") from None
        m, now = digest(s, max_face_id)
        if m != faces or now != recorded:
            raise Rejected("stale: the gallery's faces changed since it was kept")
        import faiss

        try:
            index = faiss.deserialize_index(np.frombuffer(payload, np.uint8).copy())
        except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError on garbage
            raise Rejected(f"faiss cannot read it: {exc}") from None
        want = len(np.unique(s.owners[:m])) if centroid else m
        if index.d != self.dim or index.ntotal != want or not hasattr(index, "nprobe"):
            raise Rejected(f"holds {index.ntotal} {index.d}-D vectors, expected {want}")
        return Kept(index, trained_on, max_face_id, m)

    def _rejected(self, why: str) -> None:
        _log.info("%s: not using the kept approximate index: %s; rebuilding", self.slot, why)
        self.status = IndexStatus("none", why)

    def save(self, index, s: Snapshot, decision: str, *, trained_on: int) -> bool:
        """Keep ``index``, which reflects snapshot ``s`` exactly; ``False`` if the store
        changed meanwhile (not written) or it could not be written (logged)."""
        import faiss

        payload = faiss.serialize_index(index)
        m, dig = digest(s, int(s.face_ids[-1]))
        header = self.key(decision) | {
            "max_face_id": int(s.face_ids[-1]),
            "faces": m,
            "trained_on": int(trained_on),
            "digest": dig,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        try:
            written = self.slot.write(
                pack(header, payload), max_face_id=header["max_face_id"], faces=m
            )
        except (OSError, pgstore.PgError) as exc:
            _log.warning("%s: cannot keep the approximate index: %s", self.slot, exc)
            return False
        if not written:
            _log.info("%s: the gallery changed while saving its index; not kept", self.slot)
        return written

    def erase(self) -> None:
        """Remove the kept index (its bytes overwritten first where it is a file)."""
        try:
            self.slot.erase()
        except (OSError, pgstore.PgError) as exc:
            _log.warning("%s: cannot erase the kept approximate index: %s", self.slot, exc)
