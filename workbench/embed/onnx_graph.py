"""dlib's ResNet as an ONNX graph, written straight from the parsed ``.dat`` file.

The Keras model (:mod:`workbench.embed.resnet`) stays the network's definition and its
training path; this graph is an inference copy of the same layers for runtimes that need
no TensorFlow (ONNX Runtime; OpenCV's ``dnn`` reads it too). Building it through Keras
(tf2onnx) would import TensorFlow, the very cost it exists to avoid, so it is written
here from :func:`~workbench.embed.dlib_format.resnet_v1_architecture` and the file's
arrays, with a minimal protobuf encoder for the few ONNX messages it uses
(``onnx.proto``: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto); no ``onnx`` package is needed.

The graph mirrors :func:`workbench.embed.resnet.build_resnet` with ``fold_affine``: each
affine folded into the convolution before it (float rounding only, about 1e-7). Input
``chips``: ``(N, 150, 150, 3)`` float32 RGB 0..255 (NHWC, as the Keras model); output
``embeddings``: ``(N, 128)`` float32.

Example:
    >>> from workbench.embed.dlib_format import read_dlib_network  # doctest: +SKIP
    >>> net = read_dlib_network("dlib_face_recognition_resnet_model_v1.dat")  # doctest: +SKIP
    >>> onnx_bytes = resnet_onnx(net)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.embed.dlib_format import DlibNetwork

#: ONNX IR version and default-domain opset the graph is written for (Pad takes its pads
#: as an input from opset 11; 13 is read by every current runtime).
IR_VERSION = 7
OPSET = 13
INPUT_NAME = "chips"
OUTPUT_NAME = "embeddings"

# -- protobuf wire format (only what ONNX needs) -----------------------------------------

_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTR_INT, _ATTR_INTS = 2, 7  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(int(value))


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(field, 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    if array.dtype == np.int64:
        dtype = _INT64
    else:
        array, dtype = array.astype("<f4"), _FLOAT
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, dtype) + _bytes(8, name) + _bytes(9, array.tobytes())


def _attribute(name: str, value: int | list[int]) -> bytes:
    """AttributeProto: name (1), i (3), ints (8), type (20)."""
    if isinstance(value, list):
        return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    return _bytes(1, name) + _int(3, value) + _int(20, _ATTR_INT)


def _value_info(name: str, dims: list[int | str]) -> bytes:
    """ValueInfoProto with a float tensor type; a str dim is symbolic (the batch)."""
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, _FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


class _Graph:
    """Collects nodes and initializers; names values ``v0, v1, ...``."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._count = 0

    def const(self, array: np.ndarray) -> str:
        name = f"w{len(self.initializers)}"
        self.initializers.append(_tensor(name, array))
        return name

    def op(self, op_type: str, inputs: list[str], **attributes: int | list[int]) -> str:
        output = f"v{self._count}"
        self._count += 1
        node = b"".join(_bytes(1, i) for i in inputs) + _bytes(2, output)
        node += _bytes(3, f"{op_type.lower()}_{self._count}") + _bytes(4, op_type)
        node += b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
        self.nodes.append(node)
        return output

    def model(self, output: str) -> bytes:
        # Name the graph's output by an Identity, so the value names stay internal.
        self.nodes.append(_bytes(1, output) + _bytes(2, OUTPUT_NAME) + _bytes(4, "Identity"))
        graph = b"".join(_bytes(1, n) for n in self.nodes) + _bytes(2, "dlib_resnet_v1")
        graph += b"".join(_bytes(5, t) for t in self.initializers)
        graph += _bytes(11, _value_info(INPUT_NAME, ["N", 150, 150, 3]))
        graph += _bytes(12, _value_info(OUTPUT_NAME, ["N", 128]))
        opset = _bytes(1, "") + _int(2, OPSET)
        return _int(1, IR_VERSION) + _bytes(2, "workbench") + _bytes(7, graph) + _bytes(8, opset)


# -- the network --------------------------------------------------------------------------


