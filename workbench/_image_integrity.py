"""Checksums that image formats carry and Pillow does not verify.

A damaged file should be refused, not decoded to other pixels without a word. Where a
format has a checksum, a decoder can know: PNG has a CRC-32 per chunk, and zlib streams
(PNG's pixels, deflate-compressed TIFF strips) end with an Adler-32. Pillow checks PNG
CRCs only up to the first IDAT, and both Pillow and libtiff stop inflating once they
have every row, before the Adler-32: in tests/fuzz, 10 of 500 mutated PNGs and 23 of
500 mutated TIFFs decoded to changed pixels without an error. These checks close that.
JPEG, GIF, BMP, WebP and uncompressed or LZW TIFF carry no checksum: damage there can
decode to a different, valid picture, and nothing can tell.

Both checks read the file again (CRC-32 and inflate run at hundreds of MB/s, small next
to decoding) and leave the file position where it was.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from workbench.errors import InvalidImageError

#: TIFF Compression tag values that mean zlib streams (Adobe deflate and the old code).
_TIFF_DEFLATE = (8, 32946)
#: Output of one strip beyond this many times its raw size is not a strip but a bomb.
_MAX_EXPANSION = 4


def check_before_load(img: Any, fh: Any, label: str) -> None:
    """Checks that need no pixels: PNG chunk CRCs."""
    if img.format == "PNG":
        _check_png_chunks(fh, label)


def check_after_load(img: Any, fh: Any, label: str) -> None:
    """Checks of what the decoder read: the Adler-32 of deflate TIFF strips."""
    if img.format == "TIFF" and img.tag_v2.get(259) in _TIFF_DEFLATE:
        _check_tiff_deflate(img, fh, label)


def _check_png_chunks(fh: Any, label: str) -> None:
    # A chunk cut short by the end of the file is left to Pillow, which reports the
    # truncation when it needs the data.
    start = fh.tell()
    try:
        fh.seek(8)  # after the signature, which Image.open has checked
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I4s", head)
            data = fh.read(length)
            crc = fh.read(4)
            if len(data) < length or len(crc) < 4:
                return
            if zlib.crc32(kind + data) != int.from_bytes(crc, "big"):
                name = kind.decode("latin-1").encode("unicode_escape").decode("ascii")
                raise InvalidImageError(f"{label}: damaged PNG (chunk {name} fails its CRC check)")
            if kind == b"IEND":
                return
    finally:
        fh.seek(start)


def _check_tiff_deflate(img: Any, fh: Any, label: str) -> None:
    tags = img.tag_v2
    offsets = tags.get(273) or tags.get(324) or ()  # StripOffsets, or TileOffsets
    counts = tags.get(279) or tags.get(325) or ()
    width, height = img.size
    limit = _MAX_EXPANSION * width * height * 8 + 4096  # 8 bytes a pixel covers every mode
    start = fh.tell()
    try:
        for i, (offset, count) in enumerate(zip(offsets, counts, strict=False)):
            fh.seek(offset)
            data = fh.read(count)
            inflate = zlib.decompressobj()
            produced = 0
            try:
                while not inflate.eof:
                    out = inflate.decompress(data, 1 << 20)  # bounded: a bomb costs 1 MB
                    data = inflate.unconsumed_tail
                    if not out and not data:
                        break
                    produced += len(out)
                    if produced > limit:
                        raise InvalidImageError(
                            f"{label}: corrupt TIFF (strip {i} inflates past the image size)"
                        )
            except zlib.error as exc:
                raise InvalidImageError(f"{label}: damaged TIFF (strip {i}: {exc})") from None
            if not inflate.eof:
                raise InvalidImageError(
                    f"{label}: damaged TIFF (strip {i}: the deflate stream is cut short)"
                )
    finally:
        fh.seek(start)
