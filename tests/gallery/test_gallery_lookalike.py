"""Look-alikes: the warning after enrollment and the margin in the decision."""

from __future__ import annotations

import numpy as np
from gallery_fakes import face_vector

from workbench.gallery.lookalike import DEFAULT_MARGIN, LOOKALIKE_DISTANCE


def _twins(gallery, gap=0.3):
    """Ann and Bea with centroids ``gap`` apart (under the look-alike distance), Cid far."""
    a = np.stack([face_vector(0, i, noise=0.02) for i in range(3)])
    step = np.random.default_rng(3).standard_normal(128).astype(np.float32)
    step *= gap / np.linalg.norm(step)
    gallery.add_embeddings("Ann", a)
    gallery.add_embeddings("Bea", a + step)
    gallery.add_embeddings("Cid", np.stack([face_vector(2, i) for i in range(3)]))
    gallery.set_threshold(0.6)
    return a.mean(0), a.mean(0) + step


def test_look_alikes_are_reported(gallery):
    _twins(gallery)
    found = {w.person: w for w in gallery.look_alikes()}
    assert set(found) == {"Ann", "Bea"} and found["Ann"].other == "Bea"
    assert abs(found["Ann"].distance - 0.3) < 0.01 <= LOOKALIKE_DISTANCE
    assert str(found["Bea"]).startswith("Bea looks like Ann: centroid distance 0.30")
    assert gallery.look_alikes(["Cid"]) == []


def test_between_look_alikes_the_best_must_win_by_the_margin(gallery):
    ann, bea = _twins(gallery)
    middle = (ann + bea) / 2
    toward_ann = middle + (ann - bea) * (DEFAULT_MARGIN / 4)  # nearer Ann, by a hair
    clear = ann + (ann - bea) * 0.2  # well on Ann's side
    hair, sure = gallery.search(np.stack([toward_ann, clear])).best()
    # Not named by a hair: "Ann or Bea?", which names nobody.
    assert hair.name == "Ann" and not hair.accepted and hair.label == "Ann or Bea?"
    assert hair.rival == "Bea" and hair.ambiguous and hair.candidates == ("Ann", "Bea")
    assert sure.label == "Ann" and sure.accepted and sure.rival is None
    assert not sure.ambiguous and sure.candidates is None
    gallery.margin = 0  # the rule off: named by a hair
    assert gallery.search(toward_ann).best()[0].label == "Ann"


def test_beyond_the_threshold_is_unknown_not_x_or_y(gallery):
    """Only a face the threshold accepts can be "X or Y?"; a far one stays unknown."""
    ann, bea = _twins(gallery)
    middle = (ann + bea) / 2
    gallery.set_threshold(float(np.linalg.norm(middle - ann)) - 0.01)
    (m,) = gallery.search(middle).best()
    assert not m.accepted and m.rival is None and m.label == "unknown"


def test_a_correction_of_x_is_not_x_or_y(gallery):
    """A probe a correction says is not Ann is not "Ann or Bea?" either."""
    ann, bea = _twins(gallery)
    toward_ann = (ann + bea) / 2 + (ann - bea) * (DEFAULT_MARGIN / 4)
    assert gallery.search(toward_ann).best()[0].ambiguous
    gallery.reject(toward_ann, "Ann")
    (m,) = gallery.search(toward_ann).best()
    assert not m.accepted and m.rival is None and m.label == "unknown"


def test_no_margin_between_people_who_are_not_look_alikes(gallery):
    _twins(gallery, gap=0.9)  # far apart: not look-alikes
    assert gallery.look_alikes() == []
    ann = np.stack([face_vector(0, i, noise=0.02) for i in range(3)]).mean(0)
    assert gallery.search(ann).best()[0].label == "Ann"


def test_enroll_summary_warns(gallery):
    from gallery_fakes import FakeRecognizer, photo_array

    rec = FakeRecognizer()
    gallery.enroll("Ann", [photo_array(0, v) for v in range(3)], recognizer=rec)
    summary = gallery.enroll("Ann 2", [photo_array(0, v) for v in range(3, 6)], recognizer=rec)
    assert len(summary.look_alikes) == 1
    assert summary.look_alikes[0].startswith("Ann 2 looks like Ann: centroid distance")
    assert "warning: Ann 2 looks like Ann" in str(summary)
    other = gallery.enroll("Cid", [photo_array(2, v) for v in range(2)], recognizer=rec)
    assert other.look_alikes == []


def _enroll_close(gallery, close_pair):
    for person, (enrolled, _, _) in close_pair.items():
        gallery.add_embeddings(person, enrolled)


