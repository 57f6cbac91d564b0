"""Fuzzing ``load_image`` and what stands on it (enroll, the CLI) with mutated real photos.

A few hundred seeded cases here (under ten seconds); ``benchmarks/fuzz.py images`` runs
the same generator at large counts. Every case must end as a clean ``InvalidImageError``
or a valid image; none may crash or decode a damaged file to other pixels silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# pytest's importlib mode does not put this folder on sys.path; the corpus module and
# the gallery fakes are imported by name.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "gallery"))

import image_corpus as corpus  # noqa: E402

#: Cases run in ``make test``: 100 per format, every mutation in turn.
COUNT = 600
#: LFW people whose first photo seeds the corpus.
PEOPLE = ("AJ_Cook", "Abdullah_Gul", "Serena_Williams")


@pytest.fixture(scope="module")
def seeds(lfw_dir):
    photos = [lfw_dir / name / f"{name}_0001.jpg" for name in PEOPLE]
    missing = [p for p in photos if not p.is_file()]
    if missing:
        pytest.skip(f"LFW photos missing: {missing}")
    return corpus.make_seeds(photos)


@pytest.fixture(scope="module")
def tally(seeds):
    result = corpus.Tally()
    for case in corpus.generate(seeds, count=COUNT, seed=0):
        result.add(case, corpus.judge(case))
    return result


def test_no_crash_and_no_silent_change(tally):
    print(f"tried {tally.tried}: {dict(tally.kinds)}, decoded with changed pixels {tally.changed}")
    assert tally.tried == COUNT
    assert tally.kinds["crash"] == 0, tally.examples.get("crash")
    assert tally.kinds["silent"] == 0, tally.examples.get("silent")


def test_the_corpus_reaches_both_outcomes_in_every_format(tally):
    # A generator that only made garbage (or only harmless changes) would pass the test
    # above without testing anything.
    for fmt in corpus.FORMATS:
        assert tally.by_format[fmt, "refused"] >= 10, (fmt, tally.by_format)
        assert tally.by_format[fmt, "decoded"] >= 1 or fmt == "PNG", (fmt, tally.by_format)


def test_generator_is_seeded_and_always_mutates(seeds):
    def digests(seed):
        return [
            hashlib.sha256(c.data).hexdigest() for c in corpus.generate(seeds, count=50, seed=seed)
        ]

    assert digests(0) == digests(0)
    assert digests(0) != digests(1)
    # Any case can be remade alone from its index (how a failure in a long run is replayed).
    [alone] = corpus.generate(seeds, count=1, seed=0, start=37)
    assert alone.data == list(corpus.generate(seeds, count=50, seed=0))[37].data
    assert all(c.data != c.seed.data for c in corpus.generate(seeds, count=200, seed=3))


def test_seeds_decode_to_their_photos(seeds, lfw_dir):
    assert {s.fmt for s in seeds} == set(corpus.FORMATS)
    for s in seeds:
        assert s.pixels.shape[2] == 3 and s.pixels.dtype == np.uint8
        assert max(s.pixels.shape[:2]) == corpus.SEED_SIDE


def test_judge_sees_crashes_and_silent_changes(seeds, monkeypatch):
    png = next(s for s in seeds if s.name == "png-rgb")
    other = next(s for s in seeds if s.name == "png-rgb" and s.photo != png.photo)
    # A "truncated" file that decodes to another photo's pixels is a silent change.
    assert corpus.judge(corpus.Case(0, png, "truncate", other.data)).kind == "silent"
    assert corpus.judge(corpus.Case(0, png, "truncate", png.data)).kind == "decoded"
    import workbench.images

    def broken(*args, **kwargs):
        raise KeyError("decoder bug")

    monkeypatch.setattr(workbench.images, "load_image", broken)
    assert corpus.judge(corpus.Case(0, png, "bitflip", png.data)).kind == "crash"


# --- the corpus through enroll and the CLI


def _special_files(folder: Path) -> list[Path]:
    """Paths that are not image files: each must be named in the skip reasons."""
    folder.mkdir(parents=True, exist_ok=True)
    loop = folder / "loop.jpg"
    loop.symlink_to(loop)
    broken = folder / "broken.jpg"
    broken.symlink_to(folder / "gone.jpg")
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    return [loop, broken, fifo, empty]


def _hostile_folder(folder: Path, seeds, count: int) -> list[Path]:
    """Refused cases of the corpus (``count`` of them, all formats) and the special files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in corpus.generate(seeds, count=count * 3, seed=11):
        if len(paths) < count and corpus.judge(case).kind == "refused":
            path = folder / case.filename
            path.write_bytes(case.data)
            paths.append(path)
    return paths + _special_files(folder / "odd")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on damaged EXIF/TIFF tags
