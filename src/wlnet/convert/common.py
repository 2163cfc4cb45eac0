"""What every converter of :mod:`wlnet.convert` shares: how errors name a module, and the one
learning-rate multiplier of a converted layer."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import NetSpecificationError
from ..layers.base import position_text
from ..symbols import Automatic

__all__ = ["layer_multiplier", "no_equivalent", "site", "type_text"]


# -- where, and what is refused ----------------------------------------------------------------
def type_text(module: nn.Module) -> str:
    """A module's type as a PyTorch user writes it: ``nn.Conv2d``, or the class's full name."""
    cls = type(module)
    if getattr(nn, cls.__name__, None) is cls:
        return f"nn.{cls.__name__}"
    if cls.__module__.startswith("wlnet."):
        return f"wlnet's {cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def site(module: nn.Module, position: tuple) -> str:
    if not position:
        return type_text(module)
    return f"the module at position {position_text(position)} ({type_text(module)})"


def no_equivalent(module: nn.Module, position: tuple, reason: str) -> NetSpecificationError:
    return NetSpecificationError(f"from_torch: {site(module, position)} has no wlnet equivalent: {reason}")


# -- learning-rate multipliers ------------------------------------------------------------------
def layer_multiplier(module: nn.Module, position: tuple, parameters: Mapping[str, torch.Tensor]) -> Any:
    """The one LearningRateMultipliers value of a layer with these parameters (Automatic for 1)."""
    values = {name: _parameter_multiplier(p) for name, p in parameters.items()}
    if len(set(values.values())) > 1:
        found = ", ".join(f"{name} {value:g}" for name, value in values.items())
        raise no_equivalent(
            module, position,
            f"its parameters have different learning-rate multipliers ({found}; requires_grad=False "
            "is 0), but the layer has one LearningRateMultipliers value for all its arrays. Freeze "
            "all of them or none, or give per-array multipliers to NetTrain's LearningRateMultipliers."
        )
    value = next(iter(values.values()))
    return Automatic if value == 1 else value


def _parameter_multiplier(parameter: torch.Tensor) -> float:
    if not parameter.requires_grad:
        return 0.0
    value = getattr(parameter, "lr_multiplier", 1.0)  # set by to_torch()
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value != 0
    return float(value) if ok else 1.0
