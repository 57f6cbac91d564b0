"""The Keras network and the ONNX graph against dlib itself: parity on real aligned LFW
chips, the shapes dlib's padding rules give, the zero-padded residual add, and the
converted-weights caches."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

#: Largest allowed difference per embedding component against dlib (issue 3).
PARITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def resnet(dat_path):
    from workbench.embed.resnet import load_resnet

    return load_resnet()


def test_parity_with_dlib(embedder, resnet, lfw_chips, dlib_descriptors, dat_path):
    from workbench.embed import Embedder

    chips, _ = lfw_chips
    assert len(chips) >= 100
    assert embedder.runtime == "onnx"  # what serves by default
    layer_for_layer = np.asarray(resnet(chips, training=False))
    served = embedder.embed(chips)
    with Embedder(runtime="keras") as keras_embedder:
        keras_served = keras_embedder.embed(chips)  # the folded Keras inference copy
    for label, ours in (
        ("keras layer-for-layer", layer_for_layer),
        ("embedder, onnx runtime (default)", served),
        ("embedder, keras runtime (folded)", keras_served),
    ):
        diff = np.abs(ours.astype(np.float64) - dlib_descriptors)
        print(
            f"\n{label}: {len(chips)} LFW chips, largest |ours - dlib| = {diff.max():.3e}, "
            f"mean {diff.mean():.3e}"
        )
        assert diff.max() <= PARITY_TOLERANCE, label


def test_intermediate_shapes_follow_dlibs_padding(resnet):
    shape = {layer.name: tuple(layer.output.shape[1:]) for layer in resnet.layers}
    assert shape["con_0"] == (72, 72, 32)  # 7x7 stride 2, unpadded: (150 - 7) // 2 + 1
    assert shape["max_pool_0"] == (35, 35, 32)  # 3x3 stride 2, unpadded
    adds = [shape[f"add_prev_{i}"] for i in range(14)]
    assert adds[3] == (17, 17, 64)  # first down-sampling: 32 -> 64 channels zero-padded
    # Level 1's down-sampling: the block gives 3x3 (8 -> 3), the pooled shortcut 4x4.
    assert adds[10] == (4, 4, 256)
    # Level 0: the block gives 1x1 (4 -> 1), the shortcut 2x2.
    assert adds[13] == (2, 2, 256)
    assert shape["fc_0"] == (128,)
    assert resnet.count_params() == 5_614_592 + 3  # + the three input means


def test_zero_pad_add_matches_dlib_rule():
    from workbench.embed.resnet import ZeroPadAdd

    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)  # smaller spatially, more channels
    b = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    out = np.asarray(ZeroPadAdd()([a, b]))
    expected = np.zeros((2, 4, 4, 4), np.float32)
    expected[:, :3, :3, :] += a  # padded at the bottom and right
    expected[:, :, :, :2] += b  # padded in the last channels
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_model_uses_keras_ops_only():
    import workbench.embed.resnet as module

    source = Path(module.__file__).read_text()
    assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax|torch)\b", source, re.M)
    assert "tf." not in source


def test_weights_cache_is_written_then_used(tmp_path, dat_path, monkeypatch):
    import workbench.embed.resnet as module
    from workbench.assets import ASSETS

    sha = ASSETS["dlib_resnet_v1"].sha256
    first = module.load_resnet(dat_path, sha256=sha, cache=tmp_path)
    cached = module.weights_cache_path(sha, cache=tmp_path)
    assert cached.is_file() and cached.name == f"dlib_resnet_v1-{sha[:16]}.weights.h5"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left

    def no_parse(*args, **kwargs):
        raise AssertionError("the .dat file was parsed although the cache was there")

    monkeypatch.setattr(module, "read_dlib_network", no_parse)
    second = module.load_resnet(dat_path, sha256=sha, cache=tmp_path)
    for w1, w2 in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(w1), np.asarray(w2))


def test_damaged_cache_is_rebuilt(tmp_path, dat_path):
    from workbench.assets import ASSETS
    from workbench.embed.resnet import load_resnet, weights_cache_path

    sha = ASSETS["dlib_resnet_v1"].sha256
    target = weights_cache_path(sha, cache=tmp_path)
    target.write_bytes(b"not an h5 file")
    model = load_resnet(dat_path, sha256=sha, cache=tmp_path)
    assert target.stat().st_size > 20_000_000
    gamma = model.get_layer("affine_0").get_weights()[0]
    assert not np.allclose(gamma, 1.0)  # trained values, not the initial ones


def test_corrupt_dat_file_raises(tmp_path, dat_bytes):
    from workbench.embed.resnet import load_resnet
    from workbench.errors import ModelAssetError

    bad = tmp_path / "truncated.dat"
    bad.write_bytes(dat_bytes[:1000])
    with pytest.raises(ModelAssetError, match="truncated"):
        load_resnet(bad, cache=tmp_path)
    assert not list(tmp_path.glob("*.weights.h5"))


def test_onnx_graph_is_cached_by_sha256_then_used(tmp_path, dat_path, monkeypatch, lfw_chips):
    import workbench.embed.onnx_runner as runner
    from workbench.assets import ASSETS
    from workbench.embed import Embedder

    chips = lfw_chips[0][:4]
    sha = ASSETS["dlib_resnet_v1"].sha256
    with Embedder(dat_path, cache=tmp_path) as first:
        expected = first.embed(chips)
    cached = runner.onnx_cache_path(sha, cache=tmp_path)
    assert cached.is_file() and cached.name == f"dlib_resnet_v1-{sha[:16]}.g1.onnx"
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temp file, no .h5

    def no_build(*args, **kwargs):
        raise AssertionError("the graph was rebuilt although the cache was there")

    monkeypatch.setattr(runner, "build_onnx", no_build)
    with Embedder(dat_path, cache=tmp_path) as second:
        np.testing.assert_array_equal(second.embed(chips), expected)


def test_damaged_onnx_cache_is_rebuilt(tmp_path, dat_path, lfw_chips, dlib_descriptors):
    from workbench.assets import ASSETS
    from workbench.embed import Embedder
    from workbench.embed.onnx_runner import onnx_cache_path

    target = onnx_cache_path(ASSETS["dlib_resnet_v1"].sha256, cache=tmp_path)
    target.write_bytes(b"not an onnx file")
    with Embedder(dat_path, cache=tmp_path) as embedder:
        out = embedder.embed(lfw_chips[0][:2])
    assert target.stat().st_size > 20_000_000
    assert np.abs(out - dlib_descriptors[:2]).max() <= PARITY_TOLERANCE


def test_onnx_graph_follows_the_architecture(dat_path):
    from workbench.embed.dlib_format import read_dlib_network, resnet_v1_architecture
    from workbench.embed.onnx_graph import resnet_onnx

    net = read_dlib_network(dat_path)
    data = resnet_onnx(net)
    specs = resnet_v1_architecture()
    # One Conv per con (affines folded in), one Pad per residual add whose inputs differ.
    assert data.count(b"\x22\x04Conv") == sum(s.kind == "con" for s in specs)
    assert data.count(b"\x22\x04Relu") == sum(s.kind == "relu" for s in specs)
    assert b"\x22\x03Pad" in data and b"GlobalAveragePool" in data
