"""NetGraph's wiring of the layers whose input ports take their sources in order (TotalLayer,
CatenateLayer: ``Layer._ports_in_order``), Wolfram's ``{a, b} -> total``.

* ``([a, b], "total")`` (a tuple ``(a, b)`` as well) feeds a and b to the layer's first and second
  input ports; separate connections ``(a, "total")``, ``(b, "total")`` do the same, in the order
  the connections are given (:func:`in_order_ports`). ``NetPort("total", "Input2")`` names a port.
* A layer whose number of ports is not fixed yet (``TotalLayer()``, InputPorts Automatic) gets
  "Input1" ... "Input<k>", k the highest port number a connection ends at (:func:`fit_ports`);
  the graph's inferred layer then has its ports fixed (``TotalLayer(InputPorts=[3, 3])``), while
  the layer as given stays Automatic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NetSpecificationError
from ..layers.base import Layer
from .container import Key, layer_text

__all__ = ["fit_ports", "in_order_ports"]


def in_order_ports(key: Key, layer: Layer, count: int, turns: dict[Key, int], edge: tuple) -> list[str]:
    """The ports that the next ``count`` sources of the in-order layer ``layer`` feed; ``turns``
    counts the sources the layer was given by the connections before."""
    names = layer._input_names
    first = turns.get(key, 0)
    turns[key] = first + count
    if names and turns[key] > len(names):
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, {layer_text(key, layer)} is given its source number "
            f"{turns[key]}, but it has {len(names)} input port{'s' if len(names) != 1 else ''} "
            f"({', '.join(map(repr, names))}), fed in the order the connections give."
        )
    return list(names[first:turns[key]]) if names else [f"Input{i}" for i in range(first + 1, turns[key] + 1)]


def fit_ports(layers: dict[Key, Layer], edges: Sequence[tuple[Any, Any]]) -> dict[Key, Layer]:
    """The layers, each whose number of input ports is not fixed yet (InputPorts Automatic) given
    as many as the connections (pairs of NetPorts) feed: up to the highest "Input<i>" one ends at."""
    fitted = dict(layers)
    for key, layer in layers.items():
        if not layer._ports_in_order or layer._input_names:
            continue
        numbers = [_port_number(dst.port, key, layer) for _, dst in edges if dst is not None and dst.layer == key]
        if not numbers:
            raise NetSpecificationError(
                f"NetGraph: no connection feeds {layer_text(key, layer)}, whose number of input ports "
                f"(InputPorts Automatic) comes from its connections: connect its sources with "
                f"([a, b], {key!r}), or give the layer InputPorts=n."
            )
        resized = layer._with_input_count(max(numbers))
        assert resized is not None
        fitted[key] = resized
    return fitted


def _port_number(port: str, key: Key, layer: Layer) -> int:
    """i of the port "Input<i>" of a layer whose ports are not fixed yet."""
    number = port.removeprefix("Input")
    if port.startswith("Input") and number.isdigit() and not number.startswith("0"):
        return int(number)
    raise NetSpecificationError(
        f'NetGraph: {layer_text(key, layer)} has no input port "{port}": with InputPorts Automatic its ports '
        f'are "Input1", "Input2", ... (as many as the connections feed); to name them, give '
        "InputPorts=['a', 'b', ...]."
    )
