"""Faces turned away: people enrolled from 1, 3 or 5 photos, probed with their photos at
large yaw, in a real gallery with strangers (issue 15 item 4).

LFW View 2 cannot show a pose effect (its hardest-yaw tenth of pairs holds few errors:
``benchmarks/lfw_mesh.py``), so this builds a test set that can. The subjects are the LFW
people with at least ``--min-photos`` photos; each photo's yaw comes from the face mesh
(:mod:`workbench.mesh`) on the central MediaPipe face. A subject's photos at
``|yaw| >= --probe-yaw`` are the probes, split in two halves (alternately, in file
order); each half is probed once while the subject is enrolled from their other photos:

- ``frontal k``: the ``k`` photos with the smallest ``|yaw|``;
- ``diverse k``: the most frontal photo, then each time the photo whose yaw is farthest
  from those already chosen (it can take the other half's turned photos, which is what a
  user asked to add turned views would give).

The gallery is the product's (:class:`workbench.gallery.Gallery`, a temporary SQLite
file): every subject, plus ``--strangers`` people with fewer photos enrolled from one
photo each; the threshold is the one it calibrates after the enrollment, as
``workbench enroll`` leaves it. Reported per enrollment and decision rule (``centroid``,
the default, and ``nearest_face``): probes, rank-1 (the nearest person is the right
one), accepted and right (with a McNemar exact test against the frontal enrollment of
as many photos, on the same probes), accepted and wrong, the median distance to the subject's own
enrolled faces, the threshold, and two controls: near-frontal photos (``|yaw| <= 10``)
that no scheme enrolls, probed the same way, and photos of ``--unknowns`` people who are
not in the gallery (the share named as somebody).

Embeddings: the default pipeline (MediaPipe, 5-point alignment, the default embedder, one
chip per face), and with ``--alignment mesh`` the mesh alignment of
``benchmarks/lfw_mesh.py`` too. ``--embedders fused`` adds the fused embedder
(:mod:`workbench.embed.fused`): galleries of the full vector enrollment stores (dlib's
chip and its mirror averaged, MobileFaceNet's chip and its mirror), a fused gallery's
own model id, prior and calibration; probes decided on their full vector, through the
cascade as recognition runs it (:func:`workbench.cascade.first_stage` with the probe's
plain dlib vector, then the gallery's own search on the full vector where it asks for
MobileFaceNet: within the band; a face dlib turns away is decided by dlib, whatever the
gallery's unknowns policy, since the unknowns keeper completes the faces it stores);
McNemar
against dlib on the same probes. Its features come from ``benchmarks/lfw_fusion.py``'s
cache (the same MediaPipe keypoints, checked). ``--embedders dlib-flip``: dlib with its
mirror averaged (the fused vector's dlib part alone). Caches: ``.cache/mesh/``,
``.cache/fusion/`` (git-ignored). Run:
    .venv/bin/python benchmarks/pose.py [--min-photos 10] [--probe-yaw 25]
        [--strangers 1000] [--unknowns 500] [--alignment 5-point mesh]
        [--embedders dlib dlib-flip fused] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _lfw_cache import people_with_photos
from _mesh_cache import detections, embeddings, meshes

from workbench.align import chip_transform, similarity_transform
from workbench.data import shared_data_dir
from workbench.evaluate import mcnemar_exact
from workbench.mesh import FaceMeshes

SCHEMES = (("frontal", 1), ("frontal", 3), ("frontal", 5), ("diverse", 3), ("diverse", 5))
DECISIONS = ("centroid", "nearest_face")
FRONTAL_YAW = 10.0


@dataclass(frozen=True)
class PhotoSet:
    """Photo paths and, per photo, its person; which photos are subjects', strangers'
    (enrolled from one photo) and unknowns' (never enrolled)."""

    paths: list[Path]
    person: np.ndarray
    subjects: dict[str, np.ndarray]
    strangers: np.ndarray
    unknowns: np.ndarray


