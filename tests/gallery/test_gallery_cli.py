"""``workbench enroll`` and ``workbench recognize``, run in-process."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import workbench.cli as cli


@pytest.fixture
def main(monkeypatch):
    # Until the lead lists "gallery" in COMMAND_MODULES, add it for these tests.
    if "gallery" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "gallery"))
    return cli.main


def _jpeg(tmp_path):
    from PIL import Image

    path = tmp_path / "img.jpg"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["recognize", str(_jpeg(t)), "--gallery", str(t / "no.sqlite")], "no gallery"),
        (
            lambda t: ["recognize", str(_jpeg(t)), "--gallery", str(_bad(t))],
            "expected a gallery",
        ),
        (
            lambda t: ["recognize", str(t / "missing.jpg"), "--gallery", str(_bad(t))],
            "no such file",
        ),
        (
            lambda t: ["recognize", "a.mp4", "b.jpg", "--gallery", str(_bad(t))],
            "one video",
        ),
        (lambda t: ["enroll", str(t / "nope"), "--gallery", str(t / "g.sqlite")], "not a folder"),
        (lambda t: ["enroll", str(t), "--gallery", str(_bad(t))], "expected a gallery"),
    ],
)
def test_bad_input_exits_2_with_one_line(main, tmp_path, capsys, make_args, message) -> None:
    assert main(make_args(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("workbench ") and message in err[0]


def _bad(tmp_path):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a gallery\n" * 20)
    return path


def test_enroll_then_recognize_real_faces(main, lfw_dir, tmp_path, capsys) -> None:
    ref = tmp_path / "reference_images"
    people = ["Aaron_Peirsol", "Abdullah_Gul"]
    for name in people:
        (ref / name).mkdir(parents=True)
        for photo in sorted((lfw_dir / name).iterdir())[:2]:
            os.symlink(photo, ref / name / photo.name)
    gallery = tmp_path / "gallery.sqlite"
    assert main(["enroll", str(ref), "--gallery", str(gallery), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(summary["enrolled"]) == 4 and summary["people_in_gallery"] == 2

    known = sorted((lfw_dir / "Aaron_Peirsol").iterdir())[3]
    stranger = lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"
    assert main(["recognize", str(known), str(stranger), "--gallery", str(gallery), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["source"] for x in lines] == [str(known), str(stranger)]
    [face] = lines[0]["faces"]
    assert set(face) == {"box", "name", "distance", "accepted", "too_small", "candidates"}
    assert face["candidates"] is None
    assert face["too_small"] is False
    assert face["name"] == "Aaron_Peirsol" and face["accepted"] and face["distance"] < 0.6
    assert [f["name"] for f in lines[1]["faces"]] == ["unknown"]

    assert main(["recognize", str(known), "--gallery", str(gallery)]) == 0
    out = capsys.readouterr().out
    assert "1 face" in out and "Aaron_Peirsol distance=" in out
    # The stranger was kept as an unknown (with a thumbnail), the known face was not.
    from workbench.gallery import Gallery

    with Gallery(gallery, model_id=None, create=False) as g:
        [unknown] = g.unknowns()
        assert unknown.source == str(stranger) and unknown.thumbnail[:2] == b"\xff\xd8"
        assert unknown.frame is None and unknown.track is None
    assert main(["recognize", str(stranger), "--gallery", str(gallery), "--no-unknowns"]) == 0
    assert "kept" not in capsys.readouterr().out
    with Gallery(gallery, model_id=None, create=False) as g:
        assert g.count_unknowns() == 1


def _saved_and_own(tmp_path):
    """A gallery where Ada has 2 photos the workbench saved and 1 of the user's own."""
    from gallery_fakes import MODEL, FakeRecognizer, photo_bytes, write_photo

    from workbench.gallery import Gallery
    from workbench.gallery.enroll import enroll  # the panel's path, with save_photos

    path = tmp_path / "g.sqlite"
    own = write_photo(tmp_path / "mine" / "ada.png", 0, 9)
    with Gallery(path, model_id=MODEL) as g:
        enroll(
            g,
            "Ada",
            [photo_bytes(0, 1), photo_bytes(0, 2)],
            recognizer=FakeRecognizer(),
            save_photos=tmp_path / "photos",
        )
        g.enroll("Ada", [own], recognizer=FakeRecognizer())
        enroll(
            g,
            "Bob",
            [photo_bytes(1, 1)],
            recognizer=FakeRecognizer(),
            save_photos=tmp_path / "photos",
        )
        saved = g.stored_photos("Ada")
    return path, own, saved


