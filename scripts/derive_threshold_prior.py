"""Derive the threshold prior (``workbench.gallery.calibrate.PRIOR_THRESHOLDS``) on LFW.

A gallery too small to calibrate on its own faces takes its threshold from this prior:
the distance threshold at which a given share of strangers (``PRIOR_FARS``) would be
named as somebody, as a function of the number of people enrolled (``PRIOR_PEOPLE``).

For each number of people N, many random galleries are drawn: N people from those with 2
or more LFW photos, 2 photos of each enrolled, searched by centroid (the gallery's default
decision). Every single-photo LFW person probes each gallery as a stranger; the distance
to the nearest centroid is pooled over the draws, and the threshold at a target FAR is the
largest one that accepts at most that share of the pooled strangers (the rule of
``calibrate.choose_threshold``).

Only people whose name sorts before ``--split`` (default ``N``: A to M) are used, for the
enrolled and for the strangers, so ``benchmarks/gallery.py calibration`` can score the
prior on people it was not derived from (N to Z).

Input: embeddings of every LFW photo in a gallery file, as written by
``benchmarks/gallery.py lfw-enroll`` (MediaPipe detection, Keras ResNet); for the fused
embedder's table (``PRIOR_THRESHOLDS_FUSED``), the ``.npz`` that
``benchmarks/lfw_fusion.py --prior-vectors`` writes, passed as ``--gallery``.

Run: .venv/bin/python scripts/derive_threshold_prior.py --gallery /tmp/lfw_gallery.sqlite
         [--split N] [--strangers-per-draw 4069] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from workbench.gallery import Gallery
from workbench.gallery.calibrate import PRIOR_FARS, PRIOR_PEOPLE, choose_threshold


def load(path: str, split: str | None, *, before: bool = True):
    """``(vectors, persons)`` of the gallery file (or of an ``.npz`` with ``vectors`` and
    ``persons``), people before (or from) ``split``."""
    if str(path).endswith(".npz"):
        z = np.load(path)
        vectors, persons = z["vectors"], list(z["persons"])
    else:
        with Gallery(path, model_id=None, create=False) as g:
            vectors, persons = g.embeddings()
    persons = np.array(persons, dtype=object)
    if split:
        keep = np.array([(p.upper() < split.upper()) == before for p in persons])
        vectors, persons = vectors[keep], persons[keep]
    return vectors.astype(np.float64), persons


def nearest_centroid(strangers: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(s,)`` Euclidean distance of each stranger to its nearest centroid."""
    d2 = (
        (strangers**2).sum(1)[:, None]
        - 2.0 * strangers @ centroids.T
        + (centroids**2).sum(1)[None, :]
    )
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def derive(vectors, persons, people_grid, fars, *, draws_for, seed: int = 0):
    """``(len(people_grid), len(fars))`` thresholds and the pooled sample sizes."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(persons, return_counts=True)
    multi = names[counts >= 2]
    rows = {p: np.flatnonzero(persons == p) for p in multi}
    strangers = vectors[np.isin(persons, names[counts == 1])]
    table, sizes = [], []
    for n in people_grid:
        if n > len(multi):
            raise SystemExit(f"only {len(multi)} people with 2+ photos, cannot draw {n}")
        pooled = []
        for _ in range(draws_for(n)):
            chosen = rng.choice(multi, n, replace=False)
            cents = np.stack(
                [vectors[rng.choice(rows[p], 2, replace=False)].mean(0) for p in chosen]
            )
            pooled.append(nearest_centroid(strangers, cents))
        imp = np.concatenate(pooled)
        table.append(
            [choose_threshold(np.zeros(0), imp, f, per="stranger").threshold for f in fars]
        )
        sizes.append(imp.size)
    return np.array(table), sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", default="/tmp/lfw_gallery.sqlite")
    parser.add_argument("--split", default="N", help="use people whose name sorts before this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vectors, persons = load(args.gallery, args.split)
    names, counts = np.unique(persons, return_counts=True)
    print(
        f"# {len(vectors)} faces of {len(names)} people (names before {args.split!r}): "
        f"{int((counts >= 2).sum())} with 2+ photos enrolled, {int((counts == 1).sum())} "
        "single-photo strangers"
    )
    # Enough draws that small galleries see many different people, few for large ones
    # (each draw there already holds most of the pool).
    table, sizes = derive(
        vectors,
        persons,
        PRIOR_PEOPLE,
        PRIOR_FARS,
        draws_for=lambda n: int(np.clip(2000 // n, 5, 400)),
        seed=args.seed,
    )
    print(f"# stranger samples pooled per row: {sizes}")
    print(f"PRIOR_FARS = {tuple(PRIOR_FARS)}")
    print(f"PRIOR_PEOPLE = {tuple(PRIOR_PEOPLE)}")
    print("PRIOR_THRESHOLDS = (")
    for n, row in zip(PRIOR_PEOPLE, table, strict=True):
        print(f"    ({', '.join(f'{t:.4f}' for t in row)}),  # {n}")
    print(")")


if __name__ == "__main__":
    main()
