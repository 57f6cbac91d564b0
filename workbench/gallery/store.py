"""The gallery's SQLite file: schema, opening checks and transactions.

One file, rollback journal (not WAL), ``synchronous=FULL``: after a commit the file alone
holds everything, so it can be copied or mailed, and a process killed mid-transaction
leaves a hot journal that SQLite rolls back on the next open. Every ``sqlite3`` error is
turned into :class:`GalleryError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workbench.errors import GalleryError
from workbench.gallery import integrity, pgstore

#: Bumped whenever a table changes. Version 1 (no checksums, no ``stored`` column),
#: version 2 (no ``unknowns`` and ``negatives`` tables), version 3 (no
#: ``unknown_groups``) and version 4 (no ``changes`` log) are upgraded in place on the
#: first open that can write the file (see :func:`migrate`; a PostgreSQL database of
#: version 4 too, see :func:`open_database`); other versions are refused.
SCHEMA_VERSION = 5

#: The versions :func:`read_meta` accepts (older ones are upgraded when writable).
READABLE_VERSIONS = ("1", "2", "3", "4", str(SCHEMA_VERSION))

#: ``PRAGMA application_id`` of a gallery ("WBG1"), so ``file(1)`` and we can tell it apart.
APPLICATION_ID = 0x57424731

_SQLITE_MAGIC = b"SQLite format 3\x00"

# Every row carries ``checksum``: integrity.checksum() of its other columns, verified on
# load. faces.stored = 1: the workbench itself saved the photo at ``source`` (the enroll
# panel's captures and uploads), so removing the face removes that file too.
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, checksum BLOB);
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    checksum BLOB
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
    created TEXT NOT NULL,
    stored INTEGER NOT NULL DEFAULT 0,
    checksum BLOB
);
CREATE INDEX faces_person ON faces(person_id);
CREATE INDEX faces_sha256 ON faces(sha256);
"""

# Schema 3. unknowns: faces recognition could not name, kept to be clustered and named
# (workbench/gallery/unknowns.py): a small JPEG of the aligned chip, where and when it
# was seen (source, frame, track) and its quality (the few best faces of a track stay).
# negatives: "this is not X" corrections, embeddings the decision keeps away from X.
_SCHEMA_3 = """
CREATE TABLE unknowns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    embedding BLOB NOT NULL,
    thumbnail BLOB,
    source TEXT,
    frame INTEGER,
    track TEXT,
    box TEXT,
    detector TEXT,
    score REAL,
    quality REAL,
    model_id TEXT NOT NULL,
    created TEXT NOT NULL,
    checksum BLOB
);
CREATE INDEX unknowns_track ON unknowns(source, track);
CREATE INDEX unknowns_created ON unknowns(created);
CREATE TABLE negatives (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL,
    source TEXT,
    model_id TEXT NOT NULL,
    created TEXT NOT NULL,
    checksum BLOB
);
CREATE INDEX negatives_person ON negatives(person_id);
"""

# Schema 4. unknown_groups: the user's own grouping of unknown faces (two proposals
# merged, a face moved out of one), which clustering keeps as given.
_SCHEMA_4 = """
CREATE TABLE unknown_groups (
    face_id INTEGER PRIMARY KEY REFERENCES unknowns(id) ON DELETE CASCADE,
    grp INTEGER NOT NULL,
    checksum BLOB
);
CREATE INDEX unknown_groups_grp ON unknown_groups(grp);
"""

# Schema 5. changes: the change log. Every write that changes what a search reads (faces
# added or removed, people added, renamed or removed, corrections) adds a row in its own
# transaction; another process holding the gallery open applies only the rows after the
# last one it applied (workbench/gallery/changes.py) instead of reading everything again.
# Rows hold ids only, never a name or an embedding: a removed person leaves no trace here.
_SCHEMA_5 = """
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    person_id INTEGER,
    first_id INTEGER,
    last_id INTEGER,
    checksum BLOB
);
"""

#: Every table of the current schema (SQLite's dialect; pgstore translates it).
SCHEMA_SQL = _SCHEMA + _SCHEMA_3 + _SCHEMA_4 + _SCHEMA_5

#: Columns of a face row in checksum order (``embedding`` is hashed as the blob).
FACE_COLUMNS = (
    "id, person_id, source, sha256, box, detector, model_id, score, created, stored, embedding"
)


#: What a call into ``sqlite3`` may raise on a damaged file: its own errors, and
#: Unicode errors from decoding an error message that quotes damaged schema text (seen
#: in fuzzing: "malformed database schema" with invalid UTF-8 in it) or from binding
#: text that cannot be encoded.
ERRORS = (sqlite3.Error, UnicodeError, pgstore.PgError)


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
    if isinstance(exc, UnicodeError):
        return GalleryError(
            f"{path}: cannot {action}: the file is damaged (text that is not valid UTF-8: "
            f"{getattr(exc, 'reason', exc)})"
        )
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
        _configure(conn)
        return conn
    except ERRORS as exc:
        raise _err(path, "open the gallery", exc) from None


def _decode_text(data: bytes) -> str:
    # Damaged bytes in a TEXT column come back as a str with lone surrogates instead of
    # an exception from deep inside a fetch; the row's checksum and the name checks then
    # report the row by its id.
    return data.decode("utf-8", "surrogateescape")


