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
to decoding) and leave the file position where it was. One more is a bound, not a
checksum: a Huffman-coded JPEG needs at least a bit for each 8x8 block.
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
    """Checks that need no pixels: PNG chunk CRCs, a JPEG too short for its size."""
    if img.format == "PNG":
        _check_png_chunks(fh, label)
    elif img.format == "JPEG":
        _check_jpeg_length(img, fh, label)


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


#: Start-of-frame markers of arithmetic-coded JPEG, which can code a block in under a bit.
_JPEG_ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _check_jpeg_length(img: Any, fh: Any, label: str) -> None:
    # Every 8x8 block of a Huffman-coded JPEG costs at least one bit (its DC symbol), so
    # a file with fewer bits than blocks cannot hold its picture: its header size is
    # damaged, and libjpeg would make up the rest in grey without an error Pillow shows
    # (a 3,785-byte file decoding to 65376x255 for 5.8 s, in tests/fuzz). Real photos
    # spend 10-100 bits a block; a flat one a few.
    width, height = img.size
    blocks = -(-width // 8) * -(-height // 8)
    start = fh.tell()
    try:
        size = fh.seek(0, 2)
        if size * 8 >= blocks or _jpeg_sof(fh) in _JPEG_ARITHMETIC_SOF:
            return
    finally:
        fh.seek(start)
    raise InvalidImageError(
        f"{label}: corrupt JPEG ({size:,} bytes cannot hold {width}x{height} pixels; "
        "its header or data is damaged)"
    )


def _jpeg_sof(fh: Any) -> int | None:
    """The start-of-frame marker's second byte (0xC0 baseline, 0xC2 progressive, ...)."""
    fh.seek(2)
    for _ in range(256):  # segments before the frame header: APPn, DQT, DHT, COM
        head = fh.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker = head[1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        fh.seek(int.from_bytes(head[2:4], "big") - 2, 1)
    return None


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
