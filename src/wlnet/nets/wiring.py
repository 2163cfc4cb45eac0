"""NetPort and the wiring of a NetGraph: its connections checked, its ports made, its layers
ordered, and its types inferred along its connections.

The user's connections become pairs (source, destination) of :class:`NetPort` with the layer keys
resolved (:func:`parse_edges`): ``(1, 2, 3)`` is the two pairs 1 -> 2 and 2 -> 3, a bare layer
means its only port, ``([a, b], c)`` (or ``((a, b), c)``) feeds c's input ports in order, and
``(a, None)`` mutes a's output. A layer whose input ports take their sources in order (TotalLayer,
CatenateLayer) takes them over several connections too, and one whose number of ports is not
fixed yet gets as many as it is fed (:mod:`.multiport`). :func:`wire` then checks that every
connection goes from a layer's output port to a layer's input port and that no port is fed
twice, and makes the graph's ports:

* ``NetPort("x")`` where a connection starts is a graph input, where one ends a graph output;
* an input port of a layer that no connection feeds becomes the graph input of its own name,
  which all the unfed inputs of that name share (``NetGraph([2, 3], [])`` has one "Input");
* an output port of a layer that feeds nothing and is not muted becomes the graph output of its
  own name, numbered when several share a name: "Output1", "Output2", ... in layer order.

The ports named in connections come first, in the order of the connections, then the implicit
ones in layer order. A name cannot be both an input and an output of the graph, and an implicit
output cannot take a name a connection already gives. The layers are ordered so that each comes
after every layer it depends on, in the given order where the connections leave it free; when
no order exists the error names a cycle, starting at its first layer in the given order.

:func:`infer` wires the graph and infers its types two ways: it unifies the types at the two ends
of every connection, sweeping over all of them until a sweep changes nothing, so a dim known at
either end of a connection narrows the other. A graph port starts with the type its option gives
(or unknown), and remembers why it has its type, the option or the layer port it met first, for
the error when the two ends of a connection disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import NetShapeError, NetSpecificationError, closest
from ..layers.base import Layer
from ..types import TensorT, describe, port_spec, unify
from .container import Key, layer_text, narrow
from .multiport import fit_ports, in_order_ports

__all__ = ["Connection", "Edge", "NetPort", "Wiring", "infer", "parse_edges", "wire"]


def _is_key(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class NetPort:
    """A port of a whole graph, or a named port of one of its layers.

    Wolfram: ``NetPort["port"]``, ``NetPort[n, "port"]``, ``NetPort["layer", "port"]``,
    ``NetPort[{n, "port"}]``.

    In NetGraph connections, ``NetPort("x")`` is a port of the whole graph: an input port where a
    connection starts, an output port where it ends. ``NetPort(2, "Output")`` (layer 2, 1-based)
    and ``NetPort("dense", "Output")`` (the layer named "dense") name a port of a layer: an output
    port where a connection starts, an input port where it ends. ``NetPort((2, "Output"))`` is the
    same as ``NetPort(2, "Output")``.

    >>> NetPort("x"), NetPort((2, "Output"))
    (NetPort('x'), NetPort(2, 'Output'))
    """

    __slots__ = ("layer", "port")
    layer: Key | None  # the layer's key; None for a port of the whole graph
    port: str

    def __init__(self, *spec) -> None:
        if len(spec) == 1 and isinstance(spec[0], (tuple, list)):
            spec = tuple(spec[0])
        if len(spec) == 1 and isinstance(spec[0], str):
            layer, port = None, spec[0]
        elif len(spec) == 2 and _is_key(spec[0]) and isinstance(spec[1], str):
            layer, port = spec
        elif len(spec) > 2 and all(_is_key(s) for s in spec) and isinstance(spec[-1], str):
            raise NetSpecificationError(
                f"NetPort: nested positions such as NetPort({list(spec)!r}) are not supported yet; "
                "a NetPort names a graph port, NetPort('x'), or a port of one of the graph's own "
                "layers, NetPort(2, 'Output')."
            )
        else:
            raise NetSpecificationError(
                f"NetPort: the specification {spec[0] if len(spec) == 1 else spec!r} is not a port; "
                "use NetPort('name') for a port of the whole graph, or NetPort(n, 'port') / "
                "NetPort('layer', 'port') for a port of a layer."
            )
        object.__setattr__(self, "layer", layer)
        object.__setattr__(self, "port", port)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NetPort is an immutable value.")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPort) and (self.layer, self.port) == (other.layer, other.port)

    def __hash__(self) -> int:
        return hash((NetPort, self.layer, self.port))

    def __reduce__(self) -> tuple:
        return (NetPort, (self.port,) if self.layer is None else (self.layer, self.port))

    def __repr__(self) -> str:
        return f"NetPort({self.port!r})" if self.layer is None else f"NetPort({self.layer!r}, {self.port!r})"


Edge = tuple[NetPort, NetPort]  # a connection: (source, destination)
Connection = tuple[NetPort, NetPort | None]  # a connection as given: a destination None mutes


@dataclass(frozen=True)
class Wiring:
    """The checked connections of a graph: every edge, graph ports included, and an order to run."""

    edges: tuple[Edge, ...]  # graph inputs and outputs included
    inputs: tuple[str, ...]  # graph input port names, in order
    outputs: tuple[str, ...]  # graph output port names, in order
    order: tuple[Key, ...]  # layer keys, each after every layer it depends on


def _key_of(spec: object, keys: list[Key], edge: tuple) -> Key:
    """The layer key that ``spec`` (a 1-based int, negative from the end, or a name) names in ``edge``."""
    where = f"NetGraph: in the connection {edge!r}"
    if isinstance(spec, str):
        if spec in keys:
            return spec
        names = [k for k in keys if isinstance(k, str)]
        hint = closest(spec, names)
        listing = (f"The layers are: {', '.join(map(repr, names))}." if names else
                   f"The layers are numbered 1 to {len(keys)}.")
        raise NetSpecificationError(
            f"{where}, there is no layer named {spec!r}.{hint} {listing} For a port of the whole "
            f"graph, write NetPort({spec!r})."
        )
    if isinstance(spec, int) and not isinstance(spec, bool):
        if 1 <= spec <= len(keys) or -len(keys) <= spec <= -1:
            return keys[spec - 1 if spec > 0 else spec]
        raise NetSpecificationError(
            f"{where}, there is no layer {spec}: the layers are numbered 1 to {len(keys)} "
            "(or -1 for the last)."
        )
    raise NetSpecificationError(
        f"{where}, {spec!r} is not a layer or a port; an end of a connection is a layer number "
        "(from 1), a layer name, NetPort('name') for a port of the graph, NetPort(n, 'port') "
        "for a port of a layer, or None to mute an output."
    )


def _endpoint(spec: object, source: bool, layers: dict[Key, Layer], edge: tuple) -> NetPort:
    """``spec`` as a NetPort with its layer key resolved; a bare layer means its only port."""
    keys = list(layers)
    if isinstance(spec, NetPort):
        return spec if spec.layer is None else NetPort(_key_of(spec.layer, keys, edge), spec.port)
    key = _key_of(spec, keys, edge)
    layer = layers[key]
    names = layer._output_names if source else layer._input_names
    if len(names) != 1:
        kind = "output" if source else "input"
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, {layer_text(key, layer)} has {len(names)} "
            f"{kind} ports ({', '.join(map(repr, names))}); say which with "
            f"NetPort({key!r}, {names[0]!r})."
        )
    return NetPort(key, names[0])


def parse_edges(edges: object, layers: dict[Key, Layer]) -> tuple[Connection, ...]:
    """The user's connections as (source, destination) NetPort pairs; destination None mutes."""
    result: list[Connection] = []
    turns: dict[Key, int] = {}  # how many sources each layer of in-order ports has been given
    for edge in _edge_list(edges):
        if not isinstance(edge, tuple) or len(edge) < 2:
            raise NetSpecificationError(
                f"NetGraph: the connection {edge!r} should be a tuple (source, destination), or a "
                "chain (a, b, c, ...) meaning a -> b -> c; write [(1, 2)], not [[1, 2]]."
            )
        for src, dst in zip(edge, edge[1:]):
            result += _step(src, dst, layers, edge, turns)
    return tuple(result)


