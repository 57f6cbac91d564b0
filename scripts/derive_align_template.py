"""Derive where our detectors' five keypoints land in dlib's 150x150 face chip.

dlib's face ResNet was trained on chips cut by ``get_face_chip(size=150, padding=0.25)``
from its 5-point shape predictor (eye corners, bottom of the nose). Our detectors give
eye centres, the nose tip and mouth corners instead. For each LFW photo where dlib's HOG
detector finds one face, this script

1. runs dlib's 5-point predictor and rebuilds dlib's chip transform exactly as
   ``dlib/image_transforms/interpolation.h`` computes it (``get_face_chip_details``:
   the similarity fit of the padded template; ``chip_details``: angle, scale and the
   ``centered_drect``; ``extract_image_chips``: chip corners onto the rotated rectangle),
   and checks that warping with it reproduces ``dlib.get_face_chip`` pixel for pixel;
2. runs each of our detectors, takes the face that holds dlib's nose point, and maps its
   keypoints into chip pixels with that transform;
3. averages per detector (the median, robust to an odd detection) and prints the
   templates to paste into ``workbench/align.py`` (``TEMPLATES``).

The photos are those of people who do not appear in LFW View 2 (``lfw-pairs.txt``), so
the LFW benchmark (``benchmarks/lfw.py``) scores the templates on photos and people they
were not derived from.

It also reports, for a grid of keypoint weightings, how far the weighted similarity fit
puts the face from where dlib's chip has it (mean displacement over the face area), and
prints per detector either equal weights or the weighting closest to dlib's chips
(``--weights``; default ``mtcnn=equal,mediapipe=closest``). Sitting closest to dlib's
chips is not the same as verifying best: for MTCNN the eyes-heavy weighting scored no
better on LFW View 2 than the plain least-squares fit through all five points, which
jitters less per photo; MediaPipe's nose point scatters far more and its mouth corners
are estimated, so there the closest weighting did better. ``docs/benchmarks/align.md``
has the figures.

With ``--check`` it then aligns held-out photos with the new templates and reports how
far our chips' embeddings are from those of dlib's chips of the same photos.

Run: .venv/bin/python scripts/derive_align_template.py [--images 450] [--check 150]
         [--weights equal|closest] [--records FILE.npz]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from workbench.align import CHIP_SIZE, similarity_transform
from workbench.data import lfw_images
from workbench.images import load_image

#: dlib's 5-point chip template (``get_face_chip_details``), before padding, in order of
#: the shape predictor's parts.
DLIB_5_POINT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
PADDING = 0.25


def dlib_chip_to_image(parts: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING):
    """The ``(2, 3)`` affine taking chip pixels to image pixels, as dlib samples them."""
    chip_points = (padding + DLIB_5_POINT_TEMPLATE) / (2 * padding + 1) * size
    t = similarity_transform(chip_points, parts)  # chip -> image, dlib's chip_details fit
    p = t[:, :2] @ np.array([1.0, 0.0])
    angle = math.atan2(p[1], p[0])
    scale = math.hypot(p[0], p[1])
    center = t @ np.array([size / 2, size / 2, 1.0])
    half = (size * scale - 1) / 2  # centered_drect subtracts one from the width
    cos, sin = math.cos(angle), math.sin(angle)
    rot = np.array([[cos, -sin], [sin, cos]])

    def corner(dx, dy):
        return center + rot @ np.array([dx, dy])

    tl, tr, bl = corner(-half, -half), corner(half, -half), corner(-half, half)
    # Affine from chip pixel corners (0,0), (size-1,0), (0,size-1) onto those corners.
    m = np.empty((2, 3))
    m[:, 0] = (tr - tl) / (size - 1)
    m[:, 1] = (bl - tl) / (size - 1)
    m[:, 2] = tl
    return m


def invert(m: np.ndarray) -> np.ndarray:
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, -(a @ m[:, 2])[:, None]])


#: Weightings tried in the similarity fit: (eyes, nose, mouth corners), symmetric.
CANDIDATE_WEIGHTS = {
    f"eyes {e:g}, nose {n:g}, mouth {m:g}": (e, e, n, m, m)
    for e in (1, 2, 3, 4)
    for n in (0, 0.5, 1, 2)
    for m in (0, 0.25, 0.5, 1)
}


def collect(paths, detectors, n_replay: int = 20):
    """Per photo with one HOG face: dlib's chip-to-image affine, each detector's keypoints
    (NaN where it found no face holding dlib's nose point), and dlib's chip."""
    import cv2
    import dlib
    from face_recognition_models import pose_predictor_five_point_model_location

    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(pose_predictor_five_point_model_location())
    to_image, keypoints, chips, replay_errors = [], {n: [] for n in detectors}, [], []
    used = []
    for path in paths:
        image = load_image(path)
        rects = hog(image, 1)
        if len(rects) != 1:
            continue
        shape = predictor(image, rects[0])
        parts = np.array([[shape.part(k).x, shape.part(k).y] for k in range(5)], float)
        affine = dlib_chip_to_image(parts)
        chip = np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=PADDING))
        if len(replay_errors) < n_replay:
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            replay = cv2.warpAffine(image, affine, (CHIP_SIZE, CHIP_SIZE), flags=flags)
            replay_errors.append(np.abs(replay.astype(int) - chip.astype(int)).mean())
        to_image.append(affine)
        chips.append(chip)
        used.append(str(path))
        for name, detector in detectors.items():
            faces = detector.detect(image)
            inside = [
                j
                for j, (x0, y0, x1, y1) in enumerate(faces.xyxy)
                if x0 <= parts[4, 0] <= x1 and y0 <= parts[4, 1] <= y1
            ]
            kp = faces.keypoints[inside[0]] if len(inside) == 1 else np.full((5, 2), np.nan)
            keypoints[name].append(kp.astype(float))
    return (
        np.stack(to_image),
        {n: np.stack(v) for n, v in keypoints.items()},
        np.stack(chips),
        float(np.mean(replay_errors)),
        used,
    )


def to_chip_points(to_image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``(n, 5, 2)`` keypoints mapped into dlib's chip of their photo."""
    out = np.empty_like(keypoints)
    for i, (affine, kp) in enumerate(zip(to_image, keypoints, strict=True)):
        out[i] = np.hstack([kp, np.ones((5, 1))]) @ invert(affine).T
    return out


def geometric_error(to_image, keypoints, template, weights) -> float:
    """Mean distance (chip pixels) between where our alignment and dlib's put the points
    of the chip's central 100x100 face area."""
    g = np.linspace(25, 125, 11)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    grid_h = np.hstack([grid, np.ones((len(grid), 1))])
    errors = []
    for affine, kp in zip(to_image, keypoints, strict=True):
        if np.isnan(kp).any():
            continue
        ours = similarity_transform(kp, template, weights)
        in_image = grid_h @ affine.T
        moved = np.hstack([in_image, np.ones((len(grid), 1))]) @ ours.T
        errors.append(np.linalg.norm(moved - grid, axis=1).mean())
    return float(np.mean(errors))


def parse_weight_choice(spec: str, names: list[str]) -> dict[str, str]:
    """``'equal'``, ``'closest'`` or ``'name=choice,...'`` -> a choice per detector (equal
    for detectors the spec does not name)."""
    if spec in ("equal", "closest"):
        return dict.fromkeys(names, spec)
    choice = dict.fromkeys(names, "equal")
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if value not in ("equal", "closest"):
            raise SystemExit(f"--weights: expected NAME=equal or NAME=closest, got {item!r}")
        choice[name.strip()] = value
    return choice


def held_out_photos(paths: list[Path], pairs_file: str) -> tuple[list[Path], str]:
    """The photos of people not named in ``pairs_file`` (``'default'``: LFW View 2's
    ``lfw-pairs.txt`` beside the images; ``'none'``: no exclusion), and a note saying so."""
    if pairs_file == "none":
        return paths, ""
    if pairs_file == "default":
        pairs_file = str(Path(paths[0]).parent.parent.parent / "lfw-pairs.txt")
        if not Path(pairs_file).is_file():
            return paths, ", no lfw-pairs.txt to exclude"
    from workbench.evaluate import read_pairs

    people = {name.split("/")[0] for name in read_pairs(pairs_file).images}
    kept = [p for p in paths if Path(p).parent.name not in people]
    return kept, f" of the {len(kept)} of people not in {Path(pairs_file).name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=450, help="photos to derive from")
    parser.add_argument("--check", type=int, default=150, help="held-out photos to check")
    parser.add_argument(
        "--weights",
        default="mtcnn=equal,mediapipe=closest",
        help="keypoint weights to print: 'equal', 'closest' (the weighting whose chips sit "
        "closest to dlib's), or per detector, e.g. 'mtcnn=equal,mediapipe=closest'",
    )
    parser.add_argument("--detectors", default="mtcnn,mediapipe")
    parser.add_argument("--records", help="npz to reuse (or write) the collected detections")
    parser.add_argument(
        "--exclude-pairs",
        default="default",
        help="pairs file whose people are left out, so the evaluation on it stays honest "
        "(default: LFW View 2's lfw-pairs.txt beside the images; 'none' keeps everyone)",
    )
    args = parser.parse_args()

    from workbench.detect import create_detector

    names = args.detectors.split(",")
    weight_choice = parse_weight_choice(args.weights, names)
    start = time.perf_counter()
    if args.records and Path(args.records).is_file():
        data = np.load(args.records)
        to_image, chips, replay = data["to_image"], data["chips"], float(data["replay"])
        used = [str(p) for p in data["paths"]]
        keypoints = {n: data[f"kp_{n}"] for n in names}
        what = f"records {args.records}"
    else:
        paths = lfw_images()
        if not paths:
            raise SystemExit("LFW not found: set WORKBENCH_DATA or put ../shared/data beside it")
        paths, excluded = held_out_photos(paths, args.exclude_pairs)
        step = max(1, len(paths) // (args.images + args.check))
        paths = paths[::step][: args.images + args.check]
        detectors = {n: create_detector(n) for n in names}
        try:
            to_image, keypoints, chips, replay, used = collect(paths, detectors)
        finally:
            for detector in detectors.values():
                detector.close()
        what = f"{len(paths)} LFW photos (every {step}th{excluded})"
        if args.records:
            np.savez_compressed(
                args.records, to_image=to_image, chips=chips, replay=replay, paths=np.array(used),
                **{f"kp_{n}": v for n, v in keypoints.items()},
            )  # fmt: skip
    n_fit = min(args.images, len(to_image) * 3 // 4)
    print(
        f"# {what}: {len(to_image)} with one dlib HOG face; first {n_fit} derive, the rest "
        f"check ({time.perf_counter() - start:.0f} s)"
    )
    print(
        f"# replaying dlib's chip transform with cv2.warpAffine: mean |pixel difference| "
        f"{replay:.2f} (of 255)"
    )

    chosen = {}
    for name in names:
        mapped = to_chip_points(to_image[:n_fit], keypoints[name][:n_fit])
        mapped = mapped[~np.isnan(mapped).any(axis=(1, 2))]
        template = np.median(mapped, axis=0)
        spread = np.median(np.linalg.norm(mapped - template, axis=2), axis=0)
        print(
            f"# {name}: {len(mapped)} faces; median distance to the template per point "
            "(chip px): " + ", ".join(f"{v:.1f}" for v in spread)
        )
        scores = {
            label: geometric_error(to_image[n_fit:], keypoints[name][n_fit:], template, w)
            for label, w in CANDIDATE_WEIGHTS.items()
        }
        ranked = sorted(scores, key=scores.get)
        for label in ["eyes 1, nose 1, mouth 1", *ranked[:3]]:
            print(
                f"#   weights {label:28s} held-out mean displacement vs dlib {scores[label]:.2f} px"
            )
        best = ranked[0] if weight_choice[name] == "closest" else "eyes 1, nose 1, mouth 1"
        chosen[name] = (template, CANDIDATE_WEIGHTS[best], best, ranked[0])

    print("TEMPLATES = {")
    for name, (t, *_) in chosen.items():
        rows = ", ".join(f"[{x:.2f}, {y:.2f}]" for x, y in t)
        print(f'    "{name}": np.array([{rows}], np.float32),')
    print("}")
    print("KEYPOINT_WEIGHTS = {")
    for name, (_, w, label, _) in chosen.items():
        print(f'    "{name}": np.array({list(map(float, w))}, np.float64),  # {label}')
    print("}")

    if args.check:
        from workbench.align import align_face
        from workbench.embed import Embedder

        embedder = Embedder()
        dlib_emb = embedder.embed(chips[n_fit:])
        images = [load_image(p) for p in used[n_fit:]]
        for name, (template, _, _, closest) in chosen.items():
            for w_label, w in {
                "equal": np.ones(5),
                f"closest to dlib ({closest})": np.array(CANDIDATE_WEIGHTS[closest], float),
            }.items():
                ours, index = [], []
                for k, kp in enumerate(keypoints[name][n_fit:]):
                    if not np.isnan(kp).any():
                        ours.append(align_face(images[k], kp, template=template, weights=w))
                        index.append(k)
                d = np.linalg.norm(embedder.embed(np.stack(ours)) - dlib_emb[index], axis=1)
                print(
                    f"# check {name}, weights {w_label}: {len(index)} held-out photos; "
                    f"embedding distance to dlib's chip of the same photo: median "
                    f"{np.median(d):.3f}, mean {d.mean():.3f}, 90th pct {np.percentile(d, 90):.3f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