def test_enroll_folder_skips_every_bad_file_and_enrolls_the_rest(seeds, tmp_path):
    from gallery_fakes import MODEL, FakeRecognizer, write_photo

    from workbench.gallery import Gallery

    root = tmp_path / "ref"
    good = [write_photo(root / "Ada" / f"good{i}.png", 1, i) for i in range(3)]
    good += [write_photo(root / "Bob" / "good.png", 2, 0)]
    bad = _hostile_folder(root / "Ada" / "hostile", seeds, 60)
    with Gallery(tmp_path / "g.sqlite", model_id=MODEL) as gallery:
        summary = gallery.enroll_folder(root, recognizer=FakeRecognizer(), progress=False)
        assert sorted(s for _, s in summary.enrolled) == sorted(map(str, good))
        assert len(gallery) == 4
    reasons = dict(summary.unreadable)
    assert sorted(reasons) == sorted(map(str, bad))
    for path in bad:
        assert reasons[str(path)].startswith(path.name + ":") or reasons[str(path)].startswith(
            str(path) + ":"
        ), reasons[str(path)]
    assert "symbolic link loop" in reasons[str(root / "Ada" / "hostile" / "odd" / "loop.jpg")]
    assert "FIFO" in reasons[str(root / "Ada" / "hostile" / "odd" / "pipe.jpg")]
    text = str(summary)
    assert f"unreadable: {len(bad)}" in text
    listed = [line for line in text.splitlines() if line.startswith("  unreadable ")]
    assert len(listed) == 5
    for line in listed:  # each file named once, then its reason
        path = Path(line.removeprefix("  unreadable ").split(": ", 1)[0])
        assert line.count(path.name) == 1, line


def test_cli_detect_refuses_each_bad_file_with_one_line(seeds, tmp_path, capsys):
    import workbench.cli as cli

    # Images are all read before a detector loads, so no model is needed here.
    for path in _hostile_folder(tmp_path / "corpus", seeds, 40):
        assert cli.main(["detect", str(path)]) == 2, path
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"workbench detect: error: {path}: "), err


def _decodable_folder(folder: Path, seeds, count: int) -> list[Path]:
    """Cases that decode to changed pixels, those whose size changed first (a mutated
    header gives 32608x96 or 96x32864): they reach the detector and the embedder."""
    folder.mkdir(parents=True, exist_ok=True)
    resized, changed = [], []
    for case in corpus.generate(seeds, count=3000, seed=5):
        outcome = corpus.judge(case)
        if outcome.kind == "decoded" and outcome.changed:
            same = corpus.load_shape(case) == case.seed.pixels.shape
            (changed if same else resized).append(case)
    assert len(resized) >= 3, "the corpus no longer makes images of odd sizes"
    paths = []
    for case in resized[:10] + changed[: count - min(10, len(resized))]:
        path = folder / case.filename
        path.write_bytes(case.data)
        paths.append(path)
    return paths


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_enroll_of_the_hostile_corpus_in_one_process(seeds, lfw_dir, tmp_path):
    """The real command, real models, the corpus in one process: files that cannot be
    read are listed with their reasons, the rest (damaged but decodable files too, some
    over 30,000 px on a side) go through detection and are enrolled or found faceless,
    exit 0, no traceback."""
    root = tmp_path / "ref"
    good = []
    for name in ("AJ_Cook", "Serena_Williams"):
        (root / name).mkdir(parents=True)
        for photo in sorted((lfw_dir / name).glob("*.jpg"))[:2]:
            (root / name / photo.name).write_bytes(photo.read_bytes())
            good.append(root / name / photo.name)
    bad = _hostile_folder(root / "AJ_Cook" / "hostile", seeds, 60)
    damaged = _decodable_folder(root / "Mixed", seeds, 30)
    gallery = tmp_path / "g.sqlite"
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "enroll", str(root), "--gallery", str(gallery)]
        + ["--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    enrolled = sorted(s for _, s in summary["enrolled"])
    assert [s for s in enrolled if "/Mixed/" not in s] == sorted(map(str, good))
    assert sorted(s for s, _ in summary["unreadable"]) == sorted(map(str, bad))
    # Every damaged-but-decodable file is accounted for, once: enrolled or faceless.
    seen = [s for s in enrolled if "/Mixed/" in s] + summary["no_face"]
    assert sorted(seen) == sorted(map(str, damaged))
