"""LFW View 2, 10-fold: alignment from MediaPipe's face mesh against the 5-point default,
for both detectors, with the cost per face and the accuracy on the hardest-yaw tenth.

For each detector the central face of every View 2 photo is detected once; the mesh
(:class:`workbench.mesh.FaceMesh`) runs on it with MediaPipe's own crop from the
detection box (1 pass), and again from that first mesh (2 passes). Chips are cut:

- ``5-point``: today's pipeline (the detector's keypoints and template, as
  ``workbench eval lfw`` aligns);
- ``mesh 5``: the mesh's eye centres, nose tip and mouth corners, equal weights, onto a
  template of those points;
- ``mesh 468``: all 468 mesh points onto a template of all of them.

The mesh templates are where the points land in dlib's own 150x150 chip (dlib's HOG
detector, 5-point predictor and ``get_face_chip`` transform, rebuilt as in
``scripts/derive_align_template.py``), the median over photos of LFW people who are not in
View 2 (and have fewer than 10 photos, so they are not in ``benchmarks/pose.py`` either).
Each row gives the 10-fold accuracy, the errors, McNemar exact tests against the
detector's 5-point row (plain against plain, flip against flip), the tenth of the pairs
whose mesh yaws differ most next to the rest, and the cost per face (mesh calls, and
cutting the chip). Embeddings: the default embedder; flip = the mean with the mirror
chip's.

Caches: ``.cache/mesh/`` (git-ignored). Run:
    .venv/bin/python benchmarks/lfw_mesh.py [--detectors mediapipe mtcnn] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from _mesh_cache import cached, detections, embeddings, meshes

from workbench.align import chip_transform, similarity_transform
from workbench.data import shared_data_dir
from workbench.evaluate import kfold_correct, mcnemar_exact, named_pair_distances, read_pairs
from workbench.images import load_image
from workbench.mesh import FaceMeshes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from derive_align_template import dlib_chip_to_image, invert  # noqa: E402


def template_photos(root: Path, view2: set[str], count: int) -> list[Path]:
    """First photos of people outside View 2 with fewer than 10 photos, spread evenly."""
    people = [d for d in sorted((root / "lfw").iterdir()) if d.is_dir() and d.name not in view2]
    firsts = [ph[0] for d in people if 0 < len(ph := sorted(d.glob("*.jpg"))) < 10]
    step = max(1, len(firsts) // count)
    return firsts[::step][:count]


def mesh_templates(photos: list[Path], passes: int) -> dict:
    """``points (468, 2)`` and ``five (5, 2)``: median chip positions of the mesh points
    and of the mesh's 5 keypoints in dlib's chip, over ``photos`` with one HOG face."""

    def compute() -> dict:
        import dlib
        from face_recognition_models import pose_predictor_five_point_model_location

        from workbench.detect import create_detector
        from workbench.mesh import FaceMesh

        hog = dlib.get_frontal_face_detector()
        predictor = dlib.shape_predictor(pose_predictor_five_point_model_location())
        mapped, mapped5 = [], []
        with create_detector("mediapipe") as det, FaceMesh(passes=passes) as mesh:
            for p in photos:
                image = load_image(p)
                rects = hog(image, 1)
                if len(rects) != 1:
                    continue
                shape = predictor(image, rects[0])
                parts = np.array([[shape.part(k).x, shape.part(k).y] for k in range(5)], float)
                faces = det.detect(image)
                x0, y0, x1, y1 = faces.xyxy.T if len(faces) else np.zeros((4, 0))
                inside = np.flatnonzero(
                    (x0 <= parts[4, 0])
                    & (parts[4, 0] <= x1)
                    & (y0 <= parts[4, 1])
                    & (parts[4, 1] <= y1)
                )
                if len(inside) != 1:
                    continue
                m = mesh.run(image, faces[inside])
                to_chip = invert(dlib_chip_to_image(parts))
                pts = m.points[0, :, :2].astype(float)
                mapped.append(pts @ to_chip[:, :2].T + to_chip[:, 2])
                mapped5.append(m.keypoints[0].astype(float) @ to_chip[:, :2].T + to_chip[:, 2])
        return {
            "points": np.median(mapped, 0),
            "five": np.median(mapped5, 0),
            "photos": np.array(len(mapped)),
        }

    return cached(f"template_mesh{passes}", photos, compute)


def fit_5point(keypoints: np.ndarray, detector: str):
    """Photo ``i`` -> today's image-to-chip transform (the detector's template)."""
    return lambda i: chip_transform(keypoints[i], template=detector)


def fit_points(points: np.ndarray, template: np.ndarray):
    """Photo ``i`` -> the equal-weight similarity of its points onto ``template``."""
    return lambda i: similarity_transform(points[i], template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["mediapipe", "mtcnn"])
    parser.add_argument("--template-photos", type=int, default=450)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = shared_data_dir()
    if root is None:
        raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
    pairs = read_pairs(root / "lfw-pairs.txt")
    names = pairs.images
    index = {n: i for i, n in enumerate(names)}
    paths = [root / "lfw" / n for n in names]
    ia = np.array([index[p.a] for p in pairs.pairs])
    ib = np.array([index[p.b] for p in pairs.pairs])
    view2 = {n.split("/")[0] for n in names}
    photos = template_photos(root, view2, args.template_photos)
    templates = {k: mesh_templates(photos, k) for k in (1, 2)}
    print(
        f"mesh templates from {int(templates[1]['photos'])} photos of people outside View 2; "
        f"5 points (1 pass): {templates[1]['five'].round(2).tolist()}",
        flush=True,
    )

    rows = []
    for det in args.detectors:
        faces = detections(paths, det, tag=f"view2_{det}")
        mesh = {k: meshes(paths, faces, tag=f"view2_{det}_mesh{k}", passes=k) for k in (1, 2)}
        yaw = mesh[1]["yaw"]
        dyaw = np.abs(yaw[ia] - yaw[ib])
        hard = dyaw >= np.quantile(dyaw, 0.9)
        five = {
            k: FaceMeshes(m["points"], m["scores"], m["yaw"], m["pitch"], m["roll"]).keypoints
            for k, m in mesh.items()
        }

        variants = {
            "5-point": (fit_5point(faces["keypoints"], det), 0),
            "mesh 5, 1 pass": (fit_points(five[1], templates[1]["five"]), 1),
            "mesh 5, 2 passes": (fit_points(five[2], templates[2]["five"]), 2),
            "mesh 468, 1 pass": (fit_points(mesh[1]["points"][..., :2], templates[1]["points"]), 1),
        }
        ref: dict[bool, np.ndarray] = {}
        for label, (transform, passes) in variants.items():
            emb = embeddings(
                paths, transform, tag=f"view2_{det}_{label.replace(' ', '').replace(',', '_')}"
            )
            mesh_ms = 1000 * float(mesh[passes]["seconds"]) / len(paths) if passes else 0.0
            cut_ms = 1000 * float(emb["cut_s"]) / len(paths)
            embed_ms = 1000 * float(emb["embed_s"]) / len(paths)
            for flip in (False, True):
                e = (emb["plain"] + emb["mirror"]) / 2 if flip else emb["plain"]
                d = named_pair_distances(e, index, pairs.pairs)
                correct, report = kfold_correct(d, pairs.same, pairs.folds)
                row = {
                    "detector": det,
                    "alignment": label + (" + flip" if flip else ""),
                    "accuracy": report.mean,
                    "std": report.std,
                    "errors": int((~correct).sum()),
                    "hard_yaw_accuracy": float(correct[hard].mean()),
                    "hard_yaw_errors": int((~correct[hard]).sum()),
                    "rest_accuracy": float(correct[~hard].mean()),
                    "mesh_ms": mesh_ms,
                    "cut_ms": cut_ms,
                    "embed_ms": embed_ms * (2 if flip else 1),
                }
                if label == "5-point":
                    ref[flip] = correct
                else:
                    b = int((ref[flip] & ~correct).sum())
                    c = int((~ref[flip] & correct).sum())
                    row["vs_5point"] = {"ref_only": b, "this_only": c, "p": mcnemar_exact(b, c)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        print(
            f"{det}: detection {float(faces['seconds']):.0f} s for {len(paths)} photos "
            f"({int((~faces['found']).sum())} without a face); |yaw| median "
            f"{np.median(np.abs(yaw)):.1f} deg, 90th pct {np.quantile(np.abs(yaw), 0.9):.1f}; "
            f"hardest tenth: yaws {np.quantile(dyaw, 0.9):.1f} deg or more apart",
            flush=True,
        )

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {len(pairs.pairs)} pairs, "
        f"{pairs.n_folds} folds, {len(names)} photos; {time.strftime('%H:%M UTC', time.gmtime())}"
    )
    print(
        "| detector | alignment | accuracy | errors | vs 5-point (b/c, p) "
        "| hardest-yaw tenth (errors) | rest | mesh ms/face | cut ms/face |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        v = r.get("vs_5point")
        cmp = f"{v['ref_only']}/{v['this_only']}, p = {v['p']:.3f}" if v else "-"
        print(
            f"| {r['detector']} | {r['alignment']} | {r['accuracy']:.2%} +- {r['std']:.2%} "
            f"| {r['errors']} | {cmp} | {r['hard_yaw_accuracy']:.2%} ({r['hard_yaw_errors']}) "
            f"| {r['rest_accuracy']:.2%} | {r['mesh_ms']:.1f} | {r['cut_ms']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
