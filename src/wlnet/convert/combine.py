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
from ..layers.multiport import input_ports_spec
from ..types import TensorT

__all__ = ["CONVERTERS"]


def _ports(module: Total | Catenate) -> Any:
    """The InputPorts of the layer the module came from: its port names, dims unknown (Automatic
    for none)."""
    names = tuple(module.ports)
    return input_ports_spec(names, dict.fromkeys(names, TensorT(None)))


def _total(module: Total, position: tuple) -> Layer:
    return TotalLayer(InputPorts=_ports(module))


def _catenate(module: Catenate, position: tuple) -> Layer:
    return CatenateLayer(module.level, InputPorts=_ports(module))


#: Module type -> converter(module, position), joined into :data:`wlnet.convert.CONVERTERS`.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {Total: _total, Catenate: _catenate}
