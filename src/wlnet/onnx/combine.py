"""TotalLayer and CatenateLayer as ONNX nodes, and those nodes read back as the layers.

Export:

* ``TotalLayer``: ``Add`` of its two inputs, ``Sum`` of three or more (``Identity`` of one).
* ``CatenateLayer(n)``: ``Concat`` with ``axis`` the level's axis on the batched tensor (level
  n > 0 is axis n; a negative level is the same negative axis from opset 11, the positive one
  before). An input of lower rank is first repeated over the leading dims of the highest-rank
  input: ``Unsqueeze`` then ``Expand`` to those dims (from the graph's ``Shape`` where one is
  "Varying").

Import reads an ``Add`` of two computed tensors (an ``Add`` of a constant is refused, but for one number,
an ElementwiseLayer, and the biases after a MatMul) and a ``Sum`` as ``TotalLayer`` with as many ports as the
node has inputs, and a ``Concat`` of computed tensors as ``CatenateLayer`` at the level of its
axis, each input feeding the layer's port of its position (``Part.sources``). Refused, saying
why: inputs of different shapes (ONNX broadcasts them, TotalLayer does not), a ``Concat`` along
the batch axis. A wlnet-made ``Concat`` of replicated inputs is read back from the description
the model records; read from the graph alone, its ``Unsqueeze``/``Expand`` are not read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.base import Layer
from ..layers.combine import CatenateLayer, TotalLayer
from ..layers.elementwise import ElementwiseLayer
from . import forms
from .builder import Builder

__all__ = ["EMITTERS", "READERS", "READ_OPS"]


# -- export --------------------------------------------------------------------------------------------
def emit_total(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """Add of two inputs, Sum of more, Identity of one."""
    xs, where = [inputs[name] for name in layer._input_names], layer._where
    if len(xs) == 1:
        return {"Output": b.node(prefix, "Identity", xs, since=1, where=where)}
    return {"Output": b.node(prefix, "Add" if len(xs) == 2 else "Sum", xs, where=where)}


def emit_catenate(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """Concat at the level's axis, lower-rank inputs repeated first (see the module doc)."""
    assert isinstance(layer, CatenateLayer)
    names, where = layer._input_names, layer._where
    dims = [layer._ports[name].dims for name in names]
    assert all(d is not None for d in dims)  # the exporter checked every port's dims
    ranks = [len(d) for d in dims]  # type: ignore[arg-type]
    low, high = min(ranks), max(ranks)
    top = names[ranks.index(high)]
    lead = dims[ranks.index(high)]
    xs = []
    for name, rank in zip(names, ranks):
        x = inputs[name]
        if rank < high:
            assert lead is not None
            x = _replicated(b, prefix, x, inputs[top], tuple(lead[:high - rank]), rank, where)
        xs.append(x)
    if layer.level < 0 and b.opset >= 11:  # from the end: the same axis in every input, batch or not
        return {"Output": b.node(prefix, "Concat", xs, since=11, where=where, axis=layer.level)}
    axis = (layer.level if layer.level > 0 else low + layer.level + 1) + high - low
    return {"Output": b.node(prefix, "Concat", xs, since=4, where=where, axis=axis)}


def _replicated(b: Builder, prefix: str, x: str, top: str, lead: tuple, rank: int, where: str) -> str:
    """``x`` (examples of rank ``rank``) repeated over the dims ``lead`` that follow the batch axis
    of ``top``: Unsqueeze to (batch, 1, ..., dims), then Expand."""
    axes = list(range(1, len(lead) + 1))
    if b.opset >= 13:
        x = b.node(prefix, "Unsqueeze", [x, b.constant(prefix, axes, np.int64)], since=13, where=where)
    else:
        x = b.node(prefix, "Unsqueeze", [x], since=1, where=where, axes=axes)
    ones = [1] * rank
    if all(isinstance(d, int) for d in lead):
        shape = b.constant(prefix, [1, *lead, *ones], np.int64)
    else:  # a "Varying" dim: the lengths from the graph, Shape(top)[1:1 + len(lead)]
        sizes = b.node(prefix, "Shape", [top], since=1, where=where)
        window = [b.constant(prefix, [1], np.int64), b.constant(prefix, [1 + len(lead)], np.int64)]
        sizes = b.node(prefix, "Slice", [sizes, *window], since=10, where=where)
        parts = [b.constant(prefix, [1], np.int64), sizes] + ([b.constant(prefix, ones, np.int64)] if ones else [])
        shape = b.node(prefix, "Concat", parts, since=4, where=where, axis=0)
    return b.node(prefix, "Expand", [x, shape], since=8, where=where)


EMITTERS: dict[type, Any] = {TotalLayer: emit_total, CatenateLayer: emit_catenate}


# -- import --------------------------------------------------------------------------------------------
def _computed(r: Any, node: Any, what: str) -> list[str]:
    """The node's inputs, every one computed (no constant), of one shape where shapes are known."""
    names = [name for name in node.input if name]
    constant = next((name for name in names if name in r.constants), None)
    if constant is not None:
        why = (" (wlnet reads an Add of a constant as the biases after a MatMul, of dims (n,) or (1, n) as ONNX "
               "broadcasts them over a batch of vectors of size n, or as an addition of one number)"
               if node.op_type == "Add" else "")
        raise r.unsupported(node, f'its input "{constant}" is a constant, but {what} takes computed arrays{why}')
    return names


def _same_shapes(r: Any, node: Any, names: list[str]) -> None:
    """Refuse inputs whose known shapes differ (ONNX's Add and Sum broadcast them)."""
    known = [shape for shape in (r.shapes.get(name) for name in names) if shape is not None]
    fixed = [tuple(d if isinstance(d, int) and d > 0 else None for d in shape) for shape in known]
    differ = len({len(s) for s in fixed}) > 1 or any(
        len({s[i] for s in fixed} - {None}) > 1 for i in range(len(fixed[0]) if fixed else 0))
    if differ:
        text = ", ".join(str(tuple("?" if d is None else d for d in s)) for s in fixed)
        raise r.unsupported(node, f"its inputs have different shapes ({text}), which ONNX broadcasts; TotalLayer adds "
                                  "arrays of one shape")


def _total(r: Any, node: Any) -> None:
    function = forms.constant_add_function(r, node) if node.op_type == "Add" else None
    if function is not None:  # x + c, c one number
        x = next(name for name in node.input if name and name not in r.constants)
        r.add(node, ElementwiseLayer(function), x, node.output[0])
        return
    names = _computed(r, node, "TotalLayer")
    if len(names) == 1:
        r.alias[node.output[0]] = names[0]
        return
    _same_shapes(r, node, names)
    r.add(node, TotalLayer(InputPorts=len(names)), names, node.output[0])


def _catenate(r: Any, node: Any) -> None:
    names = _computed(r, node, "CatenateLayer")
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    if axis < 0 and r.batched and forms.axis_of(r, node, 1, names[0]) == 0:  # -rank: the batch axis
        raise r.unsupported(node, f"it catenates along the batch axis (axis {axis} of inputs of rank {-axis})")
    if r.batched and axis == 0:
        raise r.unsupported(node, "it catenates along the batch axis (axis 0)")
    level = axis if axis < 0 or r.batched else axis + 1
    r.add(node, CatenateLayer(level, InputPorts=len(names)), names, node.output[0])


READERS: dict[str, Any] = {"Add": _total, "Sum": _total, "Concat": _catenate}
READ_OPS = ("Add (of two computed arrays)", "Sum", "Concat")
