"""Writing files so that a reader never sees half of one: a temporary name, then a rename.

Every file the package writes for later (model caches, fine-tuned weights, exports,
galleries, saved photos) goes through :func:`atomic_path`: the content is written under a
hidden temporary name in the target's folder (the same file system, so the rename is
atomic), and renamed over the target only once the writer returned; on any error the
temporary file is removed and the target is left as it was.

Example:
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("written whole or not at all")
    >>> target.read_text()
    'written whole or not at all'
    >>> sorted(p.name for p in target.parent.iterdir())  # no temporary file left behind
    ['notes.txt']
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(
    target: str | os.PathLike, *, suffix: str | None = None, fsync: bool = False
) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed over it when the block ends cleanly.

    Args:
        target: the file to write; its folder is created.
        suffix: the temporary name's ending (some writers pick the format from it, e.g.
            Keras's ``.weights.h5``); default: the target's own suffixes, or ``.tmp``.
        fsync: flush the file to disk before the rename (for files fetched once and
            trusted afterwards, such as model downloads).

    Yields:
        The temporary path (it exists, empty); write it by name or open it.

    Raises:
        OSError: the folder cannot be created or written; nothing is left behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else ("".join(target.suffixes) or ".tmp")
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(
    target: str | os.PathLike, data: bytes, *, suffix: str | None = None, fsync: bool = False
) -> None:
    """Write ``data`` to ``target`` through :func:`atomic_path` (same options)."""
    with atomic_path(target, suffix=suffix, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
