"""Look-alikes on LFW: the 100 closest pairs of distinct people, enrolled together.

Every LFW person with two or more photos gets a centroid from up to 3 photos (at least
one left over as a probe); the 100 pairs of distinct people with the closest centroids
are enrolled together (those photos), with the gallery's default calibration. Each
leftover photo of those people is searched: how often it is accepted as somebody else
(the look-alike, mostly) and how often accepted as the right person, for several values
of the look-alike margin (0 = no margin: the baseline, same run). Also how many people
the look-alike warning flags, among those pairs and among 200 random people.

Run: .venv/bin/python benchmarks/lookalike.py [--pairs 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lfw_cache import lfw_embeddings  # noqa: E402
from _machine import machine  # noqa: E402

from workbench.data import shared_data_dir  # noqa: E402
from workbench.gallery import FaceBatch, Gallery  # noqa: E402
from workbench.gallery.lookalike import DEFAULT_MARGIN, LOOKALIKE_DISTANCE  # noqa: E402


def enroll_and_probe(x, people, rows, names, margins, k=3):
    batches, probes, truth = [], [], []
    for p in names:
        r = rows[p]
        n = min(k, len(r) - 1)
        batches.append(FaceBatch(str(p), x[r[:n]]))
        probes += list(r[n:])
        truth += [p] * (len(r) - n)
    truth = np.array(truth, dtype=object)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id="lfw") as g:
            g.add_many(batches)
            warned = len(g.look_alikes())
            threshold = g.threshold
            for m in margins:
                g.margin = m
                res = g.search(x[np.array(probes)]).best()
                acc = np.array([r.accepted for r in res])
                got = np.array([r.name for r in res], dtype=object)
                out[m] = (
                    float(np.mean(acc & (got != truth))),
                    float(np.mean(acc & (got == truth))),
                )
    return out, warned, len(probes), threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    x, people, _, _ = lfw_embeddings(root / "lfw")
    names = np.unique(people)
    rows = {p: np.flatnonzero(people == p) for p in names}
    cents = np.stack([x[rows[p][: min(3, len(rows[p]) - 1)]].mean(0) for p in names])
    d = np.sqrt(np.maximum(((cents[:, None, :] - cents[None]) ** 2).sum(-1), 0))
    iu = np.triu_indices(len(names), 1)
    order = np.argsort(d[iu])[: args.pairs]
    pairs = [(names[iu[0][i]], names[iu[1][i]], d[iu][i]) for i in order]
    chosen = list(dict.fromkeys(p for a, b, _ in pairs for p in (a, b)))
    margins = [0.0, DEFAULT_MARGIN, 0.04, 0.06, 0.08]
    print(f"machine: {machine()}; load average {os.getloadavg()}")
    print(
        f"{args.pairs} closest pairs: centroid distances {pairs[0][2]:.3f}-{pairs[-1][2]:.3f}, "
        f"{len(chosen)} people; e.g. {', '.join(f'{a}/{b}' for a, b, _ in pairs[:4])}"
    )
    res, warned, n_probes, threshold = enroll_and_probe(x, people, rows, chosen, margins)
    rng = np.random.default_rng(0)
    random = list(rng.choice(names, 200, replace=False))
    res_r, warned_r, n_r, thr_r = enroll_and_probe(x, people, rows, random, margins)
    print(
        f"look-alike warnings (centroid distance <= {LOOKALIKE_DISTANCE}): {warned} of "
        f"{len(chosen)} people of the close pairs, {warned_r} of 200 random people"
    )
    print(f"thresholds: close pairs {threshold:.4f}, random 200 {thr_r:.4f}")
    print("| margin | close pairs: named as someone else | close pairs: accepted and right "
          "| 200 random: named as someone else | 200 random: accepted and right |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: |")
    for m in margins:
        label = (
            f"{m:g}" + (" (default)" if m == DEFAULT_MARGIN else "") + (" (none)" if m == 0 else "")
        )
        close, rand = res[m], res_r[m]
        print(f"| {label} | {close[0]:.2%} | {close[1]:.2%} | {rand[0]:.2%} | {rand[1]:.2%} |")
    print(f"probes: {n_probes} (close pairs), {n_r} (random); load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
