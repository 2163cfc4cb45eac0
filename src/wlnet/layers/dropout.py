"""DropoutLayer: random zeroing of elements while a net trains; the identity otherwise."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..arrays import floating_input
from ..errors import NetOptionError, NetSpecificationError, check_options, closest
from ..symbols import Automatic
from ..types import parse_port, unify
from .base import Layer, _number_text

__all__ = ["Dropout", "DropoutLayer"]

METHODS = ("Dropout", "AlphaDropout")


class DropoutLayer(Layer):
    """Sets elements of its input to zero at random while the net trains; does nothing otherwise.

    Wolfram: ``DropoutLayer[]``, ``DropoutLayer[p]``, ``DropoutLayer[p, Method -> "AlphaDropout"]``.

    Args:
        p: the probability that an element is dropped, ``0 <= p < 1`` (default 0.5).
        Method: ``"Dropout"`` (the default): each element is zeroed with probability p and the
            others are multiplied by ``1 / (1 - p)``, so that the expected output is the input.
            ``"AlphaDropout"`` (for nets of SELU activations): a dropped element becomes SELU's
            negative saturation value and the result is scaled and shifted so that inputs of mean 0
            and variance 1 keep them (``y = c (x m + a l (m - 1))`` with ``m`` in ``{0, 1/(1 - p)}``,
            ``c = sqrt((1 - p) / (1 + a^2 l^2 p))``, ``a l`` SELU's alpha times lambda), which is
            PyTorch's ``alpha_dropout``.
        Input, Output: the ports' dims (the same), as for every layer.

    The layer acts only while NetTrain trains the net, or in an evaluation with
    ``NetEvaluationMode="Train"``; otherwise (the default, ``"Test"``) it is the identity. In
    NetTrain every batch draws a new mask, reproducibly: two runs with the same RandomSeeding draw
    the same masks (each round is seeded from the RandomSeeding and the round's number, so a run
    continued from a checkpoint draws them too). Evaluations with ``NetEvaluationMode="Train"`` draw
    from PyTorch's global random state (``torch.manual_seed`` fixes them).

    Ports:
        Input: an array of any rank, or a sequence.
        Output: an array with the input's dims.

    >>> DropoutLayer(0.3)([1.0, 2.0]).tolist()
    [1.0, 2.0]
    >>> DropoutLayer(Method="AlphaDropout", Input=3)
    DropoutLayer(Method='AlphaDropout', Input=3)
    """

    def __init__(self, p=0.5, *, Method="Dropout", Input=Automatic, Output=Automatic, **unknown):
        check_options("DropoutLayer", unknown, ("Method", "Input", "Output"))
        probability = _parse_probability(p)
        method = _parse_method(Method)
        ports = {
            "Input": parse_port(Input, 'DropoutLayer: the "Input" option'),
            "Output": parse_port(Output, 'DropoutLayer: the "Output" option'),
        }
        self._set_state({"p": probability, "Method": method}, ports, {}, {})

    @property
    def p(self) -> float:
        """The probability that an element is dropped while training."""
        return self._params["p"]

    @property
    def method(self) -> str:
        """``"Dropout"`` or ``"AlphaDropout"``."""
        return self._params["Method"]

    @property
    def _where(self) -> str:
        method = "" if self.method == "Dropout" else f", {self.method}"
        return f"DropoutLayer (p {_number_text(self.p)}{method})"

    def _infer(self) -> None:
        t = unify(self._ports["Input"], self._ports["Output"], f'{self._where}: ports "Input" and "Output"')
        self._ports["Input"] = self._ports["Output"] = t

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _torch_module(self) -> Dropout:
        return Dropout(self.p, self.method)

    def _arguments(self) -> tuple[tuple, dict]:
        options = {} if self.method == "Dropout" else {"Method": self.method}
        return (() if self.p == 0.5 else (self.p,)), {**options, **self._port_arguments()}

    def _constructor(self) -> str:
        args = [] if self.p == 0.5 else [_number_text(self.p)]
        if self.method != "Dropout":
            args.append(f"Method={self.method!r}")
        return f"DropoutLayer({', '.join([*args, *self._repr_options()])})"


class Dropout(nn.Module):
    """The torch form of DropoutLayer: the identity in evaluation mode (``module.eval()``, as
    ``to_torch()`` gives it), ``F.dropout`` or ``F.alpha_dropout`` in training mode. Integer or
    True/False inputs are computed in torch's default floating type.

    ``random_in_training`` tells NetTrain that the module draws random numbers while it trains, so
    that NetTrain seeds PyTorch's generator from its RandomSeeding.

    >>> module = Dropout(0.5).train()
    >>> sorted(set(module(torch.ones(1000)).tolist()))
    [0.0, 2.0]
    """

    random_in_training = True

    def __init__(self, p: float = 0.5, method: str = "Dropout"):
        super().__init__()
        self.p, self.method = p, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            x = floating_input(x, torch.get_default_dtype(), f"DropoutLayer ({self.extra_repr()})")
        if not self.training or self.p == 0:
            return x
        if self.method == "AlphaDropout":
            return F.alpha_dropout(x, self.p, True)
        return F.dropout(x, self.p, True)

    def extra_repr(self) -> str:
        return f"p={self.p}" + ("" if self.method == "Dropout" else f", method={self.method!r}")


def _parse_probability(p) -> float:
    ok = isinstance(p, numbers.Real) and not isinstance(p, bool) and math.isfinite(p) and 0 <= float(p) < 1
    if not ok:
        raise NetSpecificationError(
            f"DropoutLayer: the dropout probability should be a number between 0 and 1 (0 included, 1 "
            f"excluded), but was {p!r}."
        )
    return float(p)


def _parse_method(method) -> str:
    if isinstance(method, str) and method in METHODS:
        return method
    hint = closest(method, METHODS) if isinstance(method, str) else ""
    raise NetOptionError(
        f'DropoutLayer: the value of Method should be "Dropout" or "AlphaDropout", but was {method!r}.{hint}'
    )
