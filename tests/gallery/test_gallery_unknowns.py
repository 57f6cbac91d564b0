"""Unknown faces kept in the gallery: storage, retention bounds, removal for good, upgrade."""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector, raw_sql

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import Gallery, UnknownsPolicy, store
from workbench.gallery import unknowns as unknowns_mod


def _chips(n, seed=0, blur=False):
    rng = np.random.default_rng(seed)
    chips = rng.integers(0, 255, (n, 150, 150, 3), dtype=np.uint8)
    if blur:
        chips[:] = chips.mean(axis=(1, 2), keepdims=True).astype(np.uint8)  # flat: no edges
    return chips


def _vectors(person, n):
    return np.stack([face_vector(person, i) for i in range(n)])


def test_add_and_read_back(gallery):
    boxes = [[10, 10, 110, 130], [0, 0, 50, 60]]
    ids = gallery.add_unknowns(
        _vectors(0, 2), chips=_chips(2), source="cam", frames=[3, 4], boxes=boxes,
        tracks=[1, 2], scores=[0.9, 0.8], detector="mediapipe",
    )  # fmt: skip
    assert len(ids) == 2 and gallery.count_unknowns() == 2
    faces, vecs = gallery.unknown_embeddings()
    assert [f.id for f in faces] == ids
    np.testing.assert_array_equal(vecs, _vectors(0, 2))
    f = faces[0]
    assert (f.source, f.frame, f.track, f.box, f.detector) == (
        "cam",
        3,
        "1",
        (10.0, 10.0, 110.0, 130.0),
        "mediapipe",
    )
    from PIL import Image

    thumb = Image.open(io.BytesIO(f.thumbnail))
    assert thumb.format == "JPEG" and thumb.size == (unknowns_mod.THUMB_SIZE,) * 2
    assert len(f.thumbnail) < 8000
    # Bigger, sharper, more confident faces rank higher.
    assert faces[0].quality > faces[1].quality
    assert gallery.unknowns([ids[1]])[0].id == ids[1]
    assert len(gallery) == 0  # unknowns are not enrolled faces


def test_a_track_keeps_its_best_faces(gallery):
    gallery.set_unknowns_policy(per_track=2)
    scores = [0.5, 0.95, 0.6, 0.9, 0.7]
    boxes = [[0, 0, 120, 120]] * 5
    ids = gallery.add_unknowns(
        _vectors(1, 5), chips=_chips(5), source="v.mp4", boxes=boxes, tracks=["t"] * 5,
        scores=scores,
    )  # fmt: skip
    kept = gallery.unknowns()
    assert [u.score for u in kept] == [0.95, 0.9] and len(ids) == 2
    # A later, better face of the same track replaces the worst kept one.
    gallery.add_unknowns(
        _vectors(1, 1), chips=_chips(1), source="v.mp4", boxes=boxes[:1], tracks=["t"],
        scores=[0.99],
    )  # fmt: skip
    assert sorted(u.score for u in gallery.unknowns()) == [0.95, 0.99]
    # Another source's track of the same id is another track.
    gallery.add_unknowns(_vectors(2, 1), source="other.mp4", tracks=["t"], scores=[0.1])
    assert gallery.count_unknowns() == 3


def test_blurred_chip_has_lower_quality():
    q = unknowns_mod.face_quality(
        scores=None, boxes=None, chips=np.concatenate([_chips(1), _chips(1, blur=True)]), n=2
    )
    assert q[0] == 1.0 and q[1] < 0.05


def test_count_bound_drops_the_oldest(gallery):
    gallery.set_unknowns_policy(max_count=3)
    first = gallery.add_unknowns(_vectors(0, 2))
    second = gallery.add_unknowns(_vectors(1, 2))
    assert [u.id for u in gallery.unknowns()] == first[1:] + second


def test_age_bound(gallery, monkeypatch):
    monkeypatch.setattr(store, "now", lambda: "2000-01-01T00:00:00+00:00")
    gallery.add_unknowns(_vectors(0, 2))
    monkeypatch.undo()
    new = gallery.add_unknowns(_vectors(1, 1))
    assert [u.id for u in gallery.unknowns()] == new


