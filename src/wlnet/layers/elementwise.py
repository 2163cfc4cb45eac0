"""ElementwiseLayer: a function applied to every element (Ramp, LogisticSigmoid, Tanh, a lambda, ...)."""

from __future__ import annotations

import torch
from torch import nn

from ..arrays import floating_input
from ..errors import NetSpecificationError, check_options, closest
from ..functions import NAMED_FUNCTIONS, SYMBOLS, Expression, WolframFunction, trace
from ..symbols import Automatic
from ..types import parse_port, unify
from .base import Layer

__all__ = ["ElementwiseLayer", "Elementwise"]


class ElementwiseLayer(Layer):
    """Applies a function to every element of its input.

    Wolfram: ``ElementwiseLayer[f]``.

    Args:
        f: ``Ramp``, ``LogisticSigmoid``, ``Tanh``, ``Exp``, ``Log``, ``Sin``, ``Cos``, ``Sqrt``,
            ``Abs`` (from ``wlnet``), a name such as ``"ReLU"``, ``"ELU"``, ``"SELU"``, ``"GELU"``,
            ``"Swish"``, ``"Mish"``, ``"SoftPlus"``, ``"SoftSign"``, ``"HardTanh"``, or a Python
            callable built from them, numbers and arithmetic, e.g. ``lambda x: 2 * Tanh(x) + 1``:
            it is traced into a :class:`wlnet.functions.Expression` (Wolfram's ``2 Tanh[#] + 1 &``),
            which compares by structure, prints as the lambda, and can be saved and exported. Any
            other callable of torch tensors works too, but a net holding it cannot be saved.
        Input, Output: the port's dims, as for every layer.

    Ports:
        Input: an array of any rank.
        Output: an array with the input's dims.

    >>> from wlnet import Tanh
    >>> ElementwiseLayer(Tanh)([0.0, 100.0]).tolist()
    [0.0, 1.0]
    """

    def __init__(self, f, *, Input=Automatic, Output=Automatic, **unknown):
        check_options("ElementwiseLayer", unknown, ("Input", "Output"))
        function = _parse_function(f)
        ports = {
            "Input": parse_port(Input, 'ElementwiseLayer: the "Input" option'),
            "Output": parse_port(Output, 'ElementwiseLayer: the "Output" option'),
        }
        self._set_state({"function": function}, ports, {}, {})

    @property
    def function(self):
        """The function applied: a WolframFunction, an Expression (a traced lambda), or the
        callable given."""
        return self._params["function"]

    @property
    def _where(self) -> str:
        return f"ElementwiseLayer ({_function_text(self.function)})"

    def _infer(self) -> None:
        t = unify(self._ports["Input"], self._ports["Output"], f'{self._where}: ports "Input" and "Output"')
        self._ports["Input"] = self._ports["Output"] = t

    def _torch_module(self) -> Elementwise:
        return Elementwise(self.function)

    def _arguments(self) -> tuple[tuple, dict]:
        return (self.function,), self._port_arguments()

    def _constructor(self) -> str:
        function = self.function
        # A function known by a string name only ("ELU") is written as that string, so the
        # expression evaluates; the symbols (Tanh, Ramp, ...) are written bare.
        text = repr(function.name) if isinstance(function, WolframFunction) and function not in SYMBOLS else (
            _function_text(function))
        return f"ElementwiseLayer({', '.join([text, *self._repr_options()])})"


class Elementwise(nn.Module):
    """The torch form of ElementwiseLayer.

    An integer or True/False input is computed in torch's default floating type (float32 unless
    changed), as ``torch.tanh`` does, so ``Ramp`` too gives floats; a complex input is a NetDataError.
    """

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            x = floating_input(x, torch.get_default_dtype(), f"ElementwiseLayer ({self.extra_repr()})")
        return self.function(x)

    def extra_repr(self) -> str:
        return _function_text(self.function)


def _function_text(function) -> str:
    if isinstance(function, WolframFunction):
        return function.name
    if isinstance(function, Expression):
        return repr(function)
    return getattr(function, "__name__", repr(function))


def _parse_function(f):
    if isinstance(f, WolframFunction):
        return f
    if isinstance(f, str):
        if f in NAMED_FUNCTIONS:
            return NAMED_FUNCTIONS[f]
        raise NetSpecificationError(
            f"ElementwiseLayer: {f!r} is not a known function.{closest(f, NAMED_FUNCTIONS)} "
            f"The named functions are: {', '.join(NAMED_FUNCTIONS)}."
        )
    if callable(f):
        traced = trace(f)  # built from wlnet's functions and arithmetic: a value that can be saved
        f = f if traced is None else traced
        probe = torch.tensor([[0.5, -0.5]])
        try:
            out = f(probe)
        except Exception as error:  # any failure means the callable cannot run on tensors
            raise NetSpecificationError(
                f"ElementwiseLayer: the function {_function_text(f)} should compute on torch tensors "
                f"(use Tanh, Exp, ... from wlnet, or torch functions), but on a test tensor it "
                f"raised {type(error).__name__}: {error}"
            ) from None
        if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
            raise NetSpecificationError(
                f"ElementwiseLayer: the function {_function_text(f)} should return a tensor of its "
                f"input's shape, but returned {type(out).__name__} "
                f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}."
            )
        return f
    raise NetSpecificationError(
        f"ElementwiseLayer: the function should be Ramp, LogisticSigmoid, Tanh, ..., a name such "
        f'as "ReLU", or a callable, but was {f!r}.'
    )
