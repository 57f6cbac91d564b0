"""Proposed people from the gallery's unknowns (fake embeddings; real faces in the CLI test)."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import face_vector

from workbench.errors import GalleryError


def _fill(gallery):
    """Unknowns: 3 faces of person 1, 2 of person 2, 1 of person 3; person 0 enrolled."""
    gallery.add_embeddings("Ada", np.stack([face_vector(0, i) for i in range(3)]))
    people = [1, 1, 2, 1, 2, 3]
    vecs = np.stack([face_vector(p, 10 + i) for i, p in enumerate(people)])
    scores = [0.5, 0.9, 0.8, 0.7, 0.6, 0.9]
    ids = gallery.add_unknowns(vecs, scores=scores, source=[f"p{i}.jpg" for i in range(6)])
    return ids, people


def test_clusters_by_person_largest_first(gallery):
    ids, people = _fill(gallery)
    proposals = gallery.cluster_unknowns()
    assert [len(c.faces) for c in proposals.clusters] == [3, 2]
    first, second = proposals.clusters
    assert sorted(first.face_ids) == [i for i, p in zip(ids, people, strict=True) if p == 1]
    assert first.id == min(first.face_ids)
    # Best quality first: the representative is the 0.9-score face.
    assert [f.score for f in first.faces] == [0.9, 0.7, 0.5]
    assert first.representative.score == 0.9
    assert [f.id for f in proposals.unclustered] == [ids[5]]
    assert proposals.get(second.id) is second
    assert first.near is None  # far from Ada
    assert str(proposals) == "2 proposed people, 1 face seen once"


def test_near_hint(gallery):
    gallery.add_embeddings("Ada", np.stack([face_vector(0, i) for i in range(3)]))
    # Two faces near Ada's centroid but just outside the threshold each.
    direction = np.random.default_rng(1).standard_normal(128).astype(np.float32)
    direction /= np.linalg.norm(direction)
    centre = np.stack([face_vector(0, i) for i in range(3)]).mean(0)
    step = gallery.threshold + 0.03
    vecs = np.stack([centre + step * direction, centre + step * direction * 1.01])
    gallery.add_unknowns(vecs)
    [c] = gallery.cluster_unknowns().clusters
    assert c.near is not None and c.near.name == "Ada"
    assert c.near.distance == pytest.approx(step * 1.005, abs=0.01)
    assert str(c.near).startswith("looks like Ada (distance ")
    d = c.to_dict()
    assert set(d) == {"id", "faces", "near"} and d["near"]["name"] == "Ada"
    assert d["near"]["rival"] is None
    assert set(d["faces"][0]) == {"id", "source", "box", "frame"}


def test_near_two_look_alikes_says_both(gallery, close_pair):
    """Real close LFW people enrolled; unknown faces whose mean the margin cannot settle
    between them: the hint names both, as the decision would ("X or Y?")."""
    jong, kim = close_pair
    for person, (enrolled, _, _) in close_pair.items():
        gallery.add_embeddings(person, enrolled)
    probe = close_pair[jong][1]
    gallery.add_unknowns(np.concatenate([probe, probe]))
    [c] = gallery.cluster_unknowns().clusters
    assert (c.near.name, c.near.rival) == (kim, jong)
    assert str(c.near).startswith(f"looks like {kim} or {jong} (distance 0.3")
    assert c.to_dict()["near"]["rival"] == jong


def test_ids_that_no_longer_exist(gallery):
    _fill(gallery)
    proposals = gallery.cluster_unknowns()
    with pytest.raises(GalleryError, match="no proposed person with id 999"):
        proposals.get(999)


def test_no_unknowns_is_a_clear_error(gallery):
    with pytest.raises(GalleryError, match="no unknown faces to cluster"):
        gallery.cluster_unknowns()


def test_json_shape(gallery):
    _fill(gallery)
    out = gallery.cluster_unknowns().to_dict()
    assert set(out) == {"clusters", "unclustered"}
    assert set(out["unclustered"][0]) == {"id", "source", "box"}
    assert out["unclustered"][0]["source"] == "p5.jpg"