def test_keep_no_unknowns_removes_them_and_stores_none(gallery_path):
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_unknowns(_vectors(0, 3))
        assert g.set_unknowns_policy(keep=False) == 3
        assert g.add_unknowns(_vectors(1, 2)) == [] and g.count_unknowns() == 0
    with Gallery(gallery_path, model_id=MODEL) as g:  # the policy is in the file
        assert g.unknowns_policy == UnknownsPolicy(keep=False)
        g.set_unknowns_policy(keep=True)
        assert len(g.add_unknowns(_vectors(1, 2))) == 2


@pytest.mark.sqlite_only("reads the SQLite file's raw bytes and journal")
def test_removal_is_for_good(gallery_path):
    """The thumbnail's image data is not left in the file's free pages after removal."""
    with Gallery(gallery_path, model_id=MODEL) as g:
        ids = g.add_unknowns(_vectors(0, 2), chips=_chips(2, seed=5))
        thumb = g.unknowns([ids[0]])[0].thumbnail
        assert thumb[-300:-200] in gallery_path.read_bytes()
        assert g.remove_unknowns([ids[0]]) == 1
        assert [u.id for u in g.unknowns()] == ids[1:]
    assert thumb[-300:-200] not in gallery_path.read_bytes()
    assert not gallery_path.with_name(gallery_path.name + "-journal").exists()


def test_remove_is_all_or_nothing(gallery):
    ids = gallery.add_unknowns(_vectors(0, 3))
    with pytest.raises(GalleryError, match="no unknown face with id 999"):
        gallery.remove_unknowns([ids[0], 999])
    assert gallery.count_unknowns() == 3
    with pytest.raises(InvalidArgumentError):
        gallery.remove_unknowns(["x"])
    assert gallery.remove_unknowns() == 3 and gallery.count_unknowns() == 0
    # Ids are never reused after a removal.
    assert gallery.add_unknowns(_vectors(0, 1))[0] > ids[-1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embeddings": np.zeros((2, 5))}, "shape"),
        ({"embeddings": np.full((1, 128), np.nan)}, "finite"),
        ({"embeddings": np.zeros((1, 128))}, "no face embedding"),
        ({"chips": np.zeros((1, 150, 150), np.uint8)}, "chips"),
        ({"chips": np.zeros((2, 150, 150, 3), np.uint8)}, "chips"),
        ({"boxes": [[0, 0, 1]]}, "boxes"),
        ({"scores": [np.nan]}, "scores"),
        ({"frames": [1, 2]}, "frames"),
    ],
)
def test_bad_input_stores_nothing(gallery, kwargs, match):
    args = {"embeddings": _vectors(0, 1), **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        gallery.add_unknowns(args.pop("embeddings"), **args)
    assert gallery.count_unknowns() == 0


@pytest.mark.parametrize(
    "changes",
    [{"max_count": 0}, {"per_track": 1.5}, {"max_age_days": -1}, {"keep": "yes"}, {"x": 1}],
)
def test_bad_policy(gallery, changes):
    with pytest.raises(InvalidArgumentError):
        gallery.set_unknowns_policy(**changes)
    assert gallery.unknowns_policy == UnknownsPolicy()


def test_damaged_row_is_named(gallery_path):
    with Gallery(gallery_path, model_id=MODEL) as g:
        (uid,) = g.add_unknowns(_vectors(0, 1), source="a.jpg")
    raw_sql(gallery_path, ("UPDATE unknowns SET source = 'b.jpg'",))
    with Gallery(gallery_path, model_id=MODEL) as g:
        with pytest.raises(GalleryError, match=f"unknown face {uid} is damaged"):
            g.unknowns()


@pytest.mark.sqlite_only("schema 2 existed only as SQLite files")
def test_schema_2_gallery_gains_the_tables(gallery_path):
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Ada", _vectors(0, 2))
    con = sqlite3.connect(gallery_path, isolation_level=None)
    con.execute("DROP TABLE changes")  # schema 2 had none of these
    con.execute("DROP TABLE unknown_groups")
    con.execute("DROP TABLE unknowns")
    con.execute("DROP TABLE negatives")
    store.write_meta(con, {"schema_version": "2"})
    con.close()
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.people == ["Ada"] and g.count_unknowns() == 0
        g.add_unknowns(_vectors(1, 1))
    con = sqlite3.connect(gallery_path)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    con.close()
    assert meta["schema_version"] == str(store.SCHEMA_VERSION)
    assert meta["migrated"].startswith(f"2 -> {store.SCHEMA_VERSION}")
    assert con_tables(gallery_path) >= {"unknowns", "negatives", "unknown_groups"}


def con_tables(path):
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()