def test_real_close_people_get_x_or_y(gallery, close_pair):
    """Jong Thae Hwa's second photo lies nearer Kim Jin-sun's face (by 0.017, measured):
    without the margin it is named Kim Jin-sun, wrongly; with it, "Kim_Jin-sun or
    Jong_Thae_Hwa?", which is honest and names nobody."""
    jong, kim = close_pair
    _enroll_close(gallery, close_pair)
    assert {w.person: w.other for w in gallery.look_alikes()} == {jong: kim, kim: jong}
    probes = np.concatenate([close_pair[jong][1], close_pair[kim][1]])
    torn, clear = gallery.search(probes).best()
    assert torn.label == f"{kim} or {jong}?" and torn.candidates == (kim, jong)
    assert not torn.accepted and torn.distance <= gallery.threshold
    assert clear.label == kim and clear.accepted and clear.rival is None
    # The rule is what the nearest two say: within the threshold, look-alikes, gap under
    # the margin (measured with the rule off, k=2).
    gallery.margin = 0
    two = gallery.search(probes, k=2)
    gaps = two.distances[:, 1] - two.distances[:, 0]
    assert gaps[0] < DEFAULT_MARGIN <= gaps[1]
    assert [m.label for m in two.best()] == [kim, kim]  # named wrongly without it


def test_x_or_y_faces_are_neither_named_nor_kept(gallery, close_pair, mediapipe_detector):
    """Through `Recognizer.recognize` on the real photo: the JSON says who it may be,
    ``name`` stays ``"unknown"``, and the unknowns keeper stores nothing of it."""
    from workbench.embed import default_embedder
    from workbench.recognize import Recognizer, UnknownsKeeper

    jong, kim = close_pair
    _enroll_close(gallery, close_pair)
    rec = Recognizer(mediapipe_detector, default_embedder(), gallery)
    recognition = rec.recognize(str(close_pair[jong][2]))
    [face] = recognition.to_dicts()
    assert face["candidates"] == [kim, jong] and face["name"] == "unknown"
    assert face["accepted"] is False
    assert not recognition.unknown.any()
    with UnknownsKeeper(gallery, detector=mediapipe_detector, source="probe") as keeper:
        keeper.offer_recognition(recognition)
    assert gallery.count_unknowns() == 0


def test_a_gallery_takes_the_rule_of_its_model(gallery_path, tmp_path):
    """A fused gallery's look-alike distance is the fused one (either store), also when
    reopened without naming its model; a dlib gallery keeps dlib's. The margin is shared."""
    from workbench.gallery import Gallery
    from workbench.gallery.lookalike import FUSED_LOOKALIKE_DISTANCE, defaults_for

    fused_id = "fused-dlib_resnet_v1-55533b28a958+mobilefacenet-d8ba40c0127f-w0.625"
    with Gallery(gallery_path, model_id=fused_id) as g:
        assert (g.lookalike_distance, g.margin) == (FUSED_LOOKALIKE_DISTANCE, DEFAULT_MARGIN)
    with Gallery(gallery_path, model_id=None, create=False) as g:
        assert g.lookalike_distance == FUSED_LOOKALIKE_DISTANCE
    with Gallery(tmp_path / "d.sqlite", model_id="dlib_resnet_v1-55533b28a958") as g:
        assert (g.lookalike_distance, g.margin) == (LOOKALIKE_DISTANCE, DEFAULT_MARGIN)
    assert defaults_for(None) == defaults_for("lfw") != defaults_for(fused_id)


#: Two LFW people among the fused vectors' closest pairs (benchmarks/lookalike.py
#: --embedder fused, A-L): three photos each, centroids 0.49 apart in fused distances
#: (0.36 in dlib's), measured through lfw_fusion.py's features cache.
FUSED_CLOSE = ("Bernard_Law", "Enrique_Bolanos")


def test_real_fused_look_alikes_are_warned(tmp_path, lfw_dir, mediapipe_detector, fused_embedder):
    """Three photos each of two real look-alikes enrolled in a fused gallery through the
    real pipeline: the enrollment summary warns with the fused default; dlib's 0.40 (what
    every gallery had before) would warn nobody in fused distances."""
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused_embedder)
    with Gallery(tmp_path / "g.sqlite", model_id=fused_embedder.model_id) as g:
        warned = []
        for who in FUSED_CLOSE:
            photos = sorted((lfw_dir / who).glob("*.jpg"))[:3]
            warned += g.enroll(who.replace("_", " "), photos, recognizer=rec).look_alikes
        assert [w.split(":")[0] for w in warned] == ["Enrique Bolanos looks like Bernard Law"]
        (pair, _) = g.look_alikes()
        assert LOOKALIKE_DISTANCE < pair.distance < g.lookalike_distance
        g.lookalike_distance = LOOKALIKE_DISTANCE
        assert g.look_alikes() == []
