"""Clustering faces nobody has named: our algorithm against the peers' on LFW.

LFW is treated as an unlabelled photo archive: every photo of the 1,680 people with two
or more (9,164 photos), one face each (the central one), embedded once through the
package's pipeline (MediaPipe, align, dlib ResNet; cached in ``.cache/``, git-ignored)
and then clustered by each method on the same embeddings; the labels only score them.
Also a 200-people subset (seeded), and our method on two disjoint halves of the people
(names A-L, on which its threshold was chosen, and M-Z, on which it was not).

Methods (the baselines in the same run):
- ours: :func:`workbench.gallery.cluster.cluster_embeddings` with its defaults (average
  linkage on unit vectors, cut 0.40, gap rule 0.08 above 0.34), and the same without
  the gap rule at 0.40 and at 0.38 (the previous default) to show what the rule does;
- HDBSCAN (scikit-learn), ``min_cluster_size=2`` (the smallest person here), on the
  normalised embeddings and on the raw ones;
- agglomerative clustering (average and single linkage) on the raw embeddings, cut at
  the calibrated threshold: :func:`workbench.gallery.calibrate.choose_threshold` at a
  pair FAR of 1e-3 on the A-L people's pairs, what ``calibrate(per="pair")`` would set;
- Chinese whispers at 0.5 on the raw embeddings, as face_recognition's clustering
  example does (``dlib.chinese_whispers_clustering(descriptors, 0.5)``): our numpy
  implementation of dlib's algorithm, and dlib's own when dlib-bin is installed;
- DBSCAN at Immich's defaults (max distance 0.5, at least 3 faces), translated:
  literally (cosine distance 0.5 on our embeddings), and at the unit-vector distances
  where our pair false-accept rate is 1e-3, 1e-4, 1e-5 (Immich's 0.5 sits somewhere
  below its own model's boundary; see ``docs/benchmarks/cluster.md``).

Timing: the clustering alone (embedding time is reported apart, from the cache's
making); ``--scale`` also times ours on 10,000 faces (the 9,164 plus jittered copies).
``--choose`` prints the grid the defaults were chosen from: every (cut, gap, gap_above)
scored on the A-L people only, the best ones then also on M-Z; and the near-copy
distance on A-L with every photo three times.

Near-copies: each half of the people again with every photo three times (two copies
with Gaussian noise 0.01 per value, about 0.08 apart on the unit scale), as a track's
best frames or a burst come: ours, the plain cuts, and ours with near-copies counted
apart.

Embedders: ``--embedder fused`` runs it all on the fused embedder's vectors of the same
photos (dlib + MobileFaceNet, 320-D, the product's formula, built from
``benchmarks/lfw_fusion.py``'s features cache without embedding again), with the fused
defaults (:func:`workbench.gallery.cluster.defaults_for`), dlib's constants on the same
vectors as the row to beat, the fused grid for ``--choose``, near-copies as far apart
relative to a person's photos as dlib's are, and the distance baselines translated
(Chinese whispers at 0.642 = 0.5 x 0.77 / 0.60, the two embedders' LFW pair thresholds
when it was measured; the fused one is 0.75 since).

Run: .venv/bin/python benchmarks/cluster.py [--embedder dlib|fused] [--skip-slow]
[--scale] [--choose] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lfw_cache import EMBEDDERS, lfw_vectors  # noqa: E402
from _machine import machine  # noqa: E402

from workbench.data import shared_data_dir  # noqa: E402
from workbench.evaluate import score_clustering  # noqa: E402
from workbench.gallery.cluster import (  # noqa: E402
    DEFAULT_GAP,
    DEFAULT_GAP_ABOVE,
    DEFAULT_THRESHOLD,
    DUPLICATE_DISTANCE,
    cluster_embeddings,
    defaults_for,
    gap_cut,
    normalize,
)

#: A model id of each embedder's family, for the package's defaults.
MODEL_IDS = {"dlib": None, "fused": "fused-lfw"}

#: Per embedder: the noise of a near-copy (per value, on the raw vector) and the scale of
#: face_recognition's Chinese whispers 0.5 (dlib's raw distance; the fused embedder's LFW
#: pair threshold was 0.77 against dlib's 0.60 when measured, 0.75 since). Noise 0.01 puts
#: dlib's copies 0.079 apart on the unit scale (median), 0.25 of a person's median photo
#: distance (0.311); 0.007 puts the fused ones 0.101 apart, 0.26 of its 0.39.
COPY_SIGMA = {"dlib": 0.01, "fused": 0.007}
WHISPERS = {"dlib": 0.5, "fused": 0.642}

#: ``--choose``'s grid per embedder: plain cuts, then (cut, gap, gap_above), then the
#: near-copy distance.
GRIDS = {
    "dlib": (
        (0.36, 0.37, 0.38, 0.39, 0.40, 0.41, 0.42),
        ((0.38, 0.39, 0.40, 0.41), (0.06, 0.07, 0.08, 0.09, 0.10), (0.0, 0.30, 0.32, 0.34, 0.36)),
        (0.0, 0.10, 0.15, 0.20, 0.25),
    ),
    "fused": (
        (0.48, 0.50, 0.52, 0.53, 0.54, 0.55, 0.56, 0.58),
        (
            (0.54, 0.56, 0.58, 0.60, 0.62),
            (0.04, 0.06, 0.08, 0.10, 0.12),
            (0.0, 0.44, 0.48, 0.50, 0.52, 0.54),
        ),
        (0.0, 0.10, 0.12, 0.15, 0.19, 0.25),
    ),
}


def ours_label(model_id) -> str:
    d = defaults_for(model_id)
    return (
        f"ours (average linkage, unit vectors, cut {d.threshold}, "
        f"gap {DEFAULT_GAP} above {d.gap_above})"
    )


#: Immich's published defaults for its facial recognition job (docs, "Machine Learning
#: settings": max recognition distance 0.5, min recognized faces 3).
IMMICH_MAX_DISTANCE = 0.5
IMMICH_MIN_FACES = 3


def chinese_whispers(x: np.ndarray, threshold: float, *, iterations: int = 100, seed: int = 0):
    """dlib's ``chinese_whispers_clustering``: an edge (weight 1) between faces closer than
    ``threshold`` (each face also links to itself), every face starts in its own group,
    then ``iterations * n`` times a random face takes the label most common among its
    neighbours."""
    n = len(x)
    neighbours: list[np.ndarray] = []
    sq = (x * x).sum(1)
    for i in range(0, n, 1024):
        d2 = sq[i : i + 1024, None] + sq[None, :] - 2 * x[i : i + 1024] @ x.T
        for row in d2:
            neighbours.append(np.flatnonzero(row < threshold**2))
    nb = [a.tolist() for a in neighbours]
    labels = list(range(n))
    rng = np.random.default_rng(seed)
    for idx in rng.integers(0, n, size=iterations * n).tolist():
        counts: dict[int, int] = defaultdict(int)
        for j in nb[idx]:
            counts[labels[j]] += 1
        labels[idx] = max(counts, key=counts.__getitem__)
    return np.array(labels)


def dlib_chinese_whispers(x: np.ndarray, threshold: float):
    import dlib

    return np.array(
        dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in x], threshold)
    )


def calibrated_threshold(x: np.ndarray, people: np.ndarray, far: float = 1e-3) -> float:
    from workbench.gallery.calibrate import choose_threshold, pair_distances

    owners = np.unique(people, return_inverse=True)[1].ravel()
    genuine, impostor = pair_distances(x.astype(np.float32), owners)
    return choose_threshold(genuine, impostor, far, per="pair").threshold


def methods(
    calibrated: float, unit_eps: dict[float, float], *, skip_slow: bool, embedder: str = "dlib"
):
    """``[(name, function(x) -> labels)]``; ``x`` is the raw ``(n, D)`` array."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist
    from sklearn.cluster import DBSCAN, HDBSCAN

    def agglo(method):
        return lambda x: fcluster(linkage(pdist(x), method), calibrated, criterion="distance")

    model = MODEL_IDS[embedder]
    cut = defaults_for(model).threshold
    if embedder == "dlib":
        before = (
            "average linkage, unit vectors, cut 0.38, no gap rule (previous default)",
            lambda x: cluster_embeddings(x, threshold=0.38, gap=None).labels,
        )
    else:  # what a fused gallery got before its own constants
        before = (
            f"dlib's constants on these vectors (cut {DEFAULT_THRESHOLD}, gap {DEFAULT_GAP} "
            f"above {DEFAULT_GAP_ABOVE}; before)",
            lambda x: (
                cluster_embeddings(
                    x, threshold=DEFAULT_THRESHOLD, gap_above=DEFAULT_GAP_ABOVE
                ).labels
            ),
        )
    out = [
        (ours_label(model), lambda x: cluster_embeddings(x, model_id=model).labels),
        (
            f"average linkage, unit vectors, cut {cut}, no gap rule",
            lambda x: cluster_embeddings(x, model_id=model, gap=None).labels,
        ),
        before,
        (
            "HDBSCAN min_cluster_size=2, unit vectors",
            lambda x: HDBSCAN(min_cluster_size=2, copy=True).fit_predict(normalize(x)),
        ),
        (
            "HDBSCAN min_cluster_size=2, raw",
            lambda x: HDBSCAN(min_cluster_size=2, copy=True).fit_predict(x),
        ),
        (f"agglomerative average, raw, cut at calibrated {calibrated:.3f}", agglo("average")),
        (f"agglomerative single, raw, cut at calibrated {calibrated:.3f}", agglo("single")),
        (
            "DBSCAN Immich literal (cosine 0.5, min 3)",
            lambda x: DBSCAN(
                eps=IMMICH_MAX_DISTANCE, min_samples=IMMICH_MIN_FACES, metric="cosine"
            ).fit_predict(x),
        ),
    ]
    for far, eps in unit_eps.items():
        out.append(
            (
                f"DBSCAN Immich translated (unit {eps:.3f} = pair FAR {far:g}, min 3)",
                lambda x, eps=eps: DBSCAN(eps=eps, min_samples=IMMICH_MIN_FACES).fit_predict(
                    normalize(x)
                ),
            )
        )
    if embedder == "fused":  # plain average linkage at its best fused cut (A-L)
        out.insert(
            3,
            (
                "average linkage, unit vectors, cut 0.54, no gap rule (best plain cut, A-L)",
                lambda x: cluster_embeddings(x, threshold=0.54, gap=None).labels,
            ),
        )
    if not skip_slow:
        cw = WHISPERS[embedder]
        out.append((f"Chinese whispers {cw} (ours, numpy)", lambda x: chinese_whispers(x, cw)))
        try:
            import dlib  # noqa: F401

            out.append((f"Chinese whispers {cw} (dlib)", lambda x: dlib_chinese_whispers(x, cw)))
        except ImportError:
            print("dlib not installed: no dlib Chinese whispers row", file=sys.stderr)
    return out


