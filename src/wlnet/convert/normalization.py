"""from_torch of PyTorch's batch normalization, and of wlnet's own torch form of it.

* ``nn.BatchNorm1d/2d/3d(C, eps, momentum)`` (and ``nn.SyncBatchNorm``) ->
  ``BatchNormalizationLayer(Epsilon=eps, Momentum=1 - momentum, Scaling=weight, Biases=bias,
  MovingMean=running_mean, MovingVariance=running_var)``: channels first, as in PyTorch. The
  running statistics are what the module holds, eval-mode ones (``num_batches_tracked`` is not
  kept). PyTorch's ``momentum`` is the weight of the new batch, the Wolfram Language's ``"Momentum"``
  that of the old value, so 0.1 becomes 0.9. The moving variance goes on being updated
  differently: PyTorch updates ``running_var`` with the batch's unbiased variance (divided by
  N - 1), wlnet with the biased one (divided by N), as MXNet and the Wolfram Language do; the
  normalization itself uses the biased one in both.
  ``nn.BatchNorm2d`` takes examples of dims ``(C, h, w)`` and ``nn.BatchNorm3d`` ``(C, d, h, w)``, so
  the layer's Input gets that rank; ``nn.BatchNorm1d`` takes ``(C,)`` or ``(C, L)``, so its rank is left open.
* ``affine=False`` (no weight and bias): Scaling ones and Biases zeros, which the layer always has;
  they are trainable like any layer's arrays (a layer has one LearningRateMultipliers value for all
  four arrays, and 0 would freeze the moving statistics too): freeze them with NetTrain's
  LearningRateMultipliers (``{(i, "Scaling"): 0, (i, "Biases"): 0}``) to train as PyTorch would.
* Refused: ``momentum=None`` (PyTorch's cumulative average, which weighs every batch alike: no
  fixed Momentum does that) and ``track_running_stats=False`` (it normalizes with the batch's
  statistics in evaluation too, where BatchNormalizationLayer uses its moving statistics).
* wlnet's ``BatchNormalization`` (``to_torch()``'s form) -> the layer it came from, with the
  module's (perhaps trained) arrays and its multiplier.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..layers.base import Layer
from ..layers.normalization import BatchNormalization, BatchNormalizationLayer
from ..symbols import Automatic
from .common import layer_multiplier, no_equivalent

__all__ = ["CONVERTERS"]

#: The rank of one example that each PyTorch module takes (None: more than one).
_RANKS: dict[type, int | None] = {nn.BatchNorm1d: None, nn.BatchNorm2d: 3, nn.BatchNorm3d: 4, nn.SyncBatchNorm: None}


def _batch_norm(module: nn.modules.batchnorm._BatchNorm, position: tuple) -> Layer:
    if not module.track_running_stats or module.running_mean is None or module.running_var is None:
        raise no_equivalent(
            module, position,
            "track_running_stats=False normalizes with the batch's statistics in evaluation too, but "
            "BatchNormalizationLayer normalizes with its moving statistics outside training. Convert a module "
            "that tracks running statistics.",
        )
    if module.momentum is None:
        raise no_equivalent(
            module, position,
            "momentum=None (a cumulative moving average, every batch weighed alike) has no fixed "
            'equivalent; BatchNormalizationLayer\'s "Momentum" is the fraction of the moving statistics kept '
            "at each batch (PyTorch's 1 - momentum). Set module.momentum to a number first.",
        )
    channels = module.num_features
    scaling: torch.Tensor = torch.ones(channels)
    biases: torch.Tensor = torch.zeros(channels)
    multiplier: Any = Automatic
    if module.affine:
        multiplier = layer_multiplier(module, position, {"weight": module.weight, "bias": module.bias})
        scaling, biases = module.weight, module.bias
    rank = _RANKS[type(module)]
    return BatchNormalizationLayer(
        Epsilon=float(module.eps),
        Momentum=1 - float(module.momentum),
        Scaling=scaling,
        Biases=biases,
        MovingMean=module.running_mean,
        MovingVariance=module.running_var,
        LearningRateMultipliers=multiplier,
        Input=Automatic if rank is None else (channels, *[Automatic] * (rank - 1)),
    )


def _wlnet_batch_normalization(module: BatchNormalization, position: tuple) -> Layer:
    multiplier = layer_multiplier(module, position, {"Scaling": module.Scaling, "Biases": module.Biases})
    expected = 1.0 if multiplier is Automatic else multiplier
    others = {name: value for name, value in module.buffer_multipliers.items() if value != expected}
    if others:
        found = ", ".join(f"{name} {value:g}" for name, value in others.items())
        raise no_equivalent(
            module, position,
            f"the multipliers of its moving statistics ({found}) differ from its parameters' ({expected:g}), but "
            "the layer has one LearningRateMultipliers value for all its arrays.",
        )
    return BatchNormalizationLayer(
        Epsilon=module.epsilon,
        Momentum=module.momentum,
        Interleaving=module.interleaving,
        Scaling=module.Scaling,
        Biases=module.Biases,
        MovingMean=module.MovingMean,
        MovingVariance=module.MovingVariance,
        LearningRateMultipliers=multiplier,
    )


CONVERTERS: dict[type, Any] = {
    **dict.fromkeys(_RANKS, _batch_norm),
    BatchNormalization: _wlnet_batch_normalization,
}
