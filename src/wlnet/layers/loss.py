"""Loss layers for NetTrain's LossFunction: MeanSquaredLossLayer, MeanAbsoluteLossLayer, CrossEntropyLossLayer.

Each computes, per example, the mean over elements of its loss (over vectors of class
probabilities, for the "Index" and "Probabilities" cross-entropies); NetTrain takes the mean over the
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
    """Wolfram: ``CrossEntropyLossLayer["Index"]``, ``["Probabilities"]``, ``["Binary"]``.

    * ``"Index"`` (the Automatic loss after a SoftmaxLayer): -log p[t], where the input is a vector
      of class probabilities p (classes along the last dim) and the target t the 1-based index of
      the true class (NetTrain gives it from labels through the output's Class decoder); for an
      array of vectors, the target is an array of indices, and the loss the mean over them.
    * ``"Probabilities"``: -sum t log p over the classes, the target a probability vector (such
      as a one-hot vector); for arrays of vectors, the mean over them.
    * ``"Binary"`` (the Automatic loss after a LogisticSigmoid): -(t log p + (1 - t) log(1 - p)),
      the input a probability, the target a number in [0, 1]; for arrays, the mean over elements.

    Logarithms are clamped at -100, as PyTorch's binary cross-entropy does, so p = 0 gives a large
    finite loss rather than inf (and a zero gradient rather than NaN). NetTrain takes the mean over
    the batch.

    >>> import torch
    >>> p = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> round(float(CrossEntropyLossLayer("Index").loss(p, torch.tensor([2.0, 1.0]))), 6)  # -(log .75 + log .5)/2
    0.490415
    """

    def __init__(self, kind="Binary"):
        if kind not in _FORMS:
            raise NetSpecificationError(
                f"CrossEntropyLossLayer: the form {kind!r} is not available; the forms are "
                f"{', '.join(map(repr, _FORMS))}.{closest(str(kind), _FORMS)}"
            )
        self.kind = kind

    def loss(self, output, target):
        if self.kind == "Binary":
            return F.binary_cross_entropy(output, target)
        if self.kind == "Index":
            positions = target.long().unsqueeze(-1) - 1  # 1-based class indices
            return -_clamped_log(output.gather(-1, positions)).mean()
        return -(target * _clamped_log(output)).sum(dim=-1).mean()

    def __repr__(self) -> str:
        return f"CrossEntropyLossLayer({self.kind!r})"


_FORMS = ("Index", "Probabilities", "Binary")


def _clamped_log(p: torch.Tensor) -> torch.Tensor:
    """log p clamped at -100 (p <= 0 gives -100, with a zero gradient)."""
    positive = p > 0
    safe = torch.where(positive, p, torch.ones_like(p))  # no log(0) even where not taken (its gradient)
    return torch.where(positive, torch.log(safe).clamp_min(-100.0), -100.0)
