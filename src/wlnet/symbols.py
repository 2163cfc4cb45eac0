"""Small value objects for the Wolfram Language atoms that wlnet's API uses.

``Automatic``, ``All`` and ``Inherited`` are singletons compared with ``is``; ``Span`` is the
Wolfram ``a1;;a2`` (1-based, inclusive at both ends).

>>> Span(1, 2)
Span(1, 2)
>>> Span(2, All)
Span(2, All)
>>> Automatic
Automatic
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar, Final

__all__ = ["All", "Automatic", "Inherited", "Scaled", "Span"]


class _Atom:
    """A named singleton: prints as its name, is copied and pickled as itself."""

    __slots__ = ("_name",)
    _name: str
    _instances: ClassVar[dict[str, _Atom]] = {}

    def __new__(cls, name: str) -> _Atom:
        atom = cls._instances.get(name)
        if atom is None:
            atom = super().__new__(cls)
            object.__setattr__(atom, "_name", name)
            cls._instances[name] = atom
        return atom

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self):
        return (_Atom, (self._name,))

    def __copy__(self) -> _Atom:
        return self

    def __deepcopy__(self, memo) -> _Atom:
        return self

    def __bool__(self) -> bool:
        raise TypeError(f"{self._name} has no truth value; compare it with `is`.")


Automatic: Final = _Atom("Automatic")
All: Final = _Atom("All")
Inherited: Final = _Atom("Inherited")


class Span:
    """The Wolfram span ``start;;stop``: levels ``start`` through ``stop``, both included.

    Wolfram: ``a1;;a2``. Either end may be negative (counted from the last level, -1 = last),
    and ``stop`` may be ``All`` (through the last level).

    >>> Span(1, -1)
    Span(1, -1)
    """

    __slots__ = ("start", "stop")
    start: int
    stop: int | _Atom

    def __init__(self, start: int, stop: int | _Atom = All):
        # Stored as given: the layer that receives a span validates it, so that its error can
        # name the layer and say what was expected.
        object.__setattr__(self, "start", _as_int(start))
        object.__setattr__(self, "stop", _as_int(stop))

    def __setattr__(self, name, value):
        raise AttributeError("Span is immutable")

    def __repr__(self) -> str:
        return f"Span({self.start!r}, {self.stop!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Span) and (self.start, self.stop) == (other.start, other.stop)

    def __hash__(self) -> int:
        return hash(("Span", self.start, self.stop))

    def __reduce__(self):
        return (Span, (self.start, self.stop))


def as_int(value: Any) -> int | None:
    """``value`` as an int when it is an integer (NumPy ints too; bools are not), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _as_int(value: Any) -> Any:
    """``value`` as a plain int when it is an integer (NumPy ones too), else unchanged."""
    number = as_int(value)
    return value if number is None else number


class Scaled:
    """The Wolfram ``Scaled[r]``: a fraction (ValidationSet) or a weight (LossFunction).

    >>> Scaled(0.2)
    Scaled(0.2)
    """

    __slots__ = ("value",)
    value: float

    def __init__(self, value: float):
        # Stored as given: NetTrain validates it, naming the option it was given for.
        object.__setattr__(self, "value", value)

    def __setattr__(self, name, value):
        raise AttributeError("Scaled is immutable")

    def __repr__(self) -> str:
        return f"Scaled({self.value!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Scaled) and self.value == other.value

    def __hash__(self) -> int:
        return hash(("Scaled", self.value))