def _configure(conn: sqlite3.Connection) -> None:
    """Pragmas every connection to a gallery gets, the creating one included."""
    conn.text_factory = _decode_text
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    # Removed people must be gone from the file, not left in free pages: SQLite's own
    # default is off (Debian's build happens to turn it on; others do not).
    conn.execute("PRAGMA secure_delete = ON")
    # DELETE (the default) unlinks the rollback journal after each commit; PERSIST or
    # TRUNCATE would keep a journal file holding old page images (removed names).
    conn.execute("PRAGMA journal_mode = DELETE")


def create(path: Path, *, model_id: str, dim: int, threshold: float) -> bool:
    """Write a new empty gallery at ``path`` unless one appears there first.

    The file is built under a temp name and then hard-linked into place, which fails if
    ``path`` exists: two processes creating the same gallery at once both end up using
    the one that won (``os.replace`` would swap the file under the first one's open
    connection, whose writes then fail with "readonly database" and are lost). An
    existing empty (0-byte) file is replaced.

    Returns:
        ``True`` if this call created the file, ``False`` if another process did.

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
            _configure(conn)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("BEGIN")
            for statement in filter(str.strip, SCHEMA_SQL.split(";")):
                conn.execute(statement)
            write_meta(conn, initial_meta(model_id, dim, threshold))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return _link_into_place(tmp, path)
    except (*ERRORS, OSError) as exc:
        raise _err(path, "create the gallery", exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def initial_meta(model_id: str, dim: int, threshold: float) -> dict[str, str]:
    """The meta rows of a new, empty gallery (file or database)."""
    return {
        "schema_version": str(SCHEMA_VERSION),
        "model_id": model_id,
        "dim": str(dim),
        "threshold": repr(float(threshold)),
        "threshold_source": "default",
        "created": now(),
    }


def _link_into_place(tmp: str, path: Path) -> bool:
    """Put ``tmp`` at ``path`` only if nothing (or an empty file) is there."""
    for _ in range(3):
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            try:
                if path.stat().st_size:
                    return False  # another process made it: use theirs
            except FileNotFoundError:
                continue
            # An empty file (``touch``ed, or left by a tool): nothing to lose, replace it.
            os.replace(tmp, path)
            return True
        except OSError as exc:
            # File systems without hard links (FAT, some network mounts): the best left
            # is an exclusive create, then copy into it.
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            try:
                with open(path, "xb") as out, open(tmp, "rb") as src:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
                return True
            except FileExistsError:
                return False
    return False


def open_database(
    url: str, *, model_id: str | None, create: bool, dim: int, threshold: float
) -> tuple[pgstore.PgConnection, dict[str, str]]:
    """Connect, create the tables in an empty database (``create``), check and return the
    meta as :func:`read_meta` does for a file.

    Raises:
        GalleryError: cannot connect (refused, wrong credentials, no such database), an
            empty database with ``create=False``, a database of another application or
            schema version, or another ``model_id``.
    """
    where = pgstore.display(url)
    conn = pgstore.PgConnection(url)
    try:
        tables = conn.tables()
        if "meta" not in tables:
            if tables:
                raise GalleryError(
                    f"{where}: expected a workbench gallery, but this database has other "
                    f"tables {sorted(tables)[:8]} and no 'meta'; use an empty database"
                )
            if not create:
                raise GalleryError(f"{where}: no gallery here (the database has no tables)")
            if model_id is None:
                raise GalleryError(f"{where}: creating a gallery needs a model_id, got None")
            meta = initial_meta(model_id, dim, threshold)
            conn.create_schema(pgstore.schema_sql(SCHEMA_SQL), lambda c: write_meta(c, meta))
        meta = read_meta(conn, where)
        if model_id is not None and meta["model_id"] != model_id:
            raise GalleryError(
                f"{where}: this gallery holds embeddings of model {meta['model_id']!r}, "
                f"but model {model_id!r} was asked for; re-enroll with that model "
                "or open the gallery with the model it was made with"
            )
        if meta["schema_version"] == "4":
            meta = migrate_database(conn, where, meta)
        if meta["schema_version"] != str(SCHEMA_VERSION):
            raise GalleryError(
                f"{where}: gallery schema version {meta['schema_version']} in the database; "
                f"this workbench writes version {SCHEMA_VERSION} and upgrades version 4 "
                "in place (older ones: export and import)"
            )
    except BaseException:
        conn.close()
        raise
    return conn, meta


def write_meta(conn: sqlite3.Connection, items: dict[str, str]) -> None:
    """Insert or replace meta rows with their checksums (inside the caller's transaction)."""
    conn.executemany(
        "INSERT OR REPLACE INTO meta(key, value, checksum) VALUES (?, ?, ?)",
        [(k, v, integrity.checksum("meta", (k, v))) for k, v in items.items()],
    )


def person_checksum(pid: int, name: str, created: str) -> bytes:
    return integrity.checksum("people", (pid, name, created))


def face_checksum(values: tuple, embedding: bytes) -> bytes:
    """``values``: the face row's columns in :data:`FACE_COLUMNS` order, minus the blob."""
    return integrity.checksum("faces", values, embedding)


def read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    """The meta table, after checking this is a gallery of a schema version we read.

    Meta rows of schema 2 are checked against their checksums.

    Raises:
        GalleryError: another application's SQLite file, another schema version, a meta
            row that is damaged, or a corrupt file.
    """
    if isinstance(conn, pgstore.PgConnection):
        try:
            rows = conn.execute("SELECT key, value, checksum FROM meta").fetchall()
        except ERRORS as exc:
            raise _err(path, "read the gallery", exc) from None
        return _check_meta_rows(rows, path)
    try:
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id != APPLICATION_ID or "meta" not in tables:
            raise GalleryError(
                f"{path}: expected a workbench gallery, but this SQLite file has "
                f"application_id {app_id:#x} and tables {sorted(tables)}"
            )
        cols = [r[1] for r in conn.execute("PRAGMA table_info(meta)")]
        rows = conn.execute(
            "SELECT key, value, checksum FROM meta"
            if "checksum" in cols
            else "SELECT key, value, NULL FROM meta"
        ).fetchall()
    except ERRORS as exc:
        raise _err(path, "read the gallery", exc) from None
    return _check_meta_rows(rows, path)


def _check_meta_rows(rows: list, path) -> dict[str, str]:
    meta = {}
    for key, value, _ in rows:
        if not isinstance(key, str) or not isinstance(value, str):
            raise GalleryError(
                f"{path}: the gallery's meta row {key!r} is damaged: expected text, "
                f"but got {type(value).__name__}"
            )
        meta[key] = value
    version = meta.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise GalleryError(
            f"{path}: gallery schema version {str(version)[:20]} is not supported; "
            f"this workbench reads schema versions 1 and {SCHEMA_VERSION}"
        )
    if version != "1":
        for key, value, digest in rows:
            if digest != integrity.checksum("meta", (key, value)):
                raise GalleryError(
                    f"{path}: the gallery's meta row {key!r} is damaged (its checksum does "
                    "not match); restore a backup, or re-enroll from the photo folder into "
                    "a new gallery"
                )
    for key in ("model_id", "dim", "threshold"):
        if key not in meta:
            raise GalleryError(f"{path}: the gallery's meta table has no {key!r}")
    check_meta(meta, path)
    return meta


#: Largest embedding size a gallery may declare (dlib: 128; anything near this is damage).
MAX_DIM = 4096


def check_meta(meta: dict[str, str], path: Path) -> None:
    """Refuse meta values no write could have stored (damage or a hand edit).

    Raises:
        GalleryError: naming the key and its value.
    """
    for key, value in meta.items():
        try:
            key.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise GalleryError(
                f"{path}: the gallery's meta row {key.encode('utf-8', 'replace')!r} is "
                "damaged: not valid UTF-8 text"
            ) from None
    dim = meta["dim"]
    if not (dim.isascii() and dim.isdigit() and 1 <= int(dim) <= MAX_DIM):
        raise GalleryError(
            f"{path}: the gallery's meta row 'dim' is damaged: expected an integer in "
            f"1..{MAX_DIM}, but got {dim[:40]!r}"
        )
    problem = integrity.threshold_problem(meta["threshold"])
    if problem:
        raise GalleryError(f"{path}: the gallery's meta row 'threshold' is damaged: {problem}")


def migrate(conn: sqlite3.Connection, path: Path, meta: dict[str, str]) -> dict[str, str]:
    """Upgrade a gallery file of schema 1 to 4 to :data:`SCHEMA_VERSION` in one
    transaction; returns the new meta.

    Schema 1 had no checksums: they are computed here from what the file holds now, so
    damage done before the upgrade cannot be detected, only damage after it. Every row
    is still checked for what any write would have refused (see :func:`load`) first.
    Schema 2 lacks the ``unknowns`` and ``negatives`` tables, schema 3 the
    ``unknown_groups`` table, schema 4 the ``changes`` log: they are created empty.

    Raises:
        GalleryError: the upgrade failed (the file is left at its old version).
    """
    with transaction(conn, path):
        # Read again under the write lock: another process may have upgraded it since.
        meta = read_meta(conn, path)
        old = meta["schema_version"]
        if old == str(SCHEMA_VERSION):
            return meta
        if old == "1":
            conn.execute("ALTER TABLE meta ADD COLUMN checksum BLOB")
            conn.execute("ALTER TABLE people ADD COLUMN checksum BLOB")
            conn.execute("ALTER TABLE faces ADD COLUMN stored INTEGER NOT NULL DEFAULT 0")
            conn.execute("ALTER TABLE faces ADD COLUMN checksum BLOB")
        new_tables = (
            (_SCHEMA_3 if old in ("1", "2") else "")
            + (_SCHEMA_4 if old in ("1", "2", "3") else "")
            + _SCHEMA_5
        )
        for statement in filter(str.strip, new_tables.split(";")):
            conn.execute(statement)
        migrated = f"{old} -> {SCHEMA_VERSION} {now()}"
        meta = {**meta, "schema_version": str(SCHEMA_VERSION), "migrated": migrated}
        write_meta(conn, meta)
        if old != "1":
            return meta
        conn.executemany(
            "UPDATE people SET checksum = ? WHERE id = ?",
            [
                (person_checksum(i, n, c), i)
                for i, n, c in conn.execute("SELECT id, name, created FROM people").fetchall()
            ],
        )
        rows = conn.execute(f"SELECT {FACE_COLUMNS} FROM faces").fetchall()
        conn.executemany(
            "UPDATE faces SET checksum = ? WHERE id = ?",
            [(face_checksum(r[:-1], r[-1]), r[0]) for r in rows],
        )
    return meta


def migrate_database(conn, where: str, meta: dict[str, str]) -> dict[str, str]:
    """Upgrade a PostgreSQL gallery of schema 4 to :data:`SCHEMA_VERSION` in one
    transaction (the ``changes`` log, created empty); returns the new meta. Processes
    racing to upgrade wait for one another on the writers' lock; the second finds it done.

    Raises:
        GalleryError: the upgrade failed (the database is left at version 4).
    """
    with transaction(conn, where):
        meta = read_meta(conn, where)
        if meta["schema_version"] == "4":
            for statement in pgstore.schema_sql(_SCHEMA_5, support=False):
                conn.execute(statement)
            migrated = f"4 -> {SCHEMA_VERSION} {now()}"
            meta = {**meta, "schema_version": str(SCHEMA_VERSION), "migrated": migrated}
            write_meta(conn, meta)
    return meta


def quick_check(conn: sqlite3.Connection, path: Path, *, full: bool = False) -> None:
    """Run SQLite's structural check (reads every page: done on small files only).

    ``full`` runs ``integrity_check``, which also checks that every index agrees with
    its table (``quick_check`` does not: a damaged index could hide a row from a lookup
    by name or sha256 while a table scan still sees it).

    Raises:
        GalleryError: the check finds damage.
    """
    if isinstance(conn, pgstore.PgConnection):
        return  # the server keeps its own pages (initdb --data-checksums checks them)
    try:
        pragma = "integrity_check" if full else "quick_check"
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    except ERRORS as exc:
        raise _err(path, "check the gallery", exc) from None
    if rows != [("ok",)]:
        problems = "; ".join(str(r[0]) for r in rows[:3])
        raise GalleryError(f"{path}: the gallery file is damaged: {problems}")


def _damaged(path: Path, what: str, why: str) -> GalleryError:
    return GalleryError(
        f"{path}: {what} is damaged ({why}); restore a backup, or re-enroll from the "
        "photo folder into a new gallery"
    )


def load(
    conn: sqlite3.Connection, path: Path, dim: int, *, verify: bool = True, after_id: int = 0
) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray, np.ndarray]:
    """Everything search needs: people and every embedding, each row checked.

    Every row's checksum is verified (``verify``; schema 1 files have none: pass
    ``False`` for those), every
    embedding must be ``dim`` float32 values that are finite and of embedding scale
    (:data:`integrity.NORM_RANGE`), every name valid text, every face owned by a person.

    Returns:
        ``(people, face_ids, person_ids, embeddings)``: people as ``(id, name)`` sorted by
        id (all of them, whatever ``after_id``); ``(n,)`` int64 face ids ascending,
        ``(n,)`` int64 owner person ids and ``(n, dim)`` float32 embeddings in the same
        order.

    Raises:
        GalleryError: naming the first damaged row (face id, person name) and why.
    """
    try:
        people = conn.execute(
            "SELECT id, name, created, " + ("checksum" if verify else "NULL") + " FROM people "
            "ORDER BY id"
        ).fetchall()
        # after_id: only faces added since a snapshot that held faces up to that id.
        rows = _face_rows(conn, "id > ?", (int(after_id),), verify)
    except ERRORS as exc:
        raise _err(path, "read the gallery", exc) from None
    names = _checked_people(people, path, verify)
    return sorted(names.items()), *_checked_faces(rows, names, path, dim, verify)


