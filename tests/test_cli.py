"""The command line: exit codes and output, run in-process (one Python, no extra TF start)."""

import json

import pytest

from workbench.cli import main


def test_detect_json(lfw_dir, capsys):
    path = str(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert main(["detect", "--json", path]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["source"] == path
    assert len(record["faces"]) == 1
    assert set(record["faces"][0]["keypoints"]) >= {"left_eye", "mouth_right"}


def test_detect_text(lfw_dir, capsys):
    path = str(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert main(["detect", path]) == 0
    assert "1 face" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp: ["detect", str(tmp / "missing.jpg")], "no such file"),
        (lambda tmp: ["detect", str(_write(tmp / "empty.jpg", b""))], "empty"),
        (lambda tmp: ["detect", str(_write(tmp / "x.jpg", b"not an image"))], "not an image"),
        (lambda tmp: ["detect", "--detector", "CNN", str(_jpeg(tmp))], "unknown detector"),
        (lambda tmp: ["detect", "--min-score", "2", str(_jpeg(tmp))], "min_score"),
        (
            lambda tmp: ["detect", "--detector", "mtcnn", "--range", "full", str(_jpeg(tmp))],
            "--range applies to the mediapipe detector",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make_args, message):
    assert main(make_args(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("workbench detect: error:") and message in err[0]


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    assert "blaze_face_short_range" in capsys.readouterr().out


def test_unknown_model_name_exits_2(capsys):
    assert main(["models", "fetch", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err


def test_a_bug_is_not_reported_as_bad_input(tmp_path, monkeypatch):
    # A ValueError that is not the package's (numpy's "operands could not be broadcast"
    # deep in a detector, say) keeps its traceback and exit 1 instead of passing for a
    # bad input with exit 2.
    import workbench.images

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(workbench.images, "load_image", broken)
    with pytest.raises(ValueError, match="broadcast"):
        main(["detect", str(_jpeg(tmp_path))])


def _write(path, data):
    path.write_bytes(data)
    return path


def _jpeg(tmp):
    from PIL import Image

    path = tmp / "ok.jpg"
    Image.new("RGB", (32, 32)).save(path)
    return path


def test_embed_json_and_aligned(lfw_dir, tmp_path, capsys):
    path = str(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert main(["embed", "--json", path]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["source"] == path and len(record["faces"]) == 1
    vector = record["faces"][0]["embedding"]
    assert len(vector) == 128 and len(record["faces"][0]["box"]) == 4
    # --aligned refuses anything but a 150x150 chip, naming what arrived.
    assert main(["embed", "--aligned", path]) == 2
    assert "150x150 chip, but got 250x250" in capsys.readouterr().err


def test_eval_lfw_on_a_short_pairs_file(lfw_dir, lfw_pairs_file, tmp_path, capsys):
    lines = lfw_pairs_file.read_text().splitlines()
    pairs = tmp_path / "pairs.txt"
    # Header "1 10": one fold of 10 same-person and 10 different-person pairs.
    pairs.write_text("\n".join(["1\t10", *lines[1:11], *lines[301:311]]) + "\n")
    args = ["eval", "lfw", "--images", str(lfw_dir), "--pairs", str(pairs)]
    # The default embedder is the fused one (what a new gallery gets); --flip is dlib's.
    assert main([*args, "--detector", "mediapipe", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["pairs"] == 20 and summary["folds"] == 1 and summary["embedding_dim"] == 320
    assert summary["accuracy_mean"] >= 0.9
    assert main([*args, "--detector", "mediapipe", "--flip", "--json", "--quiet"]) == 2
    assert "--flip is for --embedder dlib" in capsys.readouterr().err
    dlib = [*args, "--detector", "mediapipe", "--embedder", "dlib", "--flip", "--json", "--quiet"]
    assert main(dlib) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["flip"] is True and summary["embedding_dim"] == 128
    assert summary["accuracy_mean"] >= 0.9
    assert main(["eval", "lfw", "--images", str(tmp_path / "none"), "--pairs", str(pairs)]) == 2
    assert "not a folder of LFW images" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["detect", "a.jpg"],
        ["embed", "a.jpg"],
        ["enroll", "dir", "--gallery", "g.sqlite"],
        ["recognize", "a.jpg", "--gallery", "g.sqlite"],
        ["live", "0", "--gallery", "g.sqlite"],
        ["eval", "lfw", "--images", "d", "--pairs", "p"],
        ["cluster", "dir", "--gallery", "g.sqlite"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_detecting_command_takes_detector_and_range(argv):
    from workbench.cli import build_parser, detector_options

    args = build_parser().parse_args([*argv, "--detector", "mediapipe", "--range", "tiled"])
    assert args.detector == "mediapipe"
    assert detector_options(args) == {"range": "tiled"}
    default = build_parser().parse_args(argv)
    assert detector_options(default) == {}  # the detector's own default range


def test_cli_ranges_are_the_detector_ranges():
    from workbench.cli import RANGES
    from workbench.detect import Range

    assert set(RANGES) == {r.value for r in Range}


def test_detect_range_reaches_the_detector(lfw_dir, crowd_video, tmp_path, capsys):
    """Four 24 px faces in a 640x360 frame: the default finds them, short range alone
    does not."""
    from PIL import Image

    from workbench.testing.placed_faces import placed_face_frames

    frame = placed_face_frames(face_height=24, frames=1, seed=3)[0]
    path = tmp_path / "far.png"
    Image.fromarray(frame.image).save(path)
    found = {}
    for flags in ([], ["--range", "short"], ["--range", "tiled"]):
        assert main(["detect", "--json", *flags, str(path)]) == 0
        found[" ".join(flags)] = len(json.loads(capsys.readouterr().out.splitlines()[-1])["faces"])
    assert found["--range short"] == 0
    assert found[""] >= 3 and found["--range tiled"] >= 3
