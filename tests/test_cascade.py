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


def _full_and_cascade(fused, gallery, detector, image, face, below, above=None):
    """Both models on every face and the cascade with the band ``below`` / ``above``
    (``above`` default: ``below``)."""
    from workbench.recognize import Recognizer

    above = below if above is None else above
    full = Recognizer(detector, fused, gallery, cascade=False)
    cascade = Recognizer(detector, fused, gallery, band_below=below, band_above=above)
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
    accepts it, with no MobileFaceNet call, its vector dlib's plain one; a stranger far
    beyond it: turned away the same way, with no call either."""
    from workbench.cascade import BAND_ABOVE, BAND_BELOW, dlib_threshold

    t = dlib_threshold(gallery)
    seen_far = seen_away = 0
    for image, face in probes:
        v_full, m_full, v_cas, m_cas, calls, rec = _full_and_cascade(
            fused, gallery, mediapipe_detector, image, face, BAND_BELOW, BAND_ABOVE
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
            # Turned away by dlib: not completed here (the unknowns keeper completes the
            # faces it stores), even though the gallery keeps unknowns.
            assert gallery.unknowns_policy.keep and calls == 0
            assert not v_cas[:, 128:].any()
            seen_away += 1
    assert seen_far >= 3, f"too few faces far inside dlib's threshold {t:.3f}"
    assert seen_away >= 2, "too few strangers turned away by dlib alone"


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

    rec = Recognizer(mediapipe_detector, fused, gallery, band_below=10.0, band_above=10.0)
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
    """The band is around dlib's threshold, each side its own width: a known face dlib
    accepts goes to MobileFaceNet when the lower width just reaches its dlib distance and
    not when it stops short, however wide the upper one; a stranger dlib turns away, the
    same with the upper width, however wide the lower one."""
    from workbench.cascade import dlib_nearest, dlib_threshold
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused)
    t = dlib_threshold(gallery)
    known, stranger = probes[0], probes[4]  # Colin Powell; George W Bush, not enrolled
    for (image, face), side in ((known, "below"), (stranger, "above")):
        _, dist = dlib_nearest(gallery, fused.embed_dlib(rec.chips(image, face)), fused.weight)
        gap = float(dist[0, 0]) - t
        assert (gap < 0) == (side == "below") and abs(gap) > 0.02
        reach = {True: abs(gap) + 1e-3, False: abs(gap) - 1e-3}
        for inside in (True, False):
            # The other side: none at all when the face is inside, as wide as can be
            # when it is not (it does not matter either way).
            other = 0.0 if inside else 10.0
            band = (reach[inside], other) if side == "below" else (other, reach[inside])
            *_, calls, r = _full_and_cascade(fused, gallery, mediapipe_detector, image, face, *band)
            assert (r.cascade_counts["second"], calls) == ((1, 1) if inside else (0, 0)), (
                side,
                inside,
            )


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


@pytest.mark.parametrize(
    "band",
    [
        {"band_below": -0.1},
        {"band_above": float("nan")},
        {"band_above": "wide"},
        {"band_below": True},
        {"band_above": float("inf")},
        {"band_below": None},
    ],
)
def test_no_cascade_for_dlib_and_bad_band(mediapipe_detector, fused, gallery, band):
    """A band width that is not a number >= 0: the package's own error, from the
    recognizer and from the cascade's functions alike."""
    from workbench.cascade import first_stage, run_cascade
    from workbench.embed import default_embedder
    from workbench.recognize import Recognizer

    assert not Recognizer(mediapipe_detector, default_embedder(), object()).cascade_active
    assert not Recognizer(mediapipe_detector, fused, gallery, cascade=False).cascade_active
    with pytest.raises(InvalidArgumentError, match="band (below|above)"):
        Recognizer(mediapipe_detector, default_embedder(), **band)
    kw = {k.removeprefix("band_"): v for k, v in band.items()}
    with pytest.raises(InvalidArgumentError, match="band (below|above)"):
        first_stage(gallery, np.zeros((1, 128), np.float32), fused.weight, **kw)
    with pytest.raises(InvalidArgumentError, match="band (below|above)"):
        run_cascade(gallery, fused, np.zeros((8, 8, 3), np.uint8), np.zeros((0, 5, 2)), [], **kw)


