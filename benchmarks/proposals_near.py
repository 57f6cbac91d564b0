"""The proposals' "looks like X" hint on LFW: how far beyond the threshold it may reach.

A proposal (a group of the gallery's unknown faces, :mod:`workbench.gallery.proposals`)
"looks like" the enrolled person nearest to its mean face when that person is within the
gallery's threshold plus ``NEAR_MARGIN``: its faces were each too far to be named, but
together they may sit close. This measures that reach on LFW as the product runs it.

In each half of the people with two or more photos (names A-L, where a value is chosen;
M-Z, held out), seeded: half of the people are enrolled with up to 3 photos each (at
least one left over), the gallery calibrated as enrollment does by default; the other
half are strangers. Every leftover photo of the enrolled people and every photo of the
strangers is searched; those the gallery does not accept (what the unknowns keeper
stores; "X or Y?" faces are not kept either) become the gallery's unknowns, and
``Gallery.cluster_unknowns()`` groups them with the model's defaults. A proposal whose
faces are mostly one enrolled person should be hinted as that person; one that is mostly
a stranger should get no hint. For each reach (threshold + m) the run counts, of the
proposals of enrolled people, the hints that name the right person and the wrong one, and
of the strangers' proposals, the hints at all (false hints).

Rule, fixed before the fused figures were read: dlib's ``NEAR_MARGIN`` (0.1) was set
without a measurement, so it is measured here as it is; a model whose distances have
another scale gets the largest m of the grid whose false-hint share on A-L's strangers'
proposals is at most dlib's at 0.1 on the same people, and is reported on M-Z.

Run: .venv/bin/python benchmarks/proposals_near.py [--embedder dlib|fused] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lfw_cache import EMBEDDERS, lfw_vectors  # noqa: E402
from _machine import machine  # noqa: E402

from workbench.data import shared_data_dir  # noqa: E402
from workbench.gallery import FaceBatch, Gallery  # noqa: E402
from workbench.gallery.proposals import NEAR_MARGIN  # noqa: E402

MODEL_IDS = {"dlib": "lfw", "fused": "fused-lfw"}
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.20)
K = 3  # enrolled photos per person (at most; one is always left over)
HEADER = "| margin | known proposals hinted right | hinted wrong | strangers' proposals hinted |"


def run_half(x, people, names, *, model_id, seed):
    """``(figures by margin, counts)`` for one half of the people."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(names))
    rng.shuffle(names)
    known, strangers = set(names[: len(names) // 2]), names[len(names) // 2 :]
    rows = {p: np.flatnonzero(people == p) for p in names}
    batches, probes = [], []
    for p in sorted(known):
        r = rows[p]
        k = min(K, len(r) - 1)
        batches.append(FaceBatch(str(p), x[r[:k]]))
        probes += list(r[k:])
    probes += [i for p in strangers for i in rows[p]]
    probes = np.array(probes)
    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id=model_id) as g:
            g.add_many(batches)
            best = g.search(x[probes]).best()
            kept = probes[[not m.accepted and m.rival is None for m in best]]
            g.add_unknowns(x[kept], source=[str(i) for i in kept])
            proposals = g.cluster_unknowns()
            groups = [np.array([int(f.source) for f in c.faces]) for c in proposals.clusters]
            means = np.stack([x[rows].mean(0) for rows in groups])
            near = g.search(means, k=1).best()
            threshold = g.threshold
    truth = [Counter(people[rows].tolist()).most_common(1)[0][0] for rows in groups]
    is_known = np.array([t in known for t in truth])
    name = np.array([m.name if m.name is not None else "" for m in near], dtype=object)
    dist = np.array([np.inf if m.distance is None else m.distance for m in near])
    figures = {}
    for m in MARGINS:
        hinted = dist <= threshold + m
        right = hinted & (name == np.array(truth, dtype=object))
        figures[m] = (
            float(right[is_known].mean()) if is_known.any() else float("nan"),
            float((hinted & ~right)[is_known].mean()) if is_known.any() else float("nan"),
            float(hinted[~is_known].mean()) if (~is_known).any() else float("nan"),
        )
    counts = {
        "enrolled": len(known),
        "strangers": len(strangers),
        "unknowns": len(kept),
        "threshold": threshold,
        "known proposals": int(is_known.sum()),
        "stranger proposals": int((~is_known).sum()),
    }
    return figures, counts


def choose(figures: dict, baseline: float) -> float:
    """The largest margin whose false-hint share is at most ``baseline``."""
    ok = [m for m in MARGINS if figures[m][2] <= baseline + 1e-12]
    return max(ok) if ok else min(MARGINS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=EMBEDDERS, default="fused")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    print(f"machine: {machine()}; load average {os.getloadavg()}")
    halves = {}
    embedders = ["dlib"] if args.embedder == "dlib" else ["dlib", args.embedder]
    for emb in embedders:  # dlib first: the baseline of the rule, same people
        x, people, _, _ = lfw_vectors(root / "lfw", embedder=emb)
        names = np.unique(people)
        for half, pick in (("A-L", names[[n[0].upper() <= "L" for n in names]]),
                           ("M-Z", names[[n[0].upper() > "L" for n in names]])):  # fmt: skip
            halves[emb, half] = run_half(x, people, pick, model_id=MODEL_IDS[emb], seed=args.seed)
    base = halves["dlib", "A-L"][0][NEAR_MARGIN][2]
    for emb in embedders:
        chosen = choose(halves[emb, "A-L"][0], base)
        print(f"\n{emb}: chosen on A-L by the rule: margin {chosen:g} (dlib's false-hint "
              f"share at {NEAR_MARGIN:g} on A-L: {base:.1%})")  # fmt: skip
        for half in ("A-L", "M-Z"):
            figures, counts = halves[emb, half]
            print(f"{emb} {half}: {counts}")
            print(HEADER)
            print("| ---: | ---: | ---: | ---: |")
            for m in MARGINS:
                right, wrong, false = figures[m]
                mark = " (chosen)" if m == chosen else ""
                print(f"| {m:g}{mark} | {right:.1%} | {wrong:.1%} | {false:.1%} |")
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
