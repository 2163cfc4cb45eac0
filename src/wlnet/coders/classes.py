"""The "Class" coders: class labels to 1-based indices or one-hot vectors, probability vectors to labels.

Labels are Python scalars: strings, integers, booleans and real numbers (NumPy scalars are taken
as the Python values they hold). A label is told apart from another by its type as well as its
value, as the Wolfram Language tells 1 from True and from 1.0: data ``True`` is not the label
``1``. Labels must be distinct also as Python dict keys (so not both 1 and True), since
``"Probabilities"`` gives a dict keyed by label.

The decoder reads the last dim of its input as the class dim; any dims before it (a batch, or the
positions of an array of vectors) give nested lists of results, one per vector. For one vector:

==============================  ===================================================================
``"Decision"`` (default)        the label of the largest probability (the first of equal maxima)
``"Probabilities"``             a dict ``{label: p}`` over every class
``("Probability", c)``          the probability of class ``c`` (also ``("Probabilities", c)``)
``"TopProbabilities"``          ``[(label, p), ...]`` of the classes with p > 0.1 max p, largest first
``("TopProbabilities", n)``     the n largest ``(label, p)`` pairs (n is clipped to the class count)
``("TopDecisions", n)``         the labels of the n largest probabilities, largest first
``"Entropy"``                   -sum p log p (natural log; terms with p < 4.44e-16 left out)
``None``                        the input itself
==============================  ===================================================================

Probabilities and entropies are NumPy values in the input's precision (``np.float32`` for a
float32 vector): a scalar for one vector, an array of the leading dims for ``"Probability"`` and
``"Entropy"`` on several.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import NetDataError, NetOptionError, NetSpecificationError, closest, shortened
from ..types import TensorT, parse_port

__all__ = [
    "ClassLabels", "DECODER_PROPERTIES", "decode", "encode", "is_encoded", "parse_decoder", "parse_encoder",
]

FORMS = ("Index", "IndicatorVector")
_FORM_ALIASES = {"UnitVector": "IndicatorVector"}  # the 12.x source's name for the one-hot form
DECODER_PROPERTIES = ("Decision", "Probabilities", "TopProbabilities", "Entropy", ("Probability", "c"),
                      ("TopProbabilities", "n"), ("TopDecisions", "n"))
_ENTROPY_CUTOFF = 4.44e-16  # Wolfram's: smaller probabilities add nothing to the entropy
_TOP_FRACTION = 0.1  # "TopProbabilities": the classes with p > 0.1 max p


def label_key(value: Any) -> tuple | None:
    """A label's identity: its kind and value (so True, 1 and 1.0 are three labels); None for a
    value that cannot be a label."""
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, numbers.Integral):
        return ("int", int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else ("real", number)
    if isinstance(value, str):
        return ("str", str(value))
    return None


class ClassLabels:
    """The labels of a Class coder, as a tuple of Python scalars, and their 1-based positions."""

    __slots__ = ("labels", "_index")

    def __init__(self, labels: Any, where: str):
        if isinstance(labels, (str, bytes, dict)) or not hasattr(labels, "__iter__"):
            raise NetSpecificationError(
                f'{where}: the labels should be a list of class labels, such as ["cat", "dog"], not {labels!r:.80}.'
            )
        values = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
        if not values:
            raise NetSpecificationError(f"{where}: the list of labels is empty; give at least one class label.")
        keys = []
        for value in values:
            key = label_key(value)
            if key is None:
                raise NetSpecificationError(
                    f"{where}: a label should be a string, an integer, a boolean or a real number (not NaN), "
                    f"but {value!r:.80} is a {type(value).__name__}."
                )
            keys.append(key)
        self.labels = tuple(key[1] for key in keys)
        self._index = {key: i for i, key in enumerate(keys)}
        _check_distinct(self.labels, keys, where)

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassLabels) and list(self._index) == list(other._index)

    __hash__ = None  # type: ignore[assignment]

    @property
    def has_numbers(self) -> bool:
        """Whether a label is a number (not a boolean): then numbers are labels, never indices."""
        return any(key[0] in ("int", "real") for key in self._index)

    def index(self, value: Any) -> int | None:
        """The 0-based position of label ``value``, or None."""
        key = label_key(value)
        return None if key is None else self._index.get(key)

    def text(self, limit: int = 120) -> str:
        """The labels as an error names them: ``'a', 'b', 'c'`` (shortened past ``limit``)."""
        return shortened(", ".join(map(repr, self.labels)), limit)


def _check_distinct(labels: tuple, keys: list, where: str) -> None:
    if len(set(keys)) < len(keys):
        twice = next(label for label, key in zip(labels, keys) if keys.count(key) > 1)
        raise NetSpecificationError(f"{where}: the labels should be distinct, but {twice!r} appears twice.")
    if len(set(labels)) < len(labels):  # 1 and True (or 1.0): different labels, one dict key
        seen: dict = {}
        for label in labels:
            if label in seen:
                raise NetSpecificationError(
                    f"{where}: the labels {seen[label]!r} and {label!r} are equal as Python dict keys, so "
                    '"Probabilities" could not tell them apart; use labels that differ (e.g. strings).'
                )
            seen[label] = label


# -- parsing -------------------------------------------------------------------------------------

def _form(value: Any, where: str) -> str:
    form = _FORM_ALIASES.get(value, value) if isinstance(value, str) else value
    if form not in FORMS:
        raise NetSpecificationError(
            f'{where}: the form {value!r:.80} is not known; it should be "Index" (a 1-based class index, '
            f'the default) or "IndicatorVector" (a one-hot vector; "UnitVector" is its older name).'
            f"{closest(str(value), [*FORMS, 'UnitVector'])}"
        )
    return form


def parse_encoder(params: list, options: dict, where: str) -> tuple[ClassLabels, str, dict, TensorT]:
    """An encoder's labels, form, options ({"Dimensions": dims} or none) and output type, from
    ``["Class", labels, form, {"Dimensions": dims}]``."""
    labels, form = _parameters(params, where, "NetEncoder", ' or ["Class", labels, "IndicatorVector"]')
    form = "Index" if form is None else _form(form, where)
    _check_option_names(options, ("Dimensions",), where)
    dims = parse_port(options.get("Dimensions", ()), f'{where}: the "Dimensions" option')
    if dims.dims is None:
        raise NetOptionError(f'{where}: "Dimensions" should give the dims of an array of labels, such as (3,).')
    raw = options.get("Dimensions", ())
    kept = {"Dimensions": tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)} if dims.dims else {}
    t = TensorT((*dims.dims, len(labels))) if form == "IndicatorVector" else dims
    return labels, form, kept, t


def parse_decoder(params: list, options: dict, where: str) -> tuple[ClassLabels, dict, TensorT]:
    """A decoder's labels, options ({"InputDepth": d} or none) and input type, from
    ``["Class", labels, {"InputDepth": d}]``."""
    labels, form = _parameters(params, where, "NetDecoder", "")
    if form is not None:
        raise NetSpecificationError(
            f'{where}: a Class decoder takes its labels only (["Class", labels]), but was also given {form!r:.80}.'
        )
    _check_option_names(options, ("InputDepth",), where)
    depth = options.get("InputDepth", 1)
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise NetOptionError(
            f'{where}: "InputDepth" should be a positive integer (1 for a vector of probabilities, 2 for a '
            f"matrix of them, ...), but was {depth!r:.80}."
        )
    kept = {"InputDepth": int(depth)} if depth != 1 else {}
    return labels, kept, TensorT((*(None,) * (int(depth) - 1), len(labels)))


def _parameters(params: list, where: str, coder: str, forms: str) -> tuple[ClassLabels, Any]:
    if not params:
        raise NetSpecificationError(
            f'{where}: a Class coder needs its labels: {coder}(["Class", ["cat", "dog"]]){forms}.'
        )
    if len(params) > 2:
        raise NetSpecificationError(
            f'{where}: expected ["Class", labels]{forms}, with options in a dict at the end, but was given '
            f"{len(params)} values after \"Class\"."
        )
    return ClassLabels(params[0], where), (params[1] if len(params) == 2 else None)


def _check_option_names(options: dict, allowed: tuple, where: str) -> None:
    for name in options:
        if name not in allowed:
            raise NetOptionError(
                f"{where}: {name!r} is not a parameter of this coder.{closest(str(name), allowed)} "
                f"It takes: {', '.join(allowed)}."
            )


# -- encoding ------------------------------------------------------------------------------------

def _values(value: Any, where: str) -> np.ndarray:
    """The data as an object array of Python scalars (labels, or numbers)."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        values = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value.astype(object)
    except ValueError:
        raise NetDataError(f"{where}: the labels should form a regular array (a label, a list of them, ...).") from None
    if values.size == 0:
        raise NetDataError(f"{where}: the input is empty.")
    return values


