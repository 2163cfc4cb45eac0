"""The functions and Tensor methods that a traced ``forward`` may call, each as the wlnet layer that
computes the same (see :mod:`wlnet.convert.traced` for the list). Most build the equivalent
``torch.nn`` module and convert it with its module converter, so a function and its module map
alike (``F.gelu(x)`` and ``nn.GELU()``, ``F.max_pool2d(x, 2)`` and ``nn.MaxPool2d(2)``).

A handler takes the context (:class:`Context`: the dims of each tensor, which sizes are the batch
size), the node, and its arguments bound by name, and returns ``(layer, inputs)``: the layer and
the nodes that feed its input ports in order; layer None means the call changes nothing (its
result is its first input). What has no equivalent raises :class:`Refusal`, which the caller turns
into a NetSpecificationError that says where.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..layers.base import Layer
from ..layers.combine import CatenateLayer, TotalLayer
from ..layers.flatten import FlattenLayer
from ..layers.reshape import ReshapeLayer

__all__ = ["FUNCTIONS", "METHODS", "Context", "Refusal", "arguments", "bind"]


class Refusal(Exception):  # noqa: N818 - internal: always turned into a NetSpecificationError
    """A call without an equivalent, and why."""


class Context(Protocol):
    def shape(self, node: Any) -> tuple[int, ...] | None:
        """The dims of a tensor the net computes (batch axis first), None for anything else."""

    def is_batch(self, value: Any) -> bool:
        """Whether ``value`` is a node whose value is a tensor's batch size (``x.size(0)``)."""

    def batch_dependent(self, value: Any) -> bool:
        """Whether ``value`` is a node whose value depends on the batch size otherwise."""

    def value(self, node: Any) -> Any:
        """What ``node`` gave on the example batch (an int for a size, the tensor for a parameter)."""


Call = tuple[Layer | None, list]
Handler = Callable[[Context, fx.Node, dict[str, Any]], Call]
Spec = tuple[tuple[str, ...], dict[str, Any], Handler]


def dims_text(shape: tuple | None) -> str:
    return "(" + ", ".join(map(str, shape or ())) + ")"


def arguments(node: fx.Node) -> tuple[tuple, dict]:
    """The node's arguments; ``x.view(a, b)``'s sizes gathered into one, as :data:`METHODS` binds them."""
    if node.op == "call_method" and node.target in ("view", "reshape") and not node.kwargs:
        return (node.args[0], list(node.args[1:])), {}
    return tuple(node.args), dict(node.kwargs)


def bind(args: tuple, kwargs: dict, spec: Spec, text: str) -> dict[str, Any]:
    """The arguments by parameter name, the defaults filled in."""
    names, defaults, _ = spec
    if len(args) > len(names):
        raise Refusal(f"{text} is called with {len(args)} arguments; from_torch knows {', '.join(names)}.")
    bound = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in names or name in bound:
            raise Refusal(f"{text} is called with the argument {name}={value!r}, which from_torch does not know.")
        bound[name] = value
    missing = [name for name in names if name not in bound and name not in defaults]
    if missing:
        raise Refusal(f"{text} is called without {', '.join(missing)}.")
    return {**defaults, **bound}


def _converted(module: nn.Module) -> Layer | None:
    """The layer of an equivalent nn module, by its module converter."""
    from . import CONVERTERS  # convert/__init__ is loaded before this module is

    return CONVERTERS[type(module)](module, ())


def _data(ctx: Context, value: Any, what: str) -> fx.Node:
    if not isinstance(value, fx.Node) or ctx.shape(value) is None:
        shown = f"the tensor {value.target!r} of the module" if isinstance(value, fx.Node) else repr(value)
        raise Refusal(
            f"{what} is {shown}, not a tensor the net computes from its inputs; a layer's operands are the "
            "outputs of other layers or the net's inputs."
        )
    return value


