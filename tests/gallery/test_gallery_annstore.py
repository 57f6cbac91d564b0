"""The approximate index kept between processes (workbench/gallery/annstore.py), on both
stores: read back by a second open, faces enrolled since added to it, a stale or damaged
one rebuilt, and a removal leaving none of the removed vector's bytes in it.

Small galleries with a lowered threshold (``IndexOptions(threshold=...)``), so the index
path runs in well under a second."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from gallery_fakes import MODEL, raw_sql

from workbench.gallery import Decision, FaceBatch, Gallery, IndexOptions, annstore, pgstore
from workbench.gallery import search as search_mod

N = 240  # faces, two per person
OPTS = IndexOptions(threshold=100)


def _unit(seed: int, n: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _filled(location, decision="centroid", options=OPTS, seed=7) -> np.ndarray:
    x = _unit(seed, N)
    with Gallery(location, model_id=MODEL, index=options, decision=decision) as g:
        g.add_many([FaceBatch(f"p{i // 2}", x[i : i + 2]) for i in range(0, N, 2)])
        g.build_index()
        assert g.index_status.source == "built"
    return x


def _no_builds(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the index was built although a sound kept one was there")

    monkeypatch.setattr(search_mod.AnnIndex, "__init__", refuse)


def _slot(location):
    return annstore.slot_for(location, str(location) if pgstore.is_url(location) else None)


def _put(location, blob: bytes) -> None:
    """Replace the kept index behind the gallery's back (damage, an old copy)."""
    if pgstore.is_url(location):
        raw_sql(
            location,
            (f"DELETE FROM {annstore.TABLE}",),
            (f"INSERT INTO {annstore.TABLE} (part, data) VALUES (?, ?)", (0, blob)),
        )
    else:
        _slot(location).path.write_bytes(blob)


@pytest.mark.parametrize("decision", list(Decision))
def test_kept_index_is_read_back_by_a_second_open(gallery_path, decision, monkeypatch) -> None:
    x = _filled(gallery_path, decision)
    q = x[::7] + 0.01
    with Gallery(gallery_path, model_id=MODEL, decision=decision) as exact:
        want = exact.search(q).names[:, 0]  # default options: exact below 20,000
    _no_builds(monkeypatch)
    with Gallery(gallery_path, model_id=MODEL, index=OPTS, decision=decision) as g:
        got = g.search(q).names[:, 0]
        assert g.index_status.source == "kept", g.index_status
        assert g.index_status.added == 0
    assert np.mean(got == want) >= 0.95


@pytest.mark.parametrize("decision", list(Decision))
def test_faces_enrolled_since_are_added_not_rebuilt(gallery_path, decision, monkeypatch) -> None:
    x = _filled(gallery_path, decision)
    newcomer = _unit(99, 1)
    # Another gallery object (as another process would) enrolls without searching.
    with Gallery(gallery_path, model_id=MODEL, index=OPTS, decision=decision) as other:
        other.add_embeddings("newcomer", newcomer)
        other.add_embeddings("p0", x[:1] + 0.002)  # an existing person's centroid moves
    _no_builds(monkeypatch)
    with Gallery(gallery_path, model_id=MODEL, index=OPTS, decision=decision) as g:
        assert g.search(newcomer + 0.001).best()[0].name == "newcomer"
        assert g.index_status.source == "kept" and g.index_status.added == 2
        assert g.search(x[:1]).best()[0].name == "p0"


def test_stale_index_is_rebuilt_not_trusted(gallery_path) -> None:
    """A face removed behind the kept index's back (a hand edit, or a remover that died
    before rewriting it): its digest no longer matches, so it is rebuilt."""
    x = _filled(gallery_path)
    [[(face_id,)]] = raw_sql(gallery_path, ("SELECT MIN(id) FROM faces",))
    raw_sql(gallery_path, ("DELETE FROM faces WHERE id = ?", (face_id,)))
    with Gallery(gallery_path, model_id=MODEL, index=OPTS) as g:
        g.search(x[:1])
        assert g.index_status.source == "built"
        assert "stale" in g.index_status.detail
    with Gallery(gallery_path, model_id=MODEL, index=OPTS) as g:  # the rebuilt one was kept
        g.search(x[:1])
        assert g.index_status.source == "kept"


def test_an_older_copy_of_the_index_is_not_trusted(gallery_path) -> None:
    """A kept index from before a removal (restored from a backup, say) is stale."""
    _filled(gallery_path)
    old = _slot(gallery_path).read()
    with Gallery(gallery_path, model_id=MODEL, index=OPTS) as g:
        g.remove_person("p3")
    _put(gallery_path, old)
    with Gallery(gallery_path, model_id=MODEL, index=OPTS) as g:
        assert "p3" not in set(g.search(_unit(7, N)[6:8], k=3).names.ravel())
        assert g.index_status.source == "built" and "stale" in g.index_status.detail


def _flip(blob: bytes) -> bytes:
    b = bytearray(blob)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_flip, "checksum"),
        (lambda b: b[: len(b) // 3], "checksum"),
        (lambda b: b[:10], "format"),
        (lambda b: b"\0" * len(b), "format"),
        (lambda b: b"SQLite format 3\0" + b[16:], "format"),
    ],
    ids=["bit flip", "truncated", "cut short", "zeros", "another file"],
)
def test_damaged_index_is_rebuilt(gallery_path, damage, why) -> None:
    x = _filled(gallery_path)
    _put(gallery_path, damage(_slot(gallery_path).read()))
    with Gallery(gallery_path, model_id=MODEL, index=OPTS) as g:
        assert g.search(x[10:11]).best()[0].name == "p5"
        assert g.index_status.source == "built" and why in g.index_status.detail
    header, _ = annstore.unpack(_slot(gallery_path).read())  # replaced by a sound one
    assert header["faces"] == N


