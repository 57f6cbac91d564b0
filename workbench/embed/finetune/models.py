"""The trainable parts and the twin network around them: a projection head that starts as
the identity, a copy of the ResNet's last stage, and the Siamese (or triplet) model."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from workbench.embed.embedder import EMBEDDING_DIM

#: The layer whose output enters the last residual stage of dlib's ResNet.
LAST_STAGE_INPUT = "relu_26"


@keras.saving.register_keras_serializable(package="workbench")
class SafeEuclideanDistance(keras.layers.Layer):
    """``||a - b||`` along the last axis, with a floor under the square root so that a
    zero distance (the same image twice) has a finite gradient: ``(N, D), (N, D) -> (N,)``.
    """

    def call(self, inputs):
        a, b = inputs
        return ops.sqrt(ops.maximum(ops.sum(ops.square(a - b), axis=-1), 1e-12))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0][:-1]


def build_head(*, dim: int = EMBEDDING_DIM, hidden: int = 256, name: str = "siamese_head"):
    """The projection head: ``y = W x + b + V relu(U x + c)``, starting as ``y = x``.

    ``W`` starts as the identity and ``V`` at zero, so before training the head returns
    the base embedding unchanged and fine-tuning starts from the base model's accuracy.
    ``hidden=0`` leaves out the MLP: a linear map (a learned Mahalanobis metric).

    Returns:
        A ``keras.Model`` ``(N, dim) -> (N, dim)``.
    """
    from keras import layers

    x = keras.Input((dim,), name="embedding")
    y = layers.Dense(dim, kernel_initializer=keras.initializers.Identity(), name="projection")(x)
    if hidden:
        h = layers.Dense(hidden, activation="relu", name="hidden")(x)
        residual = layers.Dense(dim, kernel_initializer="zeros", name="residual")(h)
        y = layers.Add(name="head_embedding")([y, residual])
    return keras.Model(x, y, name=name)


def build_last_stage(base_model):
    """A trainable copy of the base ResNet's last residual stage and ``fc``.

    Args:
        base_model: the layer-for-layer model (``Embedder.model``); it is not changed (the
            copy has its own weights).

    Returns:
        A ``keras.Model`` ``(N, 4, 4, 256)`` (the output of :data:`LAST_STAGE_INPUT`) ->
        ``(N, 128)``.
    """

    from workbench.embed.resnet import build_resnet

    means = base_model.get_layer("input_normalization").get_weights()[0]
    clone = build_resnet(means=means, name="dlib_resnet_v1_finetune")
    clone.set_weights(base_model.get_weights())
    tail = keras.Model(clone.get_layer(LAST_STAGE_INPUT).output, clone.output, name="last_stage")
    return tail


def twin_model(tower, *, triplet: bool = False):
    """Twin (or triplet) towers sharing ``tower``'s weights, for training and plotting.

    Returns:
        Inputs ``a, b`` -> ``(N,)`` distances; with ``triplet``, inputs ``anchor,
        positive, negative`` -> ``(N, 2)`` distances ``d(a, p), d(a, n)``.
    """

    distance = SafeEuclideanDistance
    shape = tuple(tower.input.shape[1:])
    if not triplet:
        a = keras.Input(shape, name="a")
        b = keras.Input(shape, name="b")
        d = distance(name="distance")([tower(a), tower(b)])
        return keras.Model([a, b], d, name="siamese")
    a = keras.Input(shape, name="anchor")
    p = keras.Input(shape, name="positive")
    n = keras.Input(shape, name="negative")
    ea, ep, en = tower(a), tower(p), tower(n)
    dist = distance(name="distances")
    d = keras.layers.Concatenate(name="d_ap_an")(
        [keras.ops.expand_dims(dist([ea, ep]), -1), keras.ops.expand_dims(dist([ea, en]), -1)]
    )
    return keras.Model([a, p, n], d, name="siamese_triplet")


def stage_inputs(trunk, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """``(N, 4, 4, 256)`` float32: the trunk's output for these chips, in batches."""
    from workbench.embed.embedder import check_chips

    chips = check_chips(chips)
    return forward(trunk, chips, batch_size)


def forward(model, x: np.ndarray, batch_size: int) -> np.ndarray:

    outs = [
        ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
        for i in range(0, len(x), batch_size)
    ]
    if not outs:
        return np.empty((0, *model.output.shape[1:]), np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)


def head_hidden(tower) -> int:
    """The hidden width of a :func:`build_head` tower (0 when it is linear)."""
    names = {layer.name for layer in tower.layers}
    return int(tower.get_layer("hidden").units) if "hidden" in names else 0
