"""``torch.nn.functional.prelu`` on wlnet's fused kernels.

>>> import torch
>>> prelu(torch.tensor([[-2.0, 4.0]]), torch.tensor([0.5, 0.5])).tolist()
[[-1.0, 4.0]]
"""

from __future__ import annotations

import torch

from .. import kernels, operators

__all__ = ["prelu"]


def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.prelu(input, weight)``: the same values, gradients, broadcasting and
    errors (a weight of one value is shared; one of C values is on dim 1 of the input), computed by
    the operator ``torch.ops.wlnet.parametric_ramp`` where the fused kernels are faster.

    Small inputs, and anything but a floating input of the weight's dtype, run ``torch.prelu``
    itself in eager mode; under ``torch.compile``, ``torch.export`` and ``torch.jit.trace`` the
    operator runs (it picks PyTorch's kernel for small inputs at run time).
    """
    n = input.numel()
    traced = torch.compiler.is_compiling() or torch.jit.is_tracing()
    if not traced and (
        n < kernels.MIN_FUSED_NUMEL
        or (
            n < kernels.MIN_FUSED_TRAINING_NUMEL
            if torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad)
            else kernels.torch_forward_is_faster(input, weight)
        )
    ):
        return torch.prelu(input, weight)
    if input.dtype != weight.dtype or not input.dtype.is_floating_point or weight.ndim > 1 or n == 0:
        return torch.prelu(input, weight)  # its own result, or its own error
    if weight.numel() == 1:
        return operators.parametric_ramp(input, weight.reshape(()), [])
    if input.ndim >= 2 and weight.shape[0] == input.shape[1]:
        return operators.parametric_ramp(input, weight, [1])
    return torch.prelu(input, weight)  # torch's error for a channel mismatch
