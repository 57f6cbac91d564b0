"""dlib's metric-learned face ResNet rebuilt in Keras 3, layer for layer.

Only Keras layers and ``keras.ops`` are used, so the same model runs on the TensorFlow,
JAX and PyTorch backends (``KERAS_BACKEND``). The layers follow
:func:`workbench.embed.dlib_format.resnet_v1_architecture` one to one:

- input: ``(N, 150, 150, 3)`` RGB 0..255 (uint8 or float); :class:`DlibInputNormalization`
  does what dlib's ``input_rgb_image_sized`` does, ``(pixel - channel_mean) / 256``.
- ``con``: ``Conv2D`` with dlib's padding (stride-2 convolutions and pools unpadded,
  stride-1 ``3x3`` padded by one), bias on.
- ``affine``: :class:`Affine`, per-channel ``x * gamma + beta`` (dlib's batch norm frozen).
- residual adds: :class:`ZeroPadAdd`. dlib's ``add_prev_`` adds tensors of different
  channel counts and sizes by zero-padding both to the larger at the end (bottom, right,
  last channels); in this network the down-sampling shortcut has half the channels in
  three places and is 4x4 against the block's 3x3 once (level 1) and 2x2 against 1x1 once
  (level 0).
- ``avg_pool_everything`` then ``fc_no_bias<128>``: global average pooling and a
  128-unit ``Dense`` without bias.

Converting the ``.dat`` file takes about a second; the converted weights are cached as
``<cache>/dlib_resnet_v1-<sha256 prefix>.weights.h5`` so later starts only load them.

Example:
    >>> model = load_resnet()  # doctest: +SKIP
    >>> model(chips).shape  # (N, 128)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from workbench.embed.dlib_format import (
    DlibNetwork,
    LayerSpec,
    read_dlib_network,
    resnet_v1_architecture,
)
from workbench.errors import ModelAssetError
from workbench.native_logs import quiet_native_logs

# TensorFlow, under Keras, logs oneDNN and CPU-feature lines to fd 2 as it imports.
with quiet_native_logs():
    import keras
    from keras import layers, ops

#: Chip side length the network was trained on.
CHIP_SIZE = 150
#: Embedding width.
EMBEDDING_DIM = 128
#: dlib's per-channel means (red, green, blue) in ``dlib_face_recognition_resnet_model_v1``;
#: the model is built with these and the converted weights carry the file's own values.
DLIB_MEANS = (122.782, 117.001, 104.298)
#: Asset name of the weights in :mod:`workbench.assets`.
ASSET_NAME = "dlib_resnet_v1"


@keras.saving.register_keras_serializable(package="workbench")
class DlibInputNormalization(layers.Layer):
    """``(x - mean) / 256`` per channel, as dlib's ``input_rgb_image_sized``.

    Input ``(N, H, W, 3)`` RGB in 0..255, any numeric dtype; output float32. The means are
    a non-trainable weight so they travel with the saved weights.
    """

    def __init__(self, means=DLIB_MEANS, **kwargs):
        super().__init__(**kwargs)
        self.initial_means = tuple(float(m) for m in means)

    def build(self, input_shape):
        self.means = self.add_weight(
            name="means",
            shape=(3,),
            initializer=keras.initializers.Constant(self.initial_means),
            trainable=False,
        )

    def call(self, x):
        # Subtract in float32 then divide by 256 (exact in binary), the same arithmetic
        # dlib does, so the first layer sees bit-identical inputs.
        x = ops.cast(x, "float32")
        return (x - ops.cast(self.means, "float32")) / 256.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "means": self.initial_means}


@keras.saving.register_keras_serializable(package="workbench")
class Affine(layers.Layer):
    """Per-channel ``x * gamma + beta`` on the last axis (dlib's ``affine_`` in conv mode)."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        return x * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="workbench")
class ZeroPadAdd(layers.Layer):
    """Add two ``(N, H, W, C)`` tensors the way dlib's ``add_prev_`` does.

    The output has the larger height, width and channel count of the two; each input is
    zero-padded at the end of every axis (bottom rows, right columns, last channels) up to
    that size before the sum. Shapes are static, so the padding is decided when built.
    """

    def call(self, inputs):
        a, b = inputs
        target = [max(da, db) for da, db in zip(a.shape[1:], b.shape[1:], strict=True)]
        return self._pad(a, target) + self._pad(b, target)

    @staticmethod
    def _pad(x, target):
        pads = [(0, t - s) for s, t in zip(x.shape[1:], target, strict=True)]
        if not any(p[1] for p in pads):
            return x
        return ops.pad(x, [(0, 0), *pads])

    def compute_output_shape(self, input_shapes):
        a, b = input_shapes
        return (a[0], *[max(da, db) for da, db in zip(a[1:], b[1:], strict=True)])


@keras.saving.register_keras_serializable(package="workbench")
class EuclideanDistance(layers.Layer):
    """``||a - b||_2`` along the last axis: ``(N, D), (N, D) -> (N,)`` (the Siamese head)."""

    def call(self, inputs):
        a, b = inputs
        return ops.sqrt(ops.sum(ops.square(a - b), axis=-1))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][:-1]


