"""Opening, refusing and editing the SQLite file."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector, fill_gallery, raw_sql

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import SCHEMA_VERSION, Gallery, PersonInfo
from workbench.gallery.calibrate import prior_threshold


def test_create_reopen_keeps_everything(gallery_path) -> None:
    fill_gallery(gallery_path)
    with Gallery(gallery_path, model_id=MODEL, create=False) as g:
        assert g.people == ["person 0", "person 1", "person 2"]
        assert len(g) == 6
        assert g.list_people()[1] == PersonInfo("person 1", 2, g.list_people()[1].created)
        rec = g.faces("person 2")[1]
        assert rec.source == "p2_1.jpg" and rec.box == (1.0, 2.0, 30.0, 40.0)
        assert rec.detector == "fake" and rec.model_id == MODEL and rec.score == pytest.approx(0.9)
        vectors, owners = g.embeddings()
        np.testing.assert_array_equal(vectors[5], face_vector(2, 1))
        assert owners[5] == "person 2"
        # Enrollment re-derived the threshold: too few faces to calibrate, so the prior.
        assert g.threshold == pytest.approx(prior_threshold(3))
        assert g.threshold_source == "prior for 3 people"


def test_default_threshold_comes_from_embed() -> None:
    from workbench.embed import DEFAULT_THRESHOLD
    from workbench.gallery import default_threshold

    assert default_threshold() == DEFAULT_THRESHOLD


def test_missing_file_without_create(tmp_path) -> None:
    with pytest.raises(GalleryError, match="does not exist"):
        Gallery(tmp_path / "nope.sqlite", model_id=MODEL, create=False)
    assert not (tmp_path / "nope.sqlite").exists()


def test_create_makes_the_folder(tmp_path) -> None:
    path = tmp_path / "a" / "b" / "g.sqlite"
    Gallery(path, model_id=MODEL).close()
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["g.sqlite"]  # no temp file left


def test_folder_is_refused(tmp_path) -> None:
    with pytest.raises(GalleryError, match="folder"):
        Gallery(tmp_path, model_id=MODEL)


def test_other_model_is_refused_saying_which(gallery_path) -> None:
    fill_gallery(gallery_path)
    with pytest.raises(GalleryError, match=f"'{MODEL}'.*'other-model'"):
        Gallery(gallery_path, model_id="other-model")
    with Gallery(gallery_path, model_id=None) as g:  # None: whatever it holds
        assert g.model_id == MODEL


def test_other_schema_version_is_refused_saying_which(gallery_path) -> None:
    fill_gallery(gallery_path)
    raw_sql(gallery_path, ("UPDATE meta SET value = '99' WHERE key = 'schema_version'",))
    with pytest.raises(GalleryError, match=f"version 99.*versions 1 and {SCHEMA_VERSION}"):
        Gallery(gallery_path, model_id=MODEL)


def test_foreign_sqlite_file_is_refused(tmp_path) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(GalleryError, match="expected a workbench gallery"):
        Gallery(path, model_id=MODEL)


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 10, b"\x00" * 4096, b"SQLite format 3\x00" + b"\xff" * 200],
)
def test_non_sqlite_file_is_refused(tmp_path, content) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match=str(path)):
        Gallery(path, model_id=MODEL)


@pytest.mark.sqlite_only("damages the SQLite file's bytes")
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.9])
def test_truncated_file_is_refused(gallery_path, keep) -> None:
    fill_gallery(gallery_path, people=40, faces=5)
    data = gallery_path.read_bytes()
    gallery_path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(GalleryError, match="truncated"):
        Gallery(gallery_path, model_id=MODEL)


@pytest.mark.sqlite_only("damages the SQLite file's bytes")
def test_corrupt_pages_are_refused(gallery_path) -> None:
    fill_gallery(gallery_path, people=40, faces=5)
    data = bytearray(gallery_path.read_bytes())
    rng = np.random.default_rng(0)
    # Garbage over everything after the first page (the header stays plausible).
    data[4096:] = rng.integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()
    gallery_path.write_bytes(bytes(data))
    with pytest.raises(GalleryError):
        Gallery(gallery_path, model_id=MODEL)


def test_closed_gallery_raises(gallery_path) -> None:
    g = Gallery(gallery_path, model_id=MODEL)
    g.close()
    g.close()  # twice is fine
    with pytest.raises(GalleryError, match="closed"):
        g.search(np.zeros((1, 128), np.float32))
    with pytest.raises(GalleryError, match="closed"):
        g.add_embeddings("x", face_vector(0, 0)[None])


def test_wrong_embedding_shape(gallery) -> None:
    with pytest.raises(InvalidArgumentError, match=r"shape \(_, 128\).*\(2, 64\)"):
        gallery.add_embeddings("x", np.zeros((2, 64), np.float32))
    with pytest.raises(InvalidArgumentError, match="finite"):
        gallery.add_embeddings("x", np.full((1, 128), np.nan, np.float32))
    with pytest.raises(InvalidArgumentError, match="2 entries"):
        gallery.add_embeddings("x", np.stack([face_vector(0, 0)] * 2), sources=["a"])
    assert len(gallery) == 0


def test_rename_remove_and_counts(gallery_path) -> None:
    fill_gallery(gallery_path)
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.rename("person 1", "Zoë")
        with pytest.raises(GalleryError, match="taken"):
            g.rename("Zoë", "person 0")
        with pytest.raises(GalleryError, match="no person"):
            g.rename("nobody", "x")
        assert g.search(face_vector(1, 0)).best()[0].name == "Zoë"
        assert g.remove_person("person 0") == 2
        with pytest.raises(GalleryError, match="no person"):
            g.remove_person("person 0")
        face = g.faces("person 2")[0]
        g.remove_face(face.id)
        with pytest.raises(GalleryError, match="no face"):
            g.remove_face(face.id)
        assert [(p.name, p.faces) for p in g.list_people()] == [("Zoë", 2), ("person 2", 1)]
        assert g.search(face_vector(0, 0)).best()[0].name != "person 0"
        frame = g.people_frame()
        assert list(frame.columns) == ["name", "faces", "created"]
        assert frame["faces"].tolist() == [2, 1]
    with Gallery(gallery_path, model_id=MODEL) as g:  # and it is on disk
        assert [(p.name, p.faces) for p in g.list_people()] == [("Zoë", 2), ("person 2", 1)]
        assert len(g) == 3
        assert g.search(face_vector(2, 1)).best()[0].name == "person 2"


def test_set_threshold_is_stored(gallery_path) -> None:
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.set_threshold(0.45)
        with pytest.raises(InvalidArgumentError):
            g.set_threshold(-1)
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.threshold == 0.45 and g.threshold_source == "set by you"
        assert not g.threshold_info.auto


def test_file_has_no_pickle(gallery_path) -> None:
    fill_gallery(gallery_path)
    [[(blob,)]] = raw_sql(gallery_path, ("SELECT embedding FROM faces LIMIT 1",))
    assert len(blob) == 128 * 4
    assert not blob.startswith(b"\x80")  # pickle protocol marker
