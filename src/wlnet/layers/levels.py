"""Levels: 1-based dims of one example (the batch axis not counted), as layers name them.

A level is a nonzero int (negative counts from the last level, -1 the last); a levels
specification is a level, a ``Span`` of levels or a tuple of them (a list, parsed). The parsers
(:func:`parse_level`, :func:`level_argument`, :func:`parse_span`, :func:`parse_levels`) and the
resolvers (:func:`level_axis`, :func:`resolve_level`, :func:`resolve_levels`) serve every layer
that takes levels: ParametricRampLayer, AggregationLayer, SoftmaxLayer, CatenateLayer and
FlattenLayer. Each takes the layer's ``where`` text, and a short ``hint`` where a layer's message
says more on purpose. The rest is ParametricRampLayer's: which dims of an input carry their own
slope values (``()`` for one shared slope), :func:`ramp_levels` and :func:`ramp_axes` its parser
and resolver.
"""

from __future__ import annotations

import numpy as np

from ..errors import NetShapeError, NetSpecificationError
from ..symbols import All, Span
from ..types import TensorT, as_int, describe, unify

__all__ = [
    "front_axes", "input_from_slope", "layer_text", "level_argument", "level_axis", "level_count", "levels_text",
    "parse_level", "parse_levels", "parse_span", "ramp_axes", "ramp_levels", "reach", "resolve_level",
    "resolve_levels", "unify_slope",
]

#: ParametricRampLayer's hints: an empty span, and a real number input, have one shared slope instead.
_SHARED = "; use [] for one slope shared by every element"
_SHARED_REAL = '; for one slope shared by every element use ParametricRampLayer([], Input="Real")'


def layer_text(levels) -> str:
    return f"ParametricRampLayer (levels {levels_text(levels)})"


def levels_text(levels) -> str:
    """A levels specification as the constructors take it: ``2``, ``[1, 3]``, ``Span(2, All)``, ``All``."""
    if isinstance(levels, tuple):
        return "[" + ", ".join(map(str, levels)) + "]"
    return repr(levels)


# -- parsing ------------------------------------------------------------------------------------
def parse_level(value, where: str) -> int:
    """One level of a levels specification: a nonzero int (NumPy ints too, not bools)."""
    level = as_int(value)
    if level is None:
        raise NetSpecificationError(f"{where}: a level should be a nonzero integer, but {value!r} is not an integer.")
    if level == 0:
        raise NetSpecificationError(
            f"{where}: level 0 does not exist: levels count from 1 (the first dimension of one "
            "example, after the batch axis); -1 is the last level."
        )
    return level


def level_argument(value, where: str, expected: str) -> int:
    """A layer's one level argument (SoftmaxLayer's, CatenateLayer's, FlattenLayer's n): a nonzero
    int, or one error, ``f"{where}: {expected}, but was {value!r}."``, for anything else."""
    level = as_int(value)
    if level is None or level == 0:
        raise NetSpecificationError(f"{where}: {expected}, but was {value!r}.")
    return level


def parse_span(span: Span, where: str, hint: str = "") -> Span:
    """A ``Span`` of levels: its ends levels (its stop may be All), its start not after its end
    where both count from the same end; ``hint`` ends the error of an empty span."""
    start = parse_level(span.start, f"{where}: the start of {span!r}")
    if span.stop is All:
        return Span(start, All)
    stop = parse_level(span.stop, f"{where}: the end of {span!r}")
    if (start > 0) == (stop > 0) and start > stop:
        raise NetSpecificationError(f"{where}: {span!r} selects no levels (its start is after its end){hint}.")
    return Span(start, stop)


def parse_levels(levels, where: str, forms: str, hint: str = ""):
    """A levels specification: a level, a Span or a list of distinct levels (a tuple here).
    ``forms`` names what the layer takes in the error for a string, a dict, a set or None;
    ``hint`` ends the error of an empty span."""
    if isinstance(levels, Span):
        return parse_span(levels, where, hint)
    if isinstance(levels, (list, tuple)):
        parsed = tuple(parse_level(level, where) for level in levels)
        repeated = next((level for i, level in enumerate(parsed) if level in parsed[:i]), None)
        if repeated is not None:
            raise NetSpecificationError(
                f"{where}: level {repeated} appears twice in the levels {list(parsed)}; each level may be given once."
            )
        return parsed
    if isinstance(levels, (str, bytes, dict, set)) or levels is None:
        raise NetSpecificationError(f"{where}: the levels should be {forms}, but were {levels!r}.")
    return parse_level(levels, where)