def is_encoded(labels: ClassLabels, value: Any) -> bool:
    """Whether ``value`` is already encoded (numbers, where no label is a number): then it bypasses
    the encoder, as Wolfram's does."""
    if labels.has_numbers:
        return False
    if hasattr(value, "detach") or (isinstance(value, np.ndarray) and value.dtype.kind in "iuf"):
        return True
    try:
        flat = np.asarray(value, dtype=object).reshape(-1)
    except ValueError:
        return False
    return flat.size > 0 and all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in flat
    )


def encode(labels: ClassLabels, form: str, value: Any, where: str) -> np.ndarray:
    """Labels (one, or an array of them) as 1-based indices, or one-hot vectors, in float32."""
    values = _values(value, where)
    flat = values.reshape(-1)
    positions = np.empty(flat.size, dtype=np.int64)
    for i, item in enumerate(flat):
        position = labels.index(item)
        if position is None:
            raise NetDataError(f"{where}: {_unknown(labels, item)}")
        positions[i] = position
    if form == "IndicatorVector":
        return np.eye(len(labels), dtype=np.float32)[positions].reshape(*values.shape, len(labels))
    return (positions + 1).astype(np.float32).reshape(values.shape)


def _unknown(labels: ClassLabels, item: Any) -> str:
    if isinstance(item, (list, tuple, np.ndarray)):
        return f"the labels should form a regular array (a label, a list of them, ...), but one item is {item!r:.80}."
    hint = closest(item, [label for label in labels.labels if isinstance(label, str)]) if isinstance(item, str) else ""
    return f"{item!r:.80} is not one of the labels {labels.text()}.{hint}"


