"""A fake recognizer and photos it understands, for the gallery tests.

A fake photo is a small PNG whose first pixel says what the fake recognizer sees:
red = number of faces, green = person code, blue = variant. The embedding of a face is a
fixed unit vector per person plus a little per-variant noise, so identity tests have a
known answer without any model.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.faces import FaceDetections
from workbench.gallery import Gallery

DIM = 128
MODEL = "fake-model-v1"


def person_vector(person: int) -> np.ndarray:
    v = np.random.default_rng(1000 + person).standard_normal(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def face_vector(person: int, variant: int, noise: float = 0.05) -> np.ndarray:
    n = np.random.default_rng(person * 7919 + variant).standard_normal(DIM)
    return (person_vector(person) + noise * n / np.sqrt(DIM)).astype(np.float32)


def photo_array(person: int, variant: int = 0, faces: int = 1) -> np.ndarray:
    rng = np.random.default_rng(person * 31 + variant * 17 + faces)
    img = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    img[0, 0] = (faces, person, variant)
    return img


def photo_bytes(person: int, variant: int = 0, faces: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_array(person, variant, faces)).save(buf, format="PNG")
    return buf.getvalue()


class FakeDetector:
    name = "fake"


class FakeEmbedder:
    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.batches: list[int] = []

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Chips made by :meth:`BatchingFakeRecognizer.chips`: pixel 0 = (face, person, variant)."""
        self.batches.append(len(chips))
        return np.array(
            [face_vector(int(c[0, 0, 1]), int(c[0, 0, 2]) + 100 * int(c[0, 0, 0])) for c in chips],
            np.float32,
        ).reshape(-1, DIM)


class FakeRecognizer:
    """Stands in for :class:`workbench.recognize.Recognizer`."""

    def __init__(self, model_id: str = MODEL) -> None:
        self.detector = FakeDetector()
        self.embedder = FakeEmbedder(model_id)
        self.embed_calls = 0

    def detect(self, image: np.ndarray) -> FaceDetections:
        n, person, variant = (int(v) for v in image[0, 0])
        # Face i has side 4 + 2 i, so the last face is the largest.
        boxes = np.array([[0, 0, 4 + 2 * i, 4 + 2 * i] for i in range(n)], np.float32)
        kps = np.zeros((n, 5, 2), np.float32)
        return FaceDetections(boxes.reshape(n, 4), np.full(n, 0.9, np.float32), kps)

    def embed(self, image: np.ndarray, detections: FaceDetections) -> np.ndarray:
        self.embed_calls += 1
        _, person, variant = (int(v) for v in image[0, 0])
        # Which face (by size) decides the variant, so "largest" is checkable.
        out = []
        for box in detections.xyxy:
            i = int((box[2] - 4) // 2)
            out.append(face_vector(person, variant + 100 * i))
        return np.array(out, np.float32).reshape(-1, DIM)


def write_photo(path: Path, person: int, variant: int = 0, faces: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(person, variant, faces))
    return path


class BatchingFakeRecognizer(FakeRecognizer):
    """A fake with ``chips()``, so enroll_folder embeds several people per batch."""

    def chips(self, image: np.ndarray, detections: FaceDetections) -> np.ndarray:
        _, person, variant = (int(v) for v in image[0, 0])
        out = np.zeros((len(detections), 150, 150, 3), np.uint8)
        for j, box in enumerate(detections.xyxy):
            out[j, 0, 0] = (int((box[2] - 4) // 2), person, variant)
        return out


def raw_sql(location, *statements: tuple) -> list[list[tuple]]:
    """Run SQL on a gallery behind its back (a hand edit, damage): ``statements`` are
    ``(sql, params)`` or ``(sql,)`` in SQLite's dialect, on the file or, for a
    ``postgresql://`` URL, on the database (translated as the gallery's store does).
    Returns each statement's rows (empty for statements without rows)."""
    import sqlite3

    from workbench.gallery import pgstore

    out = []
    if pgstore.is_url(location):
        import psycopg

        with psycopg.connect(str(location)) as con:  # one transaction, committed at exit
            for sql, *params in statements:
                cur = con.execute(pgstore.translate(sql), *(params or [None]))
                out.append(cur.fetchall() if cur.description else [])
        return out
    con = sqlite3.connect(location)
    try:
        for stmt in statements:
            cur = con.execute(*stmt)
            out.append(cur.fetchall())
        con.commit()
    finally:
        con.close()
    return out


def fill_gallery(path, people: int = 3, faces: int = 2) -> None:
    """Create or extend the gallery at ``path`` (a file or a URL) with ``people`` fake
    people of ``faces`` faces each, with sources, hashes, boxes and scores filled in."""
    with Gallery(path, model_id=MODEL) as g:
        for p in range(people):
            g.add_embeddings(
                f"person {p}",
                np.stack([face_vector(p, v) for v in range(faces)]),
                sources=[f"p{p}_{v}.jpg" for v in range(faces)],
                sha256s=[f"{p:02d}{v:062d}" for v in range(faces)],
                boxes=[[1, 2, 30, 40]] * faces,
                detector="fake",
                scores=[0.9] * faces,
            )
