"""The GPU kernels: Triton, compiled from Python at first use (no system toolchain needed).

The same plan and the same two passes as the CPU kernels (:mod:`wlnet.kernels.cpu`):

* ``_forward_kernel``: one program per tile of rows and columns writes
  ``where(x > 0, x, slope * x)``.
* ``_backward_kernel``: one program per (chunk of rows, column block) walks its rows once, a tile
  of rows at a time, writes the input gradient and keeps the slope-gradient sums in registers; it
  stores them to a partial buffer (a column vector in table rows, one number in scalar rows). No
  atomics: every partial has one writer, so the result does not depend on scheduling.

A program's tile is ``TILE_ROWS x TILE_COLUMNS`` = 1024 elements, with as many columns as a run has
(a power of two): short runs (56 elements for level 2) fill a program with 16 of them.

The partials are then summed by PyTorch reductions in a fixed order (deterministic on CUDA).
float16 and bfloat16 are computed in float32 and rounded once to nearest even (Triton's default
for downcasts), as PyTorch does. Triton's interpreter truncates float32 to bfloat16 instead, so
under ``TRITON_INTERPRET=1`` bfloat16 results may differ from PyTorch's by one unit in the last place.

These kernels were validated with Triton's interpreter (``TRITON_INTERPRET=1``) on CPU tensors;
see ``docs/kernel.md`` for what was and was not measured on a GPU.
"""

from __future__ import annotations

import types

import torch

from .layout import Gradients, Plan, compute_dtype, gradients, kernel_plan

try:
    import triton
    import triton.language as tl
except ImportError as error:
    #: Why the kernels cannot run, or None when they can.
    MISSING: ImportError | None = error
    # The kernels below stay plain, never-called Python functions.
    triton = types.SimpleNamespace(jit=lambda fn: fn)
    tl = None
else:
    MISSING = None

__all__ = ["DTYPES", "MISSING", "backward", "forward"]

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

#: Elements per program tile: ``TILE_ROWS x TILE_COLUMNS`` (see :func:`_tile`).
BLOCK = 1024


def _tile(inner: int) -> tuple[int, int]:
    """(rows, columns) of a program's tile: as many columns as a run has (a power of two, at most
    :data:`BLOCK`), and as many rows as fill the rest. Runs of 56 get 16 x 64 tiles (88% of the
    lanes busy) instead of one 1024-wide row (5%)."""
    columns = min(BLOCK, triton.next_power_of_2(inner)) if inner > 1 else 1
    return BLOCK // columns, columns


