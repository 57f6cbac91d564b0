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
    assert set(face) == {"box", "name", "distance", "accepted"}
    assert face["name"] == "Aaron_Peirsol" and face["accepted"] and face["distance"] < 0.6
    assert [f["name"] for f in lines[1]["faces"]] == ["unknown"]

    assert main(["recognize", str(known), "--gallery", str(gallery)]) == 0
    out = capsys.readouterr().out
    assert "1 face" in out and "Aaron_Peirsol distance=" in out
