"""Option values shared by evaluation and NetTrain, and part rules (``{part: value}``).

Each parser takes ``where`` (what the error should name: ``"NetTrain"``, a layer) and the value
given, and returns the value in the form the code uses, or raises :class:`NetOptionError` saying
what was expected.

A *part rule* maps a part specification to a value, as Wolfram's ``LearningRateMultipliers ->
{2 -> 0, "ramp" -> 0.5, _ -> 1}`` does. A specification is a layer position (1-based) or name, a
``Span`` of positions, a path ``(2, "Slope")``, ``All`` or ``"_"``; it covers every array at or
below the part it names. The first matching rule gives an array's value.

>>> matches((2, "Slope"), (2, "Slope")), matches(2, (2, "Weights")), matches(Span(1, 2), (3, "Slope"))
(True, True, False)
>>> per_array({2: 0.0}, [(1, "Weights"), (2, "Slope")], "LearningRateMultipliers", lambda p: 1.0)
[1.0, 0.0]
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .errors import NetOptionError, shown
from .symbols import All, Automatic, Span, _Atom
from .types import as_int

__all__ = [
    "NUMPY_DTYPES",
    "PRECISIONS",
    "matches",
    "per_array",
    "positive_int",
    "positive_seconds",
    "precision",
    "real",
    "rules",
    "computing",
    "target_device",
    "training_devices",
]

PRECISIONS = {"Real32": torch.float32, "Real64": torch.float64}
#: The most processes TargetDevice ("CPU", n) starts: each holds the net and talks to every other.
MAX_PROCESSES = 1024
NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (an int, a float, a NumPy number; not a bool)
    that a float can hold, else None. NaN and infinities are returned: the caller decides.

    >>> real(2), real(True), real("1"), real(10**400)
    (2.0, None, None, None)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):  # an int beyond a float's range
        return None


def positive_int(where: str, name: str, value: Any) -> Any:
    """``Automatic`` or a positive int (NumPy ints too, not bools): BatchSize, MaxTrainingRounds."""
    if value is Automatic:
        return value
    number = as_int(value)
    if number is None or number < 1:
        raise NetOptionError(
            f"{where}: the value of {name} should be Automatic or a positive integer, but was {shown(value)}."
        )
    return number


def positive_seconds(where: str, name: str, value: Any) -> float | None:
    """A positive number of seconds, or None for Automatic / None (no limit): TimeGoal."""
    if value is Automatic or value is None:
        return None
    seconds = real(value)
    if seconds is None or not seconds > 0:  # NaN too; inf: no limit
        raise NetOptionError(
            f"{where}: the value of {name} should be a positive number of seconds, but was {shown(value)}."
        )
    return seconds


def precision(where: str, value: Any) -> torch.dtype:
    """The torch dtype of a WorkingPrecision's arrays: "Real32" (float32), "Real64" (float64), or
    "Mixed" (float32 arrays, computed in bfloat16 where autocast allows: see :func:`computing`)."""
    if isinstance(value, str) and value == "Mixed":
        return torch.float32
    if not isinstance(value, str) or value not in PRECISIONS:
        raise NetOptionError(
            f'{where}: the value of WorkingPrecision should be "Real32", "Real64" or "Mixed", but was {value!r}.'
        )
    return PRECISIONS[value]


def computing(mixed: bool, device: torch.device) -> Any:
    """The context a net computes in: bfloat16 autocast for WorkingPrecision -> "Mixed" (the
    Wolfram Language's mixed precision; wlnet allows it on the CPU too), else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if mixed else contextlib.nullcontext()


def target_device(spec: Any, where: str) -> torch.device:
    """The torch device for a TargetDevice value: "CPU", "GPU" / "CUDA", or ("GPU", n) 1-based."""
    index: Any = 1
    given = spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] in ("GPU", "CUDA"):
        spec, index = spec
    if isinstance(spec, str) and spec == "CPU":  # (an array's == would compare elementwise)
        return torch.device("cpu")
    index = as_int(index)  # None: not an integer
    if isinstance(spec, str) and spec in ("GPU", "CUDA") and index is not None and index >= 1:
        if not torch.cuda.is_available():
            raise NetOptionError(
                f'{where}: TargetDevice "GPU" needs a CUDA GPU, but torch sees none on this machine '
                f'(torch {torch.__version__}). Use TargetDevice="CPU".'
            )
        if index > torch.cuda.device_count():
            raise NetOptionError(
                f"{where}: TargetDevice asks for GPU {shown(index)}, but there are only "
                f"{torch.cuda.device_count()}."
            )
        return torch.device("cuda", index - 1)
    several = isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] in ("CPU", "GPU", "CUDA")
    raise NetOptionError(
        f'{where}: the value of TargetDevice should be "CPU", "GPU" or ("GPU", n) (n from 1), '
        f"but was {shown(given)}."
        + (" Several devices (\"CPU\", n), (\"GPU\", All) are for NetTrain." if several else "")
    )


