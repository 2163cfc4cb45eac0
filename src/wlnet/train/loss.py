"""NetTrain's LossFunction: which losses are attached to which output ports, and a batch's loss.

The forms (Wolfram's, written in Python):

* ``Automatic``: a loss for every output port, chosen by the layer that computes the port's
  value: ``CrossEntropyLossLayer("Index")`` after a SoftmaxLayer, ``CrossEntropyLossLayer("Binary")``
  after ``ElementwiseLayer(LogisticSigmoid)``, ``MeanSquaredLossLayer()`` otherwise; a net with an
  output port named "Loss" has that port as its loss, alone;
* ``"port"``: that output port's value is itself the loss: as in the Wolfram Language, each
  example's value summed over its elements (a SummationLayer), the mean of that over a batch;
* a loss layer: attached to the net's only output port (a net with several needs the dict form);
* ``{"port": spec, ...}`` (Wolfram's ``"port" -> spec`` rules): a loss layer, ``Automatic``, or
  ``Scaled(r)`` (the port itself as the loss, scaled) for each port named;
* ``(spec, Scaled(r))``: any of these weighted by r (each of their losses);
* a list of these: every loss they give.

The total loss is the weighted sum; each loss is also reported on its own (see :func:`loss_names`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from ..errors import NetOptionError, shown
from ..functions import LogisticSigmoid
from ..layers.elementwise import ElementwiseLayer
from ..layers.loss import CrossEntropyLossLayer, LossLayer, MeanSquaredLossLayer
from ..layers.softmax import SoftmaxLayer
from ..nets.chain import NetChain
from ..nets.graph import NetGraph
from ..nets.wiring import NetPort
from ..options import real
from ..symbols import Automatic, Scaled

__all__ = ["Loss", "Losses", "batch_loss", "index_ports", "loss_names", "parse_loss", "port_loss", "target_ports"]


class Loss(NamedTuple):
    """One loss of a run: a loss layer comparing output ``port`` with its targets, or the port's
    name when the port's value is itself the loss; and its weight."""

    spec: Any
    weight: float
    port: str


Losses = list[Loss]


def parse_loss(spec: Any, net: Any) -> Losses:
    """The losses for LossFunction ``spec`` on ``net`` (see the module doc).

    Raises:
        NetOptionError: a malformed spec, a port the net does not have, a loss layer for a net
            with several outputs.
    """
    outputs = list(net._output_types())
    losses = _losses(spec, net, outputs, 1.0)
    if not losses:
        raise NetOptionError(f"NetTrain: LossFunction {shown(spec)} gives no loss to minimize.")
    for loss in losses:  # nested weights multiply: each is finite, their product may not be
        if not math.isfinite(loss.weight):
            raise NetOptionError(
                f"NetTrain: the LossFunction weights of port {loss.port!r} multiply to {loss.weight}; give weights "
                "whose product is a finite number."
            )
    return losses


def _losses(spec: Any, net: Any, outputs: list[str], weight: float) -> Losses:
    if spec is Automatic:
        if "Loss" in outputs:
            return [Loss("Loss", weight, "Loss")]
        return [automatic_loss(net, port, weight) for port in outputs]
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Scaled):
        return _losses(spec[0], net, outputs, weight * _weight(spec[1]))
    if isinstance(spec, list):
        return [loss for item in spec for loss in _losses(item, net, outputs, weight)]
    if isinstance(spec, dict):
        return [loss for port, value in spec.items() for loss in _port_losses(port, value, net, outputs, weight)]
    if isinstance(spec, LossLayer):
        if len(outputs) != 1:
            raise NetOptionError(
                f"NetTrain: LossFunction {spec!r} attaches a loss layer to the net's only output, but {net._where} "
                f"has the outputs {', '.join(map(repr, outputs))}; name the port each loss is for: "
                f"LossFunction={{{outputs[0]!r}: {spec!r}, ...}}."
            )
        return [Loss(spec, weight, outputs[0])]
    if isinstance(spec, str) and spec in outputs:
        return [Loss(spec, weight, spec)]
    raise NetOptionError(
        f"NetTrain: LossFunction should be Automatic, a loss layer (MeanSquaredLossLayer(), "
        f'CrossEntropyLossLayer("Index"), ...), an output port ({", ".join(map(repr, outputs))}) whose value is '
        f'the loss, a dict {{"port": loss layer}}, or a list of them with weights (spec, Scaled(w)), but was '
        f"{shown(spec)}."
    )


def _port_losses(port: Any, value: Any, net: Any, outputs: list[str], weight: float) -> Losses:
    """The losses of one rule ``port -> value`` of the dict form."""
    if port not in outputs:
        raise NetOptionError(
            f"NetTrain: LossFunction names the port {shown(port)}, but the output ports of {net._where} are "
            f"{', '.join(map(repr, outputs))}."
        )
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Scaled):
        return _port_losses(port, value[0], net, outputs, weight * _weight(value[1]))
    if isinstance(value, Scaled):  # Wolfram's "port" -> Scaled[r]: the port itself as the loss
        return [Loss(port, weight * _weight(value), port)]
    if value is Automatic:
        return [automatic_loss(net, port, weight)]
    if isinstance(value, LossLayer):
        return [Loss(value, weight, port)]
    raise NetOptionError(
        f"NetTrain: LossFunction's rule for port {port!r} should give a loss layer, Automatic, Scaled(r) or "
        f"(loss layer, Scaled(r)), but gives {shown(value)}."
    )


