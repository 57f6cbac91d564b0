"""The threshold on the default path: re-derived after every enrollment, the prior for a
small gallery, a hand-set threshold kept; through ``workbench enroll / calibrate /
recognize`` with real LFW faces, and the rules themselves with fake vectors."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from gallery_fakes import BatchingFakeRecognizer, face_vector, write_photo

import workbench.cli as cli
from workbench.gallery import Gallery
from workbench.gallery import calibrate as cal
from workbench.gallery.calibrate import DEFAULT_TARGET_FAR, prior_threshold

# ---------------------------------------------------------------- real faces, the CLI

#: 26 people x 2 photos = 52 faces: just enough stranger probes to calibrate at 0.02.
N_PEOPLE = 26


def _people(lfw_dir, n: int, min_photos: int = 3) -> list[str]:
    out = []
    for person in sorted(lfw_dir.iterdir()):
        if len(list(person.iterdir())) >= min_photos:
            out.append(person.name)
            if len(out) == n:
                return out
    raise AssertionError(f"LFW has fewer than {n} people with {min_photos} photos")


def _folder(root, lfw_dir, people: list[str], photos: int = 2):
    for name in people:
        (root / name).mkdir(parents=True)
        for photo in sorted((lfw_dir / name).iterdir())[:photos]:
            os.symlink(photo, root / name / photo.name)
    return root


def _run(capsys, *argv: str) -> dict:
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def people(lfw_dir) -> list[str]:
    return _people(lfw_dir, N_PEOPLE + 1)


@pytest.fixture(scope="module")
def staged(lfw_dir, people, tmp_path_factory):
    """Galleries after each CLI step: one person, then the other 25, then a 27th."""
    root = tmp_path_factory.mktemp("threshold")
    one = root / "one.sqlite"
    many = root / "many.sqlite"
    out = {}
    for path, folder, who in [
        (one, root / "ref_one", people[:1]),
        (many, root / "ref_many", people[1:N_PEOPLE]),
    ]:
        if path == many:
            shutil.copy(one, many)
        _folder(folder, lfw_dir, who)
        code = cli.main(["enroll", str(folder), "--gallery", str(path), "--json"])
        assert code == 0
    out["one"], out["many"] = one, many
    out["extra"] = _folder(root / "ref_extra", lfw_dir, people[N_PEOPLE:])
    return out


def test_one_person_gallery_takes_the_prior(staged, people, lfw_dir, tmp_path, capsys) -> None:
    capsys.readouterr()
    with Gallery(staged["one"], model_id=None, create=False) as g:
        info, model_id = g.threshold_info, g.model_id
    assert model_id.startswith("fused-")  # a new gallery's default embedder
    assert info.source == "prior for 1 person" and info.auto
    assert info.threshold == pytest.approx(
        prior_threshold(1, DEFAULT_TARGET_FAR, model_id=model_id)
    )
    # recognize --json says which threshold decided, and the person is named.
    probe = sorted((lfw_dir / people[0]).iterdir())[2]
    line = _run(capsys, "recognize", str(probe), "--gallery", str(staged["one"]), "--json")
    assert line["threshold"] == pytest.approx(info.threshold)
    assert line["threshold_source"] == "prior for 1 person"
    assert [f["name"] for f in line["faces"]] == [people[0]]


def test_enrollment_recalibrates_the_threshold(staged) -> None:
    with Gallery(staged["one"], model_id=None, create=False) as g:
        before = g.threshold_info
    with Gallery(staged["many"], model_id=None, create=False) as g:
        after = g.threshold_info
        n = len(g)
    assert after.source == f"calibrated on {N_PEOPLE} people / {n} faces" and after.auto
    assert n == 2 * N_PEOPLE
    assert after.threshold != pytest.approx(before.threshold, abs=1e-3)
    # Few faces: mostly the prior, blended with what the gallery's own faces measure.
    assert 0.0 < after.weight < 0.5 and 0.0 <= after.far <= 1.0 and 0.0 <= after.frr <= 1.0
    # Real faces: the calibrated cut sits below the one-person prior (more people to
    # mistake a stranger for) and in the range the fused embeddings put it (the prior
    # table's 1-1,000 people: 0.59-0.84).
    assert 0.5 < after.threshold < before.threshold


def test_hand_set_threshold_survives_enrollment(staged, tmp_path, capsys) -> None:
    gallery = tmp_path / "g.sqlite"
    shutil.copy(staged["many"], gallery)
    capsys.readouterr()
    line = _run(capsys, "calibrate", "--gallery", str(gallery), "--set", "0.55", "--json")
    assert line["threshold"] == 0.55 and line["source"] == "set by you" and not line["auto"]
    line = _run(capsys, "enroll", str(staged["extra"]), "--gallery", str(gallery), "--json")
    assert line["people_in_gallery"] == N_PEOPLE + 1
    assert line["threshold"] == 0.55 and line["threshold_source"] == "set by you"
    # Asking for calibration again hands the threshold back to the gallery's faces.
    line = _run(capsys, "calibrate", "--gallery", str(gallery), "--far", "0.05", "--json")
    faces = 2 * (N_PEOPLE + 1)
    assert line["source"] == f"calibrated on {N_PEOPLE + 1} people / {faces} faces"
    assert line["auto"] and line["target_far"] == 0.05 and line["frr"] is not None
    with Gallery(gallery, model_id=None, create=False) as g:
        measured = cal.calibrate(g, 0.05, store=False, max_probes=cal.AUTO_MAX_PROBES)
        model_id = g.model_id
    w = line["weight"]
    assert w == pytest.approx(faces * 0.05 / (faces * 0.05 + cal.PRIOR_ACCEPTS))
    prior = prior_threshold(N_PEOPLE + 1, 0.05, model_id=model_id)
    expected = w * measured.threshold + (1 - w) * prior
    assert line["threshold"] == pytest.approx(expected) and line["threshold"] != 0.55


def test_calibrate_bad_input_exits_2(tmp_path, capsys) -> None:
    for argv in (
        ["calibrate", "--gallery", str(tmp_path / "none.sqlite")],
        ["calibrate", "--gallery", str(tmp_path / "none.sqlite"), "--far", "2"],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("workbench calibrate: error:")


# ---------------------------------------------------------------- the rules, fake vectors


def _fill(g: Gallery, people: int, faces: int = 2, start: int = 0) -> None:
    for p in range(start, start + people):
        g.add_embeddings(f"p{p}", np.stack([face_vector(p, v, noise=0.3) for v in range(faces)]))


def test_too_few_faces_take_the_prior_then_calibration(gallery) -> None:
    need = int(np.ceil(cal.MIN_ACCEPTS / DEFAULT_TARGET_FAR))  # faces to calibrate
    _fill(gallery, 1)
    assert gallery.threshold_source == "prior for 1 person"
    people = need // 2 - 1
    _fill(gallery, people - 1, start=1)
    assert len(gallery) < need
    assert gallery.threshold_source == f"prior for {people} people"
    assert gallery.threshold == pytest.approx(prior_threshold(people))
    assert np.isfinite(gallery.threshold_info.far)  # 2+ people: the prior is measured too
    _fill(gallery, 1, start=people)
    assert len(gallery) >= need
    assert gallery.threshold_source == f"calibrated on {people + 1} people / {len(gallery)} faces"
    # Removing people re-derives it too.
    for p in range(1, people + 1):
        gallery.remove_person(f"p{p}")
    assert gallery.threshold_source == "prior for 1 person"


def test_explicit_target_is_kept_by_later_enrollments(gallery) -> None:
    _fill(gallery, 30)
    gallery.set_threshold(0.9)
    gallery.calibrate(target_far=0.1)
    _fill(gallery, 5, start=30)
    info = gallery.threshold_info
    assert info.target_far == 0.1 and info.auto
    assert info.source == "calibrated on 35 people / 70 faces"


def test_a_legacy_set_threshold_counts_as_hand_set(gallery) -> None:
    gallery.write_meta({"threshold": "0.5", "threshold_source": "set"})
    gallery._meta.pop("threshold_mode", None)
    assert gallery.threshold_source == "set by you" and not gallery.threshold_info.auto
    _fill(gallery, 3)
    assert gallery.threshold == 0.5


def test_enroll_folder_calibrates_once(gallery, tmp_path, monkeypatch) -> None:
    for p in range(4):
        for v in range(2):
            write_photo(tmp_path / "ref" / f"p{p}" / f"{v}.png", person=p, variant=v)
    calls = []
    real = cal.refresh
    monkeypatch.setattr(cal, "refresh", lambda g, **kw: calls.append(1) or real(g, **kw))
    gallery.enroll_folder(tmp_path / "ref", recognizer=BatchingFakeRecognizer(), batch_size=2)
    assert len(calls) == 1 and gallery.threshold_source == "prior for 4 people"


def test_prior_is_monotone_and_interpolates() -> None:
    table = np.asarray(cal.PRIOR_THRESHOLDS)
    assert table.shape == (len(cal.PRIOR_PEOPLE), len(cal.PRIOR_FARS))
    assert (np.diff(table, axis=0) < 0).all()  # more people: a stricter cut
    assert (np.diff(table, axis=1) > 0).all()  # a looser target: a looser cut
    for n, row in zip(cal.PRIOR_PEOPLE, table, strict=True):
        assert prior_threshold(n, cal.PRIOR_FARS[1]) == pytest.approx(row[1])
    assert table[2, 1] > prior_threshold(4) > table[3, 1]
    assert prior_threshold(10**6) == pytest.approx(table[-1, 1])  # held at the edge


def test_bad_thresholds_and_targets_are_refused(gallery) -> None:
    from workbench.errors import InvalidArgumentError

    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InvalidArgumentError):
            gallery.set_threshold(bad)
    with pytest.raises(InvalidArgumentError):
        prior_threshold(3, 0.0)
    with pytest.raises(InvalidArgumentError):
        gallery.refresh_threshold(target_far=1.5, force=True)
    assert gallery.threshold_source == "default"  # nothing was written


def test_enroll_folder_again_rederives_a_legacy_default(gallery, tmp_path) -> None:
    for p in range(3):
        write_photo(tmp_path / "ref" / f"p{p}" / "0.png", person=p)
    gallery.enroll_folder(tmp_path / "ref", recognizer=BatchingFakeRecognizer())
    # As a gallery filled before the threshold followed it: 0.6, "default", no mode.
    gallery.write_meta({"threshold": "0.6", "threshold_source": "default"})
    gallery._meta.pop("threshold_mode", None)
    summary = gallery.enroll_folder(tmp_path / "ref", recognizer=BatchingFakeRecognizer())
    assert not summary.enrolled and len(summary.duplicates) == 3  # nothing new ...
    assert gallery.threshold_source == "prior for 3 people"  # ... but re-derived
