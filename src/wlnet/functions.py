"""Wolfram's elementwise functions as Python objects: ``Ramp``, ``LogisticSigmoid``, ``Tanh``, ...

Each is a named singleton that computes on torch tensors (and on numbers), so it can stand bare
in a NetChain (``NetChain([LinearLayer(3), Ramp])``), inside ``ElementwiseLayer(Tanh)``, or in a
lambda: ``ElementwiseLayer(lambda x: 2 * Tanh(x) + 1)``.

A lambda built from these functions, numbers and arithmetic (``+ - * / **``, unary ``-``,
``abs``) is *traced* into an :class:`Expression`, the counterpart of a Wolfram pure function
(``2 Tanh[#] + 1 &``): a value that compares by its structure, prints as an evaluable lambda, and
can be saved and exported (to JSON and to ONNX) without storing any code.

>>> import torch
>>> LogisticSigmoid(torch.tensor([0.0])).tolist()
[0.5]
>>> Ramp(-2.0)
0.0
>>> f = trace(lambda x: 2 * Tanh(x) + 1)
>>> f, f.to_json()
(lambda x: 2 * Tanh(x) + 1, ['Plus', ['Times', 2.0, ['Tanh', '#']], 1.0])
>>> f(torch.tensor([0.0])).tolist()
[1.0]
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import torch
import torch.nn.functional as F

from .errors import NetSpecificationError, closest

__all__ = [
    "Abs", "Cos", "Exp", "Log", "LogisticSigmoid", "Ramp", "Sin", "Sqrt", "Tanh", "WolframFunction",
    "Expression", "NAMED_FUNCTIONS", "SYMBOLS", "trace",
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
        if isinstance(x, Expression):
            return Expression(self.name, (x,))
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


# -- traced functions ------------------------------------------------------------------------------
#: Arithmetic heads of an Expression: (Python operator, precedence when printed, symbol).
_ARITHMETIC: dict[str, tuple[Any, int, str]] = {
    "Plus": (operator.add, 1, "+"),
    "Subtract": (operator.sub, 1, "-"),
    "Times": (operator.mul, 2, "*"),
    "Divide": (operator.truediv, 2, "/"),
    "Minus": (operator.neg, 3, "-"),
    "Power": (operator.pow, 4, "**"),
}
_SLOT = "#"  # the variable, as the Wolfram Language writes the argument of a pure function
_ATOM = 5  # the precedence of a variable, a number or a call


def _operand(value: Any) -> Any:
    """An operand of traced arithmetic: an Expression or a finite real number (as a float)."""
    if isinstance(value, Expression):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return NotImplemented


class Expression:
    """An elementwise function of one variable, as a tree: a Wolfram pure function such as
    ``2 Tanh[#] + 1 &``. Built by :func:`trace` from a lambda; calling it on a tensor evaluates it.

    A node is the variable (head ``"#"``), or a head with arguments: ``"Plus"``, ``"Subtract"``,
    ``"Times"``, ``"Divide"``, ``"Power"`` (two), ``"Minus"`` (one), or the name of a function of
    :data:`NAMED_FUNCTIONS` (one). Arguments are Expressions or floats. Two expressions are equal
    when their trees are.
    """

    __slots__ = ("head", "args")
    head: str
    args: tuple

    def __init__(self, head: str, args: tuple = ()):
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "args", args)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is an immutable value.")

    def __reduce__(self):
        # Rebuilt by its constructor (copy.deepcopy, pickle, torch.save of a module holding it): the
        # default, which sets the slots one by one, meets __setattr__.
        return Expression, (self.head, self.args)

    # -- tracing: arithmetic on an Expression builds a bigger one -------------------------------------
    def _apply(self, head: str, *args: Any) -> Any:
        operands = [_operand(a) for a in args]
        if any(o is NotImplemented for o in operands):
            return NotImplemented
        return Expression(head, tuple(operands))

    def __add__(self, other): return self._apply("Plus", self, other)  # noqa: E704
    def __radd__(self, other): return self._apply("Plus", other, self)  # noqa: E704
    def __sub__(self, other): return self._apply("Subtract", self, other)  # noqa: E704
    def __rsub__(self, other): return self._apply("Subtract", other, self)  # noqa: E704
    def __mul__(self, other): return self._apply("Times", self, other)  # noqa: E704
    def __rmul__(self, other): return self._apply("Times", other, self)  # noqa: E704
    def __truediv__(self, other): return self._apply("Divide", self, other)  # noqa: E704
    def __rtruediv__(self, other): return self._apply("Divide", other, self)  # noqa: E704
    def __pow__(self, other): return self._apply("Power", self, other)  # noqa: E704
    def __rpow__(self, other): return self._apply("Power", other, self)  # noqa: E704
    def __neg__(self): return Expression("Minus", (self,))  # noqa: E704
    def __pos__(self): return self  # noqa: E704
    def __abs__(self): return Expression("Abs", (self,))  # noqa: E704

    def __bool__(self) -> bool:
        raise TypeError("a traced function cannot branch on its argument")

    # -- as a value ------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and (self.head, self.args) == (other.head, other.args)

    def __hash__(self) -> int:
        return hash(("Expression", self.head, self.args))

    def __call__(self, x: Any) -> Any:
        """The function's value at ``x`` (a tensor, or a number)."""
        if self.head == _SLOT:
            return x
        args = [a(x) if isinstance(a, Expression) else a for a in self.args]
        if self.head in _ARITHMETIC:
            return _ARITHMETIC[self.head][0](*args)
        return NAMED_FUNCTIONS[self.head](args[0])

    def __repr__(self) -> str:
        return f"lambda x: {_text(self)[0]}"

    @property
    def __name__(self) -> str:  # what error messages call a function
        return repr(self)

    # -- as data ---------------------------------------------------------------------------------
    def to_json(self) -> Any:
        """The tree as JSON data: ``"#"`` for the variable, numbers, ``[head, arg, ...]``."""
        if self.head == _SLOT:
            return _SLOT
        return [self.head, *(a.to_json() if isinstance(a, Expression) else a for a in self.args)]

    @staticmethod
    def from_json(data: Any, where: str) -> Expression:
        """The Expression that :meth:`to_json` wrote; NetSpecificationError naming ``where`` for
        anything else."""
        node = _from_json(data, where)
        if not _depends(node):
            raise NetSpecificationError(f"{where}: the function {data!r} does not depend on its argument.")
        return node


VARIABLE = Expression(_SLOT)


def _depends(node: Any) -> bool:
    """Whether ``node`` contains the variable."""
    return isinstance(node, Expression) and (node.head == _SLOT or any(_depends(a) for a in node.args))


def _from_json(data: Any, where: str) -> Any:
    if data == _SLOT:
        return VARIABLE
    if isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
        return float(data)
    if not (isinstance(data, list) and data and isinstance(data[0], str)):
        raise NetSpecificationError(f"{where}: {data!r} is not a part of a function (a head and its arguments).")
    head, args = data[0], [_from_json(a, where) for a in data[1:]]
    if head in _ARITHMETIC:
        arity = 1 if head == "Minus" else 2
    elif head in NAMED_FUNCTIONS:
        arity = 1
    else:
        raise NetSpecificationError(
            f"{where}: {head!r} is not a function wlnet knows.{closest(head, [*NAMED_FUNCTIONS, *_ARITHMETIC])}"
        )
    if len(args) != arity:
        raise NetSpecificationError(f"{where}: {head} takes {arity} argument(s), but has {len(args)}.")
    return Expression(head, tuple(args))


def trace(f: Any) -> Expression | None:
    """``f`` as an :class:`Expression`, when it is built from wlnet's functions, numbers and
    arithmetic and depends on its argument; None for anything else (torch calls, branches, ...)."""
    try:
        traced = f(VARIABLE)
    except Exception:  # any failure means f is not built from traceable operations
        return None
    return traced if isinstance(traced, Expression) else None


def _number_text(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _text(node: Any) -> tuple[str, int]:
    """Python source for ``node`` and its precedence (a negative number binds as unary minus)."""
    if isinstance(node, float):
        return _number_text(node), (3 if node < 0 else _ATOM)
    if node.head == _SLOT:
        return "x", _ATOM
    if node.head not in _ARITHMETIC:
        return f"{node.head}({_text(node.args[0])[0]})", _ATOM
    _, precedence, symbol = _ARITHMETIC[node.head]
    if node.head == "Minus":
        inner, inner_precedence = _text(node.args[0])
        return f"-{_wrap(inner, inner_precedence < precedence)}", precedence
    (left, left_precedence), (right, right_precedence) = _text(node.args[0]), _text(node.args[1])
    if node.head == "Power":  # right-associative; a unary minus on the left needs parentheses
        left = _wrap(left, left_precedence <= precedence)
        right = _wrap(right, right_precedence < 3)
    else:
        left = _wrap(left, left_precedence < precedence)
        right = _wrap(right, right_precedence <= precedence if node.head in ("Subtract", "Divide")
                      else right_precedence < precedence)
    return f"{left} {symbol} {right}", precedence


def _wrap(text: str, needed: bool) -> str:
    return f"({text})" if needed else text
