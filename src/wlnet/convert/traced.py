"""from_torch of a whole model: a module with its own ``forward`` (a ResNet with shortcuts, a model
with branches and several inputs), followed with ``torch.fx`` into a NetGraph.

:func:`wlnet.from_torch` comes here for a module that is not an ``nn.Sequential`` of supported
modules (:func:`needs_tracing`); an ``nn.Sequential`` of them still becomes a NetChain.

* **Tracing**: ``torch.fx`` records ``forward`` on a symbolic tensor (:mod:`.tracing`). The modules
  that ``from_torch`` converts whole (each type of :data:`wlnet.convert.CONVERTERS`, and wlnet's own
  torch forms) are leaves, and so are the other modules of PyTorch and the subclasses of converted
  types (both refused); ``nn.Sequential`` (and its subclasses) and the user's classes are followed
  into. What stops
  tracing (a branch on a tensor's values) is a NetSpecificationError naming the module whose
  ``forward`` stopped, its type, and the file and line.
* **Layers and keys**: each call of a leaf module is a layer keyed by the module's attribute path
  (``"conv1"``, ``"layer1.0.conv1"``, ``"layer1.0.downsample.0"``), so the array positions read like
  the PyTorch ``state_dict``: ``NetExtract(net, ["layer1.0.conv1", "Weights"])``. Each call of a
  function or Tensor method is a layer keyed by its name as fx writes it (``"add"``, ``"cat"``,
  ``"flatten"``, ``"relu"``), after the path of the module whose ``forward`` calls it
  (``"layer1.0/add"``, as Import keys the ops of a model ``torch.onnx.export`` wrote: ``"layer1.0/Add"``),
  made unique with ``_1``, ``_2``. A module without arrays called
  twice gets a second key (``"relu_1"`` after ``"relu"``); one with arrays called twice (weights
  shared) is refused.
* **Calls** (:mod:`.calls`): ``a + b``, ``torch.add(a, b)``, ``a.add(b)``, ``a += b`` of two tensors of
  the same dims -> TotalLayer (a constant or a broadcast operand is refused); ``torch.cat(xs, dim=k)``,
  k not the batch axis -> CatenateLayer(k); ``torch.flatten(x, s, e)``, ``x.flatten(s, e)`` -> as
  ``nn.Flatten(s, e)``; ``x.view(...)``, ``x.reshape(...)``, ``torch.reshape(x, ...)`` whose first size is
  the batch size (``x.size(0)``, ``x.shape[0]``) or -1 with the others making one whole example ->
  FlattenLayer() to a vector, ReshapeLayer(dims) otherwise (nothing when the dims stay); ``F.relu``,
  ``torch.relu``, ``x.relu()``, ``torch.sigmoid``, ``torch.tanh``, ``F.gelu``, ``F.silu``, ``F.elu``, ``F.selu``,
  ``F.mish``, ``F.softplus``, ``F.softsign``, ``F.hardtanh``, ``F.leaky_relu``, ``F.prelu(x, self.weight)``
  (keyed by the weight's path), ``F.softmax(x, dim)``, ``F.dropout(x, p, training)`` (DropoutLayer(p),
  which drops in training only: the usual ``training=self.training``), ``F.max_pool2d``,
  ``F.avg_pool2d``, ``F.adaptive_avg_pool2d(x, 1)`` (and 1d, 3d) -> the layers the equivalent
  modules give. A global pooling module (``nn.AdaptiveAvgPool2d(1)``) whose output is only flattened
  to (batch, channels) (``torch.flatten(x, 1)``, ``x.view(x.size(0), -1)``, ``nn.Flatten()``) is one
  AggregationLayer, keyed by the module's path, as in an nn.Sequential. ``x.contiguous()``,
  ``x.size(...)`` and ``x.shape`` compute nothing of their own. An in-place call (``x.relu_()``,
  ``nn.ReLU(inplace=True)``) counts for the later uses of x, as in PyTorch. Other functions are
  refused, naming the call, the module and the line.
* **Ports**: one forward argument is the input port "Input"; several are ports named by the
  arguments, their dims given as ``Input={"x": (3, 16, 16), "y": 5}``; arguments with defaults that
  are not given keep their defaults (fx specializes them). One returned tensor is the port
  "Output"; a tuple gives "Output1", "Output2", ...; a dict, ports named by its keys.
* **Dims**: ``Input`` is required: the graph is run once on a batch of zeros (in evaluation mode,
  without gradients) so that every size is known.

The converted net's ``to_torch()`` names its arrays as every NetGraph does, each key step written by
:func:`wlnet.lower.key_step`: ``"layer1%2E0%2Econv1.Weights"``, not the model's
``"layer1.0.conv1.weight"``; so ``wlnet.lower.with_arrays`` takes arrays under those keys, and the
way to bring in a model's new weights is to convert it again.

>>> import torch
>>> from torch import nn
>>> from wlnet import from_torch, Information, NetExtract
>>> class Residual(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = nn.Linear(3, 3)
...     def forward(self, x):
...         return x + torch.relu(self.fc(x))
>>> net = from_torch(Residual(), Input=3)
>>> NetExtract(net, "relu"), NetExtract(net, "add")
(ElementwiseLayer(Ramp, Input=3), TotalLayer(InputPorts=[3, 3]))
>>> Information(net, "ArraysPositionList")
[('fc', 'Weights'), ('fc', 'Biases')]
"""

