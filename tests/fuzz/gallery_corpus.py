"""A seeded corpus of damaged galleries and hostile exports, and the judge of each.

Seeds: one small gallery made with the fake recognizer's vectors (6 people, 3 faces
each, sources, sha256s, boxes, scores, a hand-set threshold, one person renamed and one
removed so the file has free pages and rewritten cells), and its export (``.npz``).

Cases (``generate``), alternating between the two kinds:

``gallery``
    the seed gallery's bytes with 1 bit, 2-8 bits or 1 byte changed at random offsets.
    Judged by opening it, reading everything a user can read (people, faces with their
    metadata, embeddings, threshold, lookups by name and by sha256 that go through the
    indexes), searching, and enrolling one more face.
``export``
    the seed export with bits flipped, or one field made hostile: a manifest field of
    the wrong type, size or value (deep nesting, huge strings, NaN, ``"128"`` for
    ``dim``, bad names), an array of the wrong dtype or shape or with NaN / inf / 1e38,
    a member missing, extra, or declaring a huge shape. Judged by importing it into a
    fresh gallery.

Each case gets one outcome:

``refused``  a ``GalleryError`` (the clean package error; ``InvalidNameError`` is one).
``same``     opened / imported, and everything read back equals the seed's.
``silent``   opened / imported with something changed and no word (or a hostile field
             accepted).
``crash``    any other exception.

Used by ``tests/fuzz/test_fuzz_gallery.py`` (a few hundred cases in ``make test``) and
``benchmarks/fuzz_gallery.py`` (large counts).
"""

from __future__ import annotations

import io
import json
import random
import tempfile
import time
import traceback
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL = "fuzz-model-v1"
DIM = 128
KINDS = ("gallery", "export")


def _vector(person: int, variant: int) -> np.ndarray:
    rng = np.random.default_rng(1000 * person + variant)
    centre = np.random.default_rng(person).standard_normal(DIM)
    v = centre / np.linalg.norm(centre) + 0.05 * rng.standard_normal(DIM) / np.sqrt(DIM)
    return v.astype(np.float32)


@dataclass(frozen=True)
class Seeds:
    """The seed files' bytes and what reading them must give."""

    gallery: bytes
    export: bytes
    state: tuple  # read_state() of the seed gallery
    imported: tuple  # read_state() of a fresh gallery after importing the export


def make_seeds(folder: Path | None = None) -> Seeds:
    """The seeds; the same bytes on every run (the gallery's clock is fixed meanwhile)."""
    from unittest import mock

    from workbench.gallery import Gallery, store

    with (
        tempfile.TemporaryDirectory(dir=folder) as tmp,
        mock.patch.object(store, "now", lambda: "2026-01-01T00:00:00+00:00"),
    ):
        path = Path(tmp) / "seed.sqlite"
        with Gallery(path, model_id=MODEL) as g:
            for p in range(7):
                g.add_embeddings(
                    f"person {p} Ünïcode",
                    np.stack([_vector(p, v) for v in range(3)]),
                    sources=[f"/photos/p{p}/{v}.jpg" for v in range(3)],
                    sha256s=[f"{p:02x}{v:062x}" for v in range(3)],
                    boxes=[[10 + v, 20, 110, 140.5] for v in range(3)],
                    detector="fake",
                    scores=[0.9, 0.8, None],
                )
            g.rename("person 3 Ünïcode", "Renamed person")
            g.remove_person("person 5 Ünïcode")
            g.set_threshold(0.55)
            out = g.export(Path(tmp) / "seed.npz")
        state = read_state(path)
        imported_path = Path(tmp) / "imported.sqlite"
        with Gallery(imported_path, model_id=MODEL) as g:
            g.import_file(out)
        return Seeds(path.read_bytes(), out.read_bytes(), state, read_state(imported_path))


