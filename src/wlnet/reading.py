"""Reading a file that came from elsewhere without hanging or reading without bound: net files and
checkpoints (:mod:`wlnet.files`, and the checkpoint directories' ownership checks).

Only a regular file is read (a symlink is followed): a FIFO, a device (``/dev/zero``), a socket or a
directory is refused before it is opened (a FIFO would block, a device need never end), the file is
opened without blocking, and the open file is checked again, so a path swapped in between is
refused too. No more than the file's size is read.
"""

from __future__ import annotations

import os
import stat

from .errors import NetError

__all__ = ["open_regular", "read_up_to"]

_NOT_REGULAR = ((stat.S_ISDIR, "Is a directory"), (stat.S_ISFIFO, "it is a FIFO (named pipe)"),
                (stat.S_ISCHR, "it is a character device"), (stat.S_ISBLK, "it is a block device"),
                (stat.S_ISSOCK, "it is a socket"))


def open_regular(path: str | os.PathLike, where: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of ``path`` and the open file's status, when it is a regular file; the
    caller closes the descriptor.

    Raises:
        NetError: starting with ``where``: the file cannot be opened or is not a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        _check_regular(os.stat(path), where)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise NetError(f"{where}: the file cannot be read ({error.strerror or error}).") from None
    try:
        info = os.fstat(fd)
        _check_regular(info, where)
    except OSError as error:
        os.close(fd)
        raise NetError(f"{where}: the file cannot be read ({error.strerror or error}).") from None
    except NetError:
        os.close(fd)
        raise
    return fd, info


def _check_regular(info: os.stat_result, where: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((text for test, text in _NOT_REGULAR if test(info.st_mode)), "it is not a regular file")
        raise NetError(f"{where}: the file cannot be read ({kind}); a net file is a regular file.")


def read_up_to(fd: int, size: int) -> bytes:
    """At most ``size`` bytes from ``fd`` (fewer at the end of the file)."""
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 30))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