from __future__ import annotations

import inspect
import operator
import re
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..errors import NetError, NetSpecificationError
from ..layers.base import Layer
from ..nets.graph import NetGraph, NetPort
from ..symbols import Automatic
from ..types import VARYING, parse_port
from . import CONVERTERS, _supported_text, pooling
from .calls import FUNCTIONS, METHODS, Refusal, arguments, bind
from .common import type_text
from .tracing import TensorValue, follow_in_place, interpret, live_nodes, module_site, node_frame, trace

__all__ = ["from_traced", "is_leaf", "needs_tracing"]


def is_leaf(module: nn.Module) -> bool:
    """Whether tracing stops at ``module`` (converted whole or refused) rather than following its forward."""
    cls = type(module)
    if cls is nn.Sequential:
        return False
    if cls in CONVERTERS or cls.__module__.startswith(("torch.", "wlnet.layers.", "wlnet.nets.")):
        return True
    # a subclass of a converted type (but nn.Sequential's) is refused whole, as before tracing came
    return any(base in CONVERTERS and base is not nn.Sequential for base in cls.__mro__[1:])


def needs_tracing(module: nn.Module) -> bool:
    """Whether ``module`` (or a part of an nn.Sequential) is a class whose forward must be traced."""
    if type(module) is nn.Sequential:
        return any(needs_tracing(child) for child in module.children())
    return not is_leaf(module)


def from_traced(model: nn.Module, given: Any) -> NetGraph:
    """The NetGraph of ``model``'s forward, traced, with the dims ``given`` (``Input=``)."""
    inputs, defaults = _forward_inputs(model, given)
    gm = trace(model, is_leaf, defaults)
    follow_in_place(gm.graph, model)
    reference = next(iter([*model.parameters(), *model.buffers()]), torch.zeros(()))
    dtype = reference.dtype if reference.is_floating_point() else torch.float32
    examples = {name: torch.zeros((2, *dims), dtype=dtype, device=reference.device) for name, (_, dims) in
                inputs.items()}
    ports = {name: "Input" for name in inputs} if len(inputs) == 1 else {name: name for name in inputs}
    converter = _Converter(model, gm, ports)
    converter.check_modules()  # before running: a module without a converter may not run on these dims either
    names = list(inspect.signature(model.forward).parameters)
    converter.values = interpret(gm, model, {name: examples.get(name, defaults.get(name)) for name in names},
                                 f"Input={given!r}")
    return converter.net({ports[name]: spec for name, (spec, _) in inputs.items()})


