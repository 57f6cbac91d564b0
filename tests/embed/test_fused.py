"""The fused embedder (dlib + MobileFaceNet) on real LFW faces, and its galleries."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.images import load_image

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (LiteRT) is not installed")

POWELL = [f"Colin_Powell/Colin_Powell_000{i}.jpg" for i in (1, 2, 3)]
SERENA = [f"Serena_Williams/Serena_Williams_000{i}.jpg" for i in (1, 2)]


@pytest.fixture(scope="module")
def fused(fused_embedder):
    return fused_embedder


@pytest.fixture(scope="module")
def recognizer(fused, mediapipe_detector):
    from workbench.recognize import Recognizer

    return Recognizer(mediapipe_detector, fused)


def _faces(lfw_dir, detector, names):
    out = []
    for n in names:
        image = load_image(lfw_dir / n)
        out.append((image, detector.detect(image).largest()))
    return out


def test_vectors_and_their_distance(fused, recognizer, lfw_dir, mediapipe_detector):
    """320-D; the fused squared distance is the weighted sum of the two models' squared
    distances (dlib's of the mean of the chip's and its mirror's vectors); the same
    person is nearer than a stranger."""
    from workbench.embed.fused import DLIB_SPREAD, MFN_SPREAD
    from workbench.embed.mobilefacenet import arcface_chips

    faces = _faces(lfw_dir, mediapipe_detector, POWELL[:2] + SERENA[:1])
    v = np.concatenate([recognizer.embed(img, f) for img, f in faces])
    assert v.shape == (3, 320) and v.dtype == np.float32
    chips = np.concatenate([recognizer.chips(img, f) for img, f in faces])
    plain = fused.dlib.embed(chips)
    dlib = (plain + fused.dlib.embed(np.ascontiguousarray(chips[:, :, ::-1]))) / 2
    # The mirror moves dlib's vector: the flip is there, not a no-op.
    assert np.linalg.norm(dlib - plain, axis=1).min() > 0.02
    mfn = fused.mobilefacenet.embed(
        np.concatenate([arcface_chips(img, f.keypoints) for img, f in faces])
    )
    w, k = fused.weight, DLIB_SPREAD / MFN_SPREAD

    def sq(x, i, j):
        return float(np.sum((x[i] - x[j]) ** 2))

    for i, j in ((0, 1), (0, 2)):
        expected = w * sq(dlib, i, j) + (1 - w) * k**2 * sq(mfn, i, j)
        assert sq(v, i, j) == pytest.approx(expected, rel=1e-4)
    assert np.linalg.norm(v[0] - v[1]) < fused.threshold < np.linalg.norm(v[0] - v[2])


def test_bare_chips_are_refused(fused):
    with pytest.raises(InvalidArgumentError, match="needs the photo"):
        fused.embed(np.zeros((1, 150, 150, 3), np.uint8))


def test_recognize_goes_through_the_photo(recognizer, lfw_dir, tmp_path):
    from workbench.gallery import Gallery

    with Gallery(tmp_path / "fused.sqlite", model_id=recognizer.embedder.model_id) as g:
        assert g.dim == 320
        g.enroll("Colin Powell", [lfw_dir / p for p in POWELL[:2]], recognizer=recognizer)
        g.enroll("Serena Williams", [lfw_dir / p for p in SERENA], recognizer=recognizer)
        recognizer.gallery = g
        try:
            result = recognizer.recognize(load_image(lfw_dir / POWELL[2]))
        finally:
            recognizer.gallery = None
        assert [m.label for m in result.matches] == ["Colin Powell"]
        assert result.embeddings.shape == (1, 320) and result.chips.shape == (1, 150, 150, 3)


def test_fused_gallery_round_trip(recognizer, lfw_dir, tmp_path):
    """Enrolled, closed, opened again by the model id it holds (open_gallery picks the
    fused embedder for it), searched."""
    from workbench.gallery import Gallery
    from workbench.gallery.calibrate import prior_threshold
    from workbench.recognize import open_gallery

    path = tmp_path / "g.sqlite"
    embedder, gallery = open_gallery(path, create=True, embedder="fused")
    with gallery:
        assert gallery.model_id == embedder.model_id == recognizer.embedder.model_id
        gallery.enroll("Colin Powell", [lfw_dir / p for p in POWELL[:2]], recognizer=recognizer)
        # The fused model's own prior (its distances have another scale than dlib's).
        assert gallery.threshold == pytest.approx(
            prior_threshold(1, model_id=gallery.model_id), abs=1e-6
        )
    embedder, gallery = open_gallery(path, create=False)
    with gallery:
        assert embedder.model_id == gallery.model_id and gallery.dim == 320
        probe = [
            recognizer.embed(img, f) for img, f in _faces(lfw_dir, recognizer.detector, POWELL[2:])
        ]
        assert gallery.search(probe[0], k=1).best()[0].label == "Colin Powell"
    with pytest.raises(GalleryError, match="model"):
        Gallery(path, model_id="dlib_resnet_v1-55533b28a958", create=False)


def test_dlib_gallery_is_never_mixed_with_fused_vectors(recognizer, lfw_dir, tmp_path):
    from workbench.embed import default_embedder
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer, open_gallery

    dlib = default_embedder()
    path = tmp_path / "dlib.sqlite"
    with Gallery(path, model_id=dlib.model_id) as g:
        g.enroll(
            "Colin Powell", [lfw_dir / POWELL[0]], recognizer=Recognizer(recognizer.detector, dlib)
        )
        with pytest.raises(GalleryError, match="model"):
            g.enroll("Serena Williams", [lfw_dir / SERENA[0]], recognizer=recognizer)
        assert g.people == ["Colin Powell"]
    with pytest.raises(GalleryError, match="model"):
        Gallery(path, model_id=recognizer.embedder.model_id, create=False)
    # Opened without naming a model, it gets dlib's embedder back: it keeps working.
    embedder, gallery = open_gallery(path, create=False)
    with gallery:
        assert embedder is dlib
    with pytest.raises(GalleryError, match="--embedder"):
        open_gallery(path, create=False, embedder="fused")


def test_unknown_model_id_says_so():
    from workbench.embed import embedder_for

    with pytest.raises(GalleryError, match="no embedder here makes"):
        embedder_for("somebody-else-1234")


def test_cli_choices_are_the_embedders():
    from workbench.cli.gallery import EMBEDDER_CHOICES
    from workbench.embed import EMBEDDERS

    assert EMBEDDER_CHOICES == EMBEDDERS


def test_explorer_with_the_fused_embedder(recognizer, lfw_dir):
    """The explorer's photo paths (from_images, compare) give the fused embedder photos."""
    from workbench.ui.explore import EmbeddingExplorer

    people = {
        "Colin Powell": [lfw_dir / p for p in POWELL],
        "Serena Williams": [lfw_dir / p for p in SERENA],
    }
    ex = EmbeddingExplorer.from_images(
        people,
        detector=recognizer.detector,
        embedder=recognizer.embedder,
        threshold=recognizer.embedder.threshold,
    )
    assert len(ex.names) == 5
    a, b, _ = people["Colin Powell"]
    assert ex.compare(a, b)["same"] is True
    assert ex.compare(a, people["Serena Williams"][0])["same"] is False


def test_the_fused_prior_is_its_own():
    from workbench.gallery.calibrate import PRIOR_THRESHOLDS_FUSED, prior_threshold

    fused_id = "fused-dlib_resnet_v1-55533b28a958+mobilefacenet-d8ba40c0127f-flip-w0.625"
    assert prior_threshold(10, 0.02, model_id=fused_id) == pytest.approx(
        PRIOR_THRESHOLDS_FUSED[4][1]
    )
    assert prior_threshold(10, 0.02) < prior_threshold(10, 0.02, model_id=fused_id)


def test_cli_enroll_fused_then_recognize_with_the_galleries_model(lfw_dir, tmp_path, capsys):
    """`workbench enroll --embedder fused` makes a fused gallery; `recognize` then uses its
    model without being told; another --embedder for it is one clear line, exit 2."""
    import json
    import os

    import workbench.cli as cli
    from workbench.gallery import Gallery

    ref = tmp_path / "ref"
    for name, photos in (("Colin_Powell", POWELL[:2]), ("Serena_Williams", SERENA)):
        (ref / name).mkdir(parents=True)
        for p in photos:
            os.symlink(lfw_dir / p, ref / name / p.split("/")[1])
    gallery = tmp_path / "g.sqlite"
    args = ["enroll", str(ref), "--gallery", str(gallery), "--embedder", "fused", "--json"]
    assert cli.main([*args, "--quiet"]) == 0
    capsys.readouterr()
    with Gallery(gallery, model_id=None, create=False) as g:
        assert g.model_id.startswith("fused-") and g.dim == 320
    probe = lfw_dir / POWELL[2]
    assert cli.main(["recognize", str(probe), "--gallery", str(gallery), "--json"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [f["name"] for f in line["faces"]] == ["Colin_Powell"]
    # A stranger's photo: dlib turns him away alone, and the unknown the CLI keeps is his
    # full fused vector (the keeper completes it), never half of one.
    stranger = lfw_dir / "George_W_Bush/George_W_Bush_0001.jpg"
    assert cli.main(["recognize", str(stranger), "--gallery", str(gallery), "--json"]) == 0
    capsys.readouterr()
    with Gallery(gallery, model_id=None, create=False) as g:
        _, kept = g.unknown_embeddings()
    assert len(kept) >= 1 and all(v[128:].any() for v in kept)
    assert cli.main(["enroll", str(ref), "--gallery", str(gallery), "--embedder", "dlib"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--embedder dlib" in err[0]


def test_the_other_faces_of_an_enrollment_photo_are_kept_whole(recognizer, lfw_dir, tmp_path):
    """Enrolling from a two-face photo keeps the other face as an unknown: its stored
    vector is the full fused one (dlib flipped, MobileFaceNet), as for an enrolled face."""
    from workbench.align import template_for
    from workbench.gallery import Gallery

    photo = np.hstack(
        [load_image(lfw_dir / POWELL[0]), load_image(lfw_dir / "Hugo_Chavez/Hugo_Chavez_0001.jpg")]
    )
    with Gallery(tmp_path / "g.sqlite", model_id=recognizer.embedder.model_id) as g:
        summary = g.enroll("Somebody", [photo], recognizer=recognizer)
        assert summary.unknowns_kept == 1
        [face], kept = g.unknown_embeddings()
        faces = recognizer.detector.detect(photo)
        row = int(np.argmin(np.abs(np.asarray(faces.xyxy) - np.asarray(face.box)).sum(1)))
        full = recognizer.embedder.embed_faces(
            photo, faces.keypoints[row : row + 1], template=template_for(recognizer.detector)
        )
        np.testing.assert_allclose(kept, full, atol=1e-5)
        assert kept[0, 128:].any()
