"""NetTrain's options, checked and put in the form the run uses, before any data is touched.

Every value is checked here, before the first round (and before any data is read), except what
needs the net (LossFunction's ports, the parts LearningRateMultipliers' rules name) or the data
(whether ``Scaled(f)`` leaves an example on each side), which :mod:`.training` checks before the
first round. A bad value is a :class:`NetOptionError` naming the option, the value and what it
takes: NaN and infinities where a finite number is needed, bools where a number is, ints too big
for a float, and counts beyond the limits below.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import NetOptionError, NetTrainWarning, check_options, shown, warn
from ..initialize import parse_seeding
from ..optimizers import parse_method
from ..options import positive_int, positive_seconds, precision, real, rules, training_devices
from ..symbols import Automatic, Inherited, Scaled, as_int
from .checkpointing import CheckpointSpec, parse_checkpointing

__all__ = ["MAX_ROUNDS", "OPTIONS", "Settings", "Stopping", "parse_settings"]

#: The most rounds MaxTrainingRounds takes: 2**53, the counts a float holds exactly (progress
#: estimates and checkpoints compute with them as floats).
MAX_ROUNDS = 2**53

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
    checkpointing: CheckpointSpec | None  # (kind, path, interval, ...)
    stopping: Stopping | None
    loss: Any
    validation: Any
    multipliers: Any


def parse_settings(options: dict) -> Settings:
    """The settings of a run; NetOptionError for an unknown option or a malformed value."""
    check_options("NetTrain", options, OPTIONS)
    batch_size = positive_int("NetTrain", "BatchSize", options.get("BatchSize", Automatic))
    max_rounds = positive_int("NetTrain", "MaxTrainingRounds", options.get("MaxTrainingRounds", Automatic))
    if max_rounds is not Automatic and max_rounds > MAX_ROUNDS:
        raise NetOptionError(
            f"NetTrain: the value of MaxTrainingRounds should be Automatic or a positive integer of at most 2**53 "
            f"({MAX_ROUNDS}), but was {shown(max_rounds)}; for a run that time alone ends, give TimeGoal."
        )
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
        raise NetOptionError(
            f"NetTrain: TrainingProgressFunction should be None or a function, but was {shown(progress_function)}."
        )
    check_validation(options.get("ValidationSet"))
    check_multipliers(options.get("LearningRateMultipliers", Automatic))
    checkpointing = parse_checkpointing(options.get("TrainingProgressCheckpointing"))
    stopping = parse_stopping(options.get("TrainingStoppingCriterion"))
    if stopping is not None and options.get("ValidationSet") is None:
        warn(NetTrainWarning(
            "NetTrain: TrainingStoppingCriterion is checked on the training loss, as there is no ValidationSet."
        ))
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
    rate = real(value)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise NetOptionError(
            f"NetTrain: the value of LearningRate should be Automatic or a positive number, but was {shown(value)} "
            "(a finite number > 0 is needed)."
        )
    return rate


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


def parse_stopping(value: Any) -> Stopping | None:
    """TrainingStoppingCriterion: None, "Loss" (or Automatic), a dict, or a function.

    In the dict, "Patience" and "InitialPatience" are counts of rounds (0 to 2**53), and
    "Improvement" is ``("AbsoluteChange", v)`` with v a finite number >= 0 (the loss must fall by
    more than v) or ``("RelativeChange", v)`` with 0 <= v < 1 (by more than that fraction of it).
    """
    if value is None:
        return None
    if callable(value):
        return Stopping(function=value)
    if value is Automatic or isinstance(value, str) and value == "Loss":
        value = {"Criterion": "Loss"}
    if not isinstance(value, dict):
        raise NetOptionError(
            'NetTrain: TrainingStoppingCriterion should be None, "Loss", a dict or a function, '
            f"but was {shown(value)}."
        )
    check_options(
        "NetTrain: TrainingStoppingCriterion", value, ("Criterion", "Patience", "InitialPatience", "Improvement")
    )
    improvement = _improvement(value.get("Improvement", ("AbsoluteChange", 0.0)))
    patience = {name: value.get(name, 0) for name in ("Patience", "InitialPatience")}
    for name, number in patience.items():
        count = as_int(number)
        if count is None or not 0 <= count <= MAX_ROUNDS:
            raise NetOptionError(
                f'NetTrain: the "{name}" of TrainingStoppingCriterion should be a count of rounds (an integer from '
                f"0 to 2**53), but was {shown(number)}."
            )
        patience[name] = count
    criterion = value.get("Criterion", "Loss")
    if not callable(criterion) and not (isinstance(criterion, str) and criterion == "Loss"):
        raise NetOptionError(
            f'NetTrain: the "Criterion" of TrainingStoppingCriterion should be "Loss" or a function, '
            f"but was {shown(criterion)}."
        )
    return Stopping(
        function=criterion if callable(criterion) else None,
        patience=patience["Patience"],
        initial_patience=patience["InitialPatience"],
        improvement=improvement[0],
        amount=improvement[1],
    )


def _improvement(value: Any) -> tuple[str, float]:
    """The "Improvement" of TrainingStoppingCriterion as (kind, amount); see :func:`parse_stopping`."""
    kinds = ("AbsoluteChange", "RelativeChange")
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and value[0] in kinds):
        raise NetOptionError(
            'NetTrain: the "Improvement" of TrainingStoppingCriterion should be ("AbsoluteChange", v) '
            f'or ("RelativeChange", v), but was {shown(value)}.'
        )
    amount = real(value[1])
    relative = value[0] == "RelativeChange"
    if amount is None or not 0 <= amount < (1 if relative else math.inf):
        wanted = "a fraction v with 0 <= v < 1" if relative else "a finite number v >= 0"
        raise NetOptionError(
            f'NetTrain: the "Improvement" of TrainingStoppingCriterion should be ({value[0]!r}, v) with {wanted}, '
            f"but v was {shown(value[1])}."
        )
    return value[0], amount


def check_validation(value: Any) -> None:
    """ValidationSet's form: None, ``Scaled(f)`` with 0 < f < 1, or data (a dict, list or tuple,
    read with the net later). Whether f leaves an example on each side is checked with the data."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return
    if isinstance(value, Scaled):
        fraction = real(value.value)
        if fraction is None or not 0 < fraction < 1:
            raise NetOptionError(
                f"NetTrain: ValidationSet -> Scaled(f) needs 0 < f < 1 (the fraction of the training data held out), "
                f"but f was {shown(value.value)}."
            )
        return
    raise NetOptionError(
        "NetTrain: ValidationSet should be None, Scaled(f) (hold out a fraction 0 < f < 1 of the training data) "
        f"or data in a form NetTrain takes (a dict of ports, a list, (inputs, targets)), but was {shown(value)}."
    )


def check_multipliers(value: Any) -> None:
    """LearningRateMultipliers' values: None (0, frozen) or finite numbers, alone or in part rules
    (``{part: value}``, ``[(part, value), ...]``). Which arrays the parts name is checked with the net."""
    given = rules(value, "LearningRateMultipliers")
    if given is None and value is Automatic:
        return
    for _, number in [(None, value)] if given is None else given:
        converted = real(number)
        if number is not None and (converted is None or not math.isfinite(converted)):
            raise NetOptionError(
                "NetTrain: the values of LearningRateMultipliers should be numbers (finite ones) or None, alone or "
                f"in rules {{part: value}}, but one is {shown(number)}."
            )
