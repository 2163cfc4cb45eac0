"""AggregationLayer: Mean, Max, Min, Total or Times over chosen levels of the input (global pooling).

The levels are 1-based dims of one example (the batch axis not counted): an int (negative counts
from the last level), a ``Span``, a list of ints, or ``All``; :mod:`wlnet.layers.levels` parses
them and turns them into axes. :func:`parse_function` is shared with PoolingLayer's ``Function`` option.
"""

from __future__ import annotations

import builtins
import math
import statistics

import numpy as np
import torch
from torch import nn

from ..arrays import floating_input
from ..errors import NetShapeError, NetSpecificationError, check_options, closest
from ..symbols import All, Automatic, Span
from ..types import TensorT, describe, parse_port, unify
from .base import Layer
from .levels import level_count, levels_text, parse_levels, reach, resolve_levels

__all__ = ["FUNCTIONS", "GLOBAL", "Aggregation", "AggregationLayer", "aggregate", "parse_function"]

#: The default levels: every level but the first (global pooling of a channel-first array).
GLOBAL = Span(2, All)

#: The functions wlnet aggregates with, by their Wolfram names.
FUNCTIONS = ("Mean", "Max", "Min", "Total", "Times")
#: Wolfram's other aggregation functions, which wlnet does not compute.
_OTHERS = ("Median", "Variance", "StandardDeviation", "MeanDeviation", "InterquartileRange")
#: Python's, NumPy's and PyTorch's own functions, accepted for the Wolfram names.
_CALLABLES = {
    builtins.max: "Max", builtins.min: "Min", builtins.sum: "Total", statistics.mean: "Mean", math.prod: "Times",
    np.mean: "Mean", np.max: "Max", np.amax: "Max", np.min: "Min", np.amin: "Min", np.sum: "Total", np.prod: "Times",
    torch.mean: "Mean", torch.amax: "Max", torch.max: "Max", torch.amin: "Min", torch.min: "Min", torch.sum: "Total",
    torch.prod: "Times",
    # Wolfram's others, so that the error names them:
    np.median: "Median", np.var: "Variance", np.std: "StandardDeviation", statistics.median: "Median",
    statistics.variance: "Variance", statistics.stdev: "StandardDeviation",
}
_ALIASES = {"sum": "Total", "average": "Mean", "avg": "Mean", "product": "Times", "prod": "Times",
            "maximum": "Max", "minimum": "Min"}


def parse_function(f, where: str, allowed: tuple[str, ...] = FUNCTIONS) -> str:
    """An aggregation function given as a Wolfram name (``"Mean"``) or as Python's, NumPy's or
    PyTorch's function (``max``, ``np.mean``, ``torch.sum``), as its Wolfram name."""
    name = f if isinstance(f, str) else _CALLABLES.get(f) if _hashable(f) else None
    if name in allowed:
        return name
    choices = ", ".join(f'"{n}"' for n in allowed)
    if name in FUNCTIONS or name in _OTHERS:
        raise NetSpecificationError(
            f'{where}: the function "{name}" is not supported here; wlnet computes {choices}.'
        )
    if isinstance(f, str):
        alias = _ALIASES.get(f.lower())
        hint = f' Did you mean "{alias}"?' if alias in allowed else closest(f, allowed)
        raise NetSpecificationError(f"{where}: {f!r} is not a known function.{hint} Use one of {choices}.")
    raise NetSpecificationError(
        f"{where}: the function should be one of {choices} (or Python's max, min, sum, or NumPy's or "
        f"PyTorch's mean, max, min, sum, prod), but was {f!r}."
    )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def parse_aggregation_levels(levels, where: str):
    """AggregationLayer's levels: a nonzero int, a Span, a non-empty list of distinct nonzero ints
    (a tuple here), or All."""
    if levels is All:
        return All
    if isinstance(levels, (list, tuple)) and not levels:
        raise NetSpecificationError(
            f"{where}: the list of levels is empty; give at least one level to aggregate (AggregationLayer "
            "aggregates levels 2 to the last by default)."
        )
    return parse_levels(levels, where, "a nonzero integer, a Span, a list of integers or All")


