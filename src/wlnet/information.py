"""Information: a report on a net, or one property of it, from one table of properties.

Every property is computed from two generic views of a net, its leaf layers with their
positions and its arrays with their positions, so containers reuse this table unchanged.
Positions are tuples: ``("Slope",)`` for a bare layer's array, ``(2, "Slope")`` inside a chain.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from .display import summary_graphic
from .errors import NetSpecificationError, closest
from .layers.base import Layer
from .lower import array_multipliers, array_slots
from .symbols import Automatic
from .types import describe, port_spec

__all__ = ["Information", "InformationReport"]


def _count(dims: tuple | None) -> int | None:
    return None if dims is None or None in dims else int(np.prod(dims, dtype=np.int64))


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
    "ArraysTotalByteCount": lambda net: _total(_byte_count(s.dims) for s in array_slots(net)),
    "ArraysLearningRateMultipliers": lambda net: array_multipliers(net),
    "SharedArraysCount": lambda net: 0,
    "InputPorts": lambda net: {k: port_spec(t) for k, t in net._input_types().items()},
    "OutputPorts": lambda net: {k: port_spec(t) for k, t in net._output_types().items()},
    "InputPortNames": lambda net: list(net._input_types()),
    "OutputPortNames": lambda net: list(net._output_types()),
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

    ``Information(net)`` returns an :class:`InformationReport`, which prints as a table and
    renders as HTML in Jupyter; ``report[prop]`` reads one property. Dims and counts that are
    not known yet are ``None``; an uninitialized array is ``Automatic``.

    >>> from wlnet import NetInitialize, ParametricRampLayer
    >>> net = NetInitialize(ParametricRampLayer(Input=(2, 3, 4)))
    >>> Information(net, "ArraysDimensions")
    {('Slope',): (2,)}
    >>> Information(net, ["ArraysTotalElementCount", "LayersCount"])
    [2, 1]
    """
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"Information: the first argument should be a net, not {type(net).__name__}."
        )
    if prop is None:
        return InformationReport(net)
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
    if prop not in PROPERTIES:
        raise NetSpecificationError(
            f"Information: {prop!r} is not a property of {net._where}.{closest(str(prop), PROPERTIES)} "
            f"The properties are: {', '.join(PROPERTIES)}."
        )
    return PROPERTIES[prop](net)


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
            rows.append((f"input port {name!r}", describe(t)))
        for name, t in net._output_types().items():
            rows.append((f"output port {name!r}", describe(t)))
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
        size = PROPERTIES["ArraysTotalByteCount"](net)
        rows.append(("total elements", "unknown" if total is None else f"{total:,}"))
        rows.append(("total size", "unknown" if size is None else f"{size:,} bytes"))
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
