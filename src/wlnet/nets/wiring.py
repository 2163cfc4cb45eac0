"""NetPort and the wiring of a NetGraph: its connections checked, its ports made, its layers ordered.

(Module docstring: to be completed.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..errors import NetSpecificationError, closest
from ..layers.base import Layer
from .container import Key, layer_text

__all__ = ["Edge", "NetPort", "Wiring", "parse_edges", "wire"]


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


def parse_edges(edges: object, layers: dict[Key, Layer]) -> tuple[tuple[NetPort, NetPort | None], ...]:
    """The user's connections as (source, destination) NetPort pairs; destination None mutes."""
    # A bare tuple of layer keys, (1, 2), is one connection given without its enclosing list.
    single = isinstance(edges, tuple) and not any(isinstance(e, (list, tuple)) for e in edges)
    if not isinstance(edges, (list, tuple)) or single and edges:
        raise NetSpecificationError(
            f"NetGraph: the connections should be a list of tuples such as [(1, 2), (2, 3)], not "
            f"{edges!r}."
        )
    result: list[tuple[NetPort, NetPort | None]] = []
    for edge in edges:
        if not isinstance(edge, tuple) or len(edge) < 2:
            raise NetSpecificationError(
                f"NetGraph: the connection {edge!r} should be a tuple (source, destination), or a "
                "chain (a, b, c, ...) meaning a -> b -> c; write [(1, 2)], not [[1, 2]]."
            )
        for i in range(len(edge) - 1):
            src, dst = edge[i], edge[i + 1]
            if src is None:
                raise NetSpecificationError(
                    f"NetGraph: in the connection {edge!r}, None may only end a connection (it "
                    "mutes the output before it)."
                )
            if isinstance(dst, list) or isinstance(src, list) and i > 0:
                raise NetSpecificationError(
                    f"NetGraph: in the connection {edge!r}, only the first element may be a list "
                    "(several sources feeding one layer's input ports in order); to send one "
                    "output to several layers, write one connection per layer."
                )
            sources = src if isinstance(src, list) else [src]
            if not sources:
                raise NetSpecificationError(f"NetGraph: in the connection {edge!r}, the list of sources is empty.")
            starts = [_endpoint(s, True, layers, edge) for s in sources]
            if dst is None:
                for start in starts:
                    if start.layer is None:
                        raise NetSpecificationError(
                            f"NetGraph: in the connection {edge!r}, only a layer's output can be "
                            f"muted with None, not the graph input {start!r}."
                        )
                    result.append((start, None))
                continue
            if len(starts) == 1:
                result.append((starts[0], _endpoint(dst, False, layers, edge)))
                continue
            if isinstance(dst, NetPort):
                raise NetSpecificationError(
                    f"NetGraph: in the connection {edge!r}, {len(starts)} sources cannot all feed "
                    f"{dst!r}: a port takes one connection. A list of sources feeds the input "
                    "ports of a layer in order: ([1, 2], 3)."
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
            result.extend((start, NetPort(key, name)) for start, name in zip(starts, names))
    return tuple(result)


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


def wire(layers: dict[Key, Layer], edges: tuple[tuple[NetPort, NetPort | None], ...]) -> Wiring:
    """Check the connections, make the graph's ports and order the layers (see the module doc)."""
    for src, dst in edges:
        if src.layer is not None:
            _check_layer_port(src, layers, True)
        if dst is not None and dst.layer is not None:
            _check_layer_port(dst, layers, False)

    def end_text(end: NetPort, source: bool) -> str:
        if end.layer is None:
            return f'graph {"input" if source else "output"} "{end.port}"'
        return f'{layer_text(end.layer, layers[end.layer])} port "{end.port}"'

    fed: dict = {}
    for src, dst in edges:
        if dst is None:
            continue
        if dst in fed:
            kind = "input port of a layer" if dst.layer is not None else "output port of the graph"
            raise NetSpecificationError(
                f"NetGraph: {end_text(dst, False)} is fed twice, by {end_text(fed[dst], True)} and by "
                f"{end_text(src, True)}; each {kind} takes exactly one connection."
            )
        fed[dst] = src
    all_edges = [(src, dst) for src, dst in edges if dst is not None]
    inputs = list(dict.fromkeys(src.port for src, _ in all_edges if src.layer is None))
    outputs = [dst.port for _, dst in all_edges if dst.layer is None]
    used = {src for src, _ in edges if src.layer is not None}
    dangling = []
    for key, layer in layers.items():
        for name in layer._input_names:
            if NetPort(key, name) not in fed:  # unconnected inputs of one name share a graph input
                all_edges.append((NetPort(name), NetPort(key, name)))
                if name not in inputs:
                    inputs.append(name)
        dangling += [(key, name) for name in layer._output_names if NetPort(key, name) not in used]
    counts = Counter(name for _, name in dangling)
    numbers: Counter = Counter()
    for key, name in dangling:
        numbers[name] += 1
        graph_name = name if counts[name] == 1 else f"{name}{numbers[name]}"
        if graph_name in outputs:
            raise NetSpecificationError(
                f'NetGraph: the unconnected port "{name}" of {layer_text(key, layers[key])} would '
                f'become the graph output "{graph_name}", but a connection already ends at '
                f'NetPort("{graph_name}"); give that output another name, or connect or mute this '
                f"one with ({key!r}, None)."
            )
        outputs.append(graph_name)
        all_edges.append((NetPort(key, name), NetPort(graph_name)))
    both = [name for name in inputs if name in outputs]
    if both:
        raise NetSpecificationError(
            f'NetGraph: "{both[0]}" would be both an input and an output port of the graph; graph '
            "ports need distinct names (write NetPort('name') with another name)."
        )
    return Wiring(tuple(all_edges), tuple(inputs), tuple(outputs), _order(layers, all_edges))


def _order(layers: dict[Key, Layer], edges: list[Edge]) -> tuple[Key, ...]:
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
