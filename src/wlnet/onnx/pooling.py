"""PoolingLayer and AggregationLayer as ONNX nodes, and those nodes read back as the layers.

Export:

* ``AggregationLayer(f, levels)``: ``ReduceMean``/``ReduceMax``/``ReduceMin``/``ReduceSum``/
  ``ReduceProd`` with ``keepdims=0`` over the levels' axes (one past them, for the batch axis),
  the axes as an attribute before opset 18 (13 for ReduceSum) and as an input from then on.
* ``PoolingLayer``: ``MaxPool`` (Max), ``AveragePool`` with ``count_include_pad=1`` (Mean, and
  Total as that times the kernel's volume, ``Mul``: ONNX has no sum pooling), a symmetric padding
  as the op's ``pads``; an asymmetric one as a zero ``Pad`` node first (so MaxPool includes the
  zeros, as the layer does); ``Interleaving=True`` between ``Transpose`` nodes (channels to
  dim 1 and back).

Import reads those forms back and the common ones other exporters write: ``GlobalAveragePool``/
``GlobalMaxPool`` followed by ``Flatten`` (axis 1), a ``Reshape`` to (batch, channels) or a
``Squeeze`` of the spatial axes (torchvision's ``avgpool`` then ``flatten``) is
``AggregationLayer("Mean"/"Max")``, and without such a node it is that and a
``ReshapeLayer((All, 1, ...))`` putting back the size-1 dims; a ``Reduce*`` with ``keepdims=1``
likewise (the ReshapeLayer only where the reduced axes are the last ones); a ``Pad`` (zeros, or
-inf before a MaxPool with equal padding on both sides) is absorbed into the pooling after it.
Refused, saying why: ``ceil_mode=1``, dilations, ``count_include_pad=0`` with nonzero pads (each
window divided by its count of input elements, which no PoolingLayer computes), MaxPool with
unequal pads (ONNX ignores them; the layer pads with zeros), a used indices output, a reduction of
the batch axis.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import NetSpecificationError
from ..layers.aggregation import AggregationLayer, aggregated_axes
from ..layers.base import Layer
from ..layers.flatten import FlattenLayer
from ..layers.pooling import PoolingLayer, pooling_pads
from ..layers.reshape import ReshapeLayer
from ..layers.spatial import SAME, expand, onnx_pads, same_padding
from ..symbols import All, Span
from . import forms
from .builder import Builder

__all__ = ["EMITTERS", "READERS", "READ_OPS"]

#: Aggregation function -> (its Reduce op, the opset from which that op takes its axes as an input).
_REDUCE = {"Mean": ("ReduceMean", 18), "Max": ("ReduceMax", 18), "Min": ("ReduceMin", 18), "Total": ("ReduceSum", 13),
           "Times": ("ReduceProd", 18)}
_REDUCED = {op: (function, since) for function, (op, since) in _REDUCE.items()}
_GLOBAL = {"GlobalAveragePool": "Mean", "GlobalMaxPool": "Max"}
_POOLS = ("MaxPool", "AveragePool")


# -- export --------------------------------------------------------------------------------------------
def emit_aggregation(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """One Reduce node, keepdims=0, over the levels' axes."""
    assert isinstance(layer, AggregationLayer)
    dims = layer._ports["Input"].dims
    assert dims is not None  # the exporter checked every port's dims
    axes = [a + 1 for a in aggregated_axes(layer.levels, len(dims), layer._where)]
    op, since = _REDUCE[layer.function]
    x, where = inputs["Input"], layer._where
    if b.opset >= since:
        y = b.node(prefix, op, [x, b.constant(prefix, axes, np.int64)], since=since, where=where, keepdims=0)
    else:
        y = b.node(prefix, op, [x], since=1, where=where, axes=axes, keepdims=0)
    return {"Output": y}