def run(label: str, x: np.ndarray, people: np.ndarray, todo) -> list[dict]:
    rows = []
    for name, fn in todo:
        start = time.perf_counter()
        labels = fn(x)
        seconds = time.perf_counter() - start
        row = {"set": label, "method": name, "faces": len(x), "seconds": round(seconds, 2)}
        row |= score_clustering(labels, people).as_dict()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| set | method | pairwise P | pairwise R | pairwise F | BCubed P | BCubed R "
        "| BCubed F | clusters / people | singletons | seconds |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    return head + "\n".join(
        f"| {r['set']} | {r['method']} | {r['pairwise_precision']:.4f} "
        f"| {r['pairwise_recall']:.4f} | {r['pairwise_f']:.4f} | {r['bcubed_precision']:.4f} "
        f"| {r['bcubed_recall']:.4f} | **{r['bcubed_f']:.4f}** | {r['clusters']} / "
        f"{r['people']} | {r['singletons']} | {r['seconds']:.1f} |"
        for r in rows
    )


def with_copies(x: np.ndarray, people: np.ndarray, *, seed: int = 0, sigma: float = 0.01):
    """Every row three times: itself and two copies with Gaussian noise ``sigma``."""
    rng = np.random.default_rng(seed)
    copies = [x] + [x + rng.normal(0, sigma, x.shape) for _ in range(2)]
    return np.concatenate(copies), np.concatenate([people] * 3)


