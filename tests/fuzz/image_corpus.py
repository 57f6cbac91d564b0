"""A seeded corpus of hostile image files made from real LFW photos, and the judge of
what :func:`workbench.images.load_image` does with each.

Seeds: a few LFW photos, each encoded in the six formats the workbench reads (JPEG, PNG,
GIF, TIFF, WebP, BMP) with several encoder options per format (progressive JPEG, palette
and 16-bit PNG, LZW TIFF, lossless WebP, 1-bit BMP, ...), so more decoder paths are
reached than one encoding of each would reach. Cases: a seed file with one mutation
(bit flips, random bytes, header bytes, boundary integers written over size fields,
truncation, a range zeroed, duplicated or cut out). The same ``seed`` and ``count`` give
the same files on every machine (only ``random.Random`` and Pillow's encoders are used).

Each case gets one :class:`Outcome`:

``refused``
    an ``InvalidImageError`` (the clean package error).
``decoded``
    a valid ``(H, W, 3)`` uint8 array; ``changed`` says whether its pixels differ from
    the unmutated seed's. A changed result is expected from a format without checksums
    (a flipped bit in JPEG data is a different, valid picture).
``crash``
    any other exception, or an array that breaks the contract (shape, dtype, layout).
``silent``
    a silent change: pixels that differ from the seed's without an error, where the
    file cannot honestly decode that way: a file cut short (the missing data was made
    up) or a PNG, whose chunks carry CRCs and whose pixel stream an Adler-32. Bytes cut
    from the middle of a file count as damage, not truncation: in a format without
    checksums (JPEG, GIF, BMP, WebP, most TIFF) a decoder cannot tell them from content.

Used by ``tests/fuzz/test_fuzz_images.py`` (a few hundred cases in ``make test``) and
``benchmarks/fuzz.py`` (large counts, each worker in its own process so that a native
crash is counted instead of ending the run).
"""

from __future__ import annotations

import io
import random
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

#: File ending per format, for corpora written to disk.
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp"}
SUFFIXES["BMP"] = ".bmp"
FORMATS = tuple(SUFFIXES)

#: Seeds whose encoding detects damage (PNG's chunk CRCs, the Adler-32 at the end of a
#: zlib stream in PNG and in deflate TIFF): a mutated file that decodes to other pixels
#: without an error is a silent change. Names as in :attr:`Seed.name`, or a format.
CHECKSUMMED = frozenset({"PNG", "tiff-deflate"})

MUTATIONS = (
    "bitflip",
    "bytes",
    "header",
    "boundary-int",
    "truncate",
    "zero-range",
    "duplicate-range",
    "cut-range",
)

#: Integers that break size and offset fields: zero, one, sign edges, all ones.
_BOUNDARY = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)

#: Seed pictures are LFW photos scaled to this side: big enough for every decoder path
#: (several JPEG MCUs, TIFF strips, PNG rows), small enough for thousands of cases.
SEED_SIDE = 96


@dataclass(frozen=True)
class Seed:
    """One valid encoded file and the pixels ``load_image`` makes of it."""

    fmt: str
    variant: str
    photo: str
    data: bytes
    pixels: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.fmt.lower()}-{self.variant}"


@dataclass(frozen=True)
class Case:
    """A seed with one mutation applied."""

    index: int
    seed: Seed
    mutation: str
    data: bytes

    @property
    def truncated(self) -> bool:
        return self.mutation == "truncate"

    @property
    def filename(self) -> str:
        return f"{self.index:05d}-{self.seed.name}-{self.mutation}{SUFFIXES[self.seed.fmt]}"


@dataclass(frozen=True)
class Outcome:
    """What ``load_image`` did with one case; see the module docstring."""

    kind: str  # "refused" | "decoded" | "crash" | "silent"
    detail: str = ""
    changed: bool = False
    seconds: float = 0.0


def _photo_images(photos: Iterable[Path]) -> list[tuple[str, Image.Image]]:
    out = []
    for path in photos:
        with Image.open(path) as img:
            small = img.convert("RGB").resize((SEED_SIDE, SEED_SIDE), Image.Resampling.LANCZOS)
        out.append((path.stem, small))
    return out