def _edge_list(edges: object) -> list | tuple:
    """``edges``, once it is a list (or tuple) of connections."""
    # A bare tuple of layer keys, (1, 2), is one connection given without its enclosing list.
    single = isinstance(edges, tuple) and not any(isinstance(e, (list, tuple)) for e in edges)
    if not isinstance(edges, (list, tuple)) or single and edges:
        raise NetSpecificationError(
            f"NetGraph: the connections should be a list of tuples such as [(1, 2), (2, 3)], not "
            f"{edges!r}."
        )
    return edges


def _step(src: object, dst: object, layers: dict[Key, Layer], edge: tuple, turns: dict[Key, int]) -> list[Connection]:
    """One step ``src -> dst`` of the connection ``edge``: a plain one, a muting or a fan-in."""
    starts = [_endpoint(s, True, layers, edge) for s in _sources(src, dst, edge)]
    if dst is None:
        return _muted(starts, edge)
    key = _key_of(dst, list(layers), edge) if not isinstance(dst, NetPort) and _is_key(dst) else None
    if key is not None and layers[key]._ports_in_order:
        return [(start, NetPort(key, port))
                for start, port in zip(starts, in_order_ports(key, layers[key], len(starts), turns, edge))]
    if len(starts) == 1:
        return [(starts[0], _endpoint(dst, False, layers, edge))]
    return _fan_in(starts, dst, layers, edge)


