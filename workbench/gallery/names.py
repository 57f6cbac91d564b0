"""Person names: what may be stored, and the one normal form they are stored in."""

from __future__ import annotations

import unicodedata

from workbench.errors import InvalidNameError

#: Longest name accepted, in characters; longer is almost surely a pasted path or a bug.
MAX_NAME_LENGTH = 200


def validate_name(name: object) -> str:
    """Check a person name and return its NFC form with surrounding spaces removed.

    A name is also the folder a person's photos live in (``reference_images/<name>/``),
    so anything that could not be one folder name on every platform is refused.

    Args:
        name: the name as typed, e.g. ``"José Ramos-Horta"``.

    Returns:
        The name in Unicode NFC, so ``"Jose\\u0301"`` and ``"José"`` are one person.

    Raises:
        InvalidNameError: not a string, empty, too long, control or format characters,
            ``/`` or ``\\``, or ``.`` / ``..`` or a name containing ``..``.

    Example:
        >>> validate_name("  Zoë ")
        'Zoë'
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a person name must be a str, but got {type(name).__name__}")
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidNameError(f"a person name must not be empty, but got {name!r}")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"a person name must be at most {MAX_NAME_LENGTH} characters, but got {len(text)}"
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
    if text == "." or ".." in text:
        raise InvalidNameError(f"a person name must not be or contain '..', but got {name!r}")
    return text
