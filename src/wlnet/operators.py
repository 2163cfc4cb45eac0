"""ParametricRampLayer's math as PyTorch operators: ``torch.ops.wlnet.parametric_ramp`` and its
backward, registered with ``torch.library``.

Everything that computes the layer goes through these two operators (the ``to_torch()`` module,
:class:`wlnet.nn.PReLU`, :func:`wlnet.functional.parametric_ramp`, evaluation and NetTrain), so
whatever PyTorch does with a module, it does with them:

* ``parametric_ramp(Tensor x, Tensor slope, int[] axes) -> Tensor``: f(x) = x for x > 0, slope * x
  otherwise, with the slope's dims on ``axes`` of ``x`` (0-based, increasing; the slope broadcasts
  over every other axis). ``x`` and ``slope`` have one floating dtype and one device.
* ``parametric_ramp_backward(Tensor grad, Tensor x, Tensor slope, int[] axes, bool need_x,
  bool need_slope) -> (Tensor, Tensor)``: the input gradient and the slope gradient (an empty
  tensor in place of one not asked for).

Each has CPU and CUDA kernels (the fused kernels of :mod:`wlnet.kernels` where they are the faster
ones, PyTorch's PReLU kernel elsewhere), a fake kernel (shapes and strides without data, for
``torch.compile``, ``torch.export`` and FakeTensor), an autograd formula (the backward operator;
its own derivatives are written in torch ops, so ``gradgradcheck`` and double backward work), a
vmap rule (the vmapped dimension becomes one more axis of the same operator) and an autocast rule
(as ``torch.prelu``'s: under CPU autocast it computes in the autocast dtype, under CUDA autocast in
its input's).

wlnet's modules and functions call :func:`ramp`: the operators inside autograd.Functions that have
``setup_context``, ``vmap`` and ``jvp``, which torch.func's transforms need (``grad``, ``jacrev``,
``jacfwd``, ``jvp``, ``hessian``, per-sample gradients); the autograd formula torch.library
registers on the operator itself serves direct calls, traces and exported programs, but torch.func
refuses it. What a graph that ``torch.compile`` compiles holds is :data:`COMPILED_FORWARD`'s choice
(:func:`compiled`): the fused backward operator always, and the forward as PyTorch's PReLU kernel,
which inductor fuses with the layer before, or as the opaque operator.

For ONNX, the operator is written as ``PRelu`` by both of PyTorch's exporters: a symbolic function
for the TorchScript-based one, and for ``torch.onnx.export(..., dynamo=True)`` a decomposition in
``torch._decomp``'s table that writes the ``PRelu`` node itself (``torch.onnx.ops.symbolic``), the
slope shaped for its levels; neither is seen by ``torch.compile`` or ``torch.export``.

>>> x = torch.tensor([[-2.0, 0.0, 3.0]])
>>> torch.ops.wlnet.parametric_ramp(x, torch.tensor([0.5, 0.25, 2.0]), [1])
tensor([[-1.,  0.,  3.]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd import forward_ad

from . import kernels
from .kernels import view_shape

__all__ = [
    "COMPILED_FORWARD", "COMPILED_OPERATOR_BYTES", "compiled", "parametric_ramp", "parametric_ramp_backward", "ramp",
    "view_shape",
]  # fmt: skip

_LIBRARY = torch.library.Library("wlnet", "DEF")
_LIBRARY.define("parametric_ramp(Tensor x, Tensor slope, int[] axes) -> Tensor")
_LIBRARY.define(
    "parametric_ramp_backward(Tensor grad, Tensor x, Tensor slope, int[] axes, bool need_x, bool need_slope) "
    "-> (Tensor, Tensor)"
)

parametric_ramp = torch.ops.wlnet.parametric_ramp.default
parametric_ramp_backward = torch.ops.wlnet.parametric_ramp_backward.default


def _check(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int], op: str) -> None:
    """The operator's argument checks (the same in its real and fake kernels)."""
    if not x.dtype.is_floating_point or slope.dtype != x.dtype:
        raise TypeError(
            f"wlnet::{op}: x and slope must have one floating dtype, but x is {x.dtype} and slope {slope.dtype}."
        )
    if slope.device != x.device:
        raise ValueError(f"wlnet::{op}: x is on {x.device} but slope on {slope.device}.")
    previous = -1
    for axis in axes:  # (a loop: cheaper per call than sorted(set(...)) and any())
        if not previous < axis < x.ndim:
            raise ValueError(f"wlnet::{op}: axes {list(axes)} must be increasing axes of an input of rank {x.ndim}.")
        previous = axis
    if len(axes) != slope.ndim or [x.shape[a] for a in axes] != list(slope.shape):
        raise ValueError(
            f"wlnet::{op}: the slope has dims {tuple(slope.shape)}, but the input of shape {tuple(x.shape)} has "
            f"dims {tuple(x.shape[a] for a in axes)} on axes {tuple(axes)}."
        )


