"""Person names: what may be stored, and the one normal form they are stored in.

A name is also the folder a person's photos live in (``reference_images/<name>/``), and
galleries travel between machines, so one rule holds everywhere: a name accepted here
can be made into one folder on Linux (ext4: 255 bytes), macOS (APFS: 255 UTF-8 bytes)
and Windows (NTFS: 255 UTF-16 units, no ``<>:"/\\|?*``, no reserved device names such
as ``CON`` or ``NUL.txt``, no trailing dot or space). ``unknown`` is reserved: it is the
label search gives a face that matches nobody.
"""

from __future__ import annotations

import re
import unicodedata

from workbench.errors import InvalidNameError

#: Longest name accepted, in characters; longer is almost surely a pasted path or a bug.
MAX_NAME_LENGTH = 200

#: Longest name in bytes of UTF-8 and in UTF-16 code units: a folder name's limit on
#: ext4 / APFS (255 bytes) and NTFS (255 units).
MAX_NAME_BYTES = 255

#: Label of a face that matches nobody (``workbench.gallery.search.UNKNOWN``).
RESERVED = "unknown"

#: Characters Windows refuses in a file name (``/`` and ``\\`` are also path separators;
#: ``:`` is also the separator of classic macOS paths and shows as ``/`` in Finder).
_FORBIDDEN = '<>:"/\\|?*'

#: Windows device names, refused alone or with any extension ("nul.txt", "COM1.jpg");
#: Windows also treats the superscript digits as digits here ("COM¹").
_DEVICE = re.compile(r"CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|(COM|LPT)[0-9¹²³]", re.IGNORECASE)


def validate_name(name: object) -> str:
    """Check a person name and return its NFC form with surrounding spaces removed.

    Args:
        name: the name as typed, e.g. ``"José Ramos-Horta"``.

    Returns:
        The name in Unicode NFC, so ``"Jose\\u0301"`` and ``"José"`` are one person.

    Raises:
        InvalidNameError: not a string; empty; longer than :data:`MAX_NAME_LENGTH`
            characters or :data:`MAX_NAME_BYTES` bytes (UTF-8 or UTF-16); control,
            format or surrogate characters; any of ``<>:"/\\|?*``; ``.``, ``..`` or a
            name containing ``..``; a trailing dot; a Windows device name (``CON``,
            ``NUL.txt``, ``COM1``, ...); or ``unknown`` in any case.

    Example:
        >>> validate_name("  Zoë ")
        'Zoë'
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a person name must be a str, but got {type(name).__name__}")
    for ch in name:
        # Lone surrogates (from a damaged file or a bad decode) cannot be encoded at all:
        # refuse them before normalising, which would otherwise carry them along.
        if unicodedata.category(ch) == "Cs":
            raise InvalidNameError(
                f"a person name must be valid Unicode text, but got the lone surrogate "
                f"U+{ord(ch):04X} in {name.encode('utf-8', 'backslashreplace').decode()!r}"
            )
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidNameError(f"a person name must not be empty, but got {name!r}")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"a person name must be at most {MAX_NAME_LENGTH} characters, but got {len(text)}"
        )
    n_utf8, n_utf16 = len(text.encode("utf-8")), len(text.encode("utf-16-le")) // 2
    if max(n_utf8, n_utf16) > MAX_NAME_BYTES:
        raise InvalidNameError(
            f"a person name must fit in a folder name ({MAX_NAME_BYTES} bytes of UTF-8 and "
            f"UTF-16), but {text[:20]!r}... has {n_utf8} UTF-8 bytes / {n_utf16} UTF-16 units"
        )
    for ch in text:
        # Cc: control (NUL, newline, tab, DEL); Cf: invisible format characters such as
        # U+202E that can make two different names print the same.
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise InvalidNameError(
                f"a person name must not contain control characters, "
                f"but got {ch!r} (U+{ord(ch):04X}) in {name!r}"
            )
    for sep in ("/", "\\"):
        if sep in text:
            raise InvalidNameError(
                f"a person name must not contain a path separator, but got {sep!r} in {name!r}"
            )
    bad = sorted({ch for ch in text if ch in _FORBIDDEN})
    if bad:
        raise InvalidNameError(
            f"a person name must not contain any of {_FORBIDDEN} (not allowed in folder "
            f"names on Windows), but got {''.join(bad)!r} in {name!r}"
        )
    if text == "." or ".." in text:
        raise InvalidNameError(f"a person name must not be or contain '..', but got {name!r}")
    if text.endswith("."):
        raise InvalidNameError(
            f"a person name must not end with '.' (Windows drops it from folder names), "
            f"but got {name!r}"
        )
    if _DEVICE.fullmatch(text.split(".")[0].rstrip(" ")):
        raise InvalidNameError(
            f"a person name must not be a Windows device name (CON, PRN, AUX, NUL, COM1-9, "
            f"LPT1-9, alone or with an extension), but got {name!r}"
        )
    if text.casefold() == RESERVED:
        raise InvalidNameError(
            f"the name {RESERVED!r} is reserved: it is the label of a face that matches "
            f"nobody; got {name!r}"
        )
    return text


def lookup_name(name: object) -> str:
    """The form a name is looked up by: NFC, stripped, without the rules for new names.

    Renaming or removing a person must work for names stored before the rules above
    grew (a gallery may hold ``"CON"`` or ``"a:b"`` from an older version).

    Raises:
        InvalidNameError: not a string, or not valid Unicode text.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a person name must be a str, but got {type(name).__name__}")
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        raise InvalidNameError("a person name must be valid Unicode text (no lone surrogates)")
    return unicodedata.normalize("NFC", name).strip()


def folder_key(name: str) -> str:
    """The form two names share when they would be one folder on macOS or Windows (both
    case-insensitive, and APFS also normalisation-insensitive): NFC of the case fold."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
