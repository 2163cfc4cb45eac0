"""A net as JSON data and back: the description that wlnet's net files carry beside the arrays.

A net is described by the arguments of its constructor (``Layer._arguments``), never by code:
``{"Layer": "ParametricRampLayer", "Arguments": [2], "Options": {"Input": {"Tuple": [2, 3, 4]}}}``.
Rebuilding calls the public constructor with the decoded arguments, so a description is checked
as the user's own call would be (levels, ports, shapes), and nothing but wlnet's own layer types
can be named. Arrays are not part of the description: they travel by array path (see
:mod:`wlnet.lower`) and are put back with :func:`wlnet.lower.with_arrays`.

Values are JSON as they are (``null``, booleans, integers, strings, finite floats, lists), except
those that JSON has no form for, which are tagged objects with one key:

==================================  ===========================================================
``{"Tuple": [...]}``                a tuple (a list stays a list: a NetGraph tells them apart)
``{"Dict": [[key, value], ...]}``   a dict, in order (keys may be numbers)
``{"Symbol": "Automatic"}``         ``Automatic``, ``All``, ``Inherited``, ``...`` (``"Ellipsis"``)
``{"Span": [1, 2]}``                ``Span(1, 2)`` (``{"Symbol": "All"}`` as the end)
``{"Function": "Tanh"}``            a function of :mod:`wlnet.functions`
``{"Expression": [...]}``           a traced lambda (:meth:`wlnet.functions.Expression.to_json`)
``{"NetEncoder": "Boolean"}``       a coder (``"NetDecoder"`` likewise; ``"Options"``, ``"Parameters"`` beside it)
``{"NetPort": [layer, "port"]}``    a NetPort (layer ``null`` for a port of the whole graph)
``{"Layer": ..., ...}``             a layer or container, as above
``{"Real": "Infinity"}``            a float JSON cannot write (infinities)
==================================  ===========================================================

>>> from wlnet import ParametricRampLayer, Span
>>> data = net_json(ParametricRampLayer(Span(1, 2), Input=(2, 3, 4)))
>>> data
{'Layer': 'ParametricRampLayer', 'Arguments': [{'Span': [1, 2]}], 'Options': {'Input': {'Tuple': [2, 3, 4]}}}
>>> json_net(data, "example") == ParametricRampLayer(Span(1, 2), Input=(2, 3, 4))
True
"""

from __future__ import annotations

import math
from typing import Any

from .coders import NetDecoder, NetEncoder
from .errors import NetError, NetSpecificationError, closest
from .functions import NAMED_FUNCTIONS, Expression, WolframFunction
from .layers import ElementwiseLayer, FlattenLayer, LinearLayer, ParametricRampLayer
from .layers.aggregation import AggregationLayer
from .layers.base import Layer
from .layers.combine import CatenateLayer, TotalLayer
from .layers.convolution import ConvolutionLayer
from .layers.dropout import DropoutLayer
from .layers.normalization import BatchNormalizationLayer
from .layers.pooling import PoolingLayer
from .layers.reshape import ReshapeLayer
from .layers.softmax import SoftmaxLayer
from .nets import NetChain, NetGraph, NetPort
from .symbols import All, Automatic, Inherited, Span

__all__ = ["LAYER_TYPES", "MAX_NESTING", "check_nesting", "coder_json", "json_coder", "json_net", "nesting_error",
           "net_json"]

#: How deeply a description's JSON lists and objects may lie within each other: a net of about 130
#: containers nested in each other, far deeper than real nets (a few levels), while reading stays well
#: within Python's recursion limit (a description of 100,000 levels is refused, not a RecursionError).
MAX_NESTING = 400

#: The layer types a description may name; a new layer joins here (the contract table's
#: round-trip test fails for one that does not).
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (ParametricRampLayer, LinearLayer, ElementwiseLayer, FlattenLayer, NetChain, NetGraph,
                SoftmaxLayer, AggregationLayer, PoolingLayer, DropoutLayer, ReshapeLayer, BatchNormalizationLayer,
                ConvolutionLayer, TotalLayer, CatenateLayer)
}
_SYMBOLS = {"Automatic": Automatic, "All": All, "Inherited": Inherited, "Ellipsis": Ellipsis}
_CODERS = {"NetEncoder": NetEncoder, "NetDecoder": NetDecoder}


