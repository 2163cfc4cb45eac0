"""Each layer as ONNX nodes: a table from layer type to an emitter function.

An emitter takes the builder, the layer (with its dims inferred), its position's key (``"2.1"``,
``""`` for a bare layer) and its input tensors by port, adds its nodes and initializers, and
returns its output tensors by port. A new layer adds one function and one row of
:data:`EMITTERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import NetSpecificationError
from ..functions import Expression, WolframFunction
from ..layers.base import Layer
from ..layers.elementwise import ElementwiseLayer
from ..layers.flatten import FlattenLayer
from ..layers.levels import ramp_axes
from ..layers.linear import LinearLayer
from ..layers.ramp import ParametricRampLayer
from ..lower import path_key
from ..types import VARYING
from . import combine, convolution, normalization, pooling, shapes
from .builder import Builder
from .common import array_name

__all__ = ["EMITTERS", "Emitter", "FUNCTIONS"]

Emitter = Callable[[Builder, Layer, str, dict[str, str]], dict[str, str]]


def emit_ramp(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """PRelu, its slope reshaped to rank 1 + the input's rank: the slope's dims at the levels (one
    past them, for the batch axis) and 1 elsewhere, so that ONNX's unidirectional broadcasting
    (aligned at the last axis) puts each slope value on its level."""
    dims = layer._ports["Input"].dims
    assert dims is not None  # the exporter checked every port's dims
    axes = ramp_axes(layer._params["levels"], len(dims), layer._where)
    slope = layer._array("Slope")
    shape = [1] * (len(dims) + 1)
    for axis, size in zip(axes, slope.shape):
        shape[axis + 1] = size
    key = b.initializer(array_name(prefix, "Slope"), slope.reshape(shape))
    return {"Output": b.node(prefix, "PRelu", [inputs["Input"], key], since=7, where=layer._where)}


def emit_linear(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """Flatten (a "Real" input: Reshape to (batch, 1)), Gemm with transB=1, and a Reshape to
    (batch, *output dims) unless the output is a vector ((batch,) for a "Real" output)."""
    in_dims, out_dims = layer._ports["Input"].dims, layer._ports["Output"].dims
    assert in_dims is not None and out_dims is not None
    x, where = inputs["Input"], layer._where
    if len(in_dims) == 0:
        x = b.node(prefix, "Reshape", [x, b.constant(prefix, [-1, 1], np.int64)], since=5, where=where)
    elif len(in_dims) > 1:
        x = b.node(prefix, "Flatten", [x], since=1, where=where, axis=1)
    gemm = [x, b.initializer(array_name(prefix, "Weights"), layer._array("Weights"))]
    if "Biases" in layer._array_names:
        gemm.append(b.initializer(array_name(prefix, "Biases"), layer._array("Biases")))
    y = b.node(prefix, "Gemm", gemm, since=7 if len(gemm) == 3 else 11, where=where, transB=1)
    if len(out_dims) != 1:
        shape = [-1] if len(out_dims) == 0 else [0, *out_dims]
        y = b.node(prefix, "Reshape", [y, b.constant(prefix, shape, np.int64)], since=5, where=where)
    return {"Output": y}


def emit_flatten(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """A Reshape to (batch, *output dims), a 0 copying the input's dim where the output's is a
    "Varying" one (which FlattenLayer never merges, so it keeps its place); groups of levels that
    reorder them transpose first."""
    assert isinstance(layer, FlattenLayer)
    dims = layer._ports["Output"].dims
    assert dims is not None
    shape = [0, *(0 if d == VARYING else d for d in dims)]
    x = shapes.transpose_for_groups(b, layer, prefix, inputs["Input"])
    x = b.node(prefix, "Reshape", [x, b.constant(prefix, shape, np.int64)], since=5, where=layer._where)
    return {"Output": x}


# -- functions -----------------------------------------------------------------------------------------
Function = Callable[[Builder, str, str, str], str]  # (builder, prefix, input, where) -> output


def _op(op: str, since: int = 6, **attributes: Any) -> Function:
    return lambda b, prefix, x, where: b.node(prefix, op, [x], since=since, where=where, **attributes)


def _gelu(b: Builder, prefix: str, x: str, where: str) -> str:
    """The exact (erf) GELU: the Gelu op from opset 20, else 0.5 x (1 + erf(x / sqrt 2))."""
    if b.opset >= 20:
        return b.node(prefix, "Gelu", [x], since=20, where=where)
    scaled = b.node(prefix, "Div", [x, b.constant(prefix, math.sqrt(2.0))], where=where)
    erf = b.node(prefix, "Erf", [scaled], since=9, where=where)
    one = b.node(prefix, "Add", [erf, b.constant(prefix, 1.0)], where=where)
    half = b.node(prefix, "Mul", [x, b.constant(prefix, 0.5)], where=where)
    return b.node(prefix, "Mul", [half, one], where=where)


def _swish(b: Builder, prefix: str, x: str, where: str) -> str:
    return b.node(prefix, "Mul", [x, b.node(prefix, "Sigmoid", [x], since=6, where=where)], where=where)


def _mish(b: Builder, prefix: str, x: str, where: str) -> str:
    softplus = b.node(prefix, "Softplus", [x], since=1, where=where)
    return b.node(prefix, "Mul", [x, b.node(prefix, "Tanh", [softplus], since=6, where=where)], where=where)


def _hard_tanh(b: Builder, prefix: str, x: str, where: str) -> str:
    """Clip to [-1, 1]: bounds as inputs from opset 11, as attributes before."""
    if b.opset >= 11:
        low, high = b.constant(prefix, -1.0), b.constant(prefix, 1.0)
        return b.node(prefix, "Clip", [x, low, high], since=11, where=where)
    return b.node(prefix, "Clip", [x], since=6, where=where, min=-1.0, max=1.0)


#: wlnet's functions (by WolframFunction name) as ONNX nodes, each checked against its torch form
#: by the tests.
FUNCTIONS: dict[str, Function] = {
    "Ramp": _op("Relu"),
    "LogisticSigmoid": _op("Sigmoid"),
    "Tanh": _op("Tanh"),
    "Exp": _op("Exp"),
    "Log": _op("Log"),
    "Sin": _op("Sin", 7),
    "Cos": _op("Cos", 7),
    "Sqrt": _op("Sqrt"),
    "Abs": _op("Abs"),
    "ELU": _op("Elu", alpha=1.0),
    "SELU": _op("Selu"),  # ONNX's default alpha and gamma are torch's constants, in float32
    "GELU": _gelu,
    "Swish": _swish,
    "Mish": _mish,
    "SoftSign": _op("Softsign", 1),
    "SoftPlus": _op("Softplus", 1),
    "HardTanh": _hard_tanh,
}

_ARITHMETIC = {"Plus": "Add", "Subtract": "Sub", "Times": "Mul", "Divide": "Div", "Power": "Pow"}


def _expression(b: Builder, prefix: str, node: Any, x: str, where: str) -> str:
    """The tensor computing the Expression ``node`` of the input ``x``."""
    if not isinstance(node, Expression):
        return b.constant(prefix, node)
    if node.head == "#":
        return x
    args = [_expression(b, prefix, arg, x, where) for arg in node.args]
    if node.head == "Minus":
        return b.node(prefix, "Neg", args, since=6, where=where)
    if node.head in _ARITHMETIC:
        return b.node(prefix, _ARITHMETIC[node.head], args, where=where)
    return FUNCTIONS[node.head](b, prefix, args[0], where)


def emit_elementwise(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """The function's nodes; wlnet's functions and traced lambdas of them only."""
    assert isinstance(layer, ElementwiseLayer)
    function, x = layer.function, inputs["Input"]
    if isinstance(function, WolframFunction):
        b.functions[prefix] = function.name
        return {"Output": FUNCTIONS[function.name](b, prefix, x, layer._where)}
    if isinstance(function, Expression):
        b.functions[prefix] = function.to_json()
        return {"Output": _expression(b, prefix, function, x, layer._where)}
    raise NetSpecificationError(
        f"Export: {layer._where} cannot be exported to ONNX: its function is a Python callable wlnet "
        "cannot read. Only functions built from wlnet's functions (Ramp, Tanh, Exp, \"ELU\", ...), "
        "numbers and arithmetic can be exported, e.g. ElementwiseLayer(lambda x: 2 * Tanh(x) + 1)."
    )


#: Layer type -> its emitter.
EMITTERS: dict[type, Emitter] = {
    ParametricRampLayer: emit_ramp,
    LinearLayer: emit_linear,
    ElementwiseLayer: emit_elementwise,
    FlattenLayer: emit_flatten,
    **pooling.EMITTERS,
    **combine.EMITTERS,
    **shapes.EMITTERS,
    **convolution.EMITTERS,
    **normalization.EMITTERS,
}


def position_key(position: tuple) -> str:
    """A layer's position as node names and array keys write it: ``"2.1"``; ``""`` at the top."""
    return path_key(position)
