"""NetEncoder and NetDecoder: turn user values into arrays at an input port, arrays into values at an output.

Two kinds, as the Wolfram Language names them:

* ``"Boolean"``: the encoder maps True to 1 and False to 0; the decoder maps a probability p to
  True when p >= 0.5 (so 0.5 is True), else False (:mod:`.boolean`).
* ``["Class", labels]`` (Wolfram's ``{"Class", labels}``; a tuple works too): the encoder maps a
  label to its 1-based position in ``labels``, or, as ``["Class", labels, "IndicatorVector"]``
  (also ``"UnitVector"``), to a one-hot vector; the decoder reads a vector of class probabilities
  (see :mod:`.classes` for its properties). Options go in a dict at the end:
  ``{"Dimensions": (k,)}`` for an encoder of arrays of labels, ``{"InputDepth": 2}`` for a decoder
  of arrays of probability vectors. Data already encoded (numbers, where no label is a number)
  bypasses the encoder, as Wolfram's does.

The decoders' properties keep one convention (that of evaluation, :mod:`wlnet.evaluate`): a
``"Decision"`` is a Python value (``bool``; the label itself for "Class"; a list of them for an
array of inputs); numeric properties (``"Probability"``, ``"Entropy"``) are NumPy values in the
probabilities' precision: a NumPy scalar for one input, an array for several. ``None`` gives the
input itself.

>>> NetDecoder("Boolean")([0.49, 0.5, 0.51])
[False, True, True]
>>> NetDecoder("Boolean")(np.float32(0.25), "Probability")
np.float32(0.25)
>>> NetEncoder("Boolean")([True, False]).tolist()
[1.0, 0.0]
>>> NetEncoder(["Class", ["a", "b", "c"]])(["c", "a"]).tolist()
[3.0, 1.0]
>>> decoder = NetDecoder(["Class", ["a", "b", "c"]])
>>> decoder([0.05, 0.7, 0.25]), decoder([0.05, 0.7, 0.25], ("TopDecisions", 2))
('b', ['b', 'c'])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..display import coder_html
from ..errors import NetSpecificationError, closest
from ..types import TensorT
from . import boolean, classes

__all__ = ["NetDecoder", "NetEncoder"]

_KINDS = ("Boolean", "Class")


def _split(spec: Any) -> tuple[Any, list, dict]:
    """A coder specification as (kind, parameters, options): ``"Boolean"``, ``["Class", labels]``,
    ``["Class", labels, form, {options}]``."""
    if isinstance(spec, (tuple, list)) and spec:
        items = list(spec)
        options = items.pop() if len(items) > 1 and isinstance(items[-1], dict) else {}
        return items[0], items[1:], dict(options)
    return spec, [], {}


class _Coder:
    """What encoders and decoders share: a kind with parameters and options, a value type, repr
    and equality."""

    def __init__(self, spec):
        kind, params, options = _split(spec)
        name = type(self).__name__
        if not isinstance(kind, str) or kind not in _KINDS:
            raise NetSpecificationError(
                f"{name}: {kind!r:.80} is not a known coder.{closest(str(kind), _KINDS)} "
                f"Known: {', '.join(_KINDS)}."
            )
        self.kind, self.options = kind, options
        self.form: str | None = None  # a Class encoder's output: "Index" or "IndicatorVector"
        self._labels: classes.ClassLabels | None = None
        self._type = TensorT(())
        where = self._where
        if kind == "Boolean" and params:
            raise NetSpecificationError(f"{where}: the Boolean coder takes no parameters, but was given {params!r:.60}")
        if kind == "Class":
            if isinstance(self, NetEncoder):
                self._labels, self.form, self.options, self._type = classes.parse_encoder(params, options, where)
            else:
                self._labels, self.options, self._type = classes.parse_decoder(params, options, where)

    @property
    def labels(self) -> tuple | None:
        """The class labels of a Class coder; None for a Boolean one."""
        return None if self._labels is None else self._labels.labels

    @property
    def _where(self) -> str:
        return f'{type(self).__name__}["{self.kind}"]'

    @property
    def type(self) -> TensorT:
        """The array type of one encoded value: a real number for "Boolean" and a Class index, a
        length-n vector for a Class decoder's input (n labels) and a one-hot encoder's output."""
        return self._type

    @property
    def parameters(self) -> tuple:
        """What follows the kind in the specification, without the options: ``(labels,)`` or
        ``(labels, form)`` for Class coders (labels as a list); ``()`` for Boolean ones."""
        if self.labels is None:
            return ()
        return (list(self.labels),) if self.form in (None, "Index") else (list(self.labels), self.form)

    @property
    def spec(self) -> Any:
        """The specification the coder was made from, as the constructor takes it."""
        if not self.parameters and not self.options:
            return self.kind
        return [self.kind, *self.parameters, *([dict(self.options)] if self.options else [])]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    def _repr_html_(self) -> str:
        """The summary panel Jupyter shows (:mod:`wlnet.display`)."""
        return coder_html(self)

    # Defining __eq__ without __hash__ makes Python set __hash__ to None: coders are unhashable.
    def __eq__(self, other) -> bool:
        return (type(other) is type(self) and (self.kind, self.options, self.form) == (other.kind, other.options,
                                                                                        other.form)
                and self._labels == other._labels)


class NetEncoder(_Coder):
    """Turns values into the numbers at a net's input port.

    Wolfram: ``NetEncoder["Boolean"]`` (True -> 1, False -> 0), ``NetEncoder[{"Class", labels}]``
    (a label -> its 1-based position in ``labels``), ``NetEncoder[{"Class", labels, "IndicatorVector"}]``
    (a label -> a one-hot vector of length n).

    Args:
        spec: ``"Boolean"``, ``["Class", labels]``, ``["Class", labels, "IndicatorVector"]``
            (``"UnitVector"`` and ``"Index"`` are accepted as forms too), with an optional dict of
            options last: ``{"Dimensions": (k, ...)}`` for arrays of labels.

    Raises:
        NetSpecificationError: an unknown kind or form, labels that are not distinct scalars.
        NetDataError (when called): a value that is not a label ("x is not one of the labels ...").

    >>> NetEncoder(["Class", ["cat", "dog"], "IndicatorVector"])("dog").tolist()
    [0.0, 1.0]
    """

    def __call__(self, value) -> np.ndarray:
        """The encoding of one value or an array of them, in float32."""
        if self._labels is not None:
            assert self.form is not None
            return classes.encode(self._labels, self.form, value, self._where)
        return boolean.encode(value)

    def accepts(self, value) -> bool:
        """Whether ``value`` is in the encoder's domain, so not already-encoded numbers (which
        bypass the encoder)."""
        if self._labels is not None:
            return not classes.is_encoded(self._labels, value)
        return boolean.accepts(value)


class NetDecoder(_Coder):
    """Turns the numbers at a net's output port into values.

    Wolfram: ``NetDecoder["Boolean"]`` (a probability p becomes True when p >= 0.5),
    ``NetDecoder[{"Class", labels}]`` (a vector of class probabilities becomes the most probable
    label; see :mod:`wlnet.coders.classes` for its properties).

    Args:
        spec: ``"Boolean"`` or ``["Class", labels]``, with an optional dict of options last:
            ``{"InputDepth": d}`` (Class: the rank of the input, the classes last; default 1).

    >>> decoder = NetDecoder(["Class", [1, 2, 3]])
    >>> decoder([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]])
    [3, 1]
    >>> decoder([0.05, 0.25, 0.7], "TopProbabilities")
    [(3, np.float64(0.7)), (2, np.float64(0.25))]
    """

    def encoder(self, form: str | None = None) -> NetEncoder:
        """The matching encoder (NetTrain encodes targets with it): for a Class decoder, the
        index encoder of its labels, or with ``form="IndicatorVector"`` the one-hot one."""
        if self.labels is None:
            return NetEncoder(self.kind)
        depth = self.options.get("InputDepth", 1)
        options = [{"Dimensions": (None,) * (depth - 1)}] if depth > 1 else []
        return NetEncoder(["Class", list(self.labels), *([form] if form else []), *options])

    def __call__(self, p, prop: Any = "Decision"):
        """Decode one input or an array of them: the property ``prop`` (see the module doc)."""
        if self._labels is not None:
            return classes.decode(self._labels, p, prop, self._where)
        return boolean.decode(p, prop)
