"""The "Boolean" coders: True -> 1 and False -> 0; a probability p -> True when p >= 0.5 (so 0.5 is True)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NetDataError, NetSpecificationError, closest

__all__ = ["DECODER_PROPERTIES", "accepts", "decode", "encode"]

DECODER_PROPERTIES = ("Decision", "Probability", "Entropy")


def encode(value: Any) -> np.ndarray:
    values = np.asarray(value, dtype=object)
    if values.size == 0:
        raise NetDataError('NetEncoder["Boolean"]: the input is empty.')
    flat = values.reshape(-1)
    for item in flat:
        if not isinstance(item, (bool, np.bool_)):
            raise NetDataError(
                f'NetEncoder["Boolean"]: the input should be True or False (or a list of them), '
                f"but contains {item!r}."
            )
    return np.asarray(flat, dtype=bool).astype(np.float32).reshape(values.shape)


def accepts(value: Any) -> bool:
    values = np.asarray(value, dtype=object).reshape(-1)
    return values.size > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


def decode(p: Any, prop: Any) -> Any:
    """``bool`` values for "Decision", NumPy values in the probabilities' precision (float64 for
    Python numbers) for the others; None gives the input itself."""
    if prop is not None and prop not in DECODER_PROPERTIES:
        raise NetSpecificationError(
            f'NetDecoder["Boolean"]: {prop!r} is not a property.{closest(str(prop), DECODER_PROPERTIES)} '
            f"The properties are: {', '.join(DECODER_PROPERTIES)}, or None for the raw value."
        )
    array = np.asarray(p)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if prop == "Decision":
        return (array >= 0.5).tolist()
    if prop is None or prop == "Probability":
        return array.copy()[()]
    wide = array.astype(np.float64)
    q = np.clip(wide, 1e-300, 1.0)
    r = np.clip(1.0 - wide, 1e-300, 1.0)
    entropy = -(wide * np.log(q) + (1.0 - wide) * np.log(r))  # in nats
    return entropy.astype(array.dtype)[()]
