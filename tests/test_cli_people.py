"""``workbench cluster`` and ``workbench unknowns``, run in-process on real LFW faces."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import workbench.cli as cli
from workbench.gallery import Gallery

PEOPLE = {"Colin_Powell": 4, "Hugo_Chavez": 3, "Laura_Bush": 3, "Aaron_Peirsol": 1}


@pytest.fixture
def archive(lfw_dir, tmp_path):
    """A photo archive in no particular layout: photos of 3 people spread over nested
    folders, and one person seen once."""
    root = tmp_path / "archive"
    for k, (person, n) in enumerate(PEOPLE.items()):
        for j, photo in enumerate(sorted((lfw_dir / person).iterdir())[:n]):
            folder = root / f"trip{(k + j) % 2}" / ("day1" if j % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            os.symlink(photo, folder / photo.name)
    (root / "notes.txt").write_text("not a photo")
    return root


def test_cluster_a_folder_then_the_gallery(archive, tmp_path, capsys):
    gallery = tmp_path / "g.sqlite"
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"clusters", "unclustered", "scanned"}
    assert out["scanned"]["photos"] == sum(PEOPLE.values()) and out["scanned"]["known"] == 0
    groups = sorted(
        sorted({os.path.basename(f["source"]).rsplit("_", 1)[0] for f in c["faces"]})
        for c in out["clusters"]
    )
    sizes = sorted(len(c["faces"]) for c in out["clusters"])
    assert groups == [["Colin_Powell"], ["Hugo_Chavez"], ["Laura_Bush"]] and sizes == [3, 3, 4]
    # Every face is read, a bystander's too (Laura_Bush_0002 has a second face).
    alone = {os.path.basename(f["source"]) for f in out["unclustered"]}
    assert "Aaron_Peirsol_0001.jpg" in alone and len(alone) <= 2
    face = out["clusters"][0]["faces"][0]
    assert set(face) == {"id", "source", "box", "frame"} and len(face["box"]) == 4
    assert out["clusters"][0]["near"] is None

    # Again: every photo was scanned before; the gallery alone gives the same proposals.
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["scanned"]["skipped"] == sum(PEOPLE.values())
    assert cli.main(["cluster", "--gallery", str(gallery), "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert only["clusters"] == out["clusters"] == again["clusters"]
    assert cli.main(["cluster", "--gallery", str(gallery)]) == 0
    text = capsys.readouterr().out
    n = len(out["unclustered"])
    assert f"3 proposed people, {n} face{'' if n == 1 else 's'} seen once" in text


def test_unknowns_command(archive, tmp_path, capsys):
    gallery = tmp_path / "g.sqlite"
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["unknowns", "--gallery", str(gallery), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["unknowns"] >= 11 and status["policy"]["keep"] is True
    assert cli.main(["unknowns", "--gallery", str(gallery), "--max-count", "5"]) == 0
    assert "5 unknown faces" in capsys.readouterr().out
    assert cli.main(["unknowns", "--gallery", str(gallery), "--keep-none", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["unknowns"], status["removed"], status["policy"]["keep"]) == (0, 5, False)
    # Keeping none, a folder cannot be clustered: said so, exit 2.
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery)]) == 2
    assert "keeps no unknown faces" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda t: ["cluster", str(t / "empty"), "--gallery", str(t / "new.sqlite")], "no photos"),
        (
            lambda t: ["cluster", str(t / "nope"), "--gallery", str(t / "new.sqlite")],
            "not a folder",
        ),
        (lambda t: ["cluster", "--gallery", str(t / "new.sqlite")], "no gallery"),
        (lambda t: ["cluster", "--gallery", str(_empty_gallery(t))], "no unknown faces"),
        (lambda t: ["unknowns", "--gallery", str(_empty_gallery(t)), "--max-count", "0"], ">= 1"),
        (lambda t: ["unknowns", "--gallery", str(_empty_gallery(t)), "--remove", "7"], "id 7"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no photos")
    assert cli.main(args(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "new.sqlite").exists()


def _empty_gallery(tmp_path):
    path = tmp_path / "empty.sqlite"
    Gallery(path, model_id="dlib_resnet_v1").close()
    return path


def test_name_merge_discard_from_the_cli(archive, tmp_path, capsys):
    gallery = tmp_path / "g.sqlite"
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery), "--json"]) == 0
    clusters = json.loads(capsys.readouterr().out)["clusters"]
    colin = next(c for c in clusters if "Colin_Powell" in c["faces"][0]["source"])
    others = [c for c in clusters if c is not colin]

    assert cli.main(["name", str(colin["id"]), "Colin", "--gallery", str(gallery), "--json"]) == 0
    named = json.loads(capsys.readouterr().out)
    assert named["new_person"] and len(named["enrolled"]) == len(colin["faces"])
    # The id is gone now: a clear error, exit 2, nothing written.
    assert cli.main(["name", str(colin["id"]), "Colin", "--gallery", str(gallery)]) == 2
    assert "no proposed person" in capsys.readouterr().err
    assert cli.main(["name", str(others[0]["id"]), "a/b", "--gallery", str(gallery)]) == 2
    assert "name" in capsys.readouterr().err

    a, b = others[0]["id"], others[1]["id"]
    assert cli.main(["merge", str(a), str(b), "--gallery", str(gallery), "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["faces"] == len(others[0]["faces"]) + len(others[1]["faces"])
    assert cli.main(["discard", str(merged["cluster"]), "--gallery", str(gallery), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"] == merged["faces"]
    with Gallery(gallery, model_id=None, create=False) as g:
        assert g.people == ["Colin"] and not g.cluster_unknowns().clusters


def test_reject_and_negatives_from_the_cli(archive, lfw_dir, tmp_path, capsys):
    gallery = tmp_path / "g.sqlite"
    assert cli.main(["cluster", str(archive), "--gallery", str(gallery), "--json"]) == 0
    clusters = json.loads(capsys.readouterr().out)["clusters"]
    colin = next(c for c in clusters if "Colin_Powell" in c["faces"][0]["source"])
    hugo = next(c for c in clusters if "Hugo_Chavez" in c["faces"][0]["source"])
    assert cli.main(["name", str(colin["id"]), "Colin", "--gallery", str(gallery)]) == 0
    capsys.readouterr()
    face = hugo["faces"][0]["id"]
    args = ["reject", "Colin", "--unknown", str(face), "--gallery", str(gallery), "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["negatives"] == 1 and out["source"] == hugo["faces"][0]["source"]
    photo = sorted((lfw_dir / "Hugo_Chavez").iterdir())[5]
    assert cli.main(["reject", "Colin", "--image", str(photo), "--gallery", str(gallery)]) == 0
    assert "is not Colin (2 corrections)" in capsys.readouterr().out
    assert cli.main(["negatives", "--gallery", str(gallery), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["negatives"]
    assert [n["not"] for n in listed] == ["Colin", "Colin"]
    remove = ["negatives", "--gallery", str(gallery), "--remove", str(listed[0]["id"])]
    assert cli.main(remove) == 0
    assert "1 correction" in capsys.readouterr().out
    # Bad input: exit 2, one line, nothing stored.
    for bad, message in [
        (["reject", "Nobody", "--unknown", str(face)], "no person named 'Nobody'"),
        (["reject", "Colin", "--unknown", "99999"], "no unknown face with id 99999"),
        (["reject", "Colin", "--image", str(tmp_path / "none.jpg")], "none.jpg"),
        (["negatives", "--remove", "12345"], "no correction with id 12345"),
    ]:
        assert cli.main([*bad, "--gallery", str(gallery)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    with Gallery(gallery, model_id=None, create=False) as g:
        assert len(g.negatives()) == 1


def test_add_picks_one_face_of_a_group(lfw_dir, two_faces, tmp_path, capsys):
    from workbench.detect import create_detector
    from workbench.images import load_image

    photo = two_faces(tmp_path / "both.jpg")
    with create_detector("mediapipe") as det:
        boxes = det.detect(load_image(photo)).xyxy
    assert len(boxes) == 2
    right = int(np.argmax(boxes[:, 0]))
    gallery = tmp_path / "g.sqlite"
    args = ["add", str(photo), "--name", "Hugo", "--gallery", str(gallery), "--json"]
    assert cli.main([*args, "--face", str(right)]) == 0
    assert len(json.loads(capsys.readouterr().out)["face_ids"]) == 1
    # Another file of the same picture (the first is a duplicate now, by sha256).
    png = two_faces(tmp_path / "both.png")
    box_args = ["add", str(png), "--gallery", str(gallery), "--box", "260,0,500,250"]
    assert cli.main([*box_args, "--name", "Hugo"]) == 0
    capsys.readouterr()
    with Gallery(gallery, model_id=None, create=False) as g:
        faces = g.faces("Hugo")
        assert len(faces) == 2 and all(f.box[0] >= 250 for f in faces)  # the right face
    probe = sorted((lfw_dir / "Hugo_Chavez").iterdir())[4]
    assert cli.main(["recognize", str(probe), "--gallery", str(gallery), "--json"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["faces"][0]["name"] == "Hugo"
    # An index out of range: exit 2, one line, nothing enrolled.
    fresh = str(two_faces(tmp_path / "both.bmp"))
    args = ["add", fresh, "--gallery", str(gallery), "--json"]
    assert cli.main([*args[:-1], "--face", "5", "--name", "Nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of range" in err[0], err
    assert cli.main([*args[:-1], "--box", "1,2,3", "--name", "Nope"]) == 2
    assert "--box" in capsys.readouterr().err
    with Gallery(gallery, model_id=None, create=False) as g:
        assert "Nope" not in g


def test_cluster_a_fused_gallery_uses_its_cut(
    lfw_dir, tmp_path, capsys, mediapipe_detector, fused_embedder
):
    """`workbench cluster --gallery G` on a fused gallery's unknowns (real faces, real
    pipeline): the fused cut, one proposal per person (dlib's 0.40, which the command
    passed for every gallery before, leaves faces of these people unproposed)."""
    from workbench.evaluate import embed_photos

    paths = [
        p
        for who in ("Colin_Powell", "Hugo_Chavez", "Laura_Bush")
        for p in sorted((lfw_dir / who).glob("*.jpg"))[:4]
    ]
    x, _ = embed_photos(paths, detector=mediapipe_detector, embedder=fused_embedder)
    gallery = tmp_path / "fused.sqlite"
    with Gallery(gallery, model_id=fused_embedder.model_id) as g:
        g.add_unknowns(x, source=[str(p) for p in paths])
    assert cli.main(["cluster", "--gallery", str(gallery), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    groups = sorted(
        sorted({os.path.basename(f["source"]).rsplit("_", 1)[0] for f in c["faces"]})
        for c in out["clusters"]
    )
    assert groups == [["Colin_Powell"], ["Hugo_Chavez"], ["Laura_Bush"]]
    assert not out["unclustered"]
    assert cli.main(["cluster", "--gallery", str(gallery), "--json", "--threshold", "0.4"]) == 0
    assert json.loads(capsys.readouterr().out)["unclustered"]
