"""from_torch of wlnet's own torch forms of TotalLayer and CatenateLayer (``Total``, ``Catenate``,
what ``to_torch()`` gives): the layers, with the module's input ports. PyTorch has no module that
adds or catenates several inputs (a residual sum is code in a ``forward``), so nothing else maps
here; a NetChain feeds each layer one input, so these convert alone, not inside an nn.Sequential.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..layers.base import Layer
from ..layers.combine import Catenate, CatenateLayer, Total, TotalLayer
from ..symbols import Automatic

__all__ = ["CONVERTERS"]


def _ports(module: Total | Catenate) -> Any:
    """The InputPorts of the layer the module came from: its port names (Automatic for none)."""
    names = tuple(module.ports)
    if not names:
        return Automatic
    return len(names) if names == tuple(f"Input{i}" for i in range(1, len(names) + 1)) else list(names)


def _total(module: Total, position: tuple) -> Layer:
    return TotalLayer(InputPorts=_ports(module))


def _catenate(module: Catenate, position: tuple) -> Layer:
    return CatenateLayer(module.level, InputPorts=_ports(module))


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {Total: _total, Catenate: _catenate}
