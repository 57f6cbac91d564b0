"""Changes made by another connection (another process, machine, notebook) are seen by an
open gallery at its next search, within a second, without reopening, on both stores; the
in-memory snapshot takes only what was added (a removal reloads everything)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.gallery import Decision, Gallery, IndexOptions


def _until(check, seconds: float = 1.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


@pytest.mark.parametrize("decision", list(Decision))
def test_enroll_rename_remove_seen_without_reopening(gallery_path, decision, monkeypatch):
    opts = IndexOptions(threshold=3)  # the approximate index too, kept in step
    with (
        Gallery(gallery_path, model_id=MODEL, decision=decision, index=opts) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        for p in range(4):
            writer.add_embeddings(f"p{p}", np.stack([face_vector(p, 0), face_vector(p, 1)]))
        assert _until(lambda: len(reader) == 8)
        reader.build_index()
        full_loads = []
        real_load = Gallery._load
        monkeypatch.setattr(
            Gallery, "_load", lambda self: (full_loads.append(1), real_load(self))[1]
        )

        writer.add_embeddings("Ada", face_vector(9, 0)[None])
        assert _until(lambda: "Ada" in reader.people)
        assert reader.search(face_vector(9, 0)[None]).best()[0].name == "Ada"
        writer.add_embeddings("p1", face_vector(1, 2)[None])
        writer.rename("p2", "Grace")
        assert _until(lambda: "Grace" in reader.people)
        assert reader.people == ["p0", "p1", "Grace", "p3", "Ada"] and len(reader) == 10
        assert reader.search(face_vector(2, 0)[None]).best()[0].name == "Grace"
        assert full_loads == []  # additions and renames: only the new rows were read

        writer.remove_person("p0")
        assert _until(lambda: "p0" not in reader.people)
        assert full_loads, "a removal reloads everything"
        best = reader.search(face_vector(0, 0)[None]).best()[0]
        assert best.name != "p0"
        assert len(reader) == 8


def test_threshold_set_elsewhere_is_seen(gallery_path):
    with (
        Gallery(gallery_path, model_id=MODEL) as reader,
        Gallery(gallery_path, model_id=MODEL) as writer,
    ):
        writer.add_embeddings("Ada", face_vector(0, 0)[None])
        writer.set_threshold(0.45)
        assert _until(lambda: reader.threshold == 0.45)