def read_state(path: Path, *, write: bool = False) -> tuple:
    """Everything a user can read from the gallery at ``path``, as plain values.

    Lookups by name and by sha256 go through the people and sha256 indexes, so a damaged
    index that hides a row shows here. ``write``: also enroll one face and reopen.

    Raises:
        GalleryError: whatever the gallery refuses.
    """
    from workbench.gallery import Gallery

    with Gallery(path, model_id=MODEL, create=False) as g:
        people = g.list_people()
        faces = g.faces()
        vectors, owners = g.embeddings()
        by_name = [tuple(f.id for f in g.faces(p.name)) for p in people]
        # repr as the key: in the baseline (no checksums) a damaged row can hand back
        # bytes where text belongs, and the judge must not be the one to crash.
        shas = sorted((f.sha256 for f in faces if f.sha256), key=repr)
        known = sorted(g.sha256_known(shas).items(), key=repr)
        best = [m.name for m in g.search(vectors).best()] if len(vectors) else []
        state = (
            tuple((p.name, p.faces, p.created) for p in people),
            tuple(faces),
            vectors.tobytes(),
            tuple(owners),
            tuple(by_name),
            tuple(known),
            tuple(best),
            round(g.threshold, 12),
            g.threshold_source,
        )
        if write:
            g.add_embeddings("fuzz newcomer", _vector(99, 0)[None])
    if write:
        with Gallery(path, model_id=MODEL, create=False) as g:
            if "fuzz newcomer" not in g.people:
                raise AssertionError("an enrolled face was lost")
    return state


@dataclass(frozen=True)
class Case:
    index: int
    kind: str  # "gallery" or "export"
    mutation: str
    data: bytes
    hostile: bool  # a structured export mutation that must be refused

    @property
    def name(self) -> str:
        return f"{self.index:05d}-{self.kind}-{self.mutation}"