def _weight(scaled: Scaled) -> float:
    """The weight r of ``Scaled(r)``: a finite number >= 0 (0 reports a loss without training on it;
    a negative weight would maximize the loss, which a stopping criterion and the reported
    "RoundLoss" would then read the wrong way round)."""
    weight = real(scaled.value)
    if weight is None or not math.isfinite(weight) or weight < 0:
        raise NetOptionError(
            f"NetTrain: a LossFunction weight Scaled(r) should have a finite number r >= 0, but r was "
            f"{shown(scaled.value)}."
        )
    return weight


def automatic_loss(net: Any, port: str, weight: float = 1.0) -> Loss:
    """The Automatic loss for output ``port``: by the layer that computes its value."""
    last = output_layer(net, port)
    if isinstance(last, SoftmaxLayer):
        return Loss(CrossEntropyLossLayer("Index"), weight, port)
    if isinstance(last, ElementwiseLayer) and last.function is LogisticSigmoid:
        return Loss(CrossEntropyLossLayer("Binary"), weight, port)
    return Loss(MeanSquaredLossLayer(), weight, port)


def output_layer(net: Any, port: str) -> Any:
    """The leaf layer whose output is the net's output ``port`` (None: an input passed through)."""
    if isinstance(net, NetGraph):
        source = {dst: src for src, dst in net._wiring.edges}[NetPort(port)]
        if source.layer is None:
            return None
        return output_layer(dict(net._children())[source.layer], source.port)
    if isinstance(net, NetChain):
        last = net._children()[-1][1]
        return output_layer(last, last._output_names[0])
    return net


def target_ports(losses: Losses, outputs: tuple[str, ...]) -> tuple[str, ...]:
    """The output ports fed with targets: those a loss layer compares, in output order."""
    compared = {loss.port for loss in losses if not isinstance(loss.spec, str)}
    return tuple(port for port in outputs if port in compared)


def index_ports(losses: Losses) -> frozenset:
    """The ports whose targets are class indices: their loss is ``CrossEntropyLossLayer("Index")``.

    Raises:
        NetOptionError: that loss beside another one on the same port that compares the output with
            a target of the output's own dims.
    """
    kinds: dict[str, set[bool]] = {}
    for loss in losses:
        if not isinstance(loss.spec, str):
            kinds.setdefault(loss.port, set()).add(_is_index(loss.spec))
    for port, found in kinds.items():
        if len(found) > 1:
            on_port = ", ".join(repr(loss.spec) for loss in losses if loss.port == port)
            raise NetOptionError(
                'NetTrain: CrossEntropyLossLayer("Index") compares the output with class indices, so it cannot be '
                "combined with a loss that compares it with targets of the output's dims: "
                f"{on_port} (port {port!r})."
            )
    return frozenset(port for port, found in kinds.items() if found == {True})


def _is_index(loss: Any) -> bool:
    return isinstance(loss, CrossEntropyLossLayer) and loss.kind == "Index"


def loss_names(losses: Losses) -> list[str]:
    """The names each loss is reported under, beside the total "Loss": its output port's name, as
    the Wolfram Language names a loss port after the output it compares; with several losses on
    one port, the port's name numbered ("Output 1", "Output 2"). None for a single loss."""
    ports = [loss.port for loss in losses]
    counts: dict[str, int] = {}
    names = []
    for port in ports:
        counts[port] = counts.get(port, 0) + 1
        name = port if ports.count(port) == 1 else f"{port} {counts[port]}"
        names.append(f"{name} loss" if name == "Loss" and len(losses) > 1 else name)
    return names


def port_loss(value: torch.Tensor) -> torch.Tensor:
    """The loss of an output port that is itself the loss, over a batch (the batch axis first): each
    example's elements summed (Wolfram's SummationLayer after a non-scalar loss), then the mean."""
    return value.reshape(value.shape[0], -1).sum(1).mean() if value.dim() > 1 else value.mean()


def batch_loss(losses: Losses, module: torch.nn.Module, xs: dict, ys: dict,
               parts: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weighted sum of the losses of one batch (each the mean over the batch), and with
    ``parts`` the weighted losses themselves (a float32 tensor, detached)."""
    out = module(*xs.values())
    values = []
    for loss in losses:
        value = out[loss.port] if isinstance(out, dict) else out
        value = port_loss(value) if isinstance(loss.spec, str) else loss.spec.loss(value, ys[loss.port])
        values.append(value * loss.weight if loss.weight != 1.0 else value)
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total, torch.stack([v.detach().float() for v in values]) if parts else None
