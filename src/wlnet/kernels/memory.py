"""Keeping freed memory in the process, as a caching allocator (jemalloc, tcmalloc) does, in one call.

Under glibc's default malloc every block over 32 MiB is mapped afresh when allocated and returned to
the kernel when freed, so each training step faults in and zeroes its big outputs again: the fused
kernels' step is about 3x faster when memory is reused (``BENCHMARKS.md``, the ``reuse`` mode).
:func:`reuse_memory`, or ``WLNET_REUSE_MEMORY=1`` in the environment (applied when wlnet is
imported), tells glibc to serve every block from its heap and to keep what is freed there. The
price: the process keeps its peak memory until it exits.

>>> isinstance(reuse_memory, type(lambda: None))
True
"""

from __future__ import annotations

import ctypes

from . import settings

__all__ = ["from_environment", "reuse_memory"]

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_MAX = -4


def reuse_memory() -> bool:
    """Have glibc's malloc keep freed memory for reuse: no block is mapped on its own (so none is
    returned to the kernel when freed), and the heap's top is not trimmed below 2 GiB of free
    space. Returns whether it took effect: True with glibc (Linux), False elsewhere, where
    nothing changes. It cannot be undone in the process."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def from_environment() -> None:
    """:func:`reuse_memory` when ``WLNET_REUSE_MEMORY`` is on (``1``, ``true``, ``yes``, ``on``)."""
    if settings.read("WLNET_REUSE_MEMORY"):
        reuse_memory()