def ramp_levels(levels):
    """ParametricRampLayer's levels: an int, a Span, or a list of ints (``[]``: one shared slope)."""
    return parse_levels(levels, "ParametricRampLayer", "an integer, a Span, a list of integers or []", _SHARED)


# -- resolving ----------------------------------------------------------------------------------
def level_axis(level: int, rank: int) -> int | None:
    """The 0-based axis of an example of rank ``rank`` that ``level`` names, or None where it has none.

    >>> level_axis(1, 3), level_axis(-1, 3), level_axis(4, 3)
    (0, 2, None)
    """
    axis = level - 1 if level > 0 else rank + level
    return axis if 0 <= axis < rank else None


def resolve_level(level: int, rank: int, where: str, port_text: str, real_hint: str = "") -> int:
    """:func:`level_axis`, or a NetShapeError that says the level is beyond the rank of port "Input"
    (``port_text``, its description); ``real_hint`` ends the one for a real number (rank 0)."""
    axis = level_axis(level, rank)
    if axis is not None:
        return axis
    if rank == 0:
        raise NetShapeError(f'{where}: port "Input" is a real number (rank 0), which has no level {level}{real_hint}.')
    raise NetShapeError(
        f'{where}: level {level} is beyond the rank of port "Input": it is {port_text}, of '
        f"rank {rank}, so levels run from 1 to {rank} (or -{rank} to -1)."
    )


def resolve_levels(levels, rank: int, where: str, port: TensorT | None = None, *, hint: str = "",
                   real_hint: str = "") -> tuple[int, ...]:
    """The 0-based axes of one example of rank ``rank`` that ``levels`` selects, sorted.

    ``port`` is the input's type, for the errors; ``hint`` ends the error of a span that selects
    no levels, ``real_hint`` that of a level on a real number (:func:`resolve_level`).

    >>> resolve_levels(Span(2, All), 4, "")
    (1, 2, 3)
    >>> resolve_levels((-1, 1), 3, "")
    (0, 2)
    """
    port_text = describe(port) if port is not None else "an array"
    if isinstance(levels, Span):
        stop = levels.stop if isinstance(levels.stop, int) else rank  # a parsed span's stop: a level or All
        first, last = (resolve_level(end, rank, where, port_text, real_hint) for end in (levels.start, stop))
        if first > last:
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), {levels!r} selects no levels (its start "
                f"is after its end){hint}."
            )
        return tuple(range(first, last + 1))
    if isinstance(levels, tuple):
        axes = [resolve_level(level, rank, where, port_text, real_hint) for level in levels]
        if len(set(axes)) != len(axes):
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), the levels {list(levels)} name the same "
                "level twice."
            )
        return tuple(sorted(axes))
    return (resolve_level(levels, rank, where, port_text, real_hint),)


def ramp_axes(levels, rank: int, where: str, port: TensorT | None = None) -> tuple[int, ...]:
    """:func:`resolve_levels` with ParametricRampLayer's hints (one shared slope instead)."""
    return resolve_levels(levels, rank, where, port, hint=_SHARED, real_hint=_SHARED_REAL)


def reach(levels) -> int:
    """How far from either end of the input a levels specification names a level (0 for All)."""
    if isinstance(levels, Span):
        return max(abs(end) for end in (levels.start, levels.stop) if isinstance(end, int))
    if isinstance(levels, tuple):
        return max((abs(level) for level in levels), default=0)
    return 0 if levels is All else abs(levels)


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


# -- ParametricRampLayer's slope ---------------------------------------------------------------
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
    for rank in range(slope.ndim + 2 * reach(levels) + 2):  # every rank where the count changes
        try:
            count = len(ramp_axes(levels, rank, ""))
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
    for axis, size in zip(ramp_axes(levels, fitting[0], ""), slope.shape):
        dims[axis] = size
    return TensorT(tuple(dims))


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
