"""FlattenLayer: levels of the input merged into one: all of them, the first or last n + 1, a run of
adjacent levels (a Span), or groups of levels, each group making one level of the output."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import All, Automatic, Span
from ..types import VARYING, TensorT, as_int, describe, parse_port, unify
from .base import Layer
from .levels import level_argument, level_axis, parse_span

__all__ = ["Flatten", "FlattenLayer"]

Groups = tuple[tuple[int, ...], ...]  # 0-based axes of one example, one tuple per output level


class FlattenLayer(Layer):
    """Flattens levels of its input together, as ``Flatten`` does to nested lists.

    Wolfram: ``FlattenLayer[]``, ``FlattenLayer[n]``, ``FlattenLayer[-n]``, ``FlattenLayer[Infinity]``,
    ``FlattenLayer[{{s11, s12, ...}, {s21, ...}, ...}]``.

    Args:
        n: which levels (1-based dims of one example, the batch axis not counted) are merged:
            ``math.inf`` (the default, Wolfram's ``Infinity``) merges every level, giving a vector;
            a positive ``n`` merges levels 1 to n + 1 (the first n + 1 dims); ``-n`` merges the
            last n + 1 levels. A list of groups of levels, ``[[s11, s12, ...], [s21, ...], ...]``
            (Wolfram's ``{{s11, ...}, ...}``, as ``Flatten[list, {{s11, ...}, ...}]``), makes level i
            of the output from the levels of group i, the levels of the input not named following
            in their order: ``[[1], [2, 3]]`` merges levels 2 and 3 of an input of any rank >= 3,
            and ``[[2, 3]]`` on dims (a, b, c) gives dims (b c, a) (a transpose, then a merge).
            ``Span(a, b)`` (a wlnet form, levels counted as in ParametricRampLayer) merges levels a
            to b, either counted from the last when negative: ``Span(2, -2)`` merges every level but
            the first and the last, on any rank (PyTorch's ``nn.Flatten(2, -2)``). The merged dim's
            size is the product of the merged sizes, and the elements keep their row-major order
            (as NumPy's ``reshape``, after the transpose that groups bring).
        Input, Output: the ports' dims, as for every layer.

    A "Varying" level (a sequence's length) cannot be merged: ``FlattenLayer(-1)`` on
    ``("Varying", 2, 3)`` gives ``("Varying", 6)``, but ``FlattenLayer()`` on it is an error.

    Ports:
        Input: an array of rank at least n + 1 (at least 1 for ``FlattenLayer()``; at least the
            largest level of the groups or the span).
        Output: the input with the merged levels replaced by one level.

    >>> FlattenLayer()([[1, 2], [3, 4]]).tolist()
    [1.0, 2.0, 3.0, 4.0]
    >>> FlattenLayer(-1, Input=(2, 3, 4))
    FlattenLayer(-1, Input=(2, 3, 4))
    >>> from wlnet import Information
    >>> Information(FlattenLayer(-1, Input=(2, 3, 4)), "OutputPorts")
    {'Output': (2, 12)}
    >>> Information(FlattenLayer([[2, 3]], Input=(2, 3, 4)), "OutputPorts")
    {'Output': (12, 2)}
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
    def level(self):
        """The ``n`` of ``FlattenLayer(n)`` (negative counts from the last level), None for
        ``FlattenLayer()``, which merges every level, the groups (a tuple of tuples of levels), or
        the Span."""
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
            t_in = self._input_from_output(t_in, t_out.dims)
        if t_in.dims is not None:
            groups = self._groups(t_in)
            t_out = self._unify_output(t_in, _flattened(t_in.dims, groups), t_out)
            assert t_out.dims is not None  # unified with a type of known rank
            t_in = TensorT(self._refined(t_in.dims, t_out.dims, groups))
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _input_from_output(self, t_in: TensorT, out: tuple) -> TensorT:
        """The input's type as far as the output's dims tell it: its rank, where the level spec
        fixes it, and the levels that are not merged."""
        if not out:
            raise NetShapeError(
                f'{self._where}: port "Output" is a real number, but FlattenLayer outputs an array of '
                "rank at least 1."
            )
        rank = _input_rank(self.level, len(out))
        groups = None if rank is None else _plan(self.level, rank)
        if rank is None or groups is None:
            return t_in
        dims: list = [None] * rank
        for group, size in zip(groups, out):
            if len(group) == 1:
                dims[group[0]] = size
        return TensorT(tuple(dims))

    def _groups(self, t: TensorT) -> Groups:
        """The 0-based axes of one example of ``t`` that make each output level."""
        assert t.dims is not None
        level, rank = self.level, len(t.dims)
        groups = _plan(level, rank)
        if groups is None:
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t)} (rank {rank}), but '
                f"{_flatten_text(level)} needs an array of rank >= {_needed(level)}."
            )
        if any(len(group) > 1 and VARYING in (t.dims[a] for a in group) for group in groups):
            later = f" To merge only the levels after it, use FlattenLayer({-(rank - 2)})." if rank >= 3 else ""
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t)}, whose level 1 is "Varying" (its length '
                f"differs between examples), so it cannot be merged with other levels.{later}"
            )
        return groups

    def _unify_output(self, t_in: TensorT, flattened: tuple, t_out: TensorT) -> TensorT:
        try:
            return unify(TensorT(flattened), t_out, "")
        except NetShapeError:
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)}, which flattens to '
                f'{describe(TensorT(flattened))}, but port "Output" is {describe(t_out)}.'
            ) from None

    def _refined(self, dims: tuple, out: tuple, groups: Groups) -> tuple:
        """The input's dims with what the output tells about them: the levels that are not merged
        are the output's; a single unknown merged size is the output's size over the others'."""
        refined = list(dims)
        for index, (group, total) in enumerate(zip(groups, out)):
            if len(group) == 1:
                refined[group[0]] = total
                continue
            sizes = [dims[a] for a in group]
            if total == VARYING:
                raise NetShapeError(
                    f'{self._where}: level {index + 1} of port "Output" ({describe(TensorT(out))}) is '
                    '"Varying", but the input levels merged into it have fixed lengths.'
                )
            unknown = [i for i, d in enumerate(sizes) if d is None]
            if isinstance(total, int) and len(unknown) == 1:
                known = math.prod(d for d in sizes if d is not None)
                if total % known:
                    raise NetShapeError(
                        f'{self._where}: level {index + 1} of port "Output" has size {total}, but the input '
                        f"levels merged into it have sizes {_sizes_text(sizes)}, and {total} is not a "
                        f"multiple of {known}."
                    )
                refined[group[unknown[0]]] = total // known
        return tuple(refined)

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Flatten:
        return Flatten(self.level)

    def _permutation(self) -> tuple[int, ...] | None:
        """The order in which the levels of one example (0-based) are read, when the groups change
        it (``[[2, 3]]``: ``(1, 2, 0)``); None when they keep it. The input's rank must be known."""
        dims = self._ports["Input"].dims
        assert dims is not None
        groups = _plan(self.level, len(dims))
        assert groups is not None
        order = tuple(a for group in groups for a in group)
        return None if order == tuple(range(len(dims))) else order

    def _level_arguments(self) -> tuple:
        return () if self.level is None else (self.level,)

    def _arguments(self) -> tuple[tuple, dict]:
        args = self._level_arguments()
        return args, {**self._port_arguments(), **self._output_option(args)}

    def _constructor(self) -> str:
        args = [*map(_level_text, self._level_arguments()), *self._repr_options()]
        args += [f"Output={spec!r}" for spec in self._output_option(self._level_arguments()).values()]
        return f"FlattenLayer({', '.join(args)})"