def test_the_live_loop_runs_the_cascade(fused, gallery, mediapipe_detector, lfw_dir):
    """The live loop's embed step goes through the cascade for a fused gallery: the
    frames' faces are counted by it and named as the full fused search names them."""
    from workbench.live import IterableSource, LiveRecognizer
    from workbench.recognize import Recognizer

    rec = Recognizer(mediapipe_detector, fused, gallery)
    full = Recognizer(mediapipe_detector, fused, gallery, cascade=False)
    frames = [load_image(lfw_dir / p) for p in PROBES[:4]]
    expected = [full.recognize(f).matches for f in frames]
    results = []
    source = IterableSource(iter(frames), lossless=True)
    with LiveRecognizer(source, rec, tracking=None, on_result=results.append) as live:
        assert live.wait(timeout=120)
    assert rec.cascade_counts["faces"] == sum(len(r) for r in results) > 0
    for r, want in zip(results, expected, strict=True):
        assert list(r.names) == [m.label for m in want]


#: One stranger (not enrolled), his photos played as the frames of one track.
STRANGER = [f"George_W_Bush/George_W_Bush_000{i}.jpg" for i in range(1, 9)]


@pytest.fixture
def fresh(gallery, fused, tmp_path):
    """A new gallery file holding the module gallery's enrolled faces (no unknowns)."""
    from workbench.gallery import Gallery
    from workbench.gallery.types import FaceBatch

    vectors, persons = gallery.embeddings()
    persons = np.asarray(persons, object)
    with Gallery(tmp_path / "fresh.sqlite", model_id=fused.model_id, dim=vectors.shape[1]) as g:
        g.add_many([FaceBatch(p, vectors[persons == p]) for p in dict.fromkeys(persons)])
        g.refresh_threshold()
        yield g


def _stranger_frames(detector, lfw_dir, rec):
    """``(image, face, chips, quality)`` of each of STRANGER's photos (its largest face)."""
    from workbench.gallery.unknowns import face_quality

    out = []
    for p in STRANGER:
        image = load_image(lfw_dir / p)
        face = detector.detect(image).largest()
        chips = rec.chips(image, face)
        q = face_quality(scores=face.scores, boxes=face.xyxy, chips=chips, n=1)[0]
        out.append((image, face, chips, float(q)))
    return out


def _recognized(rec, image, face, chips):
    from workbench.recognize import Recognition

    embeddings, matches = rec.embed_identify(image, face, chips=chips)
    return Recognition(face, matches, embeddings, chips)


@pytest.mark.parametrize("batch", [1, 32])
def test_a_strangers_track_gets_mobilefacenet_only_for_the_faces_stored(
    fused, fresh, mediapipe_detector, lfw_dir, tmp_path, batch
):
    """A stranger followed over 9 frames (one track): the keeper passes over the faces the
    gallery would drop at once (its track already has 3 as good), leaves out of a write
    the faces a later, better one of the same batch displaced, and runs MobileFaceNet only
    for the faces it writes; each stored vector is that face's full fused vector, and the
    gallery ends with the rows it would have had if every face had been stored whole.
    ``batch`` 1 writes each face at once (nothing displaced), 32 all in one write."""
    from workbench.align import template_for
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer, UnknownsKeeper

    rec = Recognizer(mediapipe_detector, fused, fresh)
    frames = _stranger_frames(mediapipe_detector, lfw_dir, rec)
    qualities = [q for *_, q in frames]
    assert len(set(qualities)) == len(frames)
    # Played in an order where later faces are both worse (passed over) and better; the
    # last frame repeats the third best, stored already: a tie, which the gallery breaks
    # for the earlier face, so it is passed over too.
    rank = np.argsort(qualities)[::-1]
    order = [rank[i] for i in (3, 4, 5, 6, 0, 7, 1, 2, 2)]
    per_track = fresh.unknowns_policy.per_track
    assert per_track == 3
    keeper = UnknownsKeeper(
        fresh, detector=mediapipe_detector, source="clip", embedder=fused, batch=batch
    )
    calls_in_keeper = 0
    incomplete = []
    for frame, i in enumerate(order):
        image, face, chips, _ = frames[i]
        result = _recognized(rec, image, face, chips)
        assert [m.accepted for m in result.matches] == [False]
        incomplete.append(not result.embeddings[:, 128:].any())
        before = fused.mobilefacenet.faces
        keeper.offer_recognition(result, image=image, frame=frame, track_ids=np.array([7]))
        calls_in_keeper += fused.mobilefacenet.faces - before
    before = fused.mobilefacenet.faces
    keeper.flush()
    calls_in_keeper += fused.mobilefacenet.faces - before
    counts = keeper.counts
    assert (counts.offered, counts.passed_over) == (6, 3)
    assert sum(incomplete) >= 6, "the cascade's stage 2 decided these faces itself"
    # Written: each face when batch is 1; in one write, only the 3 best (frames 4, 6, 7).
    written = [0, 1, 2, 4, 6, 7] if batch == 1 else [4, 6, 7]
    assert counts.displaced == 6 - len(written)
    # MobileFaceNet ran once for each face written whose vector was incomplete, never for
    # the faces passed over or displaced.
    assert calls_in_keeper == counts.completed == sum(incomplete[f] for f in written)
    stored, vectors = fresh.unknown_embeddings()
    template = template_for(mediapipe_detector)
    for u, v in zip(stored, vectors, strict=True):
        image, face, _, _ = frames[order[u.frame]]
        full = fused.embed_faces(image, face.keypoints, template=template)[0]
        np.testing.assert_allclose(v, full, atol=1e-5)
    # The same faces stored whole, one by one, with no pre-filter: the same rows remain.
    with Gallery(tmp_path / "whole.sqlite", model_id=fused.model_id, dim=320) as whole:
        for frame, i in enumerate(order):
            image, face, chips, _ = frames[i]
            whole.add_unknowns(
                fused.embed_faces(image, face.keypoints, template=template),
                chips=chips,
                source="clip",
                frames=[frame],
                tracks=["t7"],
                boxes=face.xyxy,
                scores=face.scores,
            )
        want = sorted((u.frame, u.quality) for u in whole.unknowns())
    assert sorted((u.frame, u.quality) for u in stored) == want
    assert [f for f, _ in want] == [4, 6, 7]


