"""libtiff's messages, routed into Python instead of printed on the terminal.

libtiff reports damage ("ZIPDecode: Decoding error at scanline 0, incorrect data check",
"Using code not yet in table") through process-wide handlers whose default writes to
stderr, and Pillow installs none: a damaged TIFF printed lines of its own above the
CLI's error line, and some files decoded to made-up pixels after an error (23 of 3000
mutated TIFFs in tests/fuzz). :func:`capture` installs handlers that record the
messages of the thread that decodes, so the caller can refuse a file libtiff called
broken, with libtiff's words as the reason; warnings are dropped (cameras write fields
libtiff warns about in files that are fine).

Where the library cannot be found (a Pillow built without libtiff, an unknown platform),
:func:`capture` records nothing and libtiff keeps its default handlers.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
import re
import threading
from collections.abc import Iterator
from pathlib import Path

# The handlers get a C va_list; on these ABIs it arrives as one pointer-sized argument
# (x86-64: an array that decays to a pointer; AArch64: a struct above 16 bytes, passed by
# reference), which vsnprintf takes back unchanged.
_ABIS = ("x86_64", "amd64", "aarch64", "arm64")
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)

_local = threading.local()
_install_lock = threading.Lock()
_installed: list = []  # the ctypes callbacks, kept alive for as long as libtiff holds them


def _library_path() -> str | None:
    from PIL import Image  # noqa: F401 - loads _imaging, and with it Pillow's libtiff

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    found = re.search(r"(/\S*libtiff[^/\s]*\.(?:so|dylib)[^/\s]*)", maps)
    if found:
        return found.group(1)
    import PIL

    root = Path(PIL.__file__).parent
    for pattern in ("../pillow.libs/libtiff*", ".dylibs/libtiff*"):
        for path in sorted(root.glob(pattern)):
            return str(path)
    return None


def _format(module: bytes | None, fmt: bytes | None, args: int | None) -> str:
    buf = ctypes.create_string_buffer(512)
    _libc().vsnprintf(buf, len(buf), fmt or b"", args)
    text = buf.value.decode("utf-8", "replace").strip()
    where = (module or b"").decode("utf-8", "replace")
    # libtiff names the "file" of a memory stream after Pillow's placeholder; drop it.
    return text if not where or where.endswith("tempfile.tif") else f"{where}: {text}"


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    return libc


def _on_error(module, fmt, args) -> None:
    messages = getattr(_local, "errors", None)
    if messages is not None and len(messages) < 5:
        messages.append(_format(module, fmt, args))


def _on_warning(module, fmt, args) -> None:
    pass  # dropped: warnings mark files that decode fine, and they only cluttered stderr


def _install() -> bool:
    with _install_lock:
        if _installed:
            return _installed[0] is not None
        lib = None
        if platform.machine().lower() in _ABIS:
            path = _library_path()
            try:
                lib = ctypes.CDLL(path) if path else None
                _libc()
            except OSError:
                lib = None
        if lib is None:
            _installed.append(None)
            return False
        on_error, on_warning = _HANDLER(_on_error), _HANDLER(_on_warning)
        lib.TIFFSetErrorHandler.argtypes = [_HANDLER]
        lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
        lib.TIFFSetWarningHandler.argtypes = [_HANDLER]
        lib.TIFFSetWarningHandler.restype = ctypes.c_void_p
        lib.TIFFSetErrorHandler(on_error)
        lib.TIFFSetWarningHandler(on_warning)
        _installed.extend([on_error, on_warning])
        return True


@contextlib.contextmanager
def capture() -> Iterator[list[str]]:
    """The libtiff errors raised in this thread inside the block (at most five)."""
    errors: list[str] = []
    if not _install():
        yield errors
        return
    outer = getattr(_local, "errors", None)
    _local.errors = errors
    try:
        yield errors
    finally:
        _local.errors = outer
