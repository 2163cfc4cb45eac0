"""NetExtract and Normal: read arrays, ports and parts out of a net."""

from __future__ import annotations

import numpy as np

from .errors import NetSpecificationError, closest
from .layers.base import Layer
from .symbols import All, Automatic
from .types import port_spec

__all__ = ["NetExtract", "Normal"]


def NetExtract(net, spec):
    """Extract an array, a port's dims or everything from a net.

    Wolfram: ``NetExtract[net, "array"]``, ``NetExtract[net, "port"]``, ``NetExtract[net, All]``,
    ``NetExtract[net, {spec, ...}]``.

    Args:
        net: a layer.
        spec: an array name (``"Slope"``), a port name (``"Input"``, ``"Output"``), ``All``, or a
            list giving a path (``["Slope"]``). A tuple of specs extracts each, in a tuple.

    Returns:
        An array as a read-only float32 NumPy array (rank 0 for a shared slope), or ``Automatic``
        while it is uninitialized; a port's dims as an int (a vector), a tuple (with "Varying"
        and Automatic entries), ``"Real"`` or ``Automatic`` (unknown); for ``All``, a dict of
        the arrays.

    >>> from wlnet import ParametricRampLayer
    >>> NetExtract(ParametricRampLayer([], Slope=0.25), "Slope")
    array(0.25, dtype=float32)
    >>> NetExtract(ParametricRampLayer(2, Input=("Varying", 3)), "Input")
    ('Varying', 3)
    """
    if isinstance(spec, tuple):
        return tuple(NetExtract(net, s) for s in spec)
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"NetExtract: the first argument should be a net, not {type(net).__name__}."
        )
    if isinstance(spec, list):
        if len(spec) != 1:
            raise NetSpecificationError(
                f"NetExtract: {net._where} has no parts, so the path {spec!r} should have one "
                "element (an array or port name)."
            )
        spec = spec[0]
    if spec is All:
        return {name: net._arrays[name] for name in net._array_names}
    if spec in net._array_names:
        return net._arrays[spec]
    if spec in net._ports:
        return port_spec(net._ports[spec])
    names = [*net._array_names, *net._ports]
    raise NetSpecificationError(
        f"NetExtract: {net._where} has no array or port {spec!r}.{closest(str(spec), names)} "
        f"It has: {', '.join(names)}."
    )


def Normal(value):
    """Ordinary Python values: an array becomes nested lists of floats, a layer a dict of arrays.

    Wolfram: ``Normal[NumericArray[...]]``, ``Normal[layer]``.

    A rank-0 array becomes a float; ``Automatic`` (an uninitialized array) stays ``Automatic``;
    a list or tuple is mapped over.

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
