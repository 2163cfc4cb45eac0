"""The CPU kernels: Numba, compiled on first use and cached on disk, no C compiler needed.

Parallel loops over the tiles of a :class:`~wlnet.kernels.layout.Plan`:

* ``_forward_lines``: ``y = x if x > 0 else slope * x``, one pass, one explicit vector per
  64-byte line of ``y`` (:mod:`wlnet.kernels.simd`), with non-temporal stores for outputs that
  would not stay in the cache. :func:`forward` uses it for big outputs and wherever PyTorch's own
  PReLU kernel is not at memory speed (:func:`torch_forward_is_fast`); ``_forward_scalar`` /
  ``_forward_table`` remain for runs shorter than a line.
* ``_backward_scalar_lines`` / ``_backward_scalar_crossing`` / ``_backward_table_lines``: one pass
  over ``x`` and the output gradient ``g``, explicit vectors again, that writes
  ``gx = g if x > 0 else slope * g`` and sums ``0 if x >= 0 else x * g`` into a small partial
  buffer: one number per (row, column block) for scalar rows, one column vector per chunk of rows
  for table rows. ``_backward_scalar`` / ``_backward_table`` do the same with LLVM-vectorised
  loops, for table rows that are not whole lines and gradients that do not start on a line.
* ``_reduce_scalar`` / ``_reduce_table``: the partials added up per slope element, in float64.

All use selects, not branches, so they vectorise and random signs cost nothing. The tiles
and the order of every sum depend only on the plan, never on the thread count or timing, so the
slope gradient is bit-identical from run to run and from one thread count to another.

bfloat16 travels as its raw 16 bits (NumPy has no bfloat16); the kernels widen it to float32 and
round back to nearest-even, as PyTorch's bfloat16 arithmetic does.

This module imports without Numba (so that tools that import every module keep working); then
:data:`MISSING` holds the import error and nothing here may be called.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import math
import os
import pickle
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from . import pool, settings, simd
from .layout import Gradients, Plan, compute_dtype, gradients, is_dense, kernel_plan, same_layout

logger = logging.getLogger("wlnet")


class UnavailableError(RuntimeError):
    """The kernels cannot run in this process; :mod:`wlnet.kernels` then uses PyTorch's ops.

    Attributes:
        hint: what the user can do about it (said with the reason, once).
        quiet: True where nothing is wrong that the user could fix (a forked child): said at
            INFO level only.
    """

    def __init__(self, reason: str, hint: str, quiet: bool = False) -> None:
        super().__init__(reason)
        self.hint = hint
        self.quiet = quiet


_SETTINGS_HINT = (
    "check the NUMBA_* environment variables: NUMBA_NUM_THREADS must be a whole number > 0, "
    "NUMBA_THREADING_LAYER one of default, safe, threadsafe, forksafe, tbb, omp, workqueue"
)

# Without Numba these names stay unbound: nothing here may be called then, and the decorators
# (_jit, _overload, simd.intrinsic) leave the kernels plain, never-called Python functions.
try:
    import numba
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.core.errors import NumbaWarning
    from numba.extending import overload
except ImportError as error:
    #: Why the kernels cannot run, or None when they can.
    MISSING: Exception | None = error
except Exception as error:  # Numba refusing its own settings: NUMBA_NUM_THREADS=0 is a ValueError
    MISSING = UnavailableError(f"Numba failed to import: {type(error).__name__}: {error}", _SETTINGS_HINT)
else:
    # numba.config sets its options at run time, out of mypy's sight.
    disabled = numba.config.DISABLE_JIT  # type: ignore[attr-defined]
    MISSING = UnavailableError("NUMBA_DISABLE_JIT is set", "unset NUMBA_DISABLE_JIT") if disabled else None

__all__ = ["ANY_GRAD_LAYOUT", "DTYPES", "MISSING", "backward", "forward", "prepare", "torch_forward_is_fast"]

#: The dtypes these kernels take.
DTYPES = (torch.float32, torch.float64, torch.bfloat16)
#: :func:`backward` takes an output gradient of any strides, and copies none whole.
ANY_GRAD_LAYOUT = True

#: Most columns per tile in table rows: the table and partial-sum segments of a tile stay in
#: L1/L2 while the tile's rows stream through.
TABLE_BLOCK = 8192
#: Scalar rows at least this long run at memory speed in PyTorch's own PReLU kernel, whose
#: vectorised loop restarts at each run (it is about 1.7x slower for runs of 56).
TORCH_MIN_INNER = 512
#: Columns per tile in scalar rows: long enough that per-tile overhead vanishes, short enough that
#: a single long run (the ``[]`` level spec) still splits across threads.
SCALAR_BLOCK = 16384
#: Elements per tile of the line forward (a multiple of every dtype's lanes).
LINE_TILE = 16384
#: Scalar rows of whole lines shorter than this go through the backward in tiles of whole rows,
#: as rows that end inside lines do: one row at a time, the per-row work of a row of 56 float64
#: made level 2 of (64, 64, 56, 56) 2.6x slower than level 1.
SHORT_ROW = 512
#: Table columns a thread of the slope-gradient reduction sums at a time (float64: 4 KiB).
REDUCE_COLUMNS = 512


_Function = TypeVar("_Function", bound=Callable[..., object])


def user_cache_dir() -> Path:
    """The per-user directory for compiled kernels when the package's own is read-only:
    ``$XDG_CACHE_HOME/wlnet/numba`` (``~/.cache/wlnet/numba``; the platform's cache directory on
    macOS and Windows)."""
    try:
        from numba.misc.appdirs import user_cache_dir as platform_cache_dir
    except Exception:  # pragma: no cover - without Numba there is nothing to cache
        return Path.home() / ".cache" / "wlnet" / "numba"
    return Path(platform_cache_dir("wlnet", appauthor=False)) / "numba"


def _cache_locators() -> list:
    """Where Numba may cache the kernels, first that works: ``NUMBA_CACHE_DIR`` when the user set
    it, the package's ``kernels/__pycache__`` when it is writable, else :func:`user_cache_dir`.

    Numba's own last resort is its own user directory (``~/.cache/numba``); this one is wlnet's,
    so that it can be named in messages and deleted alone. A locator must be writable to be chosen
    (Numba checks by creating a file there), so a read-only system install caches per user
    instead of compiling in every process.
    """
    from numba.core import caching

    simd_source = hashlib.sha256(Path(simd.__file__).read_bytes()).hexdigest()

    class Stamped:
        """Numba keys a cache on ``cpu.py``'s source; the kernels inline :mod:`simd`'s code too."""

        def get_source_stamp(self):
            return (super().get_source_stamp(), simd_source)  # type: ignore[misc]

    class UserProvided(Stamped, caching.UserProvidedCacheLocator):
        pass

    class InTree(Stamped, caching.InTreeCacheLocator):
        pass

    class PerUser(Stamped, caching.UserWideCacheLocator):
        """:func:`user_cache_dir`, one subdirectory per installed copy of the package."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(user_cache_dir() / self.get_suitable_cache_subpath(py_file))

    return [UserProvided, InTree, PerUser]


