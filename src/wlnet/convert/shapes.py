"""from_torch of the layers that move or normalize elements without arrays: nn.Softmax, nn.Dropout,
nn.AlphaDropout, nn.Unflatten, and wlnet's own Softmax, Dropout and Reshape modules.

* ``nn.Softmax(dim=d)`` -> ``SoftmaxLayer(d)`` for ``d >= 1`` (dim d of the batch is level d of an
  example) and ``SoftmaxLayer(d)`` for ``d < 0`` (the same level counted from the last). Dim 0 (the
  batch axis) and ``dim=None`` (PyTorch's deprecated guess by rank) are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..layers.base import Layer
from ..layers.softmax import Softmax, SoftmaxLayer
from .common import no_equivalent

__all__ = ["CONVERTERS"]


def _softmax(module: nn.Softmax, position: tuple) -> Layer:
    dim = module.dim
    if dim is None:
        raise no_equivalent(
            module, position,
            "nn.Softmax(dim=None) picks its dim from the input's rank (a deprecated PyTorch guess); give "
            "the dim, e.g. nn.Softmax(dim=-1), which is SoftmaxLayer().",
        )
    if dim == 0:
        raise no_equivalent(
            module, position,
            "nn.Softmax(dim=0) normalizes over the batch axis, but a net keeps the examples of a batch "
            "apart; SoftmaxLayer(n) normalizes over level n of each example (dim n of the batch).",
        )
    return SoftmaxLayer(dim)


def _wlnet_softmax(module: Softmax, position: tuple) -> Layer:
    return SoftmaxLayer(module.level)


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {
    nn.Softmax: _softmax,
    Softmax: _wlnet_softmax,
}
