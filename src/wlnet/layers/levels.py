"""ParametricRampLayer's levels: which dims of an input carry their own slope values.

A specification is an int (1-based; negative counts from the last level), a ``Span``, a tuple of
ints (a list, parsed) or ``()`` for one shared slope; :func:`resolve_levels` turns one into the
0-based axes of an input of a given rank.
"""

from __future__ import annotations

import numpy as np

from ..errors import NetShapeError, NetSpecificationError
from ..symbols import All, Span
from ..types import TensorT, as_int, describe, unify

__all__ = [
    "front_axes", "input_from_slope", "level_count", "levels_text", "parse_levels", "resolve_levels", "unify_slope",
    "layer_text",
]


def layer_text(levels) -> str:
    return f"ParametricRampLayer (levels {levels_text(levels)})"


def levels_text(levels) -> str:
    if isinstance(levels, tuple):
        return "[" + ", ".join(map(str, levels)) + "]"
    return repr(levels)


def _level(value, where: str) -> int:
    """One level: a nonzero int (NumPy ints too, not bools)."""
    level = as_int(value)
    if level is None:
        raise NetSpecificationError(
            f"{where}: a level should be a nonzero integer, but {value!r} is not an integer."
        )
    if level == 0:
        raise NetSpecificationError(
            f"{where}: level 0 does not exist: levels count from 1 (the first dimension of one "
            "example, after the batch axis); -1 is the last level."
        )
    return level


def parse_levels(levels):
    """Validate a levels specification: int, Span or a list of ints; a list becomes a tuple."""
    where = "ParametricRampLayer"
    if isinstance(levels, Span):
        start = _level(levels.start, f"{where}: the start of {levels!r}")
        if levels.stop is All:
            return Span(start, All)
        stop = _level(levels.stop, f"{where}: the end of {levels!r}")
        if (start > 0) == (stop > 0) and start > stop:
            raise NetSpecificationError(
                f"{where}: {levels!r} selects no levels (its start is after its end); "
                "use [] for one slope shared by every element."
            )
        return Span(start, stop)
    if isinstance(levels, (list, tuple)):
        parsed = tuple(_level(level, where) for level in levels)
        seen = set()
        for level in parsed:
            if level in seen:
                raise NetSpecificationError(
                    f"{where}: level {level} appears twice in the levels {list(parsed)}; each "
                    "level may be given once."
                )
            seen.add(level)
        return parsed
    if isinstance(levels, (str, bytes, dict, set)) or levels is None:
        raise NetSpecificationError(
            f"{where}: the levels should be an integer, a Span, a list of integers or [], "
            f"but were {levels!r}."
        )
    return _level(levels, where)


def front_axes(levels) -> tuple[int, ...] | None:
    """The 0-based axes ``levels`` selects when every level is counted from the first (the same
    axes on every rank that has them); None when one is counted from the last."""
    if isinstance(levels, tuple):
        return tuple(sorted(level - 1 for level in levels)) if all(level > 0 for level in levels) else None
    if isinstance(levels, Span):
        if isinstance(levels.stop, int) and levels.start > 0 and levels.stop > 0:
            return tuple(range(levels.start - 1, levels.stop))
        return None
    return (levels - 1,) if levels > 0 else None


def level_count(levels) -> int | None:
    """How many levels a specification selects, when that does not depend on the input's rank."""
    if isinstance(levels, tuple):
        return len(levels)
    if isinstance(levels, Span):
        # A parsed span ends at a level (an int) or at All. Through All, or from a level counted
        # from the first to one counted from the last, the count depends on the rank.
        if not isinstance(levels.stop, int) or (levels.start > 0) != (levels.stop > 0):
            return None
        return levels.stop - levels.start + 1
    return 1


def resolve_levels(levels, rank: int, where: str, port: TensorT | None = None) -> tuple[int, ...]:
    """The 0-based axes of one example of rank ``rank`` that ``levels`` selects, sorted.

    >>> resolve_levels(Span(2, All), 4, "")
    (1, 2, 3)
    >>> resolve_levels((-1, 1), 3, "")
    (0, 2)
    """
    port_text = describe(port) if port is not None else f"an array of rank {rank}"
    if isinstance(levels, Span):
        stop = levels.stop if isinstance(levels.stop, int) else rank  # a parsed span's stop: a level or All
        ends = [_axis(levels.start, rank, where, levels, port_text),
                _axis(stop, rank, where, levels, port_text)]
        if ends[0] > ends[1]:
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), {levels!r} selects no levels (its start "
                "is after its end); use [] for one slope shared by every element."
            )
        return tuple(range(ends[0], ends[1] + 1))
    if isinstance(levels, tuple):
        axes = [_axis(level, rank, where, levels, port_text) for level in levels]
        if len(set(axes)) != len(axes):
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), the levels {list(levels)} name the same "
                "level twice."
            )
        return tuple(sorted(axes))
    return (_axis(levels, rank, where, levels, port_text),)


