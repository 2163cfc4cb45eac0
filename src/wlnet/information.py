"""Information: a report on a net, or one property of it, from one table of properties.

Every property is computed from generic views of a net (its leaf layers with their positions,
its arrays with their positions, its ports; for "TopologyHash", its parts and connections), so
containers reuse this table unchanged. Positions are tuples: ``("Slope",)`` for a bare layer's
array, ``(2, "Slope")`` inside a chain. Sizes are Wolfram's 1000-based byte quantities
(:class:`wlnet.Quantity`); a port with a NetEncoder or NetDecoder is given as that coder.

Of Wolfram's properties, two have no counterpart: ``"MXNetNodeGraph"`` and
``"MXNetNodeGraphPlot"`` show the MXNet graph Wolfram runs, and wlnet runs nets as PyTorch
modules; asking for them says where to look instead (``net.to_torch()``, an ONNX export). wlnet
has no recurrent layers, so ``"RecurrentStatesCount"`` is 0 and ``"RecurrentStatesPositionList"``
is empty, truthfully.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .display import summary_graphic
from .errors import NetSpecificationError, closest
from .layers.base import Layer
from .lower import array_multipliers, array_slots
from .nets.container import Container
from .serialize import net_json
from .symbols import Automatic, Quantity
from .types import TensorT, describe, port_spec

__all__ = ["Information", "InformationReport"]


def _count(dims: tuple | None) -> int | None:
    return None if dims is None or None in dims else math.prod(dims)  # exact: NumPy's int64 product wraps around


def _total(values: Iterable[int | None]) -> int | None:
    """The sum of ``values``, or None when one of them is not known."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _byte_count(dims: tuple | None) -> int | None:
    count = _count(dims)
    return None if count is None else count * _BYTES_PER_ELEMENT


_BYTES_PER_ELEMENT = 4  # arrays are stored as float32


def _total_bytes(net: Layer) -> int | None:
    return _total(_byte_count(s.dims) for s in array_slots(net))


def _size(count: int | None) -> Quantity | None:
    """A byte count as Wolfram's Information gives a size: Quantity(8, "Bytes"), Quantity(2.4, "Kilobytes")."""
    return None if count is None else Quantity.from_bytes(count)


def _port(net: Layer, name: str, t: TensorT) -> Any:
    """A port as "InputPorts" gives it: its NetEncoder or NetDecoder if it has one, else its dims."""
    coder = net._coder(name)
    return port_spec(t) if coder is None else coder


def _structure(net: Layer) -> dict:
    """What TopologyHash hashes: ``net`` as JSON data without its arrays' values.

    Built from the net's inferred state, as equality compares nets (so equal nets hash alike,
    however their dims were given): the type, every port's dims or coder; for a layer, its
    description (:func:`wlnet.serialize.net_json`: levels, sizes, functions, multipliers) and
    its arrays' dims; for a container, its parts by key and its connections.
    """
    ports = [[name, _port_json(net, name)] for name in (*net._input_names, *net._output_names)]
    data: dict[str, Any] = {"Layer": type(net).__name__, "Ports": ports}
    if isinstance(net, Container):
        data["Parts"] = [[key, _structure(part)] for key, part in net._children()]
        args = net._arguments()[0]
        edges = args[1] if len(args) > 1 else []  # a NetGraph's connections: pairs of NetPort
        data["Connections"] = [[None if end is None else [end.layer, end.port] for end in edge] for edge in edges]
    else:
        data["Description"] = net_json(net)
        data["Arrays"] = [[name, _dims_json(net._array_dims(name))] for name in net._array_names]
    return data


def _port_json(net: Layer, name: str) -> Any:
    coder = net._coder(name)
    if coder is not None:
        options = sorted([k, repr(v)] for k, v in coder.options.items())
        return [type(coder).__name__, coder.kind, options, *([repr(coder.parameters)] if coder.parameters else [])]
    return _dims_json(net._ports[name].dims)


def _dims_json(dims: tuple | None) -> list | None:
    """Dims as JSON: sizes as ints (NumPy ones too), None (unknown) and "Varying" as they are."""
    return None if dims is None else [d if d is None or isinstance(d, str) else int(d) for d in dims]


