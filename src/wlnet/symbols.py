"""Small value objects for the Wolfram Language atoms that wlnet's API uses.

``Automatic``, ``All`` and ``Inherited`` are singletons compared with ``is``; ``Span`` is the
Wolfram ``a1;;a2`` (1-based, inclusive at both ends); ``Quantity`` is a size in bytes, as
``Information`` gives it.

>>> Span(1, 2)
Span(1, 2)
>>> Span(2, All)
Span(2, All)
>>> Automatic
Automatic
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, ClassVar, Final

from .errors import NetSpecificationError, closest

__all__ = ["All", "Automatic", "Inherited", "Quantity", "Scaled", "Span"]


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


#: The units of a byte Quantity: name -> (bytes in one unit, the abbreviation Wolfram displays).
#: 1000-based, as Wolfram's "Kilobytes" (its 1024-based units are "Kibibytes" and so on).
BYTE_UNITS: Final = {
    "Bytes": (1, "B"),
    "Kilobytes": (1000, "kB"),
    "Megabytes": (1000**2, "MB"),
    "Gigabytes": (1000**3, "GB"),
}


class Quantity:
    """A size in bytes with its unit: the Wolfram ``Quantity[magnitude, unit]`` of Information.

    Wolfram: ``Quantity[2.4, "Kilobytes"]``. The units are "Bytes", "Kilobytes", "Megabytes" and
    "Gigabytes", 1000-based. :meth:`from_bytes` picks the unit as ``Information`` does
    (``"ArraysTotalSize"``): a whole number of "Bytes" below 1000, else the real number of
    "Kilobytes" below 1000², "Megabytes" below 1000³, and "Gigabytes" from there.

    ``str`` is the Wolfram display: the magnitude (a real with 6 significant digits, ``12.`` for a
    whole real) and the unit's abbreviation; ``float`` is the magnitude; ``bytes`` the whole number
    of bytes. Quantities are immutable and compare as Wolfram's ``SameQ`` does: same magnitude, same
    unit (``Quantity(2.4, "Kilobytes") != Quantity(2400, "Bytes")``; compare ``bytes`` for that).

    >>> size = Quantity.from_bytes(2404)
    >>> size, str(size), float(size), size.bytes
    (Quantity(2.404, "Kilobytes"), '2.404 kB', 2.404, 2404)
    >>> print(Quantity.from_bytes(8), Quantity.from_bytes(12_000), Quantity.from_bytes(1_234_567))
    8 B 12. kB 1.23457 MB
    """

    __slots__ = ("magnitude", "unit")
    magnitude: int | float
    unit: str

    def __init__(self, magnitude: int | float, unit: str):
        if isinstance(magnitude, bool) or not isinstance(magnitude, numbers.Real) or not math.isfinite(magnitude):
            raise NetSpecificationError(
                f"Quantity: the magnitude should be a finite real number, but was {magnitude!r}."
            )
        if unit not in BYTE_UNITS:
            raise NetSpecificationError(
                f"Quantity: {unit!r} is not a unit wlnet knows.{closest(str(unit), BYTE_UNITS)} "
                f"The units are: {', '.join(BYTE_UNITS)}."
            )
        number = as_int(magnitude)
        object.__setattr__(self, "magnitude", float(magnitude) if number is None else number)
        object.__setattr__(self, "unit", unit)

    @classmethod
    def from_bytes(cls, count: int) -> Quantity:
        """``count`` bytes in the unit Wolfram's Information picks (see the class doc)."""
        number = as_int(count)
        if number is None or number < 0:
            raise NetSpecificationError(f"Quantity.from_bytes: the count should be a whole number >= 0, not {count!r}.")
        if number < 1000:
            return cls(number, "Bytes")
        for unit in ("Kilobytes", "Megabytes"):
            if number < 1000 * BYTE_UNITS[unit][0]:
                return cls(number / BYTE_UNITS[unit][0], unit)
        return cls(number / BYTE_UNITS["Gigabytes"][0], "Gigabytes")

    @property
    def bytes(self) -> int:
        """The whole number of bytes nearest to this quantity."""
        return round(self.magnitude * BYTE_UNITS[self.unit][0])

    def __float__(self) -> float:
        return float(self.magnitude)

    def __setattr__(self, name, value):
        raise AttributeError("Quantity is immutable")

    def __repr__(self) -> str:
        return f'Quantity({self.magnitude!r}, "{self.unit}")'

    def __str__(self) -> str:
        return f"{_number_text(self.magnitude)} {BYTE_UNITS[self.unit][1]}"

    def __eq__(self, other) -> bool:
        return isinstance(other, Quantity) and (self.magnitude, self.unit) == (other.magnitude, other.unit)

    def __hash__(self) -> int:
        return hash(("Quantity", self.magnitude, self.unit))

    def __reduce__(self):
        return (Quantity, (self.magnitude, self.unit))


def _number_text(value: int | float) -> str:
    """A number as Wolfram displays it: an integer as it is; a real with 6 significant digits,
    ``12.`` when whole, ``1.5×10^7`` from 10^6 up (and below 10^-4)."""
    if isinstance(value, int):
        return str(value)
    mantissa, _, exponent = f"{value:.6g}".partition("e")
    if "." not in mantissa:
        mantissa += "."
    return f"{mantissa}×10^{int(exponent)}" if exponent else mantissa
