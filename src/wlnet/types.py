"""Port and array types, and their unification. No torch here: shapes are symbols before data.

A :class:`TensorT` is an array of real numbers whose rank may be unknown (``dims is None``) and
whose dims may each be a known size, unknown (``None``) or ``"Varying"`` (a sequence length that
differs from example to example). Dims never include the batch axis. An array of unknown rank may
still have known leading dims (``leading``): a slope over level 1 of length 3 makes its layer's
input "an array of dims (3, …)", written ``(3, ...)`` as a port specification.

>>> parse_port((2, 3), "Input")
TensorT(dims=(2, 3))
>>> describe(parse_port(("Varying", 3), "Input"))
'a sequence of length-3 vectors'
>>> describe(TensorT(("Varying", 2, 3))), describe(TensorT(("Varying", 2, 3, 4)))
('a sequence of 2×3 matrices', 'a sequence of arrays of dims (2, 3, 4)')
>>> unify(TensorT(None), TensorT((3,)), "Input").dims
(3,)
>>> describe(parse_port((3, ...), "Input")), unify(parse_port((3, ...), "Input"), TensorT((3, 4)), "Input")
('an array of dims (3, …)', TensorT(dims=(3, 4)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import NetShapeError, NetSpecificationError
from .symbols import Automatic, as_int

__all__ = [
    "MAX_SIZE", "VARYING", "TensorT", "as_int", "check_size", "describe", "parse_port", "port_spec", "size_text",
    "unify",
]

VARYING = "Varying"

#: The largest dimension, and the most elements of one array: what a signed 64-bit size holds, the
#: limit of NumPy's and torch's sizes. Dims are checked against it where they are given; whether an
#: array of that many bytes can be made is checked at NetInitialize.
MAX_SIZE = 2**63 - 1
_MAX_TEXT = "2**63 - 1, the largest size NumPy and torch allow"


def check_size(size: int, where: str, what: str) -> int:
    """``size`` (a dimension or an element count, ``what`` in words) when it is at most :data:`MAX_SIZE`.

    >>> check_size(10**30, "LinearLayer", "the output size")
    Traceback (most recent call last):
    ...
    wlnet.errors.NetSpecificationError: LinearLayer: the output size is 10**30, more than 2**63 - 1, the ...
    """
    if size > MAX_SIZE:
        raise NetSpecificationError(f"{where}: {what} is {size_text(size)}, more than {_MAX_TEXT}.")
    return size


def size_text(n: int) -> str:
    """A large number readably: ``10**30``, ``2**62``, its digits, or ``about 2**332``."""
    if n.bit_length() > 4000:  # str() of it would be slow, or refused (Python's digit limit)
        return f"about 2**{n.bit_length() - 1}"
    for base in (10, 2):
        power = round(math.log(n, base)) if n > 0 else 0
        if power >= 10 and n == base**power:
            return f"{base}**{power}"
    text = str(n)
    return text if len(text) <= 40 else f"about 2**{n.bit_length() - 1}"


@dataclass(frozen=True)
class TensorT:
    """An array type: ``dims`` is a tuple of int | None | "Varying", or None when the rank is unknown;
    then ``leading`` holds the dims known at the start (the rank is at least their number)."""

    dims: tuple | None = None
    leading: tuple = ()

    def __repr__(self) -> str:
        extra = f", leading={self.leading!r}" if self.leading else ""
        return f"TensorT(dims={self.dims!r}{extra})"

    @property
    def rank(self) -> int | None:
        return None if self.dims is None else len(self.dims)

    @property
    def known(self) -> bool:
        """True when the rank and every fixed dim are known ("Varying" dims count as known)."""
        return self.dims is not None and all(d is not None for d in self.dims)

    @property
    def varying(self) -> bool:
        return self.dims is not None and VARYING in self.dims


def _dim(value, position: int, where: str):
    if value is Automatic or value is None:
        return None
    if value == VARYING:
        if position != 0:
            raise NetSpecificationError(
                f'{where}: only the first dimension may be "Varying", but dimension '
                f"{position + 1} is."
            )
        return VARYING
    size = as_int(value)
    if size is not None and size >= 1:
        return check_size(size, where, f"dimension {position + 1}")
    raise NetSpecificationError(
        f'{where}: each dimension should be a positive integer, "Varying" or Automatic, '
        f"but dimension {position + 1} is {value!r}."
    )


def parse_port(spec, where: str) -> TensorT:
    """The type of a port given as Wolfram does: n, (n1, n2, ...), ("Varying", n), "Real", Automatic."""
    if spec is Automatic or spec is None:
        return TensorT(None)
    if isinstance(spec, TensorT):
        return spec
    if isinstance(spec, str):
        if spec == "Real":
            return TensorT(())
        if spec == VARYING:
            return TensorT((VARYING,))
        raise NetSpecificationError(
            f'{where}: the port specification {spec!r} is not known; use "Real", "Varying", '
            f'an integer n, a tuple of dimensions such as (2, 3), or ("Varying", n).'
        )
    if isinstance(spec, (tuple, list)):
        if len(spec) > 1 and spec[-1] is Ellipsis:  # (3, ...): leading dims, then any more
            return TensorT(None, tuple(_dim(d, i, where) for i, d in enumerate(spec[:-1])))
        dims = tuple(_dim(d, i, where) for i, d in enumerate(spec))
        check_size(math.prod(d for d in dims if isinstance(d, int)), where, f"the number of elements of dims {spec}")
        return TensorT(dims)
    return TensorT((_dim(spec, 0, where),))


def port_spec(t: TensorT):
    """The Wolfram-style specification of a type, as ``parse_port`` accepts it (for repr and NetExtract)."""
    if t.dims is None:
        return (*(Automatic if d is None else d for d in t.leading), ...) if t.leading else Automatic
    if t.dims == ():
        return "Real"
    dims = tuple(Automatic if d is None else d for d in t.dims)
    if len(dims) == 1 and isinstance(dims[0], int):
        return dims[0]
    return dims


def _dims_text(dims) -> str:
    return "(" + ", ".join("n" if d is None else str(d) for d in dims) + ")"


def describe(t: TensorT) -> str:
    """``t`` in words: "a length-3 vector", "a real number", "an array of dims (2, 3, 4)"."""
    dims = t.dims
    if dims is None:
        return f"an array of dims {_dims_text(t.leading)[:-1]}, \u2026)" if t.leading else "an array of any rank"
    if dims == ():
        return "a real number"
    if dims[0] == VARYING:
        rest = TensorT(dims[1:])
        if rest.dims == ():
            return "a sequence of real numbers"
        return f"a sequence of {_plural(describe(rest))}"
    if len(dims) == 1:
        return "a vector" if dims[0] is None else f"a length-{dims[0]} vector"
    if len(dims) == 2 and None not in dims:
        return f"a {dims[0]}\u00d7{dims[1]} matrix"
    return f"an array of dims {_dims_text(dims)}"


def _plural(text: str) -> str:
    """ "a length-3 vector" -> "length-3 vectors", "a 2×3 matrix" -> "2×3 matrices",
    "an array of dims (2, 3, 4)" -> "arrays of dims (2, 3, 4)"."""
    text = text.removeprefix("an ").removeprefix("a ")
    noun, _, rest = text.partition(" of ")
    noun = noun[:-2] + "ices" if noun.endswith("matrix") else noun + "s"
    return f"{noun} of {rest}" if rest else noun


def unify(a: TensorT, b: TensorT, where: str) -> TensorT:
    """The most specific type that is both ``a`` and ``b``; NetShapeError naming ``where`` if none."""
    if a.dims is None or b.dims is None:
        return _unify_open(a, b, where) if a.leading or b.leading else (b if a.dims is None else a)
    if len(a.dims) != len(b.dims):
        raise NetShapeError(f"{where}: {describe(a)} is inconsistent with {describe(b)}.")
    return TensorT(_merge_dims(a, b, a.dims, b.dims, where))


def _unify_open(a: TensorT, b: TensorT, where: str) -> TensorT:
    """:func:`unify` when one of the types has an unknown rank and known leading dims."""
    if a.dims is not None:
        a, b = b, a  # ``a`` has the unknown rank
    if b.dims is None:  # both open: the longer leading dims, merged where both have them
        short, long = sorted((a.leading, b.leading), key=len)
        merged = _merge_dims(a, b, short, long[: len(short)], where)
        return TensorT(None, merged + long[len(short):])
    if len(b.dims) < len(a.leading):
        raise NetShapeError(f"{where}: {describe(a)} is inconsistent with {describe(b)}.")
    head = _merge_dims(a, b, a.leading, b.dims[: len(a.leading)], where)
    return TensorT(head + b.dims[len(a.leading):])


def _merge_dims(a: TensorT, b: TensorT, xs: tuple, ys: tuple, where: str) -> tuple:
    """Dim by dim, the more specific of ``xs`` and ``ys`` (from ``a`` and ``b``, named in errors)."""
    merged = []
    for x, y in zip(xs, ys):
        if x is None or x == y:
            merged.append(y)
        elif y is None:
            merged.append(x)
        elif VARYING in (x, y):
            # A variable length meets a fixed one: the fixed length wins, as a length
            # variable of Wolfram's type system is bound by unification.
            merged.append(x if y == VARYING else y)
        else:
            raise NetShapeError(f"{where}: {describe(a)} is inconsistent with {describe(b)}.")
    return tuple(merged)
