"""The options and shape arithmetic that ConvolutionLayer and PoolingLayer share.

No torch here: these functions work on the symbolic dims of :mod:`wlnet.types` (a size may be an
int, ``None`` while unknown, or ``"Varying"``), before any data.

Specifications (Wolfram's forms, as keyword values):

* a kernel size, ``Stride`` or ``Dilation``: a positive int ``n`` (the same for every spatial
  dim) or a tuple ``(n1, n2, ...)`` of 1 to 3 positive ints, one per spatial dim
  (:func:`parse_sizes`);
* ``PaddingSize``: zeros added to each spatial dim: ``n`` (n before and n after each), ``(n1, n2,
  ...)`` (per dim, both sides), ``((b1, a1), (b2, a2), ...)`` (b before, a after), or ``"Same"``
  (:func:`parse_padding`). ``"Same"`` pads so that the output size is ``Ceiling(in / stride)``;
  the total ``max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0)`` is split with the extra
  element of an odd total at the end (after), as ONNX's ``auto_pad="SAME_UPPER"`` and
  TensorFlow's ``"SAME"`` do (the Wolfram documentation gives the total, not the split);
* ``Interleaving``: False (the default) puts the channels first, ``{c, d1, ...}``; True puts them
  last, ``{d1, ..., c}`` (:func:`split_channels`, :func:`join_channels`).

The dimensionality (the number of spatial dims, 1, 2 or 3) comes from a tuple specification
(every tuple given must have the same length) or else from the input's rank (rank - 1)
(:func:`dimensionality`); :func:`expand` then repeats an int specification to that length.

Per spatial dim, the output size is (:func:`output_size`)::

    out = floor((in + before + after - (dilation * (k - 1) + 1)) / stride) + 1

>>> kernel, stride = parse_sizes((3, 2), "kernel size", "ConvolutionLayer"), parse_sizes(2, "Stride", "L")
>>> d = dimensionality("ConvolutionLayer", {"kernel size": kernel, "Stride": stride}, None)
>>> d, expand(stride, d)
(2, (2, 2))
>>> pads = padding_pairs(parse_padding(((1, 2), (2, 1)), "L"), 2)
>>> pads
((1, 2), (2, 1))
>>> output_sizes((7, None), expand(kernel, d), expand(stride, d), (1, 1), pads, "L", 'port "Input"')
(4, None)
>>> output_sizes((7, 5), (3, 3), (2, 2), (1, 1), SAME, "L", 'port "Input"')
(4, 3)
>>> same_padding(5, 3, 2, 1), same_padding(6, 3, 2, 1)
((1, 1), (0, 1))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NetShapeError, NetSpecificationError
from ..types import VARYING, TensorT, as_int, check_size, describe

__all__ = [
    "SAME",
    "Padding",
    "Sizes",
    "compact",
    "dimensionality",
    "effective_kernel",
    "expand",
    "input_sizes",
    "join_channels",
    "output_size",
    "output_sizes",
    "padding_pairs",
    "parse_dimensionality",
    "parse_interleaving",
    "parse_padding",
    "parse_sizes",
    "resolved_padding",
    "same_padding",
    "spec_rank",
    "split_channels",
    "torch_pad",
    "onnx_pads",
]

SAME = "Same"

Sizes = int | tuple[int, ...]
"""A parsed kernel size, Stride or Dilation: one int for every spatial dim, or one per dim."""

Padding = int | tuple[int, ...] | tuple[tuple[int, int], ...] | str
"""A parsed PaddingSize: ``n``, ``(n1, ...)``, ``((b1, a1), ...)`` or ``"Same"``."""

_DIMENSIONALITY_TEXT = "the dimensionality (number of spatial dimensions) must be either 1, 2 or 3"


def _positive(value: Any, minimum: int, where: str = "", what: str = "") -> int | None:
    number = as_int(value)
    if number is not None and where:
        check_size(number, where, what)
    return number if number is not None and number >= minimum else None


def parse_sizes(value: Any, option: str, where: str) -> Sizes:
    """A kernel size, Stride or Dilation: a positive int, or a tuple (list) of 1-3 of them.

    >>> parse_sizes(3, "Stride", "L"), parse_sizes([2, 1], "Stride", "L")
    (3, (2, 1))
    >>> parse_sizes(0, "Stride", "PoolingLayer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wlnet.errors.NetSpecificationError: PoolingLayer: the Stride should be a positive integer or a tuple of ...
    """
    expected = (
        f"{where}: the {option} should be a positive integer or a tuple of 1, 2 or 3 positive integers "
        f"(one per spatial dimension), but was {value!r}."
    )
    if isinstance(value, (tuple, list)):
        sizes = tuple(_positive(v, 1, where, f"the {option}") for v in value)
        if None in sizes:
            raise NetSpecificationError(expected)
        if not 1 <= len(sizes) <= 3:
            raise NetSpecificationError(f"{where}: the {option} {value!r}: {_DIMENSIONALITY_TEXT}.")
        return sizes  # type: ignore[return-value]
    size = _positive(value, 1, where, f"the {option}")
    if size is None:
        raise NetSpecificationError(expected)
    return size


def _pair(value: Any, where: str) -> tuple[int, int] | None:
    what = "the PaddingSize"
    if isinstance(value, (tuple, list)) and len(value) == 2:
        before, after = _positive(value[0], 0, where, what), _positive(value[1], 0, where, what)
        return None if before is None or after is None else (before, after)
    size = _positive(value, 0, where, what)
    return None if size is None else (size, size)


def parse_padding(value: Any, where: str) -> Padding:
    """A PaddingSize: ``n``, ``(n1, ...)``, ``((b1, a1), ...)`` (non-negative ints) or ``"Same"``.

    A tuple mixing ints and pairs is taken per dim: ``(1, (0, 2))`` is ``((1, 1), (0, 2))``.

    >>> parse_padding(1, "L"), parse_padding([1, 2], "L"), parse_padding([[0, 1], [1, 0]], "L")
    (1, (1, 2), ((0, 1), (1, 0)))
    >>> parse_padding("Same", "L"), parse_padding((1, (0, 2)), "L")
    ('Same', ((1, 1), (0, 2)))
    """
    if value == SAME and isinstance(value, str):
        return SAME
    expected = (
        f'{where}: the PaddingSize should be a non-negative integer n, a tuple (n1, n2, ...), a tuple of pairs '
        f'((before1, after1), (before2, after2), ...) with one entry per spatial dimension, or "Same", '
        f"but was {value!r}."
    )
    if isinstance(value, (tuple, list)):
        pairs = tuple(_pair(v, where) for v in value)
        if None in pairs:
            raise NetSpecificationError(expected)
        if not 1 <= len(pairs) <= 3:
            raise NetSpecificationError(f"{where}: the PaddingSize {value!r}: {_DIMENSIONALITY_TEXT}.")
        if all(isinstance(v, (tuple, list)) for v in value) or any(b != a for b, a in pairs):  # type: ignore[misc]
            return pairs  # type: ignore[return-value]
        return tuple(b for b, _ in pairs)  # type: ignore[misc]
    size = _positive(value, 0, where, "the PaddingSize")
    if size is None:
        raise NetSpecificationError(expected)
    return size


def parse_interleaving(value: Any, where: str) -> bool:
    """Interleaving: True (channels last) or False (channels first)."""
    if value is True or value is False:
        return value
    raise NetSpecificationError(
        f"{where}: Interleaving should be True (channels last) or False (channels first, the default), "
        f"but was {value!r}."
    )


def parse_dimensionality(value: Any, where: str) -> int:
    """A Dimensionality given as a number (the callers take Automatic): 1, 2 or 3."""
    d = as_int(value)
    if d is None or not 1 <= d <= 3:
        raise NetSpecificationError(
            f"{where}: Dimensionality should be 1, 2 or 3 (the number of spatial dimensions) or Automatic, but was "
            f"{value!r}."
        )
    return d


def spec_rank(spec: Any) -> int | None:
    """The number of spatial dims a specification fixes: its length if a tuple, else None."""
    return len(spec) if isinstance(spec, tuple) else None


def dimensionality(where: str, specs: Mapping[str, Any], rank: int | None, port: str = 'port "Input"') -> int | None:
    """The number of spatial dims: the length of the tuple specifications (which must agree), or
    else the input's ``rank`` minus 1 (the channel dim); None while neither is known.

    >>> dimensionality("L", {"kernel size": 3, "Stride": (2, 2)}, None), dimensionality("L", {"kernel size": 3}, 4)
    (2, 3)
    >>> dimensionality("ConvolutionLayer", {"kernel size": (3, 3)}, 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wlnet.errors.NetShapeError: ConvolutionLayer: the kernel size (3, 3) has 2 spatial dimensions, so port "Input" ...
    """
    d, given = None, None
    for option, spec in specs.items():
        length = spec_rank(spec)
        if length is None:
            continue
        if d is not None and length != d:
            raise NetSpecificationError(
                f"{where}: the {given[0]} {given[1]!r} has {d} spatial dimensions, but the {option} "  # type: ignore[index]
                f"{spec!r} has {length}; give one value per spatial dimension, or one int for all."
            )
        d, given = length, (option, spec)
    if d is not None:
        if rank is not None and rank != d + 1:
            raise NetShapeError(
                f"{where}: the {given[0]} {given[1]!r} has {d} spatial dimension{'s' if d > 1 else ''}, "  # type: ignore[index]
                f"so {port} should have rank {d + 1} (channels and {d} spatial dimension{'s' if d > 1 else ''}), "
                f"but has rank {rank}."
            )
        return d
    if rank is None:
        return None
    if not 1 <= rank - 1 <= 3:
        raise NetShapeError(
            f"{where}: {port} should be an array of rank 2, 3 or 4 (channels and 1, 2 or 3 spatial dimensions), "
            f"but has rank {rank}: {_DIMENSIONALITY_TEXT}."
        )
    return rank - 1


def expand(spec: Sizes, d: int) -> tuple[int, ...]:
    """An int repeated ``d`` times; a tuple as it is (its length is ``d`` by :func:`dimensionality`).

    >>> expand(2, 3), expand((1, 2), 2)
    ((2, 2, 2), (1, 2))
    """
    return spec if isinstance(spec, tuple) else (spec,) * d


def compact(values: tuple) -> Any:
    """One int when every spatial dim has the same value, else the tuple (:func:`expand`'s inverse).

    >>> compact((2, 2, 2)), compact((1, 2))
    (2, (1, 2))
    """
    return values[0] if len(set(values)) == 1 else values


def padding_pairs(padding: Padding, d: int) -> tuple[tuple[int, int], ...] | str:
    """A PaddingSize as ``((before, after), ...)``, one pair per spatial dim; ``"Same"`` stays.

    >>> padding_pairs(1, 2), padding_pairs((1, 2), 2), padding_pairs("Same", 2)
    (((1, 1), (1, 1)), ((1, 1), (2, 2)), 'Same')
    """
    if padding == SAME:
        return SAME
    if isinstance(padding, int):
        return ((padding, padding),) * d
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)  # type: ignore[misc]


def effective_kernel(kernel: int, dilation: int) -> int:
    """The span of a dilated kernel: ``dilation * (kernel - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """The ``(before, after)`` padding of ``"Same"`` for one spatial dim of ``size``: output
    ``ceil(size / stride)``, the extra element of an odd total after (ONNX SAME_UPPER)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def resolved_padding(
    padding: tuple[tuple[int, int], ...] | str, sizes: tuple, kernel: tuple, stride: tuple, dilation: tuple
) -> tuple[tuple[int, int], ...] | None:
    """Explicit ``((before, after), ...)`` pairs; for ``"Same"``, from the spatial ``sizes``
    (None when one of them is not a known int)."""
    if padding != SAME:
        return padding  # type: ignore[return-value]
    if not all(isinstance(s, int) for s in sizes):
        return None
    return tuple(same_padding(*args) for args in zip(sizes, kernel, stride, dilation))


def output_size(size: Any, kernel: int, stride: int, dilation: int, pads: tuple[int, int] | None, where: str,
                port: str, axis: int) -> Any:
    """One spatial dim's output size, or None / "Varying" as ``size`` is; ``pads`` None is
    ``"Same"``. ``axis`` (1-based) names the spatial dim in the errors.

    >>> output_size(7, 3, 2, 2, (2, 2), "L", "p", 1), output_size(None, 3, 1, 1, (0, 0), "L", "p", 1)
    (4, None)
    >>> output_size(3, 4, 1, 1, (0, 0), "ConvolutionLayer", 'port "Input"', 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wlnet.errors.NetShapeError: ConvolutionLayer: kernel size 4 cannot exceed input size 3 plus padding size 0 ...
    """
    if size is None or size == VARYING:
        return size
    if pads is None:
        return -(-size // stride)
    span = effective_kernel(kernel, dilation)
    padded = size + pads[0] + pads[1]
    if span > padded:
        dilated = f" (kernel {kernel} with dilation {dilation})" if dilation > 1 else ""
        raise NetShapeError(
            f"{where}: kernel size {span}{dilated} cannot exceed input size {size} plus padding size "
            f"{pads[0] + pads[1]} at spatial dimension {axis} of {port}."
        )
    return (padded - span) // stride + 1


def _pads(padding: tuple[tuple[int, int], ...] | str, d: int) -> tuple[tuple[int, int] | None, ...]:
    return (None,) * d if isinstance(padding, str) else padding


def output_sizes(sizes: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                 padding: tuple[tuple[int, int], ...] | str, where: str, port: str) -> tuple:
    """The output's spatial sizes from the input's (see :func:`output_size`)."""
    return tuple(
        output_size(size, k, s, dil, pads, where, port, axis)
        for axis, (size, k, s, dil, pads) in enumerate(
            zip(sizes, kernel, stride, dilation, _pads(padding, len(sizes))), start=1
        )
    )


def input_sizes(sizes: tuple, kernel: tuple, stride: tuple, dilation: tuple,
                padding: tuple[tuple[int, int], ...] | str, where: str, port: str) -> tuple:
    """The input's spatial sizes that the output's ``sizes`` determine: where the stride is 1
    (several input sizes give one output size otherwise: None); "Varying" stays.

    >>> input_sizes((5, 4), (3, 3), (1, 2), (1, 1), ((1, 1), (0, 0)), "L", "p")
    (5, None)
    >>> input_sizes((1,), (3,), (1,), (1,), ((3, 3),), "ConvolutionLayer", 'port "Output"')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wlnet.errors.NetShapeError: ConvolutionLayer: an input with non-positive dimensions was inferred: ...
    """
    result = []
    for axis, (out, k, s, dil, pads) in enumerate(
        zip(sizes, kernel, stride, dilation, _pads(padding, len(sizes))), start=1
    ):
        if out is None or out == VARYING or s != 1:
            result.append(VARYING if out == VARYING else None)
            continue
        if pads is None:
            result.append(out)
            continue
        pad = pads[0] + pads[1]
        size = out - 1 + effective_kernel(k, dil) - pad
        if size < 1:
            raise NetShapeError(
                f"{where}: an input with non-positive dimensions was inferred: {port} has size {out} at spatial "
                f"dimension {axis}, which needs an input of size {size} with kernel size {effective_kernel(k, dil)} "
                f"and padding size {pad}."
            )
        result.append(size)
    return tuple(result)


def split_channels(t: TensorT, interleaving: bool, where: str, port: str = "Input") -> tuple[Any, tuple | None]:
    """``(channels, spatial dims)`` of a port type (``dims`` None: ``(None, None)``); a
    "Varying" channel dim is an error.

    >>> split_channels(TensorT((3, 5, 7)), False, "L"), split_channels(TensorT((5, 7, 3)), True, "L")
    ((3, (5, 7)), (3, (5, 7)))
    >>> split_channels(TensorT(("Varying", 4)), False, "ConvolutionLayer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wlnet.errors.NetShapeError: ConvolutionLayer: the number of channels of port "Input" ... cannot be "Varying" ...
    """
    if t.dims is None:
        return None, None
    if not t.dims:
        raise NetShapeError(
            f'{where}: port "{port}" should be an array of rank 2, 3 or 4 (channels and 1, 2 or 3 spatial '
            f"dimensions), but is {describe(t)}."
        )
    channels, spatial = (t.dims[-1], t.dims[:-1]) if interleaving else (t.dims[0], t.dims[1:])
    if channels == VARYING:
        hint = "" if interleaving else " To use a dynamic spatial dimension, use Interleaving=True (channels last)."
        raise NetShapeError(
            f'{where}: the number of channels of port "{port}" ({describe(t)}) cannot be "Varying" (dynamic).{hint}'
        )
    return channels, spatial


def join_channels(channels: Any, spatial: tuple, interleaving: bool) -> TensorT:
    """The port type with ``channels`` and the ``spatial`` dims, channels first or last."""
    return TensorT((*spatial, channels) if interleaving else (channels, *spatial))


def torch_pad(pairs: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """The ``pad`` argument of ``torch.nn.functional.pad`` for ``((before, after), ...)`` on the
    spatial dims (the last spatial dim first, as F.pad counts).

    >>> torch_pad(((1, 2), (3, 4)))
    (3, 4, 1, 2)
    """
    return tuple(p for pair in reversed(pairs) for p in pair)


def onnx_pads(pairs: tuple[tuple[int, int], ...]) -> list[int]:
    """ONNX's ``pads`` attribute for ``((before, after), ...)``: every before, then every after.

    >>> onnx_pads(((1, 2), (3, 4)))
    [1, 3, 2, 4]
    """
    return [b for b, _ in pairs] + [a for _, a in pairs]
