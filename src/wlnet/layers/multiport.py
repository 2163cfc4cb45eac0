"""What the layers with any number of input ports share (TotalLayer, CatenateLayer): the
``InputPorts`` option, ports fed in order, and the number of ports fixed by a NetGraph's wiring.

``InputPorts`` takes the forms of Wolfram's option:

* ``Automatic`` (the default): the number of ports is not fixed yet. The layer has no input port
  until a NetGraph connects its sources (``([a, b], layer)`` or the connections ``a -> layer``,
  ``b -> layer`` in order: ports "Input1", "Input2", ...), or until it is applied to a list of
  arrays (``layer([x1, x2])``) or a dict ``{"Input1": x1, "Input2": x2}``;
* ``n``: n ports "Input1" ... "Input<n>", dims unknown;
* ``["a", "b"]``: ports with these names, dims unknown;
* ``[shape1, shape2, ...]``: ports "Input1", ... with these dims (``3``, ``(2, 3)``, ``"Real"``,
  ``("Varying", 3)``, ``Automatic``); a string that is not ``"Real"`` or ``"Varying"`` is a name;
* ``{"a": shape1, "b": shape2}``: named ports with dims.

A layer whose ports are fixed prints its InputPorts in the shortest of these forms that says
everything known: ``n`` while no dims are known, the shapes list for the default names, else the
names or the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NetSpecificationError
from ..symbols import Automatic, as_int
from ..types import VARYING, TensorT, parse_port, port_spec, size_text
from .base import Layer

__all__ = ["MAX_PORTS", "MultiportLayer", "default_names", "input_ports_spec", "parse_input_ports"]

_SHAPE_WORDS = ("Real", VARYING)


def default_names(n: int) -> tuple[str, ...]:
    """The names of ``n`` unnamed ports: "Input1", "Input2", ..."""
    return tuple(f"Input{i}" for i in range(1, n + 1))


#: The most input ports a number ``InputPorts=n`` may give (``n`` names are made at once; a list gives
#: as many as it holds).
MAX_PORTS = 100_000


def parse_input_ports(spec: Any, where: str) -> tuple[tuple[str, ...], dict[str, TensorT]]:
    """The port names and types that an ``InputPorts`` value gives; ``((), {})`` for Automatic."""
    if spec is Automatic or spec is None:
        return (), {}
    count = as_int(spec)
    if count is not None and not isinstance(spec, str):
        if count < 1:
            raise NetSpecificationError(
                f"{where}: InputPorts={spec!r} should be a positive number of ports (or Automatic, a list of "
                "names or shapes, or a dict {name: shape})."
            )
        if count > MAX_PORTS:  # each port is made here: 10**9 of them would take hours and all the memory
            raise NetSpecificationError(
                f"{where}: InputPorts={size_text(count)} is more than {MAX_PORTS} ports, the most a layer may have."
            )
        names = default_names(count)
        return names, dict.fromkeys(names, TensorT(None))
    if isinstance(spec, Mapping):
        names = tuple(spec)
        _check_names(names, where)
        return names, {name: parse_port(s, f'{where}: the InputPorts shape of "{name}"') for name, s in spec.items()}
    if isinstance(spec, (list, tuple)) and spec:
        if all(isinstance(s, str) and s not in _SHAPE_WORDS for s in spec):
            names = tuple(spec)
            _check_names(names, where)
            return names, dict.fromkeys(names, TensorT(None))
        if any(isinstance(s, str) and s not in _SHAPE_WORDS for s in spec):
            raise NetSpecificationError(
                f"{where}: InputPorts={spec!r} mixes names and shapes; give names ['a', 'b'], shapes "
                "[3, (2, 3)], or a dict {'a': 3, 'b': (2, 3)}."
            )
        names = default_names(len(spec))
        return names, {name: parse_port(s, f"{where}: the InputPorts shape {i}") for i, (name, s) in
                       enumerate(zip(names, spec), 1)}
    raise NetSpecificationError(
        f"{where}: InputPorts should be Automatic, a number of ports n, a list of names ['a', 'b'] or shapes "
        f"[3, (2, 3)], or a dict {{'a': 3}}, but was {spec!r}."
    )


def _check_names(names: tuple, where: str) -> None:
    for name in names:
        if not isinstance(name, str) or not name:
            raise NetSpecificationError(f"{where}: a port name should be a nonempty string, but {name!r} is not.")
        if name == "Output":
            raise NetSpecificationError(f'{where}: "Output" is the output port; name the input ports otherwise.')
    if len(set(names)) != len(names):
        raise NetSpecificationError(f"{where}: the input port names {list(names)} are not distinct.")


def input_ports_spec(names: tuple[str, ...], types: Mapping[str, TensorT]) -> Any:
    """The shortest ``InputPorts`` value giving these ports (see the module doc); Automatic for none."""
    if not names:
        return Automatic
    specs = [port_spec(types[name]) for name in names]
    unknown = all(spec is Automatic for spec in specs)
    if names == default_names(len(names)):
        return len(names) if unknown else specs
    if unknown and not any(name in _SHAPE_WORDS for name in names):
        return list(names)
    return dict(zip(names, specs))


class MultiportLayer(Layer):
    """Base of the layers whose input ports take their sources in order (see the module doc).

    ``_params["ports"]`` holds the input port names (``()`` while InputPorts is Automatic); the
    subclass's ``_infer`` relates their types and the "Output" type.
    """

    _ports_in_order = True

    def _set_ports(self, params: dict, input_ports: Any, output: Any, where: str) -> None:
        names, types = parse_input_ports(input_ports, where)
        ports = {**types, "Output": parse_port(output, f'{where}: the "Output" option')}
        self._set_state({**params, "ports": names}, ports, {}, {})

    @property
    def _input_names(self) -> tuple[str, ...]:
        return self._params["ports"]

    def _with_input_count(self, n: int) -> Layer | None:
        """This layer with ``n`` ports "Input1" ... when its InputPorts is Automatic, else None."""
        if self._params["ports"]:
            return None
        names = default_names(n)
        new = object.__new__(type(self))
        new._set_state({**self._params, "ports": names},
                       {**dict.fromkeys(names, TensorT(None)), "Output": self._ports["Output"]}, {}, {})
        return new

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    def _input_ports_spec(self) -> Any:
        return input_ports_spec(self._input_names, self._ports)

    def _options(self) -> dict[str, Any]:
        """InputPorts (unless Automatic) and Output (when it says more than the inputs imply)."""
        options: dict[str, Any] = {}
        spec = self._input_ports_spec()
        if spec is not Automatic:
            options["InputPorts"] = spec
        make: Any = type(self)  # TotalLayer or CatenateLayer, which take InputPorts
        implied = make(*self._level_arguments(), InputPorts=spec)._ports["Output"]
        if implied != self._ports["Output"]:
            options["Output"] = port_spec(self._ports["Output"])
        return options

    def _level_arguments(self) -> tuple:
        return ()

    def _arguments(self) -> tuple[tuple, dict]:
        return self._level_arguments(), self._options()

    def _constructor(self) -> str:
        parts = [*map(repr, self._level_arguments())]
        parts += [f"{name}={value!r}".replace("Ellipsis", "...") for name, value in self._options().items()]
        return f"{type(self).__name__}({', '.join(parts)})"