def _face_rows(conn, where: str, args: tuple, verify: bool) -> list:
    # Schema 1 (``verify=False``) has neither ``stored`` nor ``checksum``.
    columns = FACE_COLUMNS if verify else FACE_COLUMNS.replace("stored", "0")
    return conn.execute(
        f"SELECT {columns}, " + ("checksum" if verify else "NULL") + " FROM faces "
        f"WHERE {where} ORDER BY id",
        args,
    ).fetchall()


def _checked_people(people: list, path: Path, verify: bool) -> dict[int, str]:
    """``{id: name}`` of ``(id, name, created, checksum)`` rows, each checked."""
    names: dict[int, str] = {}
    for pid, name, created, digest in people:
        what = f"person row {pid}"
        if verify and digest != person_checksum(pid, name, created):
            raise _damaged(path, what, "its checksum does not match")
        if not isinstance(name, str) or not isinstance(created, str):
            raise _damaged(path, what, "its name is not text")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise _damaged(path, what, "its name is not valid UTF-8") from None
        names[pid] = name
    return names


def _checked_faces(
    rows: list, names, path: Path, dim: int, verify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(face_ids, owner person ids, embeddings)`` of face rows, each checked; ``names``:
    ``{person id: name}`` of every person a face may belong to."""
    n = len(rows)
    size = dim * 4
    for r in rows:
        emb = r[-2]
        if verify and r[-1] != face_checksum(r[:-2], emb if isinstance(emb, bytes) else b""):
            raise _damaged(path, _face(r, names), "its checksum does not match")
        if not isinstance(emb, bytes) or len(emb) != size:
            raise _damaged(
                path,
                _face(r, names),
                f"expected an embedding of {dim} float32 values ({size} bytes), but got "
                + (f"{len(emb)} bytes" if isinstance(emb, bytes) else type(emb).__name__),
            )
        if r[1] not in names:
            raise _damaged(path, _face(r, names), "it belongs to no person")
    face_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    owners = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
    embeddings = np.frombuffer(b"".join(r[-2] for r in rows), dtype=np.float32)
    embeddings = embeddings.reshape(n, dim).copy()
    bad = integrity.bad_embedding_rows(embeddings)
    if bad.size:
        r = rows[int(bad[0])]
        why = "its embedding " + integrity.describe_embedding(embeddings[bad[0]])
        raise _damaged(path, _face(r, names), why)
    return face_ids, owners, embeddings


# -- the change log (schema 5; read back by workbench/gallery/changes.py) ----------------

#: The log keeps this many newest rows; a process further behind reloads everything.
#: At 20 changes/s that is over 8 minutes away; the table stays under ~1 MB.
LOG_KEEP = 10_000

#: Trimmed by the write whose sequence number is a multiple of this (one range DELETE
#: per this many writes, so the log holds at most LOG_KEEP + TRIM_EVERY rows).
TRIM_EVERY = 100

#: Kinds of log rows: faces added (``first_id..last_id``), people added (their ids
#: ``first_id..last_id``), one face removed (``first_id``, owner ``person_id``), a person
#: removed with all their faces, a person renamed, the corrections changed.
CHANGE_KINDS = ("faces", "people", "face_removed", "person_removed", "renamed", "negatives")


def change_checksum(values: tuple) -> bytes:
    """``values``: ``(seq, kind, person_id, first_id, last_id)``."""
    return integrity.checksum("changes", values)


def newest_change(conn: sqlite3.Connection) -> int:
    """The sequence number of the newest log row (0: none yet)."""
    return int(conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0)


def log_change(
    conn: sqlite3.Connection,
    kind: str,
    *,
    person_id: int | None = None,
    first_id: int | None = None,
    last_id: int | None = None,
) -> int:
    """Add a row to the change log inside the caller's write transaction (so it commits
    with the change, or not at all); returns its sequence number. Sequence numbers are
    given under the writers' lock, one more than the newest: they never repeat and have
    no gaps, so a reader sees a gap only where the log was trimmed."""
    seq = newest_change(conn) + 1
    values = (seq, kind, person_id, first_id, last_id)
    conn.execute(
        "INSERT INTO changes(seq, kind, person_id, first_id, last_id, checksum) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (*values, change_checksum(values)),
    )
    if seq % TRIM_EVERY == 0:
        conn.execute("DELETE FROM changes WHERE seq <= ?", (seq - LOG_KEEP,))
    return seq


def changes_since(conn: sqlite3.Connection, path: Path, seq: int) -> list[tuple] | None:
    """The log rows after ``seq`` as ``(seq, kind, person_id, first_id, last_id)``, in
    order; ``None`` when they cannot be trusted to be all: trimmed past ``seq``, a log
    that went back (the store was restored from an older copy), or a damaged row."""
    rows = _read(
        conn,
        path,
        "SELECT seq, kind, person_id, first_id, last_id, checksum FROM changes "
        "WHERE seq > ? ORDER BY seq",
        (int(seq),),
    )
    if not rows:
        return None if newest_change(conn) < seq else []
    out = []
    for expected, row in enumerate(rows, start=int(seq) + 1):
        values = tuple(row[:5])
        if row[0] != expected or row[5] != change_checksum(values):
            return None
        out.append(values)
    return out


def people_in(
    conn: sqlite3.Connection,
    path: Path,
    *,
    ranges: list[tuple[int, int]] = (),
    ids: list[int] = (),
) -> dict[int, str]:
    """``{id: name}`` of the people with ids in ``ranges`` (``(first, last)``, both
    included) or in ``ids``, each row checked as by :func:`load`."""
    sql = "SELECT id, name, created, checksum FROM people WHERE "
    rows = []
    try:
        for first, last in ranges:
            rows += conn.execute(sql + "id >= ? AND id <= ?", (first, last)).fetchall()
        for chunk, marks in _chunks(sorted(set(ids))):
            rows += conn.execute(sql + f"id IN ({marks})", chunk).fetchall()
    except ERRORS as exc:
        raise _err(path, "read the gallery", exc) from None
    return _checked_people(rows, path, True)


def faces_in(
    conn: sqlite3.Connection, path: Path, dim: int, ranges: list[tuple[int, int]], names
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(face_ids, owner person ids, embeddings)`` of the faces with ids in ``ranges``
    (ascending, not overlapping), each row checked as by :func:`load`; ``names``: every
    person a face may belong to."""
    rows = []
    try:
        for first, last in ranges:
            rows += _face_rows(conn, "id >= ? AND id <= ?", (first, last), True)
    except ERRORS as exc:
        raise _err(path, "read the gallery", exc) from None
    return _checked_faces(rows, names, path, dim, True)


