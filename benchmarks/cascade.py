"""The fused gallery's cascade (workbench/cascade.py) in open-set galleries of LFW people.

For galleries of 10, 100 and 1,000 LFW people (up to 2 photos enrolled each, up to 2 more
as known probes) and strangers as probes (one photo each of people not enrolled), with
the cached fused vectors of every LFW photo (``benchmarks/lfw_fusion.py
--prior-vectors``): the share of probes that need MobileFaceNet to decide (within the
band of dlib's threshold, or a near rival) and the share it runs on when every face dlib
turns away is stored as an unknown too (photos: the keeper completes each face it stores,
:class:`workbench.recognize.UnknownsKeeper`); and how each decision
names the probes: dlib alone (stage 1 without the band), the full fused search, the
cascade. The decisions are those of the product's code (:func:`workbench.cascade.first_stage`
on a real gallery, then the gallery's own search on the full vectors). Stage 1 searches
with each probe's plain dlib vector (the ``_dlib.npz`` beside ``--vectors``, which
``--prior-vectors`` writes), against the enrolled faces' fused vectors (dlib flipped).
Each band of ``--bands`` (``below:above``, dlib distance; default the product's
:data:`~workbench.cascade.BAND_BELOW` / :data:`~workbench.cascade.BAND_ABOVE` and the
0.11 / 0.09 that ``benchmarks/cascade_band.py``'s rule asks for) gets its rows, on the
same galleries and probes; ``--no-mirror`` adds, per band, stage 2 without the mirror
chip (the probe's plain dlib vector fused with its MobileFaceNet part, against the
enrolled full vectors).

Run: PYTHONPATH=$PWD:$PWD/benchmarks .venv/bin/python benchmarks/cascade.py \\
         --vectors /tmp/lfw_fused.npz [--sizes 10 100 1000] [--strangers 1000] \\
         [--bands 0.10:0.10 0.11:0.09] [--no-mirror]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from itertools import product
from pathlib import Path

import numpy as np


def _rates(names, acc, truth, known) -> tuple[float, float]:
    """(known probes named right, strangers called unknown)."""
    right = np.mean(acc[known] & (names[known] == truth[known]))
    return float(right), float(np.mean(~acc[~known]))


def main() -> None:
    from workbench.cascade import BAND_ABOVE, BAND_BELOW, first_stage
    from workbench.embed.fused import FUSION_WEIGHT, FusedEmbedder
    from workbench.evaluate import mcnemar_exact
    from workbench.gallery import Gallery
    from workbench.gallery.types import FaceBatch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--strangers", type=int, default=1000)
    # 0.11:0.09 is what benchmarks/cascade_band.py's rule asks for on the outsiders.
    parser.add_argument("--bands", nargs="+", default=[f"{BAND_BELOW}:{BAND_ABOVE}", "0.11:0.09"])
    parser.add_argument("--no-mirror", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    z = np.load(args.vectors)
    vectors, persons = z["vectors"].astype(np.float32), z["persons"]
    model_id = FusedEmbedder().model_id
    w = FUSION_WEIGHT
    # Stage 1 embeds one plain dlib chip; the fused vectors' dlib part is flipped.
    plain_path = args.vectors.with_name(args.vectors.stem + "_dlib.npz")
    dlib = np.load(plain_path)["vectors"].astype(np.float32)
    if dlib.shape != (len(vectors), 128):
        raise SystemExit(f"{plain_path}: not the plain dlib vectors of {args.vectors}")
    bands = list(dict.fromkeys(tuple(float(x) for x in b.split(":")) for b in args.bands))
    # Stage 2 without the mirror chip: the plain dlib vector in the fused vector's place.
    no_mirror = vectors.copy()
    no_mirror[:, :128] = dlib * np.float32(np.sqrt(w))
    stage2 = {"": vectors, ", no mirror": no_mirror} if args.no_mirror else {"": vectors}
    rows_of: dict[str, np.ndarray] = {}
    for i, p in enumerate(persons):
        rows_of.setdefault(str(p), []).append(i)
    rng = np.random.default_rng(args.seed)
    multi = sorted(p for p, r in rows_of.items() if len(r) >= 2)
    out = []
    print(f"load {os.getloadavg()}; {len(persons)} photos, {len(rows_of)} people")
    print(
        "| people | band | probes (known + strangers) | need MobileFaceNet to decide | "
        "run it (unknowns kept) | known named right: dlib / fused / cascade | "
        "strangers unknown: dlib / fused / cascade | cascade differs from fused (McNemar of "
        "right outcomes vs the first band) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        chosen = rng.choice(multi, n, replace=False)
        enrolled, probes = {}, []
        for p in chosen:
            r = rng.permutation(rows_of[p])
            k = min(2, len(r) - 1)
            enrolled[p] = r[:k]
            probes.extend(r[k : k + 2])
        others = [p for p in rows_of if p not in set(chosen)]
        strangers = [rows_of[p][0] for p in rng.choice(others, args.strangers, replace=False)]
        q = np.r_[probes, strangers].astype(np.int64)
        known = np.r_[np.ones(len(probes), bool), np.zeros(len(strangers), bool)]
        truth = persons[q]
        with tempfile.TemporaryDirectory() as tmp:
            with Gallery(Path(tmp) / "g.sqlite", model_id=model_id, dim=vectors.shape[1]) as g:
                g.add_many([FaceBatch(p, vectors[r]) for p, r in enrolled.items()])
                g.refresh_threshold()
                full = g.search(vectors[q]).best()
                plain = first_stage(g, dlib[q], w, below=0.0, above=0.0)
                s = plain.snapshot
                names_dlib = np.array([s.people[r] if r >= 0 else None for r in plain.rows])
                acc_dlib = plain.distance <= plain.dlib_threshold
                names_full = np.array([m.name for m in full], object)
                acc_full = np.array([m.accepted for m in full])
                runs = []
                for (below, above), (form, probe) in product(bands, stage2.items()):
                    first = first_stage(g, dlib[q], w, below=below, above=above)
                    second = g.search(probe[q]).best() if form else full
                    names_2 = np.array([m.name for m in second], object)
                    acc_2 = np.array([m.accepted for m in second])
                    names_cas = np.where(first.second, names_2, names_dlib)
                    acc_cas = np.where(first.second, acc_2, first.accept)
                    runs.append((f"-{below:g}/+{above:g}{form}", first, names_cas, acc_cas))
                threshold, t_dlib = plain.threshold, plain.dlib_threshold

        r_d = _rates(names_dlib, acc_dlib, truth, known)
        r_f = _rates(names_full, acc_full, truth, known)
        ref = None  # the first band's outcome per probe (right name or rightly unknown)
        for band, first, names_cas, acc_cas in runs:
            r_c = _rates(names_cas, acc_cas, truth, known)
            ok = np.where(known, acc_cas & (names_cas == truth), ~acc_cas)
            if ref is None:
                ref, vs_first = ok, ""
            else:
                b, c = int((ref & ~ok).sum()), int((~ref & ok).sum())
                vs_first = f" (vs {runs[0][0]}: {b}/{c}, p = {mcnemar_exact(b, c):.2g})"
            differs = np.mean((acc_cas != acc_full) | (acc_cas & (names_cas != names_full)))
            row = {
                "people": n,
                "band": band,
                "known": int(known.sum()),
                "strangers": int((~known).sum()),
                "threshold": threshold,
                "dlib_threshold": t_dlib,
                "share_decide": float(first.second.mean()),
                "share_decide_known": float(first.second[known].mean()),
                "share_decide_strangers": float(first.second[~known].mean()),
                "share_run_keeping": float((first.second | ~first.accept).mean()),
                "named_right": [r_d[0], r_f[0], r_c[0]],
                "strangers_unknown": [r_d[1], r_f[1], r_c[1]],
                "cascade_differs_from_fused": float(differs),
            }
            out.append(row)
            print(
                f"| {n} | {band} | {row['known']} + {row['strangers']} | "
                f"{row['share_decide']:.1%} (known {row['share_decide_known']:.1%}, strangers "
                f"{row['share_decide_strangers']:.1%}) | {row['share_run_keeping']:.1%} | "
                f"{r_d[0]:.1%} / {r_f[0]:.1%} / {r_c[0]:.1%} | "
                f"{r_d[1]:.1%} / {r_f[1]:.1%} / {r_c[1]:.1%} | {differs:.1%}{vs_first} |",
                flush=True,
            )
        print(f"  thresholds: fused {threshold:.4f}, dlib {t_dlib:.4f}", flush=True)
    print(f"load {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
