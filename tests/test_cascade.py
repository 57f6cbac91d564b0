"""The fused gallery's cascade (workbench/cascade.py) on real LFW faces: its decision is
the full fused decision for faces far from dlib's threshold and inside the band, and
MobileFaceNet runs only where it must."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError, ModelAssetError
from workbench.images import load_image

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (LiteRT) is not installed")

ENROLLED = {
    "Colin Powell": [f"Colin_Powell/Colin_Powell_000{i}.jpg" for i in (1, 2, 3)],
    "Serena Williams": [f"Serena_Williams/Serena_Williams_000{i}.jpg" for i in (1, 2)],
    "Tony Blair": [f"Tony_Blair/Tony_Blair_000{i}.jpg" for i in (1, 2)],
}
#: Known people's other photos and strangers (not enrolled).
PROBES = [
    "Colin_Powell/Colin_Powell_0004.jpg",
    "Colin_Powell/Colin_Powell_0005.jpg",
    "Serena_Williams/Serena_Williams_0003.jpg",
    "Tony_Blair/Tony_Blair_0003.jpg",
    "George_W_Bush/George_W_Bush_0001.jpg",
    "Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg",
    "Jennifer_Capriati/Jennifer_Capriati_0001.jpg",
    "Hugo_Chavez/Hugo_Chavez_0001.jpg",
]


class CountingMfn:
    """MobileFaceNet that counts the faces it embeds."""

    def __init__(self, inner):
        self.inner = inner
        self.faces = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed(self, chips):
        self.faces += len(chips)
        return self.inner.embed(chips)


@pytest.fixture(scope="module")
def fused():
    from workbench.assets import asset_path
    from workbench.embed.fused import FusedEmbedder
    from workbench.embed.mobilefacenet import MobileFaceNet

    try:
        asset_path("mobilefacenet")
        asset_path("dlib_resnet_v1", download=False)
    except ModelAssetError as exc:
        pytest.skip(f"a model is not available: {exc}")
    with FusedEmbedder(mobilefacenet=CountingMfn(MobileFaceNet(flip=True))) as embedder:
        yield embedder


@pytest.fixture(scope="module")
def gallery(fused, mediapipe_detector, lfw_dir, tmp_path_factory):
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

    path = tmp_path_factory.mktemp("cascade") / "fused.sqlite"
    enroller = Recognizer(mediapipe_detector, fused)
    with Gallery(path, model_id=fused.model_id) as g:
        for name, photos in ENROLLED.items():
            g.enroll(name, [lfw_dir / p for p in photos], recognizer=enroller)
        yield g


@pytest.fixture(scope="module")
def probes(mediapipe_detector, lfw_dir):
    out = []
    for p in PROBES:
        image = load_image(lfw_dir / p)
        out.append((image, mediapipe_detector.detect(image).largest()))
    return out


def _full_and_cascade(fused, gallery, detector, image, face, band):
    from workbench.recognize import Recognizer

    full = Recognizer(detector, fused, gallery, cascade_band=None)
    cascade = Recognizer(detector, fused, gallery, cascade_band=band)
    v_full, m_full = full.embed_identify(image, face)
    before = fused.mobilefacenet.faces
    v_cas, m_cas = cascade.embed_identify(image, face)
    return v_full, m_full[0], v_cas, m_cas[0], fused.mobilefacenet.faces - before, cascade


def test_dlib_part_of_the_gallery_is_dlibs_own_distance(fused, gallery, probes, mediapipe_detector):
    """Stage 1's dlib distances to the centroids equal dlib's vectors' own distances to
    the mean of the person's dlib vectors (the centroid's dlib part, exactly)."""
    from workbench.cascade import dlib_nearest
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused)
    image, face = probes[0]
    probe = fused.embed_dlib(rec.chips(image, face))
    rows, dist = dlib_nearest(gallery, probe, fused.weight)
    s = gallery.snapshot()
    name = s.people[int(rows[0, 0])]
    assert name == "Colin Powell"
    w = np.sqrt(fused.weight)
    stored = gallery.snapshot().vectors[s.owners == rows[0, 0], :128] / w
    expected = np.linalg.norm(probe[0] - stored.mean(0))
    assert dist[0, 0] == pytest.approx(expected, rel=1e-4)
    assert dist[0, 1] > dist[0, 0]


def test_far_from_the_threshold_dlib_decides_and_mobilefacenet_is_not_called(
    fused, gallery, probes, mediapipe_detector
):
    """A known face well inside dlib's threshold: accepted as the full fused search
    accepts it, with no MobileFaceNet call; the stored vector parts are dlib's."""
    from workbench.cascade import CASCADE_BAND, dlib_threshold

    t = dlib_threshold(gallery)
    seen_far = 0
    for image, face in probes:
        v_full, m_full, v_cas, m_cas, calls, rec = _full_and_cascade(
            fused, gallery, mediapipe_detector, image, face, CASCADE_BAND
        )
        assert (m_cas.accepted, m_cas.label) == (m_full.accepted, m_full.label)
        if rec.cascade_counts["second"] == 0 and m_cas.accepted:
            seen_far += 1
            assert calls == 0  # decided by dlib alone
            assert not v_cas[:, 128:].any()
            # Its dlib part is stage 1's one plain chip (no mirror was embedded).
            plain = fused.fuse(fused.embed_dlib(rec.chips(image, face)), np.zeros((1, 192)))
            np.testing.assert_allclose(v_cas, plain, atol=1e-5)
            assert m_cas.distance < gallery.threshold
        if not m_cas.accepted and rec.cascade_counts["second"] == 0:
            # Turned away by dlib: kept as an unknown, so completed (full fused vector).
            assert gallery.unknowns_policy.keep and calls == 1
            np.testing.assert_allclose(v_cas, v_full, atol=1e-5)
    assert seen_far >= 3, f"too few faces far inside dlib's threshold {t:.3f}"


