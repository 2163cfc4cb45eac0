"""The optional parts of a training run, each a :class:`~wlnet.train.loop.Callback`.

:func:`callbacks` gives them in the order they act at the end of a round: divergence first (it may
discard the round), then validation (its loss is part of the progress), then those that report
the progress, then the stopping rules.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import torch

from ..errors import NetTrainWarning
from ..files import net_bytes
from ..writing import write_atomically
from .data import Examples
from .loop import Callback, Run
from .loss import batch_loss
from .settings import Settings, Stopping

__all__ = [
    "Checkpointing",
    "Divergence",
    "ProgressFunction",
    "ProgressReporting",
    "RoundLimit",
    "StoppingCriterion",
    "TimeGoal",
    "Validation",
    "callbacks",
]


def callbacks(settings: Settings, validation: Examples | None, batch: int) -> list[Callback]:
    """The callbacks a run with these settings needs, in the order they act."""
    chosen: list[Callback | None] = [
        Divergence(),
        None if validation is None else Validation(validation, batch),
        None if settings.reporting is None else ProgressReporting(settings.reporting),
        None if settings.checkpointing is None else Checkpointing(*settings.checkpointing),
        None if settings.progress_function is None else ProgressFunction(settings.progress_function),
        None if settings.stopping is None else StoppingCriterion(settings.stopping),
        RoundLimit(),
        None if settings.time_goal is None else TimeGoal(settings.time_goal),
    ]
    return [callback for callback in chosen if callback is not None]


class Divergence(Callback):
    """Stops a run whose loss or arrays stop being finite ("WeightsDiverged"), and gives back the
    arrays of the last finite round, with a warning."""

    def on_train_start(self, run: Run) -> None:
        self.last_good = run.state()

    def on_round_end(self, run: Run) -> None:
        finite = math.isfinite(run.round_loss) and all(bool(torch.isfinite(p).all()) for p in run.parameters.values())
        if finite:
            self.last_good = run.state()
            return
        run.restore(self.last_good)
        warnings.warn(
            NetTrainWarning(
                f"NetTrain: the arrays of {run.net._where} diverged (became NaN or infinite) in round "
                f"{run.round}; training stopped and the net from the last finite round is returned. "
                "A smaller LearningRate may help."
            ),
            stacklevel=5,
        )
        run.discard_round("WeightsDiverged")


class Validation(Callback):
    """Measures the loss on the ValidationSet after each round and keeps the arrays of the best
    round: NetTrain's "TrainedNet" (Wolfram's), while "FinalNet" is the last."""

    def __init__(self, data: Examples, batch: int):
        self.data, self.chunk = data, max(batch, 256)  # data on the run's device, in its dtype
        self.best = math.inf

    def on_round_end(self, run: Run) -> None:
        loss = self._loss(run)
        run.validation_loss = loss
        run.record.validation_losses.append(loss)
        if loss < self.best:
            self.best, run.best_state = loss, run.state()
            run.record.best_round = run.round

    @torch.no_grad()
    def _loss(self, run: Run) -> float:
        """The mean loss per example over the validation set, in chunks."""
        run.module.eval()
        total, count = 0.0, 0
        for x, y in self.data.chunks(self.chunk):
            total += float(batch_loss(run.losses, run.module, x, y)) * x.shape[0]
            count += x.shape[0]
        run.module.train()
        return total / count


class ProgressReporting(Callback):
    """TrainingProgressReporting: a progress bar, a printed line per round, or a function."""

    def __init__(self, reporting: Any):
        self.reporting = reporting
        self.bar: Any = None

    def on_train_start(self, run: Run) -> None:
        if self.reporting == "ProgressIndicator":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=_total(run.max_rounds), unit="round", desc="NetTrain", leave=True,
                            dynamic_ncols=True)

    def on_round_end(self, run: Run) -> None:
        progress = run.progress()
        if self.bar is not None:
            self.bar.total = _total(run.max_rounds)
            self.bar.update(1)
            self.bar.set_postfix_str(_postfix(progress), refresh=False)
        elif self.reporting == "Print":
            print(f"NetTrain round {progress['Round']}: " + _postfix(progress), flush=True)
        else:
            self.reporting(progress)

    def on_train_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()


def _total(max_rounds: Any) -> int | None:
    return max_rounds if isinstance(max_rounds, int) else None


def _postfix(progress: dict) -> str:
    parts = [f"loss {progress['RoundLoss']:.4g}"]
    if progress["ValidationLoss"] is not None:
        parts.append(f"validation {progress['ValidationLoss']:.4g}")
    parts.append(f"{progress['ExamplesPerSecond']:,.0f} examples/s")
    if progress["TimeRemaining"] is not None:
        parts.append(f"{progress['TimeRemaining']:.1f} s left")
    return ", ".join(parts)


class Checkpointing(Callback):
    """TrainingProgressCheckpointing: the net as trained so far, every ``interval`` rounds, in a
    directory (a file per round, ``checkpoint-round-00005.safetensors``) or one file.

    A checkpoint is a net file (:mod:`wlnet.files`: ``Import(file)`` gives the net) that also holds
    the optimizer's state, as tensors keyed ``%optimizer.<statistic>.<array path>`` (ADAM's ``m``
    and ``v``, ...), and, under ``"Checkpoint"`` in its description's extra data, the round, the
    batch count, the method and its step count. It is written under a temporary name, synced
    and renamed, so a crash mid-write never leaves a truncated checkpoint."""

    def __init__(self, kind: str, path: str, interval: int):
        self.kind, self.path, self.interval = kind, path, interval

    def on_round_end(self, run: Run) -> None:
        if run.round % self.interval == 0:
            run.record.checkpoints.append(self._write(run))

    def _write(self, run: Run) -> str:
        if self.kind == "Directory":
            file = os.path.join(self.path, f"checkpoint-round-{run.round:05d}.safetensors")
        else:
            file = self.path
        optimizer = run.optimizer
        tensors = {f"%optimizer.{name}.{key}": value
                   for name, values in optimizer.state().items()
                   for key, value in zip(run.parameters, values)}
        extra = {"Checkpoint": {"Round": run.round, "AbsoluteBatch": run.absolute_batch,
                                "Method": optimizer.method, "Step": optimizer.t}}
        return write_atomically(file, net_bytes(run.net_with(), tensors, extra))


class ProgressFunction(Callback):
    """TrainingProgressFunction: called with the progress after each round; "StopTraining" stops."""

    def __init__(self, function: Any):
        self.function = function

    def on_round_end(self, run: Run) -> None:
        if self.function(run.progress()) == "StopTraining":
            run.stop("TrainingProgressFunction")


class StoppingCriterion(Callback):
    """TrainingStoppingCriterion: stops when the validation loss (the training loss without a
    ValidationSet) has not improved by the required change for more than Patience rounds,
    InitialPatience rounds excepted; or when the given function of the progress says so."""

    def __init__(self, spec: Stopping):
        self.spec = spec
        self.best = math.inf
        self.waited = 0

    def on_round_end(self, run: Run) -> None:
        if run.reason is None and self._stop(run):
            run.stop("TrainingStoppingCriterion")

    def _stop(self, run: Run) -> bool:
        progress = run.progress()
        if self.spec.function is not None:
            return bool(self.spec.function(progress))
        measure = run.validation_loss if run.validation_loss is not None else run.round_loss
        needed = self.spec.amount if self.spec.improvement == "AbsoluteChange" else abs(self.best) * self.spec.amount
        if self.best - measure > needed or self.best == math.inf:
            self.best, self.waited = min(self.best, measure), 0
            return False
        if progress["Round"] <= self.spec.initial_patience:
            return False
        self.waited += 1
        return self.waited > self.spec.patience


class RoundLimit(Callback):
    """MaxTrainingRounds: stops after the last round (Automatic is resolved after the first)."""

    def on_round_end(self, run: Run) -> None:
        if run.round >= run.max_rounds:
            run.stop("MaxTrainingRounds")


class TimeGoal(Callback):
    """TimeGoal: stops once the run has trained this many seconds, after the batch that reaches it."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, run: Run) -> None:
        if run.elapsed() >= self.seconds:
            run.stop("TimeGoal")

    on_round_end = on_batch_end