class Flatten(nn.Module):
    """The torch form of FlattenLayer, batch first; it has no parameters.

    ``level`` is the layer's n (negative counts from the last level), None to merge every level
    of each example, its groups (a tuple of tuples of 1-based levels) or its Span:
    ``Flatten(1)`` is ``torch.flatten(x, 1, 2)``, ``Flatten(-1)`` is ``torch.flatten(x, -2, -1)``,
    ``Flatten(None)`` is ``torch.flatten(x, 1)``, ``Flatten(Span(2, -2))`` is
    ``torch.flatten(x, 2, -2)``, and ``Flatten(((2, 3),))`` permutes the levels before merging.

    >>> Flatten(-1)(torch.zeros(5, 2, 3, 4)).shape
    torch.Size([5, 2, 12])
    >>> Flatten(((2, 3),))(torch.zeros(5, 2, 3, 4)).shape
    torch.Size([5, 12, 2])
    """

    def __init__(self, level=None):
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = _plan(self.level, x.ndim - 1)
        if groups is None:
            raise NetShapeError(
                f"{_where(self.level)}: an input of shape {tuple(x.shape)} (batch first) has examples of "
                f"rank {x.ndim - 1}, but {_flatten_text(self.level)} needs examples of rank >= "
                f"{_needed(self.level)}."
            )
        order = [a for group in groups for a in group]
        merged = [group for group in groups if len(group) > 1]
        if order == sorted(order) and len(merged) <= 1:  # one run of levels: a view, as nn.Flatten's
            return torch.flatten(x, merged[0][0] + 1, merged[0][-1] + 1) if merged else x
        sizes = [math.prod([x.shape[a + 1] for a in group]) for group in groups]  # lists: dynamo traces them
        return x.permute([0, *[a + 1 for a in order]]).reshape(x.shape[0], *sizes)

    def extra_repr(self) -> str:
        return f"level={_level_text(self.level)}"


def _parse_level(n):
    """FlattenLayer's argument: Infinity (None here), n >= 1 or -n <= -1, groups, or a Span."""
    if isinstance(n, numbers.Real) and not isinstance(n, bool) and n == math.inf:
        return None
    if isinstance(n, Span):
        return parse_span(n, "FlattenLayer")
    if isinstance(n, (list, tuple)):
        return _parse_groups(n)
    return level_argument(
        n, "FlattenLayer", "the argument should be a nonzero integer n (merging the first n + 1 levels), -n (the "
        "last n + 1 levels), math.inf (every level), groups of levels [[s11, ...], ...] or a Span"
    )


