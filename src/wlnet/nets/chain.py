"""NetChain: layers applied one after another, shapes inferred through the chain both ways."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import NetShapeError, NetSpecificationError, check_options
from ..functions import WolframFunction
from ..layers.base import Layer
from ..layers.elementwise import ElementwiseLayer
from ..layers.linear import LinearLayer
from ..lower import key_step
from ..symbols import Automatic
from ..types import as_int, describe, port_spec, unify
from .container import (
    Container,
    Key,
    layer_text,
    layers_argument,
    layers_text,
    narrow,
    port_option,
    with_multiplier,
)

__all__ = ["Chain", "NetChain"]


def as_layer(spec, where: str) -> Layer:
    """A layer from a NetChain/NetGraph element: a layer, a bare function, an int or a nested list."""
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, WolframFunction):
        return ElementwiseLayer(spec)
    if isinstance(spec, (list, dict)):
        return NetChain(spec)
    if as_int(spec) is not None:
        return LinearLayer(as_int(spec))
    raise NetSpecificationError(
        f"{where}: {spec!r} is not a layer; use a layer, a function such as Ramp or LogisticSigmoid, "
        "an integer n (LinearLayer(n)) or a list of layers (a nested NetChain)."
    )


def as_layers(spec, where: str) -> list[tuple[Key, Layer]] | None:
    """The parts given as a list (keys 1, 2, ...) or a dict (keys the names) of NetChain/NetGraph
    elements; None when ``spec`` is neither."""
    if isinstance(spec, dict):
        if "" in map(str, spec):
            raise NetSpecificationError(
                f"{where}: a layer name cannot be empty; name the layer, or give the layers as a list."
            )
        # Any other name will do: its array keys write "." and "%" percent-encoded (wlnet.lower).
        return [(str(k), as_layer(v, f"{where}: layer {k!r}")) for k, v in spec.items()]
    if isinstance(spec, (list, tuple)):
        return [(i, as_layer(v, f"{where}: layer {i}")) for i, v in enumerate(spec, 1)]
    return None


def _check_one_input(item: tuple[Key, Layer]) -> None:
    """A NetChain feeds each layer one input and takes one output from it."""
    names = item[1]._input_names
    if len(names) != 1 or len(item[1]._output_names) != 1:
        ports = f"{len(names)} input ports ({', '.join(map(repr, names))})" if names else "no input port yet"
        raise NetSpecificationError(
            f"NetChain: {layer_text(*item)} has {ports}, but a NetChain feeds each layer the output of the one "
            "before; connect a layer of several inputs in a NetGraph: NetGraph({...}, [([a, b], name)])."
        )


class NetChain(Container):
    """Layers applied in sequence: the output of each is the input of the next.

    Wolfram: ``NetChain[{layer1, layer2, ...}]``, ``NetChain[<|"name" -> layer, ...|>]``.

    Args:
        layers: a list of layers (parts numbered from 1) or a dict of named layers. A bare
            ``Ramp``, ``LogisticSigmoid``, ``Tanh``, ... becomes an ElementwiseLayer; an int ``n``
            becomes ``LinearLayer(n)``; a nested list becomes a nested NetChain.
        Input: the input's dims (as for layers), ``"Real"``, or a NetEncoder: ``NetEncoder("Boolean")``,
            ``NetEncoder(["Class", labels])``.
        Output: the output's dims or a NetDecoder: ``NetDecoder("Boolean")``, ``NetDecoder(["Class", labels])``
            (after a SoftmaxLayer: the net gives labels, and NetTrain takes them as targets).
        LearningRateMultipliers: one multiplier for every array inside (0 freezes them all).

    Dims flow both ways: a layer's unknown dims are inferred from its neighbours'.

    >>> from wlnet import LinearLayer, ParametricRampLayer, NetInitialize, Information
    >>> net = NetChain([LinearLayer(3), ParametricRampLayer()], Input=2)
    >>> Information(net, "ArraysDimensions")[(2, "Slope")]
    (3,)
    """

    def __init__(self, layers, *, Input=Automatic, Output=Automatic, LearningRateMultipliers=Automatic, **unknown):
        check_options("NetChain", unknown, ("Input", "Output", "LearningRateMultipliers"))
        items = as_layers(layers, "NetChain")
        if items is None:
            raise NetSpecificationError(
                f"NetChain: the layers should be a list or a dict of layers, not {type(layers).__name__}."
            )
        if not items:
            raise NetSpecificationError("NetChain: a chain needs at least one layer.")
        for item in items:
            _check_one_input(item)
        items = with_multiplier(items, LearningRateMultipliers, "NetChain")
        coders, ports = {}, {}
        for port, spec in (("Input", Input), ("Output", Output)):
            coder, ports[port] = port_option("NetChain", port, spec, port == "Input")
            if coder is not None:
                coders[port] = coder
        self._set_state({"layers": tuple(items), "coders": coders}, ports, {}, {})

    def _infer(self) -> None:
        items = list(self._params["layers"])
        first_in, last_out = items[0][1]._input_names[0], items[-1][1]._output_names[0]
        items[0] = (
            items[0][0],
            narrow(
                items[0][1],
                first_in,
                self._ports["Input"],
                f'NetChain: the "Input" of the chain and {self._part_text(items[0])}',
            ),
        )
        items[-1] = (
            items[-1][0],
            narrow(
                items[-1][1],
                last_out,
                self._ports["Output"],
                f'NetChain: the "Output" of the chain and {self._part_text(items[-1])}',
            ),
        )
        for _ in range(len(items) + 1):  # a fixed point is reached within one sweep per layer
            changed = False
            for i in range(len(items) - 1):
                (ka, a), (kb, b) = items[i], items[i + 1]
                out_port, in_port = a._output_names[0], b._input_names[0]
                ta, tb = a._ports[out_port], b._ports[in_port]
                try:
                    t = unify(ta, tb, "")
                except NetShapeError:
                    raise NetShapeError(
                        f"NetChain: {self._part_text(items[i])} outputs {describe(ta)}, but "
                        f"{self._part_text(items[i + 1])} needs {describe(tb)}."
                    ) from None
                if t != ta:
                    items[i] = (ka, narrow(a, out_port, t, f"NetChain: {self._part_text(items[i])}"))
                    changed = True
                if t != tb:
                    items[i + 1] = (kb, narrow(b, in_port, t, f"NetChain: {self._part_text(items[i + 1])}"))
                    changed = True
            if not changed:
                break
        self._params["layers"] = tuple(items)
        self._ports["Input"] = items[0][1]._ports[first_in]
        self._ports["Output"] = items[-1][1]._ports[last_out]

    def _part_text(self, item) -> str:
        return layer_text(*item)

    def _layers_graph(self) -> dict:
        keys = [key for key, _ in self._children()]
        return {key: keys[i + 1:i + 2] for i, key in enumerate(keys)}

    def _torch_module(self) -> Chain:
        return Chain({key_step(k): layer._torch_module() for k, layer in self._children()})

    def _arguments(self) -> tuple[tuple, dict]:
        options = {}
        for port in ("Input", "Output"):
            value = self._params["coders"].get(port) or port_spec(self._params["port_specs"][port])
            if value is not Automatic:
                options[port] = value
        return (layers_argument(self._params["layers"]),), options

    def _constructor(self) -> str:
        options = []
        for port in ("Input", "Output"):
            coder = self._params["coders"].get(port)
            if coder is not None:
                options.append(f"{port}={coder!r}")
        return f"NetChain({', '.join([layers_text(self._params['layers']), *options])})"


class Chain(nn.Module):
    """The torch form of NetChain: its layers' modules in order, named by their keys ("1", "2", ...
    or the layer names, written as :func:`wlnet.lower.key_step` writes them), so that a parameter's
    ``state_dict()`` key is its Wolfram array path: ``"2.Slope"``."""

    def __init__(self, modules: dict[str, nn.Module]):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self._modules.values():  # as nn.Sequential does: cheaper than children()
            x = module(x)  # type: ignore[misc]
        return x
