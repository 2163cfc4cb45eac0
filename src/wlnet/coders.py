"""NetEncoder and NetDecoder: turn user values into arrays at an input port, arrays into values at an output.

Only the ``"Boolean"`` coders exist so far: the encoder maps True to 1 and False to 0; the
decoder maps a probability p to True when p >= 0.5 (so 0.5 is True), else False.

The decoder's properties keep one convention (that of evaluation, :mod:`wlnet.evaluate`):
``"Decision"`` gives Python ``bool`` values (a list for an array of probabilities), as the Wolfram
Language gives True/False; the numeric properties (``"Probability"``, ``"Entropy"``) give NumPy
values in the probabilities' precision: a NumPy scalar for one probability, an array for several.

>>> NetDecoder("Boolean")([0.49, 0.5, 0.51])
[False, True, True]
>>> NetDecoder("Boolean")(np.float32(0.25), "Probability")
np.float32(0.25)
>>> NetEncoder("Boolean")([True, False]).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from .display import coder_html
from .errors import NetDataError, NetSpecificationError, closest
from .types import TensorT

__all__ = ["NetDecoder", "NetEncoder"]

_KINDS = ("Boolean",)
_DECODER_PROPERTIES = ("Decision", "Probability", "Entropy")


class _Coder:
    """What encoders and decoders share: a kind with options, a value type, repr and equality."""

    def __init__(self, kind):
        options = {}
        if isinstance(kind, (tuple, list)) and kind and isinstance(kind[-1], dict):
            kind, options = kind[0], kind[-1]
        if kind not in _KINDS:
            raise NetSpecificationError(
                f"{type(self).__name__}: {kind!r} is not a known coder.{closest(str(kind), _KINDS)} "
                f"Known: {', '.join(_KINDS)}."
            )
        self.kind, self.options = kind, options

    @property
    def type(self) -> TensorT:
        """The array type of one encoded value: a real number (for "Boolean")."""
        return TensorT(())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r})"

    def _repr_html_(self) -> str:
        """The summary panel Jupyter shows (:mod:`wlnet.display`)."""
        return coder_html(self)

    # Defining __eq__ without __hash__ makes Python set __hash__ to None: coders are unhashable.
    def __eq__(self, other) -> bool:
        return type(other) is type(self) and (self.kind, self.options) == (other.kind, other.options)


class NetEncoder(_Coder):
    """Wolfram: ``NetEncoder["Boolean"]``: True -> 1, False -> 0, at a net's input port."""

    def __call__(self, value) -> np.ndarray:
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

    def accepts(self, value) -> bool:
        """Whether ``value`` is in the encoder's domain (so not already-encoded numbers)."""
        values = np.asarray(value, dtype=object).reshape(-1)
        return values.size > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


class NetDecoder(_Coder):
    """Wolfram: ``NetDecoder["Boolean"]``: a probability p becomes True when p >= 0.5."""

    def encoder(self) -> NetEncoder:
        """The matching encoder (NetTrain uses it for targets)."""
        return NetEncoder(self.kind)

    def __call__(self, p, prop="Decision"):
        """Decode one probability or an array of them: ``bool`` values for "Decision", NumPy values
        in the probabilities' precision (float64 for Python numbers) for the others."""
        if prop not in _DECODER_PROPERTIES:
            raise NetSpecificationError(
                f'NetDecoder["Boolean"]: {prop!r} is not a property.{closest(str(prop), _DECODER_PROPERTIES)} '
                f"The properties are: {', '.join(_DECODER_PROPERTIES)}, or None for the raw value."
            )
        array = np.asarray(p)
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        if prop == "Decision":
            return (array >= 0.5).tolist()
        if prop == "Probability":
            return array.copy()[()]
        wide = array.astype(np.float64)
        q = np.clip(wide, 1e-300, 1.0)
        r = np.clip(1.0 - wide, 1e-300, 1.0)
        entropy = -(wide * np.log(q) + (1.0 - wide) * np.log(r))  # in nats
        return entropy.astype(array.dtype)[()]