def _parse_groups(groups) -> tuple[tuple[int, ...], ...]:
    form = "FlattenLayer: the groups of levels [[s11, s12, ...], [s21, ...], ...]"
    if not groups or not all(isinstance(g, (list, tuple)) and g for g in groups):
        raise NetSpecificationError(
            f"{form} should be a nonempty list of nonempty lists of levels (positive integers), but were {groups!r}."
        )
    levels = [as_int(level) for group in groups for level in group]
    if any(level is None or level < 1 for level in levels):
        raise NetSpecificationError(
            f"{form} should hold levels counted from 1 (positive integers), but were {groups!r}."
        )
    parsed = tuple(tuple(int(level) for level in group) for group in groups)
    flat = [level for group in parsed for level in group]
    repeated = sorted({level for level in flat if flat.count(level) > 1})
    if repeated:
        raise NetSpecificationError(
            f"{form} name each level at most once, but {_level_text(parsed)} names level {repeated[0]} twice."
        )
    return parsed


def _ends(span: Span) -> tuple[int, int]:
    """A parsed span's start and stop as levels (All, the stop, is the last level, -1)."""
    stop = span.stop
    return span.start, -1 if stop is All or not isinstance(stop, int) else stop


def _plan(level, rank: int) -> Groups | None:
    """The axes of one example of rank ``rank`` that make each output level, in order, or None when
    the rank is too small for ``level``."""
    if level is None:
        return (tuple(range(rank)),) if rank >= 1 else None
    if isinstance(level, int):
        if rank < abs(level) + 1:
            return None
        first, last = (0, level) if level > 0 else (rank + level - 1, rank - 1)
        return _run(rank, first, last)
    if isinstance(level, Span):
        start, stop = (level_axis(end, rank) for end in _ends(level))
        return _run(rank, start, stop) if start is not None and stop is not None and start <= stop else None
    listed = [a - 1 for group in level for a in group]
    if max(listed) >= rank:
        return None
    groups = tuple(tuple(a - 1 for a in group) for group in level)
    return groups + tuple((a,) for a in range(rank) if a not in listed)


def _run(rank: int, first: int, last: int) -> Groups:
    """Axes ``first`` to ``last`` merged, the others alone."""
    return (*((a,) for a in range(first)), tuple(range(first, last + 1)), *((a,) for a in range(last + 1, rank)))


def _needed(level) -> int:
    """The smallest rank ``level`` can flatten."""
    return next(rank for rank in range(64) if _plan(level, rank) is not None)


def _input_rank(level, out_rank: int) -> int | None:
    """The input's rank that gives an output of rank ``out_rank``, where the level spec fixes it."""
    if level is None:
        return None
    if isinstance(level, int):
        return out_rank + abs(level)
    if isinstance(level, Span):
        start, stop = _ends(level)
        return out_rank + stop - start if (start > 0) == (stop > 0) else None
    return out_rank - len(level) + sum(map(len, level))


def _flattened(dims: tuple, groups: Groups) -> tuple:
    """The output's dims: each group's sizes multiplied (None if one is unknown)."""
    out = []
    for group in groups:
        sizes = [dims[a] for a in group]
        out.append(sizes[0] if len(sizes) == 1 else None if None in sizes else math.prod(sizes))
    return tuple(out)


def _level_text(level) -> str:
    """The level spec as the constructor takes it: ``2``, ``[[1], [2, 3]]``, ``Span(2, -2)``."""
    if isinstance(level, tuple):
        return "[" + ", ".join("[" + ", ".join(map(str, group)) + "]" for group in level) + "]"
    return repr(level)


def _where(level) -> str:
    if level is None:
        return "FlattenLayer (all levels)"
    if isinstance(level, Span):
        return f"FlattenLayer (levels {_ends(level)[0]} to {_ends(level)[1]})"
    if isinstance(level, tuple):
        return f"FlattenLayer (levels {_level_text(level)})"
    if level > 0:
        return f"FlattenLayer (levels 1 to {level + 1})"
    return f"FlattenLayer (levels {level - 1} to -1)"


def _flatten_text(level) -> str:
    """What the layer does, in words, for its errors."""
    if level is None:
        return "FlattenLayer() merges every level and"
    if isinstance(level, Span):
        return f"FlattenLayer({level!r}) merges levels {_ends(level)[0]} to {_ends(level)[1]} and"
    if isinstance(level, tuple):
        return f"FlattenLayer({_level_text(level)}) groups levels up to {max(max(g) for g in level)} and"
    if level > 0:
        return f"FlattenLayer({level}) merges levels 1 to {level + 1} and"
    return f"FlattenLayer({level}) merges the last {-level + 1} levels and"


def _sizes_text(group: list) -> str:
    return "(" + ", ".join("n" if d is None else str(d) for d in group) + ")"
