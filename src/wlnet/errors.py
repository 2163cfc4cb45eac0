"""The NetError hierarchy and the small functions that build its messages.

Every error says where (the layer or net, the port or array), then what was expected versus what
was found, in words a Wolfram Language user knows, then the fix when it is known. Each class has
a stable ``code`` (the Wolfram message tag where one exists) for programs that branch on errors.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import sys
import warnings
from collections.abc import Iterable

__all__ = [
    "NetDataError",
    "NetError",
    "NetInitializationError",
    "NetOptionError",
    "NetShapeError",
    "NetSpecificationError",
    "NetTrainWarning",
]


class NetError(ValueError):
    """Base class of every error wlnet raises about nets, their options and their data."""

    code = "neterr"


class NetSpecificationError(NetError):
    """A malformed argument to a layer or verb: a bad level, a bad port or array specification."""

    code = "invspec"


class NetOptionError(NetError, TypeError):
    """An unknown option name, or an option whose value has the wrong form."""

    code = "optx"


class NetShapeError(NetError):
    """Dimensions that cannot be reconciled (array against port, port against data, ...)."""

    code = "tyfail"


class NetInitializationError(NetError):
    """A net that is missing an array, or whose dimensions are not known well enough to run."""

    code = "nninit"


class NetDataError(NetError):
    """Input data that is not numeric, is ragged or empty, or does not fit the port."""

    code = "invindata"


class NetTrainWarning(UserWarning):
    """A training run went on, or stopped early, for a reason the user should know."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_WRAPPERS = {contextlib.__file__, functools.__file__}  # decorators' frames between wlnet's own


def _inside(filename: str) -> bool:
    """Whether a frame of ``filename`` is wlnet's (or a decorator's or PyTorch's between wlnet's
    frames, as ``torch.no_grad`` puts there), not the user's code."""
    torch_file = getattr(sys.modules.get("torch"), "__file__", None)
    prefixes = (_PACKAGE, os.path.dirname(torch_file) + os.sep) if torch_file else (_PACKAGE,)
    return filename.startswith(prefixes) or filename in _WRAPPERS


def warn(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the user's line: the first frame outside wlnet, as pandas'
    ``find_stack_level`` and Python 3.12's ``skip_file_prefixes`` do, whatever the depth of the
    call inside wlnet. Python then shows each different message once per line of the user's code
    (its "default" filter), so the same warning from another call site is not hidden by the first.
    """
    frame, level = sys._getframe(1), 2  # level 2: warn's caller, a line of wlnet
    while frame.f_back is not None and _inside(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def shortened(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with "…" where it was cut (for labels and
    messages that quote a user's value)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters; never fails: an int too long for
    Python's integer-to-text limit (4300 digits) is described by its size instead.

    >>> shown(10**5000)
    'an integer of 5001 digits'
    """
    try:
        text = repr(value)
    except Exception:
        if isinstance(value, int):  # beyond sys.get_int_max_str_digits()
            text = f"an integer of {_digits(value)} digits"
        elif isinstance(value, (tuple, list)) and type(value) in (tuple, list):  # such an int inside
            items = ", ".join(shown(item, limit) for item in value)
            text = f"({items},)" if type(value) is tuple and len(value) == 1 else (
                f"({items})" if type(value) is tuple else f"[{items}]")
        elif isinstance(value, dict) and type(value) is dict:
            text = "{" + ", ".join(f"{shown(k, limit)}: {shown(v, limit)}" for k, v in value.items()) + "}"
        else:  # a repr that fails: such an int inside a Scaled, a user's object
            text = f"a {type(value).__name__} that cannot be shown"
    return shortened(text, limit)


def _digits(value: int) -> int:
    """The decimal digits of an int's magnitude, without converting it to text."""
    number = abs(value)
    digits = max(1, int(number.bit_length() * 0.30102999566398120))  # the count, or one less
    return digits + (number >= 10**digits)


def closest(name: str, choices: Iterable[str]) -> str:
    """A ``" Did you mean ...?"`` suffix naming the choice closest to ``name``, or ``""``."""
    found = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in choices}
        if str(name).lower() in lowered:
            found = [lowered[str(name).lower()]]
    return f" Did you mean {found[0]}?" if found else ""


def check_options(where: str, given: dict, allowed: Iterable[str]) -> None:
    """Raise NetOptionError for the first key of ``given`` that is not in ``allowed``."""
    allowed = list(allowed)
    for name in given:
        if name not in allowed:
            label = name if isinstance(name, str) else shown(name)
            raise NetOptionError(
                f"{where}: unknown option {label}.{closest(label, allowed)} "
                f"The options are {', '.join(allowed)}."
            )


def non_numeric_text(array) -> str:
    """What makes a NumPy array not real numbers, in words: "it contains strings"."""
    kinds = {"b": "True/False values", "U": "strings", "S": "bytes", "c": "complex numbers"}
    if array.dtype.kind in kinds:
        return f"it contains {kinds[array.dtype.kind]}"
    for item in array.reshape(-1):
        if isinstance(item, bool) or not isinstance(item, (int, float)) and not hasattr(item, "dtype"):
            return f"it contains {item!r}"
    return f"it has values of type {array.dtype}"


def add_context(error: BaseException, context: str) -> BaseException:
    """Attach ``context`` to an error raised inside a forward pass, keeping its type."""
    if hasattr(error, "add_note"):  # Python >= 3.11
        error.add_note(context)
    return error
