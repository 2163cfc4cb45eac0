"""Writing a file so that a crash never leaves part of it: net files, checkpoints, ONNX models.

The data goes to a temporary file in the same directory, which is synced and then renamed over
the target, so a reader sees the old file or the whole new one, never a part; a write that fails
(a full disk, a read-only directory) removes the temporary file, keeps the old file and raises a
:class:`~wlnet.errors.NetError` naming the file and the cause.

Permissions follow ``open()``, as ``torch.save`` and safetensors' ``save_file`` (which just open
the file) do: a new file gets ``0o666 & ~umask``; a file that is replaced keeps its permission
bits, as a file opened for writing does. (``tempfile.mkstemp``, used before, made every file 0600
whatever the umask.)
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

from .errors import NetError

__all__ = ["write_atomically"]

_HINTS = {
    errno.ENOSPC: "the disk is full",
    getattr(errno, "EDQUOT", errno.ENOSPC): "the disk quota is used up",
}


def write_atomically(path: str | os.PathLike, data: bytes, where: str = "Export") -> str:
    """Write ``data`` to ``path`` through a temporary file in the same directory, synced and
    renamed over ``path``: a reader sees the old file or the whole new one, never a part.

    Raises:
        NetError: the file cannot be written (``where`` starts the message, which names the file
            and the cause; the OSError is its ``__cause__``). The old file is kept, and no
            temporary file is left behind.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = _create_beside(path, directory)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        raise NetError(_failure(where, path, error)) from error
    finally:
        if tmp is not None:  # the write failed (or was interrupted): its temporary file goes
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _sync_directory(directory)
    return path


def _create_beside(path: str, directory: str) -> tuple[int, str]:
    """A new temporary file next to ``path`` (``.name.<random>.tmp``), created as ``open()`` would
    create ``path`` (mode 0o666 & ~umask), or with the permission bits of the file it replaces."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except OSError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as it does for open()
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.chmod(tmp, mode)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _failure(where: str, path: str, error: OSError) -> str:
    cause = error.strerror or str(error)
    hint = _HINTS.get(error.errno) if error.errno is not None else None
    other = os.fspath(error.filename) if isinstance(error.filename, (str, os.PathLike)) else None
    named = ""
    if other and other != path:  # the directory that could not be made, or the temporary file
        temporary = os.path.basename(other).startswith(f".{os.path.basename(path)}.") and other.endswith(".tmp")
        named = f" (writing in {os.path.dirname(other)})" if temporary else f" ({other})"
    kept = "the file already there is unchanged" if os.path.exists(path) else "nothing was written there"
    return f"{where}: cannot write {path}: {cause}{named}{f': {hint}' if hint else ''}; {kept}."


def _sync_directory(directory: str) -> None:
    """Make the rename durable where the system allows (POSIX); elsewhere nothing to do."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