def emit_pooling(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """MaxPool or AveragePool (see the module doc), between Transposes for Interleaving=True."""
    assert isinstance(layer, PoolingLayer)
    dims = layer._ports["Input"].dims
    assert dims is not None
    d, where, x = len(dims) - 1, layer._where, inputs["Input"]
    spatial = dims[:-1] if layer.interleaving else dims[1:]
    kernel, stride = expand(layer.kernel, d), expand(layer.stride, d)
    if layer.padding == SAME and not all(isinstance(n, int) for n in spatial):
        raise NetSpecificationError(
            f'Export: {where} cannot be exported to ONNX: PaddingSize "Same" on a "Varying" spatial dimension pads '
            "by the length of each sequence, and its Max pooling includes the zeros of an unequal padding, which "
            "ONNX's auto_pad does not; give the padding as numbers."
        )
    pairs = pooling_pads(layer.padding, tuple(spatial), kernel, stride)
    if layer.interleaving:
        x = b.node(prefix, "Transpose", [x], since=1, where=where, perm=[0, d + 1, *range(1, d + 1)])
    pads = onnx_pads(pairs)
    if any(before != after for before, after in pairs):
        x = _zero_pad(b, prefix, x, pairs, where)
        pads = [0] * (2 * d)
    attributes = {"kernel_shape": list(kernel), "strides": list(stride), "pads": pads}
    if layer.function == "Max":
        y = b.node(prefix, "MaxPool", [x], since=1, where=where, **attributes)
    else:
        y = b.node(prefix, "AveragePool", [x], since=7, where=where, count_include_pad=1, **attributes)
        if layer.function == "Total":
            y = b.node(prefix, "Mul", [y, b.constant(prefix, float(np.prod(kernel)))], where=where)
    if layer.interleaving:
        y = b.node(prefix, "Transpose", [y], since=1, where=where, perm=[0, *range(2, d + 2), 1])
    return {"Output": y}


def _zero_pad(b: Builder, prefix: str, x: str, pairs: tuple, where: str) -> str:
    """A Pad node adding zeros to the spatial dims (not the batch and channel dims)."""
    pads = [0, 0, *(p for p, _ in pairs), 0, 0, *(p for _, p in pairs)]
    if b.opset >= 11:
        return b.node(prefix, "Pad", [x, b.constant(prefix, pads, np.int64)], since=11, where=where)
    return b.node(prefix, "Pad", [x], since=2, where=where, pads=pads)


Emitter = Callable[[Builder, Layer, str, dict[str, str]], dict[str, str]]
EMITTERS: dict[type, Emitter] = {AggregationLayer: emit_aggregation, PoolingLayer: emit_pooling}


# -- import --------------------------------------------------------------------------------------------
def _rank(r: Any, tensor: str) -> int | None:
    shape = r.shapes.get(tensor)
    return None if shape is None else len(shape)


def _levels(axes: list[int], rank: int | None) -> Any:
    """The levels of an AggregationLayer that reduces ``axes`` (of the batch, 0 not among them)."""
    if rank is not None:
        axes = sorted(a % rank for a in axes)
        if axes == list(range(1, rank)):
            return All
        if rank > 2 and axes == list(range(2, rank)):
            return Span(2, All)
    return axes[0] if len(axes) == 1 else axes


def _reduce(r: Any, node: Any) -> None:
    """A Reduce op over axes other than the batch axis: an AggregationLayer."""
    function, since = _REDUCED[node.op_type]
    attributes = r.attributes(node)
    if r.opset >= since:
        axes = r.const(node, 1, "axes") if len(node.input) > 1 and node.input[1] else None
    else:
        axes = attributes.get("axes")
    axes = None if axes is None or np.size(axes) == 0 else [int(a) for a in np.asarray(axes).reshape(-1)]
    rank = _rank(r, node.input[0])
    if axes is None:
        raise r.unsupported(node, "it reduces every axis, the batch axis too" if not attributes.get(
            "noop_with_empty_axes", 0) else "it reduces nothing (noop_with_empty_axes=1 without axes)")
    if any(a == 0 or (rank is not None and a == -rank) for a in axes):
        raise r.unsupported(node, f"its axes {axes} include the batch axis (0), which a net keeps apart")
    layer = AggregationLayer(function, _levels(axes, rank))
    kept = None if rank is None else rank - 1 - len(axes)
    spatial = None if rank is None else sorted(a % rank for a in axes)
    _add_aggregation(r, node, layer, kept, spatial, bool(attributes.get("keepdims", 1)))


def _global(r: Any, node: Any) -> None:
    """GlobalAveragePool or GlobalMaxPool: an AggregationLayer over levels 2 to the last, when its
    kept size-1 dims are dropped next (Flatten, Reshape or Squeeze)."""
    rank = _rank(r, node.input[0])
    spatial = None if rank is None else list(range(2, rank))
    _add_aggregation(r, node, AggregationLayer(_GLOBAL[node.op_type]), 1, spatial, True)


def _add_aggregation(r: Any, node: Any, layer: Layer, kept: int | None, axes: list | None, keepdims: bool) -> None:
    """The aggregation ``layer`` for ``node``; where the node keeps the reduced dims (of size 1), the
    node after it that drops them is absorbed (a Flatten that also merges several kept dims adds a
    FlattenLayer), or else, where they are the last dims, a ReshapeLayer puts them back."""
    if not keepdims:
        r.add(node, layer, node.input[0], node.output[0])
        return
    user = r.only_consumer(node.output[0])
    op = None if user is None else user.op_type
    flatten = op == "Flatten" and r.attributes(user).get("axis", 1) == 1 and kept is not None and kept >= 1
    squeeze = op == "Squeeze" and axes is not None and _squeezed(r, user) == axes
    reshape = op == "Reshape" and kept == 1 and _to_matrix(r, user)
    if not (flatten or squeeze or reshape):
        rank, shape = _rank(r, node.input[0]), r.shapes.get(node.input[0])
        last = rank is not None and axes is not None and axes == list(range(rank - len(axes), rank))
        known = shape is not None and axes is not None and all(isinstance(d, int) and d > 0 for d in shape[1:])
        if shape is not None and 0 in shape[1:]:
            raise r.unsupported(node, f"its input (dims {tuple(shape)}) is empty; a wlnet array has no dim of size 0")
        if not (last or known):
            raise r.unsupported(node, "it keeps the reduced axes as dims of size 1, which are not the last axes, and "
                                      "no Flatten (axis 1), Reshape to (batch, n) or Squeeze of those axes follows; "
                                      "AggregationLayer drops the levels it aggregates, and the input's dims, which "
                                      "a ReshapeLayer would need, are not all known")
        assert axes is not None and (shape is not None or last)
        dims = (All, *(1,) * len(axes)) if last or shape is None else tuple(
            1 if i in axes else d for i, d in enumerate(shape) if i)
        middle = f"{node.output[0]}/aggregated"
        r.add(node, layer, node.input[0], middle)
        r.add(SimpleNamespace(name=f"{node.name}/Reshape"), ReshapeLayer(dims), middle, node.output[0])
        return
    r.mark_read(user)
    if flatten and kept is not None and kept > 1:
        middle = f"{node.output[0]}/aggregated"
        r.add(node, layer, node.input[0], middle)
        r.add(user, FlattenLayer(), middle, user.output[0])
        return
    r.add(node, layer, node.input[0], user.output[0])


def _squeezed(r: Any, node: Any) -> list[int] | None:
    rank = _rank(r, node.input[0])
    if r.opset >= 13:
        axes = r.constants.get(node.input[1]) if len(node.input) > 1 else None
    else:
        axes = r.attributes(node).get("axes")
    if axes is None or rank is None:
        return None
    return sorted(int(a) % rank for a in np.asarray(axes).reshape(-1))


def _to_matrix(r: Any, node: Any) -> bool:
    target = r.constants.get(node.input[1])
    if target is None:
        return False
    target = [int(d) for d in np.asarray(target).reshape(-1)]
    return len(target) == 2 and (target[0] in (0, -1) or target[1] == -1)


def _pool(r: Any, node: Any) -> None:
    function, kernel, stride, pairs, output = _pooling(r, node, None)
    r.add(node, _pooling_layer(r, node, function, kernel, stride, pairs, False), node.input[0], output)


def _pad(r: Any, node: Any) -> None:
    """A Pad right before a MaxPool or AveragePool: that pooling's padding."""
    user = r.only_consumer(node.output[0])
    if user is None or user.op_type not in _POOLS:
        raise r.unsupported(node, "wlnet reads a Pad only right before a MaxPool or AveragePool (as its padding)")
    function, kernel, stride, pairs, output = _pooling(r, user, node)
    r.mark_read(user)
    r.add(node, _pooling_layer(r, user, function, kernel, stride, pairs, False), node.input[0], output)


def _transpose(r: Any, node: Any) -> None:
    """Channels moved to dim 1, pooled (after a Pad, perhaps), and moved back: Interleaving=True."""
    perm = list(r.attributes(node).get("perm", []))
    d = len(perm) - 2
    user = r.only_consumer(node.output[0])
    if not 1 <= d <= 3 or perm != [0, d + 1, *range(1, d + 1)] or user is None or user.op_type not in (*_POOLS, "Pad"):
        raise r.unsupported(node, "wlnet reads a Transpose only around a pooling of channel-last data (a PoolingLayer "
                                  "with Interleaving=True)")
    pad, pool = (user, r.only_consumer(user.output[0])) if user.op_type == "Pad" else (None, user)
    if pool is None or pool.op_type not in _POOLS:
        raise r.unsupported(user, "wlnet reads a Pad only right before a MaxPool or AveragePool (as its padding)")
    function, kernel, stride, pairs, output = _pooling(r, pool, pad)
    back = r.only_consumer(output)
    back_perm = None if back is None or back.op_type != "Transpose" else list(r.attributes(back).get("perm", []))
    if back_perm != [0, *range(2, d + 2), 1]:
        raise r.unsupported(node, "the pooling after it is not followed by the Transpose moving the channels back last")
    r.mark_read(pad, pool, back)
    layer = _pooling_layer(r, pool, function, kernel, stride, pairs, True)
    r.add(node, layer, node.input[0], back.output[0])


def _pooling(r: Any, node: Any, pad: Any) -> tuple[str, tuple, tuple, tuple, str]:
    """(function, kernel, stride, padding pairs, output tensor) of a MaxPool or AveragePool (and the
    Pad before it, if any); a Mul by the kernel's volume after an AveragePool is absorbed (Total)."""
    attributes = r.attributes(node)
    kernel = tuple(int(k) for k in attributes.get("kernel_shape", ()))
    d = len(kernel)
    stride = tuple(int(s) for s in attributes.get("strides", [1] * d))
    if any(int(x) != 1 for x in attributes.get("dilations", [1] * d)):
        raise r.unsupported(node, f"its dilations {list(attributes['dilations'])} are not 1 (PoolingLayer has none)")
    if len(node.output) > 1 and node.output[1] and (r.consumers.get(node.output[1]) or node.output[1] in {
            v.name for v in r.graph.output}):
        raise r.unsupported(node, "its second output (the indices of the maxima) is used")
    pairs = _node_pads(r, node, attributes, kernel, stride)
    sizes = tuple((r.shapes.get(node.input[0]) or (None,) * (d + 2))[2:])
    if attributes.get("ceil_mode", 0) and not forms.ceil_is_floor(sizes, kernel, stride, pairs):
        raise r.unsupported(node, "ceil_mode=1 rounds output sizes up, here to other sizes than rounding down; "
                                  "PoolingLayer rounds them down")
    function = "Max" if node.op_type == "MaxPool" else "Mean"
    padded = any(p for pair in pairs for p in pair)
    if function == "Mean" and padded and not attributes.get("count_include_pad", 0):
        raise r.unsupported(node, "count_include_pad=0 with nonzero pads divides each window by its count of input "
                                  "elements; PoolingLayer's Mean counts the padding's zeros (count_include_pad=1)")
    if pad is not None:
        pairs = _pad_pairs(r, pad, function, padded, d)
    elif function == "Max" and any(b != a for b, a in pairs):
        raise r.unsupported(node, f"its unequal pads {onnx_pads(pairs)} are ignored by MaxPool, but an asymmetric "
                                  "padding of PoolingLayer pads with zeros that Max includes (Wolfram's)")
    if any(max(pair) >= k for pair, k in zip(pairs, kernel)):
        raise r.unsupported(node, f"its padding {[list(p) for p in pairs]} is not smaller than its kernel {kernel}")
    output = node.output[0]
    mul = r.only_consumer(output) if function == "Mean" else None
    if mul is not None and mul.op_type == "Mul":
        other = mul.input[1] if mul.input[0] == output else mul.input[0]
        volume = float(np.prod(kernel))
        value = r.constants.get(other)
        if value is not None and np.size(value) == 1 and abs(float(np.asarray(value).reshape(-1)[0]) - volume) < 1e-6:
            r.mark_read(mul)
            function, output = "Total", mul.output[0]
    return function, kernel, stride, pairs, output


def _node_pads(r: Any, node: Any, attributes: dict, kernel: tuple, stride: tuple) -> tuple:
    d = len(kernel)
    auto = attributes.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = [int(p) for p in attributes.get("pads", [0] * (2 * d))]
        return tuple(zip(pads[:d], pads[d:]))
    if auto == "VALID":
        return ((0, 0),) * d
    shape = r.shapes.get(node.input[0])
    spatial = None if shape is None else shape[2:]
    if spatial is None or not all(isinstance(n, int) and n > 0 for n in spatial):
        raise r.unsupported(node, f"auto_pad={auto} pads by its input's sizes, which are not known")
    pairs = [same_padding(n, k, s, 1) for n, k, s in zip(spatial, kernel, stride)]
    return tuple((a, b) if auto == "SAME_LOWER" else (b, a) for b, a in pairs)


def _pad_pairs(r: Any, pad: Any, function: str, padded: bool, d: int) -> tuple:
    """The spatial ``((before, after), ...)`` of a Pad before a pooling (which has no pads of its own)."""
    attributes = r.attributes(pad)
    if attributes.get("mode", "constant") != "constant":
        raise r.unsupported(pad, f'its mode "{attributes["mode"]}" is not "constant"')
    if r.opset >= 11:
        pads = r.const(pad, 1, "pads")
        value = r.const(pad, 2, "constant value") if len(pad.input) > 2 and pad.input[2] else np.zeros(())
        if len(pad.input) > 3 and pad.input[3]:
            raise r.unsupported(pad, "wlnet reads a Pad of every axis (without axes)")
    else:
        pads, value = attributes.get("pads", []), attributes.get("value", 0.0)
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    fill = float(np.asarray(value).reshape(-1)[0])
    if padded:
        raise r.unsupported(pad, "the pooling after it has pads of its own")
    if len(pads) != 2 * (d + 2) or any(pads[i] for i in (0, 1, d + 2, d + 3)) or min(pads) < 0:
        raise r.unsupported(pad, f"its pads {pads} are not non-negative amounts on the spatial axes only")
    pairs = tuple(zip(pads[2:d + 2], pads[d + 4:]))
    symmetric = all(b == a for b, a in pairs)
    if function == "Max" and fill == float("-inf") and symmetric:
        return pairs  # ignored by Max: PoolingLayer's symmetric padding
    if fill != 0:
        raise r.unsupported(pad, f"it pads with {fill:g}, not with zeros")
    if function == "Max" and symmetric:
        raise r.unsupported(pad, "its zeros, equal on both sides, would count in the MaxPool after it, but "
                                 "PoolingLayer's Max ignores an equal padding on both sides")
    return pairs


def _pooling_layer(r: Any, node: Any, function: str, kernel: tuple, stride: tuple, pairs: tuple,
                   interleaving: bool) -> Layer:
    if all(b == a for b, a in pairs):
        padding: Any = tuple(b for b, _ in pairs)
        padding = 0 if not any(padding) else padding
    else:
        padding = pairs
    options: dict[str, Any] = {"Function": function, "PaddingSize": padding, "Interleaving": interleaving}
    return PoolingLayer(kernel, stride if any(s != 1 for s in stride) else 1, **options)


READERS: dict[str, Callable[[Any, Any], None]] = {
    **dict.fromkeys(_REDUCED, _reduce), **dict.fromkeys(_GLOBAL, _global), **dict.fromkeys(_POOLS, _pool),
    "Pad": _pad, "Transpose": _transpose,
}
#: What these readers read, for the error naming every op wlnet reads.
READ_OPS = (*_REDUCED, *_GLOBAL, *_POOLS, "Pad (before a pooling)", "Transpose (around a pooling)")
