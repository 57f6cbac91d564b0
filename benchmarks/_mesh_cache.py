"""Per-photo detections, face meshes and embeddings for the mesh and pose benchmarks,
cached in git-ignored files under ``.cache/mesh/`` (minutes of work on 2 cores each).

Each file is named by the caller's tag (the photo set, the detector, the variant), holds
the photo list it was made from (a different list recomputes it) and is written
atomically (temporary file, then rename), so helpers sharing ``.cache/`` cannot read a
half-written file.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "mesh"


def _key(paths) -> str:
    return hashlib.sha256("\n".join(map(str, paths)).encode()).hexdigest()[:16]


def cached(tag: str, paths, compute: Callable[[], dict]) -> dict:
    """``compute()``'s arrays, from ``.cache/mesh/<tag>.npz`` when it was made from the
    same ``paths``."""
    path = CACHE / f"{tag}.npz"
    key = _key(paths)
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        if str(z["key"]) == key:
            return {k: z[k] for k in z.files if k != "key"}
    out = compute()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{time.time_ns()}.tmp.npz")
    np.savez(tmp, key=key, **out)
    tmp.replace(path)
    return out


def detections(paths: list[Path], detector_name: str, *, tag: str) -> dict:
    """The central face per photo: ``xyxy (n, 4)``, ``keypoints (n, 5, 2)``, ``found``
    ``(n,)``, ``seconds``. Photos without a face get the mean box and keypoints (LFW
    centres its faces), as :func:`workbench.evaluate.align_images` does."""

    def compute() -> dict:
        from workbench.detect import create_detector
        from workbench.pipeline import picked_faces

        boxes, kps, found = [], [], []
        start = time.perf_counter()
        with create_detector(detector_name) as det:
            for i, (_, face) in enumerate(
                picked_faces(paths, detector=det, pick="central", batch_size=32)
            ):
                found.append(len(face) > 0)
                boxes.append(face.xyxy[0] if len(face) else np.zeros(4, np.float32))
                kps.append(face.keypoints[0] if len(face) else np.zeros((5, 2), np.float32))
                if (i + 1) % 1000 == 0:
                    print(f"  {tag}: detected {i + 1}/{len(paths)}", flush=True)
        seconds = time.perf_counter() - start
        boxes, kps, found = np.array(boxes), np.array(kps), np.array(found)
        if found.any() and not found.all():
            boxes[~found], kps[~found] = boxes[found].mean(0), kps[found].mean(0)
        return {"xyxy": boxes, "keypoints": kps, "found": found, "seconds": seconds}

    return cached(tag, paths, compute)


def meshes(paths: list[Path], faces: dict, *, tag: str, passes: int = 1) -> dict:
    """The mesh of each photo's face: ``points (n, 468, 3)``, ``scores``, ``yaw``,
    ``pitch``, ``roll`` ``(n,)``, ``seconds`` (the mesh calls alone, not reading)."""

    def compute() -> dict:
        from workbench.faces import FaceDetections
        from workbench.images import load_image
        from workbench.mesh import FaceMesh

        out = {k: [] for k in ("points", "scores", "yaw", "pitch", "roll")}
        seconds = 0.0
        with FaceMesh(passes=passes) as mesh:
            for i, p in enumerate(paths):
                image = load_image(p)
                face = FaceDetections(
                    faces["xyxy"][i : i + 1].astype(np.float32),
                    np.ones(1, np.float32),
                    faces["keypoints"][i : i + 1].astype(np.float32),
                )
                t0 = time.perf_counter()
                m = mesh.run(image, face)
                seconds += time.perf_counter() - t0
                for k in out:
                    out[k].append(getattr(m, k)[0])
                if (i + 1) % 2000 == 0:
                    print(f"  {tag}: meshed {i + 1}/{len(paths)}", flush=True)
        return {**{k: np.array(v) for k, v in out.items()}, "seconds": seconds}

    return cached(tag, paths, compute)


def embeddings(paths: list[Path], transforms: Callable[[int], np.ndarray], *, tag: str) -> dict:
    """``plain`` and ``mirror`` ``(n, 128)`` embeddings of the chip cut with
    ``transforms(i)`` (photo ``i``'s image-to-chip ``(2, 3)`` similarity), and the
    seconds spent cutting (``cut_s``) and embedding (``embed_s``)."""

    def compute() -> dict:
        from workbench.align import cut_chip
        from workbench.embed import default_embedder
        from workbench.images import load_image

        embedder = default_embedder()
        plain, mirror, cut_s, embed_s = [], [], 0.0, 0.0
        chunk = 256
        for s in range(0, len(paths), chunk):
            t0 = time.perf_counter()
            chips = np.stack(
                [
                    cut_chip(load_image(paths[i]), transforms(i))
                    for i in range(s, min(s + chunk, len(paths)))
                ]
            )
            t1 = time.perf_counter()
            plain.append(embedder.embed(chips, batch_size=32))
            mirror.append(embedder.embed(np.ascontiguousarray(chips[:, :, ::-1]), batch_size=32))
            embed_s += (time.perf_counter() - t1) / 2
            cut_s += t1 - t0
        print(f"  {tag}: embedded {len(paths)}", flush=True)
        return {
            "plain": np.concatenate(plain).astype(np.float32),
            "mirror": np.concatenate(mirror).astype(np.float32),
            "cut_s": cut_s,
            "embed_s": embed_s,
        }

    return cached(tag, paths, compute)
