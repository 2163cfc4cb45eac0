"""Big outputs of the fused kernels, kept for reuse when they are freed: a small caching allocator.

glibc maps every block over 32 MiB afresh and returns it to Linux when it is freed, and trims
smaller ones off its heap's top once twice their size lies free there, so each training step's
big outputs (the forward's ``y``, the backward's input gradient; those over
:data:`wlnet.kernels.cpu.POOL_MIN_BYTES`, 4 MiB, come here) are faulted in again, on huge pages
where wlnet asks for them. On virtual machines whose balloon driver reports
freed memory to the host (``/sys/module/page_reporting``), some of those faults take 10-20x a
step: a default-malloc step had its 99th percentile at 17x its median (``bench/latency.py``).

The pool keeps the memory of the outputs it made. When such an output has been freed everywhere
(its storage is referenced by the pool alone), the next output of the same size takes that memory,
resident already: no fault, no zeroing, and the step's median drops too. It holds at most
:data:`MAX_BUFFERS` blocks and ``WLNET_OUTPUT_POOL_BYTES`` bytes (default 2 GiB; ``0`` turns it
off), dropping the least recently used first; :func:`release` drops them all (their memory goes
back to Linux once no tensor uses it). The cost: up to that much memory stays with the process
after the steps that used it, as PyTorch's CUDA caching allocator keeps GPU memory.

A storage is handed out again only when its use count is 1, checked and taken under one lock: a
tensor, a view, a NumPy array or an autograd graph that still uses an output keeps it out of reuse.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from . import settings

__all__ = ["MAX_BUFFERS", "keep", "kept_bytes", "release", "take"]

#: The most blocks kept at once.
MAX_BUFFERS = 16

_lock = threading.Lock()
_kept: OrderedDict[int, torch.UntypedStorage] = OrderedDict()  # id -> storage, least recent first
_limit: int | None = None  # bytes, from WLNET_OUTPUT_POOL_BYTES at first use


def _max_bytes() -> int:
    global _limit
    if _limit is None:
        _limit = int(settings.read("WLNET_OUTPUT_POOL_BYTES"))
    return _limit


def take(like: torch.Tensor) -> torch.Tensor | None:
    """A new tensor shaped and laid out as ``like`` (dense: contiguous, channels-last or any other
    order of its axes) on a kept block of its size that nothing else uses any more, or None (then
    allocate, and :func:`keep` the new tensor)."""
    nbytes = like.numel() * like.element_size()
    with _lock:
        for key, storage in _kept.items():
            if storage.nbytes() == nbytes and torch._C._storage_Use_Count(storage._cdata) == 1:
                _kept.move_to_end(key)
                out = torch.empty(0, dtype=like.dtype, device=like.device)
                return out.set_(storage, 0, like.shape, like.stride())
    return None


def keep(tensor: torch.Tensor) -> None:
    """Keep ``tensor``'s memory (a whole, new block) for reuse once it is freed."""
    limit = _max_bytes()
    storage = tensor.untyped_storage()
    if storage.nbytes() > limit:
        return
    with _lock:
        _kept[id(storage)] = storage
        total = sum(s.nbytes() for s in _kept.values())
        while len(_kept) > MAX_BUFFERS or total > limit:
            _, dropped = _kept.popitem(last=False)
            total -= dropped.nbytes()


def release() -> int:
    """Drop every kept block (memory that no tensor uses goes back to Linux); returns how many."""
    with _lock:
        count = len(_kept)
        _kept.clear()
    return count


def kept_bytes(idle: bool = False) -> int:
    """Bytes of the blocks kept now, in use or not; with ``idle``, of those that nothing uses."""
    with _lock:
        return sum(s.nbytes() for s in _kept.values()
                   if not idle or torch._C._storage_Use_Count(s._cdata) == 1)
