"""Which files are photos, and the ``<person>/<photos>`` folders enrollment and training read.

One place for both, so the gallery and fine-tuning accept the same files: the suffixes of
:data:`IMAGE_SUFFIXES` (any case), hidden files and folders (a leading ``.``) skipped,
photos found in nested folders too, everything in name order.

Example:
    >>> is_photo("ada/2024-portrait.JPG"), is_photo("ada/notes.txt"), is_photo("ada/.x.jpg")
    (True, False, False)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

#: File endings read as photos; everything else in a folder is listed as ignored.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".jfif"}
)


def is_photo(path: str | os.PathLike) -> bool:
    """A visible file whose ending is one of :data:`IMAGE_SUFFIXES`."""
    path = Path(path)
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def photos_in(
    folder: str | os.PathLike,
    *,
    ignored: list[str] | None = None,
    unlisted: list[tuple[str, str]] | None = None,
) -> list[Path]:
    """The photos under ``folder`` (nested folders included), in name order.

    Args:
        folder: a person's folder.
        ignored: visible files that are not photos are appended here, when given.
        unlisted: ``(folder, reason)`` of folders that cannot be listed (no permission)
            are appended here, when given; ``os.walk`` would skip them without a word.
    """

    def could_not_list(exc: OSError) -> None:
        if unlisted is not None:
            from workbench.input_files import os_error_reason

            unlisted.append((str(exc.filename or folder), os_error_reason(exc)))

    photos = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=could_not_list):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith("."):
                continue
            path = Path(dirpath) / fn
            if is_photo(path):
                photos.append(path)
            elif ignored is not None:
                ignored.append(str(path))
    return photos


def person_folders(
    root: str | os.PathLike, *, ignored: list[str] | None = None
) -> Iterator[tuple[Path, list[Path]]]:
    """``(folder, photos)`` of each visible ``root/<person>/`` with at least one photo.

    Args:
        root: the folder of person folders.
        ignored: photos lying loose in ``root`` (not in a person folder) and files that
            are not photos are appended here, when given.
    """
    for entry in sorted(Path(root).iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            if ignored is not None and is_photo(entry):
                ignored.append(str(entry))
            continue
        photos = photos_in(entry, ignored=ignored)
        if photos:
            yield entry, photos