# The real kernels.


def _forward_kernel(x: torch.Tensor, slope: torch.Tensor, axes: list[int]) -> torch.Tensor:
    _check(x, slope, axes, "parametric_ramp")
    return kernels.forward(x, slope, tuple(axes))


def _backward_kernel(
    grad: torch.Tensor, x: torch.Tensor, slope: torch.Tensor, axes: list[int], need_x: bool, need_slope: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, slope, axes, "parametric_ramp_backward")
    gx, gs = kernels.backward(grad, x, slope, tuple(axes), need_x, need_slope)
    return (x.new_empty(0) if gx is None else gx), (slope.new_empty(0) if gs is None else gs)


for _device in ("CPU", "CUDA"):
    _LIBRARY.impl("parametric_ramp", _forward_kernel, _device)
    _LIBRARY.impl("parametric_ramp_backward", _backward_kernel, _device)


# The fake kernels: what the real ones return, without data.


@torch.library.register_fake("wlnet::parametric_ramp", lib=_LIBRARY)
def _forward_fake(x: torch.Tensor, slope: torch.Tensor, axes: list[int]) -> torch.Tensor:
    _check(x, slope, axes, "parametric_ramp")
    return torch.empty_like(x)


@torch.library.register_fake("wlnet::parametric_ramp_backward", lib=_LIBRARY)
def _backward_fake(
    grad: torch.Tensor, x: torch.Tensor, slope: torch.Tensor, axes: list[int], need_x: bool, need_slope: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, slope, axes, "parametric_ramp_backward")
    gx = torch.empty_like(x) if need_x else x.new_empty(0)
    return gx, (torch.empty_like(slope, memory_format=torch.contiguous_format) if need_slope else slope.new_empty(0))


# Autograd.


def _forward_setup(ctx, inputs, output) -> None:
    x, slope, axes = inputs
    ctx.save_for_backward(x, slope)
    ctx.axes = axes


def _forward_backward(ctx, grad):
    x, slope = ctx.saved_tensors
    need_x, need_slope = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    gx, gs = parametric_ramp_backward(grad, x, slope, ctx.axes, need_x, need_slope)
    return (gx if need_x else None), (gs if need_slope else None), None


def _backward_setup(ctx, inputs, output) -> None:
    grad, x, slope, axes, need_x, need_slope = inputs
    ctx.save_for_backward(grad, x, slope)
    ctx.axes, ctx.need_x, ctx.need_slope = axes, need_x, need_slope


def _backward_backward(ctx, grad_gx, grad_gs):
    """The derivatives of (gx, gs) = (where(x > 0, g, g * s), sum(where(x >= 0, 0, x * g))), in
    differentiable torch ops: gx's do not depend on x (almost everywhere), gs's not on s."""
    grad, x, slope = ctx.saved_tensors
    view = view_shape(x.ndim, slope.shape, ctx.axes)
    others = [d for d in range(x.ndim) if d not in ctx.axes]
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    # An output that was not asked for (an empty placeholder) contributes nothing.
    use_gx = ctx.need_x and grad_gx is not None and grad_gx.shape == x.shape
    use_gs = ctx.need_slope and grad_gs is not None and grad_gs.shape == slope.shape
    d_grad = d_x = d_slope = None
    negative_gs = grad_gs.reshape(view) if use_gs else None
    if ctx.needs_input_grad[0]:
        d_grad = torch.zeros_like(grad)
        if use_gx:
            d_grad = d_grad + torch.where(x > 0, grad_gx, grad_gx * slope.reshape(view))
        if negative_gs is not None:
            d_grad = d_grad + torch.where(x >= 0, zero, x * negative_gs)
    if ctx.needs_input_grad[1]:
        d_x = torch.where(x >= 0, zero, grad * negative_gs) if negative_gs is not None else torch.zeros_like(x)
    if ctx.needs_input_grad[2]:
        if use_gx:
            per_element = torch.where(x > 0, zero, grad * grad_gx)
            d_slope = (per_element.sum(dim=others) if others else per_element).reshape(slope.shape)
        else:
            d_slope = torch.zeros_like(slope)
    return d_grad, d_x, d_slope, None, None, None


