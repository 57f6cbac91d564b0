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


def _export_parts(tmp_path) -> tuple[dict, dict]:
    with Gallery(tmp_path / "src.sqlite", model_id=MODEL) as a:
        _fill(a)
        out = a.export(tmp_path / "src.npz")
    with np.load(out, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    return json.loads(arrays.pop("manifest").tobytes()), arrays


def _write(tmp_path, manifest, arrays, *, raw_manifest: bytes | None = None):
    text = raw_manifest if raw_manifest is not None else json.dumps(manifest).encode()
    path = tmp_path / "hostile.npz"
    path.write_bytes(_npz(**arrays, manifest=np.frombuffer(text, np.uint8)))
    return path


# The probe's crafted exports: each raised something other than GalleryError, or was
# accepted. Each is now one GalleryError, and the gallery is left as it was.
@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m, a: m.update(dim="128"), "dim: expected an integer"),
        (lambda m, a: m.update(dim=128.0), "dim: expected an integer"),
        (lambda m, a: m.update(faces=5), "must be lists"),  # was TypeError
        (lambda m, a: m.update(people=[None] * len(m["people"])), "expected an object"),
        (lambda m, a: m["faces"].__setitem__(0, 7), "faces.0.: expected an object"),
        (lambda m, a: m["faces"][0].update(source=["x"]), r"faces\[0\]\.source"),
        (lambda m, a: m["faces"][0].update(source="x" * 50_000_000), "at most 4096"),
        (lambda m, a: m["people"][0].update(name=None), "must be a str"),
        (lambda m, a: m["people"][0].update(name="unknown"), "reserved"),
        (lambda m, a: m.update(threshold="nan"), "threshold"),
        (lambda m, a: m.update(threshold=float("nan")), "threshold"),
        (lambda m, a: m.update(version=True), "version True is not supported"),
        (lambda m, a: a["embeddings"].__setitem__(0, 1e38), "embedding 0 has norm"),
        (lambda m, a: a["embeddings"].__setitem__(1, np.nan), "embedding 1 holds NaN"),
        (lambda m, a: a.update(person=a["person"].astype(np.int64)), "person: expected int32"),
        (lambda m, a: a.update(embeddings=a["embeddings"].astype(np.float64)), "float32"),
        (lambda m, a: a["boxes"].__setitem__((0, 0), np.inf), "box 0"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v))[:30],
)
def test_hostile_exports_are_refused_with_a_gallery_error(tmp_path, gallery, edit, match):
    manifest, arrays = _export_parts(tmp_path)
    edit(manifest, arrays)
    with pytest.raises(GalleryError, match=match):
        gallery.import_file(_write(tmp_path, manifest, arrays))
    assert len(gallery) == 0 and gallery.people == []


def test_deeply_nested_manifest_is_refused(tmp_path, gallery) -> None:
    """Was RecursionError from json.loads."""
    manifest, arrays = _export_parts(tmp_path)
    raw = json.dumps(manifest).replace('"faces": ', '"faces": ' + "[" * 200_000, 1).encode()
    with pytest.raises(GalleryError, match="not JSON"):
        gallery.import_file(_write(tmp_path, manifest, arrays, raw_manifest=raw))


def _npy_header(shape, descr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()  # the writer puts the magic string first


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _members(manifest, arrays) -> dict[str, bytes]:
    out = {}
    for key, a in {
        **arrays,
        "manifest": np.frombuffer(json.dumps(manifest).encode(), np.uint8),
    }.items():
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        out[f"{key}.npy"] = buf.getvalue()
    return out


def test_array_header_claiming_a_huge_shape_is_refused_before_reading(tmp_path, gallery):
    """Was MemoryError: the .npy header said (10**12, 128) and np.load allocated it."""
    manifest, arrays = _export_parts(tmp_path)
    members = _members(manifest, arrays)
    members["embeddings.npy"] = _npy_header((10**12, 128), "<f4")
    path = tmp_path / "huge.npz"
    path.write_bytes(_zip(members))
    with pytest.raises(GalleryError, match=r"embeddings: expected .*\(7, 128\)"):
        gallery.import_file(path)


def test_zip_bomb_is_refused_from_the_directory(tmp_path, gallery, monkeypatch):
    """Was 2,084 MB inflated over 26 s before a check: now the zip directory's sizes are
    checked first and nothing is inflated (zipfile.ZipFile.open is never called for the
    oversized member)."""
    from workbench.gallery import portable

    manifest, arrays = _export_parts(tmp_path)
    members = _members(manifest, arrays)
    members["manifest.npy"] = _npy_header((50_000_000,), "|u1") + bytes(50_000_000)
    path = tmp_path / "bomb.npz"
    path.write_bytes(_zip(members))
    assert path.stat().st_size < 200_000  # 50 MB of zeros deflate to ~50 kB
    monkeypatch.setattr(portable, "MAX_MANIFEST_BYTES", 1_000_000)
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **k: opened.append(name) or real_open(self, name, *a, **k),
    )
    with pytest.raises(GalleryError, match=r"manifest has 500001\d\d bytes \(the limit"):
        gallery.import_file(path)
    assert opened == []


@pytest.mark.parametrize("how", ["missing", "extra", "duplicate"])
def test_zip_members_must_be_exactly_the_five_arrays(tmp_path, gallery, how):
    manifest, arrays = _export_parts(tmp_path)
    members = _members(manifest, arrays)
    if how == "missing":
        del members["scores.npy"]
    elif how == "extra":
        members["run_me.py"] = b"print('hi')"
    path = tmp_path / f"{how}.npz"
    data = _zip(members)
    if how == "duplicate":
        import warnings

        buf = io.BytesIO(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with zipfile.ZipFile(buf, "a") as zf:
                zf.writestr("person.npy", members["person.npy"])
        data = buf.getvalue()
    path.write_bytes(data)
    with pytest.raises(GalleryError, match="lacks scores|unexpected member"):
        gallery.import_file(path)


def test_array_header_that_is_not_python_is_refused(tmp_path, gallery) -> None:
    """Found by the fuzz suite: numpy's header parser raised tokenize.TokenError."""
    manifest, arrays = _export_parts(tmp_path)
    members = _members(manifest, arrays)
    header = members["embeddings.npy"]
    start = header.index(b"{")
    members["embeddings.npy"] = header[:start] + b"{'descr': '<f4', (" + header[start + 18 :]
    path = tmp_path / "token.npz"
    path.write_bytes(_zip(members))
    with pytest.raises(GalleryError, match="unreadable array header"):
        gallery.import_file(path)
