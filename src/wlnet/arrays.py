"""Array values: what a net holds for each of its arrays.

A net's arrays are read-only float32 NumPy arrays (rank 0 for a shared slope), or ``Automatic``
while uninitialized. Everything that puts an array into a net goes through :func:`as_array`, so
the caller's array stays the caller's and the net's cannot be written.

>>> a = as_array([0.1, 0.2], "Slope")
>>> a.dtype, a.flags.writeable
(dtype('float32'), False)
>>> same_arrays(a, as_array([0.1, 0.2], "Slope")), same_arrays(a, Automatic)
(True, False)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetSpecificationError, non_numeric_text
from .symbols import Automatic

__all__ = ["array_key", "as_array", "same_arrays"]


def as_array(value: Any, where: str) -> np.ndarray:
    """A user-given array (number, nested lists, NumPy, torch) as a read-only float32 NumPy array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
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
            "(its sublists have different lengths)."
        ) from None
    if array.dtype.kind not in "iuf":
        raise NetSpecificationError(
            f"{where} should be a real number or an array of them, but {non_numeric_text(array)}."
        )
    if array.size == 0:
        raise NetSpecificationError(f"{where} should be a real number or an array of them, but it is empty.")
    array = np.array(array, dtype=np.float32)  # always a copy: the caller's array stays theirs
    array.flags.writeable = False
    return array


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