torch.library.register_autograd(
    "wlnet::parametric_ramp", _forward_backward, setup_context=_forward_setup, lib=_LIBRARY
)
torch.library.register_autograd(
    "wlnet::parametric_ramp_backward", _backward_backward, setup_context=_backward_setup, lib=_LIBRARY
)


# vmap: the vmapped dimension becomes the input's first axis, and, where the slope (or, in the
# backward, its gradient) differs along it, one more slope axis.


def _batched_first(t: torch.Tensor, dim: int | None, size: int) -> torch.Tensor:
    return t.unsqueeze(0).expand(size, *t.shape) if dim is None else t.movedim(dim, 0)


def _forward_vmap(info, in_dims, x, slope, axes):
    x_dim, slope_dim, _ = in_dims
    x = _batched_first(x, x_dim, info.batch_size)
    shifted = [a + 1 for a in axes]
    if slope_dim is None:
        return parametric_ramp(x, slope, shifted), 0
    return parametric_ramp(x, slope.movedim(slope_dim, 0), [0, *shifted]), 0


def _backward_vmap(info, in_dims, grad, x, slope, axes, need_x, need_slope):
    grad_dim, x_dim, slope_dim = in_dims[:3]
    size = info.batch_size
    # Each vmapped example has its own slope gradient: the slope gets the vmapped axis too.
    gx, gs = parametric_ramp_backward(
        _batched_first(grad, grad_dim, size), _batched_first(x, x_dim, size),
        _batched_first(slope, slope_dim, size), [0, *(a + 1 for a in axes)], need_x, need_slope,
    )  # fmt: skip
    return (gx, gs), (0 if need_x else None, 0 if need_slope else None)


torch.library.register_vmap("wlnet::parametric_ramp", _forward_vmap, lib=_LIBRARY)
torch.library.register_vmap("wlnet::parametric_ramp_backward", _backward_vmap, lib=_LIBRARY)


# The entry point: autograd.Functions with setup_context and a vmap rule around the operators, which
# torch.func's transforms (grad, jacrev, vjp, hessian, per-sample gradients) require. The autograd
# formulas registered on the operators themselves (torch.library.register_autograd) serve direct
# calls of the operators, but torch.func refuses them (pytorch/pytorch#168393: the autograd.Function
# register_autograd makes has no setup_context).


def _differentiable_backward(ctx, grad):
    """The backward of :class:`_Ramp` and :class:`_DecomposedForward`: the backward operator, itself
    differentiable by :class:`_RampBackward` (torch.func-ready)."""
    x, slope = ctx.saved_tensors
    need_x, need_slope = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    gx, gs = _RampBackward.apply(grad, x, slope, ctx.axes, need_x, need_slope)
    return (gx if need_x else None), (gs if need_slope else None), None


class _Ramp(torch.autograd.Function):
    @staticmethod
    def forward(x, slope, axes):
        return parametric_ramp(x, slope, axes)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _forward_setup(ctx, inputs, output)
        ctx.save_for_forward(inputs[0], inputs[1])

    @staticmethod
    def jvp(ctx, x_tangent, slope_tangent, _):
        """Forward mode (torch.func.jvp, jacfwd, hessian): where(x > 0, dx, s dx + x ds)."""
        x, slope = ctx.saved_tensors
        view = view_shape(x.ndim, slope.shape, ctx.axes)
        tangent = torch.zeros_like(x)
        if x_tangent is not None:
            tangent = torch.where(x > 0, x_tangent, x_tangent * slope.reshape(view))
        if slope_tangent is not None:
            tangent = tangent + torch.where(x > 0, torch.zeros((), dtype=x.dtype, device=x.device),
                                            x * slope_tangent.reshape(view))
        return tangent

    backward = staticmethod(_differentiable_backward)

    @staticmethod
    def vmap(info, in_dims, x, slope, axes):
        return _forward_vmap(info, in_dims, x, slope, axes)


