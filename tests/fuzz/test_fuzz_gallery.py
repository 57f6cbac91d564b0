"""The gallery part of the fuzz suite: damaged gallery files and hostile exports.

A few hundred seeded cases here (``make test``); ``benchmarks/fuzz_gallery.py`` runs the
same generator at large counts. Every case must end as a clean ``GalleryError`` or read
back exactly what the seed holds: no crash, no silent change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest's importlib mode does not put this folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

import gallery_corpus as corpus  # noqa: E402

#: Cases run in ``make test`` (half damaged galleries, half damaged exports).
COUNT = 300


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return corpus.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def tally(seeds, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    t = corpus.Tally()
    for case in corpus.generate(seeds, count=COUNT, seed=0):
        t.record(case, corpus.judge(case, seeds, folder))
    return t


def test_no_crash_and_no_silent_change(tally):
    print(f"\ngallery fuzz: {dict(tally.kinds)} by kind {dict(tally.by_kind)}")
    assert tally.tried == COUNT
    assert tally.kinds["crash"] == 0, tally.examples.get("crash")
    assert tally.kinds["silent"] == 0, tally.examples.get("silent")


def test_the_corpus_reaches_both_outcomes(tally):
    """A corpus that is always refused (or never) tests little: bit flips land in unused
    space as well as in rows, and hostile exports are all refused."""
    for kind in corpus.KINDS:
        assert tally.by_kind[kind, "refused"] > 10, kind
    assert tally.by_kind["gallery", "same"] > 10


def test_generator_is_seeded_and_always_mutates(seeds):
    a = list(corpus.generate(seeds, count=20, seed=3))
    b = list(corpus.generate(seeds, count=20, seed=3))
    assert [c.data for c in a] == [c.data for c in b]
    assert [c.data for c in corpus.generate(seeds, count=5, seed=3, start=15)] == [
        c.data for c in a[15:]
    ]
    assert all(c.data not in (seeds.gallery, seeds.export) for c in a)


def test_seeds_read_back_as_themselves(seeds, tmp_path):
    path = tmp_path / "seed.sqlite"
    path.write_bytes(seeds.gallery)
    assert corpus.read_state(path) == seeds.state
    people = [p[0] for p in seeds.state[0]]
    assert people[3] == "Renamed person" and "person 5 Ünïcode" not in people


def test_judge_sees_crashes_and_silent_changes(seeds, tmp_path, monkeypatch):
    """The judge itself can fail: a reader that raises TypeError is a crash, and one
    that hides a damaged row is a silent change."""
    import sqlite3

    from workbench.gallery import store

    [case] = corpus.generate(seeds, count=1, seed=0)
    monkeypatch.setattr(store, "load", lambda *a, **k: (_ for _ in ()).throw(TypeError("x")))
    assert corpus.judge(case, seeds, tmp_path).kind == "crash"
    monkeypatch.undo()

    path = tmp_path / "changed.sqlite"
    path.write_bytes(seeds.gallery)
    con = sqlite3.connect(path)
    con.execute("UPDATE faces SET source = 'elsewhere.jpg' WHERE id = 1")
    con.commit()
    con.close()
    changed = corpus.Case(0, "gallery", "by-hand", path.read_bytes(), False)
    assert corpus.judge(changed, seeds, tmp_path).kind == "refused"  # the checksum
    monkeypatch.setattr(store.integrity, "checksum", lambda *a, **k: b"")
    monkeypatch.setattr(store, "person_checksum", lambda *a: b"")
    monkeypatch.setattr(store, "face_checksum", lambda *a: b"")
    con = sqlite3.connect(path)
    con.execute("UPDATE faces SET checksum = x''")
    con.execute("UPDATE faces SET source = 'elsewhere.jpg' WHERE id = 1")
    con.execute("UPDATE people SET checksum = x''")
    con.execute("UPDATE meta SET checksum = x''")
    con.commit()
    con.close()
    hidden = corpus.Case(0, "gallery", "by-hand", path.read_bytes(), False)
    outcome = corpus.judge(hidden, seeds, tmp_path)
    assert outcome.kind == "silent" and "faces" in outcome.detail, outcome
