"""The Siamese view: shared-weight twin towers, distances, verification."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.embed import SiameseNetwork, Verification
from workbench.errors import InvalidArgumentError, InvalidImageError


@pytest.fixture(scope="module")
def siamese(embedder):
    with SiameseNetwork(embedder) as net:
        yield net


def test_distance_shapes():
    a = np.zeros(128, np.float32)
    b = np.ones(128, np.float32)
    assert SiameseNetwork.distance(a, b) == pytest.approx(np.sqrt(128))
    batch = SiameseNetwork.distance(np.stack([a, b]), b)
    assert batch.shape == (2,) and batch.dtype == np.float32
    assert batch[1] == 0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.zeros(64), np.zeros(64)),
        (np.zeros((2, 128)), np.zeros((3, 128))),
        (np.zeros((1, 2, 128)), np.zeros(128)),
    ],
)
def test_distance_bad_shapes(a, b):
    with pytest.raises(InvalidArgumentError):
        SiameseNetwork.distance(a, b)


@pytest.mark.parametrize("threshold", [0, -1, "0.6"])
def test_bad_threshold(threshold, embedder):
    with pytest.raises(InvalidArgumentError, match="threshold"):
        SiameseNetwork(embedder, threshold=threshold)


def test_twin_towers_share_weights(siamese, lfw_chips):
    model = siamese.keras_model()
    tower = siamese.embedder.model
    assert [layer.name for layer in model.layers].count(tower.name) == 1
    assert model.count_params() == tower.count_params()
    chips = lfw_chips[0][:4]
    d = np.asarray(model([chips[:2], chips[2:]], training=False))
    emb = siamese.embedder.embed(chips)
    np.testing.assert_allclose(d, siamese.distance(emb[:2], emb[2:]), atol=1e-5)


def test_verify_aligned_chips(siamese, lfw_chips):
    chips, names = lfw_chips
    assert names[0] == names[1] != names[2]
    same = siamese.verify(chips[0], chips[1], aligned=True)
    other = siamese.verify(chips[0], chips[2], aligned=True)
    assert isinstance(same, Verification)
    is_same, distance = same
    assert is_same and distance < siamese.threshold
    assert not other.same and other.distance >= siamese.threshold
    same_batch, dist_batch = siamese.verify_chips(chips[0:4:2], chips[1:4:2])
    assert same_batch.tolist() == [True, True] and dist_batch.shape == (2,)


def test_verify_rejects_a_bad_chip(siamese):
    with pytest.raises(InvalidImageError, match="image_b"):
        siamese.verify(np.zeros((150, 150, 3), np.uint8), np.zeros((10, 10, 3)), aligned=True)


def test_verify_full_photos_detects_and_aligns(embedder, mediapipe_detector, lfw_pairs_of_people):
    (name_a, a1), (_, a2), (name_b, b1) = lfw_pairs_of_people[:3]
    assert name_a != name_b
    net = SiameseNetwork(embedder, detector=mediapipe_detector)
    same = net.verify(a1, a2)
    other = net.verify(a1, b1)
    print(f"\nverify: same person {same.distance:.3f}, different people {other.distance:.3f}")
    assert same.same and not other.same
    net.close()  # the detector belongs to the caller: still usable afterwards
    assert len(mediapipe_detector.detect(np.full((64, 64, 3), 128, np.uint8))) == 0


def test_verify_without_a_face(embedder, mediapipe_detector):
    net = SiameseNetwork(embedder, detector=mediapipe_detector)
    blank = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(InvalidImageError, match="image_a: no face found"):
        net.verify(blank, blank)