def _forward_inputs(model: nn.Module, given: Any) -> tuple[dict[str, tuple[Any, tuple]], dict[str, Any]]:
    """The forward arguments that are inputs (name -> (the dims given, the dims as ints)) and the
    others with their defaults."""
    where = f"from_torch: {type_text(model)}.forward"
    parameters = list(inspect.signature(model.forward).parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        raise NetSpecificationError(f"{where} takes *args or **kwargs; from_torch needs named arguments, each an "
                                    "input port.")
    names = [p.name for p in parameters]
    required = [p.name for p in parameters if p.default is p.empty]
    if given is Automatic:
        raise NetSpecificationError(
            f"{where} is followed on an example batch, so the dims of one example are needed: "
            f"from_torch(model, Input=(3, 16, 16)), or Input={{'x': dims, 'y': dims}} for forward(x, y)."
        )
    if isinstance(given, dict):
        unknown = [name for name in given if name not in names]
        if unknown:
            raise NetSpecificationError(f"{where} has no argument {unknown[0]!r}; its arguments are "
                                        f"{', '.join(names)}.")
        specs = {name: given[name] for name in names if name in given}
    elif len(required) == 1:
        specs = {required[0]: given}
    else:
        raise NetSpecificationError(
            f"{where} takes the arguments {', '.join(required)}; give the dims of each as "
            f"Input={{{', '.join(f'{name!r}: dims' for name in required)}}}."
        )
    missing = [name for name in required if name not in specs]
    if missing:
        raise NetSpecificationError(f"{where}: no dims are given for the argument {missing[0]!r} in Input.")
    inputs = {name: (spec, _dims(spec, f'{where}: the dims of "{name}"')) for name, spec in specs.items()}
    return inputs, {p.name: p.default for p in parameters if p.name not in inputs}


def _dims(spec: Any, where: str) -> tuple[int, ...]:
    t = parse_port(spec, where)
    if t.dims is None or not t.known or VARYING in t.dims:
        raise NetSpecificationError(f"{where} are {spec!r}; give every dim of one example as a number, e.g. "
                                    "(3, 16, 16), since the model is followed on an example batch.")
    return tuple(int(d) for d in t.dims)


def _call_key(node: fx.Node) -> str:
    """The key of a function's layer: the function's name as fx writes it, without the number fx adds
    to repeats (``"add"``, ``"cat"``, ``"flatten"``), after the path of the module whose ``forward``
    calls it (``"layer1.0/add"``: Import keys the ops of a ``torch.onnx.export`` model so too)."""
    name = re.sub(r"_\d+$", "", node.name)
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return name
    path, entry = list(stack.items())[-1]
    path = entry[0] if isinstance(entry, tuple) and entry and isinstance(entry[0], str) else path
    return f"{path}/{name}" if path else name


def _call_text(node: fx.Node) -> str:
    """How the user wrote the call: ``+``, ``torch.cat``, ``torch.nn.functional.relu``, ``Tensor.view``."""
    target = node.target
    if node.op == "call_method":
        return f"Tensor.{target}"
    symbols = {operator.add: "+", operator.iadd: "+=", operator.sub: "-", operator.mul: "*",
               operator.truediv: "/", operator.matmul: "@", operator.getitem: "[...]"}
    if target in symbols:
        return f"the operator {symbols[target]}"
    name = getattr(target, "__name__", repr(target))
    for prefix, namespace in (("torch.nn.functional", torch.nn.functional), ("torch", torch)):
        if getattr(namespace, name, None) is target:
            return f"{prefix}.{name}"
    return f"{getattr(target, '__module__', None) or '?'}.{name}"


class _Converter:
    """The layers and connections of a traced graph; it is the :class:`~.calls.Context` of the calls."""

    def __init__(self, model: nn.Module, gm: fx.GraphModule, ports: dict[str, str]) -> None:
        self.model, self.gm, self.ports = model, gm, ports
        self.values: dict[fx.Node, Any] = {}  # what each node gives on the example batch: see interpret
        self.live = live_nodes(gm.graph)
        self.layers: dict[str, Layer] = {}
        self.edges: list = []
        self.sources: dict[fx.Node, Any] = {}
        self.batch: set[fx.Node] = set()
        self.dependent: set[fx.Node] = set()  # sizes that depend on the batch size
        self.shape_nodes: set[fx.Node] = set()  # x.shape, x.size(): the batch size and an example's dims
        self.reserved = {str(n.target) for n in self.live if n.op == "call_module"}

    # -- the Context of the calls -----------------------------------------------------------------
    def shape(self, node: Any) -> tuple[int, ...] | None:
        value = self.values.get(node) if isinstance(node, fx.Node) else None
        return value.shape if isinstance(value, TensorValue) else None

    def value(self, node: Any) -> Any:
        return self.values.get(node)

    def is_batch(self, value: Any) -> bool:
        return isinstance(value, fx.Node) and value in self.batch

    def batch_dependent(self, value: Any) -> bool:
        return isinstance(value, fx.Node) and (value in self.dependent or value in self.shape_nodes)

    # -- the net ----------------------------------------------------------------------------------
    def check_modules(self) -> None:
        """Refuses the first module called that has no converter."""
        for node in self.gm.graph.nodes:
            if node in self.live and node.op == "call_module":
                module = self.model.get_submodule(str(node.target))
                if type(module) not in CONVERTERS:
                    raise NetSpecificationError(
                        f"from_torch: {self._site(node)} has no wlnet equivalent; {_no_converter(module)}"
                    )

    def net(self, specs: dict[str, Any]) -> NetGraph:
        unused = [self._argument(n) for n in self.gm.graph.nodes if n.op == "placeholder" and n not in self.live
                  and self._argument(n) in self.ports]
        if unused:
            raise NetSpecificationError(
                f"from_torch: the forward of {module_site('', self.model)} does not use its argument {unused[0]!r}, "
                "but each input port of a NetGraph feeds a layer; leave it out of Input if it has a default."
            )
        for node in self.gm.graph.nodes:
            if node in self.live:
                self._convert(node)
        try:
            return NetGraph(self.layers, self.edges, **specs)
        except NetError as error:
            raise type(error)(f"from_torch: the NetGraph of {type_text(self.model)}: {error}") from None

    def _convert(self, node: fx.Node) -> None:
        if node in self.sources:  # a flatten taken into the global pooling before it
            return
        try:
            if node.op == "placeholder":
                self.sources[node] = NetPort(self.ports[self._argument(node)])
            elif node.op == "call_module":
                self._module(node)
            elif node.op in ("call_function", "call_method"):
                self._call(node)
            elif node.op == "output":
                self._outputs(node)
        except Refusal as refusal:
            raise NetSpecificationError(f"from_torch: {self._site(node)} has no wlnet equivalent: {refusal}") from None
        except NetError as error:  # a converter's: "from_torch: nn.Flatten has no wlnet equivalent: ..."
            reason = str(error).removeprefix("from_torch: ")
            if "has no wlnet equivalent" in reason:
                reason = reason[reason.index("has no wlnet equivalent"):]
            raise type(error)(f"from_torch: {self._site(node)} {reason}") from None

    def _argument(self, node: fx.Node) -> str:
        index = [n for n in self.gm.graph.nodes if n.op == "placeholder"].index(node)
        return list(inspect.signature(self.model.forward).parameters)[index]

    def _site(self, node: fx.Node) -> str:
        frame = node_frame(node)
        at = f" at {frame}" if frame else ""
        if node.op == "call_module":
            path = str(node.target)
            return f"{module_site(path, self.model.get_submodule(path))}, called{at},"
        if node.op == "output":
            return f"the value that the forward of {module_site('', self.model)} returns"
        stack = node.meta.get("nn_module_stack") or {}
        path = next(reversed(stack), "") if stack else ""
        return f"{_call_text(node)} in the forward of {module_site(path, self.model.get_submodule(path))}{at},"

    # -- layers -----------------------------------------------------------------------------------
    def _source(self, node: Any) -> Any:
        if not isinstance(node, fx.Node) or node not in self.sources:
            shown = f"{node.target!r}" if isinstance(node, fx.Node) else repr(node)
            raise Refusal(f"its input {shown} is not a tensor the net computes from its inputs.")
        return self.sources[node]

    def _unique(self, base: str) -> str:
        key, i = base, 0
        while key in self.layers or key in self.reserved:
            i += 1
            key = f"{base}_{i}"
        return key

    def _add(self, node: fx.Node, key: str, layer: Layer | None, inputs: list) -> None:
        sources = [self._source(i) for i in inputs]
        if layer is None:  # the call changes nothing
            self.sources[node] = sources[0]
            return
        self.layers[key] = layer
        self.edges.append((sources[0] if len(sources) == 1 else sources, key))
        self.sources[node] = key

    def _module(self, node: fx.Node) -> None:
        path = str(node.target)
        module = self.model.get_submodule(path)
        converter = CONVERTERS.get(type(module))
        if converter is None:
            raise Refusal(_no_converter(module))  # check_modules has refused it already
        if node.kwargs or not all(isinstance(a, fx.Node) for a in node.args):
            raise Refusal("it is called with arguments other than tensors, which its layer does not take.")
        key = path
        if path in self.layers:
            if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
                raise Refusal(
                    "it is called more than once, sharing its arrays between the calls; each layer of a NetGraph "
                    "has arrays of its own. Use a separate module for each call."
                )
            key = self._unique(path)
        flattening = self._flattening(node, module)
        if flattening is not None:  # nn.AdaptiveAvgPool2d(1), then torch.flatten(x, 1): one AggregationLayer
            self._add(node, key, pooling.global_pooling(module, ()), list(node.args))
            self.sources[flattening] = key
            return
        self._add(node, key, converter(module, ()), list(node.args))

    def _flattening(self, node: fx.Node, module: nn.Module) -> fx.Node | None:
        """The flatten of a global pooling's output to (batch, channels), its only use, or None."""
        users = [user for user in node.users if user in self.live and self.shape(user) is not None]  # not x.size(0)
        if not pooling.flattens_global_pooling(module, nn.Flatten()) or len(users) != 1:
            return None
        user = users[0]
        flattens = (user.op == "call_function" and user.target is torch.flatten) or (
            user.op == "call_method" and user.target in ("flatten", "view", "reshape")) or (
            user.op == "call_module" and type(self.model.get_submodule(str(user.target))) is nn.Flatten)
        shape, flat = self.shape(node), self.shape(user)
        return user if flattens and shape and flat == shape[:2] and len(shape) > 2 else None

    def _call(self, node: fx.Node) -> None:
        if self.shape(node) is None:
            self._size(node)
            return
        spec = METHODS.get(str(node.target)) if node.op == "call_method" else FUNCTIONS.get(node.target)
        if spec is None:
            raise Refusal("from_torch maps +, torch.add, torch.cat, torch.flatten, Tensor.view and reshape of whole "
                          "examples, the activations (F.relu, torch.sigmoid, ...), F.softmax, F.dropout and the "
                          "poolings; write the computation with modules that have wlnet equivalents.")
        args, kwargs = arguments(node)
        layer, inputs = spec[2](self, node, bind(args, kwargs, spec, _call_text(node)))
        key = _call_key(node)
        weight = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
        if node.target in (torch.prelu, F.prelu) and isinstance(weight, fx.Node) and weight.op == "get_attr":
            key = str(weight.target)  # the slope's path: NetExtract(net, ["act.weight", "Slope"])
        self._add(node, self._unique(key), layer, inputs)

    def _size(self, node: fx.Node) -> None:
        """Notes which sizes are the batch size (``x.size(0)``, ``x.shape[0]``) and which depend on it."""
        args = node.args
        if node.op == "call_method" and node.target == "size":
            dim = args[1] if len(args) > 1 else node.kwargs.get("dim")
            rank = len(self.shape(args[0]) or ())
            if dim is None:
                self.shape_nodes.add(node)
            elif isinstance(dim, int) and rank and dim % rank == 0:
                self.batch.add(node)
            return
        if node.op == "call_function" and node.target is getattr and args[1:] == ("shape",):
            self.shape_nodes.add(node)
            return
        if node.op == "call_function" and node.target is operator.getitem and args[0] in self.shape_nodes:
            rank = len(self.values[args[0]])  # type: ignore[index]
            if isinstance(args[1], int) and rank:
                if args[1] % rank == 0:
                    self.batch.add(node)
                return
        if any(n in self.batch or n in self.dependent or n in self.shape_nodes for n in node.all_input_nodes):
            self.dependent.add(node)

    def _outputs(self, node: fx.Node) -> None:
        result = node.args[0]
        if isinstance(result, fx.Node):
            named = {"Output": result}
        elif isinstance(result, (tuple, list)):
            named = {f"Output{i}": value for i, value in enumerate(result, 1)}
        elif isinstance(result, dict):
            named = {str(name): value for name, value in result.items()}
        else:
            raise Refusal(f"it is {result!r}, not a tensor, a tuple or a dict of tensors.")
        for name, value in named.items():
            if self.shape(value) is None:
                raise Refusal(f'its part "{name}" is not a tensor the net computes from its inputs.')
            source = self._source(value)
            if isinstance(source, NetPort):
                raise Refusal(f'its part "{name}" is the input "{source.port}" itself; a net output comes from a '
                              "layer.")
            self.edges.append((source, NetPort(name)))


def _no_converter(module: nn.Module) -> str:
    subclass = next((cls for cls in type(module).__mro__[1:] if cls in CONVERTERS), None)
    if subclass is not None:
        return (f"it is a subclass of {subclass.__name__}, whose forward may compute something else; "
                f"supported: {_supported_text()}.")
    return f"supported: {_supported_text()}."
