"""NetTrain's LossFunction: which losses are attached to the net's output, and a batch's loss."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ..errors import NetOptionError
from ..functions import LogisticSigmoid
from ..layers.elementwise import ElementwiseLayer
from ..layers.loss import CrossEntropyLossLayer, LossLayer, MeanSquaredLossLayer
from ..layers.softmax import SoftmaxLayer
from ..symbols import Automatic, Scaled

__all__ = ["Losses", "index_targets", "parse_loss"]

Losses = list[tuple[Any, float]]  # (a loss layer, or the output port's name: the output is the loss; weight)


def parse_loss(spec: Any, net: Any, out_port: str) -> Losses:
    """The losses for LossFunction ``spec``: Automatic attaches the cross-entropy of class indices
    after a SoftmaxLayer, binary cross-entropy after a LogisticSigmoid and the mean squared loss
    otherwise, as Wolfram does."""
    if spec is Automatic:
        last = net._leaf_layers()[-1][1]
        if isinstance(last, SoftmaxLayer):
            return [(CrossEntropyLossLayer("Index"), 1.0)]
        if isinstance(last, ElementwiseLayer) and last.function is LogisticSigmoid:
            return [(CrossEntropyLossLayer("Binary"), 1.0)]
        return [(MeanSquaredLossLayer(), 1.0)]
    return [_weighted(item, out_port) for item in (spec if isinstance(spec, list) else [spec])]


def index_targets(losses: Losses) -> bool:
    """Whether the targets are class indices: the loss is ``CrossEntropyLossLayer("Index")``.

    Raises:
        NetOptionError: that loss beside another one that compares the output with a target of
            the output's own dims.
    """
    kinds = {_is_index(loss) for loss, _ in losses if not isinstance(loss, str)}
    if len(kinds) > 1:
        raise NetOptionError(
            'NetTrain: CrossEntropyLossLayer("Index") compares the output with class indices, so it cannot be '
            "combined with a loss that compares it with targets of the output's dims: "
            f"{', '.join(repr(loss) for loss, _ in losses)}."
        )
    return kinds == {True}


def _is_index(loss: Any) -> bool:
    return isinstance(loss, CrossEntropyLossLayer) and loss.kind == "Index"


def _weighted(item: Any, out_port: str) -> tuple[Any, float]:
    weight: Any = 1.0
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Scaled):
        item, weight = item[0], item[1].value
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise NetOptionError(f"NetTrain: a LossFunction weight should be a number, not {weight!r}.")
    if isinstance(item, LossLayer) or item == out_port:
        return item, float(weight)
    raise NetOptionError(
        f"NetTrain: LossFunction should be Automatic, a loss layer (MeanSquaredLossLayer(), "
        f'CrossEntropyLossLayer("Index"), ...), the output port "{out_port}", or a list '
        f"of them with weights (spec, Scaled(w)), but was {item!r}."
    )


def batch_loss(losses: Losses, module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """The weighted sum of the losses of one batch (each the mean over the batch)."""
    out = module(x)
    total: torch.Tensor | None = None
    for loss, weight in losses:
        value = out.mean() if isinstance(loss, str) else loss.loss(out, y)
        value = value * weight if weight != 1.0 else value
        total = value if total is None else total + value
    assert total is not None  # parse_loss gives at least one loss
    return total
