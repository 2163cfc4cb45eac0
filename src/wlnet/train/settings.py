"""NetTrain's options, checked and put in the form the run uses, before any data is touched."""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import NetOptionError, NetTrainWarning, check_options
from ..initialize import parse_seeding
from ..optimizers import parse_method
from ..options import positive_int, positive_seconds, precision, training_devices
from ..symbols import Automatic, Inherited

__all__ = ["OPTIONS", "Settings", "Stopping", "parse_settings"]

OPTIONS = (
    "BatchSize",
    "MaxTrainingRounds",
    "Method",
    "LearningRate",
    "LearningRateMultipliers",
    "LossFunction",
    "ValidationSet",
    "TimeGoal",
    "TrainingStoppingCriterion",
    "RandomSeeding",
    "WorkingPrecision",
    "TargetDevice",
    "TrainingProgressReporting",
    "TrainingProgressFunction",
    "TrainingProgressCheckpointing",
)


@dataclass(frozen=True)
class Stopping:
    """A TrainingStoppingCriterion: a function of the progress dict, or the loss criterion with its
    patience and the improvement that counts."""

    function: Any = None  # progress dict -> True to stop; None: the loss criterion
    patience: int = 0
    initial_patience: int = 0
    improvement: str = "AbsoluteChange"  # or "RelativeChange"
    amount: float = 0.0


@dataclass(frozen=True)
class Settings:
    """Every NetTrain option, parsed. Options that depend on the net or the data (LossFunction,
    ValidationSet, LearningRateMultipliers) are kept as given and parsed once those are known."""

    batch_size: Any  # int or Automatic
    max_rounds: Any  # int or Automatic
    time_goal: float | None
    method: str
    method_settings: dict
    learning_rate: float
    dtype: torch.dtype
    mixed: bool  # WorkingPrecision -> "Mixed": bfloat16 autocast over float32 arrays
    device: torch.device  # the first of ``devices``
    devices: tuple[torch.device, ...]  # one per process of a data-parallel run started by NetTrain
    seed: Any  # what RandomSeeding resolves to (an int, a str)
    seeding_given: bool
    reporting: Any  # None, "Print", "ProgressIndicator" or a function
    progress_function: Any
    checkpointing: tuple | None  # (kind, path, interval)
    stopping: Stopping | None
    loss: Any
    validation: Any
    multipliers: Any


def parse_settings(options: dict) -> Settings:
    """The settings of a run; NetOptionError for an unknown option or a malformed value."""
    check_options("NetTrain", options, OPTIONS)
    batch_size = positive_int("NetTrain", "BatchSize", options.get("BatchSize", Automatic))
    max_rounds = positive_int("NetTrain", "MaxTrainingRounds", options.get("MaxTrainingRounds", Automatic))
    time_goal = positive_seconds("NetTrain", "TimeGoal", options.get("TimeGoal", Automatic))
    method, method_settings = parse_method(options.get("Method", "ADAM"))
    default_rate = method_settings["LearningRate"] or method_settings["DefaultLearningRate"]
    learning_rate = _learning_rate(options.get("LearningRate", Automatic), default_rate)
    dtype = precision("NetTrain", options.get("WorkingPrecision", "Real32"))
    devices = training_devices(options.get("TargetDevice", "CPU"), "NetTrain")
    if len(devices) > 1 and batch_size is Automatic:
        raise NetOptionError(
            f"NetTrain: training on {len(devices)} devices needs an explicit BatchSize (the global batch, "
            "split between the devices)."
        )
    seed = parse_seeding(options.get("RandomSeeding", Inherited), "NetTrain")
    if seed is Inherited:
        seed = int(np.random.randint(0, 2**31 - 1))
    reporting = parse_reporting(options.get("TrainingProgressReporting", Automatic))
    progress_function = options.get("TrainingProgressFunction")
    if progress_function is not None and not callable(progress_function):
        raise NetOptionError("NetTrain: TrainingProgressFunction should be None or a function.")
    checkpointing = parse_checkpointing(options.get("TrainingProgressCheckpointing"))
    stopping = parse_stopping(options.get("TrainingStoppingCriterion"))
    if stopping is not None and options.get("ValidationSet") is None:
        warnings.warn(
            NetTrainWarning(
                "NetTrain: TrainingStoppingCriterion is checked on the training loss, as there is no ValidationSet."
            ),
            stacklevel=3,
        )
    return Settings(
        batch_size, max_rounds, time_goal, method, method_settings, learning_rate, dtype,
        options.get("WorkingPrecision") == "Mixed", devices[0], devices, seed,
        options.get("RandomSeeding") is not None, reporting, progress_function, checkpointing, stopping,
        loss=options.get("LossFunction", Automatic),
        validation=options.get("ValidationSet"),
        multipliers=options.get("LearningRateMultipliers", Automatic),
    )


