"""NetTrain's ``"TrainingNet"``: the net as training starts, with its loss attached.

The Wolfram Language gives a NetGraph of the net and its loss layers; wlnet's loss layers are loss
specifications rather than layers of a graph, so :class:`TrainingNet` pairs the net with the losses
NetTrain attaches, and computes, like the Wolfram training net, one loss per example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..evaluate import evaluation_module
from ..symbols import Scaled
from .data import Ports, examples
from .loss import Losses

__all__ = ["TrainingNet"]


class TrainingNet:
    """The net prepared for training, with the loss attached: what NetTrain's ``"TrainingNet"`` gives.

    Wolfram: ``NetTrain[net, data, "TrainingNet"]``, ``NetTrainResultsObject[...]["TrainingNet"]``.

    Attributes:
        net: the net as training starts: its dims inferred from the data, its arrays initialized
            as NetTrain initializes them (RandomSeeding), no update made.
        losses: the losses attached to the output port, as ``(loss, weight)`` pairs: a loss layer
            such as ``CrossEntropyLossLayer("Binary")`` (the Automatic loss after a
            LogisticSigmoid; ``MeanSquaredLossLayer()`` otherwise), or the output port's name
            when the output is itself the loss (``LossFunction="Output"``).
        ports: the ports fed in training: ``{"Input": "Input", "Target": "Output"}`` (the target
            port is named after the output port it is compared with; None when there is none).

    Calling it on data in any of NetTrain's forms gives each example's loss, the weighted sum of
    its losses, each the mean over the example's elements (a float32 array, one per example);
    NetTrain minimizes their mean over each batch.
    """

    __slots__ = ("losses", "net", "_ports")

    def __init__(self, net: Any, losses: Losses, ports: Ports):
        self.net, self.losses, self._ports = net, list(losses), ports

    @property
    def ports(self) -> dict[str, str | None]:
        return {"Input": self._ports.input, "Target": self._ports.output if self._ports.targets else None}

    def __call__(self, data: Any) -> np.ndarray:
        batch = examples(self.net, data, self._ports, "the data")
        module = evaluation_module(self.net, torch.float32, torch.device("cpu"))
        values = np.zeros(batch.n, dtype=np.float32)
        with torch.no_grad():
            for x, y, ids in batch.groups:
                out = module(x.float())
                target = None if y is None else y.float()
                for row, index in enumerate(ids):
                    values[int(index)] = float(self._example_loss(out[row:row + 1], target, row))
        return values

    def _example_loss(self, out: torch.Tensor, target: torch.Tensor | None, row: int) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float64)
        for loss, weight in self.losses:
            if isinstance(loss, str):
                value = out.mean()
            else:
                assert target is not None  # a loss layer is attached only with targets
                value = loss.loss(out, target[row:row + 1])
            total = total + weight * value.double()
        return total

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TrainingNet) and self.net == other.net and self.losses == other.losses
                and self._ports == other._ports)

    __hash__ = None  # type: ignore[assignment]  # loss layers are unhashable, so training nets are too

    def __repr__(self) -> str:
        if len(self.losses) == 1 and self.losses[0][1] == 1.0:
            spec: Any = self.losses[0][0]
        else:
            spec = [(loss, Scaled(weight)) for loss, weight in self.losses]
        return f"TrainingNet({self.net!r}, LossFunction={spec!r})"
