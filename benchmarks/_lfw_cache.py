"""LFW embeddings through the package's own pipeline, cached in a git-ignored file.

Computing them takes minutes (detect, align, embed 9,164 photos on 2 cores), so the
clustering benchmark reads them from ``.cache/`` at the project root (ignored by git,
never committed) and recomputes only when the file is missing or made with other options.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache"


def people_with_photos(lfw: Path, *, min_photos: int = 2) -> dict[str, list[Path]]:
    """``{person: [photo, ...]}`` for every person with at least ``min_photos`` photos."""
    out = {}
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= min_photos:
            out[person.name] = photos
    return out


def lfw_embeddings(
    lfw: Path, *, detector: str = "mediapipe", min_photos: int = 2, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(embeddings (n, 128) float32, person labels (n,), no_face (n,) bool, seconds)``.

    One face per photo (the central one, as LFW centres the named person), through
    :func:`workbench.evaluate.align_images` and :func:`workbench.evaluate.embed_chips`,
    the code ``workbench eval lfw`` runs. ``seconds`` is the time it took when the cache
    was made.
    """
    CACHE_DIR.mkdir(exist_ok=True)
    path = CACHE_DIR / f"lfw_embeddings_{detector}_min{min_photos}.npz"
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        return z["embeddings"], z["labels"], z["no_face"], float(z["seconds"])
    from workbench.detect import create_detector
    from workbench.embed import default_embedder
    from workbench.evaluate import align_images, embed_chips

    people = people_with_photos(lfw, min_photos=min_photos)
    paths = [p for photos in people.values() for p in photos]
    labels = np.array([p.parent.name for p in paths])
    embedder = default_embedder()
    start = time.perf_counter()
    parts, no_face = [], []
    with create_detector(detector) as det:
        # In chunks: 9,164 chips at once would hold 600 MB.
        for i in range(0, len(paths), chunk):
            aligned = align_images(paths[i : i + chunk], detector=det, progress=False)
            parts.append(embed_chips(aligned.chips, embedder=embedder))
            no_face.append(aligned.no_face)
            print(f"embedded {min(i + chunk, len(paths))}/{len(paths)}", flush=True)
    seconds = time.perf_counter() - start
    emb = np.concatenate(parts).astype(np.float32)
    nf = np.concatenate(no_face)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, embeddings=emb, labels=labels, no_face=nf, seconds=seconds)
    tmp.replace(path)
    return emb, labels, nf, seconds


#: The embedders whose LFW vectors the gallery benchmarks can read (``--embedder``).
EMBEDDERS = ("dlib", "fused")


def lfw_vectors(
    lfw: Path, *, embedder: str = "dlib", detector: str = "mediapipe", min_photos: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`lfw_embeddings`' photos (same order) embedded by ``embedder``.

    ``"dlib"`` is :func:`lfw_embeddings` itself. ``"fused"`` reads the vectors from
    ``benchmarks/lfw_fusion.py``'s features caches (``.cache/fusion/``: dlib plain and
    mirrored, MobileFaceNet plain and mirrored, MediaPipe's central face of every LFW
    photo) without embedding again (``lfw_fusion.fused_vectors``); ``no_face`` holds the photos
    where MediaPipe found none (their keypoints are the mean ones there), ``seconds`` is
    NaN (the caches keep the cost per step, not in total).
    """
    if embedder == "dlib":
        return lfw_embeddings(lfw, detector=detector, min_photos=min_photos)
    if embedder != "fused":
        raise SystemExit(f"--embedder must be one of {EMBEDDERS}, not {embedder!r}")
    if detector != "mediapipe":
        raise SystemExit("--embedder fused: the features cache holds MediaPipe's faces only")
    from lfw_fusion import cache_groups, features, fused_vectors

    where, vecs, found = {}, [], []
    for group, label in cache_groups(lfw.parent):
        f = features(group, label)
        start = sum(len(v) for v in vecs)
        where.update({p: start + i for i, p in enumerate(group)})
        vecs.append(fused_vectors(f))
        found.append(f["found"])
    vecs, found = np.concatenate(vecs), np.concatenate(found)
    people = people_with_photos(lfw, min_photos=min_photos)
    idx = np.array([where[p] for photos in people.values() for p in photos])
    labels = np.array([name for name, photos in people.items() for _ in photos])
    return vecs[idx].astype(np.float32), labels, ~found[idx], float("nan")


if __name__ == "__main__":
    from workbench.data import shared_data_dir

    e, lab, nf, s = lfw_embeddings(shared_data_dir() / "lfw")
    print(e.shape, len(set(lab)), int(nf.sum()), f"{s:.1f} s")
