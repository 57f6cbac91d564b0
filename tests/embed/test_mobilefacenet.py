"""MobileFaceNet on LiteRT: real LFW faces in, unit 192-D vectors out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from workbench.errors import InvalidImageError, ModelAssetError
from workbench.images import load_image

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (LiteRT) is not installed")


@pytest.fixture(scope="module")
def mfn():
    from workbench.assets import asset_path
    from workbench.embed.mobilefacenet import MobileFaceNet

    try:
        asset_path("mobilefacenet")
    except ModelAssetError as exc:
        pytest.skip(f"MobileFaceNet is not available: {exc}")
    with MobileFaceNet() as model:
        yield model


@pytest.fixture(scope="module")
def faces(lfw_dir, mediapipe_detector):
    """ArcFace chips of two photos of one person and one of another."""
    from workbench.embed.mobilefacenet import arcface_chips

    paths = [
        lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg",
        lfw_dir / "Colin_Powell" / "Colin_Powell_0002.jpg",
        lfw_dir / "Serena_Williams" / "Serena_Williams_0001.jpg",
    ]
    chips = []
    for p in paths:
        image = load_image(p)
        face = mediapipe_detector.detect(image).largest()
        chips.append(arcface_chips(image, face.keypoints)[0])
    return np.stack(chips)


def test_arcface_chips_shape(faces):
    assert faces.shape == (3, 112, 112, 3) and faces.dtype == np.uint8
    assert faces.std() > 20  # a face, not a black border


@pytest.mark.parametrize("flip", [True, False])
def test_real_faces_unit_vectors_same_person_nearer(mfn, faces, flip):
    mfn.flip = flip
    try:
        e = mfn.embed(faces)
    finally:
        mfn.flip = True
    assert e.shape == (3, 192) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    same, stranger = np.linalg.norm(e[0] - e[1]), np.linalg.norm(e[0] - e[2])
    assert same < 0.9 < stranger, (same, stranger)


def test_one_face_equals_its_row_in_a_batch(mfn, faces):
    """The batch-2 graph: one face (with its mirror, or padded) gives what it gives in a
    batch of three."""
    np.testing.assert_allclose(mfn.embed(faces[1:2])[0], mfn.embed(faces)[1], atol=1e-5)


def test_flip_is_the_mirror_average(mfn, faces):
    from workbench.embed.mobilefacenet import MobileFaceNet

    plain = MobileFaceNet(flip=False)
    a = plain.embed(faces[:1])[0]
    b = plain.embed(np.ascontiguousarray(faces[:1, :, ::-1]))[0]
    assert mfn.model_id.endswith("-flip") and not plain.model_id.endswith("-flip")
    # Unit vectors averaged and normalised again: the direction of their mean.
    expected = (a + b) / np.linalg.norm(a + b)
    assert np.linalg.norm(mfn.embed(faces[:1])[0] - expected) < 0.05


@pytest.mark.parametrize(
    "chips",
    [np.zeros((1, 150, 150, 3), np.uint8), np.zeros((1, 112, 112, 3), np.float32), [1, 2]],
    ids=["dlib chip size", "float", "list"],
)
def test_bad_chips_are_refused(mfn, chips):
    with pytest.raises(InvalidImageError, match="112"):
        mfn.embed(chips)


def test_empty_batch(mfn):
    assert mfn.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 192)


def test_closed_model_refuses(faces):
    from workbench.embed.mobilefacenet import MobileFaceNet

    m = MobileFaceNet()
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.embed(faces)


def test_loads_without_tensorflow_and_prints_nothing(mfn):
    """LiteRT's start-up line (``INFO: Created TensorFlow Lite XNNPACK delegate``) must
    not reach stderr (a notebook cell), and no TensorFlow is imported."""
    code = (
        "import sys, numpy as np\n"
        "from workbench.embed.mobilefacenet import MobileFaceNet\n"
        "m = MobileFaceNet().load()\n"
        "print(m.embed(np.zeros((1, 112, 112, 3), np.uint8)).shape)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["(1,", "192)", "False"]
    assert proc.stderr == ""
