"""What every layer shares: immutability, arrays, ports, multipliers, repr, evaluation, lowering.

A layer is a value. Its state lives in four dicts set once at construction (``_params``,
``_ports``, ``_arrays``, ``_multipliers``); verbs such as NetInitialize build a new layer with
:meth:`Layer._evolve`, which re-runs shape inference, so a layer's types are always consistent
with its arrays. The only mutable part is a private cache of lowered torch modules.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import (
    NetInitializationError,
    NetOptionError,
    NetSpecificationError,
    non_numeric_text,
)
from ..symbols import Automatic
from ..types import TensorT, describe, port_spec

__all__ = ["Layer", "as_array", "parse_multiplier"]


def as_array(value, where: str) -> np.ndarray:
    """A user-given array (number, nested lists, NumPy, torch) as a read-only float32 NumPy array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, bool) or value is None:
        raise NetSpecificationError(f"{where} should be a real number or an array of them, not {value!r}.")
    try:
        array = np.asarray(value)
    except ValueError:
        raise NetSpecificationError(
            f"{where} should be a real number or a rectangular array of them, but it is ragged "
            "(its sublists have different lengths)."
        ) from None
    if array.dtype.kind not in "iuf":
        raise NetSpecificationError(
            f"{where} should be a real number or an array of them, but {non_numeric_text(array)}."
        )
    if array.size == 0:
        raise NetSpecificationError(f"{where} should be a real number or an array of them, but it is empty.")
    array = np.array(array, dtype=np.float32)  # always a copy: the caller's array stays theirs
    array.flags.writeable = False
    return array


def parse_multiplier(value, where: str):
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


class Layer:
    """Base class of wlnet layers. Subclasses set ``_input_names``, ``_output_names``,
    ``_array_names`` and implement ``_infer``, ``_array_dims``, ``_lower`` and ``_constructor``."""

    _input_names: tuple[str, ...] = ("Input",)
    _output_names: tuple[str, ...] = ("Output",)
    _array_names: tuple[str, ...] = ()

    # -- immutability -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        raise AttributeError(
            f"{type(self).__name__} is an immutable value; verbs such as NetInitialize return a "
            "new net."
        )

    def __delattr__(self, name):
        self.__setattr__(name, None)

    def _set_state(self, params: dict, ports: dict, arrays: dict, multipliers: dict) -> None:
        for key, value in (("_params", params), ("_ports", ports), ("_arrays", arrays),
                           ("_multipliers", multipliers), ("_cache", {})):
            object.__setattr__(self, key, value)
        self._infer()

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

    def __copy__(self) -> Layer:
        return self

    def __deepcopy__(self, memo) -> Layer:
        return self

    def __reduce__(self):
        return (_rebuild, (type(self), self._params, self._ports, self._arrays, self._multipliers))

    # -- what subclasses provide --------------------------------------------------------------
    def _infer(self) -> None:
        """Make ports and arrays consistent (writing into the state dicts), or raise NetShapeError."""
        raise NotImplementedError

    def _array_dims(self, name: str) -> tuple | None:
        """The dims of array ``name``, or None while they are not known."""
        raise NotImplementedError

    def _array_dims_hint(self, name: str) -> str:
        """Why array ``name``'s dims are unknown and how to give them, for NetInitialize's error."""
        return "its dims are not known yet; give the input dims with the Input option."

    def _lower(self):
        """A fresh ``torch.nn.Module`` computing this (initialized) layer, batch first."""
        raise NotImplementedError

    def _constructor(self) -> str:
        """An evaluable constructor expression, without arrays too large to print."""
        raise NotImplementedError

    # -- shared behaviour ---------------------------------------------------------------------
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

    def _leaf_layers(self) -> list[tuple[tuple, Layer]]:
        """(position, layer) for every layer inside; a bare layer is itself at position ()."""
        return [((), self)]

    def _layers_graph(self) -> dict:
        """Which part feeds which: {position: [positions it feeds]}; a bare layer feeds nothing."""
        return {(): []}

    def _map_leaves(self, fn, prefix: tuple = ()) -> Layer:
        """The net with every leaf layer replaced by ``fn(position, leaf)``."""
        return fn(prefix, self)

    def _module_at(self, module, position: tuple):
        """The part of this net's lowered ``module`` that computes the leaf at ``position``."""
        return module

    def _coder(self, port: str):
        """The NetEncoder or NetDecoder attached to ``port``, or None."""
        return None

    def _multiplier(self, name: str) -> float:
        value = self._multipliers.get(name, Automatic)
        return 1.0 if value is Automatic else value

    def _missing_arrays(self) -> list[str]:
        return [name for name in self._array_names if self._arrays[name] is Automatic]

    def _require_initialized(self, action: str) -> None:
        missing = self._missing_arrays()
        if missing:
            name = missing[0]
            dims = self._array_dims(name)
            shape = f" (dims {dims})" if dims is not None and None not in dims else ""
            raise NetInitializationError(
                f'{self._where}: cannot {action}: the array "{name}"{shape} is not initialized. '
                f"Use NetInitialize(net) first, or give {name}=... when constructing the layer."
            )

    def _lowered(self, dtype, device):
        """The cached evaluation module for this layer in ``dtype`` on ``device``."""
        key = (dtype, str(device))
        module = self._cache.get(key)
        if module is None:
            module = self._lower().to(device=device, dtype=dtype).eval()
            module.requires_grad_(False)
            self._cache[key] = module
        return module

    def to_torch(self):
        """This layer as a plain ``torch.nn.Module``, batch first.

        The module's arrays are ``nn.Parameter``s, copies of the layer's (the layer itself never
        changes); an array whose LearningRateMultipliers value is 0 has ``requires_grad=False``.
        Each parameter carries its multiplier as the attribute ``lr_multiplier``.
        """
        self._require_initialized("lower the net to torch")
        return self._lower()

    def __call__(self, data, *args, **options):
        """Apply the layer to one example or a batch; see :func:`wlnet.evaluate.apply_net`."""
        from ..evaluate import apply_net

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
                state.append(f"{name}: dims unknown")
        text = self._constructor()
        return text + ("  # " + "; ".join(state) if state else "")

    def _repr_options(self) -> list[str]:
        """``Name=value`` texts for the ports and arrays, shared by the subclasses' constructors."""
        parts = []
        for name in self._input_names:
            spec = port_spec(self._ports[name])
            if spec is not Automatic:
                parts.append(f"{name}={spec!r}")
        for name in self._array_names:
            value = self._arrays[name]
            if value is not Automatic and value.size <= _REPR_MAX_ELEMENTS:
                parts.append(f"{name}={_array_text(value)}")
        given = {value for value in self._multipliers.values() if value is not Automatic}
        if given:
            parts.append(f"LearningRateMultipliers={min(given):g}")
        return parts

    def _port_text(self, name: str) -> str:
        return describe(self._ports[name])


_REPR_MAX_ELEMENTS = 16


def _array_text(array: np.ndarray) -> str:
    """A float32 array as the shortest literal that gives back the same float32 values."""
    def text(a):
        if a.ndim == 0:
            return repr(float(str(a)))  # str of a float32 is its shortest round-trip form
        return "[" + ", ".join(text(x) for x in a) + "]"

    return text(array)


def _rebuild(cls, params, ports, arrays, multipliers):
    layer = object.__new__(cls)
    for array in arrays.values():
        if isinstance(array, np.ndarray):
            array.flags.writeable = False  # unpickled arrays come back writeable
    layer._set_state(dict(params), dict(ports), dict(arrays), dict(multipliers))
    return layer