def copies_apart(model_id=None):
    """Ours with near-copies counted as faces of their own in the gap rule."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    d = defaults_for(model_id)

    def run(x: np.ndarray):
        tree = linkage(pdist(normalize(x)), "average")
        return gap_cut(
            tree, threshold=d.threshold, gap=DEFAULT_GAP, gap_above=d.gap_above, duplicate=0.0
        )

    return run


def choose(
    x: np.ndarray, people: np.ndarray, tune: np.ndarray, *, top: int = 12, embedder: str = "dlib"
) -> None:
    """The grid the defaults come from: scored on the A-L people, the best also on M-Z."""
    from itertools import product

    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    trees = {
        half: linkage(pdist(normalize(x[mask])), "average")
        for half, mask in (("A-L", tune), ("M-Z", ~tune))
    }

    def f(half, mask, **kw):
        return score_clustering(gap_cut(trees[half], **kw), people[mask]).bcubed_f

    plain_cuts, (cuts, gaps, aboves), duplicates = GRIDS[embedder]
    grid = []
    for t in plain_cuts:
        grid.append((f("A-L", tune, threshold=t, gap=None, gap_above=t), t, None, None))
    for t, g, above in product(cuts, gaps, aboves):
        if above < t:  # at or above the cut the rule never applies: a plain cut
            grid.append((f("A-L", tune, threshold=t, gap=g, gap_above=above), t, g, above))
    grid.sort(key=lambda r: -r[0])
    plain = [r for r in grid if r[2] is None]
    print("\nchoosing on A-L (BCubed F), then M-Z for the best; plain = no gap rule")
    for score, t, g, above in grid[:top] + plain[:3]:
        held = f("M-Z", ~tune, threshold=t, gap=g, gap_above=t if above is None else above)
        print(f"cut {t:.2f} gap {g} above {above}: A-L {score:.4f}  M-Z {held:.4f}")
    xc, pc = with_copies(x[tune], people[tune], sigma=COPY_SIGMA[embedder])
    tree = linkage(pdist(normalize(xc)), "average")
    d = defaults_for(MODEL_IDS[embedder])
    chosen = {"threshold": d.threshold, "gap": DEFAULT_GAP, "gap_above": d.gap_above}
    print("near-copy distance, at the chosen cut, gap and gap_above (A-L; A-L three times)")
    for dup in duplicates:
        plain_f = score_clustering(gap_cut(trees["A-L"], **chosen, duplicate=dup), people[tune])
        copy_f = score_clustering(gap_cut(tree, **chosen, duplicate=dup), pc)
        print(f"duplicate {dup:.2f}: A-L {plain_f.bcubed_f:.4f}  A-L x3 {copy_f.bcubed_f:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="mediapipe")
    parser.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default="dlib",
        help="whose vectors (fused: from benchmarks/lfw_fusion.py's features cache, "
        "MediaPipe only)",
    )
    parser.add_argument("--subset", type=int, default=200, help="people in the small set")
    parser.add_argument("--skip-slow", action="store_true", help="no Chinese whispers rows")
    parser.add_argument("--scale", action="store_true", help="also time ours on 10,000 faces")
    parser.add_argument("--choose", action="store_true", help="print the A-L grid")
    parser.add_argument(
        "--more-subsets",
        type=int,
        default=0,
        metavar="N",
        help="also ours, the previous default and HDBSCAN on N more seeded subsets of "
        "200 and of 500 people",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    x, people, no_face, embed_s = lfw_vectors(
        root / "lfw", embedder=args.embedder, detector=args.detector
    )
    model = MODEL_IDS[args.embedder]
    x = x.astype(np.float64)
    names = np.unique(people)
    first = np.array([p[0].upper() for p in people])
    tune = first < "M"
    calibrated = calibrated_threshold(x[tune], people[tune])
    # Immich's 0.5 is a cosine distance for its own model: its place relative to that
    # model's same/different boundary cannot be measured here, so DBSCAN runs at our
    # unit-vector distances whose pair false-accept rate is 1e-3, 1e-4 and 1e-5.
    unit_eps = {
        far: calibrated_threshold(normalize(x[tune]), people[tune], far)
        for far in (1e-3, 1e-4, 1e-5)
    }
    print(f"machine: {machine()}; load average {os.getloadavg()}")
    print(
        f"{args.embedder} vectors ({x.shape[1]}-D): "
        f"{len(x)} faces of {len(names)} people ({int(no_face.sum())} without a detection); "
        f"embedding took {embed_s:.1f} s when cached ({len(x) / embed_s:.0f} faces/s); "
        f"calibrated pair threshold (FAR 1e-3, A-L people): raw {calibrated:.4f}; "
        f"unit-vector distances at FAR 1e-3/1e-4/1e-5: "
        f"{', '.join(f'{v:.4f}' for v in unit_eps.values())}",
        flush=True,
    )
    todo = methods(calibrated, unit_eps, skip_slow=args.skip_slow, embedder=args.embedder)
    rng = np.random.default_rng(0)
    subset = np.isin(people, rng.choice(names, size=args.subset, replace=False))
    rows = run(f"{args.subset} people", x[subset], people[subset], todo)
    rows += run(f"{len(names)} people", x, people, todo)
    # Ours, the plain cuts and HDBSCAN (the best baseline) on the two halves of the people.
    halves = todo[: 5 if args.embedder == "fused" else 4]
    rows += run("A-L people (tuned on)", x[tune], people[tune], halves)
    rows += run("M-Z people (held out)", x[~tune], people[~tune], halves)
    ours = todo[:1]
    copied = todo[:3] + [
        (
            f"ours, near-copies counted apart (duplicate 0, not {DUPLICATE_DISTANCE})",
            copies_apart(model),
        )
    ]
    for half, mask in (("A-L", tune), ("M-Z", ~tune)):
        xc, pc = with_copies(x[mask], people[mask], sigma=COPY_SIGMA[args.embedder])
        rows += run(f"{half} people, every photo 3 times (near-copies)", xc, pc, copied)
    if args.scale:
        extra = 10_000 - len(x)
        pick = rng.choice(len(x), size=extra, replace=False)
        jitter = x[pick] + rng.normal(0, 0.01, size=(extra, x.shape[1]))
        rows += run(
            "10,000 faces (9,164 + jittered copies)",
            np.r_[x, jitter],
            np.r_[people, people[pick]],
            ours,
        )
    for seed in range(1, args.more_subsets + 1):
        for size in (200, 500):
            pick = np.isin(people, np.random.default_rng(seed).choice(names, size, replace=False))
            rows += run(f"{size} people, seed {seed}", x[pick], people[pick], halves)
    if args.choose:
        choose(x, people, tune, embedder=args.embedder)
    print(f"\nmachine: {machine()}; load average after {os.getloadavg()}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