class _RampBackward(torch.autograd.Function):
    @staticmethod
    def forward(grad, x, slope, axes, need_x, need_slope):
        return parametric_ramp_backward(grad, x, slope, axes, need_x, need_slope)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _backward_setup(ctx, inputs, output)
        ctx.save_for_forward(*inputs[:3])

    backward = staticmethod(_backward_backward)

    @staticmethod
    def jvp(ctx, grad_tangent, x_tangent, slope_tangent, *_):
        """Forward mode of (where(x > 0, g, g s), sum(where(x >= 0, 0, x g))): x's tangent moves
        only the slope gradient (the input gradient is flat in x almost everywhere)."""
        grad, x, slope = ctx.saved_tensors
        view = view_shape(x.ndim, slope.shape, ctx.axes)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        gx_tangent = gs_tangent = None
        if ctx.need_x:
            gx_tangent = torch.zeros_like(x)
            if grad_tangent is not None:
                gx_tangent = torch.where(x > 0, grad_tangent, grad_tangent * slope.reshape(view))
            if slope_tangent is not None:
                gx_tangent = gx_tangent + torch.where(x > 0, zero, grad * slope_tangent.reshape(view))
        if ctx.need_slope:
            per_element = torch.zeros_like(x)
            if grad_tangent is not None:
                per_element = per_element + torch.where(x >= 0, zero, x * grad_tangent)
            if x_tangent is not None:
                per_element = per_element + torch.where(x >= 0, zero, x_tangent * grad)
            others = [d for d in range(x.ndim) if d not in ctx.axes]
            gs_tangent = (per_element.sum(dim=others) if others else per_element).reshape(slope.shape)
        return (
            x.new_empty(0) if gx_tangent is None else gx_tangent,
            slope.new_empty(0) if gs_tangent is None else gs_tangent,
        )

    @staticmethod
    def vmap(info, in_dims, grad, x, slope, axes, need_x, need_slope):
        return _backward_vmap(info, in_dims, grad, x, slope, axes, need_x, need_slope)


class _EagerRamp(torch.autograd.Function):
    """:class:`_Ramp` for plain eager calls: a forward that takes ``ctx`` costs 20-30 us less a call
    than one with ``setup_context``, whose arguments autograd binds with ``inspect`` every call."""

    @staticmethod
    def forward(ctx, x, slope, axes):
        _forward_setup(ctx, (x, slope, axes), None)
        if kernels.plain(x, slope):
            return _forward_kernel(x, slope, axes)
        with torch._C._AutoDispatchBelowAutograd():  # (skips the registered formula's Python layer)
            return parametric_ramp(x, slope, axes)

    @staticmethod
    def backward(ctx, grad):
        # Not _differentiable_backward: dynamo, which traces that one (_DecomposedForward), cannot
        # trace the guard below, which saves a Python autograd layer here.
        x, slope = ctx.saved_tensors
        need_x, need_slope = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph=True: differentiable gradients
            gx, gs = _RampBackward.apply(grad, x, slope, ctx.axes, need_x, need_slope)
        elif kernels.plain(grad, x, slope):
            gx, gs = _backward_kernel(grad, x, slope, ctx.axes, need_x, need_slope)
        else:
            with torch._C._AutoDispatchBelowAutograd():
                gx, gs = parametric_ramp_backward(grad, x, slope, ctx.axes, need_x, need_slope)
        return (gx if need_x else None), (gs if need_slope else None), None


