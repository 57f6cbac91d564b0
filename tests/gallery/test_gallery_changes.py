"""Changes made by another connection (another process, machine, notebook) are seen by an
open gallery at its next search, within a second, without reopening, on both stores; the
in-memory snapshot applies the change log (workbench/gallery/changes.py): additions,
removals, renames and corrections without reading everything again; a full reload only
where the log cannot tell (trimmed past the reader's position)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector, raw_sql

from workbench.gallery import Decision, Gallery, IndexOptions


def _until(check, seconds: float = 1.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


@pytest.mark.parametrize("decision", list(Decision))
def test_enroll_rename_remove_seen_without_reopening(gallery_path, decision, monkeypatch):
    opts = IndexOptions(threshold=3)  # the approximate index too, kept in step
    with (
        Gallery(gallery_path, model_id=MODEL, decision=decision, index=opts) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        for p in range(4):
            writer.add_embeddings(f"p{p}", np.stack([face_vector(p, 0), face_vector(p, 1)]))
        assert _until(lambda: len(reader) == 8)
        reader.build_index()
        full_loads = []
        real_load = Gallery._load
        monkeypatch.setattr(
            Gallery, "_load", lambda self: (full_loads.append(1), real_load(self))[1]
        )

        writer.add_embeddings("Ada", face_vector(9, 0)[None])
        assert _until(lambda: "Ada" in reader.people)
        assert reader.search(face_vector(9, 0)[None]).best()[0].name == "Ada"
        writer.add_embeddings("p1", face_vector(1, 2)[None])
        writer.rename("p2", "Grace")
        assert _until(lambda: "Grace" in reader.people)
        assert reader.people == ["p0", "p1", "Grace", "p3", "Ada"] and len(reader) == 10
        assert reader.search(face_vector(2, 0)[None]).best()[0].name == "Grace"
        assert full_loads == []  # additions and renames: only the new rows were read

        writer.remove_person("p0")
        assert _until(lambda: "p0" not in reader.people)
        best = reader.search(face_vector(0, 0)[None]).best()[0]
        assert best.name != "p0"
        assert len(reader) == 8
        writer.remove_face(writer.faces("p3")[0].id)
        assert _until(lambda: len(reader) == 7)
        assert full_loads == []  # removals too: applied in memory
        _assert_same_as_fresh(reader, gallery_path)
        expected = {"p1": (1, 1), "Grace": (2, 1), "p3": (3, 1), "Ada": (9, 0)}
        for name, (person, face) in expected.items():  # the index followed every change
            assert reader.search(face_vector(person, face)[None]).best()[0].name == name


def _assert_same_as_fresh(g: Gallery, location) -> None:
    """The snapshot built from the log equals one read afresh from the store."""
    with Gallery(location, model_id=MODEL) as fresh:
        a, b = g.snapshot(), fresh.snapshot()
        assert a.people == b.people
        assert np.array_equal(a.person_ids, b.person_ids)
        assert np.array_equal(a.face_ids, b.face_ids)
        assert np.array_equal(a.owners, b.owners)
        assert np.array_equal(a.vectors, b.vectors)
        assert g._negatives.keys() == fresh._negatives.keys()
        for pid, v in g._negatives.items():
            assert np.array_equal(v, fresh._negatives[pid])


def test_mixed_changes_from_two_writers_and_own_stale_writes(gallery_path, monkeypatch):
    """Adds, renames, removals and corrections interleaved with the reader's own writes
    made while stale (they apply the log, their own rows among them): the snapshot ends
    as a fresh open reads it, and nothing reloaded everything."""
    rng = np.random.default_rng(5)
    with (
        Gallery(gallery_path, model_id=MODEL) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        for p in range(6):
            writer.add_embeddings(f"p{p}", np.stack([face_vector(p, i) for i in range(3)]))
        assert _until(lambda: len(reader) == 18)
        full_loads = []
        real_load = Gallery._load
        monkeypatch.setattr(
            Gallery, "_load", lambda self: (full_loads.append(1), real_load(self))[1]
        )
        for step in range(30):
            who = writer if rng.random() < 0.7 else reader  # the reader writes too, stale
            people = writer.people
            op = step % 6
            if op == 0:
                who.add_embeddings(f"n{step}", face_vector(20 + step, 0)[None])
            elif op == 1 and people:
                who.add_embeddings(people[0], face_vector(40 + step, 0)[None])
            elif op == 2 and len(people) > 2:
                who.rename(people[1], f"r{step}")
            elif op == 3 and len(people) > 3:
                who.remove_person(people[2])
            elif op == 4:
                faces = writer.faces()
                if faces:
                    who.remove_face(faces[len(faces) // 2].id)
            elif op == 5 and people:
                who.reject(face_vector(60 + step, 0), people[-1])
            reader.search(face_vector(0, 0)[None])
        writer.add_embeddings("last", face_vector(99, 0)[None])
        assert _until(lambda: "last" in reader.people)
        assert full_loads == []
        _assert_same_as_fresh(reader, gallery_path)


def test_a_reader_behind_a_trimmed_log_reloads_everything(gallery_path, monkeypatch):
    from workbench.gallery import store

    monkeypatch.setattr(store, "LOG_KEEP", 3)
    monkeypatch.setattr(store, "TRIM_EVERY", 2)
    with (
        Gallery(gallery_path, model_id=MODEL) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        writer.add_embeddings("Ada", face_vector(0, 0)[None])
        assert _until(lambda: "Ada" in reader.people)
        full_loads = []
        real_load = Gallery._load
        monkeypatch.setattr(
            Gallery, "_load", lambda self: (full_loads.append(1), real_load(self))[1]
        )
        for k in range(8):  # the reader does not look meanwhile: the log moves past it
            writer.add_embeddings(f"p{k}", face_vector(k + 1, 0)[None])
        assert _until(lambda: "p7" in reader.people)
        assert full_loads == [1]
        writer.rename("p7", "Grace")  # and it follows the log again from there
        assert _until(lambda: "Grace" in reader.people) and full_loads == [1]
        _assert_same_as_fresh(reader, gallery_path)
        rows = raw_sql(gallery_path, ("SELECT COUNT(*) FROM changes",))[0]
        assert rows[0][0] <= 3 + 2  # bounded: LOG_KEEP + TRIM_EVERY


def test_the_log_holds_ids_only(gallery_path):
    """A removed person's name and embedding must leave the store (issue 14 item 4):
    the log keeps neither."""
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Zebediah", face_vector(1, 0)[None])
        g.rename("Zebediah", "Zeb")
        g.remove_person("Zeb")
        rows = raw_sql(gallery_path, ("SELECT * FROM changes ORDER BY seq",))[0]
    kinds = [r[1] for r in rows]
    assert kinds == ["faces", "people", "renamed", "person_removed"]
    for r in rows:
        assert all(v is None or isinstance(v, int | bytes) for v in (r[0], *r[2:]))
        assert not any(isinstance(v, str) and "Zeb" in v for v in r)


def test_schema_4_gallery_gains_the_log_in_place(gallery_path):
    """A gallery of schema 4 (as the workbench wrote it before the log: no ``changes``
    table) is upgraded on open in one transaction, file or database, and its changes are
    then followed incrementally."""
    from workbench.gallery import integrity, store

    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Ada", np.stack([face_vector(0, 0), face_vector(0, 1)]))
    raw_sql(
        gallery_path,
        ("DROP TABLE changes",),
        (
            "UPDATE meta SET value = '4', checksum = ? WHERE key = 'schema_version'",
            (integrity.checksum("meta", ("schema_version", "4")),),
        ),
    )
    assert raw_sql(gallery_path, ("SELECT value FROM meta WHERE key = 'schema_version'",)) == [
        [("4",)]
    ]
    with (
        Gallery(gallery_path, model_id=MODEL) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        assert reader.meta["schema_version"] == str(store.SCHEMA_VERSION)
        assert reader.meta["migrated"].startswith(f"4 -> {store.SCHEMA_VERSION}")
        assert reader.people == ["Ada"] and len(reader) == 2
        writer.add_embeddings("Grace", face_vector(1, 0)[None])
        writer.remove_person("Ada")
        assert _until(lambda: reader.people == ["Grace"])
        assert reader._position == 3  # followed the log (faces, people, removal)
        _assert_same_as_fresh(reader, gallery_path)


@pytest.mark.sqlite_only("a file another process may not write: opened read-only")
def test_read_only_schema_4_file_still_sees_changes(gallery_path, monkeypatch):
    """Without write access a schema-4 file is not upgraded: it has no log, and another
    process's change reloads everything, as before the log."""
    from workbench.gallery import core, integrity

    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
    raw_sql(
        gallery_path,
        ("DROP TABLE changes",),
        (
            "UPDATE meta SET value = '4', checksum = ? WHERE key = 'schema_version'",
            (integrity.checksum("meta", ("schema_version", "4")),),
        ),
    )
    monkeypatch.setattr(core.os, "access", lambda *_a, **_k: False)
    with Gallery(gallery_path, model_id=MODEL) as reader:
        assert reader.meta["schema_version"] == "4"
        raw_sql(
            gallery_path,
            ("UPDATE people SET name = 'Ada' WHERE name = 'Ada'",),  # a commit elsewhere
        )
        assert reader.people == ["Ada"]


def test_threshold_set_elsewhere_is_seen(gallery_path):
    with (
        Gallery(gallery_path, model_id=MODEL) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        writer.add_embeddings("Ada", face_vector(0, 0)[None])
        writer.set_threshold(0.45)
        assert _until(lambda: reader.threshold == 0.45)