def _via(make: Callable[[dict], nn.Module]) -> Handler:
    """A handler that converts the nn module ``make(arguments)`` and feeds it the input."""
    def handler(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
        return _converted(make(a)), [_data(ctx, a["input"], "its input")]
    return handler


# -- sums and joins -----------------------------------------------------------------------------
def _add(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    if a.get("alpha", 1) != 1:
        raise Refusal(f"alpha={a['alpha']!r} scales the second operand; TotalLayer adds its inputs as they are.")
    x, y = _data(ctx, a["input"], "an operand"), _data(ctx, a["other"], "an operand")
    if ctx.shape(x) != ctx.shape(y):
        raise Refusal(
            f"it adds arrays of dims {dims_text(ctx.shape(x))} and {dims_text(ctx.shape(y))} (the batch axis "
            "first), which PyTorch broadcasts; TotalLayer adds inputs of one same dims."
        )
    return TotalLayer(), [x, y]


def _cat(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    tensors = a["tensors"]
    if not isinstance(tensors, (tuple, list)) or not tensors:
        raise Refusal("its tensors are not a list of tensors.")
    inputs = [_data(ctx, t, "a catenated tensor") for t in tensors]
    rank, dim = len(ctx.shape(inputs[0]) or ()), a["dim"]
    if not isinstance(dim, int) or not -rank <= dim < rank:
        raise Refusal(f"its dim {dim!r} is not a dim of the tensors (of rank {rank}).")
    if dim % rank == 0:
        raise Refusal("it joins along dim 0, the batch axis; a net keeps the examples of a batch apart.")
    if len(inputs) == 1:
        return None, inputs
    return CatenateLayer(dim % rank), inputs  # level k of an example is dim k of the batch


# -- dims ---------------------------------------------------------------------------------------
def _flatten(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    x = _data(ctx, a["input"], "its input")
    if ctx.shape(node) == ctx.shape(x):
        return None, [x]
    return _converted(nn.Flatten(a["start_dim"], a["end_dim"])), [x]


def _reshape_entries(a: dict[str, Any]) -> list:
    shape = a["shape"]
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    return list(shape)


def _reshape(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    """``x.view(x.size(0), ...)``, ``x.reshape(-1, n)`` and the like, which keep the batch axis."""
    x = _data(ctx, a["input"], "its input")
    entries = _reshape_entries(a)
    before, after = ctx.shape(x) or (), ctx.shape(node) or ()
    first = entries[0] if entries else None
    if isinstance(first, fx.Node) and not ctx.is_batch(first):
        raise Refusal(f"its first size ({ctx.value(first)!r}) is not the batch size (x.size(0) or x.shape[0]); a net "
                      "keeps the batch axis first.")
    if not isinstance(first, fx.Node) and first != -1:
        raise Refusal(f"its first size is {first!r}, a fixed batch size; give x.size(0) (or -1 when the other sizes "
                      "make one example) so that the net takes batches of any size.")
    if first == -1 and after[:1] != before[:1]:
        raise Refusal(f"its sizes {tuple(entries[1:])} after the -1 do not make one example of dims "
                      f"{dims_text(before[1:])}, so examples would be split or joined.")
    if any(ctx.batch_dependent(e) or ctx.is_batch(e) for e in entries[1:]):
        raise Refusal("a size after the first depends on the batch size; a net's examples have dims of their own.")
    if after == before:
        return None, [x]
    if len(after) == 2 and len(before) > 2:
        return FlattenLayer(), [x]
    return ReshapeLayer(tuple(after[1:])), [x]


# -- activations --------------------------------------------------------------------------------
def _prelu(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    weight = a["weight"]
    slope = ctx.value(weight) if isinstance(weight, fx.Node) and weight.op == "get_attr" else None
    if not isinstance(slope, torch.Tensor) or slope.dim() != 1:
        raise Refusal("its weight is not a vector (a parameter or buffer of the module, one slope or one per "
                      "channel), which is what ParametricRampLayer takes.")
    module = nn.PReLU(slope.numel())
    module.weight = slope if isinstance(slope, nn.Parameter) else nn.Parameter(slope, requires_grad=False)
    return _converted(module), [_data(ctx, a["input"], "its input")]


def _softmax(make_dim: str) -> Handler:
    def handler(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
        if a.get("dtype") is not None:
            raise Refusal(f"dtype={a['dtype']} computes in another dtype; a net computes in float32.")
        return _converted(nn.Softmax(a[make_dim])), [_data(ctx, a["input"], "its input")]
    return handler


def _dropout(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    x = _data(ctx, a["input"], "its input")
    return (None if a["p"] == 0 else _converted(nn.Dropout(a["p"]))), [x]


def _identity(ctx: Context, node: fx.Node, a: dict[str, Any]) -> Call:
    return None, [_data(ctx, a["input"], "its input")]


_IN = ("input",)
_INPLACE = {"inplace": False}
_POOL_MAX = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_POOL_MAX_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
_POOL_AVG = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_POOL_AVG_DEFAULTS = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                      "divisor_override": None}


def _pool_specs(d: int) -> dict[Any, Spec]:
    """F's max, average and adaptive poolings of ``d`` spatial dims, as the nn modules."""
    max_pool, avg_pool = getattr(nn, f"MaxPool{d}d"), getattr(nn, f"AvgPool{d}d")
    adaptive_avg, adaptive_max = getattr(nn, f"AdaptiveAvgPool{d}d"), getattr(nn, f"AdaptiveMaxPool{d}d")
    avg_names = _POOL_AVG if d > 1 else _POOL_AVG[:-1]  # avg_pool1d has no divisor_override

    def average(a: dict) -> nn.Module:
        return avg_pool(**{k: v for k, v in a.items() if k != "input"})

    return {
        getattr(F, f"max_pool{d}d"): (_POOL_MAX, _POOL_MAX_DEFAULTS,
                                      _via(lambda a: max_pool(**{k: v for k, v in a.items() if k != "input"}))),
        getattr(F, f"avg_pool{d}d"): (avg_names, _POOL_AVG_DEFAULTS, _via(average)),
        getattr(F, f"adaptive_avg_pool{d}d"): (("input", "output_size"), {}, _via(lambda a: adaptive_avg(
            a["output_size"]))),
        getattr(F, f"adaptive_max_pool{d}d"): (("input", "output_size", "return_indices"), {"return_indices": False},
                                               _via(lambda a: adaptive_max(a["output_size"], a["return_indices"]))),
    }


_ADD: Spec = (("input", "other", "alpha"), {"alpha": 1}, _add)
_RELU: Spec = (("input", "inplace"), _INPLACE, _via(lambda a: nn.ReLU()))
_SIGMOID: Spec = (_IN, {}, _via(lambda a: nn.Sigmoid()))
_TANH: Spec = (_IN, {}, _via(lambda a: nn.Tanh()))
_FLATTEN: Spec = (("input", "start_dim", "end_dim"), {"start_dim": 0, "end_dim": -1}, _flatten)
_PRELU: Spec = (("input", "weight"), {}, _prelu)

#: call_function targets -> (parameter names, defaults, handler).
FUNCTIONS: dict[Any, Spec] = {
    operator.add: _ADD,
    operator.iadd: _ADD,
    torch.add: _ADD,
    torch.cat: (("tensors", "dim"), {"dim": 0}, _cat),
    torch.concat: (("tensors", "dim"), {"dim": 0}, _cat),
    torch.flatten: _FLATTEN,
    torch.reshape: (("input", "shape"), {}, lambda ctx, node, a: _reshape(ctx, node, {**a, "shape": [a["shape"]]})),
    F.relu: _RELU,
    torch.relu: _RELU,
    torch.sigmoid: _SIGMOID,
    F.sigmoid: _SIGMOID,
    torch.tanh: _TANH,
    F.tanh: _TANH,
    F.gelu: (("input", "approximate"), {"approximate": "none"}, _via(lambda a: nn.GELU(a["approximate"]))),
    F.silu: (("input", "inplace"), _INPLACE, _via(lambda a: nn.SiLU())),
    F.elu: (("input", "alpha", "inplace"), {"alpha": 1.0, **_INPLACE}, _via(lambda a: nn.ELU(a["alpha"]))),
    F.selu: (("input", "inplace"), _INPLACE, _via(lambda a: nn.SELU())),
    F.mish: (("input", "inplace"), _INPLACE, _via(lambda a: nn.Mish())),
    F.softsign: (_IN, {}, _via(lambda a: nn.Softsign())),
    F.softplus: (("input", "beta", "threshold"), {"beta": 1.0, "threshold": 20.0},
                 _via(lambda a: nn.Softplus(a["beta"], a["threshold"]))),
    F.hardtanh: (("input", "min_val", "max_val", "inplace"), {"min_val": -1.0, "max_val": 1.0, **_INPLACE},
                 _via(lambda a: nn.Hardtanh(a["min_val"], a["max_val"]))),
    F.leaky_relu: (("input", "negative_slope", "inplace"), {"negative_slope": 0.01, **_INPLACE},
                   _via(lambda a: nn.LeakyReLU(a["negative_slope"]))),
    F.prelu: _PRELU,
    torch.prelu: _PRELU,
    F.softmax: (("input", "dim", "_stacklevel", "dtype"), {"dim": None, "_stacklevel": 3, "dtype": None},
                _softmax("dim")),
    torch.softmax: (("input", "dim", "dtype"), {"dtype": None}, _softmax("dim")),
    F.dropout: (("input", "p", "training", "inplace"), {"p": 0.5, "training": True, **_INPLACE}, _dropout),
    **_pool_specs(1),
    **_pool_specs(2),
    **_pool_specs(3),
}

_VIEW: Spec = (("input", "shape"), {}, _reshape)

#: call_method names (Tensor methods) -> (parameter names, defaults, handler). ``view`` and
#: ``reshape`` take their sizes as separate arguments or as one tuple (see :func:`arguments`).
METHODS: dict[str, Spec] = {
    "add": _ADD,
    "add_": _ADD,
    "relu": _RELU,
    "relu_": _RELU,
    "sigmoid": _SIGMOID,
    "sigmoid_": _SIGMOID,
    "tanh": _TANH,
    "tanh_": _TANH,
    "softmax": (("input", "dim", "dtype"), {"dtype": None}, _softmax("dim")),
    "flatten": _FLATTEN,
    "view": _VIEW,
    "reshape": _VIEW,
    "contiguous": (("input", "memory_format"), {"memory_format": torch.contiguous_format}, _identity),
}

