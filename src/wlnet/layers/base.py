"""What every layer shares: immutability, value equality, arrays, ports, multipliers, repr.

A layer is a value. Its state lives in four dicts set once at construction (``_params``,
``_ports``, ``_arrays``, ``_multipliers``), after which the layer is frozen; verbs such as
NetInitialize build a new layer with :meth:`Layer._evolve`, which re-runs shape inference, so a
layer's types are always consistent with its arrays. The only mutable part is a private cache
(``_cache``, bounded) that evaluation fills with specialized nets and lowered modules.

The methods below that start with one underscore are the net protocol that the verbs, the
lowering (:mod:`wlnet.lower`) and evaluation (:mod:`wlnet.evaluate`) use; a new layer implements
``_infer``, ``_array_dims``, ``_torch_module`` and ``_constructor`` and sets its port and array
names.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..arrays import array_key, floating_input
from ..cache import EvaluationCache
from ..display import net_html
from ..errors import NetDataError, NetInitializationError, NetOptionError
from ..evaluate import apply_net
from ..lower import array_multipliers, array_slots, lower
from ..symbols import Automatic
from ..types import TensorT, port_spec

__all__ = ["Layer", "module_input", "parse_multiplier", "position_text"]


def parse_multiplier(value: Any, where: str) -> Any:
    """A LearningRateMultipliers value: Automatic, a real number, or None (= 0, frozen)."""
    if value is Automatic:
        return Automatic
    if value is None:
        return 0.0
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise NetOptionError(
        f"{where}: the value of LearningRateMultipliers should be Automatic, a finite real number "
        f"or None (0 freezes the array), but was {value!r}."
    )


def module_input(x: torch.Tensor, dtype: torch.dtype, where: str, arrays: str = "weights") -> torch.Tensor:
    """A torch module's input as :func:`~wlnet.arrays.floating_input` makes it, or a NetDataError
    where its floating type is not ``dtype``, its ``arrays``' (outside autocast, which casts for itself)."""
    x = floating_input(x, dtype, where)
    if x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        raise NetDataError(
            f"{where}: the input is a tensor of {x.dtype}, but the {arrays} are {dtype}; convert the input "
            f"(x.to({dtype})) or the module (module.to({x.dtype}))."
        )
    return x


def position_text(position: tuple) -> str:
    """A part's position as users write it: ``2``, ``'relu'``, ``(2, 'Slope')``."""
    return repr(position[0]) if len(position) == 1 else repr(position)


