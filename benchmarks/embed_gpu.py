"""Embedding throughput on a GPU with Keras's JAX backend (or PyTorch where JAX is absent).

GPU machines often have JAX or PyTorch and no TensorFlow; the Keras model uses Keras
layers and ``keras.ops`` only, so it runs there unchanged. Weights come from the cached
``.weights.h5`` (needs h5py) or, without h5py, straight from dlib's ``.dat`` through the
numpy-only reader. Measures faces/s at one large batch for:

1. float32 chips already on the device (the figure a random-weight net was measured at);
2. uint8 chips already on the device, normalised there by the model's first layer;
3. uint8 chips copied from host memory each batch (end to end).

With ``--check ref.npz`` (``chips`` uint8 (N,150,150,3) and ``dlib`` (N,128), made by
``benchmarks/embed.py --save-reference``) it also prints the largest difference against
dlib at the chosen matmul precision (``--precision default`` lets the GPU use TF32;
``highest`` keeps float32). Where Keras is missing, it installs it offline from
``--wheels`` (default ``.device/wheels``, filled with ``pip download``).

Run (on the GPU machine, from the repository root, with ``.device`` carried along):
    python benchmarks/embed_gpu.py --weights .device/dlib_resnet_v1-55533b28a95800a5.weights.h5 \
        --check .device/ref.npz [--batch 2048] [--iters 20] [--precision highest]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# Pick the backend before Keras is imported: JAX if present, else PyTorch.
if "KERAS_BACKEND" not in os.environ:
    os.environ["KERAS_BACKEND"] = "jax" if importlib.util.find_spec("jax") else "torch"

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def ensure_keras(wheels: Path | None) -> None:
    """Import Keras, installing it offline from ``wheels`` first if it is missing.

    The GPU machine reaches no package index; ``.device/wheels`` carries Keras and its
    dependencies (``pip download``) for Python 3.10 to 3.12.
    """
    missing = [m for m in ("keras", "h5py", "optree") if importlib.util.find_spec(m) is None]
    if missing and wheels is not None and wheels.is_dir():
        import subprocess
        import tempfile

        target = Path(tempfile.gettempdir()) / "workbench_pylib"
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links",
               str(wheels), "--target", str(target), *missing]  # fmt: skip
        print("installing", missing, "from", wheels, flush=True)
        subprocess.run(cmd, check=True)
        sys.path.insert(0, str(target))
        importlib.invalidate_caches()


def load_model(weights: Path | None, dat: Path | None):
    from workbench.embed.resnet import build_resnet, set_dlib_weights

    model = None
    if weights is not None and weights.is_file() and importlib.util.find_spec("h5py"):
        model = build_resnet()
        model.load_weights(weights)
        source = str(weights)
    elif dat is not None and dat.is_file():
        from workbench.embed.dlib_format import read_dlib_network

        net = read_dlib_network(dat)
        model = build_resnet(means=net.input_means)
        set_dlib_weights(model, net)
        source = str(dat)
    if model is None:
        raise SystemExit("give --weights (with h5py installed) or --dat pointing at a file")
    return model, source


def jax_runner(model, precision: str):
    import jax

    tv = [jax.device_put(v.value) for v in model.trainable_variables]
    ntv = [jax.device_put(v.value) for v in model.non_trainable_variables]

    @jax.jit
    def forward(x):
        with jax.default_matmul_precision(precision):
            return model.stateless_call(tv, ntv, x, training=False)[0]

    def to_device(x):
        return jax.device_put(x)

    def sync(y):
        return y.block_until_ready()

    device = str(jax.devices()[0])
    return forward, to_device, sync, f"jax {jax.__version__} on {device}"


def torch_runner(model, precision: str):
    import torch

    torch.backends.cudnn.allow_tf32 = precision != "highest"
    torch.backends.cuda.matmul.allow_tf32 = precision != "highest"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)

    def forward(x):
        with torch.inference_mode():
            return model(x, training=False)

    def to_device(x):
        return torch.from_numpy(np.ascontiguousarray(x)).to(device)

    def sync(y):
        if device == "cuda":
            torch.cuda.synchronize()
        return y

    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return forward, to_device, sync, f"torch {torch.__version__} on {name}"


def rate(fn, sync, iters: int, batch: int) -> float:
    sync(fn())  # compile / warm up
    sync(fn())
    start = time.perf_counter()
    for _ in range(iters):
        y = fn()
    sync(y)
    return iters * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--dat", type=Path)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--precision", default="default", choices=["default", "highest"])
    parser.add_argument("--no-fold", action="store_true")
    parser.add_argument("--check", type=Path, help="npz with chips and dlib descriptors")
    parser.add_argument("--wheels", type=Path, default=Path(".device/wheels"))
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()} ({sys.executable}), "
        f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}",
        flush=True,
    )
    ensure_keras(args.wheels)

    import keras

    from workbench.embed.resnet import fold_affine_layers

    start = time.perf_counter()
    model, source = load_model(args.weights, args.dat)
    if not args.no_fold:
        model = fold_affine_layers(model)
    load_s = time.perf_counter() - start
    backend = keras.backend.backend()
    make = jax_runner if backend == "jax" else torch_runner
    forward, to_device, sync, device = make(model, args.precision)

    rng = np.random.default_rng(0)
    host_u8 = rng.integers(0, 256, (args.batch, 150, 150, 3), dtype=np.uint8)
    dev_f32 = to_device(host_u8.astype(np.float32))
    dev_u8 = to_device(host_u8)

    results = {
        "float32 on device": rate(lambda: forward(dev_f32), sync, args.iters, args.batch),
        "uint8 on device": rate(lambda: forward(dev_u8), sync, args.iters, args.batch),
        "uint8 from host": rate(
            lambda: forward(to_device(host_u8)), sync, max(2, args.iters // 2), args.batch
        ),
    }
    print("## Embedding on a GPU (`benchmarks/embed_gpu.py`)\n")
    argv = " ".join(sys.argv[1:])
    print(f"Command: `KERAS_BACKEND={backend} python benchmarks/embed_gpu.py {argv}`")
    print(
        f"Device: {device}; Keras {keras.__version__} ({backend}); Python "
        f"{platform.python_version()}; weights {source} loaded in {load_s:.1f} s; "
        f"{'layer-for-layer' if args.no_fold else 'affine folded'}; matmul precision "
        f"{args.precision}; batch {args.batch}, {args.iters} timed batches.\n"
    )
    print("| input | faces/s |\n| --- | ---: |")
    for label, value in results.items():
        print(f"| {label} | {value:,.0f} |")

    if args.check and args.check.is_file():
        ref = np.load(args.check)
        chips, dlib_vectors = ref["chips"], ref["dlib"]
        # Same shape as the timed batches when the chips fit, so nothing recompiles.
        pad = np.zeros((max(args.batch - len(chips), 0), 150, 150, 3), np.uint8)
        out = np.asarray(sync(forward(to_device(np.concatenate([chips, pad])))))
        out = out[: len(chips)] if out.ndim == 2 else out
        diff = np.abs(np.asarray(out, np.float64) - dlib_vectors).max()
        print(f"\nlargest |ours - dlib| on {len(chips)} LFW chips: {diff:.2e} ({args.precision})")


if __name__ == "__main__":
    main()
