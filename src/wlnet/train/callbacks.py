"""The optional parts of a training run, each a :class:`~wlnet.train.loop.Callback`.

:func:`callbacks` gives them in the order they act at the end of a round: divergence first (it may
discard the round), then validation (its loss is part of the progress), then those that report
the progress, then the stopping rules, and last the checkpoints (which keep what all the others
carry).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch

from ..errors import NetTrainWarning, warn
from ..options import computing
from ..symbols import Automatic
from .checkpoint import json_number
from .checkpointing import Checkpointing
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
    "progress_bar_class",
]


def callbacks(settings: Settings, validation: Examples | None, batch: int, reporting: bool = True) -> list[Callback]:
    """The callbacks a run with these settings needs, in the order they act; without those that
    report progress or write checkpoints unless ``reporting`` (rank 0 of a data-parallel run)."""
    chosen: list[Callback | None] = [
        Divergence(),
        None if validation is None else Validation(validation, batch),
        None if settings.reporting is None or not reporting else ProgressReporting(settings.reporting),
        None if settings.progress_function is None or not reporting else ProgressFunction(settings.progress_function),
        None if settings.stopping is None else StoppingCriterion(settings.stopping),
        RoundLimit(),
        None if settings.time_goal is None else TimeGoal(settings.time_goal),
        None if settings.checkpointing is None or not reporting else Checkpointing(settings.checkpointing),
    ]
    return [callback for callback in chosen if callback is not None]


class Divergence(Callback):
    """Stops a run whose loss or arrays stop being finite ("WeightsDiverged"), and gives back the
    arrays of the last finite round, with a warning."""

    def on_train_start(self, run: Run) -> None:
        self.last_good = run.state()

    def on_round_end(self, run: Run) -> None:
        if math.isfinite(run.round_loss) and run.arrays_finite():
            self.last_good = run.state()
            return
        run.restore(self.last_good)
        warn(NetTrainWarning(
            f"NetTrain: the arrays of {run.net._where} diverged (became NaN, infinite, or too large "
            f"for float32, the type of a net's arrays) in round "
            f"{run.round}; training stopped and the net from the last finite round is returned. "
            "A smaller LearningRate may help."
        ))
        run.discard_round("WeightsDiverged")


class Validation(Callback):
    """Measures the loss on the ValidationSet after each round and keeps the arrays of the best
    round: NetTrain's "TrainedNet" (Wolfram's), while "FinalNet" is the last."""

    def __init__(self, data: Examples, batch: int):
        self.data, self.chunk = data, max(batch, 256)  # data on the run's device, in its dtype
        self.best = math.inf

    def on_round_end(self, run: Run) -> None:
        loss, parts = self._loss(run)
        run.validation_loss = loss
        run.record.validation_losses.append(loss)
        if parts is not None:
            run.record.validation_parts.append(parts)
        if loss < self.best:
            self.best, run.best_state = loss, run.state()
            run.record.best_round = run.round

    def state_dict(self) -> dict[str, Any]:
        return {"Best": json_number(self.best)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state.get("Best", math.inf))

    @torch.no_grad()
    def _loss(self, run: Run) -> tuple[float, list[float] | None]:
        """The mean loss per example over the validation set, in chunks; with several losses,
        also each one's."""
        run.module.eval()
        total, count = 0.0, 0
        several = len(run.losses) > 1
        parts = torch.zeros(len(run.losses), dtype=torch.float64)
        for x, y in self.data.chunks(self.chunk):
            size = next(iter(x.values())).shape[0]
            with computing(run.mixed, next(iter(x.values())).device):
                loss, chunk_parts = batch_loss(run.losses, run.module, x, y, parts=several)
            total += float(loss) * size
            if chunk_parts is not None:
                parts += chunk_parts.double().cpu() * size
            count += size
        run.module.train()
        return total / count, (parts / count).tolist() if several else None


class ProgressReporting(Callback):
    """TrainingProgressReporting: a progress bar, a printed line per round, or a function."""

    def __init__(self, reporting: Any):
        self.reporting = reporting
        self.bar: Any = None

    def on_train_start(self, run: Run) -> None:
        if self.reporting == "ProgressIndicator":
            tqdm = progress_bar_class()
            # In a notebook, the text bar goes to the cell's output, not to its (red) stderr.
            text_in_kernel = in_kernel() and tqdm.__module__ == "tqdm.std"
            self.bar = tqdm(total=_total(run.max_rounds), unit="round", desc="NetTrain", leave=True,
                            dynamic_ncols=True, **({"file": sys.stdout} if text_in_kernel else {}))

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


def progress_bar_class() -> Any:
    """The tqdm class of the "ProgressIndicator": the notebook widget in a Jupyter kernel that has
    ipywidgets, tqdm's plain text bar in a kernel without them (where ``tqdm.auto`` would warn
    "IProgress not found") and in a terminal."""
    from tqdm.std import tqdm

    if not in_kernel():
        return tqdm
    try:
        import ipywidgets  # noqa: F401  (the notebook bar is one of its widgets)
    except ImportError:
        return tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    return notebook_tqdm


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel. A kernel has imported IPython already, so IPython is
    looked up, never imported (it need not be installed)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return False
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__) or (
        "IPKernelApp" in getattr(shell, "config", {}))


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

    def state_dict(self) -> dict[str, Any]:
        return {"Best": json_number(self.best), "Waited": self.waited}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.waited = float(state.get("Best", math.inf)), int(state.get("Waited", 0))

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
    """MaxTrainingRounds: stops after the last round (Automatic is resolved in the first rounds);
    a continued run that has trained them all already trains none."""

    def on_train_start(self, run: Run) -> None:
        self.on_round_end(run)

    def on_round_end(self, run: Run) -> None:
        if run.max_rounds is not Automatic and run.round >= run.max_rounds:
            run.stop("MaxTrainingRounds")


class TimeGoal(Callback):
    """TimeGoal: stops once the run has trained this many seconds, after the batch that reaches it."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_batch_end(self, run: Run) -> None:
        if run.elapsed() >= self.seconds:
            run.stop("TimeGoal")

    on_round_end = on_batch_end