def ramp(x: torch.Tensor, slope: torch.Tensor, axes: list[int]) -> torch.Tensor:
    """``torch.ops.wlnet.parametric_ramp(x, slope, axes)`` with its gradients, in eager mode and
    under every torch transform: what wlnet's modules and functions call. Compiled, exported or
    traced, it is :func:`compiled` (dynamo cannot trace the eager autograd.Functions below, and a
    trace would record them as opaque Python calls)."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return compiled(x, slope, axes)
    if torch.is_grad_enabled() and (x.requires_grad or slope.requires_grad) or forward_ad._current_level >= 0:
        if torch.is_autocast_enabled("cpu"):  # cast here, so that the saved tensors are the ones computed
            x, slope = _autocast_cpu_input(x), _autocast_cpu_input(slope)
        # torch.func transforms and forward mode (torch.func.jvp, a dual level) need _Ramp.
        if forward_ad._current_level >= 0 or torch._C._are_functorch_transforms_active():
            return _Ramp.apply(x, slope, axes)
        return _EagerRamp.apply(x, slope, axes)
    if kernels.plain(x, slope) and not torch.is_autocast_enabled("cpu"):  # (else the operator's autocast rule)
        return _forward_kernel(x, slope, axes)
    return parametric_ramp(x, slope, axes)


# Autocast: as torch.prelu (CPU autocast lists prelu among its lower-precision ops; CUDA's does not).


def _autocast_cpu_input(t: torch.Tensor) -> torch.Tensor:
    """``t`` as CPU autocast casts an input of a lower-precision op (float64 and others are kept)."""
    eligible = t.is_floating_point() and t.dtype != torch.float64 and t.device.type == "cpu"
    return t.to(torch.get_autocast_dtype("cpu")) if eligible else t


def _autocast_cpu(keyset, x, slope, axes):
    with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCPU)):
        return parametric_ramp(_autocast_cpu_input(x), _autocast_cpu_input(slope), axes)


_LIBRARY.impl("parametric_ramp", _autocast_cpu, "AutocastCPU", with_keyset=True)


# torch.compile: the forward as an opaque call, or as PyTorch's PReLU kernel that inductor fuses
# with its elementwise neighbours (the batch norm before it); the backward is the fused operator.

#: What a graph that ``torch.compile`` compiles holds (one that ``torch.export`` writes always holds
#: the operator): ``"operator"``, the fused operators forward and backward, each one opaque call;
#: ``"decomposed"``, PyTorch's PReLU kernel forward, which inductor fuses into the kernel of the
#: layer before (a batch norm's normalization: one pass over memory less), and the fused backward
#: operator; ``"inductor"``, PyTorch's PReLU kernel both ways, all of it inductor's to fuse (what
#: ``torch.nn.PReLU`` compiles to); ``"auto"`` (the default), per call in the graph: the operator for
#: a CPU input of more than :data:`COMPILED_OPERATOR_BYTES`, ``"inductor"`` for the rest. Measured
#: (bench/shapes.py, bench/models.py; BENCHMARKS.md, "In PyTorch models"): inductor's fused PReLU
#: trains about 4x faster than eager nn.PReLU, and in a model it also fuses the PReLU's backward into
#: the batch norm's, which an opaque operator cannot: compiled iresnet18 ran 8-24% slower with the
#: operator for its two 25.7 MB inputs than with inductor's code, though alone those PReLUs train
#: 1.3-1.5x faster as the operator. Past 32 MiB the operator wins, in a model too (compiled SRResNet,
#: whose one such PReLU has a 37.7 MB input: 5-10% faster than with inductor's code): there glibc's
#: malloc gives every PyTorch output a fresh mapping, which each call faults in page by page, where
#: the fused kernels' outputs come from wlnet's pool (:mod:`wlnet.kernels.pool`): (16, 64, 96, 96)
#: float32 alone, 27-30 ms a compiled nn.PReLU step against 4.1-5.8 ms. On CUDA, "auto" is
#: "inductor" (not measured there).
COMPILED_FORWARD = "auto"
#: ``"auto"``'s size, in bytes of the input, above which a compiled graph holds the operator: glibc's
#: largest mmap threshold (32 MiB on 64-bit), above which its malloc never reuses a freed block.
COMPILED_OPERATOR_BYTES = 32 << 20


class _DecomposedForward(torch.autograd.Function):
    """PyTorch's PReLU kernel forward, the fused operator's backward."""

    @staticmethod
    def forward(x, slope, axes):
        return torch._prelu_kernel(x, slope.reshape(view_shape(x.ndim, slope.shape, axes)))

    setup_context = staticmethod(_forward_setup)
    backward = staticmethod(_differentiable_backward)


def compiled(x: torch.Tensor, slope: torch.Tensor, axes: list[int]) -> torch.Tensor:
    """The forward that a module or function calls where it is compiled, exported or traced: the
    operator itself (with the autograd formula registered on it) in what ``torch.export`` and
    ``torch.jit.trace`` write, and in a graph that ``torch.compile`` compiles, :data:`COMPILED_FORWARD`'s."""
    if torch.jit.is_tracing() or torch.compiler.is_exporting():
        return parametric_ramp(x, slope, axes)
    mode = COMPILED_FORWARD
    if mode == "auto":
        big = x.is_cpu and x.numel() * x.element_size() > COMPILED_OPERATOR_BYTES
        mode = "operator" if big else "inductor"  # (a guard on the size where it is symbolic)
    if mode == "operator":
        return parametric_ramp(x, slope, axes)  # (dynamo traces no autograd.Function with a jvp: not ramp())
    if torch.is_autocast_enabled("cpu"):  # as the operator's autocast rule does
        x, slope = _autocast_cpu_input(x), _autocast_cpu_input(slope)
    if mode == "inductor":
        return torch._prelu_kernel(x, slope.reshape(view_shape(x.ndim, slope.shape, axes)))
    return _DecomposedForward.apply(x, slope, axes)


