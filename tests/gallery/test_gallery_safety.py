"""Crash safety (SIGKILL mid-enrollment) and reading while another thread enrolls."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gallery_fakes import MODEL, raw_sql

from workbench.gallery import Decision, Gallery, IndexOptions

BATCH = 50

_WRITER = textwrap.dedent(
    f"""
    import sys
    import numpy as np
    from workbench.gallery import Gallery

    rng = np.random.default_rng(int(sys.argv[2]))
    with Gallery(sys.argv[1], model_id={MODEL!r}) as g:
        i = len(g.people)
        while True:
            vecs = 0.1 * rng.standard_normal(({BATCH}, 128)).astype(np.float32)
            g.add_embeddings(
                f"person {{i}}", vecs, sources=[f"p{{i}}_{{j}}.jpg" for j in range({BATCH})]
            )
            print(i, flush=True)
            i += 1
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("delay", [0.0, 0.005, 0.013, 0.021, 0.029, 0.037, 0.051, 0.077])
def test_sigkill_mid_enrollment_leaves_a_whole_state(gallery_path, delay) -> None:
    Gallery(gallery_path, model_id=MODEL).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(gallery_path), str(int(delay * 1000))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(5):  # let it commit a few transactions, then kill it mid-stream
            assert proc.stdout.readline(), "the writer died before committing"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with Gallery(gallery_path, model_id=MODEL) as g:  # rolls back a hot journal if any
        n_people = len(g.people)
        assert n_people >= 5
        assert len(g) == n_people * BATCH  # every transaction whole or absent
        assert {p.faces for p in g.list_people()} == {BATCH}
        assert g.people == [f"person {i}" for i in range(n_people)]
        g.add_embeddings("after the crash", np.full((1, 128), 0.1, np.float32))
    assert raw_sql(gallery_path, ("SELECT COUNT(*) FROM faces",)) == [[(n_people * BATCH + 1,)]]
    if isinstance(gallery_path, Path):  # the SQLite file's own structure too
        con = sqlite3.connect(gallery_path)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        con.close()


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("ann", [False, True])
def test_readers_while_one_thread_enrolls(gallery_path, ann, decision) -> None:
    rng = np.random.default_rng(0)
    people, per = 60, 10
    # Each person: a centre (of embedding scale) plus small noise, so either decision
    # finds the person.
    centres = 0.1 * rng.standard_normal((people, 1, 128)).astype(np.float32)
    vectors = centres + 0.001 * rng.standard_normal((people, per, 128)).astype(np.float32)
    # The index kicks in at 5 people (centroids) or 50 faces, early in the run.
    opts = IndexOptions(threshold=5 if decision is Decision.CENTROID else 50) if ann else None
    errors: list[BaseException] = []
    done = threading.Event()
    checks = [0]

    with Gallery(gallery_path, model_id=MODEL, index=opts, decision=decision) as g:

        def writer() -> None:
            try:
                for p in range(people):
                    g.add_embeddings(f"p{p}", vectors[p])
                    if p == people // 2:
                        g.remove_person("p0")
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                done.set()

        def reader(seed: int) -> None:
            r = np.random.default_rng(seed)
            try:
                while not done.is_set():
                    visible = g.people
                    if not visible:
                        continue
                    name = visible[r.integers(len(visible))]
                    p = int(name[1:])
                    q = vectors[p, r.integers(per)][None]
                    best = g.search(q, k=2).best()[0]
                    # A person visible before the search can only be found, never lost
                    # (p0 may be removed meanwhile).
                    assert best.name == name or (p == 0 and best.name != "p0"), (name, best)
                    assert best.distance < 0.5 or p == 0
                    g.list_people()
                    checks[0] += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(s,)) for s in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors[0]
        assert checks[0] > 10
        assert len(g) == (people - 1) * per