def _sources(src: object, dst: object, edge: tuple) -> list:
    """The sources of the step ``src -> dst`` (a list of several, or of one), checked for place."""
    if src is None:
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, None may only end a connection (it mutes the "
            "output before it)."
        )
    # A list after the first element is the destination of some step, so this finds them all.
    if isinstance(dst, (list, tuple)):
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, only the first element may be a list (several "
            "sources feeding one layer's input ports in order); to send one output to several "
            "layers, write one connection per layer."
        )
    sources = list(src) if isinstance(src, (list, tuple)) else [src]
    if not sources:
        raise NetSpecificationError(f"NetGraph: in the connection {edge!r}, the list of sources is empty.")
    return sources


def _muted(starts: list[NetPort], edge: tuple) -> list[Connection]:
    """``(source, None)``: the layer outputs ``starts`` feed nothing and are no graph outputs."""
    for start in starts:
        if start.layer is None:
            raise NetSpecificationError(
                f"NetGraph: in the connection {edge!r}, only a layer's output can be muted with "
                f"None, not the graph input {start!r}."
            )
    return [(start, None) for start in starts]


def _fan_in(starts: list[NetPort], dst: object, layers: dict[Key, Layer], edge: tuple) -> list[Connection]:
    """``([a, b], c)``: several sources feed the input ports of one layer, in order."""
    if isinstance(dst, NetPort):
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, {len(starts)} sources cannot all feed {dst!r}: "
            "a port takes one connection. A list of sources feeds the input ports of a layer in "
            "order: ([1, 2], 3)."
        )
    key = _key_of(dst, list(layers), edge)
    names = layers[key]._input_names
    if len(names) != len(starts):
        raise NetSpecificationError(
            f"NetGraph: in the connection {edge!r}, {len(starts)} sources are listed for "
            f"{layer_text(key, layers[key])}, which has {len(names)} input port"
            f"{'s' if len(names) != 1 else ''} ({', '.join(map(repr, names))}); a list of "
            "sources feeds a layer's input ports in order, one each."
        )
    return [(start, NetPort(key, name)) for start, name in zip(starts, names)]


def _check_layer_port(end: NetPort, layers: dict[Key, Layer], source: bool) -> None:
    """Raise unless ``end`` is an output port (``source``) or an input port of its layer."""
    if end.layer is None:
        return  # a port of the whole graph: any name will do
    layer = layers[end.layer]
    names = layer._output_names if source else layer._input_names
    if end.port in names:
        return
    other = layer._input_names if source else layer._output_names
    side, wrong = ("output", "input") if source else ("input", "output")
    if end.port in other:
        raise NetSpecificationError(
            f'NetGraph: port "{end.port}" of {layer_text(end.layer, layer)} is an {wrong} port, so '
            f"a connection cannot {'start' if source else 'end'} there; connections go from an "
            "output port to an input port."
        )
    raise NetSpecificationError(
        f'NetGraph: {layer_text(end.layer, layer)} has no {side} port "{end.port}".'
        f"{closest(end.port, names)} Its {side} ports are: {', '.join(map(repr, names))}."
    )


