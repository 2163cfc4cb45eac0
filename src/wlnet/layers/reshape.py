"""ReshapeLayer: the elements of one example, in row-major order, laid out with other dims."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import All, Automatic, Inherited
from ..types import VARYING, TensorT, as_int, check_size, describe, parse_port, unify
from .base import Layer

__all__ = ["Reshape", "ReshapeLayer"]


class ReshapeLayer(Layer):
    """Lays out the elements of each example with new dims, keeping their row-major order.

    Wolfram: ``ReshapeLayer[{d1, d2, ...}]``.

    Args:
        dims: the output's dims, a tuple (or list) whose entries are
            a positive int (that dim);
            ``Inherited`` (the input's dim at the same position);
            ``Automatic`` (the dim that keeps the number of elements, at most one);
            ``All`` (the input's remaining dims: those that the entries before it, covering
            leading levels of the input, and after it, covering trailing levels, leave; at most
            one, not with ``Automatic``, and no ``Inherited`` after it): ``(All, 1)`` adds a level
            of size 1 at the end, ``(Inherited, 3, 2, All)`` splits level 2 (of size 6) of an input
            of any rank, ``(All, 2, 3)`` splits the last level (of size 6). Each side covers the
            fewest levels whose sizes multiply to its entries' product.
            ``()`` reshapes a one-element array to a real number; an int n is ``(n,)``.
        Input, Output: the ports' dims, as for every layer.

    The number of elements stays the same (a NetShapeError names both dims otherwise). The elements
    keep their order, as NumPy's ``reshape`` (C order) and Wolfram's ``ArrayReshape`` keep it. A
    "Varying" first level (a sequence's length) is kept: the first entry must then be ``Inherited``
    (or ``All``), and the other levels of each step are reshaped.

    Ports:
        Input: an array (of rank at least the position of the last ``Inherited``).
        Output: an array of the given dims.

    >>> ReshapeLayer((2, 3))([1, 2, 3, 4, 5, 6]).tolist()
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    >>> from wlnet import Information
    >>> Information(ReshapeLayer((Inherited, Automatic), Input=(2, 3, 4)), "OutputPorts")
    {'Output': (2, 12)}
    """

    def __init__(self, dims, *, Input=Automatic, Output=Automatic, **unknown):
        check_options("ReshapeLayer", unknown, ("Input", "Output"))
        spec = _parse_dims(dims)
        where = _where(spec)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        self._set_state({"dims": spec}, ports, {}, {})

    @property
    def dims(self) -> tuple:
        """The output's dims as given: ints, ``Inherited``, ``Automatic``, ``All``."""
        return self._params["dims"]

    @property
    def _where(self) -> str:
        return _where(self.dims)

    # -- shapes ---------------------------------------------------------------------------------
    def _infer(self) -> None:
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        t_out = self._unify_output(t_in, t_out)
        t_in = self._input_from(t_in, t_out)
        t_out = self._unify_output(t_in, t_out)
        self._check_count(t_in, t_out)
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _unify_output(self, t_in: TensorT, t_out: TensorT) -> TensorT:
        implied = self._output_from(t_in)
        try:
            return unify(implied, t_out, "")
        except NetShapeError:
            source = f'port "Input" is {describe(t_in)}, which' if t_in.dims is not None else "it"
            raise NetShapeError(
                f'{self._where}: {source} reshapes to {describe(implied)}, but port "Output" is {describe(t_out)}.'
            ) from None

    def _output_from(self, t_in: TensorT) -> TensorT:
        """The output's type as the dims and the input's type tell it."""
        spec = self.dims
        if t_in.dims is None:
            known = t_in.leading
            out = [d if isinstance(d, int) else known[i] if d is Inherited and i < len(known) else None
                   for i, d in enumerate(spec)]
            if All in spec:
                return TensorT(None, tuple(out[:_position(spec, All)]))
            return TensorT(tuple(out))
        self._check_input(t_in)
        expanded = _expand(spec, t_in.dims, self._where, t_in)
        if expanded is None:  # All's share of the input is not known yet
            k = _position(spec, All)
            return TensorT(None, tuple(t_in.dims[i] if d is Inherited else d for i, d in enumerate(spec[:k])))
        out = expanded
        if Automatic in spec:
            position = next(i for i, d in enumerate(out) if d is Automatic)
            out[position] = self._automatic(t_in, out, position)
        return TensorT(tuple(out))

    def _check_input(self, t_in: TensorT) -> None:
        """An input of known rank has the dims that Inherited and All copy, and a Varying first
        level only where it is copied."""
        spec, dims = self.dims, t_in.dims
        assert dims is not None
        copied = [i for i, d in enumerate(spec) if d is Inherited]
        if copied and copied[-1] >= len(dims):
            raise NetShapeError(
                f'{self._where}: entry {copied[-1] + 1} is Inherited, which copies level {copied[-1] + 1} of port '
                f'"Input", but it is {describe(t_in)}, of rank {len(dims)}.'
            )
        if dims and dims[0] == VARYING and not (spec and (spec[0] is Inherited or spec[0] is All)):
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)}, whose first level is "Varying" (its length '
                "differs between examples); the first entry of the dims must be Inherited to keep it, e.g. "
                f"ReshapeLayer((Inherited, {', '.join(_entry_text(d) for d in spec[1:]) or 'Automatic'}))."
            )

    def _automatic(self, t_in: TensorT, out: list, position: int) -> int | None:
        """The size of the Automatic entry at ``position``: the input's elements over the others'."""
        assert t_in.dims is not None
        total = _count(t_in.dims)
        others = _count(tuple(d for i, d in enumerate(out) if i != position))
        if total is None or others is None:
            return None
        if others == 0 or total % others:
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)} ({total} elements{_per_step(t_in)}), which '
                f"cannot be reshaped to {_dims_text(self.dims)}: {total} is not a multiple of {others}."
            )
        return total // others

    def _input_from(self, t_in: TensorT, t_out: TensorT) -> TensorT:
        """The input's type with what the output tells about it: the levels Inherited or All copy,
        its rank when All fixes it, and one unknown dim from the number of elements."""
        spec, out = self.dims, t_out.dims
        if out is None:
            return t_in
        if t_in.dims is None:
            return self._unify_input(t_in, self._input_of_output(out))
        dims: list = list(t_in.dims)
        for i, d in enumerate(spec):
            if d is Inherited and dims[i] is None:
                dims[i] = out[i]
        unknown = [i for i, d in enumerate(dims) if d is None]
        total = _count(out)
        if len(unknown) == 1 and total is not None:
            known = _count(tuple(d for i, d in enumerate(dims) if i != unknown[0]))
            if known and total % known == 0:
                dims[unknown[0]] = total // known
        return TensorT(tuple(dims))

    def _input_of_output(self, out: tuple) -> TensorT:
        """What an output of dims ``out`` says of an input of unknown rank: its rank and the dims All
        copies, or its leading dims that Inherited copies."""
        spec = self.dims
        if All in spec:
            k = _position(spec, All)
            if all(d is Inherited for d in spec[:k]) and all(d == 1 for d in spec[k + 1:]):
                return TensorT(out[:len(out) - len(spec) + k + 1])  # All copied the levels after the Inheriteds
            spec = spec[:k]
        copied = [i for i, d in enumerate(spec) if d is Inherited]
        leading = tuple(out[i] if i in copied else None for i in range(copied[-1] + 1)) if copied else ()
        return TensorT(None, leading if any(d is not None for d in leading) else ())

    def _unify_input(self, t_in: TensorT, t: TensorT) -> TensorT:
        try:
            return unify(t_in, t, "")
        except NetShapeError:
            raise NetShapeError(
                f'{self._where}: port "Output" makes port "Input" {describe(t)}, but it is {describe(t_in)}.'
            ) from None

    def _check_count(self, t_in: TensorT, t_out: TensorT) -> None:
        if t_in.dims is None or t_out.dims is None:
            return
        n_in, n_out = _count(t_in.dims), _count(t_out.dims)
        if n_in is not None and n_out is not None and n_in != n_out:
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)} ({n_in} elements{_per_step(t_in)}), but port '
                f'"Output" is {describe(t_out)} ({n_out} elements): a reshape keeps the number of elements.'
            )
        if (t_in.dims[:1] == (VARYING,)) != (t_out.dims[:1] == (VARYING,)):
            raise NetShapeError(
                f'{self._where}: port "Input" is {describe(t_in)} and port "Output" is {describe(t_out)}: a '
                '"Varying" first level is kept by Inherited, and only by it.'
            )

    # -- the rest of the protocol ---------------------------------------------------------------
    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Reshape:
        return Reshape(self.dims)

    def _arguments(self) -> tuple[tuple, dict]:
        return (self.dims,), self._port_arguments()

    def _constructor(self) -> str:
        return f"ReshapeLayer({', '.join([_dims_text(self.dims), *self._repr_options()])})"


