"""The gallery's SQLite file: schema, opening checks and transactions.

One file, rollback journal (not WAL), ``synchronous=FULL``: after a commit the file alone
holds everything, so it can be copied or mailed, and a process killed mid-transaction
leaves a hot journal that SQLite rolls back on the next open. Every ``sqlite3`` error is
turned into :class:`GalleryError` naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workbench.errors import GalleryError

#: Bumped whenever a table changes; a file of another version is refused, not migrated.
SCHEMA_VERSION = 1

#: ``PRAGMA application_id`` of a gallery ("WBG1"), so ``file(1)`` and we can tell it apart.
APPLICATION_ID = 0x57424731

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    source TEXT,
    sha256 TEXT,
    box TEXT,
    detector TEXT,
    model_id TEXT NOT NULL,
    score REAL,
    created TEXT NOT NULL
);
CREATE INDEX faces_person ON faces(person_id);
CREATE INDEX faces_sha256 ON faces(sha256);
"""


def now() -> str:
    """UTC time as ISO 8601 text, the form every ``created`` column holds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class FaceRecord:
    """One enrolled face as stored, without its embedding.

    Attributes:
        id: the face's row id, stable for the life of the gallery.
        person: name of the person it belongs to.
        source: where the image came from (a path, or ``None`` for arrays).
        sha256: hex digest of the source file (or of the pixels for arrays).
        box: ``(x1, y1, x2, y2)`` pixels in the source image.
        detector: name of the detector that found it.
        model_id: the embedder that produced the embedding.
        score: detector confidence.
        created: UTC ISO 8601.
    """

    id: int
    person: str
    source: str | None
    sha256: str | None
    box: tuple[float, float, float, float] | None
    detector: str | None
    model_id: str
    score: float | None
    created: str


def _err(path: Path, action: str, exc: BaseException) -> GalleryError:
    return GalleryError(f"{path}: cannot {action}: {exc}")


def check_header(path: Path) -> None:
    """Refuse a file that is not SQLite or is shorter than its header says.

    SQLite itself only notices a truncated file when a query reaches a missing page,
    which may be much later; the header's page count catches it at open.

    Raises:
        GalleryError: not an SQLite file, or truncated.
    """
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise _err(path, "read the gallery file", exc) from None
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise GalleryError(
            f"{path}: expected a gallery (an SQLite 3 file), but the file starts with "
            f"{header[:16]!r} ({size} bytes)"
        )
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    # The page count in the header is only trustworthy when written by SQLite >= 3.7.0,
    # which marks it valid by copying the change counter to offset 92.
    if valid_for == change_counter and page_count and size < page_count * page_size:
        raise GalleryError(
            f"{path}: the gallery file is truncated: its header says "
            f"{page_count * page_size} bytes, but the file has {size}"
        )


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` for use by several threads (callers serialise with a lock)."""
    try:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        return conn
    except sqlite3.Error as exc:
        raise _err(path, "open the gallery", exc) from None


def create(path: Path, *, model_id: str, dim: int, threshold: float) -> None:
    """Write a new empty gallery at ``path`` (a temp file renamed into place).

    Raises:
        GalleryError: the folder cannot be created or written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _err(path, "create the gallery", exc) from None
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("BEGIN")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("model_id", model_id),
                    ("dim", str(dim)),
                    ("threshold", repr(float(threshold))),
                    ("threshold_source", "default"),
                    ("created", now()),
                ],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        os.replace(tmp, path)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _err(path, "create the gallery", exc) from None


def read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    """The meta table, after checking this is a gallery of our schema version.

    Raises:
        GalleryError: another application's SQLite file, another schema version, or a
            corrupt file.
    """
    try:
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id != APPLICATION_ID or "meta" not in tables:
            raise GalleryError(
                f"{path}: expected a workbench gallery, but this SQLite file has "
                f"application_id {app_id:#x} and tables {sorted(tables)}"
            )
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise _err(path, "read the gallery", exc) from None
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise GalleryError(
            f"{path}: gallery schema version {version} is not supported; "
            f"this workbench reads schema version {SCHEMA_VERSION}"
        )
    for key in ("model_id", "dim", "threshold"):
        if key not in meta:
            raise GalleryError(f"{path}: the gallery's meta table has no {key!r}")
    return meta


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Run SQLite's structural check (reads every page: done on small files only).

    Raises:
        GalleryError: the check finds damage.
    """
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        raise _err(path, "check the gallery", exc) from None
    if rows != [("ok",)]:
        problems = "; ".join(r[0] for r in rows[:3])
        raise GalleryError(f"{path}: the gallery file is damaged: {problems}")


def load(
    conn: sqlite3.Connection, path: Path, dim: int
) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray, np.ndarray]:
    """Everything search needs: people and every embedding.

    Returns:
        ``(people, face_ids, person_ids, embeddings)``: people as ``(id, name)`` sorted by
        id; ``(n,)`` int64 face ids ascending, ``(n,)`` int64 owner person ids and
        ``(n, dim)`` float32 embeddings in the same order.

    Raises:
        GalleryError: unreadable rows or an embedding blob of the wrong size.
    """
    try:
        people = conn.execute("SELECT id, name FROM people ORDER BY id").fetchall()
        rows = conn.execute("SELECT id, person_id, embedding FROM faces ORDER BY id").fetchall()
    except sqlite3.Error as exc:
        raise _err(path, "read the gallery", exc) from None
    n = len(rows)
    face_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    owners = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
    blob = b"".join(r[2] for r in rows)
    if len(blob) != n * dim * 4 or any(len(r[2]) != dim * 4 for r in rows):
        raise GalleryError(
            f"{path}: expected embeddings of {dim} float32 values ({dim * 4} bytes) each, "
            "but some stored embedding has another size"
        )
    embeddings = np.frombuffer(blob, dtype=np.float32).reshape(n, dim).copy()
    return [(int(i), str(name)) for i, name in people], face_ids, owners, embeddings


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; roll back on any exception.

    Raises:
        GalleryError: wrapping any ``sqlite3.Error`` (locked by another process, disk
            full, damaged file).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _err(path, "write the gallery", exc) from None
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise _err(path, "write the gallery", exc) from None
        raise


def box_to_text(box: object) -> str | None:
    """Store a box as JSON text ``[x1, y1, x2, y2]`` (readable in any SQLite browser)."""
    if box is None:
        return None
    return json.dumps([round(float(v), 2) for v in np.asarray(box).reshape(4)])


def box_from_text(text: str | None) -> tuple[float, float, float, float] | None:
    """Inverse of :func:`box_to_text`."""
    if text is None:
        return None
    x1, y1, x2, y2 = json.loads(text)
    return (float(x1), float(y1), float(x2), float(y2))
