"""SoftmaxLayer: exponentials normalized to sum 1 over one level of the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..arrays import floating_input
from ..errors import NetShapeError, check_options
from ..symbols import Automatic
from ..types import TensorT, describe, parse_port, unify
from .base import Layer
from .levels import level_argument, level_axis

__all__ = ["Softmax", "SoftmaxLayer"]


class SoftmaxLayer(Layer):
    """The softmax of its input over one level: ``exp(x)`` divided by its total over that level.

    Wolfram: ``SoftmaxLayer[]`` (= ``SoftmaxLayer[-1]``), ``SoftmaxLayer[n]``.

    Args:
        level: the level normalized over (1-based, the batch axis not counted; negative counts
            from the last level). The default -1 normalizes each innermost vector, so on a vector
            ``v`` the layer gives ``exp(v) / sum(exp(v))``; ``SoftmaxLayer(1)`` normalizes over the
            channels of a ``{c, h, w}`` class map. A "Varying" level (a sequence's length) may be
            normalized over too. The computation subtracts the maximum first, so large inputs do
            not overflow (PyTorch's ``softmax``).
        Input, Output: the ports' dims (the same), as for every layer.

    Ports:
        Input: an array of rank at least ``|level|``.
        Output: an array with the input's dims, summing to 1 along the level.

    >>> SoftmaxLayer()([0.0, 0.0]).tolist()
    [0.5, 0.5]
    >>> SoftmaxLayer(1, Input=(2, 3))
    SoftmaxLayer(1, Input=(2, 3))
    """

    def __init__(self, level=-1, *, Input=Automatic, Output=Automatic, **unknown):
        check_options("SoftmaxLayer", unknown, ("Input", "Output"))
        parsed = _parse_level(level)
        where = _where(parsed)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        self._set_state({"level": parsed}, ports, {}, {})

    @property
    def level(self) -> int:
        """The level normalized over (1-based; negative counts from the last level)."""
        return self._params["level"]

    @property
    def _where(self) -> str:
        return _where(self.level)

    def _infer(self) -> None:
        t = unify(self._ports["Input"], self._ports["Output"], f'{self._where}: ports "Input" and "Output"')
        if t.dims is not None:
            _check_rank(self.level, t, self._where)
        self._ports["Input"] = self._ports["Output"] = t

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Softmax:
        return Softmax(self.level)

    def _level_arguments(self) -> tuple:
        return () if self.level == -1 else (self.level,)

    def _arguments(self) -> tuple[tuple, dict]:
        return self._level_arguments(), self._port_arguments()

    def _constructor(self) -> str:
        return f"SoftmaxLayer({', '.join([*map(repr, self._level_arguments()), *self._repr_options()])})"


class Softmax(nn.Module):
    """The torch form of SoftmaxLayer, batch first: ``F.softmax`` over the level (level ``n > 0``
    is axis ``n`` of the batch, a negative level the same negative axis). Integer or True/False
    inputs are computed in torch's default floating type.

    >>> Softmax(1)(torch.zeros(4, 2, 3)).sum(1)[0].tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, level: int = -1):
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        where = _where(self.level)
        if not x.is_floating_point():
            x = floating_input(x, torch.get_default_dtype(), where)
        rank = x.ndim - 1
        if level_axis(self.level, rank) is None:
            raise NetShapeError(
                f"{where}: an input of shape {tuple(x.shape)} (batch first) has examples of rank {rank}, "
                f"which have no level {self.level}."
            )
        return F.softmax(x, dim=self.level)

    def extra_repr(self) -> str:
        return f"level={self.level}"


def _parse_level(level) -> int:
    return level_argument(
        level, "SoftmaxLayer", "the level should be a nonzero integer (1-based; -1, the default, is the last level)"
    )


def _check_rank(level: int, t: TensorT, where: str) -> None:
    """A NetShapeError unless an input of type ``t`` (of known rank) has level ``level``."""
    assert t.dims is not None
    rank = len(t.dims)
    if rank == 0:
        raise NetShapeError(
            f'{where}: port "Input" is a real number, which has no level to normalize over; '
            "SoftmaxLayer needs an array of rank at least 1."
        )
    if level_axis(level, rank) is None:
        raise NetShapeError(
            f'{where}: port "Input" is {describe(t)}, of rank {rank}, which has no level {level}: its '
            f"levels run from 1 to {rank} (or -{rank} to -1)."
        )


def _where(level: int) -> str:
    return "SoftmaxLayer" if level == -1 else f"SoftmaxLayer (level {level})"