def test_recognize_says_x_or_y_between_look_alikes(main, close_pair, tmp_path, capsys) -> None:
    """Two real close LFW people enrolled; the probe the margin cannot settle is printed
    "X or Y?" and in JSON ``name: unknown`` with both ``candidates``; nothing is kept."""
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery

    jong, kim = close_pair
    gallery = tmp_path / "gallery.sqlite"
    with Gallery(gallery, model_id=default_embedder().model_id) as g:
        for person, (enrolled, _, _) in close_pair.items():
            g.add_embeddings(person, enrolled)
    probe = str(close_pair[jong][2])
    assert main(["recognize", probe, "--gallery", str(gallery), "--json"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    [face] = line["faces"]
    assert face["candidates"] == [kim, jong]
    assert face["name"] == "unknown" and face["accepted"] is False
    assert face["distance"] <= line["threshold"]
    assert main(["recognize", probe, "--gallery", str(gallery)]) == 0
    out = capsys.readouterr().out
    assert f" {kim} or {jong}? distance=" in out and "kept" not in out
    with Gallery(gallery, model_id=None, create=False) as g:
        assert g.count_unknowns() == 0


def test_remove_deletes_saved_photos_not_the_users(main, tmp_path, capsys) -> None:
    path, own, saved = _saved_and_own(tmp_path)
    assert len(saved) == 2 and all(p.is_file() for p in saved)
    assert main(["remove", "Ada", "--gallery", str(path), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    report = json.loads(out[0])
    assert report["faces"] == 3 and sorted(report["photos_deleted"]) == sorted(map(str, saved))
    assert "1 people, 1 faces" in out[1]
    assert not any(p.exists() for p in saved) and not (tmp_path / "photos" / "Ada").exists()
    assert own.is_file()  # the user's own photo is never touched
    assert (tmp_path / "photos" / "Bob").is_dir()
    assert main(["remove", "Ada", "--gallery", str(path)]) == 2
    assert "no person named 'Ada'" in capsys.readouterr().err


def test_remove_keeps_a_saved_photo_the_user_replaced(tmp_path) -> None:
    from gallery_fakes import MODEL

    from workbench.gallery import Gallery

    path, _, saved = _saved_and_own(tmp_path)
    saved[0].write_bytes(b"the user's own file now")
    with Gallery(path, model_id=MODEL) as g:
        assert g.remove_person("Ada") == 3
    assert saved[0].read_bytes() == b"the user's own file now" and not saved[1].exists()


def test_damaged_gallery_exits_2_with_one_line(main, tmp_path, capsys) -> None:
    """The probe: a TEXT embedding raised TypeError and the CLI printed a traceback."""
    import sqlite3

    path, _, _ = _saved_and_own(tmp_path)
    con = sqlite3.connect(path)
    con.execute("UPDATE faces SET embedding = 'text' WHERE id = 1")
    con.commit()
    con.close()
    assert main(["remove", "Bob", "--gallery", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "face 1 of 'Ada' is damaged" in err[0], err


def test_recognize_video_keeps_a_few_faces_per_track(main, lfw_dir, crowd_video, tmp_path, capsys):
    from workbench.gallery import Gallery

    ref = tmp_path / "ref" / "Aaron_Peirsol"
    ref.mkdir(parents=True)
    os.symlink(sorted((lfw_dir / "Aaron_Peirsol").iterdir())[0], ref / "a.jpg")
    gallery = tmp_path / "g.sqlite"
    assert main(["enroll", str(ref.parent), "--gallery", str(gallery), "--quiet"]) == 0
    with Gallery(gallery, model_id=None, create=False) as g:
        g.set_unknowns_policy(per_track=1)  # 3 frames then show the bound at work
    # MTCNN: MediaPipe's short-range model sees none of these small faces.
    assert main(["recognize", str(crowd_video), "--gallery", str(gallery), "--max-frames", "3",
                 "--detector", "mtcnn", "--json"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    frames = [json.loads(x) for x in out if x.startswith('{"source"')]
    seen = sum(f["name"] == "unknown" for x in frames for f in x["faces"])
    with Gallery(gallery, model_id=None, create=False) as g:
        kept = g.unknowns()
        per_track = g.unknowns_policy.per_track
    tracks = [u.track for u in kept]
    assert per_track == 1 and len(kept) >= 2 and all(t is not None for t in tracks)
    # One face per track, not one per face per frame.
    assert len(set(tracks)) == len(kept) < seen
    assert all(u.source == str(crowd_video) and u.frame is not None for u in kept)