def topology_hash(net: Layer) -> str:
    """Information's "TopologyHash": a hash of ``net``'s structure, without its arrays' values.

    Wolfram: ``Information[net, "TopologyHash"]``, a hash of the net with its arrays removed, as a
    base-36 string. Two nets have the same hash when they differ only in their arrays' values:
    trained or not, initialized or not (an uninitialized array counts by its dims, as Wolfram
    keeps an array's type when it removes the array). Any other difference changes it: a layer,
    a level, a size, a function, a learning-rate multiplier, a port's dims, a coder, a part's name,
    a connection. The hash is the first 64 bits of the SHA-256 of a canonical JSON text, so it is
    the same in every process, Python version and platform (Wolfram's is a 64-bit hash too).

    Raises:
        NetSpecificationError: a part of the net is Python code (an ElementwiseLayer of a function
            that is not built from wlnet's functions), which has no description to hash.
    """
    try:
        text = json.dumps(_structure(net), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except NetSpecificationError as error:
        raise NetSpecificationError(
            f'Information: cannot compute "TopologyHash", which hashes the description that a net file '
            f"stores: {error}"
        ) from None
    value = int.from_bytes(hashlib.sha256(text.encode("ascii")).digest()[:8], "big")
    return np.base_repr(value, 36).lower()


#: Wolfram's properties that wlnet does not have, and why.
NOT_PROPERTIES = {
    name: (
        f'{name!r} is the graph of MXNet operations that Wolfram runs; wlnet runs nets as PyTorch '
        "modules instead: net.to_torch() gives the module (print it, or trace it with torch.fx), "
        'and Export("net.onnx", net) writes its graph of ONNX operations.'
    )
    for name in ("MXNetNodeGraph", "MXNetNodeGraphPlot")
}

#: Property name -> how to compute it from a net.
PROPERTIES: dict[str, Callable[[Layer], object]] = {
    "Arrays": lambda net: {s.position: s.value for s in array_slots(net)},
    "ArraysList": lambda net: [s.value for s in array_slots(net)],
    "ArraysCount": lambda net: len(array_slots(net)),
    "ArraysPositionList": lambda net: [s.position for s in array_slots(net)],
    "ArraysDimensions": lambda net: {s.position: s.dims for s in array_slots(net)},
    "ArraysElementCounts": lambda net: {s.position: _count(s.dims) for s in array_slots(net)},
    "ArraysTotalElementCount": lambda net: _total(_count(s.dims) for s in array_slots(net)),
    "ArraysByteCounts": lambda net: {s.position: _byte_count(s.dims) for s in array_slots(net)},
    "ArraysSizes": lambda net: {s.position: _size(_byte_count(s.dims)) for s in array_slots(net)},
    "ArraysTotalByteCount": lambda net: _total_bytes(net),
    "ArraysTotalSize": lambda net: _size(_total_bytes(net)),
    "ArraysLearningRateMultipliers": lambda net: array_multipliers(net),
    "SharedArraysCount": lambda net: 0,
    "InputPorts": lambda net: {k: _port(net, k, t) for k, t in net._input_types().items()},
    "OutputPorts": lambda net: {k: _port(net, k, t) for k, t in net._output_types().items()},
    "InputPortNames": lambda net: list(net._input_types()),
    "OutputPortNames": lambda net: list(net._output_types()),
    "RecurrentStatesCount": lambda net: 0,  # wlnet has no recurrent layers
    "RecurrentStatesPositionList": lambda net: [],
    "TopologyHash": topology_hash,
    "Layers": lambda net: dict(net._leaf_layers()),
    "LayersList": lambda net: [layer for _, layer in net._leaf_layers()],
    "LayersCount": lambda net: len(net._leaf_layers()),
    "LayerTypeCounts": lambda net: dict(Counter(type(layer).__name__ for _, layer in net._leaf_layers())),
    "LayersGraph": lambda net: net._layers_graph(),
    "SummaryGraphic": lambda net: summary_graphic(net),
    "FullSummaryGraphic": lambda net: summary_graphic(net, full=True),
    "InputForm": lambda net: repr(net),
    "Properties": lambda net: list(PROPERTIES),
}


def Information(net, prop=None):
    """A report on ``net``, or the value of one property (or a list of them).

    Wolfram: ``Information[net]``, ``Information[net, "prop"]``, ``Information[net, {p1, p2}]``.

    ``Information(net)`` shows a report, as Wolfram's ``Information[net]`` shows a panel: in a
    script it prints the report; at a Python prompt, in IPython or in Jupyter, where the value a
    line gives is shown, it prints nothing itself and the returned report shows (as a table, or
    as HTML in Jupyter), once (torchinfo's ``summary`` decides so too). It returns an
    :class:`InformationReport`: ``report[prop]`` reads one property, ``print(report)`` prints it
    anywhere. Dims, counts and sizes that
    are not known yet are ``None``; an uninitialized array is ``Automatic``.
    ``Information(net, "Properties")`` lists the properties; see the module doc for the two of
    Wolfram's that wlnet does not have.

    >>> from wlnet import NetInitialize, ParametricRampLayer
    >>> net = NetInitialize(ParametricRampLayer(Input=(2, 3, 4)))
    >>> Information(net, "ArraysDimensions")
    {('Slope',): (2,)}
    >>> Information(net, ["ArraysTotalElementCount", "LayersCount", "ArraysTotalSize"])
    [2, 1, Quantity(8, "Bytes")]
    >>> Information(net, "TopologyHash") == Information(ParametricRampLayer(Input=(2, 3, 4)), "TopologyHash")
    True
    """
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"Information: the first argument should be a net, not {type(net).__name__}."
        )
    if prop is None:
        report = InformationReport(net)
        if not _shows_results():
            print(report)
        return report
    if isinstance(prop, (list, tuple)):
        for p in prop:
            if not isinstance(p, str):
                raise NetSpecificationError(
                    f"Information: a list of properties should hold property names (strings), but it holds "
                    f"{type(p).__name__} {p!r:.60}. The properties are: {', '.join(PROPERTIES)}."
                )
        return [Information(net, p) for p in prop]
    if not isinstance(prop, str):
        raise NetSpecificationError(
            f"Information: the property should be a name such as \"ArraysCount\" or a list of names, not "
            f"{type(prop).__name__} {prop!r:.60}. The properties are: {', '.join(PROPERTIES)}."
        )
    if prop in NOT_PROPERTIES:
        raise NetSpecificationError(f"Information: {NOT_PROPERTIES[prop]}")
    if prop not in PROPERTIES:
        raise NetSpecificationError(
            f"Information: {prop!r} is not a property of {net._where}.{closest(str(prop), PROPERTIES)} "
            f"The properties are: {', '.join(PROPERTIES)}."
        )
    return PROPERTIES[prop](net)


