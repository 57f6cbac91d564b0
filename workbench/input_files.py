"""What is wrong with a path a user gave as input, in words, before it is opened.

One ``os.stat`` answers: missing, a broken link (naming its target), a link loop, a
folder on the way that is not readable, a folder, a FIFO or device (opening a FIFO for
reading blocks until some writer comes, so it must be refused before ``open``), or an
empty file. ``Path.exists()`` calls most of these "no such file" (it swallows ``ELOOP``)
and raises ``PermissionError`` for the rest, which is how they escaped before.

Example:
    >>> file_problem("/dev/null", kind="image file")
    'expected an image file, but got a character device'
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: What ``stat`` calls the kinds of file that are not regular files.
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def os_error_reason(exc: OSError) -> str:
    """An ``OSError`` from opening or reading an input, as a short reason."""
    if isinstance(exc, PermissionError):
        return "permission denied (the file, or a folder on its path, is not readable)"
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop (too many levels of links)"
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a directory, not a file"
    return f"cannot read ({exc.strerror or exc})"


def file_problem(path: str | os.PathLike, *, kind: str = "file") -> str | None:
    """Why ``path`` cannot be read as a ``kind`` (e.g. "image file"), or None if it can.

    Args:
        path: the input path (links are followed).
        kind: what the caller expects, for the message.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and path.is_symlink():
            return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
        return os_error_reason(exc)
    for is_kind, what in _FILE_KINDS:
        if is_kind(st.st_mode):
            return f"expected {'an' if kind[0] in 'aeiou' else 'a'} {kind}, but got {what}"
    if st.st_size == 0:
        return "the file is empty (0 bytes)"
    return None
