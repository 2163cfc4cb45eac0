"""SoftmaxLayer, DropoutLayer, ReshapeLayer and FlattenLayer's groups of levels as ONNX nodes, and
those nodes read back as the layers.

Export:

* ``SoftmaxLayer(n)``: ``Softmax`` with ``axis`` = n on the batched tensor (a negative n as it is)
  from opset 13. Below 13 Softmax normalizes over every axis from ``axis`` on, so only the last
  level maps directly (``axis`` = the example's rank); another level is moved last by a
  ``Transpose``, normalized there, and moved back by the same ``Transpose``.
* ``DropoutLayer(p)``: ``Dropout`` in inference (the identity), its ratio p an input from opset 12
  and an attribute before. ``Method -> "AlphaDropout"`` is written the same way: ONNX has no alpha
  dropout, and both are the identity in inference (a model wlnet wrote gives the Method back from
  its description).
* ``ReshapeLayer``: ``Reshape`` to (batch, *output dims), a ``0`` copying a "Varying" first level.
* ``FlattenLayer`` of groups that reorder levels (``[[2, 3]]``): a ``Transpose`` before the
  ``Reshape`` that :mod:`wlnet.onnx.emit` writes for every FlattenLayer.

Import: ``Softmax`` (opset 13 on: any axis but the batch axis; before: the last axis, or one
followed only by axes of size 1; else refused, saying why) is a SoftmaxLayer; ``Dropout`` is a
DropoutLayer of its ratio (refused when its mask output is used or its training_mode is not a
constant false); a ``Reshape`` of whole examples that is no FlattenLayer is a ReshapeLayer
(:func:`reshape_layer`, which :mod:`wlnet.onnx.ops` falls back to); a ``Transpose`` read by
:func:`read_transpose`: between a Softmax's two transposes, or before a Reshape that merges runs of
the transposed levels (a FlattenLayer of groups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..layers.base import Layer
from ..layers.dropout import DropoutLayer
from ..layers.flatten import FlattenLayer
from ..layers.reshape import ReshapeLayer
from ..layers.softmax import SoftmaxLayer
from ..symbols import Automatic, Inherited
from ..types import VARYING
from .builder import Builder
from .common import shortest_float32

__all__ = ["EMITTERS", "READERS", "READ_OPS", "read_transpose", "reshape_layer"]


# -- export ------------------------------------------------------------------------------------------
def emit_softmax(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    assert isinstance(layer, SoftmaxLayer)
    dims = layer._ports["Input"].dims
    assert dims is not None  # the exporter checked every port's dims
    rank, level, where, x = len(dims), layer.level, layer._where, inputs["Input"]
    axis = level if level > 0 else rank + 1 + level  # on the batched tensor
    if b.opset >= 13:
        return {"Output": b.node(prefix, "Softmax", [x], since=1 if axis == rank else 13, where=where, axis=level)}
    if axis == rank:
        return {"Output": b.node(prefix, "Softmax", [x], since=1, where=where, axis=rank)}
    perm = list(range(rank + 1))
    perm[axis], perm[rank] = rank, axis
    x = b.node(prefix, "Transpose", [x], since=1, where=where, perm=perm)
    x = b.node(prefix, "Softmax", [x], since=1, where=where, axis=rank)
    return {"Output": b.node(prefix, "Transpose", [x], since=1, where=where, perm=perm)}


def emit_dropout(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    assert isinstance(layer, DropoutLayer)
    x, where = inputs["Input"], layer._where
    if b.opset >= 12:
        ratio = b.constant(prefix, layer.p)
        return {"Output": b.node(prefix, "Dropout", [x, ratio], since=12, where=where)}
    return {"Output": b.node(prefix, "Dropout", [x], since=7, where=where, ratio=layer.p)}


def emit_reshape(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    dims = layer._ports["Output"].dims
    assert dims is not None
    shape = [0, *(0 if d == VARYING else d for d in dims)]
    x = b.node(prefix, "Reshape", [inputs["Input"], b.constant(prefix, shape, np.int64)], since=5, where=layer._where)
    return {"Output": x}


def transpose_for_groups(b: Builder, layer: FlattenLayer, prefix: str, x: str) -> str:
    """``x`` with the levels of each example in the order a FlattenLayer's groups read them (a
    Transpose), or ``x`` itself when they keep the order."""
    order = layer._permutation()
    if order is None:
        return x
    return b.node(prefix, "Transpose", [x], since=1, where=layer._where, perm=[0, *(a + 1 for a in order)])


# -- import ------------------------------------------------------------------------------------------
def _softmax(r: Any, node: Any) -> None:
    attributes = r.attributes(node)
    shape = r.shapes.get(node.input[0])
    if r.opset >= 13:
        axis = int(attributes.get("axis", -1))
        if axis == 0 or shape is not None and axis == -len(shape):
            raise r.unsupported(node, "it normalizes over the batch axis; a net keeps the examples of a batch apart")
        r.add(node, SoftmaxLayer(axis), node.input[0], node.output[0])
        return
    axis = int(attributes.get("axis", 1))
    if shape is None:
        raise r.unsupported(node, f"before opset 13, Softmax normalizes over every axis from {axis} on, so the "
                                  "rank of its input must be known")
    axis %= len(shape)
    if axis == 0:
        raise r.unsupported(node, "it normalizes over every axis, the batch axis too")
    if axis == len(shape) - 1:
        r.add(node, SoftmaxLayer(), node.input[0], node.output[0])
    elif all(d == 1 for d in shape[axis + 1:]):
        r.add(node, SoftmaxLayer(axis), node.input[0], node.output[0])
    else:
        raise r.unsupported(node, f"before opset 13, Softmax with axis={axis} normalizes over axes {axis} to "
                                  f"{len(shape) - 1} together, which no SoftmaxLayer does (it normalizes over one "
                                  "level)")


def _dropout(r: Any, node: Any) -> None:
    outputs = {v.name for v in r.graph.output}
    if len(node.output) > 1 and node.output[1] and (r.consumers.get(node.output[1]) or node.output[1] in outputs):
        raise r.unsupported(node, "its second output (the mask) is used; DropoutLayer gives only its output")
    if r.opset >= 12:
        ratio = float(r.const(node, 1, "ratio")) if len(node.input) > 1 and node.input[1] else 0.5
        if len(node.input) > 2 and node.input[2] and bool(r.const(node, 2, "training_mode")):
            raise r.unsupported(node, "its training_mode is true: it drops elements in inference")
    else:
        ratio = float(r.attributes(node).get("ratio", 0.5))
    ratio = shortest_float32(ratio)  # 0.3, not 0.30000001192092896
    if not 0 <= ratio < 1:
        raise r.unsupported(node, f"its ratio {ratio} is not between 0 and 1 (1 excluded)")
    r.add(node, DropoutLayer(ratio), node.input[0], node.output[0])


def reshape_layer(r: Any, node: Any, dims_in: list, target: list[int]) -> Layer:
    """The ReshapeLayer a Reshape of whole examples (dims ``dims_in``, the batch axis left out) to
    ``target`` (after the batch axis: ints, 0 copying, -1 inferred) is; a FlattenLayer of groups in
    a model wlnet wrote of a FlattenLayer alone (its graph's name), which the model's graph gives
    back only so."""
    if r.made_by_wlnet and r.graph.name == "FlattenLayer":
        out = [dims_in[i] if d == 0 and i < len(dims_in) else d for i, d in enumerate(target)]
        groups = _runs(dims_in, list(range(len(dims_in))), out)
        if groups is not None:
            return FlattenLayer(groups)
    dims: list = []
    for i, d in enumerate(target):
        if d == -1:
            dims.append(Automatic)
        elif d == 0:
            known = dims_in[i] if i < len(dims_in) else None
            if known is None:
                raise r.unsupported(node, f"entry {i + 1} of its shape copies a dim its input does not have")
            dims.append(known if isinstance(known, int) and known > 0 else Inherited)
        elif d > 0:
            dims.append(d)
        else:
            raise r.unsupported(node, f"its shape {target} has the entry {d}")
    return ReshapeLayer(tuple(dims))


def read_transpose(r: Any, node: Any) -> bool:
    """Read a Transpose of this module's patterns (see the module doc), returning True; False when
    it is none of them (another family's reader may know it)."""
    perm = [int(p) for p in r.attributes(node).get("perm", [])]
    user = r.only_consumer(node.output[0])
    if len(perm) < 2 or perm[0] != 0 or sorted(perm) != list(range(len(perm))) or user is None:
        return False
    if user.op_type == "Softmax":
        return _transposed_softmax(r, node, perm, user)
    if user.op_type == "Reshape":
        return _grouping_flatten(r, node, perm, user)
    return False


def _transposed_softmax(r: Any, node: Any, perm: list[int], softmax: Any) -> bool:
    """Transpose (one axis and the last swapped), Softmax over the last axis, the same Transpose."""
    last = len(perm) - 1
    moved = [i for i, p in enumerate(perm) if p != i]
    back = r.only_consumer(softmax.output[0])
    axis = int(r.attributes(softmax).get("axis", -1 if r.opset >= 13 else 1)) % len(perm)
    if len(moved) != 2 or moved[1] != last or axis != last or back is None or back.op_type != "Transpose":
        return False
    if [int(p) for p in r.attributes(back).get("perm", [])] != perm:
        return False
    r.mark_read(softmax, back)
    r.add(node, SoftmaxLayer(moved[0]), node.input[0], back.output[0])
    return True


def _grouping_flatten(r: Any, node: Any, perm: list[int], reshape: Any) -> bool:
    """Transpose, then a Reshape merging runs of the transposed levels: FlattenLayer of groups."""
    shape = r.shapes.get(node.input[0])
    if shape is None or reshape.input[1] not in r.constants:
        return False
    order = [p - 1 for p in perm[1:]]
    target = [int(d) for d in np.asarray(r.constants[reshape.input[1]]).reshape(-1)]
    if not target or target[0] not in (0, -1):
        return False
    sizes = [shape[p] for p in perm[1:]]
    groups = _runs([shape[1:][a] for a in range(len(order))], order,
                   [sizes[i] if d == 0 and i < len(sizes) else d for i, d in enumerate(target[1:])])
    if groups is None:
        return False
    r.mark_read(reshape)
    r.add(node, FlattenLayer(groups), node.input[0], reshape.output[0])
    return True


def _runs(dims: list, order: list[int], out: list) -> list[list[int]] | None:
    """The groups of levels (1-based) that a FlattenLayer reading the levels of an example of dims
    ``dims`` in ``order`` and merging runs of them into dims ``out`` has (the levels it need not name
    left out), or None when ``out`` merges no runs of known sizes."""
    sizes = [dims[a] for a in order]
    if not all(isinstance(s, int) and s > 0 for s in sizes) or not all(isinstance(d, int) for d in out):
        return None
    groups, start = [], 0
    for size in out:
        end = start + 1
        while end < len(sizes) and int(np.prod(sizes[start:end])) < size:
            end += 1
        if int(np.prod(sizes[start:end])) != size:
            return None
        groups.append([a + 1 for a in order[start:end]])
        start = end
    if start != len(sizes) or not groups:
        return None
    plan = _plan_of(groups, len(sizes))
    while len(groups) > 1 and len(groups[-1]) == 1 and _plan_of(groups[:-1], len(sizes)) == plan:
        groups.pop()  # the levels a group list leaves out follow in their order
    return groups


def _plan_of(groups: list, rank: int) -> Any:
    """What the groups do to an example of rank ``rank``: their order and their output dims on
    distinct prime sizes (which tell the merged levels apart)."""
    primes = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53)
    layer = FlattenLayer(groups, Input=tuple(primes[i % len(primes)] for i in range(rank)))
    return layer._permutation(), layer._ports["Output"].dims


EMITTERS: dict[type, Callable[[Builder, Layer, str, dict[str, str]], dict[str, str]]] = {
    SoftmaxLayer: emit_softmax,
    DropoutLayer: emit_dropout,
    ReshapeLayer: emit_reshape,
}
READERS: dict[str, Callable[[Any, Any], None]] = {"Softmax": _softmax, "Dropout": _dropout}
READ_OPS = ("Softmax", "Dropout", "Reshape (of whole examples)", "Transpose (around a Softmax, before a Reshape)")
