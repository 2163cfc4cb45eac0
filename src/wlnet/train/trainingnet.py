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
from .data import examples
from .loss import Losses, port_loss
from .ports import Ports

__all__ = ["TrainingNet"]


class TrainingNet:
    """The net prepared for training, with the loss attached: what NetTrain's ``"TrainingNet"`` gives.

    Wolfram: ``NetTrain[net, data, "TrainingNet"]``, ``NetTrainResultsObject[...]["TrainingNet"]``.

    Attributes:
        net: the net as training starts: its dims inferred from the data, its arrays initialized
            as NetTrain initializes them (RandomSeeding), no update made.
        losses: the losses attached, as ``(spec, weight)`` pairs, each spec a LossFunction spec
            alone: a loss layer such as ``CrossEntropyLossLayer("Binary")`` (the Automatic loss
            after a LogisticSigmoid; ``MeanSquaredLossLayer()`` otherwise) for a net with one
            output port, ``{port: loss layer}`` for a net with several, or an output port's name
            when that port's value is itself the loss (``LossFunction="Output"``).
        ports: the ports fed in training: ``{"Input": "Input", "Target": "Output"}`` for a net with
            one input and one output (the target port is named after the output port it is
            compared with; None when there is none); for a net with several,
            ``{"Inputs": [...], "Targets": [...]}``.

    Calling it on data in any of NetTrain's forms gives each example's loss, the weighted sum of
    its losses (a port that is itself the loss summed over the example's elements), as a float32
    array, one per example; NetTrain minimizes their mean over each batch.
    """

    __slots__ = ("_losses", "net", "_ports")

    def __init__(self, net: Any, losses: Losses, ports: Ports):
        self.net, self._losses, self._ports = net, list(losses), ports

    @property
    def losses(self) -> list[tuple[Any, float]]:
        single = len(self._ports.outputs) == 1
        return [(loss.spec if single or isinstance(loss.spec, str) else {loss.port: loss.spec}, loss.weight)
                for loss in self._losses]

    @property
    def ports(self) -> dict[str, Any]:
        if len(self._ports.inputs) == 1 and len(self._ports.outputs) == 1:
            return {"Input": self._ports.inputs[0], "Target": self._ports.targets[0] if self._ports.targets else None}
        return {"Inputs": list(self._ports.inputs), "Targets": list(self._ports.targets)}

    def __call__(self, data: Any) -> np.ndarray:
        batch = examples(self.net, data, self._ports, "the data")
        module = evaluation_module(self.net, torch.float32, torch.device("cpu"))
        values = np.zeros(batch.n, dtype=np.float32)
        with torch.no_grad():
            for xs, ys, ids in batch.groups:
                out = module(*[t.float() for t in xs.values()])
                for row, index in enumerate(ids):
                    one = slice(row, row + 1)
                    example = {port: v[one] for port, v in out.items()} if isinstance(out, dict) else out[one]
                    targets = {port: t[one].float() for port, t in ys.items()}
                    values[int(index)] = float(self._example_loss(example, targets))
        return values

    def _example_loss(self, out: Any, targets: dict) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float64)
        for loss in self._losses:
            value = out[loss.port] if isinstance(out, dict) else out
            value = port_loss(value) if isinstance(loss.spec, str) else loss.spec.loss(value, targets[loss.port])
            total = total + loss.weight * value.double()
        return total

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TrainingNet) and self.net == other.net and self._losses == other._losses
                and self._ports == other._ports)

    __hash__ = None  # type: ignore[assignment]  # loss layers are unhashable, so training nets are too

    def __repr__(self) -> str:
        losses = self.losses
        ports = [loss.port for loss in self._losses]
        if len(self._ports.outputs) > 1 and len(set(ports)) == len(ports) and all(
                not isinstance(loss.spec, str) for loss in self._losses):  # the dict form
            rules = {loss.port: loss.spec if loss.weight == 1.0 else (loss.spec, Scaled(loss.weight))
                     for loss in self._losses}
            return f"TrainingNet({self.net!r}, LossFunction={rules!r})"
        if len(losses) == 1 and losses[0][1] == 1.0:
            spec: Any = losses[0][0]
        else:
            spec = [(loss, Scaled(weight)) for loss, weight in losses]
        return f"TrainingNet({self.net!r}, LossFunction={spec!r})"