def _flip(data: bytes, rng: random.Random, mutation: str) -> bytes:
    out = bytearray(data)
    if mutation == "bitflip":
        for _ in range(1):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif mutation == "bitflips":
        for _ in range(rng.randint(2, 8)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    else:  # "byte": one byte replaced by another value
        i = rng.randrange(len(out))
        out[i] = (out[i] + rng.randrange(1, 256)) % 256
    return bytes(out)


# ----------------------------------------------------------------- hostile exports

_DEEP = "[" * 100_000 + "]" * 100_000

#: Per manifest field: values that no valid export holds there.
_BAD_FIELDS: dict[str, list] = {
    "format": [None, "workbench-gallery2", 5, []],
    "version": [None, 2, "1", 1.0, True, []],
    "dim": ["128", 128.0, 0, -1, 2**40, None, True, [128], 64],
    "threshold": ["0.6", float("nan"), float("inf"), -0.5, 0, None, [], {}],
    "model_id": [None, 5, "x" * 1000, [], "another-model"],
    "people": [None, {}, "x", [1], [{}], [{"name": 5}], [{"name": "unknown"}]],
    "faces": [None, {}, "x", [1], [], [{"source": 5}]],
}
_BAD_NAMES = ["", "a/b", "CON", "unknown", "a:b", "trailing.", "x" * 300, "\U0001f642" * 70, 5]
_BAD_FACE_FIELDS = {
    "source": [5, ["a"], "x" * 5000, {"a": 1}],
    "sha256": [5, "x" * 100, []],
    "detector": [5, "x" * 500],
    "created": [5, "x" * 100, None],
}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _npy_header_claiming(shape: tuple, dtype: str) -> bytes:
    """An .npy holding only a header that claims ``shape`` (a MemoryError bait)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()  # the writer puts the magic string first


def _bad_manifest(manifest: dict, rng: random.Random) -> str:
    """Make one manifest field hostile, in place; returns what was done."""
    choice = rng.randrange(3)
    if choice == 0:  # a top-level field
        key = rng.choice(sorted(_BAD_FIELDS))
        manifest[key] = rng.choice(_BAD_FIELDS[key])
        return f"manifest-{key}"
    if choice == 1:  # a person's name
        person = manifest["people"][rng.randrange(len(manifest["people"]))]
        person["name"] = rng.choice(_BAD_NAMES)
        return "manifest-name"
    key = rng.choice(sorted(_BAD_FACE_FIELDS))  # a face's field
    manifest["faces"][rng.randrange(len(manifest["faces"]))][key] = rng.choice(
        _BAD_FACE_FIELDS[key]
    )
    return f"manifest-face-{key}"


_BAD_VALUES = [
    ("embeddings", np.float32(np.nan)),
    ("embeddings", np.float32(np.inf)),
    ("embeddings", np.float32(1e38)),
    ("embeddings", np.float32(0.0)),
    ("person", -1),
    ("person", 10**6),
    ("boxes", np.float32(np.inf)),
    ("scores", np.float32(-np.inf)),
]


def _bad_arrays(arrays: dict[str, np.ndarray], rng: random.Random) -> str:
    """Make one array hostile (a value, its dtype or its shape), in place."""
    if rng.random() < 0.5:
        key, value = rng.choice(_BAD_VALUES)
        row = rng.randrange(arrays[key].shape[0])
        if key == "embeddings":
            arrays[key][row] = value  # the whole row: zeros must be refused too
        elif key == "boxes":
            arrays[key][row, rng.randrange(4)] = value
        else:
            arrays[key][row] = value
        return f"values-{key}"
    key = rng.choice(["embeddings", "person", "boxes", "scores", "manifest"])
    how = rng.choice(["float64", "int64", "shape", "fortran"])
    a = arrays[key]
    if how == "float64":
        arrays[key] = a.astype(np.float64)
    elif how == "int64":
        arrays[key] = a.astype(np.int64)
    elif how == "shape":
        arrays[key] = np.concatenate([a, a[:1]])
    else:
        arrays[key] = np.asfortranarray(np.stack([a, a], axis=-1))
    return f"array-{key}-{how}"


def _bad_zip(arrays: dict[str, np.ndarray], rng: random.Random) -> tuple[str, bytes]:
    """An export whose zip members are wrong: one missing, one extra, one not an array,
    or one whose header claims a huge shape (the probe's MemoryError)."""
    how = rng.choice(["missing", "extra", "huge-header", "not-npy", "duplicate"])
    victim = rng.choice(sorted(arrays))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, a in arrays.items():
            member = io.BytesIO()
            np.save(member, a, allow_pickle=False)
            payload = member.getvalue()
            if key == victim and how == "missing":
                continue
            if key == victim and how == "huge-header":
                payload = _npy_header_claiming((10**12, DIM), a.dtype.str)
            if key == victim and how == "not-npy":
                payload = b"PK\x03\x04 not an array"
            zf.writestr(f"{key}.npy", payload)
            if key == victim and how == "duplicate":
                zf.writestr(f"{key}.npy", payload)
        if how == "extra":
            zf.writestr("evil.npy", b"\x93NUMPY")
    return f"zip-{how}", buf.getvalue()


def _hostile_export(seed: bytes, rng: random.Random) -> tuple[str, bytes]:
    """The seed export with one hostile field; every such file must be refused."""
    with np.load(io.BytesIO(seed), allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    manifest = json.loads(arrays["manifest"].tobytes())
    choice = rng.randrange(4)
    if choice == 0:
        what = _bad_manifest(manifest, rng)
        arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
        return what, _npz(arrays)
    if choice == 1:  # deep nesting where a field was
        key = rng.choice(["people", "faces", "dim", "threshold"])
        text = json.dumps(manifest).replace(f'"{key}": ', f'"{key}": {_DEEP}, "x{key}": ', 1)
        arrays["manifest"] = np.frombuffer(text.encode(), np.uint8)
        return "manifest-deep", _npz(arrays)
    if choice == 2:
        return _bad_arrays(arrays, rng), _npz(arrays)
    return _bad_zip(arrays, rng)


def generate(seeds: Seeds, *, count: int, seed: int = 0, start: int = 0) -> Iterator[Case]:
    """``count`` cases from index ``start``; case ``i`` depends only on ``seed`` and ``i``."""
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{index}")
        kind = KINDS[index % len(KINDS)]
        if kind == "gallery":
            mutation = rng.choice(["bitflip", "bitflip", "bitflips", "byte"])
            yield Case(index, kind, mutation, _flip(seeds.gallery, rng, mutation), False)
        elif rng.random() < 0.5:
            mutation = rng.choice(["bitflip", "bitflips", "byte"])
            yield Case(index, kind, mutation, _flip(seeds.export, rng, mutation), False)
        else:
            with warnings.catch_warnings():  # zipfile's "Duplicate name", NaN casts
                warnings.simplefilter("ignore")
                mutation, data = _hostile_export(seeds.export, rng)
            yield Case(index, kind, mutation, data, True)


# ----------------------------------------------------------------- judging


@dataclass(frozen=True)
class Outcome:
    kind: str  # refused, same, silent, crash
    detail: str = ""
    seconds: float = 0.0


def judge(case: Case, seeds: Seeds, folder: Path, *, write: bool = True) -> Outcome:
    """Open (or import) the case's file in ``folder`` and say what happened; ``write``:
    also enroll one face into an opened gallery."""
    from workbench.errors import GalleryError
    from workbench.gallery import Gallery

    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(dir=folder))
    try:
        if case.kind == "gallery":
            path = work / "case.sqlite"
            path.write_bytes(case.data)
            state = read_state(path, write=write)
            expected = seeds.state
        else:
            path = work / "case.npz"
            path.write_bytes(case.data)
            target = work / "target.sqlite"
            with Gallery(target, model_id=MODEL) as g:
                try:
                    g.import_file(path)
                except GalleryError:
                    if len(g) or g.people:
                        return Outcome("silent", "refused, but wrote part of it")
                    raise
            state = read_state(target)
            expected = seeds.imported
    except GalleryError as exc:
        return Outcome("refused", str(exc).split(": ", 1)[-1][:160], time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a crash
        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = (
            f"{type(exc).__name__}: {str(exc)[:120]} at {Path(where.filename).name}:{where.lineno}"
        )
        return Outcome("crash", detail, time.perf_counter() - t0)
    finally:
        for p in sorted(work.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        work.rmdir()
    seconds = time.perf_counter() - t0
    if case.hostile:
        return Outcome("silent", "a hostile field was accepted", seconds)
    if case.kind == "export":  # an import stamps its own times: compare without them
        state, expected = _timeless(state), _timeless(expected)
    if state != expected:
        return Outcome("silent", _difference(state, expected), seconds)
    return Outcome("same", "", seconds)


def _timeless(state: tuple) -> tuple:
    people, faces, *rest = state
    people = tuple(p[:2] for p in people)
    faces = tuple(f.__class__(**{**f.__dict__, "created": ""}) for f in faces)
    return (people, faces, *rest)


_PARTS = ("people", "faces", "embeddings", "owners", "by name", "by sha256", "search",
          "threshold", "threshold source")  # fmt: skip


def _difference(state: tuple, expected: tuple) -> str:
    return ", ".join(p for p, a, b in zip(_PARTS, state, expected, strict=True) if a != b)


@dataclass
class Tally:
    """Counts of outcomes, overall and per case kind, with a few examples of each."""

    kinds: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def tried(self) -> int:
        return sum(self.kinds.values())

    def record(self, case: Case, outcome: Outcome) -> None:
        self.kinds[outcome.kind] += 1
        self.by_kind[case.kind, outcome.kind] += 1
        self.seconds += outcome.seconds
        if outcome.kind in ("crash", "silent"):
            self.examples.setdefault(outcome.kind, []).append(f"{case.name}: {outcome.detail}")