@triton.jit
def _forward_kernel(
    x_ptr, y_ptr, table_ptr, row_offset_ptr, rows, inner, blocks,
    CONTIGUOUS: tl.constexpr, TILE_ROWS: tl.constexpr, TILE_COLUMNS: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    row_block = pid // blocks
    column_block = pid - row_block * blocks
    row = row_block * TILE_ROWS + tl.arange(0, TILE_ROWS)[:, None]
    cols = column_block * TILE_COLUMNS + tl.arange(0, TILE_COLUMNS)[None, :]
    live = row < rows
    mask = live & (cols < inner)
    at = row.to(tl.int64) * inner + cols
    offset = tl.load(row_offset_ptr + row, mask=live, other=0)
    x = tl.load(x_ptr + at, mask=mask, other=0.0)
    if CONTIGUOUS:
        s = tl.load(table_ptr + offset + cols, mask=mask, other=0.0)
    else:
        s = tl.load(table_ptr + offset, mask=live, other=0.0)
    v = x.to(s.dtype)
    y = tl.where(v > 0, v, s * v)
    tl.store(y_ptr + at, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_kernel(
    x_ptr, g_ptr, gx_ptr, table_ptr, order_ptr, chunk_start_ptr, chunk_group_ptr, partial_ptr,
    inner, blocks,
    CONTIGUOUS: tl.constexpr, NEED_GX: tl.constexpr, NEED_GS: tl.constexpr,
    TILE_ROWS: tl.constexpr, TILE_COLUMNS: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    chunk = pid // blocks
    column_block = pid - chunk * blocks
    group = tl.load(chunk_group_ptr + chunk)
    first = tl.load(chunk_start_ptr + chunk)
    last = tl.load(chunk_start_ptr + chunk + 1)
    cols = column_block * TILE_COLUMNS + tl.arange(0, TILE_COLUMNS)[None, :]
    in_row = cols < inner
    if CONTIGUOUS:
        s = tl.load(table_ptr + group * inner + cols, mask=in_row, other=0.0)
    else:
        s = tl.load(table_ptr + group)
    acc = tl.zeros([TILE_ROWS, TILE_COLUMNS], dtype=table_ptr.dtype.element_ty)
    for q in range(first, last, TILE_ROWS):
        position = q + tl.arange(0, TILE_ROWS)[:, None]
        live = position < last
        row = tl.load(order_ptr + position, mask=live, other=0)
        mask = live & in_row
        at = row * inner + cols
        v = tl.load(x_ptr + at, mask=mask, other=0.0).to(acc.dtype)
        gv = tl.load(g_ptr + at, mask=mask, other=0.0).to(acc.dtype)
        positive = v > 0
        if NEED_GX:
            gx = tl.where(positive, gv, s * gv)
            tl.store(gx_ptr + at, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        if NEED_GS:
            acc += tl.where(v >= 0, 0.0, v * gv)  # selected: 0, not 0 * inf, at x = 0
    if NEED_GS:
        if CONTIGUOUS:
            column_sums = tl.sum(acc, axis=0)
            columns = column_block * TILE_COLUMNS + tl.arange(0, TILE_COLUMNS)
            tl.store(partial_ptr + chunk.to(tl.int64) * inner + columns, column_sums, mask=columns < inner)
        else:
            tl.store(partial_ptr + pid, tl.sum(tl.sum(acc, axis=1), axis=0))


def _flat(t: torch.Tensor, plan: Plan) -> torch.Tensor:
    return t.detach().permute(plan.perm).view(-1)


def forward(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """``where(x > 0, x, slope * x)`` for a dense GPU tensor of at least two elements."""
    plan = kernel_plan(x.shape, x.stride(), axes)
    y = torch.empty_like(x)
    table = plan.table(slope, compute_dtype(x.dtype))
    tile_rows, tile_columns = _tile(plan.inner)
    blocks = -(-plan.inner // tile_columns)
    _forward_kernel[(-(-plan.rows // tile_rows) * blocks,)](
        _flat(x, plan), _flat(y, plan), table, plan.index_on(plan.row_offset, x.device),
        plan.rows, plan.inner, blocks,
        CONTIGUOUS=plan.contiguous, TILE_ROWS=tile_rows, TILE_COLUMNS=tile_columns,
    )  # fmt: skip
    return y


def backward(
    x: torch.Tensor, slope: torch.Tensor, grad: torch.Tensor, plan: Plan, need_gx: bool, need_gs: bool
) -> Gradients:
    """The input and slope gradients in one pass. ``grad`` must have ``x``'s strides."""
    work = compute_dtype(x.dtype)
    table = plan.table(slope, work)
    tile_rows, tile_columns = _tile(plan.inner)
    blocks = -(-plan.inner // tile_columns)
    if not need_gs:
        partial = torch.empty((1, 1), dtype=work, device=x.device)
    elif plan.contiguous:
        partial = torch.empty((plan.chunks, plan.inner), dtype=work, device=x.device)
    else:
        partial = torch.empty((plan.chunks, blocks), dtype=work, device=x.device)
    gx = torch.empty_like(x) if need_gx else x  # never written when need_gx is False
    on = x.device
    _backward_kernel[(plan.chunks * blocks,)](
        _flat(x, plan), _flat(grad, plan), _flat(gx, plan), table,
        plan.index_on(plan.order, on), plan.index_on(plan.chunk_start, on), plan.index_on(plan.chunk_group, on),
        partial, plan.inner, blocks,
        CONTIGUOUS=plan.contiguous, NEED_GX=need_gx, NEED_GS=need_gs,
        TILE_ROWS=tile_rows, TILE_COLUMNS=tile_columns,
    )  # fmt: skip
    return gradients(gx, need_gx, _reduce(plan, partial, x.device) if need_gs else None, slope)


def _reduce(plan: Plan, partial: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The slope gradient (float64, flat) from the partials: gathers and dense sums, fixed order."""
    by_group = partial[plan.index_on(plan.group_chunks, device)]
    if not plan.contiguous:  # group g is slope element g
        return by_group.reshape(plan.groups, -1).sum(dim=1, dtype=torch.float64)
    table_grad = by_group.reshape(plan.groups, plan.chunks_per_group, plan.inner)
    table_grad = table_grad.sum(dim=1, dtype=torch.float64).reshape(-1)
    if plan.table_sort is None:
        return table_grad
    by_slope = table_grad[plan.index_on(plan.table_sort, device)]
    return by_slope.reshape(plan.slope_numel, plan.expansion).sum(dim=1)
