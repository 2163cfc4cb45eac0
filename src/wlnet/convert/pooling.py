"""from_torch of PyTorch's pooling modules, and of wlnet's own Pooling and Aggregation modules.

* ``nn.MaxPool1d/2d/3d(k, s, p)`` -> ``PoolingLayer(k, s, PaddingSize=p)`` (PyTorch's padding is
  symmetric and ignored by the maximum, as the layer's symmetric padding is); dilation 1,
  ``ceil_mode=False`` and ``return_indices=False`` only.
* ``nn.AvgPool1d/2d/3d(k, s, p)`` -> ``PoolingLayer(k, s, Function="Mean", PaddingSize=p)`` with
  ``count_include_pad=True`` (the padding's zeros counted, as the layer does), or with
  ``count_include_pad=False`` and no padding (then the same); ``divisor_override=1`` is
  ``Function="Total"`` (the window's sum); ``ceil_mode=False`` only.
* ``nn.AdaptiveAvgPool1d/2d/3d(1)`` and ``nn.AdaptiveMaxPool1d/2d/3d(1)`` (global pooling, which
  keeps the spatial dims with size 1) -> ``NetChain([AggregationLayer("Mean" | "Max"),
  ReshapeLayer((All, 1, ...))])``; followed by ``nn.Flatten()`` in an ``nn.Sequential`` (the usual
  classifier head, as torchvision's models write it), the pair is the one
  ``AggregationLayer("Mean" | "Max")``. Other output sizes have no equivalent (they depend on the
  input's size).
* wlnet's ``Pooling`` and ``Aggregation`` (what ``to_torch()`` gives) -> the layers they came from.

Kernel sizes become tuples, one per spatial dim (so the layer's dimensionality is the module's);
strides and paddings stay ints where they are the same on every dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from ..layers.aggregation import Aggregation, AggregationLayer
from ..layers.base import Layer
from ..layers.pooling import Pooling, PoolingLayer
from ..layers.reshape import ReshapeLayer
from ..layers.spatial import compact
from ..nets.chain import NetChain
from ..symbols import All, Span
from .common import no_equivalent

__all__ = ["CONVERTERS", "flattens_global_pooling", "global_pooling"]

_MAX = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}
_AVG = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
_ADAPTIVE = {nn.AdaptiveAvgPool1d: (1, "Mean"), nn.AdaptiveAvgPool2d: (2, "Mean"), nn.AdaptiveAvgPool3d: (3, "Mean"),
             nn.AdaptiveMaxPool1d: (1, "Max"), nn.AdaptiveMaxPool2d: (2, "Max"), nn.AdaptiveMaxPool3d: (3, "Max")}


def _sizes(value: Any, d: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * d


def _check_ceil_mode(module: nn.Module, position: tuple) -> None:
    if module.ceil_mode:
        raise no_equivalent(module, position, "ceil_mode=True rounds output sizes up; PoolingLayer rounds them down.")


def _max_pool(module: nn.Module, position: tuple) -> Layer:
    d = _MAX[type(module)]  # type: ignore[index]
    if module.return_indices:
        raise no_equivalent(module, position, "return_indices=True returns the indices of the maxima too; a "
                                              "PoolingLayer gives the maxima only.")
    if any(v != 1 for v in _sizes(module.dilation, d)):
        raise no_equivalent(module, position, f"its dilation {module.dilation} is not 1; PoolingLayer has none.")
    _check_ceil_mode(module, position)
    kernel, stride = _sizes(module.kernel_size, d), _sizes(module.stride, d)
    return PoolingLayer(kernel, compact(stride), PaddingSize=compact(_sizes(module.padding, d)))


def _avg_pool(module: nn.Module, position: tuple) -> Layer:
    d = _AVG[type(module)]
    _check_ceil_mode(module, position)
    kernel, stride, padding = _sizes(module.kernel_size, d), _sizes(module.stride, d), _sizes(module.padding, d)
    if not module.count_include_pad and any(padding):
        raise no_equivalent(
            module, position,
            "count_include_pad=False with padding divides each window by its count of input elements; "
            "PoolingLayer's Mean counts the padding's zeros (count_include_pad=True).",
        )
    divisor = getattr(module, "divisor_override", None)
    volume = math.prod(kernel)
    if divisor not in (None, 1, volume):
        raise no_equivalent(module, position, f"divisor_override={divisor} divides each window's sum by neither 1 "
                                              f"(Total) nor the kernel's volume {volume} (Mean).")
    function = "Total" if divisor == 1 and volume != 1 else "Mean"
    return PoolingLayer(kernel, compact(stride), Function=function, PaddingSize=compact(padding))


def _global(module: nn.Module, position: tuple) -> tuple[int, str]:
    """The spatial dims and the function of an adaptive pooling to size 1 (anything else is refused)."""
    d, function = _ADAPTIVE[type(module)]
    size = module.output_size
    sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
    if any(s != 1 for s in sizes):
        raise no_equivalent(
            module, position,
            f"output_size={size!r} makes windows that depend on the input's size; only output size 1 (global "
            "pooling, AggregationLayer) has an equivalent. For a fixed input size, use PoolingLayer.",
        )
    if getattr(module, "return_indices", False):
        raise no_equivalent(module, position, "return_indices=True returns the indices of the maxima too.")
    return d, function


def _adaptive(module: nn.Module, position: tuple) -> Layer:
    d, function = _global(module, position)
    return NetChain([AggregationLayer(function, Span(2, All)), ReshapeLayer((All, *(1,) * d))])


def flattens_global_pooling(module: nn.Module, following: nn.Module | None) -> bool:
    """Whether ``module`` is an adaptive pooling to size 1 and ``following`` the ``nn.Flatten()``
    that drops the size-1 dims it keeps: together one AggregationLayer."""
    return type(module) in _ADAPTIVE and type(following) is nn.Flatten and following.start_dim == 1 and (
        following.end_dim == -1)


def global_pooling(module: nn.Module, position: tuple) -> Layer:
    """The AggregationLayer of an adaptive pooling to size 1 followed by nn.Flatten()."""
    return AggregationLayer(_global(module, position)[1])


def _wlnet_pooling(module: Pooling, position: tuple) -> Layer:
    return PoolingLayer(module.kernel, module.stride, Function=module.function, PaddingSize=module.padding,
                        Interleaving=module.interleaving, Dimensionality=module.dimensionality)


def _wlnet_aggregation(module: Aggregation, position: tuple) -> Layer:
    return AggregationLayer(module.function, module.levels)


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {
    **dict.fromkeys(_MAX, _max_pool),
    **dict.fromkeys(_AVG, _avg_pool),
    **dict.fromkeys(_ADAPTIVE, _adaptive),
    Pooling: _wlnet_pooling,
    Aggregation: _wlnet_aggregation,
}
