"""Corrections that stick, measured on LFW: strangers taken for somebody, corrected once.

Half of the 1,680 LFW people with two or more photos (seeded) are enrolled with up to 3
photos each (the rest of their photos are the known probes); the other half are
strangers. The gallery is calibrated as enrollment does it by default. Each stranger's
first photo is searched; when the gallery accepts it as some X, that photo is given as
one correction (``Gallery.reject(photo, X)``), as a user saying "this is not X" would.
Then every other photo of those strangers is searched: the share still accepted as X,
before and after the corrections (same run, same gallery). Known people: rank-1 and
"accepted and right" before and after.

Embeddings: the package's pipeline (MediaPipe, align, dlib ResNet), cached in ``.cache/``;
``--embedder fused``: the fused embedder's vectors of the same photos (from
``benchmarks/lfw_fusion.py``'s features cache) in a fused gallery (its own prior).

Run: .venv/bin/python benchmarks/corrections.py [--seed 0] [--enroll 3] [--embedder fused]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lfw_cache import EMBEDDERS, lfw_vectors  # noqa: E402
from _machine import machine  # noqa: E402

from workbench.data import shared_data_dir  # noqa: E402
from workbench.gallery import FaceBatch, Gallery  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--enroll", type=int, default=3, help="photos enrolled per person")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="dlib", help="whose vectors")
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None or not (root / "lfw").is_dir():
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    x, people, _, _ = lfw_vectors(root / "lfw", embedder=args.embedder)
    model_id = "fused-lfw" if args.embedder == "fused" else "lfw"
    rng = np.random.default_rng(args.seed)
    names = np.unique(people)
    rng.shuffle(names)
    known, strangers = names[: len(names) // 2], names[len(names) // 2 :]
    rows = {p: np.flatnonzero(people == p) for p in names}
    batches, probes, truth = [], [], []
    for p in known:
        r = rows[p]
        k = min(args.enroll, len(r) - 1)  # at least one photo left to probe with
        batches.append(FaceBatch(str(p), x[r[:k]]))
        probes += list(r[k:])
        truth += [p] * (len(r) - k)
    probes, truth = np.array(probes), np.array(truth)
    print(f"machine: {machine()}; load average {os.getloadavg()}; {args.embedder} vectors")
    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id=model_id) as g:
            g.add_many(batches)
            info = g.threshold_info
            print(
                f"{len(known)} people enrolled ({sum(len(b.embeddings) for b in batches)} "
                f"faces), {len(probes)} known probes, {len(strangers)} strangers; "
                f"threshold {info.threshold:.4f} ({info.source})"
            )
            known_before = g.search(x[probes]).best()
            first = np.array([rows[p][0] for p in strangers])
            taken = g.search(x[first]).best()
            fooled = [(s, m.name) for s, m in zip(strangers, taken, strict=True) if m.accepted]
            others = [(i, x_name) for s, x_name in fooled for i in rows[s][1:]]
            idx = np.array([i for i, _ in others])
            as_x = np.array([x_name for _, x_name in others], dtype=object)
            before = g.search(x[idx]).best()
            start = time.perf_counter()
            for s, x_name in fooled:
                g.reject(x[rows[s][0]], x_name, source=f"{s} photo 1")
            correct_s = time.perf_counter() - start
            after = g.search(x[idx]).best()
            known_after = g.search(x[probes]).best()

    def share(res) -> float:
        return float(np.mean([m.accepted and m.name == n for m, n in zip(res, as_x, strict=True)]))

    def rank1(res) -> float:
        return float(np.mean([m.name == t for m, t in zip(res, truth, strict=True)]))

    def right(res) -> float:
        return float(np.mean([m.accepted and m.name == t for m, t in zip(res, truth, strict=True)]))

    print(
        f"strangers accepted as somebody on their first photo: {len(fooled)} of "
        f"{len(strangers)}; their other photos: {len(idx)}; {len(fooled)} corrections "
        f"stored in {correct_s:.2f} s"
    )
    print("| measure | before corrections | after |")
    print("| --- | ---: | ---: |")
    print(f"| other photos of corrected strangers still accepted as X | {share(before):.1%} "
          f"| {share(after):.1%} |")  # fmt: skip
    print(f"| known people rank-1 ({len(probes)} probes) | {rank1(known_before):.2%} "
          f"| {rank1(known_after):.2%} |")  # fmt: skip
    print(f"| known people accepted and right | {right(known_before):.2%} "
          f"| {right(known_after):.2%} |")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