class Reshape(nn.Module):
    """The torch form of ReshapeLayer, batch first: ``x.reshape(batch, *dims)``, ``Inherited`` and
    ``All`` copying the input's dims (after the batch axis) and ``Automatic`` being ``-1``.

    >>> Reshape((Inherited, Automatic))(torch.zeros(5, 2, 3, 4)).shape
    torch.Size([5, 2, 12])
    """

    def __init__(self, dims: tuple):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        example = tuple(x.shape[1:])
        try:
            expanded = _expand(self.dims, example, _where(self.dims), None)
            assert expanded is not None  # every dim of a tensor is known
            return x.reshape(x.shape[0], *[-1 if d is Automatic else d for d in expanded])
        except (RuntimeError, IndexError, NetShapeError):
            raise NetShapeError(
                f"{_where(self.dims)}: an input of shape {tuple(x.shape)} (batch first) has examples of dims "
                f"{tuple(example)}, which cannot be reshaped to {_dims_text(self.dims)}."
            ) from None

    def extra_repr(self) -> str:
        return f"dims={_dims_text(self.dims)}"


def _parse_dims(dims) -> tuple:
    if as_int(dims) is not None:
        dims = (dims,)
    if not isinstance(dims, (tuple, list)):
        raise NetSpecificationError(
            f"ReshapeLayer: the dims should be a tuple of positive integers, Inherited, Automatic and All, but "
            f"were {dims!r}."
        )
    parsed: list = []
    for i, d in enumerate(dims):
        size = as_int(d)
        if d is Inherited or d is Automatic or d is All:
            parsed.append(d)
        elif size is not None and size >= 1:
            parsed.append(check_size(size, "ReshapeLayer", f"entry {i + 1} of the dims"))
        else:
            raise NetSpecificationError(
                f"ReshapeLayer: entry {i + 1} of the dims {_dims_text(tuple(dims))} should be a positive integer, "
                f"Inherited, Automatic or All, but is {d!r}."
            )
    if All in parsed and Inherited in parsed[_position(tuple(parsed), All):]:
        raise NetSpecificationError(
            f"ReshapeLayer: the dims {_dims_text(tuple(parsed))} have Inherited after All; Inherited copies the "
            "input's dim at its own position, which is not known after All."
        )
    check_size(math.prod(d for d in parsed if isinstance(d, int)), "ReshapeLayer",
               f"the number of elements of the dims {_dims_text(tuple(parsed))}")
    inferred = [d for d in parsed if d is Automatic or d is All]
    if len(inferred) > 1:
        raise NetSpecificationError(
            f"ReshapeLayer: the dims {_dims_text(tuple(parsed))} have {len(inferred)} entries that are Automatic "
            "or All; at most one may be (the others are then known)."
        )
    return tuple(parsed)