def _axis(level: int, rank: int, where: str, levels, port_text: str) -> int:
    axis = level - 1 if level > 0 else rank + level
    if not 0 <= axis < rank:
        if rank == 0:
            raise NetShapeError(
                f'{where}: port "Input" is a real number (rank 0), which has no level {level}; '
                'for one slope shared by every element use ParametricRampLayer([], Input="Real").'
            )
        raise NetShapeError(
            f'{where}: level {level} is beyond the rank of port "Input": it is {port_text}, of '
            f"rank {rank}, so levels run from 1 to {rank} (or -{rank} to -1)."
        )
    return axis


def input_from_slope(levels, slope: np.ndarray) -> TensorT:
    """The input type that a given slope fixes when the input's rank is not known otherwise.

    The slope has the input's dims at the levels, so when the levels select a number of levels
    that depends on the input's rank (``Span(2, All)``, ``Span(1, -2)``), the slope's rank fixes
    the input's rank: the input then has the slope's dims at the levels and unknown dims elsewhere.
    When the number does not depend on the rank (a level, a list of levels, ``Span(1, 2)``,
    ``Span(-2, All)``), the input may have any rank of at least the levels' own: the rank stays
    unknown. Levels counted from the first fix the input's leading dims (level 2 and a slope of
    length 3: ``(Automatic, 3, ...)``, "an array of dims (n, 3, …)"); levels counted from the last
    fix nothing until the rank is known. Either way the slope's dims are checked against the
    input's as soon as its rank is known (an Input option, a neighbouring layer, or the data).

    Raises:
        NetShapeError: the levels select a number of levels, on an input of any rank, other than
            the slope's rank.
    """
    count = level_count(levels)
    if count is not None:  # the same number of levels on every rank
        unify_slope(levels, (None,) * count, slope)  # the slope has that rank, or this raises
        front = front_axes(levels)
        if front is None:
            return TensorT(None)
        leading: list = [None] * (max(front, default=-1) + 1)
        for axis, size in zip(front, slope.shape):
            leading[axis] = size
        return TensorT(None, tuple(leading))
    fitting, counts = [], []
    for rank in range(slope.ndim + 2 * _largest_level(levels) + 2):  # every rank where the count changes
        try:
            count = len(resolve_levels(levels, rank, ""))
        except NetShapeError:
            continue
        counts.append(count)
        if count == slope.ndim:
            fitting.append(rank)
    if not fitting:
        raise NetShapeError(
            f'{layer_text(levels)}: inferred inconsistent dimensions for array "Slope": the levels '
            f"{levels_text(levels)} select {_counts_text(counts)} of the input, and the Slope has one "
            f"dimension per level selected, but the given Slope is {describe(TensorT(tuple(slope.shape)))}."
        )
    if len(fitting) > 1:  # Span(-2, All): the last two levels of an input of any rank >= 2
        return TensorT(None)
    dims: list = [None] * fitting[0]
    for axis, size in zip(resolve_levels(levels, fitting[0], ""), slope.shape):
        dims[axis] = size
    return TensorT(tuple(dims))


def _largest_level(levels: Span) -> int:
    """The largest distance from either end of the input that the ends of a span name."""
    return max(abs(end) for end in (levels.start, levels.stop) if isinstance(end, int))


def _counts_text(counts: list[int]) -> str:
    """How many levels a specification selects on inputs of increasing rank: "1 level",
    "at least 2 levels" (more on a higher rank), "at most 2 levels" (fewer on a higher rank)."""
    low, high = min(counts), max(counts)
    if low == high:
        return f"{low} level" + ("" if low == 1 else "s")
    return f"at least {low} level{'' if low == 1 else 's'}" if counts[-1] == high else f"at most {high} levels"


def unify_slope(levels, expected_dims: tuple, slope: np.ndarray) -> tuple:
    """The slope's dims that both the input at the levels (``expected_dims``) and the given slope allow."""
    expected, given = TensorT(expected_dims), TensorT(tuple(slope.shape))
    try:
        unified = unify(expected, given, "")
    except NetShapeError:
        raise NetShapeError(
            f'{layer_text(levels)}: inferred inconsistent dimensions for array "Slope": the input at '
            f"levels {levels_text(levels)} makes it {describe(expected)}, but the given Slope is "
            f"{describe(given)}."
        ) from None
    assert unified.dims is not None  # both ranks are known, so the unified one is
    return unified.dims
