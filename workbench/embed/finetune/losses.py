"""The contrastive and triplet losses, in ``keras.ops`` (any backend) for training and in
numpy for scoring the validation pairs."""

from __future__ import annotations

import numpy as np
from keras import ops

from workbench.embed.finetune.config import DEFAULT_MARGINS


def contrastive_loss(same, distances, *, margin: float = DEFAULT_MARGINS["contrastive"]):
    """Hadsell, Chopra and LeCun's contrastive loss, averaged over pairs.

    ``same * d**2 + (1 - same) * max(margin - d, 0)**2``: genuine pairs are pulled
    together, impostor pairs pushed beyond ``margin``.

    Args:
        same: ``(N,)`` 1 for a genuine pair, 0 for an impostor pair.
        distances: ``(N,)`` Euclidean distances.
        margin: distance beyond which impostors cost nothing.

    Returns:
        A scalar tensor (``keras.ops``; any backend).
    """

    same = ops.cast(ops.reshape(same, (-1,)), "float32")
    d = ops.cast(ops.reshape(distances, (-1,)), "float32")
    pos = same * ops.square(d)
    neg = (1.0 - same) * ops.square(ops.relu(margin - d))
    return ops.mean(pos + neg)


def triplet_loss(d_positive, d_negative, *, margin: float = DEFAULT_MARGINS["triplet"]):
    """The triplet loss on Euclidean distances, averaged over triplets.

    ``max(d(a, p) - d(a, n) + margin, 0)``. Distances rather than squared distances, so
    the margin is in the same unit as the verification threshold.

    Returns:
        A scalar tensor (``keras.ops``; any backend).
    """

    dp = ops.cast(ops.reshape(d_positive, (-1,)), "float32")
    dn = ops.cast(ops.reshape(d_negative, (-1,)), "float32")
    return ops.mean(ops.relu(dp - dn + margin))


def keras_loss(kind: str, margin: float):
    """A ``(y_true, y_pred) -> scalar`` function for ``Model.compile``."""
    if kind == "contrastive":

        def loss(y_true, y_pred):
            return contrastive_loss(y_true, y_pred, margin=margin)

    else:

        def loss(y_true, y_pred):  # y_true is a dummy; y_pred (N, 2): d(a, p), d(a, n)
            return triplet_loss(y_pred[:, 0], y_pred[:, 1], margin=margin)

    loss.__name__ = f"{kind}_loss"
    return loss


def np_contrastive(same: np.ndarray, d: np.ndarray, margin: float) -> float:
    same = same.astype(np.float64)
    return float(np.mean(same * d**2 + (1 - same) * np.maximum(margin - d, 0.0) ** 2))


def np_triplet_from_pairs(d: np.ndarray, same: np.ndarray, margin: float) -> float:
    """Validation triplet loss from the fixed validation pairs: the k-th genuine distance
    against the k-th impostor distance (both drawn at random, so a fair pairing)."""
    dp, dn = d[same], d[~same]
    n = min(len(dp), len(dn))
    return float(np.mean(np.maximum(dp[:n] - dn[:n] + margin, 0.0)))
