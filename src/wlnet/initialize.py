"""NetInitialize: give a net's missing arrays their initial values.

What each array gets (Wolfram's table): ``"Slope"`` the constant 0.1, ``"Biases"`` zeros,
``"Weights"`` the chosen Method, any other array zeros. Each array's random numbers come from a
generator seeded by a stable hash of (RandomSeeding, the array's position), so adding a layer
never changes the values of the others.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import secrets

import numpy as np

from .errors import (
    NetInitializationError,
    NetOptionError,
    NetSpecificationError,
    check_options,
    closest,
)
from .functions import Ramp
from .layers.base import Layer, position_text
from .layers.elementwise import ElementwiseLayer
from .lower import array_slots, with_arrays
from .symbols import All, Automatic, Inherited
from .types import size_text

__all__ = ["NetInitialize"]

# Method name -> its sub-options and their defaults (Wolfram's documented ones).
METHODS: dict[str, dict[str, str | float | None]] = {
    "Kaiming": {"Distribution": "Normal"},
    "Xavier": {"Distribution": "Normal", "FactorType": "Mean"},
    "Orthogonal": {},
    "Random": {"Weights": 1.0, "Biases": None, "Scaling": None},
    "Identity": {"Distribution": 0.01},
}
_DISTRIBUTIONS = ("Normal", "Uniform")
_MAX_ELEMENTS = int(np.iinfo(np.intp).max) // 8  # NumPy's largest array (2**63 - 1 bytes) of float64 draws
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
    slots = array_slots(net)
    if which is None:
        return with_arrays(net, {slot.key: Automatic for slot in slots})
    wanted = [slot for slot in slots if which is All or slot.value is Automatic]
    if not wanted:
        return net  # nothing to fill: the same net
    leaves = net._leaf_layers()
    following = {leaves[i][0]: leaves[i + 1][1] for i in range(len(leaves) - 1)}
    values = {}
    for slot in wanted:
        dims = slot.known_dims
        part = slot.position[:-1]
        what = f'{net._where}: cannot initialize the array "{slot.name}"' + (
            f" of layer {position_text(part)} ({slot.layer._where})" if part else "")
        if dims is None:
            raise NetInitializationError(f"{what}: {slot.layer._array_dims_hint(slot.name)}")
        count = math.prod(dims)
        if count > _MAX_ELEMENTS:  # beyond NumPy's limit: it would say "array is too big"
            raise NetInitializationError(
                f"{what}: its dims {dims} make {size_text(count)} elements, more than {size_text(_MAX_ELEMENTS + 1)}"
                " - 1, the most NumPy can draw initial values for (as float64, 8 bytes each, in at most 2**63 - 1 "
                "bytes); give the layer smaller sizes."
            )
        rng = array_rng(seed, slot.position)
        try:
            values[slot.key] = initial_array(slot.name, dims, method, rng, following.get(slot.position[:-1]))
        except MemoryError:
            raise NetInitializationError(
                f"{what}: its dims {dims} make {size_text(count)} elements ({size_text(4 * count)} bytes of float32), "
                "more than this computer can allocate; give the layer smaller sizes."
            ) from None
    return with_arrays(net, values, partial=True)


def initial_array(name: str, dims: tuple, method, rng: np.random.Generator, next_layer=None) -> np.ndarray:
    """The initial float32 value of an array named ``name`` with dims ``dims``.

    ``next_layer`` is the layer that follows in the net: Xavier and Orthogonal double the
    variance before a Ramp (ReLU) ElementwiseLayer, as Wolfram's initializer does.
    """
    if name == "Slope":
        return np.full(dims, 0.1, dtype=np.float32)
    if name == "Weights" or (len(dims) == 2 and name not in ("Biases", "Scaling")):
        with np.errstate(over="ignore"):  # checked just below
            weights = _weights(dims, method, rng, _feeds_ramp(next_layer)).astype(np.float32)
        if not np.isfinite(weights).all():
            raise NetOptionError(
                f"NetInitialize: Method {method[0]} with {method[1]} gives the array \"{name}\" values beyond "
                "the range of float32 (the arrays' type); choose a smaller standard deviation."
            )
        return weights
    if name == "Biases" and method[0] == "Random" and method[1]["Biases"]:
        return rng.normal(0.0, float(method[1]["Biases"]), dims).astype(np.float32)
    return np.full(dims, 1.0 if name in ("Scaling", "MovingVariance") else 0.0, dtype=np.float32)


def _feeds_ramp(layer) -> bool:
    return isinstance(layer, ElementwiseLayer) and layer.function is Ramp


def _sample(rng: np.random.Generator, distribution, std: float, dims: tuple) -> np.ndarray:
    if distribution == "Uniform":
        bound = np.sqrt(3.0) * std  # the uniform distribution with that standard deviation
        return rng.uniform(-bound, bound, dims)
    return rng.normal(0.0, std, dims)


def _weights(dims: tuple, method, rng: np.random.Generator, before_ramp: bool) -> np.ndarray:
    """Weights of dims (fan_out, fan_in...) by the Method: Kaiming, Xavier, Orthogonal, Random, Identity.
    fan_in is the product of the dims after the first: a ConvolutionLayer's kernel (n, c/g, k...) has
    fan_in (c/g) * prod(k) and fan_out n (the kernel's area not counted), as Wolfram's initializer."""
    name, options = method
    fan_out = dims[0]
    fan_in = int(np.prod(dims[1:], dtype=np.int64)) if len(dims) > 1 else 1
    gain = 2.0 if before_ramp else 1.0
    if name == "Kaiming":
        # He et al. 2015: variance 2 / fan_in keeps activations' variance through ReLU-like layers.
        return _sample(rng, options["Distribution"], np.sqrt(2.0 / fan_in), dims)
    if name == "Xavier":
        factor = {"In": fan_in, "Out": fan_out, "Mean": (fan_in + fan_out) / 2}[options["FactorType"]]
        return _sample(rng, options["Distribution"], np.sqrt(gain / factor), dims)
    if name == "Orthogonal":
        a = rng.standard_normal((fan_out, fan_in))
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == a.shape else vt
        return (np.sqrt(gain) * q).reshape(dims)
    if name == "Random":
        return rng.normal(0.0, float(options["Weights"]), dims)
    return _identity(dims) + rng.normal(0.0, float(options["Distribution"]), dims)


def _identity(dims: tuple) -> np.ndarray:
    """The identity map: the identity matrix; for a ConvolutionLayer's kernel (n, c/g, k...), a 1 at
    the kernel's centre where the output channel is the input channel (and 0 elsewhere)."""
    if len(dims) <= 2:
        return np.eye(dims[0], int(np.prod(dims[1:], dtype=np.int64))).reshape(dims)
    identity = np.zeros(dims)
    centre = tuple(k // 2 for k in dims[2:])
    for i in range(min(dims[0], dims[1])):
        identity[(i, i) + centre] = 1.0
    return identity


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
        if key in ("Weights", "Biases", "Scaling", "Distribution") and method in ("Random", "Identity"):
            _check_deviation(method, key, value)
    return method, {**defaults, **options}


def _check_deviation(method: str, key: str, value) -> None:
    """A sub-option that is a standard deviation: a finite non-negative number (None where it may be)."""
    if value is None and key in ("Biases", "Scaling"):
        return
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= float(value) < math.inf):
        none = " or None" if key in ("Biases", "Scaling") else ""
        raise NetOptionError(
            f'NetInitialize: the "{key}" of Method {method} should be a standard deviation (a finite '
            f"non-negative number){none}, but was {value!r}."
        )


def parse_seeding(value, where: str):
    """Validate RandomSeeding: an int, a str, Automatic or Inherited. Returns the seed to use."""
    if value is Automatic:
        return secrets.randbits(63)  # a fresh seed each call, from the OS's entropy
    if value is Inherited:
        return Inherited
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        try:
            repr(value)  # a seed acts through its text: beyond Python's integer-to-text limit there is none
        except ValueError:
            raise NetOptionError(
                f"{where}: the value of RandomSeeding is an integer too long for Python to write as text "
                "(sys.get_int_max_str_digits(), 4300 digits by default); use a shorter integer or a string."
            ) from None
        return value
    if isinstance(value, str):
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

