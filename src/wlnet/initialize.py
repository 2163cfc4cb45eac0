"""NetInitialize: give a net's missing arrays their initial values.

What each array gets (Wolfram's table): ``"Slope"`` the constant 0.1, ``"Biases"`` zeros,
``"Weights"`` the chosen Method, any other array zeros. Each array's random numbers come from a
generator seeded by a stable hash of (RandomSeeding, the array's position), so adding a layer
never changes the values of the others.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

from .errors import (
    NetInitializationError,
    NetOptionError,
    NetSpecificationError,
    check_options,
    closest,
)
from .layers.base import Layer
from .symbols import All, Automatic, Inherited

__all__ = ["NetInitialize"]

# Method name -> its sub-options and their defaults (Wolfram's documented ones).
METHODS = {
    "Kaiming": {"Distribution": "Normal"},
    "Xavier": {"Distribution": "Normal", "FactorType": "Mean"},
    "Orthogonal": {},
    "Random": {"Weights": 1.0, "Biases": None, "Scaling": None},
    "Identity": {"Distribution": 0.01},
}
_DISTRIBUTIONS = ("Normal", "Uniform")
_FACTOR_TYPES = ("In", "Out", "Mean")


def NetInitialize(net, which=Automatic, *, Method="Kaiming", RandomSeeding=1234, **unknown):
    """Initialize the arrays of a net.

    Wolfram: ``NetInitialize[net]``, ``NetInitialize[net, All]``, ``NetInitialize[net, None]``.

    Args:
        net: a net, or a list of nets (each is initialized).
        which: ``Automatic`` fills only the arrays that are missing; ``All`` re-initializes every
            array; ``None`` removes every array (the net becomes uninitialized).
        Method: ``"Kaiming"`` (default), ``"Xavier"``, ``"Orthogonal"``, ``"Random"`` or
            ``"Identity"``, or ``(name, {sub-option: value})``, e.g.
            ``("Xavier", {"Distribution": "Uniform"})``. It shapes arrays named "Weights"; a
            ParametricRampLayer's slope is always 0.1.
        RandomSeeding: an int or str seed (default 1234, so repeated calls give the same net),
            ``Automatic`` (a fresh seed each call) or ``Inherited`` (NumPy's global state).

    Returns:
        A new net; ``net`` itself is unchanged.

    Raises:
        NetInitializationError: an array to create has dims that are not known yet; the message
            says which and how to give them.

    >>> from wlnet import ParametricRampLayer, NetExtract
    >>> NetExtract(NetInitialize(ParametricRampLayer(Input=3)), "Slope").tolist()
    [0.10000000149011612, 0.10000000149011612, 0.10000000149011612]
    """
    check_options("NetInitialize", unknown, ("Method", "RandomSeeding"))
    if isinstance(net, (list, tuple)):
        return type(net)(
            NetInitialize(n, which, Method=Method, RandomSeeding=RandomSeeding) for n in net
        )
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"NetInitialize: the first argument should be a net (a layer or container), "
            f"not {type(net).__name__} {net!r:.60}."
        )
    if not (which is Automatic or which is All or which is None):
        raise NetSpecificationError(
            f"NetInitialize: the second argument should be Automatic, All or None, but was {which!r}."
        )
    method = parse_method(Method)
    seed = parse_seeding(RandomSeeding, "NetInitialize")
    return _initialize(net, which, method, seed)


def _initialize(net: Layer, which, method, seed):
    if which is None:
        return net._evolve(arrays={name: Automatic for name in net._array_names})
    new = {}
    for name in net._array_names:
        if which is Automatic and net._arrays[name] is not Automatic:
            continue
        dims = net._array_dims(name)
        if dims is None or None in dims:
            raise NetInitializationError(
                f'{net._where}: cannot initialize the array "{name}": '
                f"{net._array_dims_hint(name)}"
            )
        value = initial_array(name, tuple(dims), method, array_rng(seed, (name,)))
        value.flags.writeable = False
        new[name] = value
    return net._evolve(arrays=new) if new else net


def initial_array(name: str, dims: tuple, method, rng: np.random.Generator) -> np.ndarray:
    """The initial float32 value of an array named ``name`` with dims ``dims``."""
    if name == "Slope":
        return np.full(dims, 0.1, dtype=np.float32)
    if name == "Weights":
        # Guard: the layers with "Weights" (LinearLayer) bring their Method initializers with them.
        raise NetInitializationError(f"NetInitialize: no initializer for {name!r} with Method {method[0]}.")
    return np.full(dims, 1.0 if name == "Scaling" else 0.0, dtype=np.float32)


def parse_method(method) -> tuple[str, dict]:
    """Validate a Method value: a name or (name, {sub-option: value}); fill the defaults."""
    options = {}
    if isinstance(method, (tuple, list)) and len(method) == 2 and isinstance(method[1], dict):
        method, options = method
    if not isinstance(method, str) or method not in METHODS:
        hint = closest(method, METHODS) if isinstance(method, str) else ""
        raise NetOptionError(
            f"NetInitialize: Method should be one of {', '.join(METHODS)}, or (name, "
            f"{{sub-option: value}}), but was {method!r}.{hint}"
        )
    defaults = METHODS[method]
    for key, value in options.items():
        if key not in defaults:
            allowed = ", ".join(defaults) or "none"
            raise NetOptionError(
                f"NetInitialize: Method {method} has no sub-option {key!r}.{closest(key, defaults)} "
                f"Its sub-options are: {allowed}."
            )
        if key == "Distribution" and method != "Identity" and value not in _DISTRIBUTIONS:
            raise NetOptionError(
                f'NetInitialize: the "Distribution" of Method {method} should be "Normal" or '
                f'"Uniform", but was {value!r}.'
            )
        if key == "FactorType" and value not in _FACTOR_TYPES:
            raise NetOptionError(
                f'NetInitialize: the "FactorType" of Method Xavier should be "In", "Out" or '
                f'"Mean", but was {value!r}.'
            )
        if key in ("Weights", "Identity", "Distribution") and method in ("Random", "Identity"):
            if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0):
                raise NetOptionError(
                    f'NetInitialize: the "{key}" of Method {method} should be a standard '
                    f"deviation (a non-negative number), but was {value!r}."
                )
    return method, {**defaults, **options}


def parse_seeding(value, where: str):
    """Validate RandomSeeding: an int, a str, Automatic or Inherited. Returns the seed to use."""
    if value is Automatic:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if value is Inherited:
        return Inherited
    if isinstance(value, str) or (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        return value
    raise NetOptionError(
        f"{where}: the value of RandomSeeding should be an integer, a string, Automatic or "
        f"Inherited, but was {value!r}."
    )


def array_rng(seed, position: tuple) -> np.random.Generator:
    """A generator for one array, from a stable hash of (seed, position); Inherited: the global one."""
    if seed is Inherited:
        return np.random.default_rng(np.random.randint(0, 2**31))
    digest = hashlib.sha256(repr((seed, position)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))