def wire(layers: dict[Key, Layer], edges: Sequence[Connection]) -> Wiring:
    """Check the connections, make the graph's ports and order the layers (see the module doc)."""
    layers = fit_ports(layers, edges)
    for src, dst in edges:
        _check_layer_port(src, layers, True)
        if dst is not None:
            _check_layer_port(dst, layers, False)
    connected: list[Edge] = [(src, dst) for src, dst in edges if dst is not None]
    connected += _implicit_inputs(layers, _sources_of(layers, connected))
    inputs = tuple(dict.fromkeys(src.port for src, _ in connected if src.layer is None))
    outputs = [dst.port for _, dst in connected if dst.layer is None]
    implicit = _implicit_outputs(layers, {src for src, _ in edges}, outputs)
    connected += implicit
    outputs += [dst.port for _, dst in implicit]
    both = [name for name in inputs if name in outputs]
    if both:
        raise NetSpecificationError(
            f'NetGraph: "{both[0]}" would be both an input and an output port of the graph; graph '
            "ports need distinct names (write NetPort('name') with another name)."
        )
    return Wiring(tuple(connected), inputs, tuple(outputs), _order(layers, connected))


def _end_text(end: NetPort, source: bool, layers: dict[Key, Layer], origins: dict[str, str] | None = None) -> str:
    """How errors name an end of a connection; ``origins`` says why graph ports have their types."""
    if end.layer is None:
        origin = (origins or {}).get(end.port)
        return f'graph {"input" if source else "output"} "{end.port}"' + (f" ({origin})" if origin else "")
    return f'{layer_text(end.layer, layers[end.layer])} port "{end.port}"'


def _sources_of(layers: dict[Key, Layer], edges: list[Edge]) -> dict[NetPort, NetPort]:
    """The source feeding each port that a connection ends at; a port is fed once at most."""
    fed: dict[NetPort, NetPort] = {}
    for src, dst in edges:
        if dst in fed:
            kind = "input port of a layer" if dst.layer is not None else "output port of the graph"
            raise NetSpecificationError(
                f"NetGraph: {_end_text(dst, False, layers)} is fed twice, by "
                f"{_end_text(fed[dst], True, layers)} and by {_end_text(src, True, layers)}; each "
                f"{kind} takes exactly one connection."
            )
        fed[dst] = src
    return fed


def _implicit_inputs(layers: dict[Key, Layer], fed: dict[NetPort, NetPort]) -> list[Edge]:
    """Connections from graph inputs to the unconnected layer inputs, named after them (so the
    unconnected inputs of one name share a graph input)."""
    return [(NetPort(name), NetPort(key, name))
            for key, layer in layers.items() for name in layer._input_names if NetPort(key, name) not in fed]


def _implicit_outputs(layers: dict[Key, Layer], used: set[NetPort], taken: list[str]) -> list[Edge]:
    """Connections from the unused layer outputs to graph outputs named after them, numbered
    when several share a name; ``taken`` are the names of the graph outputs already made."""
    dangling = [(key, name) for key, layer in layers.items()
                for name in layer._output_names if NetPort(key, name) not in used]
    counts = Counter(name for _, name in dangling)
    numbers: Counter[str] = Counter()
    taken = list(taken)
    result: list[Edge] = []
    for key, name in dangling:
        numbers[name] += 1
        graph_name = name if counts[name] == 1 else f"{name}{numbers[name]}"
        if graph_name in taken:
            raise NetSpecificationError(
                f'NetGraph: the unconnected port "{name}" of {layer_text(key, layers[key])} would '
                f'become the graph output "{graph_name}", but a connection already ends at '
                f'NetPort("{graph_name}"); give that output another name, or connect or mute this '
                f"one with ({key!r}, None)."
            )
        taken.append(graph_name)
        result.append((NetPort(key, name), NetPort(graph_name)))
    return result


