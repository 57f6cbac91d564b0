"""The Embedder: input checks, batching, identity and lifecycle."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.embed import DEFAULT_THRESHOLD, Embedder, default_embedder
from workbench.errors import InvalidArgumentError, InvalidImageError


@pytest.mark.parametrize(
    ("chips", "message"),
    [
        ([[0]], "numpy array"),
        (np.zeros((150, 150, 3), np.uint8), r"use chips\[None\]"),
        (np.zeros((2, 112, 112, 3), np.uint8), r"\(2, 112, 112, 3\)"),
        (np.zeros((2, 150, 150, 4), np.uint8), r"\(2, 150, 150, 4\)"),
        (np.zeros((2, 150, 150, 3), np.float32), "dtype float32"),
    ],
)
def test_bad_chips_raise(chips, message):
    # Checked before the model loads, so a fresh embedder is enough.
    with pytest.raises(InvalidImageError, match=message):
        Embedder().embed(chips)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size_raises(batch_size):
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        Embedder().embed(np.zeros((1, 150, 150, 3), np.uint8), batch_size=batch_size)


def test_empty_batch(embedder):
    out = embedder.embed(np.zeros((0, 150, 150, 3), np.uint8))
    assert out.shape == (0, 128) and out.dtype == np.float32


def test_batch_size_does_not_change_results(embedder, lfw_chips):
    chips = lfw_chips[0][:11]  # 11 = 8 + 3: a full batch and a padded one
    one = embedder.embed(chips, batch_size=1)
    eight = embedder.embed(chips, batch_size=8)
    assert one.shape == (11, 128) and one.dtype == np.float32
    np.testing.assert_allclose(one, eight, rtol=0, atol=1e-5)


def test_same_person_is_closer(embedder, lfw_chips):
    chips, names = lfw_chips
    emb = embedder.embed(chips)
    same = np.linalg.norm(emb[0::2] - emb[1::2], axis=1)  # two photos of one person
    other = np.linalg.norm(emb[0::2] - np.roll(emb[1::2], 1, axis=0), axis=1)
    assert names[0] == names[1] and names[0] != names[2]
    assert np.mean(same < DEFAULT_THRESHOLD) > 0.9
    assert np.mean(other >= DEFAULT_THRESHOLD) > 0.95


def test_model_id_names_the_weights():
    from workbench.assets import ASSETS

    sha = ASSETS["dlib_resnet_v1"].sha256
    assert Embedder().model_id == f"dlib_resnet_v1-{sha[:12]}"


def test_closed_embedder_refuses(dat_path):
    emb = Embedder()
    emb.close()
    with pytest.raises(RuntimeError, match="closed"):
        emb.embed(np.zeros((1, 150, 150, 3), np.uint8))


def test_default_embedder_is_shared():
    assert default_embedder() is default_embedder()


def test_unknown_runtime_lists_the_valid_ones():
    from workbench.embed import Embedder

    with pytest.raises(ValueError, match=r"unknown embedder runtime 'tf'.*'onnx', 'keras'"):
        Embedder(runtime="tf")


def test_default_runtime_needs_no_tensorflow_until_the_keras_model_is_asked_for():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys, numpy as np\n"
        "from workbench.embed import Embedder\n"
        "e = Embedder()\n"
        "e.embed(np.zeros((2, 150, 150, 3), np.uint8))\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_missing_onnxruntime_is_a_clear_model_error(monkeypatch, tmp_path):
    import sys

    from workbench.errors import ModelAssetError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    with (
        Embedder(cache=tmp_path) as embedder,
        pytest.raises(ModelAssetError, match=r"needs onnxruntime.*runtime=\"keras\""),
    ):
        embedder.load()