_FunctionCache = None  # Numba's FunctionCache with wlnet's locators, made at the first kernel


def _cached(dispatcher):
    """``dispatcher`` with its disk cache placed by :func:`_cache_locators` (what
    ``Dispatcher.enable_caching`` does, with wlnet's locators); without any writable place, with
    no disk cache: it then compiles in every process."""
    from numba.core import caching

    if numba.config.CACHE_LOCATOR_CLASSES:  # type: ignore[attr-defined]  # the user chose: Numba's way
        try:
            dispatcher.enable_caching()
        except RuntimeError:  # "cannot cache function ...: no locator available"
            pass
        return dispatcher

    global _FunctionCache
    if _FunctionCache is None:

        class Impl(caching.CompileResultCacheImpl):
            _locator_classes = _cache_locators()

        class Cache(caching.FunctionCache):
            _impl_class = Impl

        _FunctionCache = Cache
    try:
        dispatcher._cache = _FunctionCache(dispatcher.py_func)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        pass
    return dispatcher


def _jit(**options):
    """``numba.njit`` with a disk cache where one can be written (else compile per process)."""

    def decorate(fn):
        if not simd.NUMBA:
            return fn
        return _cached(njit(**options)(fn))

    return decorate


def _overload(function: Callable[..., object]) -> Callable[[_Function], _Function]:
    """``numba.extending.overload``; without Numba the implementation stays a plain function."""

    def unchanged(implementation: _Function) -> _Function:
        return implementation

    return overload(function) if simd.NUMBA else unchanged


# --- bfloat16 as raw bits ------------------------------------------------------------------------


@simd.intrinsic
def _bits_to_f32(typingctx, bits):
    """uint16 bfloat16 bits -> float32 (exact: the bits become the float's upper half)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        wide = builder.shl(builder.zext(args[0], ir.IntType(32)), ir.Constant(ir.IntType(32), 16))
        return builder.bitcast(wide, ir.FloatType())

    return types.float32(bits), codegen


@simd.intrinsic
def _f32_to_bits(typingctx, value):
    """float32 -> uint32 bits, unchanged."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(value), codegen


def _widen(value):  # pragma: no cover - replaced by the overload below inside Numba
    raise NotImplementedError


def _put(array, index, value):  # pragma: no cover - replaced by the overload below inside Numba
    raise NotImplementedError


def _zero(array):  # pragma: no cover - replaced by the overload below inside Numba
    raise NotImplementedError


@_overload(_zero)
def _zero_impl(array):
    # A zero of the computing type, so selects and sums stay in float32 for float32 data (and
    # bfloat16 bits, uint16, compute in float32).
    scalar = np.float32 if array.dtype == types.uint16 else numba.np.numpy_support.as_dtype(array.dtype).type

    def zero(array):
        return scalar(0)

    return zero


@_overload(_widen)
def _widen_impl(value):
    if value == types.uint16:
        return lambda value: _bits_to_f32(value)
    if isinstance(value, types.Float):
        return lambda value: value
    return None


@_overload(_put)
def _put_impl(array, index, value):
    if array.dtype == types.uint16:

        def put_bfloat16(array, index, value):
            bits = _f32_to_bits(np.float32(value))
            # Round to nearest, ties to even; any NaN becomes PyTorch's canonical 0x7FC0.
            rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> (np.uint32(16))
            array[index] = np.uint16(0x7FC0) if value != value else np.uint16(rounded)

        return put_bfloat16
    if isinstance(array.dtype, types.Float):

        def put_float(array, index, value):
            array[index] = value

        return put_float
    return None


# --- kernels -------------------------------------------------------------------------------------


# The row kernels' tiles: each of ``rows`` rows (or chunks of rows) of ``inner`` elements cut into
# ``blocks`` column blocks of at most ``block`` elements, numbered row after row. Both helpers are
# inlined by Numba, so the kernels compile as if they had them written out.


@_jit(inline="always")
def _tiling(rows, inner, block):  # pragma: no cover - compiled
    """(tiles, column blocks per row)."""
    blocks = (inner + block - 1) // block
    return rows * blocks, blocks


@_jit(inline="always")
def _tile_span(tile, blocks, block, inner):  # pragma: no cover - compiled
    """Tile ``tile``'s row (or chunk), first column and length."""
    row = tile // blocks
    start = (tile - row * blocks) * block
    return row, start, min(block, inner - start)


@_jit(parallel=True, nogil=True)
def _forward_scalar(x, y, table, row_offset, inner, block):  # pragma: no cover - compiled
    """Scalar rows: tiles of one row (or one column block of a long row) in memory order."""
    tiles, blocks = _tiling(row_offset.size, inner, block)
    for tile in prange(tiles):
        row, start, n = _tile_span(tile, blocks, block, inner)
        xs = x[row * inner + start : row * inner + start + n]
        ys = y[row * inner + start : row * inner + start + n]
        zero = _zero(table)
        s = table[row_offset[row]]
        for j in range(n):
            v = _widen(xs[j])
            _put(ys, j, v if v > zero else s * v)


@_jit(parallel=True, nogil=True)
def _forward_table(x, y, table, row_offset, inner, block):  # pragma: no cover - compiled
    """Table rows: tiles of one row (or one column block of a long row) in memory order.

    Streaming in memory order beats reusing table segments across the rows of a group: tried,
    that order was 1.3-1.6x slower. The table may hold bfloat16 bits to halve its traffic.
    """
    tiles, blocks = _tiling(row_offset.size, inner, block)
    for tile in prange(tiles):
        row, start, n = _tile_span(tile, blocks, block, inner)
        xs = x[row * inner + start : row * inner + start + n]
        ys = y[row * inner + start : row * inner + start + n]
        ts = table[row_offset[row] + start : row_offset[row] + start + n]
        zero = _zero(table)
        for j in range(n):
            v = _widen(xs[j])
            _put(ys, j, v if v > zero else _widen(ts[j]) * v)