def infer(
    layers: dict[Key, Layer], edges: Sequence[Connection], specs: dict[str, TensorT]
) -> tuple[Wiring, tuple[tuple[Key, Layer], ...], dict[str, TensorT]]:
    """Wire a graph and infer its types (see the module doc): its wiring, its layers with every dim
    that can be inferred, and its ports' types, inputs first. ``specs`` are the types given by
    port options."""
    layers = fit_ports(layers, edges)
    wiring = wire(layers, edges)
    names = (*wiring.inputs, *wiring.outputs)
    for name in specs:
        if name not in names:
            raise NetSpecificationError(
                f'NetGraph: there is no graph port "{name}".{closest(name, names)} The ports are: '
                f"{', '.join(names)}."
            )
    inference = _Inference(layers, {name: specs.get(name, TensorT(None)) for name in names}, specs)
    for _ in range(1000):  # types only narrow, so a fixed point comes; the bound is a guard
        narrowed = [edge for edge in wiring.edges if inference.meet(*edge)]  # every edge, each sweep
        if not narrowed:
            break
    return wiring, tuple(inference.layers.items()), inference.types


class _Inference:
    """The types known so far: the graph's layers, narrowed as dims are learned, and its ports'
    types, with why each has its type (for errors)."""

    def __init__(self, layers: dict[Key, Layer], types: dict[str, TensorT], specs: dict[str, TensorT]) -> None:
        self.layers = dict(layers)
        self.types = types
        # Why a graph port has its type: the option, or the layer port it met first.
        self.origins = {name: f"given by the option {name}={port_spec(t)!r}"
                        for name, t in types.items() if name in specs and t.dims is not None}

    def type_of(self, end: NetPort, source: bool) -> TensorT:
        """The type at ``end``, the source (a layer's output) or destination of a connection."""
        if end.layer is None:
            return self.types[end.port]
        layer = self.layers[end.layer]
        return (layer._output_types() if source else layer._input_types())[end.port]

    def meet(self, src: NetPort, dst: NetPort) -> bool:
        """Unify the types at the two ends of a connection; whether either end narrowed."""
        ts, td = self.type_of(src, True), self.type_of(dst, False)
        try:
            t = unify(ts, td, "")
        except NetShapeError:
            raise NetShapeError(
                f"NetGraph: {self.end_text(src, True)} {'gives' if src.layer is not None else 'is'} "
                f"{describe(ts)}, but {self.end_text(dst, False)} "
                f"{'needs' if dst.layer is not None else 'is'} {describe(td)}."
            ) from None
        if t != ts:
            self.narrow(src, t, dst)
        if t != td:
            self.narrow(dst, t, src)
        return t != ts or t != td

    def narrow(self, end: NetPort, t: TensorT, other: NetPort) -> None:
        """Narrow the type at ``end`` to ``t``, learned from the other end of its connection."""
        if end.layer is None:
            self.types[end.port] = t
            if other.layer is not None:
                self.origins.setdefault(end.port, f"set by {self.end_text(other, False)}")
        else:
            where = f"NetGraph: {layer_text(end.layer, self.layers[end.layer])}"
            self.layers[end.layer] = narrow(self.layers[end.layer], end.port, t, where)

    def end_text(self, end: NetPort, source: bool) -> str:
        return _end_text(end, source, self.layers, self.origins)


def _order(layers: dict[Key, Layer], edges: Sequence[Edge]) -> tuple[Key, ...]:
    """The layer keys in an order that runs each after its sources (the given order when free)."""
    before: dict[Key, set[Key]] = {key: set() for key in layers}
    for src, dst in edges:
        if src.layer is not None and dst.layer is not None:
            before[dst.layer].add(src.layer)
    order: list = []
    placed: set = set()
    while len(order) < len(layers):
        ready = next((k for k in layers if k not in placed and before[k] <= placed), None)
        if ready is None:
            raise NetSpecificationError(_cycle_text(layers, before, placed))
        order.append(ready)
        placed.add(ready)
    return tuple(order)


def _cycle_text(layers: dict[Key, Layer], before: dict[Key, set[Key]], placed: set[Key]) -> str:
    # Every remaining layer waits on a remaining one, so walking back from any of them must repeat.
    key = next(k for k in layers if k not in placed)
    path = [key]
    while True:
        key = next(k for k in layers if k in before[key] and k not in placed)
        if key in path:
            cycle = path[path.index(key):][::-1]
            break
        path.append(key)
    rank = {k: i for i, k in enumerate(layers)}
    first = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
    cycle = cycle[first:] + cycle[:first]
    cycle.append(cycle[0])
    steps = " -> ".join(layer_text(k, layers[k]) for k in cycle)
    return (
        f"NetGraph: the connections form a cycle: {steps}. A NetGraph must be acyclic; remove one of "
        "these connections."
    )
