"""What NetChain and NetGraph share: parts addressed by position or name, leaves, coders.

A container keeps the layers as given (``_params["layers"]``, pairs of key and layer; keys are
1-based ints or names) and the port specifications the user gave (``_params["port_specs"]``).
Shape inference derives, from both, the layers with every dim that can be inferred
(``_children()``) and the container's own port types (``_ports``). Verbs that change arrays map
over the inferred leaves, whose dims are then known.
"""

from __future__ import annotations

from ..coders import NetDecoder, NetEncoder
from ..errors import NetShapeError, NetSpecificationError, closest
from ..layers.base import _REPR_MAX_ELEMENTS, Layer, parse_multiplier, position_text
from ..symbols import Automatic
from ..types import TensorT, as_int, describe, parse_port, unify

__all__ = [
    "Container", "Key", "layer_text", "layers_argument", "layers_text", "narrow", "port_option", "position_text",
    "with_multiplier",
]

Key = str | int  # a part's key: its 1-based position, or its name


def layer_text(key: str | int, layer: Layer) -> str:
    """How errors name a container's part: ``layer 2 (LinearLayer)``, ``layer 'relu' (...)``."""
    label = f"layer {key}" if isinstance(key, int) else f"layer {key!r}"
    return f"{label} ({layer._where})"


def port_option(where: str, port: str, spec, is_input: bool) -> tuple[NetEncoder | NetDecoder | None, TensorT]:
    """A container's port option: (the NetEncoder/NetDecoder or None, the port's type)."""
    if isinstance(spec, str) and spec == "Boolean":
        spec = NetEncoder("Boolean") if is_input else NetDecoder("Boolean")
    if isinstance(spec, (NetEncoder, NetDecoder)):
        if isinstance(spec, NetEncoder) != is_input:
            raise NetSpecificationError(
                f'{where}: "{port}" is an {"input" if is_input else "output"} port, so it takes a '
                f"{'NetEncoder' if is_input else 'NetDecoder'}, not {spec!r}."
            )
        return spec, spec.type
    return None, parse_port(spec, f'{where}: the "{port}" option')


def narrow(layer: Layer, port: str, t: TensorT, where: str) -> Layer:
    """``layer`` with ``port`` unified with ``t`` (a new layer only when something is learned)."""
    old = layer._ports[port]
    try:
        new = unify(old, t, where)
    except NetShapeError:
        raise NetShapeError(f"{where}: {describe(old)} is inconsistent with {describe(t)}.") from None
    if new == old:
        return layer
    try:
        return layer._evolve(ports={port: new})
    except NetShapeError as error:
        reason = str(error).removeprefix(f"{layer._where}: ")
        raise NetShapeError(f"{where}: {reason}") from None


def with_multiplier(items: list[tuple[Key, Layer]], value, where: str) -> list[tuple[Key, Layer]]:
    """The parts with the LearningRateMultipliers ``value`` set on every array inside them; the
    parts as they are when ``value`` is Automatic."""
    multiplier = parse_multiplier(value, where)
    if multiplier is Automatic:
        return items

    def set_multiplier(position: tuple, leaf: Layer) -> Layer:
        return leaf._evolve(multipliers={name: multiplier for name in leaf._array_names})

    return [(key, layer._map_leaves(set_multiplier)) for key, layer in items]


def layers_argument(items) -> list[Layer] | dict[str, Layer]:
    """The layers argument of a container's constructor: a list, or a dict by name."""
    if isinstance(items[0][0], int):
        return [layer for _, layer in items]
    return dict(items)


def layers_text(items) -> str:
    """The layers argument of a container's constructor expression: a list, or a dict by name."""
    if isinstance(items[0][0], int):
        return "[" + ", ".join(repr(layer).split("  #")[0] for _, layer in items) + "]"
    return "{" + ", ".join(f"{k!r}: {repr(layer).split('  #')[0]}" for k, layer in items) + "}"


_REPR_LEFT_OUT_SHOWN = 8  # a big net's repr names its first few left-out arrays, then counts the rest


