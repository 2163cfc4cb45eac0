"""NetExtract, NetReplacePart and Normal: read and replace arrays, ports and parts of a net.

A part specification is a path, as in the Wolfram Language: ``2`` (the second layer, 1-based;
negative counts from the end), ``"name"`` (a named layer), ``"Slope"`` (an array or port of a
layer), or a list or tuple of such steps, ``[2, "Slope"]`` or ``(2, "Slope")`` (the same path: a
tuple is what ``Information(net, "ArraysPositionList")`` gives). Several specifications at once
are a list or tuple that holds paths, ``[[1, "Weights"], (2, "Slope")]``, as Wolfram's
``{{1, "Weights"}, {2, "Slope"}}``.
"""

from __future__ import annotations

import numpy as np

from .arrays import as_array
from .coders import NetDecoder, NetEncoder
from .errors import NetShapeError, NetSpecificationError, closest
from .layers.base import Layer
from .nets.container import Container
from .symbols import All, Automatic, as_int
from .types import parse_port, port_spec

__all__ = ["NetExtract", "NetReplacePart", "Normal"]


def _steps(spec) -> list:
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


def _check_step(verb: str, step, spec) -> None:
    """NetSpecificationError unless ``step`` can name a part, an array or a port: an integer
    position (1-based; negative counts from the end; NumPy ints too) or a name."""
    if isinstance(step, str) or (as_int(step) is not None) or step is All:
        return
    kind = "True/False" if isinstance(step, (bool, np.bool_)) else type(step).__name__
    within = "" if spec is step else f"in the specification {spec!r:.80}, "
    raise NetSpecificationError(
        f"{verb}: {within}{step!r:.40} ({kind}) is not a position: a step is an integer (1-based, negative "
        "from the end) or a name such as \"Slope\" or \"Input\"."
    )


def _is_multiple(spec) -> bool:
    """Several specs: a list or tuple that holds a path (a list or tuple). A list or tuple of steps
    alone is one path, so ``(2, "Slope")`` and ``[2, "Slope"]`` name the same array."""
    return isinstance(spec, (list, tuple)) and any(isinstance(s, (list, tuple)) for s in spec)


def NetExtract(net, spec):
    """Extract a part, an array or a port from a net.

    Wolfram: ``NetExtract[net, spec]``, ``NetExtract[net, {spec1, spec2, ...}]``, ``NetExtract[net, All]``.

    Args:
        net: a layer or a container (NetChain, NetGraph).
        spec: ``"Slope"`` (an array), ``"Input"`` (a port), ``2`` or ``"name"`` (a part), a path
            ``[2, "Slope"]`` or ``(2, "Slope")`` (the same: positions as ``ArraysPositionList``
            gives them work as they are), ``All``; a list or tuple of paths
            (``[[1, "Weights"], (2, "Slope")]``) extracts each, into a list or tuple.

    Returns:
        An array as a read-only float32 NumPy array (rank 0 for a shared slope), or ``Automatic``
        while it is uninitialized; a port's dims as an int (a vector), a tuple (with "Varying"
        and Automatic entries), ``"Real"`` or ``Automatic`` (unknown), or the NetEncoder or
        NetDecoder attached to it; a part as a layer; for ``All``, a dict of a layer's arrays or
        the list (dict, if named) of a container's layers.

    >>> from wlnet import ParametricRampLayer
    >>> NetExtract(ParametricRampLayer([], Slope=0.25), "Slope")
    array(0.25, dtype=float32)
    >>> NetExtract(ParametricRampLayer(2, Input=("Varying", 3)), "Input")
    ('Varying', 3)
    """
    if _is_multiple(spec):
        return type(spec)(NetExtract(net, s) for s in spec)
    if not isinstance(net, Layer):
        raise NetSpecificationError(f"NetExtract: the first argument should be a net, not {type(net).__name__}.")
    node = net
    steps = _steps(spec)
    for i, step in enumerate(steps):
        _check_step("NetExtract", step, spec)
        last = i == len(steps) - 1
        if last:
            return _extract_here(node, step)
        if not isinstance(node, Container):
            raise NetSpecificationError(
                f"NetExtract: {node._where} has no parts, so the path {spec!r} cannot go on after {step!r}."
            )
        node = node._part(step)
    raise NetSpecificationError("NetExtract: the specification [] names nothing.")


def _extract_here(node: Layer, step):
    if step is All:
        if isinstance(node, Container):
            children = node._children()
            if isinstance(children[0][0], str):
                return {key: child for key, child in children}
            return [child for _, child in children]
        return {name: node._array(name) for name in node._array_names}
    if isinstance(step, str) and step in node._ports:
        coder = node._coder(step)
        return coder if coder is not None else port_spec(node._ports[step])
    if isinstance(node, Container):
        return node._part(step)
    if step in node._array_names:
        return node._array(step)
    names = [*node._array_names, *node._ports]
    raise NetSpecificationError(
        f"NetExtract: {node._where} has no array or port {step!r}.{closest(str(step), names)} "
        f"It has: {', '.join(names)}."
    )