def aggregated_axes(levels, rank: int, where: str, t: TensorT | None = None) -> tuple[int, ...]:
    """The 0-based axes of an example of rank ``rank`` that ``levels`` aggregates, sorted."""
    if rank == 0:
        port = describe(t) if t is not None else "an array of rank 0"
        raise NetShapeError(
            f'{where}: port "Input" is {port}, which has no levels to aggregate; AggregationLayer takes an '
            "array of rank at least 1."
        )
    return tuple(range(rank)) if levels is All else resolve_levels(levels, rank, where, t)


class AggregationLayer(Layer):
    """Aggregates the input at chosen levels with Mean, Max, Min, Total or Times: global pooling.

    Wolfram: ``AggregationLayer[f]``, ``AggregationLayer[f, n]``, ``AggregationLayer[f, n1;;n2]``,
    ``AggregationLayer[f, {n1, n2, ...}]``.

    Args:
        f: ``"Mean"``, ``"Max"``, ``"Min"``, ``"Total"`` (the sum) or ``"Times"`` (the product), or
            Python's ``max``, ``min``, ``sum``, ``statistics.mean``, ``math.prod`` or NumPy's or
            PyTorch's ``mean``, ``max``, ``min``, ``sum``, ``prod`` for them. Wolfram's Median,
            Variance, StandardDeviation, MeanDeviation and InterquartileRange are not supported.
        levels: the levels aggregated (1-based dims of one example, the batch axis not counted):
            an int (negative counts from the last level, -1 = last), ``Span(n1, n2)`` (inclusive;
            ``Span(2, All)``), a list of ints, or ``All`` (every level: a real number out). The
            default ``Span(2, All)`` aggregates every level but the first: on a channel-first image
            ``(c, h, w)`` it is global pooling, giving a length-c vector.
        Input, Output: the ports' dims, as for every layer.

    A "Varying" level (a sequence's length) may be aggregated (the mean over a sequence); the
    output's dims are the input's with the aggregated levels deleted.

    Ports:
        Input: an array of rank at least the levels' (at least 1).
        Output: the input's dims without the aggregated levels.

    >>> AggregationLayer("Max")([[1, 5, 2], [7, 0, 3]]).tolist()
    [5.0, 7.0]
    >>> AggregationLayer("Mean", Input=(3, 4, 4))
    AggregationLayer('Mean', Input=(3, 4, 4))
    >>> from wlnet import Information
    >>> Information(AggregationLayer("Total", [1, 3], Input=(2, 3, 4)), "OutputPorts")
    {'Output': 3}
    """

    _where_text: str

    def __init__(self, f, levels=GLOBAL, *, Input=Automatic, Output=Automatic, **unknown):
        check_options("AggregationLayer", unknown, ("Input", "Output"))
        function = parse_function(f, "AggregationLayer")
        levels = parse_aggregation_levels(levels, f'AggregationLayer ("{function}")')
        where = _where(function, levels)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        self._set_state({"function": function, "levels": levels}, ports, {}, {})

    @property
    def function(self) -> str:
        """The aggregation function's Wolfram name: "Mean", "Max", "Min", "Total" or "Times"."""
        return self._params["function"]

    @property
    def levels(self):
        """The levels aggregated: an int, a Span, a tuple of ints, or All."""
        return self._params["levels"]

    @property
    def _where(self) -> str:
        return self._where_text

    def _infer(self) -> None:
        self._where_text = where = _where(self.function, self.levels)
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        if t_in.dims is None and t_out.dims is not None:
            t_in = unify(t_in, self._input_from_output(t_out), f'{where}: port "Input"')
        if t_in.dims is not None:
            axes = aggregated_axes(self.levels, len(t_in.dims), where, t_in)
            kept = [a for a in range(len(t_in.dims)) if a not in axes]
            out = TensorT(tuple(t_in.dims[a] for a in kept))
            try:
                t_out = unify(out, t_out, "")
            except NetShapeError:
                raise NetShapeError(
                    f'{where}: port "Input" is {describe(t_in)}, which aggregates to {describe(out)}, but port '
                    f'"Output" is {describe(t_out)}.'
                ) from None
            assert t_out.dims is not None
            dims = list(t_in.dims)
            for axis, size in zip(kept, t_out.dims):
                dims[axis] = size
            t_in = TensorT(tuple(dims))
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _input_from_output(self, t_out: TensorT) -> TensorT:
        """What the output's dims tell of the input's: its rank and kept dims where only one rank
        fits, or its leading dims where the kept levels are the first on every rank that fits."""
        assert t_out.dims is not None
        rank, fits = len(t_out.dims), []
        if self.levels is All and rank == 0:
            return TensorT(None)  # every level aggregated: any input
        count = level_count(self.levels) if self.levels is not All else None
        tries = [rank + count] if count is not None else range(rank, rank + reach(self.levels) + 2)
        for m in tries:
            try:
                axes = aggregated_axes(self.levels, m, self._where)
            except NetShapeError:
                continue
            if m - len(axes) == rank:
                fits.append((m, axes))
        if not fits:
            raise NetShapeError(
                f'{self._where}: port "Output" is {describe(t_out)}, but aggregating levels {levels_text(self.levels)} '
                f"of no input gives an array of rank {rank}."
            )
        if len(fits) == 1:
            m, axes = fits[0]
            dims = iter(t_out.dims)
            return TensorT(tuple(None if a in axes else next(dims) for a in range(m)))
        if all(axes[0] == rank for _, axes in fits):  # the kept levels come first on every rank
            return TensorT(None, t_out.dims)
        return TensorT(None)

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Aggregation:
        return Aggregation(self.function, self.levels)

    def _level_arguments(self) -> tuple:
        return (self.function,) if self.levels == GLOBAL else (self.function, self.levels)

    def _arguments(self) -> tuple[tuple, dict]:
        args = self._level_arguments()
        return args, {**self._port_arguments(), **self._output_option(args)}

    def _constructor(self) -> str:
        args = [repr(self.function)]
        if self.levels != GLOBAL:
            args.append(levels_text(self.levels))
        args += self._repr_options()
        args += [f"Output={spec!r}" for spec in self._output_option(self._level_arguments()).values()]
        return f"AggregationLayer({', '.join(args)})"


