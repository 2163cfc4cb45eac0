"""Explicit SIMD for the CPU forward: Numba intrinsics that work a cache line at a time.

The CPU forward streams its output as whole, aligned 64-byte lines (:data:`LINE`): 16 float32,
8 float64 or 32 bfloat16 elements, the lanes of one vector. Each intrinsic below emits LLVM IR
(through llvmlite, which Numba brings: no C compiler) that loads the input lines, selects
``x if x > 0 else slope * x`` and stores the line with an aligned vector store, optionally
*non-temporal* (``!nontemporal``, ``vmovntps`` on x86): such a store writes the line to memory
without first reading it into the cache, which saves a third of the memory traffic of a forward
whose output does not fit in the cache anyway.

Why not let LLVM vectorise a plain loop: it does (that is the backward), but (1) its vectorised
bfloat16 loop takes 128 elements at a time, so the scalar remainder of every short run costs
more than the run, (2) it never vectorises a loop of non-temporal stores (it cannot prove them
aligned) and (3) a run that ends inside a line (level 2 of ``(N, C, H, W)``: runs of ``W = 56``)
leaves it a scalar prologue and epilogue per run. Here a line that crosses from one run into the
next takes the lanes before the boundary from one slope and the rest from the next, with a mask:
every line is a vector.

bfloat16 travels as its raw 16 bits (``uint16`` arrays), widened to float32 and rounded back to
nearest-even, as PyTorch's bfloat16 arithmetic does. A product of two bfloat16 values is exact
in float32 and any NaN it makes has zero low bits, so the rounding needs no NaN case.

Numba's on-disk cache of the kernels that use these intrinsics is keyed on ``cpu.py``'s source
and, through wlnet's cache locators (``cpu._cache_locators``), on this module's too.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, cast

from .layout import LINE

try:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic as numba_intrinsic
except Exception:  # cpu.MISSING says why (not installed, or refusing its settings); nothing here may be called
    NUMBA = False
else:
    NUMBA = True

__all__ = [
    "LINE", "NUMBA", "STREAMING_STORES", "backward_crossing", "backward_lines", "intrinsic", "line",
    "store_fence",
]  # fmt: skip

_Arguments = ParamSpec("_Arguments")


def intrinsic(typer: Callable[Concatenate[Any, _Arguments], object]) -> Callable[_Arguments, Any]:
    """``numba.extending.intrinsic``, typed as compiled code calls it; without Numba, ``typer``.

    Numba's stubs type an intrinsic as the Python object it is, called with the typing function's
    parameters (``typingctx`` first) and never returning (from Python it raises). Kernels call it
    from compiled code, without ``typingctx``, and get the value its signature says.
    """
    return cast("Callable[_Arguments, Any]", numba_intrinsic(typer) if NUMBA else typer)


#: Whether the non-temporal stores and their fence are emitted: on x86 only (``sfence`` is an
#: x86 instruction); elsewhere every store is a plain aligned vector store.
STREAMING_STORES = platform.machine().lower() in ("x86_64", "amd64")


def _lanes(dtype) -> int:
    return LINE // (dtype.bitwidth // 8)


def _i32(value: int):
    return ir.Constant(ir.IntType(32), value)


def _vector_pointer(context, builder, array_type, array, index, vector_type):
    """The address of ``array[index]`` as a pointer to ``vector_type``."""
    view = context.make_array(array_type)(context, builder, array)
    pointer = cgutils.get_item_pointer(context, builder, array_type, view, [index])
    return builder.bitcast(pointer, vector_type.as_pointer())


def _load(context, builder, array_type, array, index, lanes):
    """``lanes`` elements of ``array`` from ``index`` (any alignment), widened: bfloat16 bits
    become float32, float32 and float64 stay. An array that is not contiguous is the stride-0
    view of one value (an expanded scalar gradient, ``y.sum().backward()``): that value in every
    lane."""
    raw = ir.VectorType(context.get_value_type(array_type.dtype), lanes)
    if array_type.layout == "C":
        value = builder.load(_vector_pointer(context, builder, array_type, array, index, raw), align=1)
    else:
        view = context.make_array(array_type)(context, builder, array)
        one = builder.load(cgutils.get_item_pointer(context, builder, array_type, view, [index]))
        first = builder.insert_element(ir.Constant(raw, ir.Undefined), one, _i32(0))
        value = builder.shuffle_vector(first, ir.Constant(raw, ir.Undefined),
                                       ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
    return _widen(builder, value, array_type.dtype)


def _widen(builder, value, dtype):
    """bfloat16 bits (uint16, scalar or vector) -> float32: the bits become the upper half."""
    if dtype != types.uint16:
        return value
    if isinstance(value.type, ir.VectorType):
        n = value.type.count
        wide = builder.zext(value, ir.VectorType(ir.IntType(32), n))
        wide = builder.shl(wide, ir.Constant(wide.type, [16] * n))
        return builder.bitcast(wide, ir.VectorType(ir.FloatType(), n))
    wide = builder.shl(builder.zext(value, ir.IntType(32)), _i32(16))
    return builder.bitcast(wide, ir.FloatType())


def _narrow(builder, value, dtype):
    """float32 vector -> bfloat16 bits, rounded to nearest, ties to even; other dtypes stay."""
    if dtype != types.uint16:
        return value
    n = value.type.count
    i32 = ir.VectorType(ir.IntType(32), n)
    bits = builder.bitcast(value, i32)
    odd = builder.and_(builder.lshr(bits, ir.Constant(i32, [16] * n)), ir.Constant(i32, [1] * n))
    rounded = builder.add(builder.add(bits, ir.Constant(i32, [0x7FFF] * n)), odd)
    return builder.trunc(builder.lshr(rounded, ir.Constant(i32, [16] * n)), ir.VectorType(ir.IntType(16), n))


def _splat(builder, value, lanes):
    """``value`` on every lane of a vector."""
    vector = ir.VectorType(value.type, lanes)
    first = builder.insert_element(ir.Constant(vector, ir.Undefined), value, _i32(0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(first, ir.Constant(vector, ir.Undefined), zeros)


def _lanes_below(builder, boundary, lanes):
    """The mask ``lane < boundary`` (``boundary`` an int64, 0 < boundary <= lanes)."""
    i8 = ir.IntType(8)
    limit = _splat(builder, builder.trunc(boundary, i8), lanes)
    return builder.icmp_signed("<", ir.Constant(ir.VectorType(i8, lanes), list(range(lanes))), limit)


def _store_line(builder, value, pointer, streaming):
    """An aligned store of one line, non-temporal when ``streaming``."""
    if streaming and STREAMING_STORES:
        store = builder.store(value, pointer, align=LINE)
        store.set_metadata("nontemporal", builder.module.add_metadata([_i32(1)]))
    else:
        # A different alignment on purpose: LLVM merges two stores that differ only in metadata
        # (the streaming and plain copies of a line, see _two_ways) into one plain store.
        builder.store(value, pointer, align=LINE // 2)


def _ramp_store(context, builder, x_type, y_type, x, y, index, slope, streaming):
    """``y[index:index+lanes] = ramp(x[index:...], slope)``; ``y + index`` is line-aligned."""
    lanes = _lanes(y_type.dtype)
    raw_type = ir.VectorType(context.get_value_type(x_type.dtype), lanes)
    raw = builder.load(_vector_pointer(context, builder, x_type, x, index, raw_type), align=1)
    value = _widen(builder, raw, x_type.dtype)
    if x_type.dtype == types.uint16:
        # bfloat16: select on the raw bits, a third of the work of two float32 halves. As a signed
        # 16-bit integer a bfloat16 is > 0 exactly when it is > +0 or a NaN with the sign bit
        # clear; such a NaN stays a NaN (the reference makes one from slope * NaN).
        positive = builder.icmp_signed(">", raw, ir.Constant(raw_type, [0] * lanes))
        result = builder.select(positive, raw, _narrow(builder, builder.fmul(slope, value), y_type.dtype))
    else:
        positive = builder.fcmp_ordered(">", value, ir.Constant(value.type, [0.0] * lanes))
        result = builder.select(positive, value, builder.fmul(slope, value))
    _store_line(builder, result, _vector_pointer(context, builder, y_type, y, index, result.type), streaming)


def _slope_line(context, builder, table_type, table, index, scalar, lanes):
    """The slope of a line: ``table[index]`` on every lane (scalar rows) or ``table[index:+lanes]``."""
    if scalar:
        view = context.make_array(table_type)(context, builder, table)
        value = builder.load(cgutils.get_item_pointer(context, builder, table_type, view, [index]))
        return _splat(builder, _widen(builder, value, table_type.dtype), lanes)
    return _load(context, builder, table_type, table, index, lanes)


def _two_ways(builder, flag, emit):
    """``emit(True)`` if the runtime ``flag`` else ``emit(False)``: two copies of the code, each
    compiled with its constant."""
    with builder.if_else(flag) as (then, otherwise):
        with then:
            emit(True)
        with otherwise:
            emit(False)


@intrinsic
def line(typingctx, x, y, at, table, index_a, index_b, boundary, scalar, streaming):
    """One line: ``y[at:at+lanes] = ramp(x[at:at+lanes])``; ``y + at`` must be line-aligned.

    The line may cross from one run into the next after ``boundary`` elements: lanes below
    ``boundary`` use the first run's slope, the others the next run's (``boundary >= lanes``: the
    whole line is in the first run). Scalar rows (``scalar``): a run's slope is ``table[index]``
    for its index (``index_a``, then ``index_b``). Table rows: lane ``k`` reads
    ``table[index + k]``, a whole line of the table, so the table needs ``lanes`` entries of
    padding at both ends (the lanes read past a run's segment are masked off).
    ``streaming`` picks a non-temporal store.
    """
    signature = types.void(x, y, at, table, index_a, index_b, boundary, scalar, streaming)

    def codegen(context, builder, sig, args):
        x_type, y_type, _, table_type = sig.args[:4]
        x_, y_, at_, table_, index_a_, index_b_, boundary_, scalar_, streaming_ = args
        lanes = _lanes(y_type.dtype)

        def emit(is_scalar, is_streaming):
            first = _slope_line(context, builder, table_type, table_, index_a_, is_scalar, lanes)
            crossing = builder.icmp_signed("<", boundary_, ir.Constant(boundary_.type, lanes))
            before = builder.block
            with builder.if_then(crossing, likely=False):
                second = _slope_line(context, builder, table_type, table_, index_b_, is_scalar, lanes)
                mixed = builder.select(_lanes_below(builder, boundary_, lanes), first, second)
                crossed = builder.block
            slope = builder.phi(first.type)
            slope.add_incoming(first, before)
            slope.add_incoming(mixed, crossed)
            _ramp_store(context, builder, x_type, y_type, x_, y_, at_, slope, is_streaming)

        _two_ways(builder, scalar_, lambda s: _two_ways(builder, streaming_, lambda t: emit(s, t)))
        return context.get_dummy_value()

    return signature, codegen


def _sum_lanes(builder, vector):
    """The lanes of ``vector`` added pairwise, halves first: a fixed order, so a fixed result."""
    width = vector.type.count
    while width > 1:
        half = width // 2
        lanes = ir.VectorType(ir.IntType(32), half)
        low = builder.shuffle_vector(vector, vector, ir.Constant(lanes, list(range(half))))
        high = builder.shuffle_vector(vector, vector, ir.Constant(lanes, list(range(half, width))))
        vector, width = builder.fadd(low, high), half
    return builder.extract_element(vector, _i32(0))


@intrinsic
def backward_lines(
    typingctx, x, g, gx, at, count, table, slope_index, partial, partial_index, scalar, need_gx, streaming
):
    """``count`` whole lines of one run from element ``at`` (line-aligned in ``gx``): writes
    ``gx = g if x > 0 else slope * g`` (when ``need_gx``) and adds up ``0 if x >= 0 else x * g``.

    Scalar rows (``scalar``): the slope is ``table[slope_index]``, and the sum of the lines is
    returned (a vector of running sums, then :func:`_sum_lanes`). Table rows: line ``k`` uses
    ``table[slope_index + k * lanes:]`` and adds its sums into ``partial[partial_index + k * lanes:]``
    (any alignment); 0 is returned. The select is on ``x > 0`` as a float, so a NaN input takes
    the slope's side, as in the reference.
    """
    result = types.float64 if x.dtype == types.float64 else types.float32
    signature = result(x, g, gx, at, count, table, slope_index, partial, partial_index, scalar, need_gx, streaming)

    def codegen(context, builder, sig, args):
        x_type, g_type, gx_type, _, _, table_type, _, partial_type = sig.args[:8]
        x_, g_, gx_, at_, count_, table_, slope_index_, partial_, partial_index_, scalar_, need_gx_, streaming_ = args
        lanes = _lanes(gx_type.dtype)
        vector = ir.VectorType(context.get_value_type(sig.return_type), lanes)
        zeros = ir.Constant(vector, [0.0] * lanes)
        running = cgutils.alloca_once(builder, vector)  # promoted to a register by LLVM
        builder.store(zeros, running)

        def loop(is_scalar, writes, is_streaming):
            if is_scalar:
                slope = _slope_line(context, builder, table_type, table_, slope_index_, True, lanes)
            with cgutils.for_range(builder, count_) as index:
                offset = builder.mul(index.index, ir.Constant(index.index.type, lanes))
                here = builder.add(at_, offset)
                value = _load(context, builder, x_type, x_, here, lanes)
                grad = _load(context, builder, g_type, g_, here, lanes)
                positive = builder.fcmp_ordered(">", value, zeros)
                if not is_scalar:
                    slope_at = builder.add(slope_index_, offset)
                    slope = _slope_line(context, builder, table_type, table_, slope_at, False, lanes)
                if writes:
                    result = _narrow(builder, builder.select(positive, grad, builder.fmul(slope, grad)), gx_type.dtype)
                    pointer = _vector_pointer(context, builder, gx_type, gx_, here, result.type)
                    _store_line(builder, result, pointer, is_streaming)
                # Select, not multiply: x * g is NaN at x = 0 when g is infinite; the term is 0 there.
                term = builder.select(builder.fcmp_ordered(">=", value, zeros), zeros, builder.fmul(value, grad))
                if is_scalar:
                    builder.store(builder.fadd(builder.load(running), term), running)
                else:
                    sums_at = builder.add(partial_index_, offset)
                    pointer = _vector_pointer(context, builder, partial_type, partial_, sums_at, vector)
                    builder.store(builder.fadd(builder.load(pointer, align=1), term), pointer, align=1)

        _two_ways(
            builder, scalar_,
            lambda s: _two_ways(builder, need_gx_, lambda w: _two_ways(builder, streaming_, lambda t: loop(s, w, t))),
        )  # fmt: skip
        return _sum_lanes(builder, builder.load(running))

    return signature, codegen


@intrinsic
def backward_crossing(
    typingctx, x, g, gx, at, count, row, row_end, inner, table, row_offset, last_row, partial, need_gx, streaming
):
    """``count`` whole lines of scalar rows of ``inner >= lanes`` elements from element ``at``
    (line-aligned in ``gx``), where ``row`` is the row holding element ``at`` and ``row_end`` the
    element where it ends: writes ``gx = g if x > 0 else slope * g`` (when ``need_gx``), a line that
    crosses into the next row taking its later lanes' slope from that row, and adds
    the terms ``0 if x >= 0 else x * g`` lane by lane into one vector per row, summed across its
    lanes once, into ``partial[row]``, where the row ends (a line that crosses into the next row
    starts that row's vector with its later lanes). Returns ``(row, row_end, sum)`` after the
    lines: the row that goes on past them, where it ends, and its sum so far."""
    result = types.float64 if x.dtype == types.float64 else types.float32
    arguments = (x, g, gx, at, count, row, row_end, inner, table, row_offset, last_row, partial, need_gx, streaming)
    signature = types.Tuple((types.int64, types.int64, result))(*arguments)

    def codegen(context, builder, sig, args):
        x_type, g_type, gx_type = sig.args[:3]
        table_type, offset_type, _, partial_type = sig.args[8:12]
        (x_, g_, gx_, at_, count_, row_, row_end_, inner_, table_, row_offset_, last_row_, partial_, need_gx_,
         streaming_) = args  # fmt: skip
        lanes = _lanes(gx_type.dtype)
        i64 = ir.IntType(64)
        vector = ir.VectorType(context.get_value_type(result), lanes)
        zeros = ir.Constant(vector, [0.0] * lanes)
        offsets = context.make_array(offset_type)(context, builder, row_offset_)
        sums = context.make_array(partial_type)(context, builder, partial_)

        def slope_of(row_value):
            offset = builder.load(cgutils.get_item_pointer(context, builder, offset_type, offsets, [row_value]))
            return _slope_line(context, builder, table_type, table_, offset, True, lanes)

        acc, row_at, end_at, here_at = (cgutils.alloca_once(builder, t) for t in (vector, i64, i64, vector))
        builder.store(zeros, acc)
        builder.store(row_, row_at)
        builder.store(row_end_, end_at)
        builder.store(slope_of(row_), here_at)
        with cgutils.for_range(builder, count_) as index:
            here_index = builder.add(at_, builder.mul(index.index, ir.Constant(i64, lanes)))
            value = _load(context, builder, x_type, x_, here_index, lanes)
            grad = _load(context, builder, g_type, g_, here_index, lanes)
            positive = builder.fcmp_ordered(">", value, zeros)
            # Select, not multiply: x * g is NaN at x = 0 when g is infinite; the term is 0 there.
            term = builder.select(builder.fcmp_ordered(">=", value, zeros), zeros, builder.fmul(value, grad))

            def write(slope):
                def store(is_streaming):
                    result_line = _narrow(builder, builder.select(positive, grad, builder.fmul(slope, grad)),
                                          gx_type.dtype)
                    pointer = _vector_pointer(context, builder, gx_type, gx_, here_index, result_line.type)
                    _store_line(builder, result_line, pointer, is_streaming)

                with builder.if_then(need_gx_):
                    _two_ways(builder, streaming_, store)

            boundary = builder.sub(builder.load(end_at), here_index)
            ends = builder.icmp_signed("<=", boundary, ir.Constant(i64, lanes))
            with builder.if_else(ends, likely=False) as (at_row_end, inside):
                with at_row_end:
                    current = builder.load(row_at)
                    following = slope_of(builder.select(builder.icmp_signed("<", current, last_row_),
                                                        builder.add(current, ir.Constant(i64, 1)), last_row_))
                    before = _lanes_below(builder, boundary, lanes)
                    write(builder.select(before, builder.load(here_at), following))
                    total = _sum_lanes(builder, builder.fadd(builder.load(acc), builder.select(before, term, zeros)))
                    builder.store(total, cgutils.get_item_pointer(context, builder, partial_type, sums, [current]))
                    builder.store(builder.select(before, zeros, term), acc)
                    builder.store(builder.add(current, ir.Constant(i64, 1)), row_at)
                    builder.store(builder.add(builder.load(end_at), inner_), end_at)
                    builder.store(following, here_at)
                with inside:
                    write(builder.load(here_at))
                    builder.store(builder.fadd(builder.load(acc), term), acc)
        state = [builder.load(row_at), builder.load(end_at), _sum_lanes(builder, builder.load(acc))]
        return context.make_tuple(builder, sig.return_type, state)

    return signature, codegen


@intrinsic
def store_fence(typingctx):
    """Order this thread's non-temporal stores before whatever it does next (``sfence``).

    Non-temporal stores are weakly ordered: without the fence another thread (or the caller, once
    the parallel loop ends) could read a line before it reached memory.
    """

    def codegen(context, builder, sig, args):
        if STREAMING_STORES:
            fence = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(fence, [])
        return context.get_dummy_value()

    return types.void(), codegen
