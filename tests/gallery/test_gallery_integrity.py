"""Damaged or hand-edited gallery files: every row checked, every problem a GalleryError.

Also: removal leaves no trace in the raw file (secure_delete), schema 1 files upgrade.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector, fill_gallery, raw_sql

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import SCHEMA_VERSION, Gallery, store


def _sql(path, *statements: tuple) -> None:
    raw_sql(path, *statements)


@pytest.mark.parametrize(
    "value",
    [
        np.full(128, np.nan, np.float32),
        np.full(128, np.inf, np.float32),
        np.full(128, 1e38, np.float32),
        np.zeros(128, np.float32),
        np.full(128, 1.0, np.float32),  # norm 11.3
        np.full(128, 1e-3, np.float32),
    ],
    ids=["nan", "inf", "1e38", "zeros", "ones", "tiny"],
)
def test_writes_refuse_embeddings_no_embedder_makes(gallery, value) -> None:
    with pytest.raises(InvalidArgumentError, match="embedding 1 of 'x'|must be finite"):
        gallery.add_embeddings("x", np.stack([face_vector(0, 0), value]))
    assert len(gallery) == 0 and gallery.people == []


def test_bad_embedding_rows_agrees_with_float64_norms_at_the_bounds() -> None:
    """The check runs in float32; at and around NORM_RANGE's ends, and far outside it
    (where float32 squares overflow or underflow), it says what float64 norms say."""
    from workbench.gallery.integrity import NORM_RANGE, bad_embedding_rows

    rng = np.random.default_rng(0)
    unit = rng.normal(size=(1, 128))
    unit /= np.linalg.norm(unit)
    lo, hi = NORM_RANGE
    scales = [lo * 0.999, lo * 1.001, 1.0, hi * 0.999, hi * 1.001, 1e-30, 1e-20, 1e20, 1e30]
    rows = np.vstack([unit * s for s in scales]).astype(np.float32)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    expected = np.flatnonzero(~((norms >= lo) & (norms <= hi)))
    assert bad_embedding_rows(rows).tolist() == expected.tolist() == [0, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (np.full(128, 1e38, np.float32).tobytes(), "norm"),
        (np.full(128, np.nan, np.float32).tobytes(), "NaN"),
        (b"\x00" * 12, "512 bytes"),
        pytest.param(
            "a text embedding",
            "str",
            marks=pytest.mark.sqlite_only("a PostgreSQL BYTEA column holds no text"),
        ),
    ],
    ids=["1e38", "nan", "short", "text"],
)
def test_load_refuses_bad_embeddings_naming_the_face(gallery_path, blob, why) -> None:
    """Even with a matching checksum (a hand edit, or schema 1 without checksums), a value
    no write accepts is refused at open, naming the face and its person."""
    fill_gallery(gallery_path)
    ((r,),) = raw_sql(gallery_path, (f"SELECT {store.FACE_COLUMNS} FROM faces WHERE id = 3",))
    digest = store.face_checksum(r[:-1], blob if isinstance(blob, bytes) else b"")
    _sql(
        gallery_path, ("UPDATE faces SET embedding = ?, checksum = ? WHERE id = 3", (blob, digest))
    )
    with pytest.raises(GalleryError, match=rf"face 3 of 'person 1' is damaged.*{why}"):
        Gallery(gallery_path, model_id=MODEL)


@pytest.mark.parametrize(
    ("statement", "match"),
    [
        ("UPDATE faces SET embedding = ? WHERE id = 2", r"face 2 of 'person 0' is damaged"),
        ("UPDATE faces SET person_id = 3 WHERE id = ?", r"face 1 of 'person 2' is damaged"),
        ("UPDATE faces SET source = 'evil.jpg' WHERE id = ?", "is damaged"),
        ("UPDATE faces SET box = '[1, 2' WHERE id = ?", "is damaged"),
        ("UPDATE people SET name = 'Mallory' WHERE id = ?", "person row 1 is damaged"),
        pytest.param(
            "UPDATE people SET name = CAST(X'ff41' AS TEXT) WHERE id = ?",
            "person row 1 is damag",
            marks=pytest.mark.sqlite_only("PostgreSQL refuses text that is not UTF-8"),
        ),
        (
            "UPDATE meta SET value = '0.9' WHERE key = 'threshold' AND ? = 1",
            "'threshold' is damaged",
        ),
        pytest.param(
            "UPDATE meta SET value = CAST(X'ff' AS TEXT) WHERE key = 'created' AND ? = 1",
            "'created'",
            marks=pytest.mark.sqlite_only("PostgreSQL refuses text that is not UTF-8"),
        ),
    ],
)
def test_changed_rows_fail_their_checksum(gallery_path, statement, match) -> None:
    fill_gallery(gallery_path)
    arg = face_vector(5, 5).tobytes() if "embedding" in statement else 1
    _sql(gallery_path, (statement, (arg,)))
    with pytest.raises(GalleryError, match=match):
        Gallery(gallery_path, model_id=MODEL)


@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf", "1e999", "x", ""])
def test_stored_threshold_must_be_positive_finite(gallery_path, value) -> None:
    fill_gallery(gallery_path)
    digest = store.integrity.checksum("meta", ("threshold", value))
    _sql(
        gallery_path,
        ("UPDATE meta SET value = ?, checksum = ? WHERE key = 'threshold'", (value, digest)),
    )
    with pytest.raises(GalleryError, match="'threshold' is damaged: expected a"):
        Gallery(gallery_path, model_id=MODEL)


@pytest.mark.parametrize("value", ["nan", -5, 0, float("inf"), "x"])
def test_set_threshold_refuses_unusable_values(gallery, value) -> None:
    with pytest.raises(InvalidArgumentError, match="threshold"):
        gallery.set_threshold(value)
    assert gallery.threshold == pytest.approx(0.6)


def test_empty_file_is_named_as_empty_not_missing(tmp_path) -> None:
    path = tmp_path / "g.sqlite"
    path.write_bytes(b"")
    with pytest.raises(GalleryError, match=r"empty \(0 bytes\)"):
        Gallery(path, model_id=MODEL, create=False)
    with Gallery(path, model_id=MODEL) as g:  # with create, an empty file becomes a gallery
        assert len(g) == 0
    assert path.stat().st_size > 0


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    journal = path.with_name(path.name + "-journal")
    return data + (journal.read_bytes() if journal.exists() else b"")


@pytest.mark.sqlite_only("reads the SQLite file's raw bytes and journal")
def test_removed_person_leaves_no_trace_in_the_file(gallery_path) -> None:
    """secure_delete is set by the package, not left to how SQLite was built: the name
    and the embedding bytes are gone from the raw file (and no journal keeps them)."""
    fill_gallery(gallery_path, people=2)
    secret = "Zebediah Quux"
    vector = face_vector(42, 0)
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings(secret, vector[None], sources=["/photos/zebediah.jpg"])
        assert g._conn.execute("PRAGMA secure_delete").fetchone() == (1,)  # noqa: SLF001
        assert secret.encode() in _raw(gallery_path)
        assert vector.tobytes() in _raw(gallery_path)
        g.remove_person(secret)
        raw = _raw(gallery_path)
        assert secret.encode() not in raw and b"zebediah" not in raw
        assert vector.tobytes() not in raw and vector.tobytes()[:64] not in raw
        g.rename("person 0", "Renamed")
        assert b"person 0" not in _raw(gallery_path)
    assert not gallery_path.with_name(gallery_path.name + "-journal").exists()


@pytest.mark.sqlite_only("an SQLite pragma")
def test_secure_delete_is_on_even_when_sqlite_defaults_it_off(gallery_path, monkeypatch) -> None:
    """The probe's point: the pragma must come from the package. A connection that
    starts with secure_delete off (SQLite's usual default) is turned on by connect()."""
    real_connect = sqlite3.connect

    def connect_off(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(store.sqlite3, "connect", connect_off)
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Quentin Zyx", face_vector(1, 0)[None])
        g.remove_person("Quentin Zyx")
    assert b"Quentin Zyx" not in _raw(gallery_path)


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL, source TEXT, sha256 TEXT, box TEXT, detector TEXT,
    model_id TEXT NOT NULL, score REAL, created TEXT NOT NULL);
CREATE INDEX faces_person ON faces(person_id);
CREATE INDEX faces_sha256 ON faces(sha256);
"""


def _schema_1(path: Path, embedding: bytes | None = None) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA application_id = {store.APPLICATION_ID}")
    con.executescript(_SCHEMA_1)
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("schema_version", "1"), ("model_id", MODEL), ("dim", "128"), ("threshold", "0.6")],
    )
    con.execute("INSERT INTO people VALUES (1, 'Ada', '2026-01-01T00:00:00+00:00')")
    for i in range(2):
        blob = embedding if embedding is not None and i else face_vector(0, i).tobytes()
        con.execute(
            "INSERT INTO faces(person_id, embedding, source, model_id, created) "
            "VALUES (1, ?, ?, ?, '2026-01-01T00:00:00+00:00')",
            (blob, f"ada{i}.jpg", MODEL),
        )
    con.commit()
    con.close()


@pytest.mark.sqlite_only("schema 1 existed only as SQLite files")
def test_schema_1_gallery_is_upgraded_on_first_open(gallery_path) -> None:
    _schema_1(gallery_path)
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.people == ["Ada"] and len(g) == 2
        assert g.search(face_vector(0, 0)).best()[0].name == "Ada"
    con = sqlite3.connect(gallery_path)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) and "migrated" in meta
    assert con.execute("SELECT COUNT(*) FROM faces WHERE checksum IS NULL").fetchone() == (0,)
    con.execute("UPDATE faces SET source = 'x.jpg' WHERE id = 1")  # now damage is seen
    con.commit()
    con.close()
    with pytest.raises(GalleryError, match="face 1 of 'Ada' is damaged"):
        Gallery(gallery_path, model_id=MODEL)


@pytest.mark.sqlite_only("schema 1 existed only as SQLite files")
def test_schema_1_gallery_with_a_bad_row_is_refused_not_upgraded(gallery_path) -> None:
    _schema_1(gallery_path, embedding=np.full(128, 1e38, np.float32).tobytes())
    with pytest.raises(GalleryError, match="face 2 of 'Ada' is damaged.*norm"):
        Gallery(gallery_path, model_id=MODEL)
    con = sqlite3.connect(gallery_path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    con.close()


@pytest.mark.sqlite_only("schema 1 existed only as SQLite files")
def test_read_only_schema_1_gallery_still_opens(gallery_path, monkeypatch) -> None:
    """Without write access the upgrade is skipped and the rows are only checked by what
    any write would refuse (os.access is patched: tests may run as root)."""
    from workbench.gallery import core

    _schema_1(gallery_path)
    monkeypatch.setattr(core.os, "access", lambda *_a, **_k: False)
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.people == ["Ada"] and len(g) == 2
    con = sqlite3.connect(gallery_path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    con.close()


@pytest.mark.sqlite_only("flips bytes of the SQLite file")
def test_damaged_schema_text_is_a_gallery_error(gallery_path) -> None:
    """Found by the fuzz suite: SQLite's "malformed database schema" message quotes the
    damaged schema, and Python failed to decode it (UnicodeDecodeError at connect)."""
    fill_gallery(gallery_path)
    data = bytearray(gallery_path.read_bytes())
    at = data.index(b"CREATE TABLE people")
    data[at + 13] = 0xC1  # not valid UTF-8
    gallery_path.write_bytes(bytes(data))
    with pytest.raises(GalleryError, match="damaged"):
        Gallery(gallery_path, model_id=MODEL)