def test_index_of_other_settings_is_rebuilt(gallery_path) -> None:
    x = _filled(gallery_path)
    other = IndexOptions(threshold=100, quantize=False)
    with Gallery(gallery_path, model_id=MODEL, index=other) as g:
        g.search(x[:1])
        assert g.index_status.source == "built"
        assert "other settings" in g.index_status.detail


def _kept_bytes(location) -> bytes:
    blob = _slot(location).read()
    return blob or b""


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("searched", [True, False], ids=["index in memory", "not searched"])
def test_removal_leaves_no_bytes_in_the_kept_index(gallery_path, decision, searched) -> None:
    """Float32 copies (IVF-Flat) hold the raw vector, and a person's centroid is their
    one face's vector: the bytes are in the kept index before the removal, gone after,
    whether the remover had searched (index in memory) or not (read back, edited,
    rewritten); the rewritten index is sound and read back by the next open."""
    flat = IndexOptions(threshold=100, quantize=False)
    _filled(gallery_path, decision, flat)
    secret = _unit(4242, 1)
    with Gallery(gallery_path, model_id=MODEL, index=flat, decision=decision) as g:
        g.add_embeddings("Zebediah Quux", secret)
        # A removal by a process that never searched: the kept index is read back,
        # edited and rewritten, now with the secret (1 face more than kept).
        g.remove_face(int(g.faces("p1")[0].id))
    assert secret.tobytes() in _kept_bytes(gallery_path)
    with Gallery(gallery_path, model_id=MODEL, index=flat, decision=decision) as g:
        if searched:
            assert g.search(secret).best()[0].name == "Zebediah Quux"
        g.remove_person("Zebediah Quux")
        assert secret.tobytes() not in _kept_bytes(gallery_path)
        assert secret.tobytes()[:64] not in _kept_bytes(gallery_path)
    with Gallery(gallery_path, model_id=MODEL, index=flat, decision=decision) as g:
        assert g.search(secret).best()[0].name != "Zebediah Quux"
        assert g.index_status.source == "kept", g.index_status
        assert g.index_status.added == 0


@pytest.mark.sqlite_only("reads the index file's raw bytes and the folder")
def test_old_index_file_is_overwritten_before_it_is_replaced(gallery_path) -> None:
    """The replaced file's bytes are zeroed in place first (a freed file keeps its
    blocks), and no temporary file is left beside the gallery."""
    x = _filled(gallery_path, "nearest_face", IndexOptions(threshold=100, quantize=False))
    path = _slot(gallery_path).path
    fd = os.open(path, os.O_RDONLY)  # keeps the old inode readable after the rename
    try:
        with Gallery(
            gallery_path,
            model_id=MODEL,
            index=IndexOptions(threshold=100, quantize=False),
            decision="nearest_face",
        ) as g:
            g.remove_face(int(g.faces("p0")[0].id))
        old = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    assert old == bytes(len(old)) and x[0].tobytes() not in path.read_bytes()
    assert sorted(p.name for p in Path(gallery_path).parent.iterdir()) == [
        "gallery.sqlite",
        "gallery.sqlite.index",
    ]


def test_index_of_a_snapshot_from_before_a_removal_is_not_kept(gallery_path) -> None:
    """A process that built from a snapshot taken before another's removal must not put
    the removed faces back: the save checks the store under its lock and refuses."""
    x = _filled(gallery_path, "nearest_face", IndexOptions(threshold=100, quantize=False))
    with Gallery(gallery_path, model_id=MODEL, index=OPTS, decision="nearest_face") as g:
        before = g.snapshot()
        index = search_mod.AnnIndex(before.vectors, before.face_ids, OPTS)
        with Gallery(gallery_path, model_id=MODEL, decision="nearest_face") as other:
            other.remove_person("p0")
        kept = g._search.kept  # noqa: SLF001 - the save of a stale build, by hand
        assert not kept.save(index.faiss_index, before, "nearest_face", trained_on=N)
    assert x[0].tobytes() not in _kept_bytes(gallery_path)


@pytest.mark.skipif(not os.access("/proc/self", os.R_OK), reason="needs /proc")
def test_pg_removal_leaves_no_index_bytes_in_the_table_files(pg_cluster, pg_url) -> None:
    """The kept index's table is rewritten by TRUNCATE (new files, the old unlinked), so
    no table file of the database keeps the removed vector."""
    if not os.access(pg_cluster.datadir, os.R_OK):
        pytest.skip("the server's data folder is not readable here")
    flat = IndexOptions(threshold=100, quantize=False)
    _filled(pg_url, "nearest_face", flat, seed=31)
    secret = _unit(3131, 1)

    with Gallery(pg_url, model_id=MODEL, index=flat, decision="nearest_face") as g:
        for i in range(4):  # past the 1 % resave: the index with the secret is kept
            g.add_embeddings(f"extra {i}", _unit(500 + i, 1))
        g.add_embeddings("Zebediah Quux", secret)
        g.search(secret)
        raw_sql(pg_url, ("CHECKPOINT",))
        assert pg_cluster.files_hold(secret.tobytes()[:64])
        g.remove_person("Zebediah Quux")
        g.purge()  # the faces table keeps the row's bytes until then (test_gallery_pgstore)
        raw_sql(pg_url, ("CHECKPOINT",))
        assert not pg_cluster.files_hold(secret.tobytes()[:64])