def net_json(net: Layer) -> dict:
    """The description of ``net`` (without its arrays) as JSON data.

    Raises:
        NetSpecificationError: a part of the net that cannot be described without code: an
            ElementwiseLayer whose function is Python code rather than wlnet's functions and
            arithmetic.
    """
    try:
        data = _encode(net, net._where)
    except RecursionError:
        data = None
    if data is None or _nesting(data) > MAX_NESTING:
        raise NetSpecificationError(nesting_error(f"{net._where}: the description of the net"))
    return data


def check_nesting(data: Any, where: str) -> None:
    """NetSpecificationError when the JSON data ``data`` is nested more than :data:`MAX_NESTING` levels."""
    if _nesting(data) > MAX_NESTING:
        raise NetSpecificationError(nesting_error(where))


def nesting_error(where: str) -> str:
    return (f"{where} is nested more than {MAX_NESTING} levels deep (lists and objects within each other); wlnet "
            f"reads and writes descriptions nested up to {MAX_NESTING} levels (about 130 containers within each "
            "other).")


def _nesting(data: Any) -> int:
    """How deeply lists and dicts lie within each other in ``data`` (walked without recursion; the
    walk stops just past :data:`MAX_NESTING`)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            depth += 1
            if depth > MAX_NESTING:
                return depth
            deepest = max(deepest, depth)
            stack.extend((v, depth) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"Real": "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, Layer):
        return _encode_layer(value)
    if isinstance(value, tuple):
        return {"Tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {"Dict": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    return _encode_atom(value, where)


def _encode_atom(value: Any, where: str) -> Any:
    """The tagged form of a value that is neither a JSON value nor a container of values."""
    for name, symbol in _SYMBOLS.items():
        if value is symbol:
            return {"Symbol": name}
    if isinstance(value, Span):
        return {"Span": [_encode(value.start, where), _encode(value.stop, where)]}
    if isinstance(value, WolframFunction):
        return {"Function": value.name}
    if isinstance(value, Expression):
        return {"Expression": value.to_json()}
    if isinstance(value, (NetEncoder, NetDecoder)):
        return coder_json(value)
    if isinstance(value, NetPort):
        return {"NetPort": [value.layer, value.port]}
    if callable(value):
        name = getattr(value, "__name__", repr(value))
        raise NetSpecificationError(
            f"{where}: the function {name} is Python code, which a net file does not store (loading a "
            "net never runs code). Build it from wlnet's functions and arithmetic, e.g. "
            "ElementwiseLayer(lambda x: 2 * Tanh(x) + 1), which is saved as a formula."
        )
    raise NetSpecificationError(f"{where}: the value {value!r} ({type(value).__name__}) cannot be saved.")


def _encode_layer(layer: Layer) -> dict:
    name = type(layer).__name__
    if LAYER_TYPES.get(name) is not type(layer):
        raise NetSpecificationError(
            f"{layer._where}: a {name} cannot be saved: a net file holds wlnet's own layers "
            f"({', '.join(LAYER_TYPES)})."
        )
    args, options = layer._arguments()
    where = layer._where
    data: dict[str, Any] = {"Layer": name}
    if args:
        data["Arguments"] = [_encode(a, where) for a in args]
    if options:
        data["Options"] = {key: _encode(value, where) for key, value in options.items()}
    return data


def json_net(data: Any, where: str) -> Layer:
    """The net (without arrays) that :func:`net_json` described.

    Raises:
        NetError: a description that is not one: an unknown tag or layer type, a malformed
            value, or arguments its layer's constructor refuses (the constructor's own error,
            with ``where`` and the part's position in front).
    """
    check_nesting(data, f"{where}: the description")
    try:
        net = _decode(data, where)
    except RecursionError:  # a backstop (a deep stack at the call): the nesting is checked above
        raise NetSpecificationError(nesting_error(f"{where}: the description")) from None
    if not isinstance(net, Layer):
        raise NetSpecificationError(f"{where}: the description is not a net but {_short(data)}.")
    return net


def _decode(data: Any, where: str) -> Any:
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise NetSpecificationError(f"{where}: {data!r} is not a number a description holds.")
        return data
    if isinstance(data, list):
        return [_decode(v, where) for v in data]
    if not isinstance(data, dict):
        raise NetSpecificationError(f"{where}: {_short(data)} is not a value of a description.")
    if "Layer" in data:
        return _decode_layer(data, where)
    if len(data) != 1 and not ({"NetEncoder", "NetDecoder"} & set(data)):
        raise NetSpecificationError(f"{where}: {_short(data)} is not a value of a description (one tag).")
    tag = next(iter(data))
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise NetSpecificationError(
            f"{where}: {tag!r} is not a tag of a description.{closest(tag, [*_DECODERS, 'Layer'])}"
        )
    try:
        return decoder(data, where)
    except NetError:
        raise
    except (TypeError, ValueError, KeyError, IndexError):
        raise NetSpecificationError(f"{where}: {_short(data)} is not a well-formed {tag} value.") from None


def _decode_layer(data: dict, where: str) -> Layer:
    name = data["Layer"]
    cls = LAYER_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise NetSpecificationError(
            f"{where}: {name!r} is not a wlnet layer.{closest(str(name), LAYER_TYPES)} "
            f"The layers a net file may hold are: {', '.join(LAYER_TYPES)}."
        )
    unknown = set(data) - {"Layer", "Arguments", "Options"}
    args, options = data.get("Arguments", []), data.get("Options", {})
    if unknown or not isinstance(args, list) or not isinstance(options, dict):
        raise NetSpecificationError(
            f"{where}: the {name} is not described as {{\"Layer\", \"Arguments\": [...], \"Options\": {{...}}}}."
        )
    inner = f"{where}: {name}"
    try:
        return cls(*[_decode(a, inner) for a in args], **{str(k): _decode(v, inner) for k, v in options.items()})
    except NetError as error:
        message = str(error)
        raise type(error)(message if message.startswith(where) else f"{where}: {message}") from None
    except TypeError as error:  # a wrong number of arguments
        raise NetSpecificationError(f"{inner}: the arguments do not fit its constructor ({error}).") from None


def _tuple(data: dict, where: str) -> tuple:
    if not isinstance(data["Tuple"], list):
        raise TypeError
    return tuple(_decode(v, where) for v in data["Tuple"])


def _dict(data: dict, where: str) -> dict:
    return {_decode(k, where): _decode(v, where) for k, v in data["Dict"]}


def _symbol(data: dict, where: str) -> Any:
    return _SYMBOLS[data["Symbol"]]


def _span(data: dict, where: str) -> Span:
    start, stop = (_decode(v, where) for v in data["Span"])
    return Span(start, stop)


def _function(data: dict, where: str) -> WolframFunction:
    name = data["Function"]
    if name not in NAMED_FUNCTIONS:
        raise NetSpecificationError(
            f"{where}: {name!r} is not a function wlnet knows.{closest(str(name), NAMED_FUNCTIONS)}"
        )
    return NAMED_FUNCTIONS[name]


def _expression(data: dict, where: str) -> Expression:
    return Expression.from_json(data["Expression"], where)


def coder_json(coder: NetEncoder | NetDecoder) -> dict:
    """A NetEncoder or NetDecoder as JSON data: ``{"NetDecoder": kind, "Options": ...}``, with its
    ``"Parameters"`` (a Class coder's labels, exactly: strings, integers, booleans and reals stay
    apart; and its form) when it has some."""
    where = repr(coder)
    data = {type(coder).__name__: coder.kind, "Options": _encode(dict(coder.options), where)}
    if coder.parameters:
        data["Parameters"] = _encode(list(coder.parameters), where)
    return data


def json_coder(data: dict, where: str) -> NetEncoder | NetDecoder:
    """The coder that :func:`coder_json` described."""
    tag = "NetEncoder" if "NetEncoder" in data else "NetDecoder"
    options = _decode(data.get("Options", {"Dict": []}), where)
    parameters = _decode(data.get("Parameters", []), where)
    kind = data[tag]
    spec = [kind, *parameters, *([options] if options else [])] if parameters or options else kind
    coder = _CODERS[tag](spec)
    assert isinstance(coder, (NetEncoder, NetDecoder))
    return coder


def _port(data: dict, where: str) -> NetPort:
    layer, port = data["NetPort"]
    return NetPort(port) if layer is None else NetPort(layer, port)


def _real(data: dict, where: str) -> float:
    return {"Infinity": math.inf, "-Infinity": -math.inf}[data["Real"]]


_DECODERS = {
    "Tuple": _tuple, "Dict": _dict, "Symbol": _symbol, "Span": _span, "Function": _function,
    "Expression": _expression, "NetEncoder": json_coder, "NetDecoder": json_coder, "NetPort": _port, "Real": _real,
}


def _short(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."
