"""Damage that Pillow decodes without a word, refused by workbench._image_integrity (and
libtiff's own complaints, captured by workbench._libtiff)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from workbench import _libtiff
from workbench.errors import InvalidImageError
from workbench.images import load_image


def _noise(side: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def _gradient(side: int = 64) -> Image.Image:
    # Compresses well, so the stream has Huffman-coded runs where one changed bit
    # changes pixels and inflate sees nothing wrong (only the Adler-32 would).
    y, x = np.mgrid[0:side, 0:side]
    return Image.fromarray(np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8))


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _pillow(data: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))


def _silently_damaged(data: bytes, start: int, stop: int) -> bytes:
    """The first one-bit change in ``data[start:stop]`` that plain Pillow decodes to other
    pixels without an error: proof of the gap, and the case the check must refuse."""
    reference = _pillow(data)
    for pos in range(start, stop):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        try:
            with _libtiff.capture():  # libtiff may complain and still hand back pixels
                out = _pillow(bytes(bad))
        except OSError:
            continue
        if not np.array_equal(out, reference):
            return bytes(bad)
    raise AssertionError("no silent one-bit change found: the premise of the test is gone")


def test_png_with_a_silently_changed_pixel_stream_is_refused():
    data = _encode(_gradient(), "PNG")
    idat = data.index(b"IDAT") + 4
    length = int.from_bytes(data[idat - 8 : idat - 4], "big")
    bad = _silently_damaged(data, idat, idat + length)
    with pytest.raises(InvalidImageError, match="damaged PNG .chunk IDAT fails its CRC"):
        load_image(bad)


def test_deflate_tiff_with_a_silently_changed_strip_is_refused():
    data = _encode(_gradient(), "TIFF", compression="tiff_adobe_deflate")
    with Image.open(io.BytesIO(data)) as img:
        offset, count = img.tag_v2[273][0], img.tag_v2[279][0]
    bad = _silently_damaged(data, offset, offset + count)
    with pytest.raises(InvalidImageError, match="(damaged|corrupt) TIFF"):
        load_image(bad)


@pytest.mark.parametrize(
    "fmt, options", [("PNG", {}), ("TIFF", {"compression": "tiff_adobe_deflate"})]
)
def test_undamaged_files_decode_as_pillow_does(fmt, options):
    data = _encode(_gradient(), fmt, **options)
    np.testing.assert_array_equal(load_image(data), _pillow(data))


def test_libtiff_errors_are_captured_not_printed(capfd):
    data = bytearray(_encode(_noise(), "TIFF", compression="tiff_adobe_deflate"))
    with Image.open(io.BytesIO(bytes(data))) as img:
        offset, count = img.tag_v2[273][0], img.tag_v2[279][0]
    data[offset : offset + count] = b"\xff" * count  # not a zlib stream at all
    with _libtiff.capture() as errors, pytest.raises(OSError):
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()
    assert errors and "Decoding error" in errors[0], errors
    assert capfd.readouterr().err == ""
    with pytest.raises(InvalidImageError, match="truncated or corrupt TIFF .*Decoding error"):
        load_image(bytes(data))