def photo_set(lfw: Path, *, min_photos: int, strangers: int, unknowns: int) -> PhotoSet:
    people = people_with_photos(lfw, min_photos=1)
    subject_names = [n for n, ph in people.items() if len(ph) >= min_photos]
    others = [n for n, ph in people.items() if len(ph) < min_photos]
    step = max(1, len(others) // (strangers + unknowns))
    spread = others[::step][: strangers + unknowns]
    stranger_names, unknown_names = spread[::2][:strangers], spread[1::2][:unknowns]
    if len(stranger_names) < strangers or len(unknown_names) < unknowns:
        stranger_names, unknown_names = spread[:strangers], spread[strangers:]
    paths, person, subjects = [], [], {}
    for n in subject_names:
        subjects[n] = np.arange(len(paths), len(paths) + len(people[n]))
        paths += people[n]
        person += [n] * len(people[n])
    s0 = len(paths)
    for n in stranger_names + unknown_names:
        paths.append(people[n][0])
        person.append(n)
    idx = np.arange(s0, len(paths))
    return PhotoSet(
        paths, np.array(person), subjects, idx[: len(stranger_names)], idx[len(stranger_names) :]
    )


def pick(candidates: np.ndarray, yaw: np.ndarray, scheme: str, k: int) -> np.ndarray:
    """The ``k`` photos ``scheme`` enrolls from ``candidates`` (indices)."""
    order = candidates[np.argsort(np.abs(yaw[candidates]), kind="stable")]
    if scheme == "frontal" or len(order) <= k:
        return order[:k]
    chosen = [order[0]]
    while len(chosen) < k:
        rest = np.setdiff1d(order, chosen)
        gap = np.min(np.abs(yaw[rest][:, None] - yaw[chosen][None]), axis=1)
        chosen.append(rest[int(np.argmax(gap))])
    return np.array(chosen)


def plain_search(emb: np.ndarray):
    """The gallery's own search of each probe's vector (``emb[idx]``): what recognition
    does with a dlib gallery, or with a fused one on the full vector."""

    def decide(g, idx):
        matches = g.search(emb[idx]).best() if len(idx) else []
        named = np.array([m.name for m in matches], object)
        accepted = np.array([m.accepted for m in matches], bool)
        return named, accepted, None

    return decide


def cascade_search(
    dlib_plain: np.ndarray,
    full: np.ndarray,
    weight: float,
    *,
    below: float | None = None,
    above: float | None = None,
):
    """The cascade as :func:`workbench.cascade.run_cascade` decides: stage 1
    (:func:`workbench.cascade.first_stage`, the band ``below``/``above``, default the
    product's) on the gallery with each probe's plain dlib vector; where it asks for
    stage 2 (``second``: within the band, or a near rival), the gallery's own search on
    the probe's stage-2 vector ``full`` decides, elsewhere dlib's nearest person and
    accept. The third value: which probes needed stage 2."""
    from workbench.cascade import BAND_ABOVE, BAND_BELOW, first_stage

    band = {
        "below": BAND_BELOW if below is None else below,
        "above": BAND_ABOVE if above is None else above,
    }

    def decide(g, idx):
        if not len(idx):
            return np.array([], object), np.array([], bool), np.array([], bool)
        first = first_stage(g, dlib_plain[idx], weight, **band)
        people = first.snapshot.people
        named = np.array([people[r] if r >= 0 else None for r in first.rows], object)
        accepted = first.accept.copy()
        todo = np.flatnonzero(first.second)
        if todo.size:
            for i, m in zip(todo, g.search(full[idx[todo]], k=1).best(), strict=True):
                named[i], accepted[i] = m.name, m.accepted
        return named, accepted, first.second.copy()

    return decide


def search(gallery_emb, owners, probe_sets, deciders, *, decision: str, model_id: str):
    """Enroll ``gallery_emb`` (one row per face, ``owners`` its person) in a product
    gallery; then per decider (``{label: decide(gallery, indices)}``, e.g.
    :func:`plain_search`) ``(names, accepted, stage2, who)`` of each probe set
    ``(indices, true names)``, and the threshold the gallery calibrated."""
    from workbench.gallery import FaceBatch, Gallery

    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id=model_id, decision=decision) as g:
            names = list(dict.fromkeys(owners))
            batches = [FaceBatch(n, gallery_emb[owners == n]) for n in names]
            g.add_many(batches)
            threshold = g.threshold
            out = {
                label: [(*decide(g, idx), who) for idx, who in probe_sets]
                for label, decide in deciders.items()
            }
    return out, threshold


