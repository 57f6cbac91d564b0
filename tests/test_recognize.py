"""Recognizer: enrollment's test-time augmentation on real LFW faces."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.align import template_for
from workbench.augment import NONE, Augment, augmented_chips
from workbench.images import load_image
from workbench.recognize import Recognizer


@pytest.fixture(scope="module")
def embedder():
    from workbench.embed import default_embedder

    return default_embedder()


def test_enrollment_averages_the_augmented_chips(lfw_dir, mediapipe_detector, embedder, tmp_path):
    from workbench.gallery import Gallery

    photos = [lfw_dir / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (1, 2)]
    augment = Augment(jitter=2, flip=True)
    rec = Recognizer(mediapipe_detector, embedder, enroll_augment=augment)
    with Gallery(tmp_path / "g.sqlite", model_id=embedder.model_id) as gallery:
        summary = gallery.enroll("Colin Powell", photos, recognizer=rec)
        assert len(summary.enrolled) == 2
        stored, _ = gallery.embeddings()
    template = template_for(mediapipe_detector)
    for vec, path in zip(stored, photos, strict=True):
        image = load_image(path)
        face = mediapipe_detector.detect(image).largest()
        chips = rec.enrollment_chips(image, face)
        assert chips.shape == (1, augment.chips_per_face, 150, 150, 3)
        np.testing.assert_array_equal(
            chips[0],
            augmented_chips(image, face.keypoints[0], template=template, jitter=2, flip=True),
        )
        np.testing.assert_allclose(vec, embedder.embed(chips[0]).mean(0), atol=1e-5)
        plain = embedder.embed(rec.chips(image, face))[0]
        # The average moves the embedding a little, not to another person.
        assert 0 < np.linalg.norm(vec - plain) < 0.2


def test_no_augmentation_is_the_plain_chip(lfw_dir, mediapipe_detector, embedder):
    image = load_image(lfw_dir / "Colin_Powell" / "Colin_Powell_0003.jpg")
    rec = Recognizer(mediapipe_detector, embedder, enroll_augment=NONE)
    faces = mediapipe_detector.detect(image)
    np.testing.assert_array_equal(rec.enrollment_chips(image, faces)[:, 0], rec.chips(image, faces))


def _shrunk(image: np.ndarray, faces, height_px: float):
    """The photo and its faces downscaled so the first face's box is ``height_px`` tall,
    as a far face in a wide frame is (benchmarks/small_face_naming.py does the same)."""
    import cv2

    from workbench.faces import FaceDetections

    s = height_px / float(faces.xyxy[0, 3] - faces.xyxy[0, 1])
    size = (round(image.shape[1] * s), round(image.shape[0] * s))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, FaceDetections(faces.xyxy * s, faces.scores, faces.keypoints * s)


def test_a_face_too_small_to_name_stays_unknown(lfw_dir, mediapipe_detector, embedder, tmp_path):
    from workbench.gallery import Gallery
    from workbench.recognize import MIN_FACE_PX

    photos = [lfw_dir / "Tony_Blair" / f"Tony_Blair_000{i}.jpg" for i in (1, 2, 3)]
    probe = load_image(lfw_dir / "Tony_Blair" / "Tony_Blair_0004.jpg")
    with Gallery(tmp_path / "g.sqlite", model_id=embedder.model_id) as gallery:
        rec = Recognizer(mediapipe_detector, embedder, gallery)
        assert len(gallery.enroll("Tony_Blair", photos, recognizer=rec).enrolled) == 3
        # Full size: named, and the JSON says it was not too small.
        [face] = rec.recognize(probe).to_dicts()
        assert face["name"] == "Tony_Blair" and face["too_small"] is False

        faces = mediapipe_detector.detect(probe).largest()
        small, small_faces = _shrunk(probe, faces, 30.0)
        assert 30.0 < MIN_FACE_PX
        embedding = rec.embed(small, small_faces)
        # Without the gate the 30-px face is accepted (here rightly; in the crowd video
        # strangers' faces of this size were, 38% of them: docs/benchmarks/small_face_naming.md).
        [ungated] = Recognizer(mediapipe_detector, embedder, gallery, min_face_px=0).identify(
            embedding, detections=small_faces
        )
        assert ungated.accepted and not ungated.too_small
        [match] = rec.identify(embedding, detections=small_faces)
        assert match.too_small and not match.accepted and match.label == "unknown"
        assert match.distance == pytest.approx(ungated.distance)
        # Just above the gate the face is named again.
        big, big_faces = _shrunk(probe, faces, MIN_FACE_PX + 8)
        [named] = rec.identify(rec.embed(big, big_faces), detections=big_faces)
        assert named.label == "Tony_Blair" and not named.too_small

        # The whole path: recognize() on a wide frame holding the far face.
        frame = np.full((480, 640, 3), 128, np.uint8)
        h, w = small.shape[:2]
        frame[200 : 200 + h, 300 : 300 + w] = small
        [far] = rec.recognize(frame).to_dicts()
        assert far["name"] == "unknown" and far["too_small"] is True and not far["accepted"]

        # Nor is it kept as an unknown face to cluster (the same gate); a stranger's face of
        # full size is.
        from workbench.recognize import UnknownsKeeper

        stranger = load_image(sorted((lfw_dir / "Serena_Williams").iterdir())[0])
        with UnknownsKeeper(gallery, detector=mediapipe_detector, source="test") as keeper:
            keeper.offer_recognition(rec.recognize(frame))
            keeper.offer_recognition(rec.recognize(stranger))
        [kept] = gallery.unknowns()
        assert kept.box[3] - kept.box[1] >= MIN_FACE_PX

        # The live loop's results say the same (too_small per face): not kept either.
        from types import SimpleNamespace

        from workbench.pipeline import too_small

        dets = rec.detect(frame)
        live = SimpleNamespace(
            detections=dets,
            embeddings=rec.embed(frame, dets),
            embedded=np.ones(len(dets), bool),
            names=("unknown",) * len(dets),
            track_ids=np.arange(len(dets)),
            image=frame,
            frame_id=0,
            is_too_small=lambda i: bool(too_small(dets.xyxy, rec.min_face_px)[i]),
        )
        with UnknownsKeeper(gallery, detector=mediapipe_detector, source="live") as keeper:
            keeper(live)
        assert gallery.count_unknowns() == 1


def test_enrollment_says_which_views_of_a_real_face_it_has(
    lfw_dir, mediapipe_detector, embedder, tmp_path
):
    """George W Bush frontal (0006) and turned towards the image's left (0004): the
    summary counts one of each and asks for a view turned right; the mirror image of 0004
    is that view."""
    from workbench.gallery import Gallery

    frontal, turned = (lfw_dir / "George_W_Bush" / f"George_W_Bush_000{i}.jpg" for i in (6, 4))
    rec = Recognizer(mediapipe_detector, embedder)
    with Gallery(tmp_path / "g.sqlite", model_id=embedder.model_id) as gallery:
        summary = gallery.enroll("George W Bush", [frontal, turned], recognizer=rec)
        assert summary.views() == {
            "George W Bush": {"frontal": 1, "turned left": 1, "turned right": 0}
        }
        assert "turned right" in summary.view_hints()[0]
        mirrored = np.ascontiguousarray(load_image(turned)[:, ::-1])
        summary = gallery.enroll("George W Bush", [mirrored], recognizer=rec)
        assert summary.views()["George W Bush"]["turned right"] == 1
        assert summary.yaws[0] > 25


def test_only_a_detector_that_narrows_its_search_is_given_expected_faces():
    from workbench.detect import create_detector
    from workbench.recognize import Recognizer

    # Creating MediaPipe detectors loads no model: the checks below run none.
    assert Recognizer(create_detector("mediapipe"), None).searches_near  # auto
    assert Recognizer(create_detector("mediapipe", range="tiled"), None).searches_near
    assert not Recognizer(create_detector("mediapipe", range="short"), None).searches_near

    class Plain:
        def __init__(self):
            self.calls = []

        def detect(self, image):
            self.calls.append(image)
            return "faces"

    plain = Plain()
    rec = Recognizer(plain, None)
    assert not rec.searches_near
    assert rec.detect("img", near=np.zeros((1, 4), np.float32)) == "faces"
    assert plain.calls == ["img"]