def _shows_results() -> bool:
    """Whether the value a line gives is shown to the user: a Python prompt (``sys.ps1``: the
    REPL, ``python -i`` once at its prompt) or an IPython shell or Jupyter kernel. A script, and
    ``python -c``, show nothing of it."""
    if hasattr(sys, "ps1"):
        return True
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def _port_text(net: Layer, name: str, t: TensorT) -> str:
    """A port in the report's words: "a length-3 vector", "a real number, decoded by NetDecoder('Boolean')"."""
    coder = net._coder(name)
    if coder is None:
        return describe(t)
    return f"{describe(t)}, {'encoded' if name in net._input_names else 'decoded'} by {coder!r}"


def _size_text(size: Quantity | None) -> str:
    """ "unknown", "8 B", or "2.4 kB (2,400 bytes)": the size as Wolfram shows it, with the exact count."""
    if size is None:
        return "unknown"
    return str(size) if size.unit == "Bytes" else f"{size} ({size.bytes:,} bytes)"


class InformationReport:
    """What ``Information(net)`` returns: a summary table, with every property readable by name."""

    def __init__(self, net):
        self._net = net

    def __getitem__(self, prop):
        return Information(self._net, prop)

    def _rows(self) -> list[tuple[str, str]]:
        net = self._net
        rows = [("layer" if len(net._leaf_layers()) == 1 else "net", net._where)]
        for name, t in net._input_types().items():
            rows.append((f"input port {name!r}", _port_text(net, name, t)))
        for name, t in net._output_types().items():
            rows.append((f"output port {name!r}", _port_text(net, name, t)))
        multipliers = array_multipliers(net)
        for slot in array_slots(net):
            dims = slot.known_dims
            state = "uninitialized" if slot.value is Automatic else "initialized"
            rows.append((
                f"array {'/'.join(map(str, slot.position))}",
                f"dims {'unknown' if dims is None else dims}, {state}, "
                f"learning-rate multiplier {multipliers[slot.position]:g}",
            ))
        total = PROPERTIES["ArraysTotalElementCount"](net)
        rows.append(("total elements", "unknown" if total is None else f"{total:,}"))
        rows.append(("total size", _size_text(_size(_total_bytes(net)))))
        return rows

    def __str__(self) -> str:
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        lines = [f"Information: {type(self._net).__name__}"]
        lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table><caption>Information: {type(self._net).__name__}</caption>{cells}</table>"