def build_resnet(
    *,
    means=DLIB_MEANS,
    architecture: list[LayerSpec] | None = None,
    fold_affine: bool = False,
    name: str = "dlib_resnet_v1",
) -> keras.Model:
    """Build the network with untrained weights.

    Args:
        means: red, green, blue means of the input normalisation.
        architecture: layers in execution order; defaults to dlib's ResNet v1.
        fold_affine: leave out the ``Affine`` layers that directly follow a convolution
            (inference only; see :func:`fold_affine_layers`).
        name: the model's name.

    Returns:
        A functional ``keras.Model``: ``(N, 150, 150, 3)`` RGB 0..255 -> ``(N, 128)``
        float32. Layer names follow the architecture (``con_0``, ``affine_0``, ...), in the
        same order as :attr:`DlibNetwork.layers`, so weights map by position.
    """
    specs = architecture if architecture is not None else resnet_v1_architecture()
    inputs = keras.Input(shape=(CHIP_SIZE, CHIP_SIZE, 3), name="chips")
    x = DlibInputNormalization(means, name="input_normalization")(inputs)
    tags: dict[int, object] = {}
    counts: dict[str, int] = {}

    def next_name(kind: str) -> str:
        counts[kind] = counts.get(kind, 0) + 1
        return f"{kind}_{counts[kind] - 1}"

    previous = None
    for spec in specs:
        if spec.kind == "tag":
            tags[spec.tag] = x
        elif spec.kind == "skip":
            x = tags[spec.tag]
        elif spec.kind == "con":
            name_ = next_name("con")
            pad = spec.padding
            if pad == (0, 0):
                padding = "valid"
            elif spec.stride == (1, 1) and pad == (spec.size[0] // 2, spec.size[1] // 2):
                # Odd window, stride 1, half-window padding: exactly Keras's "same".
                padding = "same"
            else:
                x = layers.ZeroPadding2D(pad, name=f"{name_}_pad")(x)
                padding = "valid"
            x = layers.Conv2D(
                spec.filters, spec.size, strides=spec.stride, padding=padding, name=name_
            )(x)
        elif spec.kind == "affine":
            layer_name = next_name("affine")
            if not (fold_affine and previous == "con"):
                x = Affine(name=layer_name)(x)
        elif spec.kind == "relu":
            x = layers.ReLU(name=next_name("relu"))(x)
        elif spec.kind == "max_pool":
            x = layers.MaxPooling2D(
                spec.size, strides=spec.stride, padding="valid", name=next_name("max_pool")
            )(x)
        elif spec.kind == "avg_pool":
            if spec.size == (0, 0):
                x = layers.GlobalAveragePooling2D(name=next_name("avg_pool_everything"))(x)
            else:
                x = layers.AveragePooling2D(
                    spec.size, strides=spec.stride, padding="valid", name=next_name("avg_pool")
                )(x)
        elif spec.kind == "add_prev":
            x = ZeroPadAdd(name=next_name("add_prev"))([x, tags[spec.tag]])
        elif spec.kind == "fc":
            x = layers.Dense(spec.filters, use_bias=False, name=next_name("fc"))(x)
        else:  # pragma: no cover - the architecture only holds the kinds above
            raise ValueError(f"unknown layer kind {spec.kind!r}")
        previous = spec.kind
    return keras.Model(inputs, x, name=name)


def fold_affine_layers(model: keras.Model) -> keras.Model:
    """An inference copy of ``model`` with each conv's following affine folded into it.

    ``(x * W + b) * gamma + beta == x * (W * gamma) + (b * gamma + beta)``: one layer
    instead of two, so the backend fuses convolution, bias and ReLU in one kernel. The
    result differs from the layer-for-layer model by float rounding only (about 1e-7).

    Args:
        model: a model from :func:`build_resnet` with weights set.

    Returns:
        A new model; ``model`` is unchanged and stays the one to train.
    """
    means = model.get_layer("input_normalization").get_weights()[0]
    folded = build_resnet(means=means, fold_affine=True, name=f"{model.name}_folded")
    for layer in folded.layers:
        if not layer.weights or layer.name == "input_normalization":
            continue
        values = model.get_layer(layer.name).get_weights()
        if layer.name.startswith("con_"):
            index = int(layer.name.split("_")[1])
            # In this architecture con_i is always followed by affine_i.
            gamma, beta = model.get_layer(f"affine_{index}").get_weights()
            kernel, bias = values
            values = [kernel * gamma, bias * gamma + beta]
        layer.set_weights(values)
    return folded


def set_dlib_weights(model: keras.Model, net: DlibNetwork) -> None:
    """Copy a parsed dlib network's parameters into a model from :func:`build_resnet`.

    dlib stores convolution filters as ``(out, in, rows, cols)`` and applies them as a
    cross-correlation, as Keras does; Keras wants ``(rows, cols, in, out)``.

    Raises:
        ModelAssetError: the model's layers do not match the network's.
    """
    model.get_layer("input_normalization").set_weights([net.input_means])
    counts: dict[str, int] = {}
    for layer in net.layers:
        kind = layer.spec.kind
        if kind not in ("con", "affine", "fc"):
            continue
        counts[kind] = counts.get(kind, 0) + 1
        target = model.get_layer(f"{kind}_{counts[kind] - 1}")
        if kind == "con":
            kernel = np.transpose(layer.arrays["filters"], (2, 3, 1, 0))
            values = [kernel, layer.arrays["biases"]]
        elif kind == "affine":
            values = [layer.arrays["gamma"], layer.arrays["beta"]]
        else:
            values = [layer.arrays["weights"]]
        expected = [tuple(w.shape) for w in target.weights]
        if [v.shape for v in values] != expected:
            raise ModelAssetError(
                f"layer {target.name}: the model expects weights {expected}, the dlib file "
                f"has {[v.shape for v in values]}"
            )
        target.set_weights(values)


def weights_cache_path(sha256: str, *, cache: str | os.PathLike | None = None) -> Path:
    """Where the converted weights of the ``.dat`` file with this sha256 are cached."""
    if cache is None:
        from workbench.assets import cache_dir

        cache = cache_dir()
    return Path(cache) / f"{ASSET_NAME}-{sha256[:16]}.weights.h5"


def load_resnet(
    dat_path: str | os.PathLike | None = None,
    *,
    sha256: str | None = None,
    cache: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> keras.Model:
    """The network with dlib's trained weights, from the cache or converted from ``.dat``.

    Args:
        dat_path: dlib's ``dlib_face_recognition_resnet_model_v1.dat``; defaults to the
            verified asset ``dlib_resnet_v1`` from :mod:`workbench.assets`.
        sha256: the file's sha256 if already known (skips hashing it again).
        cache: the cache folder; defaults to :func:`workbench.assets.cache_dir`.
        use_cache: read and write the converted ``.weights.h5``.

    Returns:
        A ``keras.Model`` mapping ``(N, 150, 150, 3)`` RGB 0..255 to ``(N, 128)`` float32.

    Raises:
        ModelAssetError: the ``.dat`` file is missing, corrupt or another network.
    """
    if dat_path is None:
        from workbench.assets import ASSETS, asset_path

        dat_path = asset_path(ASSET_NAME)
        sha256 = sha256 or ASSETS[ASSET_NAME].sha256
    dat_path = Path(dat_path)
    if sha256 is None:
        from workbench.files import sha256_file

        try:
            sha256 = sha256_file(dat_path)
        except OSError as exc:
            raise ModelAssetError(f"cannot read dlib network {dat_path}: {exc.strerror}") from None

    target = weights_cache_path(sha256, cache=cache) if use_cache else None
    if target is not None and target.is_file():
        model = build_resnet()
        try:
            model.load_weights(target)
            return model
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
            target.unlink(missing_ok=True)

    net = read_dlib_network(dat_path)
    model = build_resnet(means=net.input_means)
    set_dlib_weights(model, net)
    if target is not None:
        _save_weights_atomic(model, target)
    return model


def _save_weights_atomic(model: keras.Model, target: Path) -> None:
    """Write ``.weights.h5`` beside ``target`` under a temporary name, then rename.

    A failure to write (read-only cache, full disk) is not fatal: the model is in memory.
    """
    from workbench.files import atomic_path

    try:
        with atomic_path(target, suffix=".weights.h5") as tmp, warnings.catch_warnings():
            # Keras's TensorFlow backend converts variables with np.array(x), which numpy 2
            # flags for TF's __array__; harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save_weights(tmp, overwrite=True)
    except OSError:
        pass