class Container(Layer):
    """Base of NetChain and NetGraph. Subclasses compute ``_children`` and ``_ports`` in ``_infer``."""

    def _set_state(self, params, ports, arrays, multipliers) -> None:
        params.setdefault("port_specs", dict(ports))
        super()._set_state(params, dict(params["port_specs"]), arrays, multipliers)

    def _evolve(self, *, params=None, ports=None, arrays=None, multipliers=None):
        params = {**self._params, **(params or {})}
        specs = dict(params["port_specs"])
        for name, t in (ports or {}).items():
            specs[name] = unify(specs.get(name, t), t, f'{self._where}: port "{name}"')
        params["port_specs"] = specs
        return self._rebuilt(params)

    def _rebuilt(self, params: dict) -> Container:
        """A container of this type with these parameters (its layers, port specifications,
        coders, ...), its shapes inferred afresh."""
        new = object.__new__(type(self))
        new._set_state(params, dict(params["port_specs"]), {}, {})
        return new

    @property
    def _where(self) -> str:
        return type(self).__name__

    @property
    def _input_names(self) -> tuple[str, ...]:
        return tuple(name for name in self._ports if name in self._port_roles["inputs"])

    @property
    def _output_names(self) -> tuple[str, ...]:
        return tuple(name for name in self._ports if name in self._port_roles["outputs"])

    @property
    def _port_roles(self) -> dict:
        return {"inputs": ("Input",), "outputs": ("Output",)}

    def _children(self) -> tuple:
        """The layers with their inferred dims, as (key, layer) pairs."""
        return self._params["layers"]

    def _leaf_layers(self):
        return [((key, *position), leaf)
                for key, child in self._children()
                for position, leaf in child._leaf_layers()]

    def __repr__(self) -> str:
        """The constructor, with a comment for every array it leaves out (more than 16 values):
        its position (as ``Information(net, "ArraysPositionList")`` gives it, and NetExtract
        reads), dims, min and max, as a lone layer's repr says them. So ``eval(repr(net))`` is
        the net exactly when the comment names no array."""
        text = super().__repr__()
        left_out = [
            f"{(*position, name)!r}: dims {value.shape}, min {value.min():g}, max {value.max():g}"
            for position, leaf in self._leaf_layers()
            for name in leaf._array_names
            if (value := leaf._arrays[name]) is not Automatic and value.size > _REPR_MAX_ELEMENTS
        ]
        if len(left_out) > _REPR_LEFT_OUT_SHOWN:
            rest = len(left_out) - _REPR_LEFT_OUT_SHOWN + 1
            left_out[_REPR_LEFT_OUT_SHOWN - 1:] = [
                f'{rest} more arrays left out (Information(net, "Arrays") has them all)'
            ]
        if not left_out:
            return text
        return text + ("; " if "  # " in text else "  # ") + "; ".join(left_out)

    def _map_leaves(self, fn, prefix=()):
        children = tuple((key, child._map_leaves(fn, (*prefix, key))) for key, child in self._children())
        return self._evolve(params={"layers": children})

    def _array_dims(self, name: str):
        return None

    def _value(self) -> tuple:
        """Containers are equal when their inferred parts, port types and coders are."""
        coders = tuple(self._params.get("coders", {}).items())
        return (tuple(self._children()), tuple(self._ports.items()), coders)

    def _with_port(self, port: str, t, coder=None):
        params = dict(self._params)
        coders = {name: value for name, value in params.get("coders", {}).items() if name != port}
        if coder is not None:
            coders[port] = coder
        specs = {**params["port_specs"], port: t}
        params.update(coders=coders, port_specs=specs)
        return self._rebuilt(params)

    def _coder(self, port: str):
        return self._params.get("coders", {}).get(port)

    def _part_key(self, spec):
        """The key of the part that ``spec`` (1-based int, negative from the end, or name) names."""
        keys = [key for key, _ in self._children()]
        if isinstance(spec, str):
            if spec in keys:
                return spec
            names = [k for k in keys if isinstance(k, str)]
            raise NetSpecificationError(
                f"{self._where}: there is no layer named {spec!r}.{closest(spec, names)} "
                + (f"The layers are: {', '.join(map(repr, keys))}." if names else
                   f"The layers are numbered 1 to {len(keys)}.")
            )
        index = as_int(spec)
        if index is None or index == 0 or abs(index) > len(keys):
            raise NetSpecificationError(
                f"{self._where}: {spec!r} is not a part; parts are numbered 1 to {len(keys)} "
                "(or -1 for the last)" + (f", or named {', '.join(map(repr, keys))}" if
                                          isinstance(keys[0], str) else "") + "."
            )
        return keys[index - 1 if index > 0 else index]

    def _part(self, spec) -> Layer:
        key = self._part_key(spec)
        return dict(self._children())[key]

    def _replace_child(self, spec, layer: Layer):
        """This container with the part ``spec`` replaced by ``layer`` (shapes inferred again)."""
        key = self._part_key(spec)
        layers = tuple((k, layer if k == key else child) for k, child in self._params["layers"])
        return self._evolve(params={"layers": layers})
