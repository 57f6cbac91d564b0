"""Fixtures of the embedding tests: dlib's weights, one embedder per session, and real
aligned LFW chips with dlib's own descriptors as the reference.

The chips are made the way dlib made its training chips: dlib's HOG face detector (the
image centre when it finds nothing; LFW faces are centred), its 5-point shape predictor,
then ``get_face_chip(size=150, padding=0.25)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.errors import ModelAssetError

#: People with at least two LFW photos, two photos each: 50 x 2 = 100 chips.
N_PEOPLE = 50


@pytest.fixture(scope="session")
def dat_path() -> Path:
    from workbench.assets import asset_path

    try:
        return asset_path("dlib_resnet_v1", download=False)
    except ModelAssetError as exc:
        pytest.skip(f"dlib's ResNet weights are not available: {exc}")


@pytest.fixture(scope="session")
def dat_bytes(dat_path: Path) -> bytes:
    return dat_path.read_bytes()


@pytest.fixture(scope="session")
def dlib():
    return pytest.importorskip("dlib", reason="dlib-bin (the reference oracle) is not installed")


@pytest.fixture(scope="session")
def embedder(dat_path):
    from workbench.embed import Embedder

    with Embedder() as emb:
        emb.load()
        yield emb


@pytest.fixture(scope="session")
def lfw_pairs_of_people(lfw_dir: Path) -> list[tuple[str, Path]]:
    """``(person, path)`` for two photos each of the first :data:`N_PEOPLE` people."""
    out: list[tuple[str, Path]] = []
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2:
            out += [(person.name, photos[0]), (person.name, photos[1])]
        if len(out) >= 2 * N_PEOPLE:
            break
    if len(out) < 2 * N_PEOPLE:
        pytest.skip(f"{lfw_dir} has fewer than {N_PEOPLE} people with two photos")
    return out


@pytest.fixture(scope="session")
def lfw_chips(dlib, lfw_pairs_of_people) -> tuple[np.ndarray, list[str]]:
    """``(100, 150, 150, 3)`` uint8 chips aligned by dlib, and the person of each."""
    from face_recognition_models import pose_predictor_five_point_model_location
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(pose_predictor_five_point_model_location())
    chips, names = [], []
    for name, path in lfw_pairs_of_people:
        img = np.asarray(Image.open(path).convert("RGB"))
        found = detector(img, 0)
        if len(found):
            rect = max(found, key=lambda r: r.area())
        else:
            h, w = img.shape[:2]
            rect = dlib.rectangle(w // 4, h // 4, 3 * w // 4, 3 * h // 4)
        shape = predictor(img, rect)
        chips.append(dlib.get_face_chip(img, shape, size=150, padding=0.25))
        names.append(name)
    return np.stack(chips).astype(np.uint8), names


@pytest.fixture(scope="session")
def dlib_descriptors(dlib, dat_path, lfw_chips) -> np.ndarray:
    """dlib-bin's ``compute_face_descriptor`` of each chip: ``(100, 128)`` float64."""
    model = dlib.face_recognition_model_v1(str(dat_path))
    chips, _ = lfw_chips
    return np.array([np.asarray(model.compute_face_descriptor(c)) for c in chips])