def training_devices(spec: Any, where: str = "NetTrain") -> tuple[torch.device, ...]:
    """The devices NetTrain trains on, one process each: TargetDevice's values for one device,
    ``("GPU", All)`` (every GPU), ``("GPU", [n1, n2, ...])`` (1-based), and, beyond the Wolfram
    Language, ``("CPU", n)``: n processes on the CPU."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "CPU":
        count = as_int(spec[1])
        if count is None or not 1 <= count <= MAX_PROCESSES:
            raise NetOptionError(
                f'{where}: TargetDevice ("CPU", n) takes a positive number of processes n (at most '
                f"{MAX_PROCESSES}), but was {shown(spec)}."
            )
        return (torch.device("cpu"),) * count
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] in ("GPU", "CUDA") and (
            spec[1] is All or isinstance(spec[1], (list, tuple))):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        chosen: Any = spec[1]
        indices = list(range(1, count + 1)) if chosen is All else list(chosen)
        if not indices:
            target_device("GPU", where)  # the error for a machine without a GPU
        return tuple(target_device(("GPU", i), where) for i in indices)
    return (target_device(spec, where),)


# -- part rules --------------------------------------------------------------------------------
def rules(value: Any, option: str, where: str = "NetTrain") -> list[tuple[Any, Any]] | None:
    """``value`` as a list of (part, value) rules, or None when it is a plain number / Automatic."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        for rule in value:
            if not (isinstance(rule, tuple) and len(rule) == 2):
                raise NetOptionError(
                    f"{where}: {option} should be a number or a list of (part, value) rules, "
                    f"but contains {shown(rule)}."
                )
        return value
    return None


def matches(spec: Any, position: tuple) -> bool:
    """Whether a part spec (key, name, Span, path or All) covers the array at ``position``."""
    if spec is All or spec == "_":
        return True
    steps = list(spec) if isinstance(spec, (tuple, list)) else [spec]
    if len(steps) > len(position):
        return False
    return all(_step_matches(step, key) for step, key in zip(steps, position))


def _step_matches(step: Any, key: Any) -> bool:
    if isinstance(step, Span):
        stop = math.inf if step.stop is All else step.stop
        # A stop that is another atom (Automatic, say) is no position: the span matches nothing.
        return isinstance(key, int) and not isinstance(stop, _Atom) and step.start <= key <= stop
    return step is All or step == key


def _number(value: Any, option: str, allow_none: bool, where: str) -> float:
    if value is None and allow_none:
        return 0.0
    number = real(value)
    if number is None or not math.isfinite(number):
        raise NetOptionError(
            f"{where}: the values of {option} should be numbers (finite ones)"
            f"{' or None' if allow_none else ''}, but one is {shown(value)}."
        )
    return number


def per_array(
    value: Any,
    positions: Sequence[tuple],
    option: str,
    default: Callable[[tuple], float],
    allow_none: bool = True,
    where: str = "NetTrain",
) -> list[float]:
    """One value per array position: the first matching rule, else ``default(position)``.

    ``value`` is ``Automatic`` (every array gets its default), a number (None means 0 where
    ``allow_none``) or rules; a rule that matches no array is an error, since it is a typo more
    often than not.
    """
    parsed = rules(value, option, where)
    if parsed is None:
        if value is Automatic or (value is None and not allow_none):
            return [default(p) for p in positions]
        number = _number(value, option, allow_none, where)
        return [number for _ in positions]
    for spec, _ in parsed:
        if not any(matches(spec, p) for p in positions):
            raise NetOptionError(
                f"{where}: the {option} rule for {spec!r} matches no array of the net; the arrays "
                f"are at {', '.join(map(repr, positions))}."
            )
    resolved = []
    for p in positions:
        rule = next((v for spec, v in parsed if matches(spec, p)), _NO_RULE)
        resolved.append(default(p) if rule is _NO_RULE else _number(rule, option, allow_none, where))
    return resolved


_NO_RULE = object()