class Layer:
    """Base class of wlnet layers and containers (see the module doc for the protocol)."""

    _params: dict[str, Any]
    _ports: dict[str, TensorT]
    _arrays: dict[str, Any]  # array name -> read-only float32 ndarray, or Automatic
    _multipliers: dict[str, Any]  # array name -> float, or Automatic (1)
    _cache: EvaluationCache  # bounded: see EvaluationCache.LIMIT
    _frozen: bool = False

    # -- immutability and equality --------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(
                f"{type(self).__name__} is an immutable value; verbs such as NetInitialize return a "
                "new net."
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def _set_state(self, params: dict, ports: dict, arrays: dict, multipliers: dict) -> None:
        self._params = params
        self._ports = ports
        self._arrays = arrays
        self._multipliers = multipliers
        self._cache = EvaluationCache()
        self._infer()
        self._frozen = True

    def _evolve(self, *, params=None, ports=None, arrays=None, multipliers=None) -> Layer:
        """A new layer of the same type with some state replaced, its shapes inferred again."""
        new = object.__new__(type(self))
        new._set_state(
            {**self._params, **(params or {})},
            {**self._ports, **(ports or {})},
            {**self._arrays, **(arrays or {})},
            {**self._multipliers, **(multipliers or {})},
        )
        return new

    def _value(self) -> tuple:
        """What equality compares: the layer's parameters, port types, arrays (bit for bit) and
        multipliers. Containers compare their inferred parts instead."""
        arrays = tuple((name, array_key(value)) for name, value in self._arrays.items())
        return (tuple(self._params.items()), tuple(self._ports.items()), arrays, tuple(self._multipliers.items()))

    def __eq__(self, other: object) -> bool:
        """Nets are equal when they are the same expression: same structure, options, port
        types, multipliers and bit-identical arrays (as Wolfram's SameQ on nets)."""
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Layer)
        return self._value() == other._value()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._constructor()))

    def __copy__(self) -> Layer:
        return self

    def __deepcopy__(self, memo) -> Layer:
        return self

    def __reduce__(self):
        # wlnet's own layers are pickled as their net file (wlnet.files registers that with
        # copyreg), so that unpickling runs nothing but wlnet's loader; any other is refused.
        raise TypeError(
            f"{self._where}: a {type(self).__name__} cannot be pickled; save it with Export(path, net) "
            "or ExportByteArray(net)."
        )

    # -- what subclasses provide --------------------------------------------------------------
    @property
    def _input_names(self) -> tuple[str, ...]:
        return ("Input",)

    @property
    def _output_names(self) -> tuple[str, ...]:
        return ("Output",)

    @property
    def _array_names(self) -> tuple[str, ...]:
        return ()

    #: Whether the input ports take their sources in order (TotalLayer, CatenateLayer): in a
    #: NetGraph, ``([a, b], layer)`` and the connections ``a -> layer``, ``b -> layer`` feed them in
    #: turn, and applied directly the layer takes a list of arrays, one per port.
    _ports_in_order = False

    def _with_input_count(self, n: int) -> Layer | None:
        """This layer with ``n`` input ports, for a layer whose number of ports is not fixed yet
        (``TotalLayer()``, ``CatenateLayer()``: InputPorts Automatic); None for every other."""
        return None

    def _infer(self) -> None:
        """Make ports and arrays consistent (writing into the state dicts), or raise NetShapeError."""
        raise NotImplementedError

    def _array_dims(self, name: str) -> tuple | None:
        """The dims of array ``name``, or None while they are not known."""
        raise NotImplementedError

    def _array_dims_hint(self, name: str) -> str:
        """Why array ``name``'s dims are unknown and how to give them, for NetInitialize's error."""
        return "its dims are not known yet; give the input dims with the Input option."

    def _torch_module(self) -> torch.nn.Module:
        """A fresh module computing this (initialized) net, batch first, whose ``state_dict()``
        keys are its array paths (see :mod:`wlnet.lower`, which sets the multipliers)."""
        raise NotImplementedError

    def _constructor(self) -> str:
        """An evaluable constructor expression, without arrays too large to print."""
        raise NotImplementedError

    def _arguments(self) -> tuple[tuple, dict[str, Any]]:
        """``(args, options)`` such that ``type(self)(*args, **options)`` is this net without its
        arrays (its ports, levels, sizes, coders, multipliers and parts, as given or inferred).
        The values are those the net file's description stores (:mod:`wlnet.serialize`): numbers,
        strings, tuples, dicts, ``Automatic``/``All``, ``Span``, functions of :mod:`wlnet.functions`,
        coders, NetPorts and layers. Saving a net and NetTrain's checkpoints rely on it."""
        raise NotImplementedError

    # -- the net protocol -----------------------------------------------------------------------
    @property
    def _where(self) -> str:
        """How errors name this layer."""
        return type(self).__name__

    def _input_types(self) -> dict[str, TensorT]:
        return {name: self._ports[name] for name in self._input_names}

    def _output_types(self) -> dict[str, TensorT]:
        return {name: self._ports[name] for name in self._output_names}

    def _with_input_type(self, port: str, t: TensorT) -> Layer:
        """This layer with input ``port`` narrowed to ``t`` (shape inference runs again)."""
        return self._evolve(ports={port: t})

    def _with_port(self, port: str, t: TensorT, coder: Any = None) -> Layer:
        """This net with port ``port`` given anew as ``t`` (with a NetEncoder or NetDecoder, for
        containers), its shapes inferred again: NetReplacePart's port replacement."""
        return self._evolve(ports={port: t})

    def _leaf_layers(self) -> list[tuple[tuple, Layer]]:
        """(position, layer) for every layer inside; a bare layer is itself at position ()."""
        return [((), self)]

    def _layers_graph(self) -> dict:
        """Which part feeds which: {position: [positions it feeds]}; a bare layer feeds nothing."""
        return {(): []}

    def _map_leaves(self, fn: Callable[[tuple, Layer], Layer], prefix: tuple = ()) -> Layer:
        """The net with every leaf layer replaced by ``fn(position, leaf)``."""
        return fn(prefix, self)

    def _coder(self, port: str) -> Any:
        """The NetEncoder or NetDecoder attached to ``port``, or None."""
        return None

    def _array(self, name: str) -> Any:
        """Array ``name``: a read-only float32 NumPy array, or ``Automatic`` while uninitialized."""
        return self._arrays[name]

    def _with_arrays(self, arrays: Mapping[str, Any]) -> Layer:
        """This layer with the given arrays (read-only float32 arrays or Automatic) replaced."""
        return self._evolve(arrays=dict(arrays)) if arrays else self

    def _multiplier(self, name: str) -> float:
        """The learning-rate multiplier set on this layer for array ``name`` (1 when not set)."""
        value = self._multipliers.get(name, Automatic)
        return 1.0 if value is Automatic else value

    def _require_initialized(self, action: str) -> None:
        missing = next((slot for slot in array_slots(self) if slot.value is Automatic), None)
        if missing is None:
            return
        part = missing.position[:-1]
        if part:
            raise NetInitializationError(
                f'{self._where}: cannot {action}: the array "{missing.name}" of layer '
                f"{position_text(part)} ({missing.layer._where}) is not initialized. Use "
                "NetInitialize(net) first."
            )
        dims = missing.known_dims
        shape = f" (dims {dims})" if dims is not None else ""
        raise NetInitializationError(
            f'{self._where}: cannot {action}: the array "{missing.name}"{shape} is not initialized. '
            f"Use NetInitialize(net) first, or give {missing.name}=... when constructing the layer."
        )

    # -- public ---------------------------------------------------------------------------------
    def to_torch(self) -> torch.nn.Module:
        """This net as a plain ``torch.nn.Module``, batch first (see :mod:`wlnet.lower`).

        Its ``state_dict()`` keys are the net's array paths (``"Slope"``, ``"2.Slope"``,
        ``"ramp.Weights"``) and its parameters are copies of the net's arrays (the net itself
        never changes); an array whose LearningRateMultipliers value is 0 has
        ``requires_grad=False``, and each parameter carries its multiplier as ``lr_multiplier``.
        ``wlnet.lower.with_arrays(net, module.state_dict())`` gives the net back with the
        module's values.
        """
        return lower(self)

    def __call__(self, data, *args, **options):
        """Apply the net to one example or a batch; see :func:`wlnet.evaluate.apply_net`."""
        return apply_net(self, data, *args, **options)

    def __repr__(self) -> str:
        state = []
        for name in self._array_names:
            value = self._arrays[name]
            if value is Automatic:
                dims = self._array_dims(name)
                dims_text = "unknown" if dims is None or None in dims else str(tuple(dims))
                state.append(f"{name}: uninitialized, dims {dims_text}")
            elif value.size > _REPR_MAX_ELEMENTS:
                state.append(
                    f"{name}: dims {value.shape}, min {value.min():g}, max {value.max():g}"
                )
        for name in self._input_names:
            if self._ports[name].dims is None:
                state.append(f"{name}: {'rank' if self._ports[name].leading else 'dims'} unknown")
        text = self._constructor()
        return text + ("  # " + "; ".join(state) if state else "")

    def _repr_html_(self) -> str:
        """The summary panel Jupyter shows (:mod:`wlnet.display`); ``repr`` stays the constructor."""
        return net_html(self, array_slots(self), array_multipliers(self))

    def _repr_options(self) -> list[str]:
        """``Name=value`` texts for the ports and arrays, shared by the subclasses' constructors."""
        options = self._port_arguments()
        multiplier = options.pop("LearningRateMultipliers", None)
        parts = [f"{name}={spec!r}".replace("Ellipsis", "...") for name, spec in options.items()]
        for name in self._array_names:
            value = self._arrays[name]
            if value is not Automatic and value.size <= _REPR_MAX_ELEMENTS:
                parts.append(f"{name}={_array_text(value)}")
        if multiplier is not None:
            parts.append(f"LearningRateMultipliers={_number_text(multiplier)}")
        return parts

    def _output_option(self, args: tuple, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``{"Output": dims}`` where the output's dims say more than ``type(self)(*args, **options)``
        infers from this layer's Input, else ``{}``: the Output option of :meth:`_arguments` and of
        the constructor text, for a layer with one Input and one Output port."""
        make: Any = type(self)  # a layer that takes Input
        implied = make(*args, **(options or {}), Input=port_spec(self._ports["Input"]))
        out = self._ports["Output"]
        return {} if implied._ports["Output"] == out else {"Output": port_spec(out)}

    def _port_arguments(self) -> dict[str, Any]:
        """The options of :meth:`_arguments` that a leaf layer shares: its input ports' dims as
        inferred, and its learning-rate multiplier when one is set (one for all its arrays)."""
        options: dict[str, Any] = {}
        for name in self._input_names:
            spec = port_spec(self._ports[name])
            if spec is not Automatic:
                options[name] = spec
        given = {value for value in self._multipliers.values() if value is not Automatic}
        if given:
            options["LearningRateMultipliers"] = min(given)
        return options


_REPR_MAX_ELEMENTS = 16


def _number_text(value: float) -> str:
    """A float as the shortest literal that gives it back: ``0``, ``0.5``, ``0.3333333333333333``."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _array_text(array: np.ndarray) -> str:
    """A float32 array as the shortest literal that gives back the same float32 values."""
    def text(a):
        if a.ndim == 0:
            return repr(float(str(a)))  # str of a float32 is its shortest round-trip form
        return "[" + ", ".join(text(x) for x in a) + "]"

    return text(array)
