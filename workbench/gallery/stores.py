"""The store a :class:`~workbench.gallery.Gallery` works through: one named protocol
(:class:`GalleryStore`, the operations ``core.py`` needs) and its two implementations,
:class:`SqliteStore` (the file) and :class:`PgStore` (a PostgreSQL database).

The SQL stays in the stores' modules: :mod:`.store` holds one function per operation
(SQLite's dialect), which :class:`.pgstore.PgConnection` translates for PostgreSQL; these
classes bind a connection and the location messages name to them, and hold what the two
stores do differently (what ``data_version`` is, what a lost connection is, what purging
takes). ``core.py`` calls only these methods; the modules that run their own store
functions inside a write (unknowns, naming, negatives) get the bound connection from
``Gallery.writer()`` / ``reader()`` as before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from workbench.errors import GalleryError
from workbench.gallery import pgstore, store

#: Files up to this size get SQLite's full ``quick_check`` at open (it reads every page);
#: bigger ones are still checked by the header and by reading every row's checksum.
QUICK_CHECK_MAX_BYTES = 256 * 2**20

#: Files up to this size get ``integrity_check`` instead, which also checks that the
#: indexes (by name, by sha256) agree with their tables.
INTEGRITY_CHECK_MAX_BYTES = 32 * 2**20


@runtime_checkable
class GalleryStore(Protocol):
    """What a gallery needs of the place its rows live.

    Every method raises :class:`~workbench.errors.GalleryError` naming
    :attr:`location` on a store error; writes run inside :meth:`transaction`.
    """

    #: What messages call the store: the file's path, or the URL with its password masked.
    location: Path | str
    #: The connection the store functions run on (``sqlite3`` or :class:`.PgConnection`).
    conn: Any

    @property
    def broken(self) -> bool:
        """The connection is lost (a PostgreSQL server gone); never for a file."""
        ...

    def close(self) -> None: ...

    # transactions and versions
    def transaction(self) -> contextlib.AbstractContextManager: ...
    def read_transaction(self) -> contextlib.AbstractContextManager: ...
    def data_version(self) -> int: ...

    # meta
    def read_meta(self) -> dict[str, str]: ...
    def write_meta(self, items: dict[str, str]) -> None: ...

    # what a search reads
    def load(
        self, dim: int, *, verify: bool = True
    ) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray, np.ndarray]: ...

    # the change log (schema 5)
    def newest_change(self) -> int: ...
    def changes_since(self, seq: int) -> list[tuple] | None: ...
    def log_change(self, kind: str, **ids: int | None) -> int: ...
    def people_in(
        self, *, ranges: list[tuple[int, int]] = (), ids: list[int] = ()
    ) -> dict[int, str]: ...
    def faces_in(
        self, dim: int, ranges: list[tuple[int, int]], names
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    # people and faces
    def next_id(self, table: str) -> int: ...
    def person_row(self, name: str) -> tuple[int, str] | None: ...
    def existing_person(self, name: str, action: str) -> tuple[int, str]: ...
    def person_names(self) -> list[str]: ...
    def insert_person(self, pid: int, name: str, created: str) -> None: ...
    def insert_faces(self, rows: list[tuple], vectors: np.ndarray) -> None: ...
    def rename_person(self, pid: int, new: str, created: str) -> None: ...
    def delete_person(self, pid: int) -> tuple[int, list[tuple]]: ...
    def delete_face(self, face_id: int) -> tuple | None: ...
    def move_sources(self, moves: dict[str, str]) -> int: ...
    def people_counts(self) -> list[tuple[str, int, str]]: ...
    def face_records(self, name: str | None = None) -> list[store.FaceRecord]: ...
    def stored_sources(self, name: str) -> list[str]: ...
    def sha256_holders(self, digests: list[str]) -> dict[str, str]: ...

    # removal that deletes
    def purge(self) -> None: ...


class SqliteStore:
    """The gallery file (:mod:`.store`: one file, rollback journal, ``secure_delete``)."""

    def __init__(self, conn, location: Path | str) -> None:
        self.conn = conn
        self.location = location

    @property
    def broken(self) -> bool:
        return False

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with store.transaction(self.conn, self.location) as conn:
            yield conn

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Any]:
        with store.read_transaction(self.conn, self.location) as conn:
            yield conn

    def data_version(self) -> int:
        return store.data_version(self.conn, self.location)

    def read_meta(self) -> dict[str, str]:
        return store.read_meta(self.conn, self.location)

    def write_meta(self, items: dict[str, str]) -> None:
        store.write_meta(self.conn, items)

    def load(self, dim: int, *, verify: bool = True):
        return store.load(self.conn, self.location, dim, verify=verify)

    def newest_change(self) -> int:
        return store.newest_change(self.conn)

    def changes_since(self, seq: int) -> list[tuple] | None:
        return store.changes_since(self.conn, self.location, seq)

    def log_change(self, kind: str, **ids: int | None) -> int:
        return store.log_change(self.conn, kind, **ids)

    def people_in(self, *, ranges=(), ids=()) -> dict[int, str]:
        return store.people_in(self.conn, self.location, ranges=ranges, ids=ids)

    def faces_in(self, dim: int, ranges, names):
        return store.faces_in(self.conn, self.location, dim, ranges, names)

    def next_id(self, table: str) -> int:
        return store.next_id(self.conn, table)

    def person_row(self, name: str) -> tuple[int, str] | None:
        return store.person_row(self.conn, name)

    def existing_person(self, name: str, action: str) -> tuple[int, str]:
        return store.existing_person(self.conn, self.location, name, action)

    def person_names(self) -> list[str]:
        return store.person_names(self.conn, self.location)

    def insert_person(self, pid: int, name: str, created: str) -> None:
        store.insert_person(self.conn, pid, name, created)

    def insert_faces(self, rows: list[tuple], vectors: np.ndarray) -> None:
        store.insert_faces(self.conn, rows, vectors)

    def rename_person(self, pid: int, new: str, created: str) -> None:
        store.rename_person(self.conn, pid, new, created)

    def delete_person(self, pid: int) -> tuple[int, list[tuple]]:
        return store.delete_person(self.conn, pid)

    def delete_face(self, face_id: int) -> tuple | None:
        return store.delete_face(self.conn, face_id)

    def move_sources(self, moves: dict[str, str]) -> int:
        return store.move_sources(self.conn, moves)

    def people_counts(self) -> list[tuple[str, int, str]]:
        return store.people_counts(self.conn, self.location)

    def face_records(self, name: str | None = None) -> list[store.FaceRecord]:
        return store.face_records(self.conn, self.location, name)

    def stored_sources(self, name: str) -> list[str]:
        return store.stored_sources(self.conn, self.location, name)

    def sha256_holders(self, digests: list[str]) -> dict[str, str]:
        return store.sha256_holders(self.conn, self.location, digests)

    def purge(self) -> None:
        """``VACUUM`` (``secure_delete`` has overwritten removed rows already; the file
        shrinks)."""
        store.purge(self.conn, self.location)


class PgStore(SqliteStore):
    """A PostgreSQL database (:mod:`.pgstore`): the same statements through
    :class:`.pgstore.PgConnection`; ``data_version`` is the ``wb_version`` counter less
    this connection's own bumps; a lost server is :attr:`broken`; purging is
    ``VACUUM (FULL)`` of every gallery table."""

    @property
    def broken(self) -> bool:
        return bool(self.conn.broken)

    def data_version(self) -> int:
        """``wb_version`` less this connection's own bumps (``PRAGMA data_version``'s
        meaning: changes when another connection commits)."""
        try:
            return self.conn.data_version()
        except store.ERRORS as exc:
            raise GalleryError(f"{self.location}: cannot read the gallery: {exc}") from None

    def purge(self) -> None:
        """``VACUUM (FULL)`` of every gallery table, then ``CHECKPOINT`` where allowed."""
        pgstore.purge(self.conn, self.location)

    def reconnect(self, url: str) -> None:
        """A new connection in place of a broken one (GalleryError while down)."""
        fresh = pgstore.PgConnection(url, connect_timeout=2.0)
        old, self.conn = self.conn, fresh
        with contextlib.suppress(Exception):
            old.close()


def open_file(
    path: Path, *, model_id: str | None, create: bool, dim: int, threshold: Callable[[], float]
) -> tuple[SqliteStore, dict[str, str]]:
    """Open (or create) the gallery file and check it: header, meta, model, structure;
    upgrade an older schema in place when this process may write the file. Returns the
    store and the meta (``schema_version`` "1" left only where it could not be upgraded:
    rows without checksums).

    Raises:
        GalleryError: a folder, a missing or empty file with ``create=False``, not a
            gallery, damaged, another schema or another ``model_id``.
    """
    if path.is_dir():
        raise GalleryError(f"{path}: expected a gallery file, but this is a folder")
    try:
        size = path.stat().st_size if path.exists() else None
    except OSError as exc:
        raise GalleryError(f"{path}: cannot read the gallery file: {exc}") from None
    if not size:
        if not create:
            raise GalleryError(
                f"{path}: no gallery here (the file does not exist)"
                if size is None
                else f"{path}: expected a gallery, but the file is empty (0 bytes)"
            )
        if model_id is None:
            raise GalleryError(f"{path}: creating a gallery needs a model_id, got None")
        # False when another process created it first: then we open theirs.
        store.create(path, model_id=model_id, dim=dim, threshold=threshold())
    # A process killed mid-transaction leaves a hot journal, and the file may then be
    # shorter than its (new) header says until SQLite rolls the journal back on the
    # first read: check the header after that read, not before.
    journal = path.with_name(path.name + "-journal")
    hot_journal = journal.exists() and journal.stat().st_size > 0
    if not hot_journal:
        store.check_header(path)
    conn = store.connect(path)
    try:
        meta = store.read_meta(conn, path)
        if hot_journal:
            store.check_header(path)
        _check_model(meta, model_id, path)
        size = path.stat().st_size
        if size <= QUICK_CHECK_MAX_BYTES:
            store.quick_check(conn, path, full=size <= INTEGRITY_CHECK_MAX_BYTES)
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
        if meta["schema_version"] == "1":
            # Schema 1 has no checksums: check its rows by what any write would have
            # refused, then add checksums if this process may write the file.
            store.load(conn, path, int(meta["dim"]), verify=False)
            if writable:
                meta = store.migrate(conn, path, meta)
        elif meta["schema_version"] != str(store.SCHEMA_VERSION) and writable:
            meta = store.migrate(conn, path, meta)  # schemas 2-4: add the new tables
    except BaseException:
        conn.close()
        raise
    return SqliteStore(conn, path), meta


def open_database(
    url: str, *, model_id: str | None, create: bool, dim: int, threshold: Callable[[], float]
) -> tuple[PgStore, dict[str, str]]:
    """Connect to the gallery database (creating its tables in an empty one, upgrading
    schema 4 in place) and check it as :func:`open_file` checks a file.

    Raises:
        GalleryError: see :func:`.store.open_database`.
    """
    conn, meta = store.open_database(
        url, model_id=model_id, create=create, dim=dim, threshold=threshold()
    )
    return PgStore(conn, pgstore.display(url)), meta


def _check_model(meta: dict[str, str], model_id: str | None, where) -> None:
    if model_id is not None and meta["model_id"] != model_id:
        raise GalleryError(
            f"{where}: this gallery holds embeddings of model {meta['model_id']!r}, "
            f"but model {model_id!r} was asked for; re-enroll with that model "
            "or open the gallery with the model it was made with"
        )