def test_inside_the_band_the_full_fused_vector_decides(fused, gallery, probes, mediapipe_detector):
    """With a band wide enough to hold every face, each face gets MobileFaceNet and the
    cascade's match is the full fused search's, vector and distance alike."""
    for image, face in probes:
        v_full, m_full, v_cas, m_cas, calls, rec = _full_and_cascade(
            fused, gallery, mediapipe_detector, image, face, 10.0
        )
        assert calls == 1 and rec.cascade_counts == {"faces": 1, "second": 1, "complete": 1}
        np.testing.assert_allclose(v_cas, v_full, atol=1e-5)
        assert m_cas == m_full or (
            m_cas.label == m_full.label
            and m_cas.distance == pytest.approx(m_full.distance, abs=1e-5)
        )


def test_stage_two_vector_is_the_enrolled_vector(fused, gallery, probes, mediapipe_detector):
    """Stage 2 adds the mirror chip's dlib vector and MobileFaceNet to stage 1's plain dlib
    chip: its vector is the one enrollment stores (``embed_faces``), dlib's part the mean
    of the chip's and its mirror's (not the plain chip's, which stage 1 searched with)."""
    from workbench.align import template_for
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused, gallery, cascade_band=10.0)
    for image, face in probes[:3]:
        v_cas, _ = rec.embed_identify(image, face)
        assert rec.cascade_counts["second"] >= 1
        enrolled = fused.embed_faces(
            image, face.keypoints, template=template_for(mediapipe_detector)
        )
        np.testing.assert_allclose(v_cas, enrolled, atol=1e-5)
        chips = rec.chips(image, face)
        plain = fused.embed_dlib(chips)
        mfn = fused.embed_mobilefacenet(image, face.keypoints)
        assert np.linalg.norm(v_cas[0, :128] - fused.fuse(plain, mfn)[0, :128]) > 0.01
        mirror = fused.dlib.embed(np.ascontiguousarray(chips[:, :, ::-1]))
        expected = fused.fuse((plain + mirror) / 2, mfn)
        np.testing.assert_allclose(v_cas, expected, atol=1e-5)


def test_a_face_near_dlibs_threshold_asks_mobilefacenet(fused, gallery, probes, mediapipe_detector):
    """The band is around dlib's threshold: a band that just reaches the nearest face's
    dlib distance sends it to MobileFaceNet; one that stops short leaves it to dlib."""
    from workbench.cascade import dlib_nearest, dlib_threshold
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused)
    image, face = probes[0]
    _, dist = dlib_nearest(gallery, fused.embed_dlib(rec.chips(image, face)), fused.weight)
    gap = abs(float(dist[0, 0]) - dlib_threshold(gallery))
    *_, calls_in, rec_in = _full_and_cascade(
        fused, gallery, mediapipe_detector, image, face, gap + 1e-3
    )
    *_, calls_out, rec_out = _full_and_cascade(
        fused, gallery, mediapipe_detector, image, face, gap - 1e-3
    )
    assert (rec_in.cascade_counts["second"], calls_in) == (1, 1)
    assert (rec_out.cascade_counts["second"], calls_out) == (0, 0)


def test_recognize_and_the_threshold_ratio(fused, gallery, lfw_dir, mediapipe_detector):
    from workbench.cascade import dlib_threshold
    from workbench.gallery.calibrate import prior_threshold
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused, gallery)
    assert rec.cascade_active
    result = rec.recognize(load_image(lfw_dir / PROBES[0]))
    assert [m.label for m in result.matches] == ["Colin Powell"]
    assert result.embeddings.shape == (1, 320)
    people, far = 3, gallery.threshold_info.target_far
    ratio = prior_threshold(people, far, model_id="dlib") / prior_threshold(
        people, far, model_id=gallery.model_id
    )
    assert dlib_threshold(gallery) == pytest.approx(gallery.threshold * ratio)


def test_no_cascade_for_dlib_and_bad_band(mediapipe_detector):
    from workbench.embed import default_embedder
    from workbench.recognize import Recognizer

    assert not Recognizer(mediapipe_detector, default_embedder(), object()).cascade_active
    with pytest.raises(InvalidArgumentError, match="cascade_band"):
        Recognizer(mediapipe_detector, default_embedder(), cascade_band=-1)


def test_the_live_loop_runs_the_cascade(fused, gallery, mediapipe_detector, lfw_dir):
    """The live loop's embed step goes through the cascade for a fused gallery: the
    frames' faces are counted by it and named as the full fused search names them."""
    from workbench.live import IterableSource, LiveRecognizer
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused, gallery)
    full = Recognizer(mediapipe_detector, fused, gallery, cascade_band=None)
    frames = [load_image(lfw_dir / p) for p in PROBES[:4]]
    expected = [full.recognize(f).matches for f in frames]
    results = []
    source = IterableSource(iter(frames), lossless=True)
    with LiveRecognizer(source, rec, tracking=None, on_result=results.append) as live:
        assert live.wait(timeout=120)
    assert rec.cascade_counts["faces"] == sum(len(r) for r in results) > 0
    for r, want in zip(results, expected, strict=True):
        assert list(r.names) == [m.label for m in want]
