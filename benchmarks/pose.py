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
``benchmarks/lfw_mesh.py`` too. Caches: ``.cache/mesh/`` (git-ignored). Run:
    .venv/bin/python benchmarks/pose.py [--min-photos 10] [--probe-yaw 25]
        [--strangers 1000] [--unknowns 500] [--alignment 5-point mesh] [--json FILE]
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


def search(gallery_emb, owners, probe_sets, emb, *, decision: str, model_id: str):
    """Enroll ``gallery_emb`` (one row per face, ``owners`` its person) in a product
    gallery, then ``(names, accepted, who)`` of the nearest person of each probe set
    ``(indices into emb, true names)``, and the threshold the gallery calibrated."""
    from workbench.gallery import FaceBatch, Gallery

    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id=model_id, decision=decision) as g:
            names = list(dict.fromkeys(owners))
            batches = [FaceBatch(n, gallery_emb[owners == n]) for n in names]
            g.add_many(batches)
            threshold = g.threshold
            out = []
            for idx, who in probe_sets:
                matches = g.search(emb[idx]).best() if len(idx) else []
                named = np.array([m.name for m in matches], object)
                accepted = np.array([m.accepted for m in matches], bool)
                out.append((named, accepted, who))
    return out, threshold


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

    rows = []
    hits: dict[tuple[str, str, int, str], np.ndarray] = {}
    for alignment in args.alignment:
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

        emb = embeddings(ps.paths, transform, tag=f"{tag}_{alignment}")["plain"]
        for scheme, k in SCHEMES:
            for decision in DECISIONS:
                hit = []
                right = accepted_right = accepted_wrong = n_probes = 0
                dists, thresholds = [], []
                control_right = n_control = unknown_named = n_unknown = 0
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
                        emb[g_idx], owners, sets, emb, decision=decision, model_id=model_id
                    )
                    thresholds.append(threshold)
                    named, acc, who = results[0]
                    n_probes += len(who)
                    right += int((named == who).sum())
                    accepted_right += int(((named == who) & acc).sum())
                    hit.append((named == who) & acc)
                    accepted_wrong += int(((named != who) & acc).sum())
                    for i in probe_idx:
                        dists.append(own_distance(emb[i], emb[chosen[ps.person[i]]], decision))
                    if h == 0:
                        named, acc, who = results[1]
                        n_control += len(who)
                        control_right += int(((named == who) & acc).sum())
                        _, acc, _ = results[2]
                        n_unknown += len(acc)
                        unknown_named += int(acc.sum())
                row = {
                    "alignment": alignment,
                    "enrollment": f"{scheme} {k}",
                    "decision": decision,
                    "probes": n_probes,
                    "rank1": right / n_probes,
                    "accepted_right": accepted_right / n_probes,
                    "accepted_wrong": accepted_wrong / n_probes,
                    "median_distance": float(np.median(dists)),
                    "threshold": float(np.mean(thresholds)),
                    "control_probes": n_control,
                    "control_accepted_right": control_right / max(n_control, 1),
                    "unknowns": n_unknown,
                    "unknowns_named": unknown_named / max(n_unknown, 1),
                }
                # Paired against the frontal enrollment of as many photos (same probes).
                # Paired against the frontal enrollment of as many photos, and against the
                # 5-point alignment (same probes).
                hits[(alignment, scheme, k, decision)] = hit = np.concatenate(hit)
                for key, ref in (
                    ("vs_frontal", (alignment, "frontal", k, decision)),
                    ("vs_5point", ("5-point", scheme, k, decision)),
                ):
                    if ref in hits and ref != (alignment, scheme, k, decision):
                        b = int((hits[ref] & ~hit).sum())
                        c = int((~hits[ref] & hit).sum())
                        row[key] = {"ref_only": b, "this_only": c, "p": mcnemar_exact(b, c)}
                rows.append(row)
                print(json.dumps(row), flush=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"{time.strftime('%H:%M UTC', time.gmtime())}"
    )
    print(
        f"| alignment | enrollment | decision | probes (|yaw| >= {args.probe_yaw:g}) | rank-1 "
        "| accepted, right | vs frontal k (b/c, p) | vs 5-point (b/c, p) | accepted, wrong "
        "| median distance to own "
        "| threshold "
        f"| frontal control: accepted, right (n) | unknowns named (n) |"
    )
    print(
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )

    def cmp(v):
        return f"{v['ref_only']}/{v['this_only']}, p = {v['p']:.4f}" if v else "-"

    for r in rows:
        print(
            f"| {r['alignment']} | {r['enrollment']} | {r['decision']} | {r['probes']} "
            f"| {r['rank1']:.1%} | {r['accepted_right']:.1%} | {cmp(r.get('vs_frontal'))} "
            f"| {cmp(r.get('vs_5point'))} | {r['accepted_wrong']:.1%} "
            f"| {r['median_distance']:.3f} | {r['threshold']:.3f} "
            f"| {r['control_accepted_right']:.1%} ({r['control_probes']}) "
            f"| {r['unknowns_named']:.1%} ({r['unknowns']}) |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
