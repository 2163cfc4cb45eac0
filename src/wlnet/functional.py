"""Pure torch functions behind the layers: no state, no Wolfram conventions beyond the math.

``parametric_ramp(x, slope, axes)`` is the one implementation of ParametricRampLayer's math.
``axes`` are 0-based axes of ``x`` (batch included) that the slope's dims sit on, in increasing
order; the slope broadcasts over every other axis.

>>> import torch
>>> x = torch.tensor([[-3.0, -2.0, -1.0], [0.0, 1.0, 2.0]])
>>> parametric_ramp(x, torch.tensor([0.1, 0.2, 0.3]), (1,))
tensor([[-0.3000, -0.4000, -0.3000],
        [ 0.0000,  1.0000,  2.0000]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import kernels, operators
from .kernels import view_shape as slope_view_shape  # (its name here)

__all__ = ["parametric_ramp", "parametric_ramp_reference", "slope_view_shape"]


def _check(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> None:
    expected = tuple(x.shape[a] for a in axes)
    if tuple(slope.shape) != expected:
        raise ValueError(
            f"parametric_ramp: the slope has dims {tuple(slope.shape)}, but the input of shape "
            f"{tuple(x.shape)} has dims {expected} on axes {axes}."
        )


def _forward(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    s = slope.reshape(slope_view_shape(x.ndim, slope.shape, axes)) if axes else slope
    return torch.where(x > 0, x, x * s)


class _ParametricRamp(torch.autograd.Function):
    """f(x) = x for x > 0, slope * x otherwise, with the gradients written out.

    Written out rather than left to autograd of ``torch.where`` because that would give
    d/dslope = 0 * x = NaN at x = +inf, where the slope plays no part. At x == 0 the gradients
    are d/dx = slope and d/dslope = 0, as in MXNet (which Wolfram ran on) and PyTorch, and that 0
    is selected, not computed as x * grad, so it stays 0 when the upstream gradient is infinite.
    """

    generate_vmap_rule = True  # (torch.func: its forward is torch ops, which vmap knows)

    @staticmethod
    def forward(x, slope, axes):
        return _forward(x, slope, axes)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, slope, axes = inputs
        ctx.save_for_backward(x, slope)
        ctx.axes = axes

    @staticmethod
    def backward(ctx, grad):
        x, slope = ctx.saved_tensors
        axes = ctx.axes
        positive = x > 0
        grad_x = grad_slope = None
        if ctx.needs_input_grad[0]:
            s = slope.reshape(slope_view_shape(x.ndim, slope.shape, axes))
            grad_x = torch.where(positive, grad, grad * s)
        if ctx.needs_input_grad[1]:
            # Selected on x >= 0: x * grad would be NaN at x = 0 for an infinite grad.
            per_element = torch.where(x >= 0, torch.zeros((), dtype=x.dtype, device=x.device), x * grad)
            others = tuple(d for d in range(x.ndim) if d not in axes)
            summed = per_element.sum(dim=others) if others else per_element
            grad_slope = summed.reshape(slope.shape)
        return grad_x, grad_slope, None


def parametric_ramp_reference(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """The plain torch formulation: the semantic reference every faster path is tested against."""
    axes = tuple(axes)
    _check(x, slope, axes)
    return _ParametricRamp.apply(x, slope.to(x.dtype), axes)


def parametric_ramp(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """Leaky ReLU with a learned slope on the given axes of ``x``.

    Wolfram: ``ParametricRampLayer[levels]``'s function, f(x) = x if x > 0 else slope * x.

    Args:
        x: the input, batch axis included, any float dtype.
        slope: an array whose dims are ``x``'s dims at ``axes`` (rank 0 for a shared slope).
        axes: 0-based axes of ``x``, increasing; the slope broadcasts over all other axes.

    Runs the operator ``torch.ops.wlnet.parametric_ramp`` (:mod:`wlnet.operators`: the fused
    kernels where they are faster, PyTorch's PReLU kernel elsewhere), in eager mode as under
    ``torch.compile``, ``torch.export``, ``torch.jit.trace`` and ``torch.func``; tensors it does not
    take (an empty one, a slope on another device) run the reference formulation. Both give the
    same values and gradients.
    """
    axes = tuple(axes)
    if torch.jit.is_tracing() and x.dtype.is_floating_point and slope.device == x.device:
        # The operator, as the modules trace it: it checks the sizes when the trace runs (read
        # here, they are traced values and only make the tracer warn).
        return operators.compiled(x, slope.to(x.dtype), list(axes))
    _check(x, slope, axes)
    if slope.dtype != x.dtype:
        slope = slope.to(x.dtype)
    if kernels.supports(x, slope, axes):
        return operators.ramp(x, slope, list(axes))
    if torch.is_grad_enabled() and (x.requires_grad or slope.requires_grad):
        return _ParametricRamp.apply(x, slope, axes)
    return _forward(x, slope, axes)  # no gradient wanted: skip the autograd.Function machinery
