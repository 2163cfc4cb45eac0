"""ONNX forms read by their opset's rules, for the readers of :mod:`wlnet.onnx.ops`, :mod:`.combine`
and :mod:`.pooling` (ONNX's own backend tests, ``tests/test_onnx_conformance.py``, ask for each).

* PRelu's slope: before opset 7 a slope is one value or one per channel (``(C,)`` on axis 1, as
  PyTorch's exporter wrote ``nn.PReLU(C)`` then); from opset 7 it broadcasts unidirectionally, aligned
  at the last axis.
* An axis attribute (Flatten, Concat) resolved against the input's rank: ``-3`` of a rank-4 input is 1.
* ``Elu`` and ``Selu`` with other attributes than wlnet's ELU and SELU have: the same function as an
  expression of them (``Ramp(x) + alpha (ELU(x) - Ramp(x))``, which is x itself for x > 0), exact.
* ``Add`` of a one-element constant: ``ElementwiseLayer(lambda x: x + c)``.
* Flatten of an axis counted from the end; Gemm of a computed C (a LinearLayer and a TotalLayer).
* A Reshape's shape whose first entry keeps the batch axis: 0, -1 when the other entries leave the
  example's size, or the graph's own fixed batch size.
* ``ceil_mode=1`` of a pooling is read where it gives the same output sizes as rounding down.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..functions import NAMED_FUNCTIONS, Expression
from ..layers.base import Layer
from ..layers.combine import TotalLayer
from ..layers.flatten import FlattenLayer
from ..layers.linear import LinearLayer
from ..layers.reshape import ReshapeLayer
from .common import shortest_float32

__all__ = ["axis_of", "batch_kept_shape", "bias_of", "ceil_is_floor", "constant_add_function", "elementwise_function",
           "flatten_layer", "gemm_plus", "prelu_aligned"]

#: Selu's defaults (ONNX's, float32), which wlnet's SELU computes.
_SELU = {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}


def prelu_aligned(r: Any, node: Any, slope: np.ndarray, shape: tuple) -> tuple:
    """The slope's dims aligned with the input's dims ``shape`` by the node's opset's rules (one per
    axis); an error saying why when they do not fit."""
    dims = tuple(d if isinstance(d, int) and d > 0 else "?" for d in shape)
    if r.opset < 7:
        if slope.size == 1:
            return (1,) * len(shape)
        channels = shape[1] if len(shape) >= 2 else None
        if slope.ndim == 1 and len(shape) >= 2 and (channels == slope.size or not isinstance(channels, int)
                                                     or channels <= 0):
            return (1, slope.size, *(1,) * (len(shape) - 2))
        raise r.unsupported(node, f"before opset 7, PRelu's slope is one value or one per channel (axis 1, dims (C,)), "
                                  f"but its slope has dims {slope.shape} on an input of dims {dims}; opset 7 and "
                                  "later broadcast a slope of any shape from the last axis")
    if slope.ndim > len(shape):
        raise r.unsupported(node, f"its slope (dims {slope.shape}) has a higher rank than its input")
    aligned = (1,) * (len(shape) - slope.ndim) + slope.shape
    if any(size != 1 and isinstance(dim, int) and dim > 0 and dim != size for size, dim in zip(aligned, shape)):
        hint = ""
        if slope.ndim == 1 and len(shape) > 2 and shape[1] == slope.size:
            hint = (f" (from opset 7 the slope broadcasts from the last axis; a slope per channel has dims "
                    f"({slope.size}{', 1' * (len(shape) - 2)}); before opset 7 dims ({slope.size},) meant axis 1)")
        raise r.unsupported(node, f"its slope (dims {slope.shape}) does not broadcast to its input (dims {dims}){hint}")
    return aligned


def axis_of(r: Any, node: Any, default: int, tensor: str) -> int:
    """The node's ``axis`` attribute (``default`` when absent), a negative one counted from the rank
    of ``tensor``; an error when that rank is not known."""
    axis = int(r.attributes(node).get("axis", default))
    if axis >= 0:
        return axis
    shape = r.shapes.get(tensor)
    if shape is None:
        raise r.unsupported(node, f"its axis {axis} counts from the end of an input whose rank is not known")
    if axis < -len(shape):
        raise r.unsupported(node, f"its axis {axis} is out of range for an input of rank {len(shape)}")
    return axis + len(shape)


def flatten_layer(r: Any, node: Any, shape: tuple | None) -> Layer:
    """The layer a Flatten that is no LinearLayer's input is: axis 1 (a negative axis counted from the
    rank) a FlattenLayer, or on examples that are numbers (an input of rank 1) a ReshapeLayer to (1,)."""
    axis = axis_of(r, node, 1, node.input[0])
    if axis != 1:
        merged = "makes one row of the whole batch" if axis == 0 else \
            f"merges the batch axis with levels 1 to {axis - 1}"
        raise r.unsupported(node, f"Flatten(axis={axis}) {merged}; wlnet reads axis 1 (every level of an example), "
                                  "which keeps the batch axis")
    return ReshapeLayer((1,)) if shape is not None and len(shape) == 1 else FlattenLayer()  # (batch,) -> (batch, 1)


def bias_of(value: Any, n: int) -> np.ndarray | None:
    """The biases (dims (n,), float64) that adding the constant ``value`` to a matrix of dims (batch, n) adds,
    as ONNX broadcasts it (a Gemm's C, an Add after a MatMul): a value of dims (), (1,), (n,), (1, 1) or
    (1, n); None for any other (None) value: (m, 1) or (batch, n) vary along the batch axis, a higher
    rank adds axes."""
    if value is None:
        return None
    value = np.asarray(value)
    if value.ndim > 2 or value.ndim == 2 and value.shape[0] != 1 or value.ndim >= 1 and value.shape[-1] not in (1, n):
        return None
    return np.broadcast_to(value.astype(np.float64).reshape(-1), (n,)).copy()


def gemm_plus(r: Any, node: Any, weights: np.ndarray, beta: float) -> None:
    """Gemm(A, B, C) of a computed C (PyTorch's addmm of a product): a LinearLayer without biases, then
    a TotalLayer adding C, which must have the output's shape (TotalLayer does not broadcast)."""
    c, output = node.input[2], node.output[0]
    shape, out = r.shapes.get(c), r.shapes.get(output)
    if beta != 1.0 or shape is None or out is None or tuple(shape) != tuple(out):
        raise r.unsupported(node, f"its C is computed, not a constant; wlnet reads that as a LinearLayer and a "
                                  f"TotalLayer only with beta=1 and C of the output's dims (batch, {weights.shape[0]})")
    product = f"{output}/product"
    linear = LinearLayer(weights.shape[0], Weights=weights.astype(np.float32), Biases=None)
    r.add(SimpleNamespace(name=f"{node.name}/product"), linear, node.input[0], product)
    r.add(node, TotalLayer(InputPorts=2), [product, c], output)


def elementwise_function(r: Any, node: Any, name: str) -> Any:
    """The function of an elementwise node (wlnet's function ``name``), its attributes applied: an Elu or
    Selu with other constants than wlnet's is an Expression of ELU and Ramp (the same numbers)."""
    attributes = {k: shortest_float32(v) for k, v in r.attributes(node).items()}
    if node.op_type == "Elu" and attributes.get("alpha", 1.0) != 1.0:
        return _scaled_elu(attributes["alpha"], 1.0)
    if node.op_type == "Selu":
        alpha, gamma = (attributes.get(k, shortest_float32(v)) for k, v in _SELU.items())
        if (alpha, gamma) != tuple(shortest_float32(v) for v in _SELU.values()):
            return _scaled_elu(alpha, gamma)
    return NAMED_FUNCTIONS[name]


def _scaled_elu(alpha: float, gamma: float) -> Expression:
    """gamma (x for x > 0, alpha (exp(x) - 1) else), as wlnet's functions: ELU(x) - Ramp(x) is 0 for
    x > 0 and exp(x) - 1 else."""
    elu, ramp = NAMED_FUNCTIONS["ELU"], NAMED_FUNCTIONS["Ramp"]

    def function(x: Any) -> Any:
        y = ramp(x) + alpha * (elu(x) - ramp(x))
        return y if gamma == 1.0 else gamma * y

    return function(Expression("#"))


def constant_add_function(r: Any, node: Any) -> Expression | None:
    """``x + c`` for an Add of a computed x and a one-element constant c; None for any other Add."""
    names = [n for n in node.input if n]
    constant = [n for n in names if n in r.constants]
    if len(names) != 2 or len(constant) != 1 or np.size(r.constants[constant[0]]) != 1:
        return None
    value = np.asarray(r.constants[constant[0]])
    x = next(n for n in names if n not in r.constants)
    shape = r.shapes.get(x)
    if shape is not None and value.ndim > len(shape):  # a constant of higher rank adds dims
        return None
    c = float(value.reshape(-1)[0])
    return Expression("#") + shortest_float32(c) if value.dtype != np.float64 else Expression("#") + c


def batch_kept_shape(r: Any, node: Any, shape: tuple, target: list[int]) -> list[int]:
    """A Reshape's ``target`` as ``[0, *dims after the batch axis]`` when its first entry keeps the batch
    axis of its input (dims ``shape``): 0; -1 when the other entries hold the whole example; or the
    input's fixed batch size where the model has one. An error saying why otherwise."""
    example = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)][1:]
    size = _size(shape[1:])
    rest = _size([d for d in example if d != -1])
    if target[0] == 0:
        return [0, *target[1:]]
    first, batch = target[0], shape[0]
    whole = size is None or rest is None or (size % rest == 0 if -1 in example else rest == size)
    if first == -1 and -1 not in example and whole:
        return [0, *target[1:]]
    if isinstance(batch, int) and batch > 0 and first == batch and whole:
        return [0, *target[1:]]
    dims = tuple(d if isinstance(d, int) and d > 0 else "?" for d in shape)
    raise r.unsupported(node, f"its shape {target} does not keep the batch axis of its input (dims {dims}): each "
                              "example would not be reshaped on its own")


def _size(dims: Any) -> int | None:
    return math.prod(dims) if all(isinstance(d, int) and d > 0 for d in dims) else None


def ceil_is_floor(sizes: tuple, kernel: tuple, stride: tuple, pairs: Any) -> bool:
    """Whether a pooling's output sizes are the same rounded up (ceil_mode=1, a last window that would
    start in the end padding dropped) as rounded down, for input spatial sizes ``sizes``."""
    for n, k, s, (before, after) in zip(sizes, kernel, stride, pairs):
        if not isinstance(n, int) or n <= 0:
            return False
        span = n + before + after - k
        floor, ceil = span // s + 1, -(-span // s) + 1
        if (ceil - 1) * s >= n + before:
            ceil -= 1
        if ceil != floor:
            return False
    return True
