"""Wolfram's elementwise functions as Python objects: ``Ramp``, ``LogisticSigmoid``, ``Tanh``, ...

Each is a named singleton that computes on torch tensors (and on numbers), so it can stand bare
in a NetChain (``NetChain([LinearLayer(3), Ramp])``), inside ``ElementwiseLayer(Tanh)``, or in a
lambda: ``ElementwiseLayer(lambda x: 2 * Tanh(x) + 1)``.

>>> import torch
>>> LogisticSigmoid(torch.tensor([0.0])).tolist()
[0.5]
>>> Ramp(-2.0)
0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "Abs", "Cos", "Exp", "Log", "LogisticSigmoid", "Ramp", "Sin", "Sqrt", "Tanh", "WolframFunction",
    "NAMED_FUNCTIONS", "SYMBOLS",
]


class WolframFunction:
    """A named elementwise function; calling it on a tensor (or number) applies it."""

    __slots__ = ("name", "_op")

    def __init__(self, name: str, op):
        self.name = name
        self._op = op

    def __call__(self, x):
        if isinstance(x, torch.Tensor):
            return self._op(x)
        return float(self._op(torch.tensor(float(x), dtype=torch.float64)))

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return (_named, (self.name,))


def _named(name: str) -> WolframFunction:
    return NAMED_FUNCTIONS[name]


Ramp = WolframFunction("Ramp", torch.relu)
LogisticSigmoid = WolframFunction("LogisticSigmoid", torch.sigmoid)
Tanh = WolframFunction("Tanh", torch.tanh)
Exp = WolframFunction("Exp", torch.exp)
Log = WolframFunction("Log", torch.log)
Sin = WolframFunction("Sin", torch.sin)
Cos = WolframFunction("Cos", torch.cos)
Sqrt = WolframFunction("Sqrt", torch.sqrt)
Abs = WolframFunction("Abs", torch.abs)

#: The functions wlnet exports as symbols (a repr writes them bare: ``ElementwiseLayer(Tanh)``).
SYMBOLS: tuple[WolframFunction, ...] = (Ramp, LogisticSigmoid, Tanh, Exp, Log, Sin, Cos, Sqrt, Abs)
# Every function ElementwiseLayer knows by name: the symbols above and Wolfram's string names.
NAMED_FUNCTIONS: dict[str, WolframFunction] = {f.name: f for f in SYMBOLS}
NAMED_FUNCTIONS.update({
    "ReLU": Ramp,
    "RectifiedLinearUnit": Ramp,
    "Sigmoid": LogisticSigmoid,
    "ELU": WolframFunction("ELU", F.elu),
    "SELU": WolframFunction("SELU", F.selu),
    "GELU": WolframFunction("GELU", F.gelu),  # the exact erf form, as Wolfram's
    "Swish": WolframFunction("Swish", F.silu),
    "Mish": WolframFunction("Mish", F.mish),
    "SoftSign": WolframFunction("SoftSign", F.softsign),
    "SoftPlus": WolframFunction("SoftPlus", F.softplus),
    "HardTanh": WolframFunction("HardTanh", F.hardtanh),
})