@_jit(inline="always")
def _run_index(row_offset, row, inner, pad, scalar):  # pragma: no cover - compiled
    """Where row ``row`` finds its slope in the line forward's table: the index itself for scalar
    rows; for table rows the index minus the row's start, so that element ``j`` uses ``index + j``.
    A row past the last (never read) gets the last row's."""
    row = min(row, row_offset.size - 1)
    return row_offset[row] if scalar else pad + row_offset[row] - row * inner


@_jit(parallel=True, nogil=True)
def _forward_lines(x, y, table, row_offset, inner, pad, scalar, streaming):  # pragma: no cover - compiled
    """The forward as whole aligned lines of ``y`` (see :mod:`wlnet.kernels.simd`), any rows.

    Tiles are fixed spans of memory, not rows: a tile walks its lines and keeps track of the run
    (row) it is in; a line that crosses into the next run takes its lanes from both (runs are at
    least a line long, so a line crosses at most once). One code path for every line keeps the
    loop short: measured, separate loops for whole lines and for crossing lines were 5-10%
    slower on runs of 56 bfloat16 elements. ``y`` must start on a line; only the
    array's last few elements (less than a line) are done one by one.

    Args:
        scalar: scalar rows (``table[row_offset[r]]`` for all of row ``r``), else table rows
            (``table[pad + row_offset[r] + k]`` for element ``k`` of row ``r``).
        pad: the table rows' padding at both ends of the table (the lanes of a line), else 0.
        streaming: non-temporal stores.
    """
    lanes = simd.LINE // y.itemsize
    total = y.size
    for tile in prange((total + LINE_TILE - 1) // LINE_TILE):
        start = tile * LINE_TILE
        end = min(total, start + LINE_TILE)
        body = start + (end - start) // lanes * lanes
        row = start // inner
        row_end = (row + 1) * inner
        here = _run_index(row_offset, row, inner, pad, scalar)
        after = _run_index(row_offset, row + 1, inner, pad, scalar)
        for j in range(start, body, lanes):
            step = 0 if scalar else j
            boundary = row_end - j
            simd.line(x, y, j, table, here + step, after + step, boundary, scalar, streaming)
            if boundary <= lanes:
                row += 1
                row_end += inner
                here, after = after, _run_index(row_offset, row + 1, inner, pad, scalar)
        zero = _zero(table)
        for k in range(body, end):  # the array's last partial line
            if k >= row_end:
                row_end += inner
                here = after
            s = _widen(table[here if scalar else here + k])
            v = _widen(x[k])
            _put(y, k, v if v > zero else s * v)
        if streaming:
            simd.store_fence()


# ``reassoc`` lets LLVM vectorise the running sums; it changes no select or product, and the
# compiled order of the sums is fixed, so results stay deterministic. NaN and inf rules are kept.
@_jit(parallel=True, nogil=True, fastmath={"reassoc"})
def _backward_scalar(
    x, g, gx, table, row_offset, inner, need_gx, need_gs, block, partial
):  # pragma: no cover - compiled
    """Scalar rows: tiles in memory order, one partial sum per (row, column block)."""
    tiles, blocks = _tiling(row_offset.size, inner, block)
    for tile in prange(tiles):
        row, start, n = _tile_span(tile, blocks, block, inner)
        zero = _zero(table)
        s = table[row_offset[row]]
        xs = x[row * inner + start : row * inner + start + n]
        gs = g[row * inner + start : row * inner + start + n]
        os = gx[row * inner + start : row * inner + start + n]
        total = zero
        if need_gx and need_gs:
            for j in range(n):
                v = _widen(xs[j])
                gj = _widen(gs[j])
                positive = v > zero
                _put(os, j, gj if positive else s * gj)
                total += zero if v >= zero else v * gj
        elif need_gx:
            for j in range(n):
                gj = _widen(gs[j])
                _put(os, j, gj if _widen(xs[j]) > zero else s * gj)
        else:
            for j in range(n):
                v = _widen(xs[j])
                total += zero if v >= zero else v * _widen(gs[j])
        if need_gs:  # without it, ``partial`` is a (1, 1) placeholder
            partial[row, tile - row * blocks] = total  # the tile's column block


@_jit(parallel=True, nogil=True)
def _backward_table(
    x, g, gx, table, order, chunk_start, chunk_group, inner, need_gx, need_gs, block, partial
):  # pragma: no cover - compiled
    """Table rows: tiles of one chunk of rows (all of one group); a partial sum per column."""
    tiles, blocks = _tiling(chunk_group.size, inner, block)
    for tile in prange(tiles):
        chunk, start, n = _tile_span(tile, blocks, block, inner)
        group = chunk_group[chunk]
        zero = _zero(table)
        ts = table[group * inner + start : group * inner + start + n]
        acc = partial[chunk if need_gs else 0, start : start + n]  # (1, 1) without need_gs
        if need_gs:
            acc[:] = zero  # here, in cache, rather than a separate pass over the whole buffer
        for q in range(chunk_start[chunk], chunk_start[chunk + 1]):
            base = order[q] * inner + start
            xs = x[base : base + n]
            gs = g[base : base + n]
            os = gx[base : base + n]
            if need_gx and need_gs:
                for j in range(n):
                    v = _widen(xs[j])
                    gj = _widen(gs[j])
                    positive = v > zero
                    _put(os, j, gj if positive else ts[j] * gj)
                    acc[j] += zero if v >= zero else v * gj
            elif need_gx:
                for j in range(n):
                    gj = _widen(gs[j])
                    _put(os, j, gj if _widen(xs[j]) > zero else ts[j] * gj)
            else:
                for j in range(n):
                    v = _widen(xs[j])
                    acc[j] += zero if v >= zero else v * _widen(gs[j])


@_jit(inline="always")
def _backward_elements(x, g, gx, begin, stop, s, zero, need_gx):  # pragma: no cover - compiled
    """Elements ``begin:stop`` of one scalar row, one at a time: writes ``gx`` and returns the sum."""
    total = zero
    for j in range(begin, stop):
        v = _widen(x[j])
        gj = _widen(g[j])
        positive = v > zero
        if need_gx:
            _put(gx, j, gj if positive else s * gj)
        total += zero if v >= zero else v * gj
    return total


@_jit(parallel=True, nogil=True)
def _backward_scalar_lines(x, g, gx, table, row_offset, inner, need_gx, block, partial, streaming):  # pragma: no cover
    """``_backward_scalar`` with explicit vectors (:func:`wlnet.kernels.simd.backward_lines`): the
    same tiles, one partial sum each in ``partial`` (flat). A tile that does not start or end on a
    line (runs of 56 float32) does its first and last few elements one by one; its sum adds those
    and the lines' in a fixed order."""
    tiles, blocks = _tiling(row_offset.size, inner, block)
    lanes = simd.LINE // gx.itemsize
    for tile in prange(tiles):
        row, start, n = _tile_span(tile, blocks, block, inner)
        begin = row * inner + start
        stop = begin + n
        first = min(stop, begin + (-begin) % lanes)  # the first element on a line
        count = (stop - first) // lanes
        last = first + count * lanes
        s = table[row_offset[row]]
        zero = _zero(table)
        total = _backward_elements(x, g, gx, begin, first, s, zero, need_gx)
        total += simd.backward_lines(
            x, g, gx, first, count, table, row_offset[row], partial, 0, True, need_gx, streaming
        )
        total += _backward_elements(x, g, gx, last, stop, s, zero, need_gx)
        partial[tile] = total
        if streaming:
            simd.store_fence()


@_jit(parallel=True, nogil=True)
def _backward_scalar_crossing(
    x, g, gx, table, row_offset, inner, need_gx, tile_rows, partial, streaming
):  # pragma: no cover - compiled
    """Scalar rows that are not whole lines but start on one every ``tile_rows`` rows (runs of 56
    float32: every 2), as whole lines, like the forward: a line that crosses into the next row
    adds its lanes to each row's sum (:func:`wlnet.kernels.simd.backward_crossing`, which sums a
    row's lanes once, at its end). Tiles are ``tile_rows`` whole rows, so every row's sum has one
    writer: ``partial[row]``, in a fixed order."""
    rows = row_offset.size
    lanes = simd.LINE // gx.itemsize
    last_row = rows - 1
    for tile in prange((rows + tile_rows - 1) // tile_rows):
        row = tile * tile_rows
        stop = min(rows, row + tile_rows) * inner
        begin = row * inner
        lines = (stop - begin) // lanes
        row, row_end, total = simd.backward_crossing(
            x, g, gx, begin, lines, row, begin + inner, inner, table, row_offset, last_row, partial, need_gx, streaming
        )  # fmt: skip
        zero = _zero(table)
        for k in range(begin + lines * lanes, stop):  # the array's last partial line
            if k >= row_end:
                partial[row] = total
                total = zero
                row += 1
                row_end += inner
            total += _backward_elements(x, g, gx, k, k + 1, table[row_offset[row]], zero, need_gx)
        if row < rows and row_end == stop:
            partial[row] = total
        if streaming:
            simd.store_fence()


@_jit(parallel=True, nogil=True)
def _backward_table_lines(
    x, g, gx, table, order, chunk_start, chunk_group, inner, need_gx, block, partial, streaming
):  # pragma: no cover - compiled
    """``_backward_table`` as whole lines, when runs are a whole number of lines: the same tiles
    and the same order of every sum (rows of a chunk in turn), into ``partial`` (flat)."""
    tiles, blocks = _tiling(chunk_group.size, inner, block)
    lanes = simd.LINE // gx.itemsize
    for tile in prange(tiles):
        chunk, start, n = _tile_span(tile, blocks, block, inner)
        sums = chunk * inner + start
        partial[sums : sums + n] = 0
        table_index = chunk_group[chunk] * inner + start
        for q in range(chunk_start[chunk], chunk_start[chunk + 1]):
            simd.backward_lines(
                x, g, gx, order[q] * inner + start, n // lanes, table, table_index, partial, sums, False, need_gx,
                streaming,
            )  # fmt: skip
        if streaming:
            simd.store_fence()


@_jit(parallel=True, nogil=True)
def _reduce_scalar(partial, order, group_rows, out):  # pragma: no cover - compiled
    """Scalar rows: slope element g sums the partials of rows ``order[g * group_rows:...]``."""
    for group in prange(out.size):
        total = 0.0
        for q in range(group * group_rows, (group + 1) * group_rows):
            row = partial[order[q]]
            for b in range(row.size):
                total += row[b]
        out[group] = total


@_jit(parallel=True, nogil=True)
def _reduce_table(partial, table_sort, group_chunks, inner, per_group, expansion, columns, out):  # pragma: no cover
    """Table rows: every table entry sums its group's chunks in order (``columns``, float64: rows
    of ``partial`` added whole, in blocks of columns); then slope element e sums its ``expansion``
    entries. The order of the CUDA backend's reduction."""
    blocks = -(-inner // REDUCE_COLUMNS)
    for tile in prange(columns.size // inner * blocks):
        group = tile // blocks
        start = (tile - group * blocks) * REDUCE_COLUMNS
        stop = min(inner, start + REDUCE_COLUMNS)
        sums = columns[group * inner + start : group * inner + stop]
        sums[:] = 0.0
        for i in range(group * per_group, (group + 1) * per_group):
            row = partial[group_chunks[i], start:stop]
            for j in range(stop - start):
                sums[j] += row[j]
    for element in prange(out.size):
        total = 0.0
        for k in range(element * expansion, (element + 1) * expansion):
            total += columns[table_sort[k]]
        out[element] = total


# --- torch glue ----------------------------------------------------------------------------------

_compile_lock = threading.Lock()
_compiled: set[torch.dtype] = set()
#: Held around every parallel kernel launch when Numba's threading layer is ``workqueue``, which
#: is not thread-safe (two launches at once terminate the process); the other layers run
#: launches from several threads at once. Also held around each warm-up launch (not while
#: compiling): the first launch chooses the layer.
_launch_lock = threading.RLock()
_serial_launches = False
#: Why the kernels may not run in this process (a forked child), or None.
_refused: UnavailableError | None = None
#: Whether this process has announced a compile already.
_announced = False
#: About how long compiling one dtype's kernels takes (a 2-core x86-64 machine, an empty cache:
#: float32 17 s, float64 23 s, bfloat16 28 s; several times that while other work shares the cores).
COMPILE_SECONDS = 20


class _Memory:
    """A dense tensor's memory as NumPy sees it (``__array_interface__``); it keeps the tensor alive."""

    __slots__ = ("__array_interface__", "tensor")

    def __init__(self, t: torch.Tensor) -> None:
        self.tensor = t
        self.__array_interface__ = {"data": (t.data_ptr(), False), "shape": (t.numel(),), "typestr": _TYPESTR[t.dtype],
                                    "version": 3}  # fmt: skip


#: NumPy's (native byte order) type string for each dtype the kernels take; bfloat16 as its bits.
_TYPESTR = {
    torch.float32: np.dtype(np.float32).str, torch.float64: np.dtype(np.float64).str,
    torch.float16: np.dtype(np.float16).str, torch.bfloat16: np.dtype(np.uint16).str,
}  # fmt: skip


def _storage(t: torch.Tensor) -> np.ndarray:
    """A flat NumPy view of a dense tensor's memory in memory order, whatever its layout (bfloat16
    as uint16 bits): the elements of ``t.permute(plan.perm)``, without the 4-5 us of permuting,
    flattening and ``Tensor.numpy`` a call."""
    return np.asarray(_Memory(t))


def _is_scalar(grad: torch.Tensor) -> bool:
    """Whether ``grad`` is one value expanded to its whole shape (every stride 0)."""
    return grad.numel() > 1 and all(stride == 0 for stride in grad.stride())


def _scalar_storage(grad: torch.Tensor, n: int) -> np.ndarray:
    """An expanded one-value gradient as ``n`` elements with stride 0 over that one value: the
    kernels (typed for it as a non-contiguous array) read it at every index, the SIMD loads
    broadcast it (:func:`wlnet.kernels.simd._load`)."""
    return _repeated(_storage(grad.detach().as_strided((1,), (1,))), n)


def _repeated(one: np.ndarray, n: int) -> np.ndarray:
    """``n`` elements with stride 0 over the first element of ``one``."""
    return np.lib.stride_tricks.as_strided(one, shape=(n,), strides=(0,))


def _block(plan: Plan) -> int:
    """Columns per tile: rows cut into equal blocks of at most the limit, multiples of 64."""
    limit = TABLE_BLOCK if plan.contiguous else SCALAR_BLOCK
    blocks = -(-plan.inner // limit)
    return (-(-plan.inner // blocks) + 63) // 64 * 64 if blocks > 1 else plan.inner


def cache_dir() -> str | None:
    """Where the compiled kernels are cached on disk, or None when nowhere could be written."""
    path = _forward_scalar.stats.cache_path
    return None if path is None else str(path)


def _announce_compiling(dtype: torch.dtype, background: bool) -> None:
    """Say once per process, on the ``wlnet`` logger, that the kernels are being compiled."""
    global _announced
    if _announced:
        return
    _announced = True
    # INFO: nothing to do about a compile that happens once; a WARNING only where every process
    # will compile again, which setting NUMBA_CACHE_DIR fixes.
    where = cache_dir()
    logger.log(
        logging.INFO if where else logging.WARNING,
        "wlnet: compiling the fast CPU kernels for %s, about %d s%s; %s.",
        str(dtype).removeprefix("torch."),
        COMPILE_SECONDS,
        " in the background (PyTorch's PReLU kernel runs meanwhile)" if background else " (this call waits)",
        f"later processes load them from the cache in {where} (NUMBA_CACHE_DIR moves it)" if where else
        "no cache directory is writable, so every process compiles them again: set NUMBA_CACHE_DIR to a "
        "writable directory to keep them",
    )


def _failure(error: Exception) -> UnavailableError:
    """What a failure to load, compile or launch the kernels means for the user."""
    reason = " ".join(f"{type(error).__name__}: {error}".split())  # one line: Numba's hints span several
    layer_hint = _threading_layer_hint(error)
    if layer_hint:  # before the cache test: a cached kernel starts the threading layer in caching.py
        return UnavailableError(reason, layer_hint)
    from_cache = isinstance(error, (pickle.UnpicklingError, EOFError)) or any(
        frame.f_code.co_filename.endswith("caching.py") for frame, _ in traceback.walk_tb(error.__traceback__)
    )
    if from_cache:
        return UnavailableError(reason, f"the kernel cache may be damaged: delete {cache_dir()} to recompile them")
    return UnavailableError(reason, _SETTINGS_HINT)


#: The values of ``NUMBA_THREADING_LAYER`` that Numba knows (any case).
THREADING_LAYERS = ("default", "safe", "threadsafe", "forksafe", "tbb", "omp", "workqueue")


def _threading_layer_hint(error: Exception) -> str | None:
    """What to do when Numba's threading layer is what failed to start, naming the environment
    variable, its value and the values it takes; None for any other failure."""
    text = str(error)
    if "THREADING_LAYER_PRIORITY" in text:
        return (
            "set NUMBA_THREADING_LAYER_PRIORITY to the three layers tbb, omp and workqueue in the order "
            "to try them, separated by spaces (such as 'tbb omp workqueue'), or unset it"
        )
    if "threading layer" not in text:
        return None
    layer = str(os.environ.get("NUMBA_THREADING_LAYER", "default"))
    accepted = ", ".join(THREADING_LAYERS)
    if layer.lower() not in THREADING_LAYERS:  # Numba lowercases the value, and strips nothing
        return (
            f"NUMBA_THREADING_LAYER={layer!r:.60} is not a layer Numba knows: set it to one of {accepted}, "
            "or unset it"
        )
    return (
        f"NUMBA_THREADING_LAYER={layer!r} names a threading layer that cannot start on this machine "
        f"(tbb needs the tbb package, omp an OpenMP runtime): unset it, or set it to workqueue (always "
        f"there) or another of {accepted}"
    )


def prepare(dtype: torch.dtype, background: bool = False) -> None:
    """Load the kernels for ``dtype`` from the cache, or compile them: :mod:`wlnet.kernels` calls
    this in its background thread (``background``: said so when they compile).

    Raises:
        UnavailableError: as :func:`_ensure_compiled`.
    """
    _ensure_compiled(dtype, background)


def _ensure_compiled(dtype: torch.dtype, background: bool = False) -> None:
    """Compile (or load from cache) the kernels for ``dtype`` once, with Numba's warnings muted.

    pytest runs with warnings as errors and Numba may warn while compiling (about caching or
    deprecations); none of that concerns our callers. Later calls dispatch without compiling.
    Kernels of other dtypes keep running meanwhile: the launch lock is held per warm-up launch,
    not while compiling.

    Raises:
        UnavailableError: the kernels cannot run in this process (Numba's settings, a damaged cache,
            a forked child): :mod:`wlnet.kernels` then uses PyTorch's ops.
    """
    if _refused is not None:
        raise _refused
    if dtype in _compiled:
        return
    with _compile_lock:
        if dtype in _compiled:
            return
        try:
            _warm_up(dtype, background)
        except Exception as error:
            raise _failure(error) from error
        _compiled.add(dtype)


def _launch(kernel, *args) -> None:
    """One warm-up call of ``kernel``: compiled (or loaded) first, then launched under the launch
    lock, which also learns whether launches must be serialised (the first chooses the layer)."""
    global _serial_launches
    kernel.compile(tuple(numba.typeof(arg) for arg in args))
    with _launch_lock:
        kernel(*args)
        _serial_launches = numba.threading_layer() == "workqueue"


def _warm_up(dtype: torch.dtype, background: bool = False) -> None:
    """Call every kernel once on tiny arrays of ``dtype``: compiles them or loads them from cache."""
    misses = sum(_forward_scalar.stats.cache_misses.values())
    x = _storage(torch.zeros(8, dtype=dtype))
    out = _storage(torch.zeros(8, dtype=dtype))
    table = torch.zeros(8, dtype=compute_dtype(dtype)).numpy()
    index = np.zeros(1, dtype=np.int64)
    partial = np.zeros((1, 8), dtype=table.dtype)
    # warnings.catch_warnings is not thread-safe: it would change (and might leave changed) the
    # filters of every thread, so the background thread leaves them alone (Numba gave no warning
    # while compiling these kernels; one turned into an error there is a failure like any other).
    with contextlib.nullcontext() if background else warnings.catch_warnings():
        if not background:
            warnings.simplefilter("ignore", NumbaWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
        started = time.perf_counter()
        _launch(_forward_scalar, x, out, table, index, 8, 8)
        if sum(_forward_scalar.stats.cache_misses.values()) > misses:  # not in the cache: all compile
            _announce_compiling(dtype, background)
        bounds = np.array([0, 1], dtype=np.int64)
        _launch(_forward_table, x, out, table, index, 8, 8)
        if dtype == torch.bfloat16:  # the forward's table may hold bfloat16 bits too
            _launch(_forward_table, x, out, x, index, 8, 8)
        flat = partial.reshape(-1)
        for streaming in (False, True):  # 7 elements: less than a line, nothing needs alignment
            _launch(_forward_lines, x[:7], out[:7], table, index, 7, 0, True, streaming)
        for g in (x, _repeated(x, 8)):  # a dense gradient, and one value (see _scalar_storage)
            for streaming in (False, True):
                _launch(_backward_scalar_lines, x[:7], g[:7], out[:7], table, index, 7, True, 7, flat, streaming)
                _launch(
                    _backward_table_lines, x[:7], g[:7], out[:7], table, index, bounds, index, 7, True, 7, flat,
                    streaming,
                )  # fmt: skip
                _launch(_backward_scalar_crossing, x[:7], g[:7], out[:7], table, index, 7, True, 1, flat, streaming)
            _launch(_backward_scalar, x, g, out, table, index, 8, True, True, 8, partial)
            _launch(_backward_table, x, g, out, table, index, bounds, index, 8, True, True, 8, partial)
        _launch(_reduce_scalar, partial, index, 1, np.zeros(1))
        _launch(_reduce_table, partial, index, index, 8, 1, 1, np.zeros(8), np.zeros(1))
    logger.debug("wlnet: CPU kernels for %s ready in %.1f s", dtype, time.perf_counter() - started)


@contextlib.contextmanager
def _launching() -> Iterator[None]:
    """Around parallel kernel launches: serialised where the threading layer needs it."""
    if _serial_launches:
        with _launch_lock:
            yield
    else:
        yield


def _after_fork_in_child() -> None:
    """In a forked child, refuse the kernels: no Numba threading layer survives a fork (GNU OpenMP
    terminates the child at its next launch, or hangs when PyTorch's OpenMP ran in the parent;
    workqueue's threads are gone), so the child uses PyTorch's ops. PyTorch's own ops need one
    thread there (``torch.set_num_threads(1)``, as DataLoader workers do)."""
    global _refused, _launch_lock, _compile_lock
    _launch_lock, _compile_lock = threading.RLock(), threading.Lock()  # a parent's thread may have held them
    _compiled.clear()
    if MISSING is None:
        _refused = UnavailableError(
            "this process is a forked child, and Numba's threads do not survive a fork",
            "use the 'spawn' or 'forkserver' start method for worker processes to run the kernels there",
            quiet=True,
        )


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: Contiguous outputs bigger than this come from, and go back to, :mod:`wlnet.kernels.pool`.
#: glibc serves blocks under 32 MiB from its heap once one has been freed, but trims the heap's
#: top when more than twice that size lies free there: two freed 25.7 MB outputs (a bfloat16
#: step on (64, 64, 56, 56)) were trimmed and faulted in again on about one step in three, each
#: time costing 5-6 ms of a 3 ms step.
POOL_MIN_BYTES = 4 << 20

#: Fresh outputs bigger than this are advised to Linux as huge pages before their first write.
#: glibc maps blocks over 32 MiB afresh on every allocation (smaller ones it soon serves from its
#: heap), and faulting them in 4 KiB pages made a new 50 MiB output cost 5-6x a copy into
#: existing memory; 2 MiB pages cut that about 3x. Heap blocks are never advised: glibc trims
#: its heap in pieces, which would split huge pages.
HUGE_PAGE_MIN_BYTES = 32 << 20
#: Whether to give that advice; None: as the environment variable ``WLNET_HUGE_PAGES`` says
#: (:func:`_huge_pages`), read at the first big output. ``WLNET_HUGE_PAGES=0`` turns it off:
#: where the system compacts memory synchronously for such regions
#: (``/sys/kernel/mm/transparent_hugepage/defrag`` set to ``madvise`` or ``always``), a
#: fragmented machine can stall an allocation instead.
HUGE_PAGES: bool | None = None
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14  # Linux


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise, mincore = libc.madvise, libc.mincore
    except (OSError, AttributeError):
        return None, None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    mincore.restype = ctypes.c_int
    return madvise, mincore


_madvise, _mincore = _load_libc()


def _new_output(x: torch.Tensor) -> tuple[torch.Tensor, str]:
    """``torch.empty_like(x)``, advised as huge pages when it is big and freshly mapped.

    A big dense output (contiguous, channels-last, any order of axes) comes from
    :mod:`wlnet.kernels.pool` when an earlier one of its size has been freed, and is kept there for
    reuse otherwise. Only the 2 MiB-aligned interior of the block is advised, and only when its
    first page is not resident yet (a fresh mapping from glibc): a reused block is left as it is.
    The advice is a hint; whatever the kernel answers, the tensor is the same.

    Returns:
        The tensor, and where its memory comes from: ``"huge"`` (a fresh mapping, advised as huge
        pages), ``"fresh"`` (a fresh mapping of 4 KiB pages, which Linux zeroes, through the
        cache, at their first write) or ``"reused"`` (resident memory, or a block too small to
        ask about).
    """
    size = x.numel() * x.element_size()
    pooled = size > POOL_MIN_BYTES and is_dense(x.shape, x.stride())  # (channels_last too)
    if pooled and (kept := pool.take(x)) is not None:
        return kept, "reused"  # a big output of an earlier call, freed since (see pool.py)
    y = torch.empty_like(x)
    if pooled:
        pool.keep(y)
    if _mincore is None or size <= HUGE_PAGE_MIN_BYTES:
        return y, "reused"
    start = -(-y.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE
    end = (y.data_ptr() + size) // _HUGE_PAGE * _HUGE_PAGE
    resident = ctypes.c_ubyte(1)
    if end <= start or _mincore(start, 1, ctypes.byref(resident)) != 0 or resident.value & 1:
        return y, "reused"
    if _huge_pages() and _madvise(start, end - start, _MADV_HUGEPAGE) == 0:
        return y, "huge"
    return y, "fresh"


#: Outputs of at least this many bytes are written with non-temporal stores (straight to memory,
#: without reading the lines into the cache first): with the input they do not fit in the cache
#: anyway, and the forward then moves two bytes for every three of a plain store. Smaller outputs
#: stay in the cache for the next layer. The default is half this machine's last-level cache
#: (:func:`wlnet.kernels.settings.last_level_cache`): measured on (N, 64, 56, 56) float32 and
#: bfloat16, streaming lost up to 2x below a quarter of it, broke even at about half and won 10-30%
#: above.
#: ``WLNET_STREAM_MIN_BYTES`` in the environment overrides it (0: the default). None: read at
#: the first kernel call (:func:`_stream_min_bytes`); tests set a number here.
STREAM_MIN_BYTES: int | None = None


def _huge_pages() -> bool:
    """:data:`HUGE_PAGES`, from ``WLNET_HUGE_PAGES`` the first time (default: on)."""
    global HUGE_PAGES
    if HUGE_PAGES is None:
        HUGE_PAGES = bool(settings.read("WLNET_HUGE_PAGES"))
    return HUGE_PAGES


def _stream_min_bytes() -> int:
    """:data:`STREAM_MIN_BYTES`, from ``WLNET_STREAM_MIN_BYTES`` the first time."""
    global STREAM_MIN_BYTES
    if STREAM_MIN_BYTES is None:
        STREAM_MIN_BYTES = int(settings.read("WLNET_STREAM_MIN_BYTES")) or settings.last_level_cache() // 2
    return STREAM_MIN_BYTES


def _threads() -> None:
    """Use as many threads as PyTorch does (within Numba's pool). Both counts are per thread; Numba's
    is set when this thread's PyTorch count differs from the one it last followed (asking Numba for
    its count each call cost 1 us)."""
    torch_threads = torch.get_num_threads()
    if getattr(_thread_state, "torch_threads", None) != torch_threads:
        # numba.config sets its options at run time, out of mypy's sight.
        wanted = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        if numba.get_num_threads() != wanted:
            numba.set_num_threads(wanted)
        _thread_state.torch_threads = torch_threads


_thread_state = threading.local()


def _table(plan: Plan, slope: torch.Tensor, dtype: torch.dtype, pad: int = 0) -> np.ndarray:
    """The plan's slope table (:meth:`Plan.table`) in ``dtype`` as a NumPy array, with ``pad``
    zeros on each side."""
    table = plan.table(slope.detach(), dtype).numpy()
    if not pad:
        return table
    padded = np.zeros(table.size + 2 * pad, dtype=table.dtype)
    padded[pad:-pad] = table
    return padded


def torch_forward_is_fast(plan: Plan, dtype: torch.dtype) -> bool:
    """Whether PyTorch's own PReLU kernel runs this layout at memory speed.

    Its TensorIterator loop is vectorised over the innermost (coalesced) axis: fast when the slope
    is constant along long runs, and, in float32 and float64, when the slope varies along the
    innermost axis too. It falls to a slow loop for a short broadcast innermost axis (level 2 of
    ``(N, C, H, W)``) and, in bfloat16, for a slope along the innermost axis; our kernel runs those.
    """
    if not plan.contiguous:
        return plan.inner >= TORCH_MIN_INNER
    return plan.innermost_sloped and dtype in (torch.float32, torch.float64)


def _streams(output: torch.Tensor, memory: str) -> bool:
    """Whether a new output (``memory`` as :func:`_new_output` says) gets non-temporal stores: at
    least :func:`_stream_min_bytes`, and not fresh 4 KiB pages, which Linux has just zeroed through
    the cache (streaming onto those lines measured 3-9% slower than PyTorch's kernel, float32
    (64, 64, 56, 56))."""
    return memory != "fresh" and output.numel() * output.element_size() >= _stream_min_bytes()


def forward(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """``where(x > 0, x, slope * x)`` for a dense CPU tensor.

    Args:
        x: the input, dense in memory, at least two elements.
        slope: the slope, of ``x``'s dtype.
        axes: the axes of ``x`` that the slope's dims sit on.
    """
    lanes = simd.LINE // x.element_size()
    plan = kernel_plan(x.shape, x.stride(), axes, line=lanes)
    y, memory = _new_output(x)
    # A big output on fresh huge pages is ours to write: PyTorch would allocate its own, on 4 KiB pages.
    ours = memory == "huge" or not torch_forward_is_fast(plan, x.dtype)
    if plan.inner >= lanes and y.data_ptr() % simd.LINE == 0:
        streaming = _streams(y, memory)
        if streaming or ours:
            return _forward_by_lines(x, y, slope, plan, lanes, streaming)
    elif ours:
        return _forward_by_rows(x, y, slope, axes)
    # PyTorch's own kernel: the same select, at memory speed for this layout, in one call.
    del y
    view = [1] * x.ndim
    for axis, size in zip(axes, slope.shape):
        view[axis] = size
    return torch._prelu_kernel(x, slope.reshape(view))


def _forward_by_lines(
    x: torch.Tensor, y: torch.Tensor, slope: torch.Tensor, plan: Plan, lanes: int, streaming: bool
) -> torch.Tensor:
    """The line forward (:func:`_forward_lines`) into ``y``, whose memory starts on a line."""
    _ensure_compiled(x.dtype)
    _threads()
    # In the computing dtype: a bfloat16 table would save cache traffic but cost widening every
    # line, and bfloat16 lines are bound by arithmetic while the output stays in the cache.
    pad = lanes if plan.contiguous else 0
    table = _table(plan, slope, compute_dtype(x.dtype), pad)
    with _launching():
        _forward_lines(
            _storage(x), _storage(y), table, plan.numpy("row_offset"), plan.inner, pad, not plan.contiguous, streaming
        )
    return y


def _forward_by_rows(x: torch.Tensor, y: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """The row forward (:func:`_forward_scalar`, :func:`_forward_table`), for runs shorter than a
    line or an output that does not start on one."""
    _ensure_compiled(x.dtype)
    _threads()
    # bfloat16 takes long rows: LLVM vectorises its loop 128 elements at a time, so runs of 56
    # would spend most of their time in the scalar remainder.
    bfloat16 = x.dtype == torch.bfloat16
    plan = kernel_plan(x.shape, x.stride(), axes, long_rows=bfloat16)
    if plan.contiguous:
        table = _storage(plan.table(slope.detach(), x.dtype)) if bfloat16 else _table(plan, slope, x.dtype)
        kernel = _forward_table
    else:
        table = _table(plan, slope, compute_dtype(x.dtype))
        kernel = _forward_scalar
    with _launching():
        kernel(_storage(x), _storage(y), table, plan.numpy("row_offset"), plan.inner, _block(plan))
    return y


def backward(
    x: torch.Tensor, slope: torch.Tensor, grad: torch.Tensor, plan: Plan, need_gx: bool, need_gs: bool
) -> Gradients:
    """The input and slope gradients, in one pass.

    ``grad`` may have any strides. One laid out as ``x`` is read in place, and so is one value
    expanded to the whole shape (the gradient of ``y.sum().backward()``: read as that one value).
    Any other (a partly broadcast one, another memory order) is first written into the input
    gradient's own buffer, which the kernels then read and overwrite element by element: no
    full-size copy besides the input gradient (without an input gradient, one).
    """
    _ensure_compiled(x.dtype)
    _threads()
    with _launching():
        return _backward_kernels(x, slope, grad, plan, need_gx, need_gs)


def _backward_kernels(
    x: torch.Tensor, slope: torch.Tensor, grad: torch.Tensor, plan: Plan, need_gx: bool, need_gs: bool
) -> Gradients:
    """:func:`backward`'s kernels: the partial sums, then their reduction."""
    table = _table(plan, slope, compute_dtype(x.dtype))
    block = _block(plan)
    blocks = -(-plan.inner // block)
    gx, memory = _new_output(x) if need_gx else (x, "reused")  # x is never written when need_gx is False
    if _is_scalar(grad):  # y.sum().backward(): one value, read as such (no full-size copy)
        g = _scalar_storage(grad, x.numel())
    else:
        if not same_layout(grad, x):
            if need_gx:  # every kernel reads an element of grad before it writes that element of gx
                grad, memory = gx.copy_(grad), "reused"
            else:
                grad = torch.empty_like(x).copy_(grad)
        g = _storage(grad)  # (laid out as x: the same memory order)
    lanes = simd.LINE // x.element_size()
    args = (_storage(x), g, _storage(gx), table)
    aligned = not need_gx or gx.data_ptr() % simd.LINE == 0
    if aligned and (not plan.contiguous or plan.inner % lanes == 0):
        # Explicit vectors (table rows: when every run is a whole number of lines), and
        # non-temporal stores for a big input gradient wherever each of its lines is written whole.
        whole_lines = plan.inner % lanes == 0
        streaming = need_gx and _streams(gx, memory)
        if plan.contiguous:
            partial = np.empty(plan.chunks * plan.inner, dtype=table.dtype)
            _backward_table_lines(
                *args, plan.numpy("order"), plan.numpy("chunk_start"), plan.numpy("chunk_group"), plan.inner,
                need_gx, block, partial, streaming,
            )  # fmt: skip
            partial = partial.reshape(plan.chunks, plan.inner)
        elif (whole_lines and plan.inner >= SHORT_ROW) or blocks > 1 or plan.inner < lanes:
            # (A line crosses at most one row end below.)
            # A row's first and last few elements go one by one, with plain stores: those between
            # non-temporal ones made the step 3x slower, so these stream only for whole lines.
            partial = np.empty(plan.rows * blocks, dtype=table.dtype)
            _backward_scalar_lines(
                *args, plan.numpy("row_offset"), plan.inner, need_gx, block, partial, streaming and whole_lines
            )  # fmt: skip
            partial = partial.reshape(plan.rows, blocks)
        else:
            # Runs that end inside lines: tiles of whole rows that start on a line (every
            # ``period`` rows), about LINE_TILE elements each; the lines cross from row to row.
            period = lanes // math.gcd(plan.inner, lanes)
            tile_rows = max(period, LINE_TILE // plan.inner // period * period)
            partial = np.empty(plan.rows, dtype=table.dtype)
            _backward_scalar_crossing(
                *args, plan.numpy("row_offset"), plan.inner, need_gx, tile_rows, partial, streaming
            )  # fmt: skip
            partial = partial.reshape(plan.rows, 1)
    elif plan.contiguous:
        shape = (plan.chunks, plan.inner) if need_gs else (1, 1)
        partial = np.empty(shape, dtype=table.dtype)
        _backward_table(
            *args, plan.numpy("order"), plan.numpy("chunk_start"), plan.numpy("chunk_group"), plan.inner,
            need_gx, need_gs, block, partial,
        )  # fmt: skip
    else:
        partial = np.empty((plan.rows, blocks) if need_gs else (1, 1), dtype=table.dtype)
        _backward_scalar(*args, plan.numpy("row_offset"), plan.inner, need_gx, need_gs, block, partial)
    return gradients(gx, need_gx, torch.from_numpy(_reduce(plan, partial)) if need_gs else None, slope)


def _reduce(plan: Plan, partial: np.ndarray) -> np.ndarray:
    """The slope gradient (float64, flat) from the partial sums, added in a fixed order."""
    out = np.empty(plan.slope_numel, dtype=np.float64)
    if plan.contiguous:
        columns = np.empty(plan.groups * plan.inner, dtype=np.float64)
        _reduce_table(
            partial, plan.numpy("sorted_table_index"), plan.numpy("group_chunks"), plan.inner,
            plan.chunks_per_group, plan.expansion, columns, out,
        )  # fmt: skip
    else:
        _reduce_scalar(partial, plan.numpy("order"), plan.rows // plan.groups, out)
    return out
