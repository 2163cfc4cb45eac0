"""What a training run records, and :class:`NetTrainResults`, the object NetTrain returns for ``All``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..display import results_html
from ..errors import NetSpecificationError
from .properties import PROPERTIES, canonical, check_property

__all__ = ["NetTrainResults", "Record"]


@dataclass
class Record:
    """The history of one run: losses per batch, round and validation, and how it ended."""

    batch_size: int
    batches_per_round: int
    examples: int
    validation_examples: int
    multipliers: dict[tuple, float]
    method: str
    device: Any  # as TargetDevice writes it: "CPU", ("CPU", 2), "GPU", ("GPU", 2), ...
    initial_lr: float
    training_net: Any = None  # the TrainingNet: the net as training started, with its loss
    loss_names: list[str] = field(default_factory=list)  # with several losses, each one's name (loss_names)
    batch_losses: list[torch.Tensor] = field(default_factory=list)  # one tensor of losses per round
    round_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    batch_parts: list[torch.Tensor] = field(default_factory=list)  # several losses: (batches, losses) per round
    validation_parts: list[list[float]] = field(default_factory=list)  # several losses: each one's, per validation
    best_round: int | None = None
    reason: str | None = None
    rounds: int = 0
    checkpoints: list[str] = field(default_factory=list)
    final_lr: float | None = None

    def results(self, trained: Any, final: Any, total_time: float) -> NetTrainResults:
        batch_losses = [float(v) for chunk in self.batch_losses for v in chunk]
        batches = len(batch_losses)
        values = {
            "TrainedNet": trained,
            "FinalNet": final,
            "BatchLossList": batch_losses,
            "RoundLossList": list(self.round_losses),
            "ValidationLossList": list(self.validation_losses),
            "RoundLoss": self.round_losses[-1] if self.round_losses else None,
            "ValidationLoss": self.validation_losses[-1] if self.validation_losses else None,
            "TotalTrainingTime": total_time,
            "MeanExamplesPerSecond": batches * self.batch_size / max(total_time, 1e-9),
            "MeanBatchesPerSecond": batches / max(total_time, 1e-9),
            "TotalRounds": self.rounds,
            "TotalBatches": batches,
            "BatchSize": self.batch_size,
            "BatchesPerRound": self.batches_per_round,
            "ExamplesProcessed": batches * self.batch_size,
            "TrainingExamples": self.examples,
            "ValidationExamples": self.validation_examples,
            "BestValidationRound": self.best_round,
            "ReasonTrainingStopped": self.reason,
            "InitialLearningRate": self.initial_lr,
            "FinalLearningRate": self.final_lr,
            "OptimizationMethod": self.method,
            "ArraysLearningRateMultipliers": self.multipliers,
            "CheckpointingFiles": list(self.checkpoints),
            "TargetDevice": self.device,
            "TrainingNet": self.training_net,
        }
        values.update(self._measurements())
        return NetTrainResults(values)

    def _measurements(self) -> dict[str, Any]:
        """The measurement properties: ``{"Loss": total}`` per batch, round and validation, and with
        several losses each one's (weighted) value under its name."""
        names = self.loss_names

        def entry(total: float, parts: Any) -> dict[str, float]:
            return {"Loss": total, **({name: float(v) for name, v in zip(names, parts)} if names else {})}

        batch_totals = [float(v) for chunk in self.batch_losses for v in chunk]
        batch_parts = [row for chunk in self.batch_parts for row in chunk.tolist()] if names else [None] * len(
            batch_totals)
        round_parts = [chunk.mean(0).tolist() for chunk in self.batch_parts] if names else [None] * len(
            self.round_losses)
        validation_parts = self.validation_parts if names else [None] * len(self.validation_losses)
        rounds = [entry(t, p) for t, p in zip(self.round_losses, round_parts)]
        validations = [entry(t, p) for t, p in zip(self.validation_losses, validation_parts)]
        return {
            "BatchMeasurementsLists": [entry(t, p) for t, p in zip(batch_totals, batch_parts)],
            "RoundMeasurementsLists": rounds,
            "RoundMeasurements": rounds[-1] if rounds else None,
            "ValidationMeasurementsLists": validations,
            "ValidationMeasurements": validations[-1] if validations else None,
        }


class NetTrainResults:
    """The results of a training run: ``results["RoundLossList"]``, ``results["TrainedNet"]``, ...

    Wolfram: ``NetTrainResultsObject``. ``results.properties`` lists what can be read;
    ``results["LossEvolutionPlot"]`` is a :class:`wlnet.graphics.NetFigure`, which Jupyter shows
    inline and whose ``.svg()`` is its SVG text. In Jupyter the results show as a panel of the
    run's key figures with the loss plot (:mod:`wlnet.display`).
    """

    def __init__(self, values: dict[str, Any]):
        self._values = values

    @property
    def properties(self) -> list[str]:
        return list(PROPERTIES)

    def __getitem__(self, prop):
        if isinstance(prop, list):
            return [self[p] for p in prop]
        prop = canonical(check_property(prop, "NetTrainResults"))
        if prop == "Properties":
            return self.properties
        if prop == "LossEvolutionPlot":
            return self._plot()
        return self._values[prop]

    def _plot(self, size=(6.0, 3.5)):
        """Training (and validation) loss against round, on a log scale, as a
        :class:`wlnet.graphics.NetFigure` (Jupyter shows it inline; ``.svg()`` gives its SVG)."""
        try:
            from ..graphics import loss_plot
        except ImportError:
            raise NetSpecificationError(
                'NetTrainResults: "LossEvolutionPlot" needs matplotlib and networkx (pip install matplotlib networkx).'
            ) from None
        return loss_plot(self._values["RoundLossList"], self._values["ValidationLossList"], size)

    def _repr_html_(self) -> str:
        """The summary panel Jupyter shows: the run's key figures and its loss plot (:mod:`wlnet.display`)."""
        try:
            plot = self._plot((4.2, 2.6)) if self._values["RoundLossList"] else None
        except NetSpecificationError:
            plot = None
        return results_html(self._values, plot)

    def __repr__(self) -> str:
        v = self._values
        lines = [
            "NetTrainResults",
            f"  rounds               {v['TotalRounds']} ({v['BatchesPerRound']} batches of {v['BatchSize']} each)",
            f"  stopped because      {v['ReasonTrainingStopped']}",
            f"  final round loss     {_g(v['RoundLoss'])}",
        ]
        if v["ValidationLossList"]:
            lines.append(f"  validation loss      {_g(v['ValidationLoss'])} (best round {v['BestValidationRound']})")
        lines += [
            f"  method               {v['OptimizationMethod']}, initial learning rate {_g(v['InitialLearningRate'])}",
            f"  training time        {v['TotalTrainingTime']:.3g} s, {v['MeanExamplesPerSecond']:,.0f} examples/s",
        ]
        return "\n".join(lines)


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"
