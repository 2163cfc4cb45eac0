"""``torch.nn.functional.prelu`` on wlnet's fused kernels.

>>> import torch
>>> prelu(torch.tensor([[-2.0, 4.0]]), torch.tensor([0.5, 0.5])).tolist()
[[-1.0, 4.0]]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from .. import kernels, operators

__all__ = ["prelu"]


def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.prelu(input, weight)``: the same values, gradients, broadcasting and
    errors (a weight of one value is shared; one of C values is on dim 1 of the input), computed by
    the operator ``torch.ops.wlnet.parametric_ramp`` where the fused kernels are faster.

    Small inputs, and anything but a floating input of the weight's dtype, run ``torch.prelu``
    itself in eager mode; under ``torch.compile``, ``torch.export`` and ``torch.jit.trace`` the
    operator runs (it picks PyTorch's kernel for small inputs at run time; see
    :func:`wlnet.operators.compiled` for what a compiled graph holds).
    """
    if torch.jit.is_tracing():
        # The choice depends on the weight's shape and the input's rank, fixed for a trace: made
        # here without the tracer's warnings about reading sizes (the operator checks the sizes
        # when the trace runs).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return _operator(input, weight, operators.parametric_ramp)
    n = input.numel()
    if not torch.compiler.is_compiling() and (
        n < kernels.MIN_FUSED_NUMEL
        or (
            n < kernels.MIN_FUSED_TRAINING_NUMEL
            if torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad)
            else _torch_inference(input, weight, n)
        )
    ):
        return torch.prelu(input, weight)
    return _operator(input, weight, operators.ramp)


def _operator(input: torch.Tensor, weight: torch.Tensor, ramp: Callable) -> torch.Tensor:
    """torch.prelu's rules, computed by ``ramp`` (the operator) where they allow it."""
    if input.dtype != weight.dtype or not input.dtype.is_floating_point or weight.ndim > 1 or input.numel() == 0:
        return torch.prelu(input, weight)  # its own result, or its own error
    if weight.numel() == 1:
        return ramp(input, weight.reshape(()), [])
    if input.ndim >= 2 and weight.shape[0] == input.shape[1]:
        return ramp(input, weight, [1])
    return torch.prelu(input, weight)  # torch's error for a channel mismatch


def _torch_inference(input: torch.Tensor, weight: torch.Tensor, n: int) -> bool:
    """:func:`wlnet.kernels.torch_forward_is_faster` for torch.prelu's weights (one dim at most, on
    dim 1 of the input: the innermost axis of a matrix), inlined: the general one costs 2 us."""
    dtype = input.dtype
    if not input.is_cpu or n * input.element_size() > kernels.torch_forward_bytes():
        return False
    if dtype == torch.float32 or dtype == torch.float64:
        return input.is_contiguous() or input.ndim == 4 and input.is_contiguous(memory_format=torch.channels_last)
    innermost = weight.numel() > 1 and input.ndim == 2
    return dtype == torch.bfloat16 and not innermost and input.is_contiguous()
