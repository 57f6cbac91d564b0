"""The gallery in a PostgreSQL database: ``Gallery("postgresql://user@host:port/db")``.

The same tables as the SQLite file (one schema, written once in :mod:`.store` and
translated here: ``BLOB`` -> ``BYTEA``, ``REAL`` -> ``DOUBLE PRECISION``), the same rows
and checksums, the same SQL: :class:`PgConnection` speaks the part of ``sqlite3``'s
connection API the gallery uses and rewrites SQLite's few dialect words (``?``,
``INSERT OR REPLACE``, ``IS ?``, ``sqlite_sequence``, the two-argument ``MAX``).

What SQLite gives by itself is built from plain PostgreSQL:

- one writer at a time (``BEGIN IMMEDIATE``): a write transaction starts by locking the
  single row of ``wb_version`` (``SELECT ... FOR UPDATE``), which every write waits for;
- ``PRAGMA data_version`` (changes when another connection commits): ``wb_version.v`` is
  bumped once by any transaction that changes a table (a statement trigger), minus the
  bumps of this connection's own transactions;
- ``AUTOINCREMENT``'s ids-never-reused: ``wb_sequence`` keeps the largest id each table
  ever held (a statement trigger on insert);
- ``PRAGMA application_id``: the ``meta`` table with a ``schema_version`` row, checked
  the same way as in the file.

Every write also sends ``NOTIFY workbench_gallery`` (delivered at commit), so a process
holding the gallery open learns of other processes' writes without asking
(:class:`Listener`).

psycopg is imported only when a URL is opened.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from workbench.errors import GalleryError

#: URL schemes that mean a PostgreSQL gallery.
SCHEMES = ("postgresql://", "postgres://")

#: The channel every write notifies.
CHANNEL = "workbench_gallery"

_TABLES_WITH_IDS = ("people", "faces", "unknowns", "negatives")
_ALL_TABLES = ("meta", *_TABLES_WITH_IDS, "unknown_groups")

# Upserts of SQLite's INSERT OR REPLACE: the conflict target of each table it is used on.
_PRIMARY_KEYS = {"meta": "key", "unknown_groups": "face_id", "people": "id", "faces": "id"}

_SUPPORT = f"""
CREATE TABLE wb_version (id INTEGER PRIMARY KEY CHECK (id = 1), v BIGINT NOT NULL);
INSERT INTO wb_version VALUES (1, 0);
CREATE TABLE wb_sequence (name TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE FUNCTION wb_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction: the row lock is the writers' lock, the value the version.
    IF coalesce(current_setting('wb.bumped', true), '') <> '1' THEN
        UPDATE wb_version SET v = v + 1 WHERE id = 1;
        PERFORM set_config('wb.bumped', '1', true);
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION wb_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wb_sequence
        SELECT TG_TABLE_NAME, max(id) FROM new_rows HAVING max(id) IS NOT NULL
        ON CONFLICT (name) DO UPDATE SET seq = GREATEST(wb_sequence.seq, EXCLUDED.seq);
    RETURN NULL;
END $$;
"""


class PgError(Exception):
    """A psycopg error raised through :class:`PgConnection` (caught as ``store.ERRORS``)."""


def is_url(location: object) -> bool:
    """Is ``location`` a PostgreSQL URL rather than a file path?"""
    return isinstance(location, str) and location.startswith(SCHEMES)


def gallery_location(text: str | os.PathLike) -> str | Path:
    """What ``Gallery`` takes, from a setting or a command line: a PostgreSQL URL stays
    text (``Path`` would fold its ``//``), anything else is a file path.

    Example:
        >>> gallery_location("postgresql://me@db:5432/faces")
        'postgresql://me@db:5432/faces'
        >>> gallery_location("reference_images/gallery.sqlite")
        PosixPath('reference_images/gallery.sqlite')
    """
    return str(text) if is_url(str(text)) else Path(text)


def display(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise GalleryError(
            "a PostgreSQL gallery needs psycopg 3: pip install 'psycopg[binary]'"
        ) from None
    return psycopg


def _connect_error(url: str, exc: BaseException) -> GalleryError:
    """One line that says what went wrong and what to check."""
    text = str(exc).strip()
    parts = urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError:  # out of range or not a number: libpq's own message says which
        port = parts.netloc.rpartition(":")[2]
    where = f"{parts.hostname or 'localhost'}:{port}"
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        why = f"wrong user name or password for user {parts.username!r}"
    elif "does not exist" in low and "database" in low:
        why = f"there is no database {parts.path.lstrip('/')!r} on {where} (createdb it first)"
    elif "does not exist" in low and "role" in low:
        why = f"there is no user {parts.username!r} on the server {where}"
    elif "connection refused" in low or "could not connect" in low:
        why = f"connection refused: is a PostgreSQL server running on {where}?"
    elif "timeout" in low or "timed out" in low:
        why = f"no answer from {where} within the timeout"
    elif "no pg_hba.conf entry" in low:
        why = f"the server {where} does not allow this user/host (pg_hba.conf)"
    else:
        why = text.splitlines()[0] if text else type(exc).__name__
    return GalleryError(f"{display(url)}: cannot connect to the PostgreSQL server: {why}")


# ---------------------------------------------------------------- SQL dialect

_IS_PARAM = re.compile(r"\bIS \?")
_UPSERT = re.compile(r"INSERT OR REPLACE INTO (\w+)\s*\(([^)]*)\)(.*)", re.S | re.I)
_IGNORE = re.compile(r"INSERT OR IGNORE INTO (.*)", re.S | re.I)


# A plain INSERT ... VALUES (%s, ...) (no ON CONFLICT), and rows per multi-row INSERT
# (PostgreSQL takes at most 65535 parameters per statement: 13 columns x 2000 is well under).
_VALUES = re.compile(r"^\s*(INSERT INTO [^;]*?)\s+VALUES\s*(\((?:%s,\s*)*%s\))\s*$", re.S)
_CHUNK = 2000


def translate(sql: str) -> str:
    """SQLite's dialect as used by the gallery, in PostgreSQL's."""
    sql = sql.replace("%", "%%")
    sql = _IS_PARAM.sub("IS NOT DISTINCT FROM ?", sql)
    sql = sql.replace("sqlite_sequence", "wb_sequence")
    sql = sql.replace("LIMIT -1", "LIMIT ALL")
    # _next_id's MAX(a, b) of two scalars (SQLite's scalar max) is GREATEST.
    sql = sql.replace("SELECT MAX(COALESCE(", "SELECT GREATEST(COALESCE(")
    m = _UPSERT.match(sql.strip())
    if m:
        table, cols, rest = m.group(1), m.group(2), m.group(3)
        key = _PRIMARY_KEYS[table]
        names = [c.strip() for c in cols.split(",")]
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c != key)
        sql = f"INSERT INTO {table}({cols}){rest} ON CONFLICT ({key}) DO UPDATE SET {sets}"
    m = _IGNORE.match(sql.strip())
    if m:
        sql = f"INSERT INTO {m.group(1)} ON CONFLICT DO NOTHING"
    return sql.replace("?", "%s")


def schema_sql(sqlite_schema: str, *, support: bool = True) -> list[str]:
    """The gallery's SQLite ``CREATE`` statements in PostgreSQL's types, then (``support``:
    a new database, not an upgrade) the support tables and triggers."""
    ddl = sqlite_schema
    ddl = ddl.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT PRIMARY KEY")
    ddl = re.sub(r"\bINTEGER\b", "BIGINT", ddl)
    ddl = re.sub(r"\bBLOB\b", "BYTEA", ddl)
    ddl = re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl)
    statements = [s.strip() for s in ddl.split(";") if s.strip()]
    if not support:
        return statements
    statements.append(_SUPPORT)
    for t in _ALL_TABLES:
        statements.append(
            f"CREATE TRIGGER {t}_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wb_bump()"
        )
    for t in _TABLES_WITH_IDS:
        statements.append(
            f"CREATE TRIGGER {t}_seq AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION wb_seq()"
        )
    return statements


# ---------------------------------------------------------------- the connection


class PgConnection:
    """A psycopg connection that answers like the ``sqlite3`` one the gallery uses.

    ``execute``/``executemany`` take SQLite's SQL; ``BEGIN IMMEDIATE`` takes the writers'
    lock; :meth:`data_version` mirrors ``PRAGMA data_version``. Errors come out as
    :class:`PgError` with psycopg's first line. Not thread-safe by itself: the gallery
    serialises its calls with its lock, as for SQLite.
    """

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        psycopg = _psycopg()
        self.url = url
        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except (psycopg.Error, ValueError) as exc:
            raise _connect_error(url, exc) from None
        self._own = 0  # wb_version bumps made by this connection's own transactions
        self._write_start: int | None = None

    # The subset of sqlite3.Connection the gallery calls.

    def execute(self, sql: str, params: Any = ()) -> Any:
        word = sql.strip().upper()
        if word == "BEGIN IMMEDIATE":
            self._raw("BEGIN")
            self._write_start = self._version(lock=True)
            return None
        if word == "BEGIN":
            # A read transaction sees one state of every table, like SQLite's.
            self._raw("BEGIN ISOLATION LEVEL REPEATABLE READ")
            return None
        if word == "COMMIT":
            if self._write_start is not None:
                self._own += self._version() - self._write_start
                self._write_start = None
            self._raw("COMMIT")
            return None
        if word == "ROLLBACK":
            self._write_start = None
            self._raw("ROLLBACK")
            return None
        return self._raw(translate(sql), params)

    def executemany(self, sql: str, rows) -> Any:
        rows = list(rows)
        sql = translate(sql)
        try:
            cur = self._conn.cursor()
            m = _VALUES.match(sql)
            if m and len(rows) > 1:
                # One multi-row INSERT per chunk instead of a statement (and a trigger
                # run) per row: bulk enrollment ~5x faster (benchmarks/gallery.py stores).
                head, one = m.group(1), m.group(2)
                for i in range(0, len(rows), _CHUNK):
                    chunk = rows[i : i + _CHUNK]
                    values = ", ".join([one] * len(chunk))
                    cur.execute(f"{head} VALUES {values}", [v for r in chunk for v in r])
                return cur
            cur.executemany(sql, rows)
            return cur
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self._conn.close()

    def _raw(self, sql: str, params: Any = ()) -> Any:
        try:
            return self._conn.execute(sql, params or None)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> PgError:
        if self._conn.closed or isinstance(exc, self._psycopg.OperationalError):
            text = str(exc).strip().splitlines()
            return PgError(
                "lost the connection to the PostgreSQL server" + (f" ({text[0]})" if text else "")
            )
        return PgError(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))

    def _version(self, *, lock: bool = False) -> int:
        sql = "SELECT v FROM wb_version WHERE id = 1" + (" FOR UPDATE" if lock else "")
        return int(self._raw(sql).fetchone()[0])

    def data_version(self) -> int:
        """Changes whenever another connection commits a change (``PRAGMA data_version``)."""
        return self._version() - self._own

    @property
    def broken(self) -> bool:
        return bool(self._conn.closed or self._conn.broken)

    def tables(self) -> set[str]:
        rows = self._raw(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {r[0] for r in rows}

    def create_schema(self, statements: list[str], fill) -> bool:
        """Create the tables and ``fill(self)`` them (the meta rows) in one transaction,
        unless another process did it first; ``True`` if this call created them."""
        self._raw("BEGIN")
        try:
            # Two processes creating at once: the second waits here, then sees the tables.
            self._raw("SELECT pg_advisory_xact_lock(hashtext('workbench_gallery_create'))")
            created = "meta" not in self.tables()
            if created:
                for s in statements:
                    self._raw(s)
                fill(self)  # in the same transaction: nobody sees tables without meta
            self._raw("COMMIT")
        except BaseException:
            if not self._conn.closed:
                self._conn.rollback()
            raise
        return created


def purge(conn: PgConnection, where: str) -> None:
    """``VACUUM (FULL)`` of every gallery table, then a ``CHECKPOINT`` where allowed
    (outside any transaction; see ``Gallery.purge`` for what it guarantees).

    Raises:
        GalleryError: the server refused (e.g. not the tables' owner).
    """
    try:
        conn.execute(f"VACUUM (FULL) {', '.join(_ALL_TABLES[1:])}")
    except PgError as exc:
        raise GalleryError(f"{where}: cannot purge the gallery: {exc}") from None
    try:
        conn.execute("CHECKPOINT")
    except PgError:
        pass  # needs pg_checkpoint rights: the table files are rewritten anyway


class Listener:
    """Waits for ``NOTIFY workbench_gallery`` on its own connection in a daemon thread and
    sets :attr:`changed`; a search then asks the database only when told something changed.

    If the connection drops, :attr:`changed` is set (so the next search asks, and learns
    the server is gone) and the thread tries again every second.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.changed = threading.Event()
        self.changed.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gallery-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        psycopg = _psycopg()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.changed.set()  # anything may have happened while not listening
                    while not self._stop.is_set():
                        # A timeout, so close() is noticed within half a second.
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.changed.set()
            except (psycopg.Error, OSError):
                self.changed.set()
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