def fused_features(root: Path, paths: list[Path]) -> dict[str, np.ndarray]:
    """Per photo of ``paths``, ``benchmarks/lfw_fusion.py``'s cached features (MediaPipe's
    central face, 5-point alignment: the same keypoints as this benchmark's detections,
    checked by :func:`main`): ``keypoints``, ``dlib``, ``dlib_mirror``, ``mfn``,
    ``mfn_mirror``. Its caches split LFW into View 2's photos, the outsiders' and the
    rest; a missing one is computed (and cached) there."""
    from lfw_fusion import features

    from workbench.evaluate import read_pairs

    view2 = [root / "lfw" / n for n in read_pairs(root / "lfw-pairs.txt").images]
    people = {p.parent.name for p in view2}
    outsiders = [
        p
        for d in sorted(x for x in (root / "lfw").iterdir() if x.is_dir() and x.name not in people)
        for p in sorted(d.glob("*.jpg"))
    ]
    known = set(view2) | set(outsiders)
    rest = [p for p in sorted((root / "lfw").glob("*/*.jpg")) if p not in known]
    where = {}
    for label, group in (("view2", view2), ("outsiders", outsiders), ("rest", rest)):
        for i, p in enumerate(group):
            where.setdefault(p, (label, i))
    missing = [p for p in paths if p not in where]
    if missing:
        raise SystemExit(f"{len(missing)} photos in no fusion cache group, e.g. {missing[0]}")
    needed = {where[p][0] for p in paths}
    groups = {"view2": view2, "outsiders": outsiders, "rest": rest}
    cache = {label: features(groups[label], label) for label in sorted(needed)}
    keys = ("keypoints", "dlib", "dlib_mirror", "mfn", "mfn_mirror")
    return {k: np.stack([cache[where[p][0]][k][where[p][1]] for p in paths]) for k in keys}


