"""``scan_folder`` (``workbench cluster DIR``) keeps no face the size gate refuses, on real
LFW faces: a far face in a wide frame is found, counted, and left out of the unknowns."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.images import load_image


@pytest.fixture(scope="module")
def recognizer(mediapipe_detector):
    from workbench.embed import default_embedder
    from workbench.recognize import Recognizer

    return Recognizer(mediapipe_detector, default_embedder())


def far_frame(image: np.ndarray, box: np.ndarray, height_px: float) -> np.ndarray:
    """A 640x480 grey frame holding ``image`` shrunk so its face is ``height_px`` tall."""
    import cv2

    s = height_px / float(box[3] - box[1])
    small = cv2.resize(
        image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_AREA
    )
    frame = np.full((480, 640, 3), 128, np.uint8)
    h, w = small.shape[:2]
    frame[200 : 200 + h, 300 : 300 + w] = small
    return frame


def test_scan_leaves_out_faces_too_small_to_name(lfw_dir, recognizer, tmp_path):
    from PIL import Image

    from workbench.gallery import Gallery
    from workbench.recognize import MIN_FACE_PX

    photo = lfw_dir / "Tony_Blair" / "Tony_Blair_0004.jpg"
    image = load_image(photo)
    box = recognizer.detect(image).largest().xyxy[0]
    archive = tmp_path / "archive"
    (archive / "far").mkdir(parents=True)
    Image.fromarray(image).save(archive / "near.jpg")
    Image.fromarray(far_frame(image, box, 30.0)).save(archive / "far" / "frame.png")
    # The far face is found (so the gate, not the detector, leaves it out) and is small.
    far = recognizer.detect(load_image(archive / "far" / "frame.png"))
    assert len(far) == 1 and recognizer.too_small(far).tolist() == [True]
    assert 30.0 < MIN_FACE_PX

    with Gallery(tmp_path / "g.sqlite", model_id=recognizer.embedder.model_id) as gallery:
        summary = gallery.scan_folder(archive, recognizer=recognizer, progress=False)
        assert (summary.photos, summary.faces, summary.too_small, summary.kept) == (2, 2, 1, 1)
        assert "1 too small to keep" in str(summary)
        [kept] = gallery.unknowns()
        assert kept.source.endswith("near.jpg") and kept.box[3] - kept.box[1] >= MIN_FACE_PX

    # Without the gate (min_face_px=0, as Recognizer allows) the same far face is kept:
    # the gate is what leaves it out.
    from workbench.recognize import Recognizer

    ungated = Recognizer(recognizer.detector, recognizer.embedder, min_face_px=0)
    with Gallery(tmp_path / "g2.sqlite", model_id=recognizer.embedder.model_id) as gallery:
        summary = gallery.scan_folder(archive, recognizer=ungated, progress=False)
        assert (summary.too_small, summary.kept) == (0, 2)
