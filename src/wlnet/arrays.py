"""Array values: what a net holds for each of its arrays, and how user-given numbers become arrays.

A net's arrays are read-only float32 NumPy arrays (rank 0 for a shared slope), or ``Automatic``
while uninitialized. Everything that puts an array into a net goes through :func:`as_array`, so
the caller's array stays the caller's and the net's cannot be written, and no value changes
silently on the way: NaN, an infinity, a value beyond float32's range (which would become
infinite) or a nonzero value below its smallest subnormal (which would become 0) is an error.
Float32 values are kept bit for bit; other values are rounded to the nearest float32, which may
be a subnormal.

>>> a = as_array([0.1, 0.2], "Slope")
>>> a.dtype, a.flags.writeable
(dtype('float32'), False)
>>> same_arrays(a, as_array([0.1, 0.2], "Slope")), same_arrays(a, Automatic)
(True, False)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import NetDataError, NetError, NetSpecificationError, non_numeric_text
from .symbols import Automatic

__all__ = [
    "FLOAT32_MAX", "array_key", "as_array", "floating_input", "real_numbers", "same_arrays", "tensor_problem",
]

_FLOAT32 = np.finfo(np.float32)
#: The largest magnitude a net's array can hold: arrays are stored as float32.
FLOAT32_MAX = float(_FLOAT32.max)


def tensor_problem(tensor: Any) -> str | None:
    """Why a torch tensor cannot be read as real numbers, in words, or None when it can."""
    if tensor.device.type == "meta":
        return "it is a meta tensor, which has dims but no values"
    if getattr(tensor, "layout", None) is not None and str(tensor.layout) != "torch.strided":
        return f"it is a tensor of layout {tensor.layout}; convert it with .to_dense() first"
    if tensor.is_complex() or str(tensor.dtype) == "torch.bool":
        return f"it is a tensor of {tensor.dtype}"
    return None


def floating_input(x: Any, dtype: Any, where: str) -> Any:
    """A torch module's input ready to compute with: a floating tensor as it is; integers and
    True/False promoted to ``dtype`` (the module's parameters' type, as PyTorch promotes an int
    tensor times a float one); NetDataError for complex numbers, which a real layer cannot take."""
    if x.is_floating_point():
        return x
    if x.is_complex():
        raise NetDataError(f"{where}: the input should be real numbers, but it is a tensor of {x.dtype}.")
    return x.to(dtype)


def real_numbers(array: np.ndarray, fail: Callable[[str], NetError]) -> np.ndarray:
    """``array`` if its values are real numbers (ints or floats); an object array holding only
    such numbers as float64; else ``fail(why)`` is raised, ``why`` saying what is wrong."""
    if array.dtype.kind in "iuf":
        return array
    if array.dtype.kind != "O":
        raise fail(non_numeric_text(array))
    for item in array.reshape(-1):
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
            raise fail(non_numeric_text(array))
        if isinstance(item, numbers.Integral) and not isinstance(item, np.integer):
            try:
                float(item)
            except OverflowError:
                raise fail(f"it contains the integer {_short(item)}, too large for a float") from None
    return array.astype(np.float64)


def _short(number: Any) -> str:
    text = str(number)
    return text if len(text) <= 20 else f"{text[:8]}...{text[-4:]} ({len(text)} digits)"


def as_array(value: Any, where: str, *, rounding: bool = False) -> np.ndarray:
    """A user-given array (number, nested lists, NumPy, torch) as a read-only float32 NumPy array.

    Raises NetSpecificationError (naming ``where``) for anything that is not a non-empty,
    rectangular array of finite real numbers that float32 can hold. With ``rounding`` (values a
    computation produced, such as a Real64 training run's arrays), a nonzero value too small for
    float32 becomes 0 as rounding makes it, instead of being an error.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        problem = tensor_problem(value)
        if problem is not None:
            raise NetSpecificationError(f"{where} should be a real number or an array of them, but {problem}.")
        value = value.detach().cpu()
        if value.is_floating_point() and value.element_size() < 4:  # NumPy has no bfloat16
            value = value.float()
        value = value.numpy()
    if isinstance(value, bool) or value is None:
        raise NetSpecificationError(f"{where} should be a real number or an array of them, not {value!r}.")
    try:
        array = np.asarray(value)
    except ValueError:
        raise NetSpecificationError(
            f"{where} should be a real number or a rectangular array of them, but it is ragged "
            "(its sublists have different lengths) or nested too deeply."
        ) from None
    except (TypeError, RuntimeError) as error:  # e.g. a list of tensors that need .detach()
        raise NetSpecificationError(
            f"{where} should be a real number or an array of them, but it cannot be read as numbers ({error})."
        ) from None

    def fail(why: str) -> NetSpecificationError:
        return NetSpecificationError(f"{where} should be a real number or an array of them, but {why}.")

    array = real_numbers(array, fail)
    if array.size == 0:
        raise NetSpecificationError(f"{where} should be a real number or an array of them, but it is empty.")
    with np.errstate(over="ignore", under="ignore"):  # overflow and underflow are checked below
        converted = np.array(array, dtype=np.float32)  # always a copy: the caller's array stays theirs
    _check_float32(array, converted, where, rounding)
    converted.flags.writeable = False
    return converted


def _check_float32(given: np.ndarray, converted: np.ndarray, where: str, rounding: bool) -> None:
    """NetSpecificationError if a value is NaN or infinite, or changed to one, or a nonzero value became 0."""
    finite = np.isfinite(converted)
    if not finite.all():
        index = np.unravel_index(int(np.argmin(finite)), converted.shape)
        value = given[index].item()
        if np.isfinite(value):
            raise NetSpecificationError(
                f"{where}: the value {value!r}{_at(index)} is beyond the range of float32 "
                f"(the arrays' type; largest magnitude {FLOAT32_MAX:.4g}), so it would become "
                f"{'-' if value < 0 else ''}inf."
            )
        raise NetSpecificationError(
            f"{where} should be finite real numbers, but the value{_at(index)} is {value!r}."
        )
    if given.dtype != np.float32 and given.dtype.kind == "f" and not rounding:
        lost = (converted == 0) & (given != 0)
        if lost.any():
            index = np.unravel_index(int(np.argmax(lost)), converted.shape)
            raise NetSpecificationError(
                f"{where}: the value {given[index].item()!r}{_at(index)} is too small for float32 "
                f"(the arrays' type; smallest nonzero magnitude {float(_FLOAT32.smallest_subnormal):.4g}), so "
                "it would become 0. Give 0 if 0 is meant."
            )


def _at(index: tuple) -> str:
    """Where an element is, 1-based as Wolfram's Part counts: `` at position [2, 3]``; nothing for
    a single number."""
    return f" at position [{', '.join(str(int(i) + 1) for i in index)}]" if index else ""


def array_key(value: Any) -> Any:
    """A comparable, hashable stand-in for an array value: dims, dtype and bytes (bit for bit)."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    return value


def same_arrays(a: Any, b: Any) -> bool:
    """Whether two array values are the same: equal dims and dtype, bit-identical values
    (so NaN equals NaN and -0.0 does not equal 0.0), or both ``Automatic``."""
    if a is Automatic or b is Automatic:
        return a is b
    return bool(array_key(a) == array_key(b))