def _expand(spec: tuple, dims: tuple, where: str, t: TensorT | None) -> list | None:
    """The output's dims for an input of ``dims``: Inherited copied, Automatic kept (for the caller),
    and All replaced by the input's levels that the entries before it (covering leading levels) and
    after it (covering trailing levels) leave, All taking as many as it can; None when an unknown
    size decides them."""
    out = [dims[i] if d is Inherited else d for i, d in enumerate(spec)]
    if All not in spec:
        return out
    k = _position(spec, All)
    head, tail = out[:k], out[k + 1:]
    if all(d is Inherited for d in spec[:k]):
        start: int | None = k
    else:
        first = 1 if head[:1] == [VARYING] else 0
        covered = _cover(dims, range(first, len(dims)), head[first:], "before", "leading", where, t)
        start = None if covered is None else first + covered
    end = None if start is None else _cover(dims, range(len(dims) - 1, start - 1, -1), tail, "after", "trailing",
                                            where, t)
    if start is None or end is None:
        return None
    return [*head, *dims[start:len(dims) - end], *tail]


def _cover(dims: tuple, axes: range, entries: list, side: str, levels: str, where: str,
           t: TensorT | None) -> int | None:
    """How many of the levels ``axes`` (in that order) the entries on one ``side`` of All cover: the
    fewest whose sizes multiply to the entries' product; None when an unknown size decides."""
    if any(not isinstance(d, int) for d in entries):
        return None
    target, product, count = math.prod(entries), 1, 0
    for axis in axes:
        if product >= target:
            break
        if dims[axis] is None:
            return None
        if dims[axis] == VARYING:
            break
        product, count = product * dims[axis], count + 1
    if product != target:
        text = describe(t) if t is not None else f"an array of dims {tuple(dims)}"
        raise NetShapeError(
            f'{where}: the entries {side} All, {_dims_text(tuple(entries))}, cover no {levels} levels of port "Input", '
            f"which is {text}: a product of its {levels} sizes should be {target}."
        )
    return count


def _position(spec: tuple, atom) -> int:
    return next(i for i, d in enumerate(spec) if d is atom)


def _count(dims: tuple) -> int | None:
    """The number of elements of an example of ``dims`` (of each step, for a sequence), or None
    when a dim is unknown."""
    fixed = dims[1:] if dims[:1] == (VARYING,) else dims
    return None if None in fixed or VARYING in fixed else math.prod(fixed)


def _per_step(t: TensorT) -> str:
    return " per step" if t.dims and t.dims[0] == VARYING else ""


def _entry_text(d) -> str:
    return repr(d)


def _dims_text(dims: tuple) -> str:
    inner = ", ".join(map(_entry_text, dims))
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def _where(spec: tuple) -> str:
    return f"ReshapeLayer {_dims_text(spec)}"
