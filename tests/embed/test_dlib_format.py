"""The reader of dlib's network files: the real file, the encodings, and every way a file
can be wrong (truncated, corrupt, another network, trailing bytes)."""

from __future__ import annotations

import struct
from collections import Counter

import numpy as np
import pytest

from workbench.embed.dlib_format import (
    _Reader,
    parse_dlib_network,
    read_dlib_network,
    resnet_v1_architecture,
)
from workbench.errors import ModelAssetError


def test_architecture_is_dlibs_resnet_v1():
    specs = resnet_v1_architecture()
    kinds = Counter(s.kind for s in specs)
    # 1 stem conv + 2 per residual block (3 + 4 + 3 + 3 + 1 = 14 blocks): 29 convolutions.
    assert kinds["con"] == 29 and kinds["affine"] == 29
    assert kinds["add_prev"] == 14 and kinds["skip"] == 4 and kinds["avg_pool"] == 5
    assert [s.filters for s in specs if s.kind == "con"][-1] == 256
    assert specs[-1].kind == "fc" and specs[-1].filters == 128
    strided = [s for s in specs if s.kind == "con" and s.stride == (2, 2)]
    assert all(s.padding == (0, 0) for s in strided)


def test_reads_the_real_file(dat_path):
    net = read_dlib_network(dat_path)
    assert net.loss == "loss_metric_2"
    assert net.distance_threshold == pytest.approx(0.6)
    assert net.margin == pytest.approx(0.04)
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.input_means, [122.782, 117.001, 104.298], rtol=1e-6)
    assert len(net.layers) == len(resnet_v1_architecture())
    assert net.num_parameters == 5_614_592
    first = net.layers[0]
    assert first.version == "con_4" and first.arrays["filters"].shape == (32, 3, 7, 7)
    assert net.layers[-1].arrays["weights"].shape == (256, 128)
    # dlib's padding rules, as stored in the file: stride-1 3x3 convs padded by 1, the rest 0.
    for layer in net.layers:
        if layer.spec.kind in ("con", "max_pool", "avg_pool"):
            assert layer.padding == layer.spec.padding, layer.spec.describe()
    assert all(np.isfinite(a).all() for layer in net.layers for a in layer.arrays.values())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x01\x00", 0),
        (b"\x01\x01", 1),
        (b"\x81\x05", -5),
        (b"\x02\x34\x12", 0x1234),
        (b"\x04\x00\x00\x00\x80", 2**31),
    ],
)
def test_integer_encoding(raw, expected):
    assert _Reader(raw, "test").int() == expected


def test_float_and_tensor_encoding():
    # 0.6f as float_details: mantissa 0x99999a, exponent -24.
    r = _Reader(b"\x03\x9a\x99\x99\x81\x18", "test")
    assert r.float() == pytest.approx(0.6, rel=1e-7)
    values = np.arange(6, dtype="<f4")
    raw = b"\x01\x02" + b"\x01\x01\x01\x02\x01\x03\x01\x01" + values.tobytes()
    np.testing.assert_array_equal(_Reader(raw, "test").tensor("t"), values.reshape(1, 2, 3, 1))


def _corrupt(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"", "truncated"),
        (lambda d: d[:1], "truncated"),
        (lambda d: d[:200], "truncated"),  # inside the version numbers
        (lambda d: d[:400], "truncated"),  # inside the first convolution's filters
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d + b"\x00", "1 more bytes"),
        (lambda d: d.replace(b"loss_metric_2", b"loss_metric_3", 1), "'loss_metric_2'"),
        (lambda d: d.replace(b"input_rgb_image_sized", b"input_rgb_image_sizeX", 1), "input"),
        (lambda d: _corrupt(d, 0, b"\x01\x07"), "add_loss_layer version 1"),
        (lambda d: d.replace(b"max_pool_2", b"avg_pool_2", 1), "'max_pool_2'"),
        (lambda d: d.replace(b"\x05relu_", b"\x05relU_", 1), "'relu_'"),
        (lambda d: _corrupt(d, 3, b"\x7f"), "found"),  # bad string length control byte
    ],
)
def test_corrupt_files_raise_model_asset_error(dat_bytes, mutate, message):
    with pytest.raises(ModelAssetError) as info:
        parse_dlib_network(mutate(dat_bytes), source="model.dat")
    assert message in str(info.value)
    assert "model.dat" in str(info.value)


def test_a_changed_stride_is_caught(dat_bytes):
    # The stem conv stores its params tensor, then num_filters, nr, nc, stride_y, stride_x.
    r = _Reader(dat_bytes, "test")
    r.pos = dat_bytes.index(b"con_4") + len(b"con_4")
    assert r.tensor("params").size == 32 * 3 * 7 * 7 + 32
    fields = dat_bytes[r.pos : r.pos + 10]
    assert fields == b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02"
    bad = _corrupt(dat_bytes, r.pos + 7, b"\x01")  # stride_y 2 -> 1
    with pytest.raises(ModelAssetError, match=r"\(32, 7, 7, 2, 2\), found \(32, 7, 7, 1, 2\)"):
        parse_dlib_network(bad)


def test_another_dlib_file_is_refused():
    from face_recognition_models import pose_predictor_five_point_model_location

    with pytest.raises(ModelAssetError, match="not dlib's face recognition ResNet"):
        read_dlib_network(pose_predictor_five_point_model_location())


def test_missing_file(tmp_path):
    with pytest.raises(ModelAssetError, match="cannot read"):
        read_dlib_network(tmp_path / "nope.dat")


def test_nan_float_is_read():
    # dlib marks NaN with the reserved exponent 32002 (0x7d02).
    raw = b"\x01\x00" + b"\x02" + struct.pack("<H", 32002)
    assert np.isnan(_Reader(raw, "test").float())
