"""The lowering: a net as a ``torch.nn.Module`` and back. Everything that runs a net goes through it.

Evaluation, ``net.to_torch()``, NetTrain and its checkpoints (and the loaders, ONNX and distributed
training that build on them) see a net's arrays in one way, defined here:

* **Array paths.** Every array of a net has a position, as Wolfram's
  ``Information[net, "ArraysPositionList"]`` gives it: ``("Slope",)`` for a bare layer,
  ``(2, "Slope")`` for the second layer of a NetChain, ``("ramp", "Weights")`` for a NetGraph
  layer named "ramp", ``(2, 1, "Slope")`` inside nested containers. Its *key* is the position's
  steps joined with ``"."``: ``"Slope"``, ``"2.Slope"``, ``"ramp.Weights"``, ``"2.1.Slope"``.
* **Names that hold a "."** A step is written as it is, except that ``%`` is written ``%25`` and
  ``.`` is written ``%2E``; and a name that a ``torch.nn.Module`` attribute already has
  (``forward``, ``train``, ...) gets its first character percent-encoded (``%66orward``), since a
  module's children are also its attributes. Ordinary percent-decoding
  (``urllib.parse.unquote``) gives each step back: the layer named ``"block.1"`` has the key
  ``"block%2E1.Weights"``.
* **One way there.** :func:`lower` builds a fresh module whose ``state_dict()`` keys are exactly the
  array keys, in ``ArraysPositionList`` order, with values that are copies of the arrays; each
  layer builds its own part (``Layer._torch_module``), and containers name their children by key
  step. An array whose learning-rate multiplier is 0 has ``requires_grad=False``; every parameter
  carries its multiplier as ``lr_multiplier``. Multipliers are decided in :func:`array_multipliers`
  alone. An array that no gradient trains (BatchNormalizationLayer's ``"MovingMean"`` and
  ``"MovingVariance"``, which the layer's own forward pass updates in training mode) is a buffer
  rather than a parameter: still in the state dict under its key; its multiplier goes to the module
  that holds it, in its dict ``buffer_multipliers`` (by buffer name; 0 freezes the array), which
  survives ``module.to(...)`` as a tensor attribute of a buffer would not.
* **Evaluation mode.** The module comes in evaluation mode (``module.training`` is False), so that
  it computes what ``net(x)`` does (Wolfram's ``NetEvaluationMode -> "Test"``): BatchNormalizationLayer
  uses its moving statistics, DropoutLayer passes its input on. ``module.train()`` gives the
  training behaviour, as for any PyTorch module; NetTrain does that.
* **One way back.** :func:`with_arrays` takes a net and a mapping from those keys to arrays (a
  ``state_dict()``, NumPy arrays, ``Automatic`` to uninitialize) and gives the new net, with a
  clear error for a missing key, an unknown key or wrong dims.

This module knows nets only through the methods every layer and container has (``_leaf_layers``,
``_array_names``, ``_array``, ``_array_dims``, ``_multiplier``, ``_with_arrays``, ``_map_leaves``,
``_torch_module``); it imports nothing from ``layers`` or ``nets``.

>>> from wlnet import NetChain, LinearLayer, ParametricRampLayer, NetInitialize, NetExtract
>>> net = NetInitialize(NetChain([LinearLayer(2), ParametricRampLayer()], Input=3))
>>> list(lower(net).state_dict())
['1.Weights', '1.Biases', '2.Slope']
>>> path_key(("block.1", "Weights"))
'block%2E1.Weights'
>>> back = with_arrays(net, {**lower(net).state_dict(), "2.Slope": [0.5, 0.25]})
>>> NetExtract(back, [2, "Slope"]).tolist()
[0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .arrays import as_array
from .errors import NetShapeError, NetSpecificationError, closest
from .options import per_array
from .symbols import Automatic

__all__ = [
    "ArraySlot",
    "array_buffers",
    "array_multipliers",
    "array_slots",
    "buffers_kept",
    "key_step",
    "lower",
    "path_key",
    "with_arrays",
]

#: Names a child module cannot take as they are: every ``torch.nn.Module`` attribute, and the one
#: attribute of wlnet's graph module.
RESERVED_NAMES = frozenset(dir(nn.Module())) | {"plan"}


def key_step(step: Any) -> str:
    """One step of a position as it is written in a key (and as a torch submodule's name)."""
    text = str(step).replace("%", "%25").replace(".", "%2E")
    if text in RESERVED_NAMES:
        text = f"%{ord(text[0]):02X}{text[1:]}"
    return text


def path_key(position: Sequence[Any]) -> str:
    """The key of the array at ``position``: its steps, each written by :func:`key_step`, joined by "."."""
    return ".".join(key_step(step) for step in position)


@dataclass(frozen=True)
class ArraySlot:
    """One array of a net: where it is, its key, and the leaf layer that holds it under ``name``."""

    position: tuple
    key: str
    layer: Any
    name: str

    @property
    def value(self) -> Any:
        """The array (a read-only float32 NumPy array) or ``Automatic`` while uninitialized."""
        return self.layer._array(self.name)

    @property
    def dims(self) -> tuple | None:
        """The array's dims, or None while they are not known (entries may also be None)."""
        dims = self.layer._array_dims(self.name)
        return None if dims is None else tuple(dims)

    @property
    def known_dims(self) -> tuple | None:
        """The dims when every one is known, else None."""
        dims = self.dims
        return None if dims is None or None in dims else dims


def array_slots(net: Any) -> list[ArraySlot]:
    """Every array of ``net``, in Wolfram's ``ArraysPositionList`` order (the state dict's order)."""
    return [
        ArraySlot((*position, name), path_key((*position, name)), leaf, name)
        for position, leaf in net._leaf_layers()
        for name in leaf._array_names
    ]


def array_multipliers(net: Any, rules: Any = Automatic, where: str = "NetTrain") -> dict[tuple, float]:
    """Each array's learning-rate multiplier, by position: the one place that decides it.

    ``rules`` is NetTrain's ``LearningRateMultipliers`` option: ``Automatic``, a number for every
    array, or part rules (``{2: 0, "ramp": 0.5}``); the first matching rule wins. An array no rule
    matches has the multiplier set on its layer (``LearningRateMultipliers=`` of the layer or of a
    container holding it), else 1. None means 0 (frozen); negative values ascend.
    """
    slots = array_slots(net)
    own = {slot.position: slot.layer._multiplier(slot.name) for slot in slots}
    positions = [slot.position for slot in slots]
    values = per_array(rules, positions, "LearningRateMultipliers", own.__getitem__, where=where)
    return dict(zip(positions, values))


def lower(net: Any, multipliers: Mapping[tuple, float] | None = None) -> nn.Module:
    """``net`` as a fresh ``torch.nn.Module``, batch first, keyed by array paths (see the module doc).

    Args:
        net: an initialized layer or container.
        multipliers: each array's learning-rate multiplier by position, as
            :func:`array_multipliers` gives them (the default: the net's own).

    Raises:
        NetInitializationError: an array of the net is not initialized.
    """
    net._require_initialized("lower the net to torch")
    module = net._torch_module().eval()
    slots = array_slots(net)
    parameters = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    keys = list(module.state_dict())
    if keys != [slot.key for slot in slots]:  # a layer that breaks the contract is a bug in wlnet
        raise RuntimeError(
            f"{net._where}: the lowered module's state_dict keys {keys} are not the array paths "
            f"{[slot.key for slot in slots]}."
        )
    values = array_multipliers(net) if multipliers is None else multipliers
    for slot in slots:
        multiplier = float(values[slot.position])
        parameter = parameters.get(slot.key)
        if parameter is None:  # an array no gradient trains: a buffer, whose module keeps its multiplier
            assert slot.key in buffers
            owner = module.get_submodule(slot.key.rpartition(".")[0])
            owner.__dict__.setdefault("buffer_multipliers", {})[slot.name] = multiplier
            continue
        parameter.requires_grad_(multiplier != 0)
        setattr(parameter, "lr_multiplier", multiplier)  # noqa: B010 - an attribute torch does not declare
    return module


def array_buffers(module: nn.Module) -> dict[str, Any]:
    """The arrays of a lowered module that are buffers (no gradient trains them), by key."""
    keys = set(module.state_dict())
    return {key: value for key, value in module.named_buffers() if key in keys}


@contextmanager
def buffers_kept(module: nn.Module, keep: bool = True) -> Iterator[None]:
    """Run a block that may update ``module``'s array buffers (a BatchNormalizationLayer's moving
    statistics, in training mode), and put their values back after it: an evaluation with
    ``NetEvaluationMode="Train"`` computes with the batch's statistics but changes no net."""
    saved = {key: value.clone() for key, value in array_buffers(module).items()} if keep else {}
    try:
        yield
    finally:
        if saved:
            with torch.no_grad():
                for key, value in array_buffers(module).items():
                    value.copy_(saved[key])


def with_arrays(net: Any, arrays: Mapping[str, Any], *, partial: bool = False, rounding: bool = False) -> Any:
    """``net`` with its arrays replaced by ``arrays``, a mapping from array keys to values.

    A value is anything :func:`wlnet.arrays.as_array` takes (a torch tensor of any float dtype,
    NumPy, nested lists) and becomes a read-only float32 array; ``Automatic`` uninitializes the
    array. Every key of the net must be given unless ``partial``; no other key may be. With
    ``rounding`` (arrays a computation produced, as NetTrain's), a value too small for float32
    becomes 0 rather than an error (see :func:`wlnet.arrays.as_array`).

    Raises:
        NetSpecificationError: a key the net does not have, or (unless ``partial``) one it has
            that is missing; a value that is not an array of real numbers.
        NetShapeError: a value whose dims differ from the array's.
    """
    slots = {slot.key: slot for slot in array_slots(net)}
    unknown = [key for key in arrays if key not in slots]
    if unknown:
        raise NetSpecificationError(
            f"{net._where}: {unknown[0]!r} is not an array of the net.{closest(str(unknown[0]), slots)} "
            f"Its arrays are: {', '.join(slots) or 'none'}."
        )
    missing = [key for key in slots if key not in arrays]
    if missing and not partial:
        raise NetSpecificationError(
            f"{net._where}: no value is given for the array {missing[0]!r}; every array of the net "
            f"needs one ({', '.join(slots)})."
        )
    by_layer: dict[tuple, dict[str, Any]] = {}
    for key, value in arrays.items():
        slot = slots[key]
        by_layer.setdefault(slot.position[:-1], {})[slot.name] = _conformed(net, slot, value, rounding)
    return net._map_leaves(lambda position, leaf: leaf._with_arrays(by_layer[position]) if position in by_layer
                           else leaf)


def _conformed(net: Any, slot: ArraySlot, value: Any, rounding: bool) -> Any:
    """``value`` as the array for ``slot``: a read-only float32 array of the slot's dims, or Automatic."""
    if value is Automatic:
        return value
    array = as_array(value, f'{net._where}: the value for the array "{slot.key}"', rounding=rounding)
    dims = slot.known_dims
    if dims is not None and array.shape != dims:
        raise NetShapeError(
            f'{net._where}: the array "{slot.key}" has dims {dims}, but the value given has dims '
            f"{array.shape}."
        )
    return array

