"""from_torch of the layers that move or normalize elements without arrays: nn.Softmax, nn.Dropout,
nn.AlphaDropout, nn.Unflatten, and wlnet's own Softmax, Dropout and Reshape modules.

* ``nn.Softmax(dim=d)`` -> ``SoftmaxLayer(d)`` for ``d >= 1`` (dim d of the batch is level d of an
  example) and ``SoftmaxLayer(d)`` for ``d < 0`` (the same level counted from the last). Dim 0 (the
  batch axis) and ``dim=None`` (PyTorch's deprecated guess by rank) are refused.
* ``nn.Dropout(p)`` -> ``DropoutLayer(p)``; ``nn.AlphaDropout(p)`` -> ``DropoutLayer(p,
  Method="AlphaDropout")``. The channel dropouts (``nn.Dropout1d/2d/3d``,
  ``nn.FeatureAlphaDropout``) drop whole channels, which no DropoutLayer does: refused.
* ``nn.Unflatten(d, sizes)`` -> ``ReshapeLayer((Inherited, ..., *sizes, All))`` (d - 1 Inheriteds)
  for ``d >= 1`` and ``ReshapeLayer((All, *sizes))`` for ``d = -1``, on inputs of any rank. With a
  size -1 (Automatic, which cannot go with All) and ``d >= 1`` the unflattened dim must be the last
  one: ``ReshapeLayer((Inherited, ..., *sizes), Input=(Automatic,) * d)``. Other dims counted from
  the last are refused (no ReshapeLayer does that on every rank).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..layers.base import Layer
from ..layers.dropout import Dropout, DropoutLayer
from ..layers.reshape import Reshape, ReshapeLayer
from ..layers.softmax import Softmax, SoftmaxLayer
from ..symbols import All, Automatic, Inherited
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


def _dropout(module: nn.Dropout | nn.AlphaDropout, position: tuple) -> Layer:
    method = "AlphaDropout" if isinstance(module, nn.AlphaDropout) else "Dropout"
    return DropoutLayer(module.p, Method=method)


def _channel_dropout(module: nn.Module, position: tuple) -> Layer:
    raise no_equivalent(
        module, position,
        f"{type(module).__name__} drops whole channels (all the elements of a channel together), but "
        "DropoutLayer drops single elements. For inference, where both do nothing, replace it with "
        "nn.Identity(); for training, with nn.Dropout(p).",
    )


def _unflatten(module: nn.Unflatten, position: tuple) -> Layer:
    dim, sizes = module.dim, tuple(int(s) for s in module.unflattened_size)
    automatic = -1 in sizes
    if dim == -1 and not automatic:
        return ReshapeLayer((All, *sizes))
    if not isinstance(dim, int) or dim < 1:
        raise no_equivalent(
            module, position,
            f"nn.Unflatten(dim={dim!r}, unflattened_size={sizes}) unflattens a dim counted from the last (or the "
            "batch axis), which no ReshapeLayer does on inputs of every rank; give the dim counted from the first, "
            "e.g. nn.Unflatten(1, (c, h, w)), or use ReshapeLayer directly.",
        )
    if not automatic:
        return ReshapeLayer((*(Inherited,) * (dim - 1), *sizes, All))
    entries = tuple(Automatic if s == -1 else s for s in sizes)  # -1: the size that keeps the count
    return ReshapeLayer((*(Inherited,) * (dim - 1), *entries), Input=(Automatic,) * dim)


def _wlnet_softmax(module: Softmax, position: tuple) -> Layer:
    return SoftmaxLayer(module.level)


def _wlnet_dropout(module: Dropout, position: tuple) -> Layer:
    return DropoutLayer(module.p, Method=module.method)


def _wlnet_reshape(module: Reshape, position: tuple) -> Layer:
    return ReshapeLayer(module.dims)


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {
    nn.Softmax: _softmax,
    nn.Dropout: _dropout,
    nn.AlphaDropout: _dropout,
    nn.Dropout1d: _channel_dropout,
    nn.Dropout2d: _channel_dropout,
    nn.Dropout3d: _channel_dropout,
    nn.FeatureAlphaDropout: _channel_dropout,
    nn.Unflatten: _unflatten,
    Softmax: _wlnet_softmax,
    Dropout: _wlnet_dropout,
    Reshape: _wlnet_reshape,
}