# ONNX: both exporters write PRelu.


def _decomposed(x: torch.Tensor, slope: torch.Tensor, axes: list[int]) -> torch.Tensor:
    """The operator for the dynamo ONNX exporter: an ONNX ``PRelu`` node (``torch.onnx.ops.symbolic``,
    torch >= 2.8) of the slope viewed to broadcast to the input; outside an export, in ATen ops.

    Not ``aten._prelu_kernel`` for the exporter: onnxscript's torchlib translates it as
    ``aten.prelu``, reshaping the slope onto the channel dim (``[1, -1, 1, ...]``), which puts a
    slope at any other level on the wrong axis (older torch gets that, right for levels 1 and [] only).
    """
    view = slope.reshape(view_shape(x.ndim, slope.shape, axes))
    onnx_ops = getattr(torch.onnx, "ops", None)
    if onnx_ops is not None and torch.onnx.is_in_onnx_export():
        return onnx_ops.symbolic("PRelu", [x, view], dtype=x.dtype, shape=x.shape)
    return torch.ops.aten._prelu_kernel.default(x, view)


# Only torch._decomp's global table, which the ONNX exporter consults: inductor and torch.export
# pick their decompositions from their own tables, so compiled graphs keep the fused operator.
torch._decomp.decomposition_table[parametric_ramp] = _decomposed


def _onnx_symbolic(g, x, slope, axes):
    """``wlnet::parametric_ramp`` in a TorchScript-exported ONNX graph: PRelu, the slope reshaped to
    broadcast to the input from the right (ONNX's unidirectional broadcasting)."""
    from torch.onnx import symbolic_helper

    axes_list = symbolic_helper._maybe_get_const(axes, "is")
    rank = symbolic_helper._get_tensor_rank(x)
    if rank is None or not isinstance(axes_list, list):
        return symbolic_helper._unimplemented("wlnet::parametric_ramp", "an input of unknown rank", x)
    sizes = symbolic_helper._get_tensor_sizes(slope)
    if sizes is None or len(sizes) != len(axes_list) or sum(size is None for size in sizes) > 1:
        return symbolic_helper._unimplemented("wlnet::parametric_ramp", "a slope of unknown dims", slope)
    # One unknown slope dim (a traced slope): Reshape infers it.
    shape = view_shape(rank, [-1 if size is None else size for size in sizes], axes_list)[min(axes_list, default=rank):]
    shape_const = g.op("Constant", value_t=torch.tensor(shape, dtype=torch.int64))
    return g.op("PRelu", x, g.op("Reshape", slope, shape_const))


def _onnx_prelu_kernel(g, x, weight):
    """``aten::_prelu_kernel`` (the module's path for small inputs: its weight is already shaped to
    broadcast) as PRelu."""
    return g.op("PRelu", x, weight)


def _register_onnx() -> None:
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("wlnet::parametric_ramp", _onnx_symbolic, 9)
    register_custom_op_symbolic("aten::_prelu_kernel", _onnx_prelu_kernel, 9)


_register_onnx()