def test_a_face_without_a_track_is_always_completed(fused, fresh, mediapipe_detector, lfw_dir):
    """Photos (no track): every unknown face is stored, each completed."""
    from workbench.recognize import Recognizer, UnknownsKeeper

    rec = Recognizer(mediapipe_detector, fused, fresh)
    frames = _stranger_frames(mediapipe_detector, lfw_dir, rec)[:4]
    with UnknownsKeeper(fresh, detector=mediapipe_detector, source="photos", embedder=fused) as k:
        incomplete = 0
        for image, face, chips, _ in frames:
            result = _recognized(rec, image, face, chips)
            incomplete += int(not result.embeddings[:, 128:].any())
            k.offer_recognition(result, image=image)
    assert (k.counts.offered, k.counts.passed_over) == (4, 0)
    assert k.counts.completed == incomplete >= 2
    _, vectors = fresh.unknown_embeddings()
    assert len(vectors) == 4 and all(v[128:].any() for v in vectors)


def test_a_keeper_without_an_embedder_refuses_half_vectors(
    fused, fresh, mediapipe_detector, lfw_dir
):
    """An incomplete fused vector offered to a keeper that cannot complete it: a clear
    error of the package's own, and nothing stored."""
    from workbench.recognize import Recognizer, UnknownsKeeper

    rec = Recognizer(mediapipe_detector, fused, fresh)
    image, face, chips, _ = _stranger_frames(mediapipe_detector, lfw_dir, rec)[0]
    result = _recognized(rec, image, face, chips)
    assert not result.embeddings[:, 128:].any()
    keeper = UnknownsKeeper(fresh, detector=mediapipe_detector, source="photo")
    with pytest.raises(InvalidArgumentError, match="embedder"):
        keeper.offer_recognition(result, image=image)
    keeper.flush()
    assert fresh.count_unknowns() == 0
    with pytest.raises(InvalidArgumentError, match="image"):
        UnknownsKeeper(
            fresh, detector=mediapipe_detector, source="photo", embedder=fused
        ).offer_recognition(result)


def test_the_live_loops_keeper_stores_full_vectors(fused, fresh, mediapipe_detector, lfw_dir):
    """The live loop with the keeper as its on_result callback (as the panel and the CLI
    attach it), strangers every frame, no tracking: each stored face is completed to its
    full fused vector, the cascade having run dlib alone on it."""
    from workbench.align import template_for
    from workbench.live import IterableSource, LiveRecognizer
    from workbench.recognize import Recognizer, UnknownsKeeper

    rec = Recognizer(mediapipe_detector, fused, fresh)
    frames = [load_image(lfw_dir / p) for p in STRANGER[:3]]
    keeper = UnknownsKeeper(fresh, detector=mediapipe_detector, source="live", embedder=fused)
    source = IterableSource(iter(frames), lossless=True)
    with LiveRecognizer(source, rec, tracking=None, on_result=keeper) as live:
        assert live.wait(timeout=120)
    keeper.flush()
    stored, vectors = fresh.unknown_embeddings()
    assert len(stored) == keeper.counts.offered >= 3
    assert keeper.counts.completed >= 1
    template = template_for(mediapipe_detector)
    for u, v in zip(stored, vectors, strict=True):
        image = frames[u.frame]
        faces = mediapipe_detector.detect(image)
        row = int(np.argmin(np.abs(np.asarray(faces.xyxy) - np.asarray(u.box)).sum(1)))
        full = fused.embed_faces(image, faces.keypoints[row : row + 1], template=template)[0]
        np.testing.assert_allclose(v, full, atol=1e-5)


