"""FlattenLayer: several levels of the input merged into one, all of them or the first or last n+1."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import Automatic
from ..types import VARYING, TensorT, as_int, describe, parse_port, port_spec, unify
from .base import Layer

__all__ = ["Flatten", "FlattenLayer"]


class FlattenLayer(Layer):
    """Flattens levels of its input together, as ``Flatten`` does to nested lists.

    Wolfram: ``FlattenLayer[]``, ``FlattenLayer[n]``, ``FlattenLayer[-n]``, ``FlattenLayer[Infinity]``.

    Args:
        n: which levels (1-based dims of one example, the batch axis not counted) are merged:
            ``math.inf`` (the default, Wolfram's ``Infinity``) merges every level, giving a vector;
            a positive ``n`` merges levels 1 to n + 1 (the first n + 1 dims); ``-n`` merges the
            last n + 1 levels. The merged dim's size is the product of the merged sizes, and the
            elements keep their row-major order (as NumPy's ``reshape``). Wolfram's
            ``FlattenLayer[{{s11, ...}, ...}]`` (regrouping levels) is not supported.
        Input, Output: the ports' dims, as for every layer.

    A "Varying" level (a sequence's length) cannot be merged: ``FlattenLayer(-1)`` on
    ``("Varying", 2, 3)`` gives ``("Varying", 6)``, but ``FlattenLayer()`` on it is an error.

    Ports:
        Input: an array of rank at least n + 1 (at least 1 for ``FlattenLayer()``).
        Output: the input with the merged levels replaced by one level.

    >>> FlattenLayer()([[1, 2], [3, 4]]).tolist()
    [1.0, 2.0, 3.0, 4.0]
    >>> FlattenLayer(-1, Input=(2, 3, 4))
    FlattenLayer(-1, Input=(2, 3, 4))
    >>> from wlnet import Information
    >>> Information(FlattenLayer(-1, Input=(2, 3, 4)), "OutputPorts")
    {'Output': (2, 12)}
    """

    _where_text: str

    def __init__(self, n=math.inf, *, Input=Automatic, Output=Automatic, **unknown):
        check_options("FlattenLayer", unknown, ("Input", "Output"))
        level = _parse_level(n)
        where = _where(level)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        self._set_state({"level": level}, ports, {}, {})

    @property
    def level(self) -> int | None:
        """The ``n`` of ``FlattenLayer(n)`` (negative counts from the last level), or None for
        ``FlattenLayer()``, which merges every level."""
        return self._params["level"]

    @property
    def _where(self) -> str:
        return self._where_text

    def _infer(self) -> None:
        level = self.level
        self._where_text = _where(level)
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        if level is None:  # whatever the input, the output is a vector
            t_out = unify(TensorT((None,)), t_out, f'{self._where}: port "Output"')
        elif t_in.dims is None and t_out.dims is not None:
            t_in = TensorT(self._input_from_output(t_out.dims))
        if t_in.dims is not None:
            first, last = self._merged(t_in)
            t_out = self._unify_output(t_in, _flattened(t_in.dims, first, last), t_out)
            assert t_out.dims is not None  # unified with a type of known rank
            t_in = TensorT(self._refined(t_in.dims, t_out.dims, first, last))
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _input_from_output(self, out: tuple) -> tuple:
        """The input's dims as far as the output's (of a layer with a finite n) tell them: its rank
        and the levels that are not merged."""
        level = self.level
        assert level is not None
        if not out:
            raise NetShapeError(
                f'{self._where}: port "Output" is a real number, but FlattenLayer outputs an array of '
                "rank at least 1."
            )
        merged = (None,) * (abs(level) + 1)
        return (*merged, *out[1:]) if level > 0 else (*out[:-1], *merged)

    def _merged(self, t: TensorT) -> tuple[int, int]:
        """The first and last 0-based axes of one example of ``t`` that are merged."""
        assert t.dims is not None
        level, rank = self.level, len(t.dims)
        span = _span(level, rank)
        if span is None:
            needed = 1 if level is None else abs(level) + 1
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t)} (rank {rank}), but '
                f"{_flatten_text(level)} needs an array of rank >= {needed}."
            )
        first, last = span
        if VARYING in t.dims[first:last + 1]:
            later = f" To merge only the levels after it, use FlattenLayer({-(rank - 2)})." if rank >= 3 else ""
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t)}, whose level 1 is "Varying" (its length '
                f"differs between examples), so it cannot be merged with other levels.{later}"
            )
        return first, last

    def _unify_output(self, t_in: TensorT, flattened: tuple, t_out: TensorT) -> TensorT:
        try:
            return unify(TensorT(flattened), t_out, "")
        except NetShapeError:
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)}, which flattens to '
                f'{describe(TensorT(flattened))}, but port "Output" is {describe(t_out)}.'
            ) from None

    def _refined(self, dims: tuple, out: tuple, first: int, last: int) -> tuple:
        """The input's dims with what the output tells about them: the levels that are not merged
        are the output's; a single unknown merged size is the output's size over the others'."""
        total, group = out[first], list(dims[first:last + 1])
        if total == VARYING:
            raise NetShapeError(
                f'{self._where}: level {first + 1} of port "Output" ({describe(TensorT(out))}) is '
                '"Varying", but the input levels merged into it have fixed lengths.'
            )
        unknown = [i for i, d in enumerate(group) if d is None]
        if isinstance(total, int) and len(unknown) == 1:
            known = math.prod(d for d in group if d is not None)
            if total % known:
                raise NetShapeError(
                    f'{self._where}: level {first + 1} of port "Output" has size {total}, but the input '
                    f"levels merged into it have sizes {_sizes_text(group)}, and {total} is not a "
                    f"multiple of {known}."
                )
            group[unknown[0]] = total // known
        return (*out[:first], *group, *out[first + 1:])

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Flatten:
        return Flatten(self.level)

    def _extra_output(self) -> object:
        """The Output option, when the output's dims say more than the input's imply; else Automatic."""
        implied = FlattenLayer(*self._level_arguments(), Input=port_spec(self._ports["Input"]))
        out = self._ports["Output"]
        return Automatic if implied._ports["Output"] == out else port_spec(out)

    def _level_arguments(self) -> tuple:
        return () if self.level is None else (self.level,)

    def _arguments(self) -> tuple[tuple, dict]:
        options = self._port_arguments()
        output = self._extra_output()
        if output is not Automatic:
            options["Output"] = output
        return self._level_arguments(), options

    def _constructor(self) -> str:
        args = [*map(repr, self._level_arguments()), *self._repr_options()]
        output = self._extra_output()
        if output is not Automatic:
            args.append(f"Output={output!r}")
        return f"FlattenLayer({', '.join(args)})"


class Flatten(nn.Module):
    """The torch form of FlattenLayer, batch first; it has no parameters.

    ``level`` is the layer's n (negative counts from the last level), or None to merge every level
    of each example: ``Flatten(1)`` is ``torch.flatten(x, 1, 2)``, ``Flatten(-1)`` is
    ``torch.flatten(x, -2, -1)`` and ``Flatten(None)`` is ``torch.flatten(x, 1)``.

    >>> Flatten(-1)(torch.zeros(5, 2, 3, 4)).shape
    torch.Size([5, 2, 12])
    """

    def __init__(self, level: int | None = None):
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        span = _span(self.level, x.ndim - 1)
        if span is None:
            needed = 1 if self.level is None else abs(self.level) + 1
            raise NetShapeError(
                f"{_where(self.level)}: an input of shape {tuple(x.shape)} (batch first) has examples of "
                f"rank {x.ndim - 1}, but {_flatten_text(self.level)} needs examples of rank >= {needed}."
            )
        return torch.flatten(x, span[0] + 1, span[1] + 1)

    def extra_repr(self) -> str:
        return f"level={self.level}"


def _parse_level(n) -> int | None:
    """FlattenLayer's argument: Infinity (None here), n >= 1 or -n <= -1."""
    if isinstance(n, numbers.Real) and not isinstance(n, bool) and n == math.inf:
        return None
    if isinstance(n, (list, tuple)):
        raise NetSpecificationError(
            f"FlattenLayer: the form FlattenLayer({{{{s11, ...}}, ...}}) (regrouping levels), here "
            f"{n!r}, is not supported; give an integer n (merging the first n + 1 levels), -n (the "
            "last n + 1 levels) or nothing (every level)."
        )
    level = as_int(n)
    if level is None or level == 0:
        raise NetSpecificationError(
            f"FlattenLayer: the argument should be a nonzero integer n (merging the first n + 1 "
            f"levels), -n (the last n + 1 levels) or math.inf (every level), but was {n!r}."
        )
    return level


def _span(level: int | None, rank: int) -> tuple[int, int] | None:
    """The first and last 0-based axes that ``level`` merges in an example of rank ``rank``, or None
    when the rank is too small."""
    needed = 1 if level is None else abs(level) + 1
    if rank < needed:
        return None
    if level is None:
        return 0, rank - 1
    return (0, level) if level > 0 else (rank + level - 1, rank - 1)


def _flattened(dims: tuple, first: int, last: int) -> tuple:
    """``dims`` with axes ``first`` to ``last`` merged (their product; None if one is unknown)."""
    group = dims[first:last + 1]
    size = None if None in group else math.prod(group)
    return (*dims[:first], size, *dims[last + 1:])


def _where(level: int | None) -> str:
    if level is None:
        return "FlattenLayer (all levels)"
    if level > 0:
        return f"FlattenLayer (levels 1 to {level + 1})"
    return f"FlattenLayer (levels {level - 1} to -1)"


def _flatten_text(level: int | None) -> str:
    """What the layer does, in words, for its errors."""
    if level is None:
        return "FlattenLayer() merges every level and"
    if level > 0:
        return f"FlattenLayer({level}) merges levels 1 to {level + 1} and"
    return f"FlattenLayer({level}) merges the last {-level + 1} levels and"


def _sizes_text(group: list) -> str:
    return "(" + ", ".join("n" if d is None else str(d) for d in group) + ")"