def _learning_rate(value: Any, default: float) -> float:
    if value is Automatic:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise NetOptionError(
            f"NetTrain: the value of LearningRate should be Automatic or a positive number, but was {value!r}."
        )
    return float(value)


def parse_reporting(value: Any) -> Any:
    """TrainingProgressReporting: None, "Print", "ProgressIndicator" (also for "Panel") or a function."""
    if value is Automatic:
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        return "ProgressIndicator" if interactive else None
    if value in (None, "Print", "ProgressIndicator", "Panel") or callable(value):
        return "ProgressIndicator" if value == "Panel" else value
    raise NetOptionError(
        f'NetTrain: TrainingProgressReporting should be Automatic, "ProgressIndicator", "Print", None '
        f"or a function, but was {value!r}."
    )


def parse_checkpointing(value: Any) -> tuple | None:
    """TrainingProgressCheckpointing as (kind, path, interval in rounds), or None."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return ("Directory", os.fspath(value), 1)
    if isinstance(value, tuple) and value and value[0] in ("Directory", "File") and len(value) >= 2:
        interval: Any = 1
        if len(value) == 3:
            interval = value[2].get("Interval", 1) if isinstance(value[2], dict) else None
        if not isinstance(interval, int) or interval < 1:
            raise NetOptionError("NetTrain: the checkpointing Interval should be a positive number of rounds.")
        path = os.fspath(value[1])
        if value[0] == "File" and not path.lower().endswith(".safetensors"):
            raise NetOptionError(
                f"NetTrain: the checkpoint file {path!r} should end in .safetensors: checkpoints are "
                "wlnet net files (Import reads them)."
            )
        return (value[0], path, interval)
    raise NetOptionError(
        "NetTrain: TrainingProgressCheckpointing should be None, a directory, "
        f'("Directory", path, {{"Interval": k}}) or ("File", path), but was {value!r}.'
    )


def parse_stopping(value: Any) -> Stopping | None:
    """TrainingStoppingCriterion: None, "Loss" (or Automatic), a dict, or a function."""
    if value is None:
        return None
    if callable(value):
        return Stopping(function=value)
    if value is Automatic or value == "Loss":
        value = {"Criterion": "Loss"}
    if not isinstance(value, dict):
        raise NetOptionError(
            f'NetTrain: TrainingStoppingCriterion should be None, "Loss", a dict or a function, but was {value!r}.'
        )
    check_options(
        "NetTrain: TrainingStoppingCriterion", value, ("Criterion", "Patience", "InitialPatience", "Improvement")
    )
    improvement = value.get("Improvement", ("AbsoluteChange", 0.0))
    if not (isinstance(improvement, tuple) and len(improvement) == 2
            and improvement[0] in ("AbsoluteChange", "RelativeChange")):
        raise NetOptionError(
            'NetTrain: the "Improvement" of TrainingStoppingCriterion should be ("AbsoluteChange", v) '
            f'or ("RelativeChange", v), but was {improvement!r}.'
        )
    patience = {name: value.get(name, 0) for name in ("Patience", "InitialPatience")}
    for name, number in patience.items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise NetOptionError(f'NetTrain: the "{name}" of TrainingStoppingCriterion should be a count of rounds.')
    criterion = value.get("Criterion", "Loss")
    if not callable(criterion) and criterion != "Loss":
        raise NetOptionError(
            f'NetTrain: the stopping "Criterion" {criterion!r} is not known; use "Loss" or a function.'
        )
    return Stopping(
        function=criterion if callable(criterion) else None,
        patience=patience["Patience"],
        initial_patience=patience["InitialPatience"],
        improvement=improvement[0],
        amount=improvement[1],
    )
