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
    assert hair.name == "Ann" and not hair.accepted and hair.label == "unknown"
    assert sure.label == "Ann" and sure.accepted
    gallery.margin = 0  # the rule off: named by a hair
    assert gallery.search(toward_ann).best()[0].label == "Ann"


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
