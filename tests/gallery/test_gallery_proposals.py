"""Proposed people from the gallery's unknowns (fake embeddings; real faces in the CLI test)."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import face_vector

from workbench.errors import GalleryError
from workbench.gallery import cluster as cluster_mod
from workbench.gallery.cluster import cluster_embeddings


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


#: Three LFW people, six photos each, that the fused defaults group exactly (measured
#: through the features cache of benchmarks/lfw_fusion.py: 3 groups, BCubed F 1.0).
FUSED_PEOPLE = ["Colin_Powell", "Serena_Williams", "Hugo_Chavez"]
#: A stranger to them whose three photos' mean lies 0.080 beyond a gallery of their first
#: three photos each (threshold 0.735, its prior) from Hugo Chavez (measured through the
#: same cache): inside dlib's reach (+ 0.1), outside the fused one (+ 0.06).
FUSED_STRANGER = "Akhmed_Zakayev"


@pytest.fixture(scope="module")
def fused_faces(lfw_dir, mediapipe_detector, fused_embedder):
    """``(paths, (n, 320) vectors)``: six photos of each of :data:`FUSED_PEOPLE`, then three
    of :data:`FUSED_STRANGER`, through the real pipeline."""
    from workbench.evaluate import embed_photos

    paths = [p for who in FUSED_PEOPLE for p in sorted((lfw_dir / who).glob("*.jpg"))[:6]]
    paths += sorted((lfw_dir / FUSED_STRANGER).glob("*.jpg"))[:3]
    x, no_face = embed_photos(paths, detector=mediapipe_detector, embedder=fused_embedder)
    assert x.shape == (21, 320) and not no_face.any()
    return paths, x


def test_fused_gallery_unknowns_group_by_person(tmp_path, fused_faces, fused_embedder):
    """A fused gallery's unknowns of three real people, embedded through the real
    pipeline: the defaults propose exactly those three people; dlib's cut and gap_above
    on the same vectors (what every gallery got before) split them and leave faces out."""
    from workbench.evaluate import score_clustering
    from workbench.gallery import Gallery
    from workbench.gallery.cluster import DEFAULT_GAP_ABOVE, DEFAULT_THRESHOLD

    paths, x = fused_faces[0][:18], fused_faces[1][:18]
    with Gallery(tmp_path / "fused.sqlite", model_id=fused_embedder.model_id) as g:
        ids = g.add_unknowns(x, source=[str(p) for p in paths])
        proposals = g.cluster_unknowns()
    assert proposals.threshold == cluster_mod.FUSED_THRESHOLD
    owner = {i: p.parent.name for i, p in zip(ids, paths, strict=True)}
    groups = sorted(sorted({owner[i] for i in c.face_ids}) for c in proposals.clusters)
    assert groups == [[p] for p in sorted(FUSED_PEOPLE)]
    assert not proposals.unclustered
    # Measured through the cache: BCubed recall 0.65, 4 groups and 2 faces alone.
    truth = np.array([p.parent.name for p in paths])
    dlib = cluster_embeddings(x, threshold=DEFAULT_THRESHOLD, gap_above=DEFAULT_GAP_ABOVE)
    assert score_clustering(dlib.labels, truth).bcubed_recall < 0.8


def test_fused_stranger_is_not_hinted_as_somebody(tmp_path, fused_faces, fused_embedder):
    """Three real people enrolled in a fused gallery, a real stranger's three photos among
    its unknowns: one proposal, and no "looks like": its mean lies beyond the fused reach
    but within dlib's threshold + 0.1, which would have called the stranger a look of
    Hugo Chavez."""
    from workbench.gallery import Gallery
    from workbench.gallery.proposals import FUSED_NEAR_MARGIN, NEAR_MARGIN

    paths, x = fused_faces
    with Gallery(tmp_path / "fused.sqlite", model_id=fused_embedder.model_id) as g:
        for k, who in enumerate(FUSED_PEOPLE):
            g.add_embeddings(who, x[6 * k : 6 * k + 3])
        stranger = x[18:]
        assert not any(m.accepted for m in g.search(stranger).best())
        g.add_unknowns(stranger, source=[str(p) for p in paths[18:]])
        [proposal] = g.cluster_unknowns().clusters
        assert len(proposal.faces) == 3 and proposal.near is None
        nearest = g.search(stranger.mean(0, keepdims=True)).best()[0]
        assert g.threshold + FUSED_NEAR_MARGIN < nearest.distance <= g.threshold + NEAR_MARGIN


def test_near_hint_reach_follows_the_model(tmp_path):
    """A proposal whose mean lies threshold + 0.08 from an enrolled person is hinted in a
    dlib gallery (reach + 0.1) and not in a fused one (reach + 0.06, measured on LFW:
    dlib's 0.1 on fused vectors hints 89-97% of strangers' proposals)."""
    from workbench.gallery import Gallery
    from workbench.gallery.proposals import FUSED_NEAR_MARGIN, NEAR_MARGIN

    assert FUSED_NEAR_MARGIN < 0.08 < NEAR_MARGIN
    rng = np.random.default_rng(5)
    found = {}
    for model, dim in (("dlib_resnet_v1-55533b28a958", 128), ("fused-test", 320)):
        centre = rng.standard_normal(dim).astype(np.float32)
        centre *= 1.2 / np.linalg.norm(centre)
        direction = rng.standard_normal(dim).astype(np.float32)
        direction /= np.linalg.norm(direction)
        with Gallery(tmp_path / f"{dim}.sqlite", model_id=model) as g:
            g.add_embeddings("Ada", np.stack([centre, centre]))
            g.set_threshold(0.5 if dim == 128 else 0.65)
            step = g.threshold + 0.08
            g.add_unknowns(np.stack([centre + step * direction] * 2))
            [c] = g.cluster_unknowns().clusters
            found[dim] = c.near
    assert found[128] is not None and found[128].name == "Ada"
    assert found[320] is None
