"""NetPortGradient: gradients of a net's outputs with respect to its inputs and arrays.

``net(data, NetPortGradient("Input"))`` gives the gradient, at ``data``, of the sum of every output
of the net (every element of every output port, raw: decoders are not applied) with respect to the
input port "Input": an array with the port's dims for one example, and one such array per example
for a batch (the examples do not interact, so the gradient of the batch's sum is each example's own
gradient). An array's gradient, ``NetPortGradient("Slope")`` for a layer or
``NetPortGradient([2, "Slope"])`` for the second layer of a chain, is summed over the batch, as the
Wolfram Language does; it is computed whatever the array's learning-rate multiplier. A gradient
imposed at an output port, ``net({"Input": x, NetPortGradient("Output"): g}, NetPortGradient("Input"))``,
replaces that port's sum by its dot product with ``g`` (``g`` has the output's dims, one per example
for a batch).

Results have the types that evaluation gives (:mod:`wlnet.evaluate`): NumPy arrays in the working
precision (a NumPy scalar for a scalar port), a list of arrays for a batch of sequences of
different lengths, torch tensors on the input's device for torch inputs. Several gradients
(a list of NetPortGradient, or ``NetPortGradient(All)``: every input port, then every array) come
as a dict keyed by NetPortGradient.

>>> from wlnet import ParametricRampLayer
>>> prelu = ParametricRampLayer([], Slope=0.25)
>>> prelu([-2.0, 3.0], NetPortGradient("Input")).tolist()
[0.25, 1.0]
>>> float(prelu([-2.0, 3.0], NetPortGradient("Slope")))
-2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import NetDataError, NetShapeError, NetSpecificationError, closest
from .lower import array_buffers, array_slots, buffers_kept, lower
from .symbols import All, _Atom, as_int
from .types import TensorT, describe

__all__ = ["NetPortGradient", "Target", "imposed_gradients", "port_gradients", "targets"]


def _is_step(value: object) -> bool:
    return isinstance(value, str) or as_int(value) is not None


class NetPortGradient:
    """The gradient of a net's outputs with respect to an input port or an array.

    Wolfram: ``NetPortGradient["port"]``, ``NetPortGradient["param"]``,
    ``NetPortGradient[{layer1, layer2, ..., "param"}]``, ``NetPortGradient[All]``.

    Args:
        *spec: an input port's name (``"Input"``); an array's name for a bare layer
            (``"Slope"``); a path to an array through containers, as a list or as several
            arguments (``[2, "Slope"]`` or ``2, "Slope"``: layer 2, 1-based, negative counts from
            the end; or a layer's name); or ``All`` (every input port and every array). In the data
            of an evaluation, ``NetPortGradient("Output")`` names an output port whose gradient is
            imposed.

    >>> NetPortGradient("Input"), NetPortGradient(2, "Slope"), NetPortGradient(All)
    (NetPortGradient('Input'), NetPortGradient([2, 'Slope']), NetPortGradient(All))
    >>> NetPortGradient([2, "Slope"]) == NetPortGradient(2, "Slope")
    True
    """

    __slots__ = ("spec",)
    spec: str | tuple | _Atom

    def __init__(self, *spec: Any) -> None:
        if len(spec) == 1 and isinstance(spec[0], (list, tuple)):
            spec = tuple(spec[0])
        if len(spec) == 1 and (isinstance(spec[0], str) or spec[0] is All):
            value: Any = spec[0]
        elif len(spec) > 1 and all(_is_step(s) for s in spec) and isinstance(spec[-1], str):
            value = tuple(s if isinstance(s, str) else as_int(s) for s in spec)
        else:
            shown = spec[0] if len(spec) == 1 else list(spec)
            raise NetSpecificationError(
                f"NetPortGradient: {shown!r:.80} is not a port or an array; give an input port's name "
                "(\"Input\"), an array's name (\"Slope\"), a path to an array ([2, \"Slope\"]), or All."
            )
        object.__setattr__(self, "spec", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NetPortGradient is an immutable value.")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPortGradient) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash((NetPortGradient, self.spec))

    def __reduce__(self) -> tuple:
        return (NetPortGradient, (list(self.spec) if isinstance(self.spec, tuple) else self.spec,))

    def __repr__(self) -> str:
        spec = list(self.spec) if isinstance(self.spec, tuple) else self.spec
        return f"NetPortGradient({spec!r})"


@dataclass(frozen=True)
class Target:
    """What one gradient is taken with respect to: an input port or an array (by its key)."""

    spec: NetPortGradient  # the key of this gradient in a dict of results
    port: str | None = None  # an input port
    key: str | None = None  # an array's key (see :mod:`wlnet.lower`)


def targets(net: Any, specs: list[NetPortGradient]) -> tuple[Target, ...]:
    """The inputs and arrays that ``specs`` name in ``net`` (All: every input port, then every array)."""
    found: list[Target] = []
    for spec in specs:
        if spec.spec is All:
            found += [Target(NetPortGradient(port), port=port) for port in net._input_names]
            found += [Target(_array_spec(slot.position), key=slot.key) for slot in array_slots(net)]
        else:
            found.append(_target(net, spec))
    return tuple(found)


def _array_spec(position: tuple) -> NetPortGradient:
    return NetPortGradient(position[0] if len(position) == 1 else list(position))


def _target(net: Any, spec: NetPortGradient) -> Target:
    path = spec.spec if isinstance(spec.spec, tuple) else (spec.spec,)
    if len(path) == 1 and path[0] in net._input_names:
        return Target(spec, port=path[0])
    if len(path) == 1 and path[0] in net._output_names:
        raise NetSpecificationError(
            f'{net._where}: {spec!r} names an output port; a gradient is taken with respect to an input '
            f"port ({', '.join(map(repr, net._input_names))}) or an array. To impose a gradient at an "
            f"output port, give it in the data: {{\"{net._input_names[0]}\": x, {spec!r}: gradient}}."
        )
    position = _position(net, path, spec)
    for slot in array_slots(net):
        if slot.position == position:
            return Target(spec, key=slot.key)
    names = [*map(repr, net._input_names), *(_shown(slot.position) for slot in array_slots(net))]
    raise NetSpecificationError(
        f"{net._where}: {spec!r} names no input port or array of the net.{closest(_shown(path), names)} "
        f"Gradients can be taken with respect to: {', '.join(names)}."
    )


def _shown(position: tuple) -> str:
    return repr(position[0]) if len(position) == 1 else repr(list(position))


def _position(net: Any, path: tuple, spec: NetPortGradient) -> tuple:
    """The array position ``path`` names: its layer steps resolved to the containers' keys."""
    node: Any = net
    keys: list[Any] = []
    for step in path[:-1]:
        if not hasattr(node, "_part_key"):
            raise NetSpecificationError(
                f"{net._where}: in {spec!r}, {node._where} has no parts, so the path cannot go on after "
                f"{keys[-1] if keys else step!r}."
            )
        try:
            key = node._part_key(step)
        except NetSpecificationError as error:
            reason = str(error).removeprefix(f"{node._where}: ")
            raise NetSpecificationError(f"{net._where}: in {spec!r}, {reason}") from None
        keys.append(key)
        node = dict(node._children())[key]
    return (*keys, path[-1])


def imposed_gradients(net: Any, given: dict, asked: bool) -> dict[str, Any]:
    """The gradients imposed at output ports by ``{NetPortGradient(port): gradient}`` in the data, by
    port; ``asked``: whether the evaluation asks for gradients (imposed ones serve nothing else)."""
    if given and not asked:
        raise NetDataError(
            f"{net._where}: the data imposes a gradient at an output port ({next(iter(given))!r}), which "
            'is used only when gradients are asked for: net(data, NetPortGradient("Input")).'
        )
    imposed = {}
    for spec, value in given.items():
        if not (isinstance(spec.spec, str) and spec.spec in net._output_names):
            raise NetDataError(
                f"{net._where}: a gradient is imposed at {spec!r}, which is not an output port; the output "
                f"ports are: {', '.join(map(repr, net._output_names))}.{closest(str(spec.spec), net._output_names)}"
            )
        imposed[spec.spec] = value
    return imposed


def _chunk_rows(tensors: list[torch.Tensor], batch_size: Any, limit: int) -> int:
    """Examples per chunk: ``batch_size``, or (Automatic) as many as ``limit`` input elements allow."""
    if isinstance(batch_size, int):
        return batch_size
    per_example = max(1, sum(t[0].numel() for t in tensors))
    return max(1, limit // per_example)


@dataclass
class _Sums:
    """The gradients found so far: per example for inputs (by row), summed for arrays."""

    inputs: dict[str, list]  # port -> [(rows, tensor)]
    arrays: dict[str, torch.Tensor | None]


def port_gradients(net: Any, data: dict, imposed: dict, batched: bool, wanted: tuple[Target, ...],
                   settings: Any) -> dict[NetPortGradient, Any]:
    """The gradients ``wanted`` at ``data`` (``{port: array, tensor or list of sequences}``, one example
    unless ``batched``), with ``imposed`` output gradients ``{port: same forms}``; by NetPortGradient.

    ``settings`` has ``dtype``, ``device``, ``training``, ``batch_size`` and ``chunk_elements``.
    """
    module = _gradient_module(net, settings.dtype, settings.device, settings.training)
    parameters = {**dict(module.named_parameters()), **array_buffers(module)}
    keys = [t.key for t in wanted if t.key is not None]
    ports = [t.port for t in wanted if t.port is not None]
    sums = _Sums({port: [] for port in ports}, {key: None for key in keys})
    with buffers_kept(module, settings.training):  # "Train" mode changes no net
        for rows, inputs, gradients in _groups(data, imposed, batched):
            size = _chunk_rows(list(inputs.values()), settings.batch_size, settings.chunk_elements)
            n = next(iter(inputs.values())).shape[0]
            for i in range(0, n, size):
                chunk = {p: t[i:i + size].to(device=settings.device, dtype=settings.dtype) for p, t in inputs.items()}
                given = {p: g[i:i + size].to(device=settings.device, dtype=settings.dtype)
                         for p, g in gradients.items()}
                found = _backward(net, module, chunk, given, ports, [parameters[k] for k in keys])
                for port, value in zip(ports, found):
                    sums.inputs[port].append((rows[i:i + size], value))
                for key, value in zip(keys, found[len(ports):]):
                    total = sums.arrays[key]
                    sums.arrays[key] = value if total is None else total + value
    return _results(wanted, sums, data, batched)


def _gradient_module(net: Any, dtype: torch.dtype, device: torch.device, training: bool) -> torch.nn.Module:
    """The net's lowered module with every array requiring gradients (cached on the net)."""
    key = ("gradient module", dtype, str(device), training)
    module = net._cache.get(key)
    if module is None:
        module = lower(net).to(device=device, dtype=dtype).train(training)
        module.requires_grad_(True)  # frozen arrays too: their gradient is asked for, not applied
        for buffer in array_buffers(module).values():  # and arrays no gradient trains (moving statistics)
            buffer.requires_grad_(True)
        net._cache[key] = module
    return module


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def _groups(data: dict, imposed: dict, batched: bool):
    """(example indices, {port: batch}, {output port: imposed gradients}) for each run of the
    module: one, or one per length for a batch of sequences of different lengths."""
    ragged = next((x for x in data.values() if isinstance(x, list)), None)
    if ragged is None:
        inputs = {p: _as_tensor(x) if batched else _as_tensor(x).unsqueeze(0) for p, x in data.items()}
        n = next(iter(inputs.values())).shape[0]
        yield list(range(n)), inputs, {p: _imposed_batch(g, batched, None) for p, g in imposed.items()}
        return
    by_length: dict[int, list[int]] = {}
    for i, example in enumerate(ragged):
        by_length.setdefault(example.shape[0], []).append(i)
    ((port, sequences),) = data.items()
    for rows in by_length.values():
        stacked = torch.from_numpy(np.stack([sequences[i] for i in rows]))
        yield rows, {port: stacked}, {p: _imposed_batch(g, True, rows) for p, g in imposed.items()}


def _imposed_batch(gradient: Any, batched: bool, rows: list[int] | None) -> torch.Tensor:
    """The imposed gradients of the examples ``rows`` (all when None) as one batch."""
    if isinstance(gradient, list):
        picked = [gradient[i] for i in (rows if rows is not None else range(len(gradient)))]
        if len({np.shape(g) for g in picked}) > 1:
            raise NetShapeError(
                "the imposed output gradients of examples of the same length have different dims; each "
                "should have the dims of its example's output."
            )
        return torch.from_numpy(np.stack([np.asarray(g) for g in picked]))
    tensor = _as_tensor(gradient)
    tensor = tensor if batched else tensor.unsqueeze(0)
    return tensor if rows is None else tensor[torch.as_tensor(rows)]


def _backward(net: Any, module: torch.nn.Module, inputs: dict, imposed: dict, ports: list[str],
              parameters: list[torch.Tensor]) -> list[torch.Tensor]:
    """The gradients of the outputs' sum (or their dot products with ``imposed``) with respect to
    the input ports ``ports`` and to ``parameters``, for one batch."""
    leaves = {p: t.detach().requires_grad_(p in ports) for p, t in inputs.items()}
    wanted = [leaves[p] for p in ports] + parameters
    with torch.enable_grad():
        outputs = module(*leaves.values())
        outputs = outputs if isinstance(outputs, dict) else {net._output_names[0]: outputs}
        total = sum(_weighted(net, name, value, imposed.get(name)) for name, value in outputs.items())
        if not isinstance(total, torch.Tensor) or not total.requires_grad:
            return [torch.zeros_like(leaf) for leaf in wanted]
        found = torch.autograd.grad(total, wanted, allow_unused=True)
    return [torch.zeros_like(leaf) if g is None else g.detach() for g, leaf in zip(found, wanted)]


def _weighted(net: Any, port: str, output: torch.Tensor, gradient: torch.Tensor | None) -> torch.Tensor:
    """An output's sum, or its dot product with the gradient imposed on it."""
    if gradient is None:
        return output.sum()
    if gradient.shape != output.shape:
        expected = describe(TensorT(tuple(output.shape[1:])))
        given = describe(TensorT(tuple(gradient.shape[1:])))
        if gradient.shape[1:] == output.shape[1:]:
            count = gradient.shape[0]
            given = f"given for {count} example{'' if count == 1 else 's'}, not {output.shape[0]}"
        raise NetShapeError(
            f'{net._where}: the gradient imposed at output port "{port}" should be {expected} for each example '
            f"(the output's dims), but it is {given}."
        )
    return (output * gradient.to(output.dtype)).sum()


def _results(wanted: tuple[Target, ...], sums: _Sums, data: dict, batched: bool) -> dict[NetPortGradient, Any]:
    """Each gradient as evaluation would return a value of its dims (see the module doc)."""
    tensors = [x for x in data.values() if isinstance(x, torch.Tensor)]
    device = tensors[0].device if tensors else None
    ragged = any(isinstance(x, list) for x in data.values())
    results: dict[NetPortGradient, Any] = {}
    for target in wanted:
        if target.port is not None:
            pieces = sums.inputs[target.port]
            if ragged:
                value: Any = [None] * sum(len(rows) for rows, _ in pieces)
                for rows, grads in pieces:
                    for row, grad in zip(rows, grads):
                        value[row] = _shown_value(grad, None)
            else:
                whole = torch.cat([grads for _, grads in pieces])
                value = _shown_value(whole if batched else whole[0], device)
        else:
            assert target.key is not None
            value = _shown_value(sums.arrays[target.key], device)
        results[target.spec] = value
    return results


def _shown_value(value: Any, device: torch.device | None) -> Any:
    """A tensor as evaluation returns values: on ``device`` when the input was a tensor, else NumPy."""
    if device is not None:
        return value.to(device)
    return value.cpu().numpy()[()]
