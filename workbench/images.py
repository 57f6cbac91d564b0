"""Load any image a person throws at the workbench as RGB uint8 ``(H, W, 3)``.

One entry point, :func:`load_image`, takes a path, raw bytes, a numpy array or a PIL image
and either returns a contiguous RGB uint8 array or raises :class:`InvalidImageError`
naming the input and the problem. Size is checked from the header before any pixel is
decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from workbench import _image_integrity as _integrity
from workbench import _libtiff
from workbench.errors import InvalidImageError
from workbench.input_files import file_problem, os_error_reason

#: Default refusal limit: a 50-megapixel photo is already larger than any phone makes.
MAX_PIXELS = 50_000_000

ImageInput = str | os.PathLike | bytes | bytearray | np.ndarray | Image.Image


def load_image(
    source: ImageInput, *, max_pixels: int = MAX_PIXELS, label: str | None = None
) -> np.ndarray:
    """Read an image into a contiguous RGB uint8 array.

    EXIF orientation is applied; grayscale, RGBA (alpha dropped onto black), palette,
    CMYK and 16-bit images are converted.

    Args:
        source: a file path, the encoded bytes of a file, a numpy array ``(H, W)``,
            ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` of dtype uint8 (or a float array
            in ``[0, 1]``), or a ``PIL.Image.Image``.
        max_pixels: refuse images with more pixels than this, read from the header.
        label: what error messages call the input (default: the path, or ``<n bytes>``),
            e.g. the file name of bytes read from a file.

    Returns:
        ``(H, W, 3)`` uint8 RGB array.

    Raises:
        InvalidImageError: missing, empty, unreadable, truncated, corrupt or too large
            input (every failure of the decoder, with its reason), a path that is not a
            regular file, or an array of the wrong shape or dtype.

    Example:
        >>> load_image(np.zeros((4, 6), np.uint8)).shape
        (4, 6, 3)
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels=max_pixels, label=label or "array")
    if isinstance(source, Image.Image):
        _check_size(source.size, label or "PIL image", max_pixels)
        return _to_rgb_array(source, label or "PIL image")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = label or f"<{len(data)} bytes>"
        if not data:
            raise InvalidImageError(f"{name}: expected encoded image bytes, but got 0 bytes")
        return _decode(io.BytesIO(data), name, max_pixels)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        check_image_file(path)
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise InvalidImageError(f"{path}: {os_error_reason(exc)}") from None
        with fh:
            return _decode(fh, label or str(path), max_pixels)
    raise InvalidImageError(
        f"expected a path, bytes, a numpy array or a PIL image, but got {type(source).__name__}"
    )


def read_image_file(path: str | os.PathLike) -> bytes:
    """The bytes of an image file, with the checks :func:`load_image` makes on a path.

    For callers that need the bytes too (to hash them, say) and then decode them with
    ``load_image(data, label=str(path))``.

    Raises:
        InvalidImageError: the path is missing, a broken or looping link, a folder, a
            FIFO or device, empty, or not readable.
    """
    path = Path(path)
    check_image_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"{path}: {os_error_reason(exc)}") from None


def check_image_file(path: str | os.PathLike) -> None:
    """Refuse anything but a non-empty regular file, before it is opened.

    Raises:
        InvalidImageError: naming the path and what it is instead (see
            :func:`workbench.input_files.file_problem`).
    """
    problem = file_problem(path, kind="image file")
    if problem is not None:
        raise InvalidImageError(f"{path}: {problem}")


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidImageError(f"{label}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise InvalidImageError(
            f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
            f"more than the limit of {max_pixels / 1e6:.1f}"
        )


#: What Pillow's decoders raise on bad bytes: ``OSError`` from most plugins ("Truncated
#: File Read", "could not create decoder object", "Unsupported BMP pixel depth"),
#: ``SyntaxError`` from some headers, and plain ``struct``/index/value errors from parsers
#: that read fields without checking them. Only the calls into Pillow are guarded.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    RecursionError,
)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, OSError) or not text else text


#: Held while Pillow's own pixel limit is lifted (see :func:`_decode`).
_PILLOW_LIMIT_LOCK = threading.Lock()


def _decode(fh: Any, label: str, max_pixels: int) -> np.ndarray:
    # Pillow refuses images above twice its Image.MAX_IMAGE_PIXELS (DecompressionBombError,
    # turned into our error below) and warns above it. Ours is the limit that counts, and
    # the default (50 MP) is below Pillow's (89 MP), so Pillow's global is left alone and
    # threads decode in parallel. Only a max_pixels above Pillow's lifts it, under a
    # lock, restored after. (It used to be lifted for every call, with warnings muted by
    # catch_warnings: two threads could leave either global changed for good.)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is None or max_pixels <= pillow_limit:
        return _decode_image(fh, label, max_pixels)
    with _PILLOW_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return _decode_image(fh, label, max_pixels)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _decode_image(fh: Any, label: str, max_pixels: int) -> np.ndarray:
    with _libtiff.capture() as tiff_errors:
        try:
            img = Image.open(fh)
        except UnidentifiedImageError:
            raise InvalidImageError(
                f"{label}: not an image (expected JPEG, PNG, BMP, GIF, TIFF or WebP)"
            ) from None
        except Image.DecompressionBombError as exc:
            raise InvalidImageError(f"{label}: too large ({exc})") from None
        except _DECODER_ERRORS as exc:
            raise InvalidImageError(
                f"{label}: corrupt or unsupported image header ({_reason(exc)})"
            ) from None
        _check_size(img.size, label, max_pixels)
        _integrity.check_before_load(img, fh, label)
        try:
            img.load()
        except (*_DECODER_ERRORS, Image.DecompressionBombError) as exc:
            fmt = img.format or "image"
            why = "; ".join([*tiff_errors, _reason(exc)])
            raise InvalidImageError(f"{label}: truncated or corrupt {fmt} ({why})") from None
    if tiff_errors:
        # libtiff reported damage but handed back pixels: they are partly made up.
        raise InvalidImageError(f"{label}: corrupt TIFF ({'; '.join(tiff_errors)})")
    _integrity.check_after_load(img, fh, label)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the pixels
        pass
    return _to_rgb_array(img, label)


def _to_rgb_array(img: Image.Image, label: str) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        # 16-bit (or 32-bit integer) grayscale: scale the full range into 8 bits rather
        # than clipping, which would turn most 16-bit photos white.
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        gray = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0), 0, 255)
        return np.ascontiguousarray(np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img)
    try:
        rgb = img.convert("RGB")
    except _DECODER_ERRORS as exc:
        raise InvalidImageError(
            f"{label}: cannot convert mode {mode!r} to RGB ({_reason(exc)})"
        ) from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _from_array(arr: np.ndarray, *, max_pixels: int, label: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImageError(
            f"{label}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
            f"but got {arr.shape}"
        )
    _check_size((arr.shape[1], arr.shape[0]), label, max_pixels)
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidImageError(f"{label}: float image contains NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidImageError(
                f"{label}: expected a float image in [0, 1], but got values in [{lo:g}, {hi:g}]"
            )
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    else:
        raise InvalidImageError(
            f"{label}: expected dtype uint8, uint16, bool or float in [0, 1], but got {arr.dtype}"
        )
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 4:
        # Arrays carry no colour-space tag; treat the 4th channel as alpha over black,
        # the same rule as for RGBA files.
        alpha = arr[..., 3:4].astype(np.uint16)
        arr = (arr[..., :3].astype(np.uint16) * alpha // 255).astype(np.uint8)
    return np.ascontiguousarray(arr)