def _where(function: str, levels) -> str:
    return f'AggregationLayer ("{function}", levels {levels_text(levels)})'


def aggregate(x: torch.Tensor, function: str, axes: tuple[int, ...]) -> torch.Tensor:
    """``function`` ("Mean", "Max", "Min", "Total", "Times") of ``x`` over ``axes``, which go."""
    if function == "Mean":
        return torch.mean(x, dim=axes)
    if function == "Max":
        return torch.amax(x, dim=axes)
    if function == "Min":
        return torch.amin(x, dim=axes)
    if function == "Total":
        return torch.sum(x, dim=axes)
    for axis in sorted(axes, reverse=True):  # torch.prod takes one dim at a time
        x = torch.prod(x, dim=axis)
    return x


class Aggregation(nn.Module):
    """The torch form of AggregationLayer, batch first; it has no parameters.

    ``function`` is the Wolfram name ("Mean", "Max", "Min", "Total", "Times") and ``levels`` the
    layer's levels (1-based, the batch axis not counted): it computes ``torch.mean``,
    ``torch.amax``, ``torch.amin``, ``torch.sum`` or ``torch.prod`` over the dims they name. An
    integer or True/False input is computed in torch's default floating type.

    >>> Aggregation("Mean", Span(2, All))(torch.ones(5, 3, 4, 4)).shape
    torch.Size([5, 3])
    """

    def __init__(self, function: str = "Mean", levels=GLOBAL):
        super().__init__()
        self.function = parse_function(function, "Aggregation")
        self.levels = parse_aggregation_levels(levels, "Aggregation")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        where = _where(self.function, self.levels)
        if not x.is_floating_point():
            x = floating_input(x, torch.get_default_dtype(), where)
        if x.ndim < 1:
            raise NetShapeError(f"{where}: the input needs a batch axis first, but is a 0-d tensor.")
        axes = tuple(a + 1 for a in aggregated_axes(self.levels, x.ndim - 1, where))
        return aggregate(x, self.function, axes)

    def extra_repr(self) -> str:
        return f"function={self.function!r}, levels={levels_text(self.levels)}"
