"""from_torch of the convolutions: nn.Conv1d, nn.Conv2d, nn.Conv3d, and wlnet's own Convolution module.

* ``nn.Conv1d/2d/3d(c, n, k, stride, padding, dilation, groups, bias)`` ->
  ``ConvolutionLayer(n, (k1, ...), Stride=, PaddingSize=, Dilation=, ChannelGroups=groups,
  Weights=weight, Biases=bias)`` (``Biases=None`` for ``bias=False``): PyTorch's weight layout
  ``(n, c/groups, k...)`` is the layer's. The kernel size is given as a tuple, which fixes the
  dimensionality; a stride, padding or dilation the same in every dim is given as one int. Padding
  ``"valid"`` is 0, and ``"same"`` (which PyTorch allows with stride 1 only) is ``"Same"``: both put
  the extra zero of an odd total after. A ``padding_mode`` other than ``"zeros"`` (reflect,
  replicate, circular) has no ConvolutionLayer equivalent and is refused.
* wlnet's ``Convolution`` (what ``to_torch()`` gives) -> the ConvolutionLayer it came from, with
  the module's (perhaps trained) arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..layers.base import Layer
from ..layers.convolution import Convolution, ConvolutionLayer
from ..layers.spatial import compact
from .common import layer_multiplier, no_equivalent

__all__ = ["CONVERTERS"]


def _compact(values: tuple) -> Any:
    """The module's sizes as ints, in :func:`~wlnet.layers.spatial.compact` form."""
    return compact(tuple(int(v) for v in values))


def _padding(module: Any, position: tuple) -> Any:
    if module.padding_mode != "zeros":
        raise no_equivalent(
            module, position,
            f'padding_mode="{module.padding_mode}" pads with other values than zeros, but ConvolutionLayer pads with '
            'zeros only (padding_mode="zeros").',
        )
    if module.padding == "same":
        return "Same"
    if module.padding == "valid":
        return 0
    return _compact(module.padding)


def _torch_convolution(module: Any, position: tuple) -> Layer:
    bias = module.bias
    parameters = {"weight": module.weight, **({"bias": bias} if bias is not None else {})}
    return ConvolutionLayer(
        module.out_channels,
        tuple(int(k) for k in module.kernel_size),
        Stride=_compact(module.stride),
        PaddingSize=_padding(module, position),
        Dilation=_compact(module.dilation),
        ChannelGroups=module.groups,
        Weights=module.weight,
        Biases=bias,
        LearningRateMultipliers=layer_multiplier(module, position, parameters),
    )


def _wlnet_convolution(module: Convolution, position: tuple) -> Layer:
    spec = dict(module.spec)
    return ConvolutionLayer(
        spec.pop("n"), spec.pop("s"), **spec,
        Weights=module.Weights,
        Biases=module.bias,
        LearningRateMultipliers=layer_multiplier(module, position, dict(module.named_parameters())),
    )


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {
    nn.Conv1d: _torch_convolution,
    nn.Conv2d: _torch_convolution,
    nn.Conv3d: _torch_convolution,
    Convolution: _wlnet_convolution,
}