def own_distance(e_probe, e_enrolled, decision) -> float:
    if decision == "centroid":
        return float(np.linalg.norm(e_probe - e_enrolled.mean(0)))
    return float(np.linalg.norm(e_enrolled - e_probe, axis=1).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-photos", type=int, default=10)
    parser.add_argument("--probe-yaw", type=float, default=25.0)
    parser.add_argument("--strangers", type=int, default=1000)
    parser.add_argument("--unknowns", type=int, default=500)
    parser.add_argument("--alignment", nargs="+", default=["5-point"], choices=["5-point", "mesh"])
    parser.add_argument(
        "--embedders",
        nargs="+",
        default=["dlib"],
        choices=["dlib", "dlib-flip", "fused"],
        help="fused: the fused embedder's galleries (workbench/embed/fused.py) and its "
        "probes on the full vector and through the cascade (workbench/cascade.py); "
        "dlib-flip: dlib's chip and its mirror averaged (the fused vector's dlib part); "
        "dlib's 5-point rows always run with either (the reference)",
    )
    parser.add_argument(
        "--bands",
        nargs="+",
        default=[],
        help="with --embedders fused: more cascades, each band as below:above (dlib "
        "distance), next to the product's (workbench.cascade.BAND_BELOW / BAND_ABOVE)",
    )
    parser.add_argument(
        "--no-mirror",
        action="store_true",
        help="with --embedders fused: the cascade with stage 2 without the mirror chip too "
        "(the probe's plain dlib vector fused with MobileFaceNet, against the full vectors)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    from workbench.embed import default_embedder

    model_id = default_embedder().model_id
    ps = photo_set(
        root / "lfw", min_photos=args.min_photos, strangers=args.strangers, unknowns=args.unknowns
    )
    tag = f"pose_min{args.min_photos}_s{len(ps.strangers)}_u{len(ps.unknowns)}_mediapipe"
    faces = detections(ps.paths, "mediapipe", tag=tag)
    mesh = meshes(ps.paths, faces, tag=f"{tag}_mesh1")
    yaw = mesh["yaw"]
    print(
        f"{len(ps.subjects)} subjects ({sum(map(len, ps.subjects.values()))} photos), "
        f"{len(ps.strangers)} strangers, {len(ps.unknowns)} unknowns; "
        f"{int((~faces['found']).sum())} photos without a face; |yaw| >= {args.probe_yaw:g}: "
        f"{sum(int((np.abs(yaw[i]) >= args.probe_yaw).sum()) for i in ps.subjects.values())} "
        "subject photos",
        flush=True,
    )

    # Probe halves, enrollments per (scheme, half), and the frontal control probes.
    halves = {0: {}, 1: {}}
    for n, idx in ps.subjects.items():
        turned = idx[np.abs(yaw[idx]) >= args.probe_yaw]
        for h in (0, 1):
            halves[h][n] = turned[h::2]
    enrolled = {
        (s, k, h): {
            n: pick(np.setdiff1d(idx, halves[h][n]), yaw, s, k) for n, idx in ps.subjects.items()
        }
        for s, k in SCHEMES
        for h in (0, 1)
    }
    used = set(np.concatenate([v for e in enrolled.values() for v in e.values()]).tolist())
    control = {
        n: np.array([i for i in idx if abs(yaw[i]) <= FRONTAL_YAW and i not in used], int)
        for n, idx in ps.subjects.items()
    }

    # Each variant: a label, the alignment its dlib chips came from, the vectors the
    # galleries store (one row per photo), the model id and the ways probes are decided.
    variants = []
    for alignment in dict.fromkeys(
        [*args.alignment, *(["5-point"] if set(args.embedders) - {"dlib"} else [])]
    ):
        if "dlib" not in args.embedders and alignment != "5-point":
            continue
        if alignment == "5-point":
            kp = faces["keypoints"]

            def transform(i, kp=kp):
                return chip_transform(kp[i], template="mediapipe")
        else:
            from lfw_mesh import mesh_templates, template_photos

            from workbench.evaluate import read_pairs

            view2 = {n.split("/")[0] for n in read_pairs(root / "lfw-pairs.txt").images}
            template = mesh_templates(template_photos(root, view2, 450), 1)["five"]
            five = FaceMeshes(
                mesh["points"], mesh["scores"], mesh["yaw"], mesh["pitch"], mesh["roll"]
            ).keypoints

            def transform(i, five=five, template=template):
                return similarity_transform(five[i], template)

        emb = embeddings(ps.paths, transform, tag=f"{tag}_{alignment}")
        variants.append((alignment, emb["plain"], model_id, {"dlib": plain_search(emb["plain"])}))
        if alignment == "5-point":
            dlib_plain = emb["plain"]
            if "dlib-flip" in args.embedders:
                # dlib's part of the new fused vector on its own: the flip's share of the
                # fused gain.
                flipped = (emb["plain"] + emb["mirror"]) / 2
                variants.append(
                    (alignment, flipped, model_id, {"dlib + flip": plain_search(flipped)})
                )
    if "fused" in args.embedders:
        from lfw_fusion import unit

        from workbench.embed.fused import FusedEmbedder

        t0 = time.perf_counter()
        f = fused_features(root, ps.paths)
        # The fusion cache must hold this benchmark's faces: the same keypoints and, from
        # them, the same dlib vectors as the 5-point rows.
        kp_gap = float(np.abs(f["keypoints"] - faces["keypoints"]).max())
        dlib_gap = float(np.abs(f["dlib"] - dlib_plain).max())
        if kp_gap > 0.5 or dlib_gap > 1e-4:
            raise SystemExit(
                f"the fusion cache holds other faces (keypoints {kp_gap:.2f} px, dlib "
                f"{dlib_gap:.2g} apart): delete .cache/fusion/ to embed them again"
            )
        product = FusedEmbedder(dlib=_Id(), mobilefacenet=_Id())
        # The full vector as enrollment stores it: dlib's part the mean of the chip's and
        # its mirror's, MobileFaceNet's of the ArcFace chip and its mirror.
        full = product.fuse((f["dlib"] + f["dlib_mirror"]) / 2, unit(f["mfn"] + f["mfn_mirror"]))
        print(
            f"fused vectors from the fusion cache in {time.perf_counter() - t0:.1f} s "
            f"(keypoints {kp_gap:g} px, dlib {dlib_gap:g} from this benchmark's own)",
            flush=True,
        )
        deciders = {
            "fused": plain_search(full),
            "fused, cascade": cascade_search(f["dlib"], full, product.weight),
        }
        no_mirror = product.fuse(f["dlib"], unit(f["mfn"] + f["mfn_mirror"]))
        for band in args.bands:
            below, above = (float(x) for x in band.split(":"))
            deciders[f"fused, cascade -{below:g}/+{above:g}"] = cascade_search(
                f["dlib"], full, product.weight, below=below, above=above
            )
            if args.no_mirror:
                deciders[f"fused, cascade -{below:g}/+{above:g}, no mirror"] = cascade_search(
                    f["dlib"], no_mirror, product.weight, below=below, above=above
                )
        if args.no_mirror:
            deciders["fused, cascade, no mirror"] = cascade_search(
                f["dlib"], no_mirror, product.weight
            )
        variants.append(("5-point", full, FusedEmbedder().model_id, deciders))

    rows = []
    hits: dict[tuple[str, str, str, int, str], np.ndarray] = {}
    for alignment, emb, gallery_model, deciders in variants:
        for scheme, k in SCHEMES:
            for decision in DECISIONS:
                stats = {
                    label: {
                        "hit": [],
                        "right": 0,
                        "accepted_right": 0,
                        "accepted_wrong": 0,
                        "probes": 0,
                        "stage2": [],
                        "control_right": 0,
                        "control": 0,
                        "control_stage2": [],
                        "unknown_named": 0,
                        "unknown": 0,
                    }
                    for label in deciders
                }
                dists, thresholds = [], []
                for h in (0, 1):
                    chosen = enrolled[(scheme, k, h)]
                    g_idx = np.concatenate([*chosen.values(), ps.strangers])
                    owners = ps.person[g_idx]
                    probe_idx = np.concatenate(list(halves[h].values()))
                    sets = [(probe_idx, ps.person[probe_idx])]
                    if h == 0:
                        c_idx = np.concatenate(list(control.values()))
                        sets += [(c_idx, ps.person[c_idx]), (ps.unknowns, None)]
                    results, threshold = search(
                        emb[g_idx],
                        owners,
                        sets,
                        deciders,
                        decision=decision,
                        model_id=gallery_model,
                    )
                    thresholds.append(threshold)
                    for i in probe_idx:
                        dists.append(own_distance(emb[i], emb[chosen[ps.person[i]]], decision))
                    for label, res in results.items():
                        st = stats[label]
                        named, acc, stage2, who = res[0]
                        st["probes"] += len(who)
                        st["right"] += int((named == who).sum())
                        st["accepted_right"] += int(((named == who) & acc).sum())
                        st["hit"].append((named == who) & acc)
                        st["accepted_wrong"] += int(((named != who) & acc).sum())
                        if stage2 is not None:
                            st["stage2"].append(stage2)
                        if h == 0:
                            named, acc, stage2, who = res[1]
                            st["control"] += len(who)
                            st["control_right"] += int(((named == who) & acc).sum())
                            _, acc, stage2_u, _ = res[2]
                            st["unknown"] += len(acc)
                            st["unknown_named"] += int(acc.sum())
                            if stage2 is not None:
                                st["control_stage2"] += [stage2, stage2_u]
                for label, st in stats.items():
                    n_probes = st["probes"]
                    row = {
                        "embedder": label,
                        "alignment": alignment,
                        "enrollment": f"{scheme} {k}",
                        "decision": decision,
                        "probes": n_probes,
                        "rank1": st["right"] / n_probes,
                        "accepted_right": st["accepted_right"] / n_probes,
                        "accepted_wrong": st["accepted_wrong"] / n_probes,
                        "median_distance": float(np.median(dists)),
                        "threshold": float(np.mean(thresholds)),
                        "control_probes": st["control"],
                        "control_accepted_right": st["control_right"] / max(st["control"], 1),
                        "unknowns": st["unknown"],
                        "unknowns_named": st["unknown_named"] / max(st["unknown"], 1),
                    }
                    full_key = ("fused", alignment, scheme, k, decision)
                    if label != "fused" and full_key in hits:
                        row["differs_from_full"] = int(
                            (hits[full_key] != np.concatenate(st["hit"])).sum()
                        )
                    if st["stage2"]:
                        row["stage2_probes"] = float(np.concatenate(st["stage2"]).mean())
                        row["stage2_controls"] = float(np.concatenate(st["control_stage2"]).mean())
                    # Paired on the same probes: against the frontal enrollment of as many
                    # photos, against the 5-point alignment (dlib), and against dlib
                    # (5-point, the default pipeline) for the fused embedder.
                    key = (label, alignment, scheme, k, decision)
                    hits[key] = hit = np.concatenate(st["hit"])
                    for name, ref in (
                        ("vs_frontal", (label, alignment, "frontal", k, decision)),
                        ("vs_5point", (label, "5-point", scheme, k, decision)),
                        ("vs_dlib", ("dlib", "5-point", scheme, k, decision)),
                    ):
                        if name == "vs_5point" and label != "dlib":
                            continue
                        if name == "vs_dlib" and label == "dlib":
                            continue
                        if ref in hits and ref != key:
                            b = int((hits[ref] & ~hit).sum())
                            c = int((~hits[ref] & hit).sum())
                            row[name] = {"ref_only": b, "this_only": c, "p": mcnemar_exact(b, c)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"{time.strftime('%H:%M UTC', time.gmtime())}"
    )
    print(
        f"| embedder | alignment | enrollment | decision | probes (|yaw| >= {args.probe_yaw:g}) "
        "| rank-1 | accepted, right | vs frontal k (b/c, p) | vs 5-point (b/c, p) "
        "| vs dlib (b/c, p) | accepted, wrong | median distance to own | threshold "
        "| frontal control: accepted, right (n) | unknowns named (n) "
        "| MobileFaceNet ran on (probes; controls + unknowns) | differs from fused |"
    )
    print("| --- | --- | --- | --- | " + "---: | " * 13)

    def cmp(v):
        if not v:
            return "-"
        p = f"{v['p']:.4f}" if v["p"] >= 1e-4 else f"{v['p']:.1e}"
        return f"{v['ref_only']}/{v['this_only']}, p = {p}"

    for r in rows:
        share = (
            f"{r['stage2_probes']:.1%}; {r['stage2_controls']:.1%}" if "stage2_probes" in r else "-"
        )
        print(
            f"| {r['embedder']} | {r['alignment']} | {r['enrollment']} | {r['decision']} "
            f"| {r['probes']} | {r['rank1']:.1%} | {r['accepted_right']:.1%} "
            f"| {cmp(r.get('vs_frontal'))} | {cmp(r.get('vs_5point'))} "
            f"| {cmp(r.get('vs_dlib'))} | {r['accepted_wrong']:.1%} "
            f"| {r['median_distance']:.3f} | {r['threshold']:.3f} "
            f"| {r['control_accepted_right']:.1%} ({r['control_probes']}) "
            f"| {r['unknowns_named']:.1%} ({r['unknowns']}) | {share} "
            f"| {r.get('differs_from_full', '-')} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


class _Id:
    """Stands for a model in :class:`workbench.embed.fused.FusedEmbedder` when only its
    arithmetic (``fuse``, ``weight``) is used: the vectors come from the cache."""

    model_id = "unused"


if __name__ == "__main__":
    main()
