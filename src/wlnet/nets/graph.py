"""NetGraph: layers wired into a directed acyclic graph by named connections.

A graph keeps the layers as given (``_params["layers"]``, pairs of key and layer) and the
connections as given, with layer keys resolved (``_params["edges"]``, pairs of :class:`NetPort`).
Shape inference (``_infer``) is :func:`.wiring.infer`: it *wires* the graph (checks every
connection, turns unconnected layer ports into graph ports and finds a topological order, or the
cycle that prevents one), then unifies the two ends of every connection until nothing changes,
so dims flow both ways. The inferred layers are ``_children()``; the given ones stay in
``_params`` so that a replaced part or port is inferred afresh. NetPort lives in
:mod:`.wiring` and is importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import NetOptionError, NetSpecificationError, closest
from ..layers.base import Layer
from ..lower import key_step
from ..symbols import Automatic
from ..types import port_spec
from .chain import NetChain, as_layer, as_layers
from .container import Container, Key, layers_argument, layers_text, port_option, with_multiplier
from .wiring import NetPort, Wiring, infer, parse_edges, wire

__all__ = ["Graph", "GraphPlan", "NetGraph", "NetPort"]


def _layers_argument(layers, edges) -> tuple[list[tuple[Key, Layer]], object, dict, dict]:
    """NetGraph's layers as (key, layer) pairs, with the connections, coders and port types: the
    given ones, or those of the single graph or chain given as the layers."""
    items = as_layers(layers, "NetGraph")
    if items is None:
        if edges:
            raise NetSpecificationError(
                "NetGraph: give the layers as a list or a dict when giving connections, e.g. "
                "NetGraph([layer], [(NetPort('x'), 1)])."
            )
        items, edges, coders, specs = _one_layer(as_layer(layers, "NetGraph"), edges)
    else:
        coders, specs = {}, {}
    if not items:
        raise NetSpecificationError("NetGraph: a graph needs at least one layer.")
    return items, edges, coders, specs


def _one_layer(layer: Layer, edges) -> tuple[list[tuple[Key, Layer]], object, dict, dict]:
    """The layers, connections, coders and port types of the graph equivalent to ``layer``: a
    graph's own, a chain's layers connected in order, or ``layer`` alone with the given ``edges``."""
    if isinstance(layer, NetGraph):
        items, edges = list(layer._params["layers"]), list(layer._params["edges"])
    elif isinstance(layer, NetChain):
        items = list(layer._children())
        edges = [(a, b) for (a, _), (b, _) in zip(items, items[1:])]
    else:
        return [(1, layer)], edges, {}, {}
    return items, edges, dict(layer._params["coders"]), dict(layer._params["port_specs"])


def _port_options(ports: dict, wiring: Wiring, coders: dict, specs: dict) -> tuple[dict, dict]:
    """The coders and port types with NetGraph's port options applied (each replaces the coder
    and type of its port, if any)."""
    coders, specs = dict(coders), dict(specs)
    names = [*wiring.inputs, *wiring.outputs]
    for name, spec in ports.items():
        if name not in names:
            raise NetOptionError(
                f"NetGraph: unknown option or port {name}.{closest(name, [*names, 'LearningRateMultipliers'])} "
                f"The graph's ports are {', '.join(names)}; the other option is "
                "LearningRateMultipliers."
            )
        coders.pop(name, None)
        coder, specs[name] = port_option("NetGraph", name, spec, name in wiring.inputs)
        if coder is not None:
            coders[name] = coder
    return coders, specs


class NetGraph(Container):
    """Layers connected into a directed acyclic graph, with any number of input and output ports.

    Wolfram: ``NetGraph[{layer1, ...}, {m -> n, ...}]``, ``NetGraph[<|"name" -> layer, ...|>,
    {"a" -> "b", ...}]``, ``NetGraph[layer]``.

    Args:
        layers: a list of layers (keys 1, 2, ...; positions are 1-based) or a dict of named
            layers, given as in NetChain: a bare ``Ramp`` becomes an ElementwiseLayer, an int
            ``n`` a ``LinearLayer(n)``, a nested list a NetChain. A single layer or NetChain (with
            no connections) gives the equivalent graph; a NetChain's layers become the graph's,
            connected in order.
        edges: a list of connections, each a tuple:

            * ``(a, b)``: the output of ``a`` feeds the input of ``b``. An end is a layer key
              (1-based int, negative from the end, or name), ``NetPort("x")`` (a port of the
              whole graph: an input where a connection starts, an output where it ends), or
              ``NetPort(key, "port")`` (a named port of a layer with several).
            * ``(a, b, c, ...)``: a chain, a -> b -> c -> ...
            * ``([a, b], c)`` or ``((a, b), c)``: a and b feed the input ports of c, in order
              (Wolfram's ``{a, b} -> c``). A layer whose ports take their sources in order
              (TotalLayer, CatenateLayer) also takes them as separate connections ``(a, c)``,
              ``(b, c)``, and one with InputPorts Automatic gets as many ports as it is fed.
            * ``(NetPort(key, "port"), None)``: the output is muted (no graph output).
        LearningRateMultipliers: one multiplier for every array inside (0 freezes them all).
        **ports: the dims, encoder or decoder of graph ports, by port name, as the Wolfram
            ``"port" -> spec`` options: ``Input=3``, ``x=(2, 3)``, ``Output="Boolean"`` (the
            Boolean encoder on an input port, the decoder on an output port),
            ``y=NetDecoder("Boolean")``; names that are not identifiers go through a dict:
            ``**{"my port": 3}``.

    Ports:
        Each ``NetPort("x")`` that starts a connection is an input port of the graph and each
        that ends one an output port. An unconnected layer input becomes a graph input of the
        same name, shared by all unconnected inputs of that name (so ``NetGraph([2, 3], [])``
        has one "Input"); an unconnected, unmuted layer output becomes a graph output of the
        same name, numbered when several share it ("Output1", "Output2", ... in layer order).
        Explicit ports come first, in the order of the connections, then the implicit ones in
        layer order.

    Dims flow both ways along every connection, as in NetChain.

    Evaluation: ``graph(data)`` for a graph with one input port; ``graph({"x": ..., "y": ...})``
    for several. A graph with one output port returns its value; with several, a dict
    ``{port: value}``; ``graph(data, "port")`` returns one output and ``graph(data, None)`` the raw
    outputs without decoders. ``to_torch()`` gives a :class:`Graph` module.

    >>> from wlnet import LinearLayer, Ramp, NetInitialize, Information
    >>> net = NetGraph({"hidden": LinearLayer(3), "relu": Ramp, "out": LinearLayer(2)},
    ...                [(NetPort("x"), "hidden", "relu", "out"), ("hidden", NetPort("raw"))], x=4)
    >>> Information(net, "InputPorts"), Information(net, "OutputPorts")
    ({'x': 4}, {'raw': 3, 'Output': 2})
    >>> sorted(NetInitialize(net)([1, 2, 3, 4]))
    ['Output', 'raw']
    """

    _wiring: Wiring
    _inferred: tuple  # (key, layer) pairs: the layers with every dim that can be inferred

    def __init__(self, layers, edges=(), *, LearningRateMultipliers=Automatic, **ports):
        items, edges, coders, specs = _layers_argument(layers, edges)
        layers_by_key = dict(items)
        edges = parse_edges(edges, layers_by_key)
        items = with_multiplier(items, LearningRateMultipliers, "NetGraph")
        coders, specs = _port_options(ports, wire(layers_by_key, edges), coders, specs)
        self._set_state({"layers": tuple(items), "edges": edges, "coders": coders}, specs, {}, {})

    # -- inference ------------------------------------------------------------------------------
    def _infer(self) -> None:
        layers, edges, specs = dict(self._params["layers"]), self._params["edges"], self._params["port_specs"]
        wiring, inferred, types = infer(layers, edges, specs)
        self._wiring, self._inferred = wiring, inferred
        self._ports.clear()
        self._ports.update(types)

    @property
    def _input_names(self) -> tuple[str, ...]:
        return self._wiring.inputs

    @property
    def _output_names(self) -> tuple[str, ...]:
        return self._wiring.outputs

    def _children(self) -> tuple:
        return self._inferred

    def _value(self) -> tuple:
        """Graphs are equal when their parts, ports and coders are, and so are their connections."""
        return (*super()._value(), self._params["edges"])

    def _layers_graph(self) -> dict:
        """``{key: [keys of the layers it feeds]}`` in layer order, for Information "LayersGraph"."""
        graph: dict = {key: [] for key, _ in self._inferred}
        for src, dst in self._wiring.edges:
            if src.layer is not None and dst.layer is not None and dst.layer not in graph[src.layer]:
                graph[src.layer].append(dst.layer)
        return graph

    # -- lowering and printing --------------------------------------------------------------------
    def _torch_module(self) -> Graph:
        children = dict(self._inferred)
        source = {dst: src for src, dst in self._wiring.edges}

        def slot(end: NetPort) -> tuple:
            return (None, end.port) if end.layer is None else (key_step(end.layer), end.port)

        steps = tuple(
            (key_step(key), tuple(slot(source[NetPort(key, p)]) for p in children[key]._input_names),
             tuple(children[key]._output_names))
            for key in self._wiring.order
        )
        outputs = tuple((name, slot(source[NetPort(name)])) for name in self._wiring.outputs)
        modules = {key_step(key): layer._torch_module() for key, layer in self._inferred}
        return Graph(modules, GraphPlan(self._wiring.inputs, steps, outputs))

    def _arguments(self) -> tuple[tuple, dict]:
        options = {}
        coders = self._params["coders"]
        for name, t in self._params["port_specs"].items():
            value = coders.get(name) or port_spec(t)
            if value is not Automatic:
                options[name] = value
        return (layers_argument(self._params["layers"]), list(self._params["edges"])), options

    def _constructor(self) -> str:
        body = layers_text(self._inferred)
        layers = dict(self._inferred)

        def end_text(end: NetPort | None, source: bool) -> str:
            if end is None or end.layer is None:
                return repr(end)
            names = layers[end.layer]._output_names if source else layers[end.layer]._input_names
            return repr(end.layer) if names == (end.port,) else repr(end)

        edges = "[" + ", ".join(
            f"({end_text(src, True)}, {end_text(dst, False)})" for src, dst in self._params["edges"]
        ) + "]"
        options, extra = [], {}
        coders = self._params["coders"]
        for name, t in self._params["port_specs"].items():
            value = coders.get(name)
            if value is None:
                value = port_spec(t)
                if value is Automatic:
                    continue
            if name.isidentifier() and name != "LearningRateMultipliers":
                options.append(f"{name}={value!r}")
            else:
                extra[name] = value
        if extra:
            options.append(f"**{extra!r}")
        return f"NetGraph({', '.join([body, edges, *options])})"


@dataclass(frozen=True)
class GraphPlan:
    """How a :class:`Graph` runs: its input ports, its layers' steps in a topological order, and
    where each output port's value comes from.

    A *slot* is ``(module name, port)`` for a layer's output, or ``(None, port)`` for a graph input.
    """

    inputs: tuple[str, ...]
    steps: tuple[tuple[str, tuple, tuple[str, ...]], ...]  # (module name, input slots, output ports)
    outputs: tuple[tuple[str, tuple], ...]  # (graph output port, slot)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.outputs)


class Graph(nn.Module):
    """The torch form of NetGraph: its layers' modules, named by their keys ("1", "2", ... or the
    layer names, written as :func:`wlnet.lower.key_step` writes them), run in topological order;
    a parameter's ``state_dict()`` key is its Wolfram array path, ``"ramp.Weights"``.

    ``forward(x)`` for a graph with one input port; with several, ``forward(x1, x2, ...)`` in
    input-port order, ``forward(port=x, ...)`` or ``forward({port: x, ...})``. Returns the tensor
    of the only output port, or a dict ``{port: tensor}`` when there are several. Each layer's
    module is called with its input ports' tensors in port order and returns one tensor per
    output port (a tuple, or a dict by port name, when it has several).
    """

    def __init__(self, modules: dict[str, nn.Module], plan: GraphPlan):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
        self.plan = plan

    def _bind(self, args: tuple, kwargs: dict) -> dict:
        names = self.plan.inputs
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            kwargs, args = dict(args[0]), ()
        if len(args) > len(names):
            raise TypeError(
                f"Graph.forward takes {len(names)} input{'s' if len(names) != 1 else ''} "
                f"({', '.join(names)}), but {len(args)} were given."
            )
        bound = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError(f"Graph.forward: {name!r} is not an input port; the inputs are {', '.join(names)}.")
            if name in bound:
                raise TypeError(f"Graph.forward: the input {name!r} is given twice.")
            bound[name] = value
        missing = [name for name in names if name not in bound]
        if missing:
            raise TypeError(f"Graph.forward: missing the input{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(map(repr, missing))}.")
        return bound

    def forward(self, *args, **kwargs):
        values: dict[tuple[str | None, str], Any] = {(None, name): x for name, x in self._bind(args, kwargs).items()}
        modules = dict(self.named_children())
        for name, sources, ports in self.plan.steps:
            result = modules[name](*[values[s] for s in sources])
            if len(ports) == 1:
                values[(name, ports[0])] = result
            elif isinstance(result, dict):
                values.update(((name, port), result[port]) for port in ports)
            else:
                values.update(((name, port), r) for port, r in zip(ports, result))
        outputs = self.plan.outputs
        if len(outputs) == 1:
            return values[outputs[0][1]]
        return {name: values[slot] for name, slot in outputs}

    def extra_repr(self) -> str:
        return f"inputs={list(self.plan.inputs)}, outputs={list(self.plan.output_names)}"
