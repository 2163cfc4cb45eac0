"""from_torch: a PyTorch module as the wlnet net that computes the same, its arrays copied.

The way back from ``to_torch()``, and the way in for a model built or trained in PyTorch. Each
supported module type has one small converter in the table :data:`CONVERTERS` (exact types only:
a subclass may compute something else in its ``forward``, so it is refused).

* ``nn.PReLU(num_parameters=1)`` -> ``ParametricRampLayer([], Slope=s)`` (a 0-d slope);
  ``nn.PReLU(num_parameters=C)`` -> ``ParametricRampLayer(1, Slope=[...])``: PyTorch's slope sits on
  dim 1, the first level after the batch axis.
* ``nn.LeakyReLU(a)`` -> ``ParametricRampLayer([], Slope=a, LearningRateMultipliers=0)``, the fixed
  leaky ReLU.
* ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh`` -> ``ElementwiseLayer`` of ``Ramp``, ``LogisticSigmoid``,
  ``Tanh``; with their default settings, ``nn.ELU``, ``nn.SELU``, ``nn.GELU``, ``nn.SiLU``,
  ``nn.Mish``, ``nn.Softsign``, ``nn.Softplus``, ``nn.Hardtanh`` -> ``ElementwiseLayer`` of "ELU",
  "SELU", "GELU", "Swish", "Mish", "SoftSign", "SoftPlus", "HardTanh".
* ``nn.Linear(n_in, n_out)`` -> ``LinearLayer(n_out, Weights=..., Biases=..., Input=n_in)``.
  ``nn.Linear`` acts on the last dim of any input, LinearLayer on a whole example (flattened), so
  the converted layer takes vectors of ``n_in`` only; put an ``nn.Flatten`` before it.
* ``nn.Flatten(1, -1)`` -> ``FlattenLayer()``; ``nn.Flatten(1, k)`` -> ``FlattenLayer(k - 1)``;
  ``nn.Flatten(-k, -1)`` -> ``FlattenLayer(-(k - 1))``; ``nn.Flatten(s, e)`` with ``1 < s < e`` ->
  ``FlattenLayer([[1], ..., [s - 1], [s, ..., e]])`` (Wolfram's groups of levels); any other (an end
  counted from the last) -> ``FlattenLayer(Span(s, e))``, on inputs of any rank. The batch axis is
  refused; one that merges a single dim does nothing and is dropped (PyTorch would only check that
  the dim exists).
* ``nn.Sequential`` (nested too) -> ``NetChain``: a list when its parts are numbered (the default),
  a dict of the names given otherwise. ``nn.Identity`` computes nothing and is dropped.
* wlnet's own torch forms (what ``to_torch()`` gives): ``ParametricRamp``, ``Linear``,
  ``Elementwise``, ``Flatten`` and ``Chain`` -> the layer or NetChain they came from, with the
  module's (perhaps trained) arrays. NetGraph's ``Graph`` is refused: give its state dict to
  ``wlnet.lower.with_arrays`` with the NetGraph it came from instead.
* :mod:`wlnet.convert.shapes`: ``nn.Softmax``, ``nn.Dropout``, ``nn.AlphaDropout``, ``nn.Unflatten``
  -> SoftmaxLayer, DropoutLayer, ReshapeLayer (and wlnet's own forms of these).
* :mod:`wlnet.convert.convolution`: ``nn.Conv1d/2d/3d`` -> ConvolutionLayer (padding ints, tuples, "same",
  "valid"; zeros only), and wlnet's own form of it.
* :mod:`wlnet.convert.normalization`: ``nn.BatchNorm1d/2d/3d``, ``nn.SyncBatchNorm`` -> BatchNormalizationLayer,
  with the running statistics (and wlnet's own form of it).
* :mod:`wlnet.convert.combine`: wlnet's own ``Total`` and ``Catenate`` -> TotalLayer, CatenateLayer
  (with their input ports; give their dims with NetReplacePart, as ``Input=`` is for one port).
* :mod:`wlnet.convert.traced`: a whole model, a module with a ``forward`` of its own (a ResNet with
  shortcuts, branches, several inputs and outputs), or an ``nn.Sequential`` with such a part ->
  ``NetGraph``, followed with ``torch.fx``: the layers keyed by the modules' attribute paths
  (``"layer1.0.conv1"``, so the array positions read like the ``state_dict``), ``+``, ``torch.cat``,
  ``torch.flatten``, ``x.view(x.size(0), -1)`` and the activation and pooling functions as layers
  keyed by fx's node names (``"add"``, ``"cat"``); ``Input=`` is required (``Input={"x": dims, ...}``
  for several arguments). What cannot be followed or has no equivalent is refused, naming the
  module's path, its type and the line of ``forward``.
* :mod:`wlnet.convert.pooling`: ``nn.MaxPool1d/2d/3d``, ``nn.AvgPool1d/2d/3d`` -> PoolingLayer;
  ``nn.AdaptiveAvgPool1d/2d/3d(1)``, ``nn.AdaptiveMaxPool1d/2d/3d(1)`` -> AggregationLayer (and a
  ReshapeLayer keeping the size-1 dims, unless an ``nn.Flatten()`` follows); wlnet's own forms.

Arrays become float32 (as every wlnet array is), copied from any device. A parameter with
``requires_grad=False`` makes its layer's LearningRateMultipliers 0; one that carries an
``lr_multiplier`` (as ``to_torch()`` sets) keeps that multiplier. A layer has one multiplier for
all its arrays, so nn.Linear's weight and bias must agree.

>>> import torch
>>> from torch import nn
>>> module = nn.Sequential(nn.Linear(3, 2), nn.PReLU(2))
>>> net = from_torch(module, Input=3)
>>> from wlnet import NetExtract
>>> NetExtract(net, 2)
ParametricRampLayer(1, Input=2, Slope=[0.25, 0.25])
>>> x = torch.randn(4, 3)
>>> torch.allclose(net(x), module(x))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from torch import nn

from ..errors import NetError, NetShapeError, NetSpecificationError, check_options
from ..functions import NAMED_FUNCTIONS, LogisticSigmoid, Ramp, Tanh, WolframFunction
from ..layers.base import Layer
from ..layers.elementwise import Elementwise, ElementwiseLayer
from ..layers.flatten import Flatten, FlattenLayer
from ..layers.linear import Linear, LinearLayer
from ..layers.ramp import ParametricRamp, ParametricRampLayer
from ..nets.chain import Chain, NetChain
from ..nets.graph import Graph
from ..symbols import Automatic, Span
from ..types import describe, parse_port, unify
from . import combine, convolution, normalization, pooling, shapes
from .common import layer_multiplier, no_equivalent, site, type_text

__all__ = ["CONVERTERS", "from_torch"]


def from_torch(module: nn.Module, *, Input=Automatic, **unknown) -> Layer:
    """The wlnet net that computes what a PyTorch module does, with the module's arrays.

    Args:
        module: a supported ``torch.nn.Module`` (see :mod:`wlnet.convert` for the list and how
            each maps), a module that ``to_torch()`` gave, or a model with its own ``forward``
            made of those and of the functions :mod:`wlnet.convert.traced` lists.
        Input: the dims of one example (the batch axis not counted), as for a layer's Input
            option: ``3``, ``(3, 5)``, ``"Real"``, ``("Varying", 3)``. With it every dim is known
            and the net is ready to evaluate; without it the dims are those the arrays fix. A model
            with its own forward needs it, every dim a number; ``{"x": dims, "y": dims}`` for
            ``forward(x, y)``.

    Returns:
        An initialized layer, NetChain (an nn.Sequential) or NetGraph (a model with its own
        forward). Its arrays are float32 copies (PyTorch float64 or float16 values are rounded
        to float32); ``requires_grad=False`` gives LearningRateMultipliers 0.

    Raises:
        NetSpecificationError: a module (or a part, named by its 1-based position in the
            nn.Sequential, or by its path in a traced model) without a wlnet equivalent; a
            forward that torch.fx cannot follow (the line where it stopped); a malformed Input.
        NetShapeError: an Input that the module's arrays contradict.

    >>> from torch import nn
    >>> from_torch(nn.LeakyReLU(0.2), Input=3)
    ParametricRampLayer([], Input=3, Slope=0.2, LearningRateMultipliers=0)
    """
    check_options("from_torch", unknown, ("Input",))
    if not isinstance(module, nn.Module):
        raise NetSpecificationError(
            f"from_torch: the argument should be a torch.nn.Module, not {type(module).__name__}."
        )
    from .traced import from_traced, needs_tracing  # imports this module's CONVERTERS

    if needs_tracing(module):  # a class with its own forward: torch.fx into a NetGraph
        return from_traced(module, Input)
    port = parse_port(Input, 'from_torch: the "Input" option')
    net = _convert(module, ())
    if net is None:
        raise NetSpecificationError(f"from_torch: {type_text(module)} computes nothing; there is no net to make.")
    return net if Input is Automatic else _with_input(net, Input, port)


def _convert(module: nn.Module, position: tuple) -> Layer | None:
    """The layer for ``module`` found at ``position`` (1-based steps in the nn.Sequential, () for
    the top), or None for a module that computes nothing (nn.Identity)."""
    converter = CONVERTERS.get(type(module))
    if converter is None:
        raise _unsupported(module, position)
    try:
        return converter(module, position)
    except NetError as error:
        if str(error).startswith("from_torch"):
            raise
        raise type(error)(f"from_torch: {site(module, position)}: {error}") from None


def _with_input(net: Layer, given: Any, t) -> Layer:
    if net._input_names != ("Input",):
        raise NetSpecificationError(
            f"from_torch: Input={given!r} gives the dims of one input port, but the converted net ({net._where}) has "
            f"the input ports {', '.join(map(repr, net._input_names))}; convert without Input, then give each "
            "port's dims with NetReplacePart(net, port, dims)."
        )
    old = net._ports["Input"]
    try:
        new = unify(old, t, "")
    except NetShapeError:
        raise NetShapeError(
            f"from_torch: Input={given!r} is {describe(t)}, but the converted net ({net._where}) takes "
            f"{describe(old)}."
        ) from None
    try:
        return net._with_input_type("Input", new)
    except NetShapeError as error:
        raise NetShapeError(f"from_torch: with Input={given!r}: {error}") from None


# -- what is refused -----------------------------------------------------------------------------
def _supported_text() -> str:
    names = [f"nn.{cls.__name__}" for cls in CONVERTERS if getattr(nn, cls.__name__, None) is cls]
    return ", ".join(names) + ", and the modules that to_torch() gives (but NetGraph's)"


def _unsupported(module: nn.Module, position: tuple) -> NetSpecificationError:
    where = site(module, position)
    if isinstance(module, Graph):
        return NetSpecificationError(
            f"from_torch: {where} is the torch form of a NetGraph, which cannot be converted back; to "
            "put its arrays into the NetGraph it came from, use "
            "wlnet.lower.with_arrays(graph, module.state_dict())."
        )
    subclass = next((cls for cls in type(module).__mro__[1:] if cls in CONVERTERS), None)
    why = (f" (it is a subclass of {subclass.__name__}, whose forward may compute something else)"
           if subclass is not None else "")
    return NetSpecificationError(
        f"from_torch: {where} has no wlnet equivalent{why}; supported: {_supported_text()}."
    )



# -- PyTorch's modules --------------------------------------------------------------------------
def _prelu(module: nn.PReLU, position: tuple) -> Layer:
    multiplier = layer_multiplier(module, position, {"weight": module.weight})
    if module.weight.numel() == 1 and module.num_parameters == 1:
        return ParametricRampLayer([], Slope=module.weight.reshape(()), LearningRateMultipliers=multiplier)
    return ParametricRampLayer(1, Slope=module.weight, LearningRateMultipliers=multiplier)


def _leaky_relu(module: nn.LeakyReLU, position: tuple) -> Layer:
    return ParametricRampLayer([], Slope=module.negative_slope, LearningRateMultipliers=0)


#: PyTorch's activations that are wlnet functions, with the settings that make them so.
ACTIVATIONS: dict[type, tuple[WolframFunction, dict[str, Any]]] = {
    nn.ReLU: (Ramp, {}),
    nn.Sigmoid: (LogisticSigmoid, {}),
    nn.Tanh: (Tanh, {}),
    nn.ELU: (NAMED_FUNCTIONS["ELU"], {"alpha": 1.0}),
    nn.SELU: (NAMED_FUNCTIONS["SELU"], {}),
    nn.GELU: (NAMED_FUNCTIONS["GELU"], {"approximate": "none"}),
    nn.SiLU: (NAMED_FUNCTIONS["Swish"], {}),
    nn.Mish: (NAMED_FUNCTIONS["Mish"], {}),
    nn.Softsign: (NAMED_FUNCTIONS["SoftSign"], {}),
    nn.Softplus: (NAMED_FUNCTIONS["SoftPlus"], {"beta": 1.0, "threshold": 20.0}),
    nn.Hardtanh: (NAMED_FUNCTIONS["HardTanh"], {"min_val": -1.0, "max_val": 1.0}),
}


def _activation(module: nn.Module, position: tuple) -> Layer:
    function, settings = ACTIVATIONS[type(module)]
    for name, value in settings.items():
        if getattr(module, name) != value:
            raise no_equivalent(
                module, position,
                f'{name}={getattr(module, name)!r}, but ElementwiseLayer("{function.name}") is '
                f"{type(module).__name__} with {name}={value!r}.",
            )
    return ElementwiseLayer(function)


def _linear(module: nn.Linear, position: tuple) -> Layer:
    biases = module.bias
    parameters = {"weight": module.weight, **({"bias": biases} if biases is not None else {})}
    return LinearLayer(
        module.out_features,
        Weights=module.weight,
        Biases=biases,
        LearningRateMultipliers=layer_multiplier(module, position, parameters),
        Input=module.in_features,
    )


def _flatten(module: nn.Flatten, position: tuple) -> Layer | None:
    start, end = module.start_dim, module.end_dim
    if start == 0 or end == 0:
        raise no_equivalent(
            module, position,
            f"it flattens dims {start} to {end}, which include the batch axis (dim 0); a net keeps "
            "the examples of a batch apart.",
        )
    if start == end:
        return None  # merges one dim: changes nothing (PyTorch would only check that the dim exists)
    if start == 1 and end == -1:
        return FlattenLayer()
    if start == 1 and end > 1:
        return FlattenLayer(end - 1)
    if start < -1 and end == -1:
        return FlattenLayer(start + 1)
    if (start > 0) == (end > 0) and start > end:
        raise no_equivalent(module, position, f"its start_dim {start} comes after end_dim {end} (PyTorch refuses "
                                              "it too).")
    if 1 < start < end:  # levels start to end, those before it kept: Wolfram's groups of levels
        return FlattenLayer([*([level] for level in range(1, start)), list(range(start, end + 1))])
    return FlattenLayer(Span(start, end))  # levels counted from the last: on any rank


def _identity(module: nn.Identity, position: tuple) -> None:
    return None


def _sequential(module: nn.Sequential, position: tuple) -> Layer:
    names = [name for name, _ in module.named_children()]
    numbered = names == [str(i) for i in range(len(names))]
    steps = [i if numbered else name for i, name in enumerate(names, 1)]
    return _chain(module, position, steps, numbered)


def _chain(module: nn.Module, position: tuple, steps: list, numbered: bool) -> Layer:
    """A NetChain of the converted children of ``module``, whose positions are ``steps``."""
    parts, children, skipped = [], list(zip(steps, module.children())), None
    for i, (step, child) in enumerate(children):
        following = children[i + 1] if i + 1 < len(children) else (None, None)
        if step == skipped:
            continue
        layer: Layer | None
        if pooling.flattens_global_pooling(child, following[1]):  # nn.AdaptiveAvgPool2d(1), nn.Flatten(): one layer
            layer, skipped = pooling.global_pooling(child, (*position, step)), following[0]
        else:
            layer = _convert(child, (*position, step))
        if layer is not None:
            parts.append((step, layer))
    if not parts:
        raise NetSpecificationError(
            f"from_torch: {site(module, position)} has no module that computes something; there is no net "
            "to make."
        )
    return NetChain([layer for _, layer in parts] if numbered else dict(parts))


# -- wlnet's torch forms ------------------------------------------------------------------------
def _wlnet_ramp(module: ParametricRamp, position: tuple) -> Layer:
    multiplier = layer_multiplier(module, position, {"Slope": module.Slope})
    return ParametricRampLayer(module.levels, Slope=module.Slope, LearningRateMultipliers=multiplier)


def _wlnet_linear(module: Linear, position: tuple) -> Layer:
    dims = tuple(module.out_dims)
    size = [] if dims == () else dims[0] if len(dims) == 1 else dims
    parameters = dict(module.named_parameters())
    return LinearLayer(
        size,
        Weights=module.Weights,
        Biases=module.bias,
        LearningRateMultipliers=layer_multiplier(module, position, parameters),
    )


def _wlnet_elementwise(module: Elementwise, position: tuple) -> Layer:
    return ElementwiseLayer(module.function)


def _wlnet_flatten(module: Flatten, position: tuple) -> Layer:
    return FlattenLayer() if module.level is None else FlattenLayer(module.level)


def _wlnet_chain(module: Chain, position: tuple) -> Layer:
    names = [unquote(name) for name, _ in module.named_children()]
    numbered = names == [str(i) for i in range(1, len(names) + 1)]
    steps = [int(name) if numbered else name for name in names]
    return _chain(module, position, steps, numbered)


#: Module type -> converter(module, position): the layer, or None for a module that does nothing.
CONVERTERS: dict[type, Callable[[Any, tuple], Layer | None]] = {
    nn.PReLU: _prelu,
    nn.LeakyReLU: _leaky_relu,
    **{cls: _activation for cls in ACTIVATIONS},
    nn.Linear: _linear,
    nn.Flatten: _flatten,
    nn.Sequential: _sequential,
    nn.Identity: _identity,
    ParametricRamp: _wlnet_ramp,
    Linear: _wlnet_linear,
    Elementwise: _wlnet_elementwise,
    Flatten: _wlnet_flatten,
    Chain: _wlnet_chain,
    **shapes.CONVERTERS,
    **convolution.CONVERTERS,
    **normalization.CONVERTERS,
    **pooling.CONVERTERS,
    **combine.CONVERTERS,
}
