"""The embedder: aligned face chips in, 128-D embeddings out.

:class:`Embedder` runs dlib's ResNet. The Keras model from :mod:`workbench.embed.resnet`
is its definition and its training path; inference runs, by default, the same layers as
an ONNX graph in ONNX Runtime (:mod:`workbench.embed.onnx_runner`), which needs no
TensorFlow and so starts in well under a second instead of 5-10 s. ``runtime="keras"``
runs the Keras model instead (a GPU, long bulk runs). Either loads lazily, once, behind
a lock.

On the Keras runtime, inference goes through one compiled function per
backend (``tf.function`` on TensorFlow, ``jax.jit`` on JAX, ``torch.inference_mode`` on
PyTorch) instead of ``Model.predict``, whose per-call setup costs more than a small batch.

Batches are padded up to a power of two (at most ``batch_size``) so the compiled function
sees only a handful of shapes and never retraces for each new face count.

Example:
    >>> with Embedder() as embedder:  # doctest: +SKIP
    ...     vectors = embedder.embed(chips)  # (N, 150, 150, 3) uint8 -> (N, 128) float32
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from workbench.errors import InvalidArgumentError, InvalidImageError, ModelAssetError

#: Chip shape the embedder accepts: 150 x 150 RGB.
CHIP_SHAPE = (150, 150, 3)
#: Width of one embedding.
EMBEDDING_DIM = 128


@runtime_checkable
class FaceEmbedder(Protocol):
    """What the pipeline, the gallery and the panels need of an embedder: :class:`Embedder`
    and :class:`workbench.embed.finetune.FineTunedEmbedder` both are one."""

    @property
    def model_id(self) -> str:
        """Names the weights; a gallery only holds one model's embeddings."""
        ...

    def embed(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """``(N, 150, 150, 3)`` uint8 aligned chips -> ``(N, 128)`` float32."""
        ...


#: Euclidean distance below which two embeddings are taken as the same person. dlib's
#: value for this network (the ``dist_thresh`` of its metric loss, and face_recognition's
#: ``tolerance``); the LFW evaluation (``workbench eval lfw``) calibrates its own.
DEFAULT_THRESHOLD = 0.6


#: Inference runtimes of :class:`Embedder`.
RUNTIMES = ("onnx", "keras")


class Embedder:
    """Face chips to embeddings with dlib's ResNet (defined in Keras).

    Args:
        weights: dlib's ``.dat`` file; defaults to the verified ``dlib_resnet_v1`` asset.
        runtime: ``"onnx"`` (default): ONNX Runtime on a graph written from the weights,
            no TensorFlow; ``"keras"``: the Keras model on its backend. Both agree with
            dlib within 1e-6 (``tests/embed/test_resnet.py``). :attr:`model` is the
            Keras model whatever the runtime.
        jit_compile: (keras runtime) compile with XLA on TensorFlow. ``None`` picks per
            backend: off on TensorFlow CPU (oneDNN's convolutions are faster there), on
            elsewhere.
        fold_affine: (keras runtime) run an inference copy with each affine folded into
            the convolution before it (see :func:`workbench.embed.resnet.fold_affine_layers`);
            ``False`` runs the layer-for-layer model. The ONNX graph is always folded.
        cache: folder for the converted ``.weights.h5`` / ``.onnx``; defaults to the
            assets cache.

    Raises:
        ValueError: an unknown ``runtime``, listing the valid ones.

    The object is cheap to create; the model loads on the first :meth:`embed` (or
    :meth:`load`). It is safe to call from several threads; calls run one at a time.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        runtime: str = "onnx",
        jit_compile: bool | None = None,
        fold_affine: bool = True,
        cache: str | os.PathLike | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise InvalidArgumentError(
                f"unknown embedder runtime {runtime!r}; valid: {list(RUNTIMES)}"
            )
        self.runtime = runtime
        self._weights = Path(weights) if weights is not None else None
        self._jit_compile = jit_compile
        self._fold_affine = fold_affine
        self._cache = cache
        self._lock = threading.RLock()
        self._model = None  # the layer-for-layer model
        self._predict: Callable[[np.ndarray], np.ndarray] | None = None
        self._sha256: str | None = None
        self._closed = False

    # -- identity ---------------------------------------------------------------------

    @property
    def sha256(self) -> str:
        """sha256 of the weights file (hashes a custom file on first use)."""
        if self._sha256 is None:
            if self._weights is None:
                from workbench.assets import ASSETS

                self._sha256 = ASSETS["dlib_resnet_v1"].sha256
            else:
                from workbench.files import sha256_file

                try:
                    self._sha256 = sha256_file(self._weights)
                except OSError as exc:
                    raise ModelAssetError(
                        f"cannot read embedder weights {self._weights}: {exc.strerror}"
                    ) from None
        return self._sha256

    @property
    def model_id(self) -> str:
        """``dlib_resnet_v1-<first 12 hex digits of the weights' sha256>``.

        Galleries store it, so embeddings of different weights are never compared.
        """
        return f"dlib_resnet_v1-{self.sha256[:12]}"

    @property
    def model(self):
        """The layer-for-layer ``keras.Model`` (loads it, and Keras, if needed); train
        this one.

        Inference runs the ONNX graph, or on the keras runtime a folded copy
        (``fold_affine``) built from this model at load time.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this Embedder is closed")
            if self._model is None:
                from workbench.embed.resnet import load_resnet

                self._model = load_resnet(self._weights, sha256=self.sha256, cache=self._cache)
            return self._model

    # -- lifecycle ----------------------------------------------------------------------

    def load(self) -> Embedder:
        """Load the model now instead of on the first :meth:`embed`.

        Raises:
            ModelAssetError: the weights are missing or not dlib's ResNet.
            RuntimeError: the embedder was closed.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("this Embedder is closed")
            if self._predict is None and self.runtime == "onnx":
                from workbench.embed.onnx_runner import OnnxResnet

                self._predict = OnnxResnet(self._weights, sha256=self.sha256, cache=self._cache)
            elif self._predict is None:
                from workbench.embed.resnet import fold_affine_layers

                model = self.model
                runner = fold_affine_layers(model) if self._fold_affine else model
                self._predict = _compile_predict(runner, jit_compile=self._jit_compile)
        return self

    def close(self) -> None:
        """Drop the model; a closed embedder refuses further calls."""
        with self._lock:
            self._model = None
            self._predict = None
            self._closed = True

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- work ---------------------------------------------------------------------------

    def embed(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Embed aligned face chips.

        Args:
            chips: ``(N, 150, 150, 3)`` uint8 RGB, aligned as by :func:`workbench.align`.
            batch_size: faces per forward pass (memory vs. throughput).

        Returns:
            ``(N, 128)`` float32 embeddings; compare with Euclidean distance.

        Raises:
            InvalidImageError: chips of another shape or dtype.
            InvalidArgumentError: ``batch_size`` below 1.
        """
        chips = check_chips(chips)
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        n = len(chips)
        out = np.empty((n, EMBEDDING_DIM), np.float32)
        if n == 0:
            return out
        self.load()
        with self._lock:
            if self._predict is None:
                raise RuntimeError("this Embedder is closed")
            for start in range(0, n, batch_size):
                batch = chips[start : start + batch_size]
                # Padding bounds the Keras backends' retracing; ONNX Runtime needs none.
                padded = _pad_batch(batch, batch_size) if self.runtime == "keras" else batch
                out[start : start + len(batch)] = self._predict(padded)[: len(batch)]
        return out

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("loaded" if self._predict is not None else "lazy")
        return f"Embedder({self._weights or 'dlib_resnet_v1'}, runtime={self.runtime}, {state})"


def check_chips(chips) -> np.ndarray:
    """Validate a chip batch: ``(N, 150, 150, 3)`` uint8.

    Raises:
        InvalidImageError: not an array of that shape and dtype.
    """
    if not isinstance(chips, np.ndarray):
        raise InvalidImageError(
            "chips must be a numpy array of shape (N, 150, 150, 3) uint8, "
            f"got {type(chips).__name__}"
        )
    if chips.ndim != 4 or chips.shape[1:] != CHIP_SHAPE:
        hint = " (one chip? use chips[None])" if chips.shape == CHIP_SHAPE else ""
        raise InvalidImageError(f"chips must have shape (N, 150, 150, 3), got {chips.shape}{hint}")
    if chips.dtype != np.uint8:
        raise InvalidImageError(f"chips must be uint8 RGB 0..255, got dtype {chips.dtype}")
    return np.ascontiguousarray(chips)


def _pad_batch(batch: np.ndarray, batch_size: int) -> np.ndarray:
    """Pad to the next power of two (capped at ``batch_size``) to bound recompilations."""
    n = len(batch)
    size = min(batch_size, 1 << (n - 1).bit_length())
    if size == n:
        return batch
    pad = np.zeros((size - n, *batch.shape[1:]), batch.dtype)
    return np.concatenate([batch, pad])


def _compile_predict(model, *, jit_compile: bool | None) -> Callable[[np.ndarray], np.ndarray]:
    """One compiled forward function for the active Keras backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if jit_compile is None:
            jit_compile = bool(tf.config.list_physical_devices("GPU"))
        fn = tf.function(
            lambda x: model(x, training=False), jit_compile=jit_compile, reduce_retracing=False
        )

        def predict(x: np.ndarray) -> np.ndarray:
            return fn(tf.constant(x)).numpy()

        return predict
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def forward(tv, ntv, x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        def predict(x: np.ndarray) -> np.ndarray:
            return np.asarray(forward(trainable, non_trainable, x))

        return predict
    if backend == "torch":
        import torch

        device = next(iter(model.parameters())).device if list(model.parameters()) else "cpu"

        def predict(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                y = model(torch.from_numpy(x).to(device), training=False)
            return y.detach().cpu().numpy()

        return predict

    def predict(x: np.ndarray) -> np.ndarray:  # any other backend: Keras's own path
        return np.asarray(model.predict_on_batch(x))

    return predict


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder with the default weights (created once, loaded lazily)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Embedder()
        return _default
