"""How the fused kernels walk an input: one plan per (shape, strides, slope axes).

Every level spec becomes the same two-dimensional problem. The input, read in memory order (any
dense layout: contiguous, channels-last, any permutation), has its neighbouring axes merged when
the slope treats them alike, and is then cut into ``rows`` runs of ``inner`` elements. A run uses
the slope in one of two ways:

* **scalar rows** (``contiguous=False``): the whole run shares one slope value, ``slope[offset]``.
  Chosen when the innermost axis is a broadcast axis at least :data:`SCALAR_MIN_INNER` long:
  level 1 of ``(N, C, H, W)`` (runs of ``H * W``), level 2 and ``Span(1, 2)`` (runs of ``W``),
  ``[]`` (one run of everything).
* **table rows** (``contiguous=True``): element ``j`` of the run uses ``table[offset + j]``.
  Chosen when the slope varies along the innermost axis (the last level, a list ending with it,
  or the slope on the last axis of a matrix). The table is the flat slope, expanded over a factor
  of the next broadcast axis only when a run would be shorter than :data:`TABLE_MIN_INNER`; the
  expansion never makes it larger than ``numel / TABLE_BUDGET_DIVISOR`` elements.

Rows with the same slope offset form a *group*; every group has the same number of rows. The
slope gradient is summed per (row, column block) for scalar rows and per column over fixed chunks
of at most :data:`CHUNK_ROWS` rows of one group for table rows, and those partial sums are added
per slope element in a fixed order: nothing depends on thread count or timing. All sizes here are
plain Python and NumPy; nothing in this module needs a JIT. It also holds what both backends do
alike around their kernels: :func:`kernel_plan`, :func:`compute_dtype` and :func:`gradients`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import torch

__all__ = [
    "CHUNK_ROWS",
    "Gradients",
    "SCALAR_MIN_INNER",
    "TABLE_BUDGET_DIVISOR",
    "TABLE_MIN_INNER",
    "LONG_SCALAR_MIN_INNER",
    "LONG_TABLE_MIN_INNER",
    "PLAN_CACHE_SIZE",
    "Plan",
    "compute_dtype",
    "gradients",
    "is_dense",
    "kernel_plan",
    "same_layout",
    "plan_for",
]

#: Bytes per line: one cache line, one AVX-512 vector (two AVX2 or four SSE/NEON vectors, which
#: LLVM splits it into by itself). Here rather than in simd.py, so that planning needs no Numba.
LINE = 64
#: A broadcast innermost axis at least this long is walked as scalar rows: one slope per run.
#: Shorter runs pay more loop overhead per element than reading a slope table costs.
SCALAR_MIN_INNER = 32
#: Table rows are grown, by taking in more trailing axes, until they are at least this long.
#: Longer rows measured no faster in float32 and float64: the table and partial-sum segments
#: then leave L1, and the backward reads them once per row.
TABLE_MIN_INNER = 64
#: The same two thresholds for *long-row* plans, used by the bfloat16 forward: LLVM vectorises a
#: bfloat16 loop 128 elements at a time, so runs of 56 would spend most of their time in the
#: scalar remainder.
LONG_SCALAR_MIN_INNER = 512
LONG_TABLE_MIN_INNER = 2048
#: An expanded slope table may hold at most ``numel // TABLE_BUDGET_DIVISOR`` elements.
TABLE_BUDGET_DIVISOR = 32
#: Rows summed into one partial slope gradient; the partial buffer is about numel / CHUNK_ROWS.
CHUNK_ROWS = 32
#: Plans kept (least recently used out): enough for the layers and batch sizes of a training
#: loop; each holds a few int64 arrays per row, megabytes for big inputs.
PLAN_CACHE_SIZE = 16


@dataclass(frozen=True, eq=False)
class Plan:
    """The row decomposition of one input layout, shared by the CPU and GPU kernels.

    Attributes:
        perm: the input's axes from outermost to innermost in memory;
            ``x.permute(perm).reshape(-1)`` is a view of ``x``'s memory.
        rows: number of runs.
        inner: length of each run.
        contiguous: True for table rows (slope varies along a run), False for scalar rows.
        innermost_sloped: whether the innermost axis in memory is a slope axis.
        groups: number of distinct slope offsets among the rows. In table rows, group ``g`` has
            table offset ``g * inner``; in scalar rows, group ``g`` is slope element ``g``.
        slope_numel: number of slope elements.
        expansion: table size divided by ``slope_numel``: how many table entries each slope
            element has (1 when the table is the slope itself).
        row_offset: int64 ``(rows,)``, the table offset of each row, rows in memory order.
        order: int64 ``(rows,)``, a permutation of the rows: each backward chunk is a slice of it.
            In scalar rows the rows are sorted by group (stable).
        chunk_start: int64 ``(chunks + 1,)``, where each chunk starts in ``order``.
        chunk_group: int64 ``(chunks,)``, the group of every row of each chunk.
        group_chunks: int64 ``(chunks,)``, the chunks sorted by group (stable); every group has
            :attr:`chunks_per_group` of them.
        table_index: int64 ``(groups * inner,)``, the slope's flat index of each table entry
            (table rows only; None when the table is the flat slope itself).
        table_sort: a stable argsort of ``table_index`` (None when ``table_index`` is None).
    """

    perm: tuple[int, ...]
    rows: int
    inner: int
    contiguous: bool
    innermost_sloped: bool
    groups: int
    slope_numel: int
    expansion: int
    row_offset: torch.Tensor
    order: torch.Tensor
    chunk_start: torch.Tensor
    chunk_group: torch.Tensor
    group_chunks: torch.Tensor
    table_index: torch.Tensor | None
    table_sort: torch.Tensor | None
    _on_device: dict = field(default_factory=dict, repr=False)

    @property
    def chunks(self) -> int:
        """Backward chunks in all: the first dimension of the partial-sum buffer."""
        return self.chunk_group.numel()

    @property
    def chunks_per_group(self) -> int:
        """Backward chunks in each group."""
        return self.chunks // self.groups

    def table(self, slope: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The slope values as the kernels index them: flat, expanded for table rows."""
        flat = slope.reshape(-1).to(dtype)
        if self.table_index is None:
            return flat.contiguous()
        return flat[self.index_on(self.table_index, flat.device)]

    def sorted_table_index(self) -> torch.Tensor:
        """``table_sort``, or the identity when the table is the slope itself."""
        if self.table_sort is not None:
            return self.table_sort
        found = self._on_device.get("identity")
        if found is None:
            found = torch.arange(self.groups * self.inner)
            self._on_device["identity"] = found
        return found

    def numpy(self, name: str) -> np.ndarray:
        """One of this plan's int64 arrays (an attribute, or ``"sorted_table_index"``) as a NumPy
        view, made once: the CPU kernels take them every call."""
        found = self._on_device.get(name)
        if found is None:
            value = self.sorted_table_index() if name == "sorted_table_index" else getattr(self, name)
            found = self._on_device[name] = value.numpy()
        return found

    def index_on(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        """``index`` (one of this plan's int64 arrays) on ``device``, copied there once."""
        if device.type == "cpu":
            return index
        key = (id(index), str(device))
        found = self._on_device.get(key)
        if found is None:
            found = index.to(device)
            self._on_device[key] = found
        return found


def plan_for(
    shape: Sequence[int], strides: Sequence[int], axes: Sequence[int], long_rows: bool = False, line: int = 1
) -> Plan | None:
    """The plan for an input of this shape and these strides with the slope on ``axes``.

    Args:
        shape: the input's shape, batch axis included.
        strides: the input's strides, in elements.
        axes: 0-based increasing axes of the input that the slope's dims sit on.
        long_rows: prefer runs of thousands of elements (:data:`LONG_SCALAR_MIN_INNER`,
            :data:`LONG_TABLE_MIN_INNER`) to short ones.
        line: prefer table rows whose length is a multiple of this many elements (the lanes of
            the line forward: then every run starts on a line and no line crosses two runs),
            where a factor of a broadcast axis within the table budget allows it.

    Returns:
        The plan, or None when the input's memory is not dense (gaps or overlaps: make it
        contiguous first) or holds a single element.
    """
    limits = (LONG_SCALAR_MIN_INNER, LONG_TABLE_MIN_INNER) if long_rows else (SCALAR_MIN_INNER, TABLE_MIN_INNER)
    # (Plain tuples: the cache's keys. Sizes are ints here, never symbolic: the kernels get real tensors.)
    return _plan(tuple(shape), tuple(strides), tuple(axes), *limits, line)


def kernel_plan(
    shape: Sequence[int], strides: Sequence[int], axes: Sequence[int], long_rows: bool = False, line: int = 1
) -> Plan:
    """The plan of an input that the kernels are given: :func:`plan_for`, never None.

    :mod:`wlnet.kernels` hands the backends only dense inputs of at least two elements, which
    always have a plan; anything else is a caller's mistake, said here rather than as an error
    about ``None`` deep in a backend.
    """
    plan = plan_for(shape, strides, axes, long_rows, line)
    if plan is None:
        raise ValueError(
            f"the fused kernels need a dense input of at least two elements, not shape {tuple(shape)} "
            f"with strides {tuple(strides)}"
        )
    return plan


#: What every backend's ``backward`` returns: the input and slope gradients, each None when not
#: asked for.
Gradients: TypeAlias = tuple[torch.Tensor | None, torch.Tensor | None]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels compute in (their slope tables and partial sums too): float32 for
    16-bit floats, rounded once at the end as PyTorch's own arithmetic does; else ``dtype``."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def gradients(gx: torch.Tensor, need_gx: bool, slope_grad: torch.Tensor | None, slope: torch.Tensor) -> Gradients:
    """A backend's backward result, the same for all: ``gx`` when it was asked for (else it is a
    never-written placeholder), and the slope gradient, summed flat in float64 (None when not
    asked for), in the slope's dtype and shape."""
    gs = None if slope_grad is None else slope_grad.to(slope.dtype).reshape(slope.shape)
    return (gx if need_gx else None), gs


def same_layout(t: torch.Tensor, like: torch.Tensor) -> bool:
    """Whether ``t`` has ``like``'s strides (along every axis longer than 1)."""
    return all(a == b for a, b, n in zip(t.stride(), like.stride(), like.shape) if n > 1)


def is_dense(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether a tensor's elements fill its memory with no gaps or overlaps, in some axis order."""
    if tuple(strides) == _contiguous_strides(tuple(shape)):  # (the common case, cheaply)
        return True
    expected = 1
    for size, stride in sorted(((n, s) for n, s in zip(shape, strides) if n > 1), key=lambda pair: pair[1]):
        if stride != expected:
            return False
        expected *= size
    return True


@functools.lru_cache(maxsize=64)
def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


# Bounded: a plan holds arrays of its input's row count (megabytes for big inputs), and every
# batch size makes a new one; the plans of the last few shapes are what a loop reuses.
@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _plan(
    shape: tuple[int, ...], strides: tuple[int, ...], axes: tuple[int, ...], scalar_min: int, table_min: int, line: int
) -> Plan | None:
    ndim = len(shape)
    slope_stride = [0] * ndim
    step = 1
    for axis in reversed(axes):
        slope_stride[axis] = step
        step *= shape[axis]
    slope_numel = step
    numel = math.prod(shape)

    # Axes of size 1 carry no data; the rest, sorted by stride, give the memory order. Dense
    # memory (contiguous, channels-last, any permutation) is walked in place.
    live = sorted((d for d in range(ndim) if shape[d] > 1), key=lambda d: -strides[d])
    if not live or not is_dense(shape, strides):
        return None
    perm = tuple(live) + tuple(d for d in range(ndim) if shape[d] == 1)

    # Merge neighbours in memory that the slope treats alike: both broadcast, or both slope axes
    # whose slope offsets continue each other. What is left alternates between the two kinds.
    dims: list[tuple[int, int]] = []  # (size, slope stride), outermost first
    for d in live:
        size, sstride = shape[d], slope_stride[d]
        if dims:
            prev_size, prev_sstride = dims[-1]
            if (prev_sstride == 0 and sstride == 0) or (sstride != 0 and prev_sstride == sstride * size):
                dims[-1] = (prev_size * size, sstride)
                continue
        dims.append((size, sstride))

    # A long broadcast run is cheapest as scalar rows (no table to read); so is any input whose
    # table rows would need a table over budget. Everything else becomes table rows.
    last_size, last_sstride = dims[-1]
    inner_dims = None
    if last_sstride != 0 or last_size < scalar_min:
        inner_dims = _table_inner(dims, slope_numel, numel, table_min, line)
    if inner_dims is None:
        return _scalar_plan(perm, dims, slope_numel)
    return _table_plan(perm, dims, inner_dims, slope_numel)


def _table_inner(
    dims: list[tuple[int, int]], slope_numel: int, numel: int, table_min: int, line: int
) -> list[tuple[int, int]] | None:
    """The trailing (size, slope stride) dims that make table rows, or None if there are none.

    Always takes the innermost axis, then (while the run is shorter than ``table_min``) whole
    slope axes, which do not grow the table, and the smallest
    factor of a broadcast axis that reaches the target, while the table stays within its budget.
    """
    budget = max(numel // TABLE_BUDGET_DIVISOR, slope_numel)
    inner: list[tuple[int, int]] = []
    length, expansion = 1, 1
    for size, sstride in reversed(dims):
        if inner and length >= table_min:
            break
        if sstride != 0:
            inner.insert(0, (size, sstride))
            length *= size
            continue
        factor = _factor(size, -(-table_min // length), slope_numel * expansion, budget, line // math.gcd(line, length))
        if factor == 1:
            break
        inner.insert(0, (factor, 0))
        length *= factor
        expansion *= factor
        if factor < size:
            break  # the rest of this axis stays outside the run
    if not any(sstride for _, sstride in inner):
        return None  # a run without a slope axis is a scalar row
    return inner


def _factor(size: int, wanted: int, table: int, budget: int, multiple: int = 1) -> int:
    """The factor of ``size`` to take into a run: the smallest divisor >= ``wanted`` (a multiple
    of ``multiple`` if one fits), else the whole axis, shrunk to the largest divisor that keeps
    ``table * factor`` within ``budget``."""
    fitting = [f for f in _divisors(size) if table * f <= budget]
    if not fitting:
        return 1
    enough = [f for f in fitting if f >= wanted]
    aligned = [f for f in enough if f % multiple == 0]
    return aligned[0] if aligned else enough[0] if enough else fitting[-1]


def _divisors(n: int) -> list[int]:
    """The divisors of ``n`` in increasing order."""
    small = [f for f in range(1, math.isqrt(n) + 1) if n % f == 0]
    return sorted(set(small + [n // f for f in small]))


def _offsets(dims: Sequence[tuple[int, int]]) -> np.ndarray:
    """Slope offset of every position of ``dims`` (C order), as int64."""
    offsets = np.zeros(1, dtype=np.int64)
    for size, sstride in dims:
        offsets = (offsets[:, None] + np.arange(size, dtype=np.int64) * sstride).reshape(-1)
    return offsets


def _split(dims: list[tuple[int, int]], inner_dims: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The outer dims left when ``inner_dims`` (possibly part of an axis) are taken off the end."""
    outer = list(dims)
    for size, _ in reversed(inner_dims):
        outer_size, sstride = outer.pop()
        if size != outer_size:
            # Part of a broadcast axis: its outer factor stays, with the same (zero) stride.
            outer.append((outer_size // size, sstride))
    return outer


def _chunks(order: np.ndarray, group_of_row: np.ndarray, run_rows: int, groups: int) -> dict:
    """Backward chunks: runs of ``run_rows`` rows of one group taken in ``order``, cut into pieces
    of at most :data:`CHUNK_ROWS` rows; and the chunks of each group, in a fixed order."""
    runs = order.size // run_rows
    per_run = -(-run_rows // CHUNK_ROWS)
    starts = (np.arange(runs)[:, None] * run_rows + np.minimum(np.arange(per_run) * CHUNK_ROWS, run_rows)).reshape(-1)
    chunk_group = group_of_row[order[starts]]
    group_chunks = np.argsort(chunk_group, kind="stable")
    assert group_chunks.size % groups == 0  # every group has as many rows, so as many chunks
    return {
        "order": torch.from_numpy(order.astype(np.int64)),
        "chunk_start": torch.from_numpy(np.append(starts, order.size).astype(np.int64)),
        "chunk_group": torch.from_numpy(chunk_group.astype(np.int64)),
        "group_chunks": torch.from_numpy(group_chunks.astype(np.int64)),
    }


def _scalar_plan(perm: tuple[int, ...], dims: list[tuple[int, int]], slope_numel: int) -> Plan:
    offsets = _offsets(dims[:-1])  # the slope element of each row
    rows = offsets.size
    # Scalar rows need chunks only on the GPU (the CPU keeps one partial per row): rows of one
    # slope element, sorted, in pieces.
    order = np.argsort(offsets, kind="stable")
    return Plan(
        perm=perm,
        rows=rows,
        inner=dims[-1][0],
        contiguous=False,
        innermost_sloped=False,
        groups=slope_numel,
        slope_numel=slope_numel,
        expansion=1,
        row_offset=torch.from_numpy(offsets),
        table_index=None,
        table_sort=None,
        **_chunks(order, offsets, rows // slope_numel, slope_numel),
    )


def _table_plan(
    perm: tuple[int, ...],
    dims: list[tuple[int, int]],
    inner_dims: list[tuple[int, int]],
    slope_numel: int,
) -> Plan:
    outer = _split(dims, inner_dims)
    outer_offset = _offsets(outer)
    inner_offset = _offsets(inner_dims)
    inner = inner_offset.size
    rows = outer_offset.size
    distinct, group_of_row = np.unique(outer_offset, return_inverse=True)
    group_of_row = group_of_row.reshape(-1)
    groups = distinct.size
    table_index = (distinct[:, None] + inner_offset[None, :]).reshape(-1)
    identity = table_index.size == slope_numel and bool(np.array_equal(table_index, np.arange(slope_numel)))
    # Consecutive rows share a group for as long as the trailing broadcast axes of ``outer`` run.
    # Chunks that follow memory read each run in one sweep; when runs are too short for that
    # (the partial buffer would grow past numel / (CHUNK_ROWS / 4)), rows are sorted by group.
    # Sorted rows jump across the batch, which the prefetcher follows badly: runs of 14 rows
    # (bfloat16 (64, 64, 56, 56), levels [1, 3]) made the backward 2x slower sorted (3.3 vs 1.65 ms).
    run_rows = 1
    for size, sstride in reversed(outer):
        if sstride != 0:
            break
        run_rows *= size
    if run_rows >= CHUNK_ROWS // 4 or groups == 1:
        chunks = _chunks(np.arange(rows), group_of_row, run_rows if groups > 1 else rows, groups)
    else:
        order = np.argsort(outer_offset, kind="stable")
        chunks = _chunks(order, group_of_row, rows // groups, groups)
    return Plan(
        perm=perm,
        rows=rows,
        inner=inner,
        contiguous=True,
        innermost_sloped=dims[-1][1] != 0,
        groups=groups,
        slope_numel=slope_numel,
        expansion=table_index.size // slope_numel,
        row_offset=torch.from_numpy(group_of_row.astype(np.int64) * inner),
        table_index=None if identity else torch.from_numpy(table_index),
        table_sort=None if identity else torch.from_numpy(np.argsort(table_index, kind="stable")),
        **chunks,
    )