def _encodings(img: Image.Image) -> Iterator[tuple[str, str, Image.Image, dict]]:
    """``(format, variant, image to save, save options)``: several per format."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exercises the EXIF path
    yield "JPEG", "baseline", img, {"quality": 90}
    yield "JPEG", "progressive", img, {"quality": 75, "progressive": True}
    yield "JPEG", "gray-exif", img.convert("L"), {"exif": exif}
    yield "JPEG", "cmyk", img.convert("CMYK"), {}
    yield "PNG", "rgb", img, {}
    yield "PNG", "palette", img.convert("P", palette=Image.Palette.ADAPTIVE), {}
    yield "PNG", "rgba", img.convert("RGBA"), {}
    yield "PNG", "gray16", img.convert("L").convert("I;16"), {}
    yield "GIF", "palette", img.convert("P", palette=Image.Palette.ADAPTIVE), {}
    yield (
        "GIF",
        "animated",
        img.convert("P", palette=Image.Palette.ADAPTIVE),
        {"save_all": True, "append_images": [img.rotate(90).convert("P")], "duration": 100},
    )
    yield "TIFF", "raw", img, {}
    yield "TIFF", "lzw", img, {"compression": "tiff_lzw"}
    yield "TIFF", "deflate", img.convert("L"), {"compression": "tiff_adobe_deflate"}
    yield "TIFF", "packbits", img, {"compression": "packbits"}
    yield "WEBP", "lossy", img, {"quality": 80}
    yield "WEBP", "lossless", img, {"lossless": True}
    yield "WEBP", "alpha", img.convert("RGBA"), {"quality": 80}
    yield "BMP", "rgb", img, {}
    yield "BMP", "palette", img.convert("P", palette=Image.Palette.ADAPTIVE), {}
    yield "BMP", "1bit", img.convert("1"), {}
    yield "BMP", "rgba", img.convert("RGBA"), {}


def make_seeds(photos: Iterable[Path]) -> list[Seed]:
    """Every photo in every encoding; the pixels come from ``load_image`` of the file."""
    from workbench.images import load_image

    seeds = []
    for stem, img in _photo_images(photos):
        for fmt, variant, image, options in _encodings(img):
            buf = io.BytesIO()
            image.save(buf, format=fmt, **options)
            data = buf.getvalue()
            seeds.append(Seed(fmt, variant, stem, data, load_image(data)))
    return seeds


def mutate(data: bytes, mutation: str, rng: random.Random) -> bytes:
    """``data`` with one mutation of the named kind (never empty, never unchanged)."""
    out = bytearray(data)
    n = len(out)
    if mutation == "bitflip":
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif mutation == "bytes":
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(n)] = rng.randrange(256)
    elif mutation == "header":
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(min(64, n))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    elif mutation == "boundary-int":
        width = rng.choice((2, 4))
        at = rng.randrange(max(1, min(256, n) - width))
        value = rng.choice(_BOUNDARY) & ((1 << (8 * width)) - 1)
        out[at : at + width] = value.to_bytes(width, rng.choice(("little", "big")))
    elif mutation == "truncate":
        # Half the cuts fall in the first 256 bytes, where the headers are.
        end = rng.randrange(1, min(256, n)) if rng.random() < 0.5 else rng.randrange(1, n)
        out = out[:end]
    elif mutation in ("zero-range", "duplicate-range", "cut-range"):
        start = rng.randrange(n)
        stop = min(n, start + rng.randint(1, 64))
        if mutation == "zero-range":
            out[start:stop] = bytes(stop - start)
        elif mutation == "duplicate-range":
            out[stop:stop] = out[start:stop]
        else:
            del out[start:stop]
    else:
        raise ValueError(f"mutation must be one of {MUTATIONS}, but got {mutation!r}")
    if not out:
        out = bytearray(data[:1])
    if bytes(out) == data:
        out[rng.randrange(len(out))] ^= 0xFF
    return bytes(out)


def generate(seeds: list[Seed], *, count: int, seed: int = 0, start: int = 0) -> Iterator[Case]:
    """Cases ``start .. start + count - 1``: formats and mutations in turn, the seed file
    and the mutation's randomness drawn from ``random.Random((seed, index))``, so any case
    can be remade alone from its index."""
    by_format = {fmt: [s for s in seeds if s.fmt == fmt] for fmt in FORMATS}
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{index}")
        fmt = FORMATS[index % len(FORMATS)]
        mutation = MUTATIONS[(index // len(FORMATS)) % len(MUTATIONS)]
        base = rng.choice(by_format[fmt])
        yield Case(index, base, mutation, mutate(base.data, mutation, rng))


def judge(case: Case) -> Outcome:
    """Run ``load_image`` on the case's bytes and classify what happened."""
    from workbench.errors import InvalidImageError
    from workbench.images import MAX_PIXELS, load_image

    t0 = time.perf_counter()
    try:
        # Pillow warns about damaged fields ("Tag data larger than file") as it should;
        # thousands of cases would bury the test report in them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = load_image(case.data, label=case.filename)
    except InvalidImageError as exc:
        return Outcome("refused", str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - counting these is the point
        return Outcome("crash", f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    ok = (
        isinstance(out, np.ndarray)
        and out.dtype == np.uint8
        and out.ndim == 3
        and out.shape[2] == 3
        and out.shape[0] * out.shape[1] <= MAX_PIXELS
        and out.flags["C_CONTIGUOUS"]
    )
    if not ok:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        return Outcome("crash", f"broken array: {got}", seconds=seconds)
    changed = out.shape != case.seed.pixels.shape or not np.array_equal(out, case.seed.pixels)
    checksummed = case.seed.fmt in CHECKSUMMED or case.seed.name in CHECKSUMMED
    if changed and (case.truncated or checksummed):
        why = "truncated file" if case.truncated else f"{case.seed.name} has checksums"
        return Outcome("silent", f"decoded to other pixels without an error ({why})", True, seconds)
    return Outcome("decoded", changed=changed, seconds=seconds)


def judge_pillow(case: Case) -> Outcome:
    """The baseline: plain Pillow (open, load, convert to RGB) on the same bytes, judged
    by the same rules; any exception counts as a crash, since none is the package's."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(case.data)) as img:
                img.load()
                out = np.asarray(img.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 - counting these is the point
            detail = f"{type(exc).__name__}: {exc}"
            return Outcome("crash", detail, seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    seed = case.seed.pixels
    # The seed's pixels are load_image's (alpha onto black, EXIF applied): compare with
    # what plain Pillow makes of the unmutated seed instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(case.seed.data)) as img:
            seed = np.asarray(img.convert("RGB"))
    changed = out.shape != seed.shape or not np.array_equal(out, seed)
    checksummed = case.seed.fmt in CHECKSUMMED or case.seed.name in CHECKSUMMED
    if changed and (case.truncated or checksummed):
        return Outcome("silent", "decoded to other pixels without an error", True, seconds)
    return Outcome("decoded", changed=changed, seconds=seconds)


def load_shape(case: Case) -> tuple[int, ...]:
    """The shape ``load_image`` gives the case (for cases judged ``decoded``)."""
    from workbench.images import load_image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_image(case.data).shape


@dataclass
class Tally:
    """Counts over a run, with the first few examples of each kind of failure."""

    tried: int = 0
    kinds: Counter = field(default_factory=Counter)
    by_format: Counter = field(default_factory=Counter)  # (format, kind)
    changed: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    crash_types: Counter = field(default_factory=Counter)  # exception name -> count
    slowest: tuple[float, str] = (0.0, "")
    seconds: float = 0.0

    def add(self, case: Case, outcome: Outcome) -> None:
        self.record(case.seed.fmt, case.filename, outcome)

    def record(self, fmt: str, filename: str, outcome: Outcome) -> None:
        """Count one outcome (``add`` without the case, for results from a worker)."""
        self.tried += 1
        self.seconds += outcome.seconds
        if outcome.kind == "crash":
            self.crash_types[outcome.detail.split(":", 1)[0]] += 1
        self.kinds[outcome.kind] += 1
        self.by_format[fmt, outcome.kind] += 1
        self.changed += outcome.changed and outcome.kind == "decoded"
        if outcome.kind in ("crash", "silent", "hang"):
            self.examples.setdefault(outcome.kind, [])
            if len(self.examples[outcome.kind]) < 10:
                self.examples[outcome.kind].append(f"{filename}: {outcome.detail}")
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, filename)
