"""Naming, merging, moving out and discarding proposed people: one transaction each."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector

from workbench.errors import GalleryError, InvalidNameError
from workbench.gallery import Gallery
from workbench.gallery import unknowns as unknowns_mod


def _fill(gallery, scores=None):
    """Ada enrolled; unknowns: 3 faces of person 1, 2 of person 2, 1 of person 3."""
    gallery.add_embeddings("Ada", np.stack([face_vector(0, i) for i in range(3)]))
    people = [1, 1, 2, 1, 2, 3]
    vecs = np.stack([face_vector(p, 10 + i) for i, p in enumerate(people)])
    scores = scores or [0.9] * 6
    gallery.add_unknowns(vecs, scores=scores, source=[f"p{i}.jpg" for i in range(6)])
    return gallery.cluster_unknowns().clusters


def test_name_a_proposal_as_a_new_person(gallery):
    big, small = _fill(gallery)
    result = gallery.name_proposal(big.id, "Bea")
    assert result.new_person and len(result.enrolled) == 3 and result.below_floor == 0
    assert "Bea" in gallery and len(gallery) == 6
    assert {f.source for f in gallery.faces("Bea")} == {f.source for f in big.faces}
    assert gallery.count_unknowns() == 3
    # The remaining proposal keeps its id; the named one is gone.
    proposals = gallery.cluster_unknowns()
    assert [c.id for c in proposals.clusters] == [small.id]
    with pytest.raises(GalleryError, match=f"no proposed person with id {big.id}"):
        gallery.name_proposal(big.id, "Bea")
    # A probe of that person is now named.
    assert gallery.search(face_vector(1, 99)).best()[0].label == "Bea"


def test_name_faces_with_the_face_in_view_is_one_transaction(gallery, monkeypatch):
    """The live panel's "Who is this?": the face in view (``also``) and the track's kept
    faces in one commit; a failure in its last step leaves nothing of either."""
    from workbench.gallery import FaceBatch

    big, _ = _fill(gallery, scores=[0.01, 0.01, 0.9, 0.01, 0.9, 0.9])
    ids = [f.id for f in big.faces]
    in_view = FaceBatch("ignored", face_vector(1, 50)[None], scores=[0.99])

    def fail(*_args, **_kwargs):
        raise GalleryError("the disk is full (a test's failure)")

    monkeypatch.setattr(unknowns_mod, "delete_within", fail)
    with pytest.raises(GalleryError, match="disk is full"):
        gallery.name_faces(ids, "Bea", also=in_view)
    assert "Bea" not in gallery and len(gallery) == 3 and gallery.count_unknowns() == 6
    monkeypatch.undo()
    # Every kept face below the floor is no error with the face in view: it alone is
    # enrolled (first id), and the kept faces leave the unknowns all the same.
    result = gallery.name_faces(ids, "Bea", also=in_view)
    assert result.name == "Bea" and result.new_person and result.below_floor == 3
    [face] = gallery.faces("Bea")
    assert result.enrolled == [face.id] and gallery.count_unknowns() == 3
    # Without kept faces (no keeper, or none kept): the face in view alone.
    more = gallery.name_faces([], "Bea", also=in_view)
    assert len(more.enrolled) == 1 and not more.new_person and len(gallery.faces("Bea")) == 2
    with pytest.raises(GalleryError, match="no unknown face with id"):
        gallery.name_faces([ids[0]], "Bea", also=in_view)  # gone: nothing written
    assert len(gallery.faces("Bea")) == 2


def test_name_into_an_existing_person(gallery):
    _, small = _fill(gallery)
    result = gallery.name_proposal(small.id, "Ada")
    assert not result.new_person and len(gallery.faces("Ada")) == 5


def test_quality_floor(gallery):
    big, _ = _fill(gallery, scores=[0.05, 0.9, 0.9, 0.9, 0.9, 0.9])
    result = gallery.name_proposal(big.id, "Bea")
    assert len(result.enrolled) == 2 and result.below_floor == 1
    assert gallery.count_unknowns() == 3  # the low-quality face left the unknowns too


def test_nothing_above_the_floor_writes_nothing(gallery):
    big, _ = _fill(gallery, scores=[0.01] * 6)
    with pytest.raises(GalleryError, match="quality floor"):
        gallery.name_proposal(big.id, "Bea")
    assert "Bea" not in gallery and gallery.count_unknowns() == 6
    assert len(gallery.name_proposal(big.id, "Bea", min_quality=0).enrolled) == 3


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "unknown", "x" * 300])
def test_invalid_name_writes_nothing(gallery, bad):
    big, _ = _fill(gallery)
    with pytest.raises(InvalidNameError):
        gallery.name_proposal(big.id, bad)
    assert gallery.people == ["Ada"] and gallery.count_unknowns() == 6


def test_naming_is_one_transaction(gallery, monkeypatch):
    """If removing the unknowns fails, the enrollment is rolled back with it."""
    big, _ = _fill(gallery)

    def boom(*_a, **_k):
        raise GalleryError("disk full (simulated)")

    monkeypatch.setattr(unknowns_mod, "delete_within", boom)
    with pytest.raises(GalleryError, match="simulated"):
        gallery.name_proposal(big.id, "Bea")
    assert "Bea" not in gallery and len(gallery) == 3 and gallery.count_unknowns() == 6


def test_merge_move_out_discard(gallery_path):
    with Gallery(gallery_path, model_id=MODEL) as g:
        big, small = _fill(g)
        merged = g.merge_proposals(big.id, small.id)
        assert merged == min(big.id, small.id)
        with pytest.raises(GalleryError, match="itself"):
            g.merge_proposals(merged, merged)
    with Gallery(gallery_path, model_id=MODEL) as g:  # the merge is in the file
        [one] = g.cluster_unknowns().clusters
        assert len(one.faces) == 5
        moved = one.faces[-1].id
        g.move_face_out(moved)
        [one] = g.cluster_unknowns().clusters
        assert len(one.faces) == 4 and moved in [f.id for f in g.cluster_unknowns().unclustered]
        with pytest.raises(GalleryError, match="no unknown face with id 999"):
            g.move_face_out(999)
        assert g.discard_proposal(one.id) == 4
        assert g.count_unknowns() == 2
        with pytest.raises(GalleryError, match="no unknown faces to cluster|no proposed"):
            g.discard_proposal(one.id)
