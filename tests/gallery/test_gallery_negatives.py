"""Corrections that stick: "not X" negatives change later decisions, listed and removable."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import Gallery


def _between(a, b, t):
    return (a + t * (b - a)).astype(np.float32)


def _gallery_with_lookalike(g):
    """Ada enrolled; a stranger's faces sit inside Ada's threshold but off to one side."""
    ada = np.stack([face_vector(0, i) for i in range(3)])
    g.add_embeddings("Ada", ada)
    g.add_embeddings("Bob", np.stack([face_vector(1, i) for i in range(3)]))
    g.set_threshold(0.6)
    centre = ada.mean(0)
    away = np.random.default_rng(5).standard_normal(128).astype(np.float32)
    away /= np.linalg.norm(away)
    stranger = [centre + 0.45 * away + 0.03 * face_vector(7, i) for i in range(4)]
    return ada, np.stack(stranger)


def test_a_correction_turns_away_the_strangers_other_photos(gallery):
    ada, stranger = _gallery_with_lookalike(gallery)
    before = gallery.search(stranger).best()
    assert all(m.label == "Ada" for m in before)  # the stranger is taken for Ada
    [nid] = gallery.reject(stranger[0], "Ada", source="s0.jpg")
    after = gallery.search(stranger[1:]).best()
    assert all(not m.accepted and m.label == "unknown" for m in after)
    # Ada's own photos and Bob are untouched.
    probes = np.stack([face_vector(0, 10 + i) for i in range(5)])
    assert all(m.label == "Ada" for m in gallery.search(probes).best())
    assert gallery.search(face_vector(1, 9)).best()[0].label == "Bob"
    [rec] = gallery.negatives()
    assert (rec.id, rec.person, rec.source) == (nid, "Ada", "s0.jpg")
    assert gallery.negatives("Bob") == []


def test_corrections_persist_and_can_be_removed(gallery_path):
    with Gallery(gallery_path, model_id=MODEL) as g:
        _, stranger = _gallery_with_lookalike(g)
        [nid] = g.reject(stranger[0], "Ada")
    with Gallery(gallery_path, model_id=MODEL) as g:  # read back from the file
        assert not g.search(stranger[1]).best()[0].accepted
        with pytest.raises(GalleryError, match="no correction with id 999"):
            g.remove_negatives([nid, 999])
        assert len(g.negatives()) == 1  # all or none
        assert g.remove_negatives([nid]) == 1
        assert g.search(stranger[1]).best()[0].label == "Ada"


def test_rename_keeps_and_removal_drops_corrections(gallery):
    _, stranger = _gallery_with_lookalike(gallery)
    gallery.reject(stranger[0], "Ada")
    gallery.rename("Ada", "Ada L")
    assert [r.person for r in gallery.negatives()] == ["Ada L"]
    assert not gallery.search(stranger[1]).best()[0].accepted
    gallery.remove_person("Ada L")
    assert gallery.negatives() == []


def test_reject_an_unknown_face(gallery):
    _, stranger = _gallery_with_lookalike(gallery)
    [uid] = gallery.add_unknowns(stranger[:1], source="cam")
    [face] = gallery.unknowns([uid])
    gallery.reject(face, "Ada")
    assert gallery.negatives()[0].source == "cam"
    assert not gallery.search(stranger[2]).best()[0].accepted


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.zeros(5), "Ada"), InvalidArgumentError, "shape"),
        ((np.zeros(128), "Ada"), InvalidArgumentError, "no face embedding"),
        ((face_vector(0, 1), "Nobody"), GalleryError, "no person named 'Nobody'"),
    ],
)
def test_bad_corrections(gallery, args, error, match):
    _gallery_with_lookalike(gallery)
    with pytest.raises(error, match=match):
        gallery.reject(*args)
    assert gallery.negatives() == []