def NetReplacePart(net, spec, value=None):
    """A new net with a part, an array or a port replaced.

    Wolfram: ``NetReplacePart[net, spec -> value]``, ``NetReplacePart[net, {spec1 -> v1, ...}]``.

    Args:
        net: a layer or container; it is not changed.
        spec: a part specification as for NetExtract (``[2, "Slope"]`` or ``(2, "Slope")``,
            ``"Input"``, ``2``), or a dict ``{spec: value}`` / a list of ``(spec, value)`` pairs
            to replace several (paths in a dict are written as tuples: ``{(2, "Slope"): value}``;
            in a list of rules a tuple is a rule, so a path there is ``([2, "Slope"], value)`` or
            ``((2, "Slope"), value)``).
        value: the new array (same dims as the old), port specification, encoder/decoder, or layer.

    >>> from wlnet import ParametricRampLayer, NetExtract
    >>> NetExtract(NetReplacePart(ParametricRampLayer(Slope=[0.1, 0.2]), "Slope", [1, 2]), "Slope")
    array([1., 2.], dtype=float32)
    """
    if value is None and isinstance(spec, dict):
        rules = list(spec.items())
    elif value is None and isinstance(spec, list) and spec and all(isinstance(r, tuple) for r in spec):
        bad = next((r for r in spec if len(r) != 2), None)
        if bad is not None:
            raise NetSpecificationError(
                f"NetReplacePart: a list of rules should hold (spec, value) pairs, but it holds {bad!r:.80}, "
                f"of length {len(bad)}."
            )
        rules = spec
    else:
        rules = [(spec, value)]
    if not isinstance(net, Layer):
        raise NetSpecificationError(f"NetReplacePart: the first argument should be a net, not {type(net).__name__}.")
    for rule_spec, rule_value in rules:
        steps = list(rule_spec) if isinstance(rule_spec, (list, tuple)) else [rule_spec]
        if not steps:
            raise NetSpecificationError(
                f"NetReplacePart: the specification {rule_spec!r} names nothing; give a position, a name or a path "
                'such as [2, "Slope"].'
            )
        for step in steps:
            _check_step("NetReplacePart", step, rule_spec)
        net = _replace(net, steps, rule_value, rule_spec)
    return net


def _replace(node: Layer, steps: list, value, spec):
    step, rest = steps[0], steps[1:]
    if rest:
        if not isinstance(node, Container):
            raise NetSpecificationError(
                f"NetReplacePart: {node._where} has no parts, so {spec!r} cannot go on after {step!r}."
            )
        return node._replace_child(step, _replace(node._part(step), rest, value, spec))
    if isinstance(step, str) and step in node._ports:
        return _replace_port(node, step, value)
    if isinstance(node, Container):
        from .nets.chain import as_layer

        return node._replace_child(step, as_layer(value, f"NetReplacePart: the new part {step!r}"))
    if step not in node._array_names:
        names = [*node._array_names, *node._ports]
        raise NetSpecificationError(
            f"NetReplacePart: {node._where} has no array or port {step!r}.{closest(str(step), names)} "
            f"It has: {', '.join(names)}."
        )
    array = as_array(value, f'NetReplacePart: the new "{step}" of {node._where}')
    old = node._array(step)
    dims = old.shape if old is not Automatic else node._array_dims(step)
    if dims is not None and None not in dims and tuple(dims) != array.shape:
        raise NetShapeError(
            f'NetReplacePart: the array "{step}" of {node._where} has dims {tuple(dims)}, but the '
            f"replacement has dims {array.shape}; a replacement array must have the same dims."
        )
    return node._with_arrays({step: array})


def _replace_port(node: Layer, port: str, value):
    if isinstance(value, (NetEncoder, NetDecoder)):
        if not isinstance(node, Container):
            raise NetSpecificationError(
                f"NetReplacePart: attach encoders and decoders to a NetChain or NetGraph port, not to {node._where}."
            )
        return node._with_port(port, value.type, value)
    return node._with_port(port, parse_port(value, f'NetReplacePart: port "{port}" of {node._where}'))


def Normal(value):
    """Ordinary Python values: an array becomes nested lists of floats, a layer a dict of arrays.

    Wolfram: ``Normal[NumericArray[...]]``, ``Normal[layer]``, ``Normal[NetChain[...]]``.

    A rank-0 array becomes a float; ``Automatic`` (an uninitialized array) stays ``Automatic``;
    a list or tuple is mapped over; a container becomes its list (or dict) of layers.

    >>> Normal(np.array([0.5, 0.25], dtype=np.float32))
    [0.5, 0.25]
    >>> Normal(np.float32(0.5))
    0.5
    """
    if isinstance(value, Layer):
        return NetExtract(value, All)
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # a torch tensor
        return value.detach().cpu().tolist()
    if isinstance(value, list | tuple):
        return type(value)(Normal(v) for v in value)
    if isinstance(value, dict):
        return {k: Normal(v) for k, v in value.items()}
    if value is Automatic or isinstance(value, (int, float, str, bool)):
        return value
    raise NetSpecificationError(f"Normal: cannot convert {type(value).__name__} {value!r:.60}.")
