"""Reader for dlib's serialized deep network files, in Python and numpy only.

dlib writes a network with ``serialize(net, out)``; there is no type tag in the stream, so
the reader must know the network's structure to walk it. The rules, all from dlib's own
source (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``dlib/dnn/layers.h``,
``dlib/dnn/input.h``, ``dlib/dnn/loss.h``, ``dlib/cuda/tensor.h``):

- integers: one control byte (low 4 bits: how many bytes follow, bit 7: negative), then
  the magnitude's bytes, little endian. ``0`` is ``01 00``.
- ``bool``: the character ``'1'`` or ``'0'``.
- ``std::string``: its length as an integer, then the bytes.
- ``float``/``double``: ``float_details``, a 64-bit mantissa and a 16-bit exponent, two
  integers; value = mantissa * 2**exponent.
- tensor: version ``2``, then ``num_samples, k, nr, nc`` and that many raw float32
  little-endian values; an alias tensor is version ``1`` and the four sizes only.
- ``add_loss_layer``: version ``1``, the loss details, then the subnetwork.
- ``add_layer`` over another layer: version (``1``, or ``2`` with ``params_grad``
  appended), the subnetwork, the layer details, three bools, ``x_grad`` and
  ``cached_output`` (and ``params_grad`` for version 2).
- ``add_layer`` over the input layer: version (``2``, or ``3`` with the sample expansion
  factor appended), the input layer, the details, three bools, ``x_grad``,
  ``cached_output`` and ``grad_final``.
- ``add_tag_layer`` / ``add_skip_layer`` over another layer: version ``1`` and the
  subnetwork, nothing else (the tag number is not stored).

Because the subnetwork is written before the layer's own details, the file holds every
layer's version number first (outermost first), then the input layer, then the layers'
details from the innermost (first executed) outwards. :func:`read_dlib_network` reads it
in that order against :func:`resnet_v1_architecture` and checks every layer it finds.

Example:
    >>> net = read_dlib_network(asset_path("dlib_resnet_v1"))  # doctest: +SKIP
    >>> net.input_means, len(net.layers)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import ModelAssetError

# dlib's float_details marks non-finite values with reserved exponents.
_FLOAT_INF, _FLOAT_NINF, _FLOAT_NAN = 32000, 32001, 32002


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the expected architecture, in execution order.

    Attributes:
        kind: ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``,
            ``tag``, ``skip`` or ``fc``.
        filters: output channels (``con``) or units (``fc``).
        size: window ``(nr, nc)`` of ``con`` and pools; ``(0, 0)`` is dlib's
            "whole image" (``avg_pool_everything``).
        stride: ``(stride_y, stride_x)``.
        tag: tag id of ``tag``, ``skip`` and ``add_prev``.
    """

    kind: str
    filters: int = 0
    size: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    tag: int = 0

    @property
    def padding(self) -> tuple[int, int]:
        """dlib's default padding: none for strided windows, else half the window."""
        return tuple(0 if s != 1 else n // 2 for n, s in zip(self.size, self.stride, strict=True))

    def describe(self) -> str:
        if self.kind == "con":
            return f"con<{self.filters},{self.size[0]}x{self.size[1]},stride {self.stride[0]}>"
        if self.kind in ("max_pool", "avg_pool"):
            return f"{self.kind}<{self.size[0]}x{self.size[1]},stride {self.stride[0]}>"
        if self.kind in ("tag", "skip", "add_prev"):
            return f"{self.kind}{self.tag}"
        if self.kind == "fc":
            return f"fc_no_bias<{self.filters}>"
        return self.kind


@dataclass
class DlibLayer:
    """One layer as read from the file.

    Attributes:
        spec: the expected layer it was checked against.
        version: the details' version string in the file (``con_4``, ``affine_`` ...).
        arrays: parameters. ``con``: ``filters`` (out, in, nr, nc) and ``biases`` (out,);
            ``affine``: ``gamma`` and ``beta`` (k,); ``fc``: ``weights`` (in, out).
        padding: ``(padding_y, padding_x)`` stored in the file (``con`` and pools).
    """

    spec: LayerSpec
    version: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    padding: tuple[int, int] = (0, 0)


@dataclass
class DlibNetwork:
    """A dlib network read from disk.

    Attributes:
        layers: the layers in execution order (input side first), tags and skips included.
        input_means: ``(3,)`` float32 per-channel means, red, green, blue, that
            ``input_rgb_image_sized`` subtracts before dividing by 256.
        input_size: ``(rows, cols)`` the input layer accepts.
        loss: the loss details' version string (``loss_metric_2``).
        margin: the metric loss margin.
        distance_threshold: the metric loss ``dist_thresh``: pairs closer than this are
            the same person.
        sha256: hex digest of the file's bytes.
    """

    layers: list[DlibLayer]
    input_means: np.ndarray
    input_size: tuple[int, int]
    loss: str
    margin: float
    distance_threshold: float
    sha256: str

    @property
    def num_parameters(self) -> int:
        return sum(a.size for layer in self.layers for a in layer.arrays.values())


def resnet_v1_architecture() -> list[LayerSpec]:
    """The layers of ``dlib_face_recognition_resnet_model_v1``, in execution order.

    Transcribed from dlib's ``dnn_face_recognition_ex.cpp``::

        block<N,BN,stride,S>  = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,S>>>>>
        residual<N,S>         = add_prev1<block<N,affine,1,tag1<S>>>
        residual_down<N,S>    = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<S>>>>>>
        ares = relu<residual>, ares_down = relu<residual_down>
        level0 = ares_down<256>; level1 = ares<256> x2 over ares_down<256>;
        level2 = ares<128> x2 over ares_down<128>; level3 = ares<64> x3 over ares_down<64>;
        level4 = ares<32> x3
        net = loss_metric<fc_no_bias<128, avg_pool_everything<level0<level1<level2<
              level3<level4<max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,
              input_rgb_image_sized<150>>>>>>>>>>>>>

    Returns:
        The list, input layer and loss excluded.
    """
    layers = [
        LayerSpec("con", 32, (7, 7), (2, 2)),
        LayerSpec("affine"),
        LayerSpec("relu"),
        LayerSpec("max_pool", size=(3, 3), stride=(2, 2)),
    ]

    def block(n: int, stride: int) -> list[LayerSpec]:
        return [
            LayerSpec("con", n, (3, 3), (stride, stride)),
            LayerSpec("affine"),
            LayerSpec("relu"),
            LayerSpec("con", n, (3, 3), (1, 1)),
            LayerSpec("affine"),
        ]

    def ares(n: int) -> list[LayerSpec]:
        return [
            LayerSpec("tag", tag=1),
            *block(n, 1),
            LayerSpec("add_prev", tag=1),
            LayerSpec("relu"),
        ]

    def ares_down(n: int) -> list[LayerSpec]:
        return [
            LayerSpec("tag", tag=1),
            *block(n, 2),
            LayerSpec("tag", tag=2),
            LayerSpec("skip", tag=1),
            LayerSpec("avg_pool", size=(2, 2), stride=(2, 2)),
            LayerSpec("add_prev", tag=2),
            LayerSpec("relu"),
        ]

    for _ in range(3):
        layers += ares(32)
    for n, repeats in ((64, 3), (128, 2), (256, 2)):
        layers += ares_down(n)
        for _ in range(repeats):
            layers += ares(n)
    layers += ares_down(256)
    layers += [LayerSpec("avg_pool", size=(0, 0), stride=(1, 1)), LayerSpec("fc", 128)]
    return layers


class _Reader:
    """Sequential reader over the file's bytes; every failure names the offset."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.context = "the file header"

    def fail(self, expected: str, found: str) -> ModelAssetError:
        return ModelAssetError(
            f"{self.source} is not dlib's face recognition ResNet: at byte {self.pos} "
            f"({self.context}) expected {expected}, found {found}"
        )

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ModelAssetError(
                f"{self.source} is truncated: at byte {self.pos} ({self.context}) expected "
                f"{n} bytes of {what}, but the file ends at byte {len(self.data)}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def int(self, what: str = "an integer") -> int:
        start = self.pos
        control = self.take(1, what)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.pos = start
            raise self.fail(what, f"control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def expect_int(self, expected: int | tuple[int, ...], what: str) -> int:
        start = self.pos
        value = self.int(what)
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if value not in allowed:
            self.pos = start
            shown = " or ".join(str(v) for v in allowed)
            raise self.fail(f"{what} {shown}", str(value))
        return value

    def bool(self, what: str = "a bool") -> bool:
        start = self.pos
        ch = self.take(1, what)
        if ch not in (b"0", b"1"):
            self.pos = start
            raise self.fail(f"{what} ('0' or '1')", f"byte 0x{ch[0]:02x}")
        return ch == b"1"

    def string(self, what: str = "a string") -> str:
        start = self.pos
        length = self.int(f"the length of {what}")
        if length > 256:
            self.pos = start
            raise self.fail(what, f"a length of {length}")
        raw = self.take(length, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            self.pos = start
            raise self.fail(what, f"non-text bytes {raw[:16]!r}") from None

    def name(self, allowed: tuple[str, ...]) -> str:
        start = self.pos
        found = self.string("a layer name")
        if found not in allowed:
            self.pos = start
            raise self.fail(" or ".join(repr(a) for a in allowed), repr(found))
        return found

    def float(self, what: str = "a float") -> float:
        mantissa = self.int(f"the mantissa of {what}")
        exponent = self.int(f"the exponent of {what}")
        if exponent == _FLOAT_INF:
            return math.inf
        if exponent == _FLOAT_NINF:
            return -math.inf
        if exponent == _FLOAT_NAN:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def tensor(self, what: str) -> np.ndarray:
        self.expect_int(2, f"the version of tensor {what}")
        shape = tuple(self.int(f"a dimension of tensor {what}") for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"non-negative dimensions of {what}", str(shape))
        count = math.prod(shape)
        raw = self.take(4 * count, f"tensor {what} {shape}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self, what: str) -> tuple[int, int, int, int]:
        self.expect_int(1, f"the version of alias tensor {what}")
        return tuple(self.int(f"a dimension of {what}") for _ in range(4))

    def empty_tensor(self, what: str) -> None:
        # Training buffers (gradients, cached outputs) hold nothing we need; read past them.
        self.tensor(what)


def read_dlib_network(
    path: str | os.PathLike, *, architecture: list[LayerSpec] | None = None
) -> DlibNetwork:
    """Read a dlib network file and check it against the expected layers.

    Args:
        path: the ``.dat`` file (``dlib_face_recognition_resnet_model_v1.dat``).
        architecture: the expected layers in execution order; defaults to
            :func:`resnet_v1_architecture`.

    Returns:
        The parsed network with float32 parameters.

    Raises:
        ModelAssetError: the file cannot be read, is truncated, has trailing bytes, or
            holds a layer other than the one expected at that place; the message names the
            byte offset, what was expected and what was found.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelAssetError(f"cannot read dlib network {path}: {exc.strerror}") from None
    return parse_dlib_network(data, architecture=architecture, source=str(path))


def parse_dlib_network(
    data: bytes, *, architecture: list[LayerSpec] | None = None, source: str = "<bytes>"
) -> DlibNetwork:
    """Like :func:`read_dlib_network`, from the file's bytes."""
    specs = architecture if architecture is not None else resnet_v1_architecture()
    r = _Reader(data, source)

    r.context = "add_loss_layer"
    r.expect_int(1, "add_loss_layer version")
    loss = r.name(("loss_metric_2",))
    margin = r.float("the loss margin")
    distance_threshold = r.float("the loss distance threshold")

    # Pass 1: the version numbers, outermost layer first.
    versions: list[int] = [0] * len(specs)
    for i in range(len(specs) - 1, -1, -1):
        spec = specs[i]
        r.context = f"header of layer {i} {spec.describe()}"
        if spec.kind in ("tag", "skip"):
            versions[i] = r.expect_int(1, f"add_{spec.kind}_layer version")
        elif i == 0:
            versions[i] = r.expect_int((2, 3), "add_layer (over the input) version")
        else:
            versions[i] = r.expect_int((1, 2), "add_layer version")
    if specs and specs[0].kind in ("tag", "skip"):
        raise ModelAssetError("a tag or skip right on the input layer is not supported")

    # The input layer.
    r.context = "input layer"
    r.name(("input_rgb_image_sized",))
    means = np.array([r.float(f"the {c} mean") for c in ("red", "green", "blue")], np.float32)
    rows = r.int("the input rows")
    cols = r.int("the input columns")

    # Pass 2: each layer's details and training state, innermost first.
    layers: list[DlibLayer] = []
    for i, spec in enumerate(specs):
        r.context = f"layer {i} {spec.describe()}"
        if spec.kind in ("tag", "skip"):
            layers.append(DlibLayer(spec, f"{spec.kind}{spec.tag}"))
            continue
        layers.append(_read_details(r, spec))
        for flag in ("this_layer_setup_called", "gradient_input_is_stale", "output disabled"):
            r.bool(flag)
        r.empty_tensor("x_grad")
        r.empty_tensor("cached_output")
        if i == 0:
            r.empty_tensor("grad_final")
            if versions[i] == 3:
                r.int("sample_expansion_factor")
        elif versions[i] == 2:
            r.empty_tensor("params_grad")

    if r.pos != len(data):
        r.context = "end of the network"
        raise r.fail("the end of the file", f"{len(data) - r.pos} more bytes")

    _check_shapes(layers, source)
    return DlibNetwork(
        layers=layers,
        input_means=means,
        input_size=(rows, cols),
        loss=loss,
        margin=margin,
        distance_threshold=distance_threshold,
        sha256=hashlib.sha256(data).hexdigest(),
    )


_NAMES = {
    "con": ("con_4", "con_5", "con_6"),
    "affine": ("affine_", "affine_2"),
    "relu": ("relu_", "relu_2"),
    "max_pool": ("max_pool_2",),
    "avg_pool": ("avg_pool_2",),
    "add_prev": ("add_prev_",),
    "fc": ("fc_2", "fc_3"),
}


def _read_details(r: _Reader, spec: LayerSpec) -> DlibLayer:
    version = r.name(_NAMES[spec.kind])
    layer = DlibLayer(spec, version)
    if spec.kind == "con":
        params = r.tensor("con params")
        found = (
            r.int("num_filters"),
            r.int("nr"),
            r.int("nc"),
            r.int("stride_y"),
            r.int("stride_x"),
        )
        expected = (spec.filters, *spec.size, *spec.stride)
        if found != expected:
            raise r.fail(f"con (filters, nr, nc, stride_y, stride_x) {expected}", str(found))
        layer.padding = (r.int("padding_y"), r.int("padding_x"))
        filters = r.alias("filters")
        biases = r.alias("biases")
        for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
            r.float(f"the {what} multiplier")
        use_bias = r.bool("use_bias") if version in ("con_5", "con_6") else True
        if version == "con_6" and r.bool("use_relu"):
            raise r.fail("use_relu false (a plain convolution)", "true")
        n_filt = math.prod(filters)
        n_bias = math.prod(biases) if use_bias else 0
        flat = params.reshape(-1)
        if flat.size != n_filt + n_bias or filters[0] != spec.filters:
            raise r.fail(
                f"{n_filt} + {n_bias} parameters for filters {filters}",
                f"{flat.size} parameters",
            )
        layer.arrays["filters"] = flat[:n_filt].reshape(filters)
        layer.arrays["biases"] = (
            flat[n_filt:].copy() if use_bias else np.zeros(spec.filters, np.float32)
        )
    elif spec.kind == "affine":
        params = r.tensor("affine params").reshape(-1)
        gamma = r.alias("gamma")
        beta = r.alias("beta")
        mode = r.int("the affine mode")
        disabled = r.bool("disabled") if version == "affine_2" else False
        k = math.prod(gamma)
        if mode != 0 or disabled or gamma != beta or gamma[2:] != (1, 1) or params.size != 2 * k:
            raise r.fail(
                "an enabled per-channel affine (CONV_MODE, gamma == beta shape (1,k,1,1))",
                f"mode {mode}, disabled {disabled}, gamma {gamma}, beta {beta}, "
                f"{params.size} parameters",
            )
        layer.arrays["gamma"] = params[:k].copy()
        layer.arrays["beta"] = params[k:].copy()
    elif spec.kind == "relu":
        if version == "relu_2" and r.bool("disabled"):
            raise r.fail("an enabled relu", "a disabled one")
    elif spec.kind in ("max_pool", "avg_pool"):
        found = (r.int("nr"), r.int("nc"), r.int("stride_y"), r.int("stride_x"))
        expected = (*spec.size, *spec.stride)
        if found != expected:
            raise r.fail(f"{spec.kind} (nr, nc, stride_y, stride_x) {expected}", str(found))
        layer.padding = (r.int("padding_y"), r.int("padding_x"))
    elif spec.kind == "fc":
        num_outputs = r.int("num_outputs")
        num_inputs = r.int("num_inputs")
        params = r.tensor("fc params")
        weights = r.alias("weights")
        r.alias("biases")
        bias_mode = r.int("bias_mode")
        for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
            r.float(f"the {what} multiplier")
        if version == "fc_3":
            r.bool("use_bias")
        # FC_NO_BIAS == 1: the embedding layer has no bias vector.
        if num_outputs != spec.filters or bias_mode != 1 or params.size != num_inputs * num_outputs:
            raise r.fail(
                f"fc_no_bias with {spec.filters} outputs",
                f"{num_outputs} outputs, bias_mode {bias_mode}, {params.size} parameters",
            )
        layer.arrays["weights"] = params.reshape(num_inputs, num_outputs)
        del weights
    return layer


def _check_shapes(layers: list[DlibLayer], source: str) -> None:
    """Channel counts must chain from layer to layer (3 -> 32 -> ... -> 256 -> fc).

    A residual add's output has the block's channel count (the shortcut is never wider),
    so following the convolutions is enough.
    """
    channels = 3
    for i, layer in enumerate(layers):
        if layer.spec.kind == "con":
            filt = layer.arrays["filters"]
            if filt.shape[1] != channels:
                raise ModelAssetError(
                    f"{source}: layer {i} {layer.spec.describe()} expects {channels} input "
                    f"channels, its filters have shape {filt.shape}"
                )
            channels = filt.shape[0]
        elif layer.spec.kind == "affine":
            if layer.arrays["gamma"].size != channels:
                raise ModelAssetError(
                    f"{source}: layer {i} affine has {layer.arrays['gamma'].size} channels, "
                    f"expected {channels}"
                )
        elif layer.spec.kind == "fc":
            # avg_pool_everything leaves one value per channel for the fc layer.
            if layer.arrays["weights"].shape[0] != channels:
                raise ModelAssetError(
                    f"{source}: fc has {layer.arrays['weights'].shape[0]} inputs, "
                    f"expected {channels}"
                )