def _face(row: tuple, names: dict[int, str]) -> str:
    owner = names.get(row[1])
    return f"face {row[0]}" + (f" of {owner!r}" if owner is not None else "")


def data_version(conn: sqlite3.Connection, path: Path) -> int:
    """``PRAGMA data_version``: changes whenever another connection commits (~10 us).
    (PostgreSQL's counterpart: :meth:`.stores.PgStore.data_version`.)"""
    try:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])
    except ERRORS as exc:
        raise _err(path, "read the gallery", exc) from None


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; roll back on any exception.

    Raises:
        GalleryError: wrapping any of :data:`ERRORS` (locked by another process, disk
            full, damaged file).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except ERRORS as exc:
        raise _err(path, "write the gallery", exc) from None
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(*ERRORS):
            conn.execute("ROLLBACK")
        if isinstance(exc, ERRORS):
            raise _err(path, "write the gallery", exc) from None
        raise


@contextlib.contextmanager
def read_transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` ... ``ROLLBACK``: reads that see one state (a read keeps nothing).

    Raises:
        GalleryError: wrapping any of :data:`ERRORS`.
    """
    try:
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            with contextlib.suppress(*ERRORS):
                conn.execute("ROLLBACK")
    except ERRORS as exc:
        raise GalleryError(f"{path}: cannot read the gallery: {exc}") from None


def purge(conn: sqlite3.Connection, path: Path) -> None:
    """``VACUUM`` the file (outside any transaction): ``secure_delete`` has overwritten
    removed rows at their commit already; the file shrinks. (PostgreSQL's counterpart:
    :func:`.pgstore.purge`.)

    Raises:
        GalleryError: SQLite refused.
    """
    try:
        conn.execute("VACUUM")
    except ERRORS as exc:
        raise GalleryError(f"{path}: cannot purge the gallery: {exc}") from None


def box_to_text(box: object) -> str | None:
    """Store a box as JSON text ``[x1, y1, x2, y2]`` (readable in any SQLite browser)."""
    if box is None:
        return None
    return json.dumps([round(float(v), 2) for v in np.asarray(box).reshape(4)])


def box_from_text(text: str | None) -> tuple[float, float, float, float] | None:
    """Inverse of :func:`box_to_text`."""
    if text is None:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in json.loads(text))
    except (ValueError, TypeError, RecursionError):
        raise ValueError(f"a box must be JSON [x1, y1, x2, y2], but got {text[:40]!r}") from None
    return (x1, y1, x2, y2)


# -- rows: every read and write of people and faces outside open/load ----------------------
# Reads take ``path`` to name the file in their error; writes run inside the caller's
# :func:`transaction`, which turns a failure into a GalleryError and rolls back.


def _read(
    conn: sqlite3.Connection,
    path: Path,
    sql: str,
    args: tuple | list = (),
    *,
    what: str = "the gallery",
) -> list:
    try:
        return conn.execute(sql, args).fetchall()
    except ERRORS as exc:
        raise GalleryError(f"{path}: cannot read {what}: {exc}") from None


def people_counts(conn: sqlite3.Connection, path: Path) -> list[tuple[str, int, str]]:
    """``(name, faces, created)`` of every person, in enrollment (id) order."""
    rows = _read(
        conn,
        path,
        "SELECT p.name, COUNT(f.id), p.created FROM people p "
        "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id ORDER BY p.id",
    )
    return [(name, int(n), created) for name, n, created in rows]


def face_records(conn: sqlite3.Connection, path: Path, name: str | None = None) -> list[FaceRecord]:
    """Every face (or ``name``'s), without embeddings, by id."""
    sql = (
        "SELECT f.id, p.name, f.source, f.sha256, f.box, f.detector, f.model_id, "
        "f.score, f.created FROM faces f JOIN people p ON p.id = f.person_id"
    )
    args: tuple = ()
    if name is not None:
        sql += " WHERE p.name = ?"
        args = (name,)
    out = []
    for r in _read(conn, path, sql + " ORDER BY f.id", args):
        try:
            box = box_from_text(r[4])
        except (ValueError, TypeError):
            raise GalleryError(f"{path}: face {r[0]} is damaged: bad box") from None
        out.append(FaceRecord(r[0], r[1], r[2], r[3], box, *r[5:]))
    return out


def stored_sources(conn: sqlite3.Connection, path: Path, name: str) -> list[str]:
    """Sources of ``name``'s photos that the workbench saved itself, by face id."""
    rows = _read(
        conn,
        path,
        "SELECT f.source FROM faces f JOIN people p ON p.id = f.person_id "
        "WHERE p.name = ? AND f.stored = 1 AND f.source IS NOT NULL ORDER BY f.id",
        (name,),
    )
    return [r[0] for r in rows]


def sha256_holders(conn: sqlite3.Connection, path: Path, digests: list[str]) -> dict[str, str]:
    """Which of ``digests`` are enrolled, mapped to the person holding each."""
    out: dict[str, str] = {}
    for i in range(0, len(digests), 500):  # SQLite's bound-parameter limit
        chunk = digests[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(
            _read(
                conn,
                path,
                "SELECT f.sha256, p.name FROM faces f JOIN people p "
                f"ON p.id = f.person_id WHERE f.sha256 IN ({marks})",
                chunk,
            )
        )
    return out


def person_names(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Every person's name (one scan of the people table)."""
    return [r[0] for r in _read(conn, path, "SELECT name FROM people")]


def next_id(conn: sqlite3.Connection, table: str) -> int:
    """The id AUTOINCREMENT would give the next row (ids are never reused)."""
    row = conn.execute(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
        f"COALESCE((SELECT MAX(id) FROM {table}), 0))",
        (table,),
    ).fetchone()
    return int(row[0]) + 1


def face_count(conn: sqlite3.Connection) -> int:
    """Number of stored faces."""
    return int(conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0])


def person_row(conn: sqlite3.Connection, name: str) -> tuple[int, str] | None:
    """``(id, created)`` of the person called ``name``, or ``None``."""
    row = conn.execute("SELECT id, created FROM people WHERE name = ?", (name,)).fetchone()
    return None if row is None else (int(row[0]), row[1])


def insert_person(conn: sqlite3.Connection, pid: int, name: str, created: str) -> None:
    conn.execute(
        "INSERT INTO people(id, name, created, checksum) VALUES (?, ?, ?, ?)",
        (pid, name, created, person_checksum(pid, name, created)),
    )


def insert_faces(conn: sqlite3.Connection, rows: list[tuple], vectors: np.ndarray) -> None:
    """Faces with their checksums, logged as one ``faces`` change of their id range;
    ``rows`` hold the :data:`FACE_COLUMNS` values before the embedding, one per row of
    ``vectors``, ids ascending (one call per transaction keeps the log short)."""
    if rows:
        owners = {r[1] for r in rows}
        log_change(
            conn,
            "faces",
            person_id=next(iter(owners)) if len(owners) == 1 else None,
            first_id=rows[0][0],
            last_id=rows[-1][0],
        )
    full = []
    for values, v in zip(rows, vectors, strict=True):
        blob = v.tobytes()
        full.append((*values, blob, face_checksum(values, blob)))
    conn.executemany(
        f"INSERT INTO faces({FACE_COLUMNS}, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        full,
    )


def rename_person(conn: sqlite3.Connection, pid: int, new: str, created: str) -> None:
    log_change(conn, "renamed", person_id=pid)
    conn.execute(
        "UPDATE people SET name = ?, checksum = ? WHERE id = ?",
        (new, person_checksum(pid, new, created), pid),
    )


def delete_person(conn: sqlite3.Connection, pid: int) -> tuple[int, list[tuple]]:
    """Delete a person and their faces: ``(faces deleted, (source, sha256) of the photos
    the workbench saved for them)``."""
    photos = conn.execute(
        "SELECT source, sha256 FROM faces WHERE person_id = ? AND stored = 1", (pid,)
    ).fetchall()
    n = conn.execute("DELETE FROM faces WHERE person_id = ?", (pid,)).rowcount
    conn.execute("DELETE FROM people WHERE id = ?", (pid,))
    log_change(conn, "person_removed", person_id=pid)
    return int(n), photos


def delete_face(
    conn: sqlite3.Connection, face_id: int
) -> tuple[str | None, str | None, int] | None:
    """Delete one face: its ``(source, sha256, stored)``, or ``None`` when there is none."""
    row = conn.execute(
        "SELECT source, sha256, stored, person_id FROM faces WHERE id = ?", (face_id,)
    ).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM faces WHERE id = ?", (face_id,))
    log_change(conn, "face_removed", person_id=row[3], first_id=face_id, last_id=face_id)
    return tuple(row[:3])


def move_sources(conn: sqlite3.Connection, moves: dict[str, str]) -> int:
    """Point faces whose source is a key of ``moves`` at its value (checksums kept
    true); returns how many."""
    marks = ",".join("?" * len(moves))
    rows = conn.execute(
        f"SELECT {FACE_COLUMNS} FROM faces WHERE source IN ({marks})", list(moves)
    ).fetchall()
    for r in rows:
        values = (r[0], r[1], moves[r[2]], *r[3:-1])
        conn.execute(
            "UPDATE faces SET source = ?, checksum = ? WHERE id = ?",
            (values[2], face_checksum(values, r[-1]), r[0]),
        )
    return len(rows)


def existing_person(
    conn: sqlite3.Connection, path: Path, name: str, action: str
) -> tuple[int, str]:
    """Inside a write: ``(id, created)`` of the person called ``name``, or GalleryError
    saying there is nobody to ``action``."""
    row = person_row(conn, name)
    if row is None:
        raise GalleryError(f"{path}: no person named {name!r} to {action}")
    return row


def _chunks(ids: list[int]) -> Iterator[tuple[list[int], str]]:
    """``(chunk, "?,?,...")`` of at most 500 ids (SQLite's bound-parameter limit)."""
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        yield chunk, ",".join("?" * len(chunk))


def present_ids(conn: sqlite3.Connection, table: str, ids: list[int]) -> set[int]:
    """Which of ``ids`` are rows of ``table`` (``unknowns`` or ``negatives``)."""
    present: set[int] = set()
    for chunk, marks in _chunks(ids):
        present |= {
            r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk)
        }
    return present


def delete_ids(conn: sqlite3.Connection, table: str, ids: list[int]) -> None:
    """Delete these rows of ``table`` (``unknowns`` or ``negatives``; the corrections are
    part of what a search reads: logged)."""
    if table == "negatives" and ids:
        log_change(conn, "negatives")
    for chunk, marks in _chunks(ids):
        conn.execute(f"DELETE FROM {table} WHERE id IN ({marks})", chunk)


# -- unknowns: faces nobody could name (workbench/gallery/unknowns.py) -------------------

#: Columns of an unknowns row in checksum order (``embedding`` + ``thumbnail`` hashed as
#: the blob).
UNKNOWN_COLUMNS = (
    "id, source, frame, track, box, detector, score, quality, model_id, created, "
    "embedding, thumbnail"
)

_UNKNOWNS = "the unknowns"


def next_unknown_id(conn: sqlite3.Connection) -> int:
    """The id the next unknown gets."""
    # AUTOINCREMENT's sqlite_sequence: ids are never reused, even after removals, so a
    # cluster id seen before a removal cannot name other faces after it.
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'unknowns'").fetchone()
    top = conn.execute("SELECT MAX(id) FROM unknowns").fetchone()[0]
    return max(int(row[0]) if row else 0, int(top or 0)) + 1


def insert_unknowns(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Unknowns; each row holds the :data:`UNKNOWN_COLUMNS` values and the checksum."""
    conn.executemany(
        f"INSERT INTO unknowns({UNKNOWN_COLUMNS}, checksum) VALUES ({','.join('?' * 13)})", rows
    )


def unknown_ids_between(conn: sqlite3.Connection, first: int, last: int) -> set[int]:
    """The stored unknown ids in ``first..last`` (both included)."""
    rows = conn.execute("SELECT id FROM unknowns WHERE id >= ? AND id < ?", (first, last + 1))
    return {r[0] for r in rows}


def keep_best_of_track(conn: sqlite3.Connection, source: str | None, track: str, keep: int) -> None:
    """Delete all but the ``keep`` best (by quality) unknowns of one track."""
    conn.execute(
        "DELETE FROM unknowns WHERE id IN (SELECT id FROM unknowns WHERE source IS ? AND "
        "track = ? ORDER BY quality DESC, id ASC LIMIT -1 OFFSET ?)",
        (source, track, keep),
    )


def delete_unknowns_before(conn: sqlite3.Connection, created: str) -> None:
    """Delete the unknowns stored before ``created`` (UTC ISO 8601)."""
    conn.execute("DELETE FROM unknowns WHERE created < ?", (created,))


def keep_newest_unknowns(conn: sqlite3.Connection, keep: int) -> None:
    """Delete all but the ``keep`` newest (highest id) unknowns."""
    conn.execute(
        "DELETE FROM unknowns WHERE id IN (SELECT id FROM unknowns ORDER BY id DESC "
        "LIMIT -1 OFFSET ?)",
        (int(keep),),
    )


def unknown_tracks(conn: sqlite3.Connection) -> list[tuple[str | None, str]]:
    """``(source, track)`` of every track that has stored unknowns."""
    return conn.execute(
        "SELECT DISTINCT source, track FROM unknowns WHERE track IS NOT NULL"
    ).fetchall()


def delete_all_unknowns(conn: sqlite3.Connection) -> int:
    """Delete every unknown; returns how many."""
    return int(conn.execute("DELETE FROM unknowns").rowcount)


def unknown_rows(conn: sqlite3.Connection, path: Path, ids: list[int] | None = None) -> list:
    """The :data:`UNKNOWN_COLUMNS` and checksum of every unknown (or of these ids), by id."""
    sql = f"SELECT {UNKNOWN_COLUMNS}, checksum FROM unknowns"
    if ids is None:
        return _read(conn, path, sql + " ORDER BY id", what=_UNKNOWNS)
    rows = []
    for chunk, marks in _chunks(ids):
        rows += _read(conn, path, f"{sql} WHERE id IN ({marks}) ORDER BY id", chunk, what=_UNKNOWNS)
    return sorted(rows, key=lambda r: r[0])


def unknown_sources(conn: sqlite3.Connection, path: Path) -> set[str]:
    """The distinct sources of the stored unknowns."""
    sql = "SELECT DISTINCT source FROM unknowns WHERE source IS NOT NULL"
    return {r[0] for r in _read(conn, path, sql, what=_UNKNOWNS)}


def count_unknowns(conn: sqlite3.Connection, path: Path, ids: list[int] | None = None) -> int:
    """Number of stored unknowns (or of these ids that are stored)."""
    if ids is None:
        return int(_read(conn, path, "SELECT COUNT(*) FROM unknowns", what=_UNKNOWNS)[0][0])
    n = 0
    for chunk, marks in _chunks(ids):
        sql = f"SELECT COUNT(*) FROM unknowns WHERE id IN ({marks})"
        n += int(_read(conn, path, sql, chunk, what=_UNKNOWNS)[0][0])
    return n


def unknown_groups(conn: sqlite3.Connection, path: Path) -> list[tuple[int, int, bytes]]:
    """``(face id, group, checksum)`` of every face the user grouped by hand."""
    sql = "SELECT face_id, grp, checksum FROM unknown_groups"
    return _read(conn, path, sql, what=_UNKNOWNS)


def next_group(conn: sqlite3.Connection) -> int:
    """A group number no grouped face has yet."""
    top = conn.execute("SELECT MAX(grp) FROM unknown_groups").fetchone()[0]
    return int(top or 0) + 1


def set_groups(conn: sqlite3.Connection, rows: list[tuple[int, int, bytes]]) -> None:
    """Put faces into groups: ``(face id, group, checksum)`` rows, replacing old ones."""
    conn.executemany(
        "INSERT OR REPLACE INTO unknown_groups(face_id, grp, checksum) VALUES (?, ?, ?)", rows
    )


# -- negatives: "this is not X" corrections (workbench/gallery/negatives.py) -------------

#: Columns of a negatives row in checksum order (``embedding`` hashed as the blob).
NEGATIVE_COLUMNS = "id, person_id, source, model_id, created, embedding"


def negative_rows(conn: sqlite3.Connection) -> list:
    """The :data:`NEGATIVE_COLUMNS` and checksum of every correction, by id (``[]`` for an
    old read-only file without the table)."""
    try:
        return conn.execute(
            f"SELECT {NEGATIVE_COLUMNS}, checksum FROM negatives ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:
        return []


def next_negative_id(conn: sqlite3.Connection) -> int:
    """The id the next correction gets."""
    top = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='negatives'").fetchone()
    return int(top[0]) + 1 if top else 1


def insert_negatives(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Corrections; each row holds the :data:`NEGATIVE_COLUMNS` values and the checksum."""
    if rows:
        log_change(conn, "negatives")
    conn.executemany(
        f"INSERT INTO negatives({NEGATIVE_COLUMNS}, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
    )


def negative_records(
    conn: sqlite3.Connection, path: Path, name: str | None = None
) -> list[tuple[int, str, str | None, str]]:
    """``(id, person, source, created)`` of every correction (or ``name``'s), by id."""
    sql = (
        "SELECT n.id, p.name, n.source, n.created FROM negatives n "
        "JOIN people p ON p.id = n.person_id"
    )
    args: tuple = ()
    if name is not None:
        sql += " WHERE p.name = ?"
        args = (name,)
    return _read(conn, path, sql + " ORDER BY n.id", args, what="the corrections")
