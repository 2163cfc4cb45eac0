"""Loss layers for NetTrain's LossFunction: MeanSquaredLossLayer, MeanAbsoluteLossLayer, CrossEntropyLossLayer.

Each computes, per example, the mean over elements of its loss; NetTrain takes the mean over the
batch. They are loss specifications, not evaluable layers: NetTrain attaches them to the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..display import loss_layer_html
from ..errors import NetSpecificationError, closest

__all__ = ["CrossEntropyLossLayer", "LossLayer", "MeanAbsoluteLossLayer", "MeanSquaredLossLayer"]


class LossLayer:
    """Base of the loss layers: ``loss(output, target)`` is the mean loss over a batch."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        """The summary panel Jupyter shows (:mod:`wlnet.display`)."""
        return loss_layer_html(self)

    # Defining __eq__ without __hash__ makes Python set __hash__ to None: loss layers are unhashable.
    def __eq__(self, other) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)


class MeanSquaredLossLayer(LossLayer):
    """Wolfram: ``MeanSquaredLossLayer[]``: the mean of (output - target)^2 over elements."""

    def loss(self, output, target):
        return F.mse_loss(output, target)

    def __repr__(self) -> str:
        return "MeanSquaredLossLayer()"


class MeanAbsoluteLossLayer(LossLayer):
    """Wolfram: ``MeanAbsoluteLossLayer[]``: the mean of |output - target| over elements."""

    def loss(self, output, target):
        return F.l1_loss(output, target)

    def __repr__(self) -> str:
        return "MeanAbsoluteLossLayer()"


class CrossEntropyLossLayer(LossLayer):
    """Wolfram: ``CrossEntropyLossLayer["Binary"]``: -(t log p + (1 - t) log(1 - p)), averaged.

    The input is a probability (the output of a LogisticSigmoid), the target a number in [0, 1].
    Logarithms are clamped at -100, as PyTorch's binary cross-entropy does, so p = 0 or 1 gives a
    large finite loss rather than inf.
    """

    def __init__(self, kind="Binary"):
        if kind != "Binary":
            raise NetSpecificationError(
                f'CrossEntropyLossLayer: the form {kind!r} is not available; "Binary" is.'
                f"{closest(str(kind), ['Binary'])}"
            )
        self.kind = kind

    def loss(self, output, target):
        return F.binary_cross_entropy(output, target)

    def __repr__(self) -> str:
        return f"CrossEntropyLossLayer({self.kind!r})"