def resnet_onnx(net: DlibNetwork) -> bytes:
    """The serialized ONNX model of a parsed dlib ResNet (see the module docstring).

    Args:
        net: from :func:`~workbench.embed.dlib_format.read_dlib_network`.

    Returns:
        The bytes of an ``.onnx`` file.
    """
    g = _Graph()
    # NHWC 0..255 -> NCHW, then dlib's (x - mean) / 256 (exact: a power of two).
    x = g.op("Transpose", [INPUT_NAME], perm=[0, 3, 1, 2])
    means = np.asarray(net.input_means, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", [x, g.const(means)])
    x = g.op("Mul", [x, g.const(np.full((1,), 1 / 256, np.float32))])
    # Shapes as (C, H, W), tracked to pad the residual adds as dlib's add_prev does.
    shape = (3, 150, 150)
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        spec = layer.spec
        if spec.kind == "tag":
            tags[spec.tag] = (x, shape)
        elif spec.kind == "skip":
            x, shape = tags[spec.tag]
        elif spec.kind == "con":
            kernel = layer.arrays["filters"].astype(np.float32)  # (out, in, rows, cols)
            bias = layer.arrays["biases"].astype(np.float32)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.spec.kind == "affine":
                # (x * W + b) * gamma + beta == x * (W * gamma) + (b * gamma + beta)
                gamma = nxt.arrays["gamma"].astype(np.float32)
                beta = nxt.arrays["beta"].astype(np.float32)
                kernel = kernel * gamma[:, None, None, None]
                bias = bias * gamma + beta
                i += 1
            pad_y, pad_x = spec.padding
            x = g.op(
                "Conv",
                [x, g.const(kernel), g.const(bias)],
                kernel_shape=list(spec.size),
                strides=list(spec.stride),
                pads=[pad_y, pad_x, pad_y, pad_x],
            )
            shape = (
                spec.filters,
                (shape[1] + 2 * pad_y - spec.size[0]) // spec.stride[0] + 1,
                (shape[2] + 2 * pad_x - spec.size[1]) // spec.stride[1] + 1,
            )
        elif spec.kind == "affine":  # one not after a convolution (none in this network)
            gamma = layer.arrays["gamma"].astype(np.float32).reshape(1, -1, 1, 1)
            beta = layer.arrays["beta"].astype(np.float32).reshape(1, -1, 1, 1)
            x = g.op("Add", [g.op("Mul", [x, g.const(gamma)]), g.const(beta)])
        elif spec.kind == "relu":
            x = g.op("Relu", [x])
        elif spec.kind in ("max_pool", "avg_pool") and spec.size != (0, 0):
            op = "MaxPool" if spec.kind == "max_pool" else "AveragePool"
            x = g.op(op, [x], kernel_shape=list(spec.size), strides=list(spec.stride))
            shape = (
                shape[0],
                (shape[1] - spec.size[0]) // spec.stride[0] + 1,
                (shape[2] - spec.size[1]) // spec.stride[1] + 1,
            )
        elif spec.kind == "avg_pool":  # avg_pool_everything
            x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
            shape = (shape[0], 1, 1)
        elif spec.kind == "add_prev":
            other, other_shape = tags[spec.tag]
            target = tuple(max(a, b) for a, b in zip(shape, other_shape, strict=True))
            x = g.op(
                "Add", [_pad_end(g, x, shape, target), _pad_end(g, other, other_shape, target)]
            )
            shape = target
        elif spec.kind == "fc":
            x = g.op("MatMul", [x, g.const(layer.arrays["weights"].astype(np.float32))])
        else:  # pragma: no cover - the architecture only holds the kinds above
            raise ValueError(f"unknown layer kind {spec.kind!r}")
        i += 1
    return g.model(x)


def _pad_end(g: _Graph, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Zero-pad ``(N, C, H, W)`` at the end of C, H and W up to ``target`` (dlib's add)."""
    if shape == target:
        return x
    ends = [0, *(t - s for s, t in zip(shape, target, strict=True))]
    pads = np.array([0, 0, 0, 0, *ends], np.int64)
    return g.op("Pad", [x, g.const(pads)])
