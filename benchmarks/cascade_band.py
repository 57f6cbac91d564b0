"""The cascade's band (workbench/cascade.py), chosen on LFW people outside View 2.

The band is where stage 1 (dlib's one plain chip) does not decide alone: from
``lower`` below dlib's threshold to ``upper`` above it. It is chosen here without View
2's pairs and without labels, by a rule fixed before its results were looked at:

- pairs: the outsiders' (LFW people not in View 2, ``benchmarks/lfw_fusion.py``'s
  features cache ``features_mediapipe_outsiders.npz``): every genuine pair and the fixed
  300,000 impostor pairs of the weight fit (:func:`lfw_fusion.outsider_pairs`), each in
  both orders (the first photo enrolled, as its full fused vector; the second the probe,
  stage 1 its plain dlib chip against the enrolled photo's flipped dlib part);
- thresholds: as a one-person gallery derives them (the fused prior at one person and the
  default target rate; dlib's is that times the priors' ratio,
  :func:`workbench.cascade.threshold_ratio`);
- reference: the full fused vector's decision. A *flip* is a pair the full vector decides
  otherwise than dlib alone; it lies on the lower side (dlib accepts) or the upper side
  (dlib turns it away);
- rule: per side, the narrowest width on a 0.01 grid (0 to 0.40) whose band holds at least
  99% of that side's flips (:data:`COVERAGE`): the cascade keeps 99% of the decisions the
  second opinion changes.

The same is done for stage 2 without the mirror chip (the probe's plain dlib vector and
MobileFaceNet against the enrolled full vectors: one dlib run less per face), with its
own flips. Each width's stage-2 share (all pairs, genuine, impostor) is printed, and the
same rule at a 1,000-person gallery's thresholds as a check (not used to choose).

Run: PYTHONPATH=$PWD:$PWD/benchmarks .venv/bin/python benchmarks/cascade_band.py [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

#: Share of a side's flips the band must hold.
COVERAGE = 0.99
#: Widths tried, dlib distance units.
GRID = np.round(np.arange(0.0, 0.4001, 0.01), 2)


def side_widths(x: np.ndarray, flip: np.ndarray, *, coverage: float = COVERAGE):
    """``(lower, upper, table)``: ``x`` is each pair's dlib distance less dlib's threshold,
    ``flip`` whether the full vector decides it otherwise than dlib. Per side the narrowest
    width of :data:`GRID` holding ``coverage`` of that side's flips (``None``: none does);
    ``table`` per width: the share of each side's flips held."""
    low, high = flip & (x <= 0), flip & (x > 0)
    table = []
    for w in GRID:
        held_low = float(np.mean(-x[low] <= w)) if low.any() else 1.0
        held_high = float(np.mean(x[high] <= w)) if high.any() else 1.0
        table.append((float(w), held_low, held_high))
    lower = next((w for w, lo, _ in table if lo >= coverage), None)
    upper = next((w for w, _, hi in table if hi >= coverage), None)
    return lower, upper, table, int(low.sum()), int(high.sum())


def main() -> None:
    from lfw_fusion import _Id, cache_groups, embeddings, features, outsider_pairs

    from workbench.cascade import BAND_ABOVE, BAND_BELOW, threshold_ratio
    from workbench.data import shared_data_dir
    from workbench.embed.fused import FusedEmbedder
    from workbench.gallery.calibrate import DEFAULT_TARGET_FAR, prior_threshold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    print(f"load {os.getloadavg()}")
    paths, label = cache_groups(root)[1]
    f = features(paths, label)
    owner = np.array([p.parent.name for p in paths])
    oa, ob, osame = outsider_pairs(owner)
    a, b = np.r_[oa, ob], np.r_[ob, oa]  # both orders: a enrolled, b the probe
    same = np.r_[osame, osame]
    ev = embeddings(f)
    product = FusedEmbedder(dlib=_Id(), mobilefacenet=_Id())
    full = product.fuse(ev["dlib + flip"], ev["mfn + flip"])
    no_mirror = product.fuse(ev["dlib"], ev["mfn + flip"])
    d1 = np.linalg.norm(ev["dlib"][b] - ev["dlib + flip"][a], axis=1)
    stage2 = {
        "mirror chip (as enrolled)": np.linalg.norm(full[b] - full[a], axis=1),
        "no mirror chip": np.linalg.norm(no_mirror[b] - full[a], axis=1),
    }
    model_id = FusedEmbedder().model_id
    print(
        f"{len(paths)} outsider photos of {len(set(owner))} people; {int(osame.sum())} genuine, "
        f"{int((~osame).sum())} impostor pairs, each in both orders"
    )
    print(f"today's band: below {BAND_BELOW}, above {BAND_ABOVE}")
    out = {}
    for people in (1, 10, 100, 1000):
        use = "the rule's" if people == 1 else "check only"
        tf = prior_threshold(people, DEFAULT_TARGET_FAR, model_id=model_id)
        td = tf * threshold_ratio(people, DEFAULT_TARGET_FAR, model_id=model_id)
        x = d1 - td
        for name, d2 in stage2.items():
            flip = (d1 <= td) != (d2 <= tf)
            lower, upper, table, n_low, n_high = side_widths(x, flip)
            key = f"{people} people, {name}"
            print(
                f"\n### {key} ({use}): thresholds fused {tf:.4f}, dlib {td:.4f}; flips: lower "
                f"{n_low} (of which impostors {int((flip & (x <= 0) & ~same).sum())}), upper "
                f"{n_high} (impostors {int((flip & (x > 0) & ~same).sum())})"
            )
            print(f"-> rule ({COVERAGE:.0%} of each side's flips): lower {lower}, upper {upper}")
            print(
                "| width | lower: flips held | upper: flips held | stage 2 if both sides "
                "this wide: all / genuine / impostor |"
            )
            print("| ---: | ---: | ---: | ---: |")
            for w, lo, hi in table:
                if round(w * 100) % 2 and w not in (lower, upper):
                    continue
                near = np.abs(x) <= w
                print(
                    f"| {w:.2f} | {lo:.2%} | {hi:.2%} | {near.mean():.1%} / "
                    f"{near[same].mean():.1%} / {near[~same].mean():.1%} |"
                )
            if lower is not None and upper is not None:
                near = (x >= -lower) & (x <= upper)
                said = np.where(near, d2 <= tf, d1 <= td)
                agree = float(np.mean(said == (d2 <= tf)))
                errors = [int((said != same).sum()), int(((d2 <= tf) != same).sum())]
                errors.append(int(((d1 <= td) != same).sum()))
                print(
                    f"this band: stage 2 on {near.mean():.2%} of pairs (genuine "
                    f"{near[same].mean():.1%}, impostor {near[~same].mean():.2%}); agrees with "
                    f"the full vector on {agree:.4%}; errors: cascade {errors[0]}, full "
                    f"{errors[1]}, dlib {errors[2]}"
                )
            out[key] = {"lower": lower, "upper": upper, "flips": [n_low, n_high], "table": table}
    print(f"\nload {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
