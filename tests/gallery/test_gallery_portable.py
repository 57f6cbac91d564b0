"""Export to a portable .npz and import back; no pickle anywhere."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.errors import GalleryError
from workbench.gallery import Gallery
from workbench.gallery.calibrate import prior_threshold


def _fill(g: Gallery) -> None:
    for p, name in enumerate(["Ada", "Zoë", "李小龙"]):
        g.add_embeddings(
            name,
            np.stack([face_vector(p, v) for v in range(p + 1)]),
            sources=[f"/photos/{name}/{v}.jpg" for v in range(p + 1)],
            sha256s=[f"{p}{v}".ljust(64, "0") for v in range(p + 1)],
            boxes=[[1.5, 2, 30, 40.25]] * (p + 1),
            detector="mediapipe",
            scores=[0.75] * (p + 1),
        )
    g.add_embeddings("Bare", face_vector(9, 0)[None])  # no metadata at all


def test_round_trip(tmp_path) -> None:
    with Gallery(tmp_path / "a.sqlite", model_id=MODEL) as a:
        _fill(a)
        a.set_threshold(0.5)
        out = a.export(tmp_path / "export" / "gallery.npz")
        faces_a, (vec_a, own_a) = a.faces(), a.embeddings()
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["gallery.npz"]
    with Gallery(tmp_path / "b.sqlite", model_id=MODEL) as b:
        summary = b.import_file(out)
        assert (summary.people_added, summary.faces_added, summary.duplicates) == (4, 7, 0)
        vec_b, own_b = b.embeddings()
        np.testing.assert_array_equal(vec_a, vec_b)
        assert own_a == own_b
        for fa, fb in zip(faces_a, b.faces(), strict=True):
            assert (fa.person, fa.source, fa.sha256, fa.box, fa.detector, fa.score) == (
                fb.person,
                fb.source,
                fb.sha256,
                fb.box,
                fb.detector,
                fb.score,
            )
        # The importing gallery derives its own threshold: the export's hand-set 0.5
        # does not travel, and the import counts as an enrollment.
        assert b.threshold_source == "prior for 4 people"
        assert b.threshold == pytest.approx(prior_threshold(4))
        # Importing again adds only the face without a sha256.
        again = b.import_file(out)
        assert (again.people_added, again.faces_added, again.duplicates) == (0, 1, 6)


def test_export_has_no_pickle(tmp_path) -> None:
    with Gallery(tmp_path / "a.sqlite", model_id=MODEL) as a:
        _fill(a)
        out = a.export(tmp_path / "g.npz")
    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == ["boxes", "embeddings", "manifest", "person", "scores"]
        assert all(data[k].dtype != object for k in data.files)
        manifest = json.loads(data["manifest"].tobytes())
    assert manifest["model_id"] == MODEL and manifest["people"][2]["name"] == "李小龙"


def test_import_other_model_is_refused(tmp_path) -> None:
    with Gallery(tmp_path / "a.sqlite", model_id=MODEL) as a:
        _fill(a)
        out = a.export(tmp_path / "g.npz")
    with Gallery(tmp_path / "b.sqlite", model_id="other") as b:
        with pytest.raises(GalleryError, match=f"'{MODEL}'.*'other'"):
            b.import_file(out)
        assert len(b) == 0


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        b"not a zip",
        b"",
        _npz(embeddings=np.zeros((1, 128), np.float32)),  # no manifest
        # An object array needs pickle to load: refused, never unpickled.
        _npz(
            embeddings=np.zeros((1, 128), np.float32),
            person=np.zeros(1, np.int32),
            boxes=np.zeros((1, 4), np.float32),
            scores=np.zeros(1, np.float32),
            manifest=np.array([{"format": "workbench-gallery"}], dtype=object),
        ),
    ],
)
def test_bad_export_files(tmp_path, gallery, content) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match="expected a"):
        gallery.import_file(path)


def test_export_with_inconsistent_arrays(tmp_path, gallery) -> None:
    with Gallery(tmp_path / "a.sqlite", model_id=MODEL) as a:
        _fill(a)
        out = a.export(tmp_path / "g.npz")
    with np.load(out, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["person"] = arrays["person"] + 10  # points past the people list
    bad = tmp_path / "bad.npz"
    bad.write_bytes(_npz(**arrays))
    with pytest.raises(GalleryError, match="do not match"):
        gallery.import_file(bad)
    assert zipfile.is_zipfile(bad) and len(gallery) == 0
