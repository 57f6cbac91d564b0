"""Run dlib's ResNet with ONNX Runtime: the embedder's default inference, no TensorFlow.

Why: Keras here runs on TensorFlow, whose import alone takes 5-10 s on two cores, so a
one-photo ``workbench recognize`` spent most of its 14.5 s starting TensorFlow. ONNX
Runtime imports in about 0.3 s and opens this graph in under 0.1 s. Measured in one run on
the shared 2-core machine (``benchmarks/startup.py``, docs/benchmarks/startup.md): at
batch 1 it is about as fast as the TensorFlow path, at batch 32 about 1.7x slower, so
for a few thousand faces or fewer the start-up it saves is larger than the compute it
costs; ``Embedder(runtime="keras")`` is the explicit choice for long bulk runs and the
path for training and GPUs.

The graph (:func:`workbench.embed.onnx_graph.resnet_onnx`) is written from the parsed
``.dat`` file and cached as ``<cache>/dlib_resnet_v1-<sha256 prefix>.g<version>.onnx``
(keyed by the source's sha256 and the graph writer's version; written atomically; a
damaged file is rebuilt, never trusted; never committed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workbench.errors import ModelAssetError

#: Bumped whenever :mod:`workbench.embed.onnx_graph` writes a different graph, so a
#: cached file from an older writer is not used.
GRAPH_VERSION = 1


def onnx_cache_path(sha256: str, *, cache: str | os.PathLike | None = None) -> Path:
    """Where the ONNX graph of the ``.dat`` file with this sha256 is cached."""
    if cache is None:
        from workbench.assets import cache_dir

        cache = cache_dir()
    # Named like resnet.weights_cache_path's file (importing resnet would import Keras).
    return Path(cache) / f"dlib_resnet_v1-{sha256[:16]}.g{GRAPH_VERSION}.onnx"


class OnnxResnet:
    """A callable ``(N, 150, 150, 3)`` uint8/float RGB -> ``(N, 128)`` float32.

    Args:
        dat_path: dlib's ``.dat`` file, read only when the graph is not cached;
            ``None``: the verified ``dlib_resnet_v1`` asset.
        sha256: that file's sha256 (the cache key).
        cache: cache folder; defaults to the assets cache.

    Raises:
        ModelAssetError: onnxruntime is missing, or the weights cannot be converted.
    """

    def __init__(
        self, dat_path: Path | None, *, sha256: str, cache: str | os.PathLike | None = None
    ) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelAssetError(
                "the embedder's default runtime needs onnxruntime (pip install onnxruntime), "
                'or use Embedder(runtime="keras")'
            ) from exc
        self._ort = onnxruntime
        target = onnx_cache_path(sha256, cache=cache)
        session = None
        if target.is_file():
            try:
                session = self._session(target.read_bytes())
            except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
                target.unlink(missing_ok=True)
        if session is None:
            data = build_onnx(dat_path)
            session = self._session(data)
            _write_atomic(target, data)
        self._session_ = session
        self._input = session.get_inputs()[0].name

    def _session(self, data: bytes):
        options = self._ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings would reach the user
        # Idle worker threads sleep instead of spinning: on two cores shared with the
        # detector, other threads and other processes, spinning cost 1.5-3x in faces/s
        # (measured side by side at load 7-8: 93-119 vs 136-351 faces/s at batch 1).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return self._ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(chips, np.float32)
        return self._session_.run(None, {self._input: x})[0]


def build_onnx(dat_path: str | os.PathLike | None) -> bytes:
    """The ONNX graph of a dlib ``.dat`` file (about 0.4 s); ``None``: the default asset.

    Raises:
        ModelAssetError: the file is missing, corrupt or another network.
    """
    from workbench.embed.dlib_format import read_dlib_network
    from workbench.embed.onnx_graph import resnet_onnx

    if dat_path is None:
        from workbench.assets import asset_path

        dat_path = asset_path("dlib_resnet_v1")
    return resnet_onnx(read_dlib_network(dat_path))


def _write_atomic(target: Path, data: bytes) -> None:
    """Cache the graph; a read-only cache or a full disk is not fatal (it is in memory)."""
    from workbench.files import atomic_write_bytes

    try:
        atomic_write_bytes(target, data)
    except OSError:
        pass