#: A person enrolled from one photo, and another photo of him (head turned, mouth open)
#: that dlib alone turns away while the full fused vector accepts him, once the gallery's
#: threshold is a larger gallery's (set by hand below); found on the fusion features
#: cache with the cascade's own rule (dlib's distance beyond its threshold and the band,
#: the full vector's within the fused threshold).
ONE_PHOTO = ("Tom_Daschle/Tom_Daschle_0001.jpg", "Tom_Daschle/Tom_Daschle_0011.jpg")
#: The band's upper width in the test (stage 2 reaches 0.10 above dlib's threshold; the
#: face is found for it, whatever the product's).
NARROW_BAND = 0.10


def test_the_keeper_does_not_store_a_face_the_full_vector_names(
    fused, fresh, mediapipe_detector, lfw_dir, monkeypatch
):
    """dlib turns away a photo of an enrolled person that the full fused vector accepts:
    the keeper completes it (and a stranger's face) in one write, searches both full
    vectors in one call, and stores the stranger only; the enrolled person's face is
    counted as ``named``."""
    from workbench.align import template_for
    from workbench.cascade import dlib_nearest, threshold_ratio
    from workbench.recognize import Recognizer, UnknownsKeeper

    enroller = Recognizer(mediapipe_detector, fused)
    fresh.enroll("Tom Daschle", [lfw_dir / ONE_PHOTO[0]], recognizer=enroller)
    template = template_for(mediapipe_detector)

    def face_of(path):
        image = load_image(lfw_dir / path)
        face = mediapipe_detector.detect(image).largest()
        return image, face, enroller.chips(image, face)

    probe = face_of(ONE_PHOTO[1])
    stranger = face_of(STRANGER[0])
    # The threshold between the full vector's distance to him and the one at which dlib's
    # distance lies beyond its threshold and the band: dlib turns him away, the full
    # vector would not.
    _, d_dlib = dlib_nearest(fresh, fused.embed_dlib(probe[2]), fused.weight)
    full = fused.embed_faces(probe[0], probe[1].keypoints, template=template)
    d_full = float(np.linalg.norm(full[0] - fresh.snapshot().vectors[-1]))
    far = fresh.threshold_info.target_far
    ratio = threshold_ratio(4, far, model_id=fresh.model_id)
    top = (float(d_dlib[0, 0]) - NARROW_BAND) / ratio
    assert top - d_full > 0.04, (d_full, top)
    fresh.set_threshold((d_full + top) / 2)
    assert fresh.search(full).best()[0].label == "Tom Daschle"

    rec = Recognizer(mediapipe_detector, fused, fresh, band_above=NARROW_BAND)
    results = [_recognized(rec, *face) for face in (probe, stranger)]
    assert rec.cascade_counts["second"] == 0, "stage 2 decided one of them"
    assert [r.unknown.tolist() for r in results] == [[True], [True]]
    assert all(not r.embeddings[:, 128:].any() for r in results)
    searches = []
    search = fresh.search
    monkeypatch.setattr(fresh, "search", lambda v, k=1: searches.append(len(v)) or search(v, k))
    before = fused.mobilefacenet.faces
    with UnknownsKeeper(fresh, detector=mediapipe_detector, source="photos", embedder=fused) as k:
        for (image, _, _), r in zip((probe, stranger), results, strict=True):
            k.offer_recognition(r, image=image)
    assert fused.mobilefacenet.faces - before == 2
    assert searches == [2]
    c = k.counts
    assert (c.offered, c.completed, c.named) == (2, 2, 1)
    _, vectors = fresh.unknown_embeddings()
    want = fused.embed_faces(stranger[0], stranger[1].keypoints, template=template)
    assert len(vectors) == 1
    np.testing.assert_allclose(vectors, want, atol=1e-5)