# -- decoding ------------------------------------------------------------------------------------

def _property(prop: Any, labels: ClassLabels, where: str) -> tuple[str, Any]:
    """``prop`` as (name, argument): the argument is a 0-based class position or a count."""
    if isinstance(prop, str) and prop in ("Decision", "Probabilities", "TopProbabilities", "Entropy"):
        return prop, None
    if isinstance(prop, (tuple, list)) and len(prop) == 2 and isinstance(prop[0], str):
        name, arg = prop
        if name in ("Probability", "Probabilities"):
            position = labels.index(arg)
            if position is None:
                raise NetDataError(f'{where}: the property ("{name}", {arg!r:.80}): {_unknown(labels, arg)}')
            return "Probability", position
        if name in ("TopProbabilities", "TopDecisions"):
            if isinstance(arg, bool) or not isinstance(arg, numbers.Integral) or arg < 1:
                raise NetSpecificationError(
                    f'{where}: in ("{name}", n), n should be a positive integer, but was {arg!r:.80}.'
                )
            return name, min(int(arg), len(labels))
    names = ", ".join(p if isinstance(p, str) else f'("{p[0]}", {p[1]})' for p in DECODER_PROPERTIES)
    hint = closest(prop if isinstance(prop, str) else str(prop[0]) if isinstance(prop, (tuple, list)) and prop
                   else str(prop), [p if isinstance(p, str) else p[0] for p in DECODER_PROPERTIES])
    raise NetSpecificationError(
        f"{where}: {prop!r:.80} is not a property.{hint} The properties are: {names}, or None for the raw value."
    )


def decode(labels: ClassLabels, p: Any, prop: Any, where: str) -> Any:
    """The property ``prop`` of probability vectors ``p`` (see the module doc)."""
    array = np.asarray(p)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if prop is None:
        return array.copy()[()]
    n = len(labels)
    if array.ndim == 0 or array.shape[-1] != n:
        raise NetDataError(
            f"{where}: the input should be a vector of {n} class probabilities (or an array of such vectors, "
            f"the classes last), but its dims are {array.shape}."
        )
    name, arg = _property(prop, labels, where)
    if name == "Decision":
        return _labels(labels, array.argmax(axis=-1))
    if name == "Probability":
        return array[..., arg].copy()[()]
    if name == "Entropy":
        wide = array.astype(np.float64)
        terms = np.where(wide >= _ENTROPY_CUTOFF, -wide * np.log(np.maximum(wide, _ENTROPY_CUTOFF)), 0.0)
        return terms.sum(axis=-1).astype(array.dtype)[()]
    if name == "Probabilities":
        return _each(array, lambda v: dict(zip(labels.labels, v)))
    if name == "TopDecisions":
        return _each(array, lambda v: [labels.labels[i] for i in _descending(v)[:arg]])
    count = arg  # "TopProbabilities": n largest, or those above a tenth of the largest
    return _each(array, lambda v: [(labels.labels[i], v[i]) for i in _top(v, count)])


def _descending(vector: np.ndarray) -> np.ndarray:
    """Positions from the largest value down (equal values in class order)."""
    return np.argsort(-vector, kind="stable")


def _top(vector: np.ndarray, count: int | None) -> list[int]:
    order = _descending(vector)
    if count is not None:
        return [int(i) for i in order[:count]]
    cutoff = _TOP_FRACTION * vector.max()
    return [int(i) for i in order if vector[i] > cutoff]


def _each(array: np.ndarray, fn: Any) -> Any:
    """``fn`` of each vector along the last axis: a value for a vector, nested lists for more dims."""
    if array.ndim == 1:
        return fn(array)
    return [_each(part, fn) for part in array]


def _labels(labels: ClassLabels, positions: np.ndarray) -> Any:
    """The labels at 0-based positions: one label, or nested lists of them."""
    table = np.empty(len(labels), dtype=object)
    table[:] = labels.labels
    return table[positions].tolist() if positions.ndim else labels.labels[int(positions)]
