"""An ONNX graph read as wlnet layers: each node (or short run of nodes) becomes one layer.

:class:`GraphReader` walks the nodes in their (topological) order. ``Constant`` nodes and
initializers are constants; ``Flatten``/``Reshape`` directly before a ``Gemm``/``MatMul`` are
absorbed (LinearLayer flattens its input itself), and so are a ``Reshape`` of a Gemm's output (the
LinearLayer's output dims) and an ``Add`` of a constant after a ``MatMul`` (its biases). Every
other supported node becomes a layer (:data:`READERS`); anything else is an error naming the node.
A ``Flatten`` (axis 1) or ``Reshape`` elsewhere, or one that a model wlnet wrote names as a layer
of its own, is a FlattenLayer when it merges leading or trailing levels of one example, and a
ReshapeLayer otherwise (:mod:`wlnet.onnx.shapes`).

Nodes of :data:`FOLDED_OPS` whose inputs are all constants are folded into constants first: PyTorch's
exporters without their constant folding (``do_constant_folding=False``, ``optimize=False``, or an
opset below 9) leave a ``Reshape``, ``Unsqueeze``, ``Concat`` or ``Cast`` of the initializer in front
of a PRelu's slope (and TorchScript's F.pad writes its pads as a ``ConstantOfShape``, ``Concat``, ``Slice``
and ``Transpose`` of constants). Shapes computed from a tensor's shape (``Shape``, then ``Gather``, ``Slice``,
``Unsqueeze``, ``Concat``: TorchScript's ``x.reshape(x.shape[0], ...)``) are folded too, as far as
the known dims allow: a ``Reshape`` to such a shape reads it with ``0`` where a dim is the input's
own dim at the same axis, and ``-1`` for the one dim left unknown.

PRelu's slope becomes levels: it is aligned with the input's shape as ONNX broadcasts it (at the
last axis, the batch axis first), and the levels are the dims, after the batch axis, where the
slope's size is not 1. A dim of size 1 is always shared (also where the input's dim is 1: the
same computation). A slope that varies along the first axis fits no wlnet slope over a batch;
such a graph (of fixed-shape inputs and elementwise nodes only) is read as a net on single
examples, the first axis a level like the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NetSpecificationError
from ..functions import NAMED_FUNCTIONS, Expression
from ..layers.base import Layer
from ..layers.elementwise import ElementwiseLayer
from ..layers.flatten import FlattenLayer
from ..layers.linear import LinearLayer
from ..layers.ramp import ParametricRampLayer
from . import combine, convolution, forms, normalization, pooling, shapes
from .checks import check_attributes, node_label, sorted_graph
from .common import FUNCTIONS_KEY
from .folding import constant_value, fold, fold_of_constant
from .graphs import weight_input

__all__ = ["FOLDED_OPS", "GraphReader", "Part", "READ_OPS", "functions_of"]


@dataclass
class Part:
    """One layer read from the graph: its ONNX node's name, the layer, the tensors it reads (one per
    input port, in port order: two for a TotalLayer read from an Add) and the tensor it writes."""

    name: str
    layer: Layer
    sources: tuple[str, ...]
    output: str


_ELEMENTWISE = {"Relu": "Ramp", "Sigmoid": "LogisticSigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log",
                "Abs": "Abs", "Sqrt": "Sqrt", "Sin": "Sin", "Cos": "Cos", "Elu": "ELU", "Selu": "SELU",
                "Softplus": "SoftPlus", "Softsign": "SoftSign"}
#: Every op wlnet reads, for the error naming what is supported.
READ_OPS = ("PRelu", "LeakyRelu", "Gemm", "MatMul", "Add (after MatMul)", "Flatten", "Reshape (of levels)",
            *_ELEMENTWISE, "Identity", "Constant", "Shape, Gather, Slice, Unsqueeze, Squeeze, Concat, Cast (of "
            "constants and shapes)", *pooling.READ_OPS, *combine.READ_OPS, *shapes.READ_OPS, *convolution.READ_OPS,
            *normalization.READ_OPS)
_LINEAR_OPS = ("Gemm", "MatMul")
#: Ops whose outputs are constants when their inputs are (folded before the walk), and, but Reshape,
#: the ops that compute a shape from ``Shape``'s output.
FOLDED_OPS = ("Identity", "Reshape", "Unsqueeze", "Squeeze", "Concat", "Cast", "Shape", "Gather", "Slice",
              "ConstantOfShape", "Transpose", "Expand", "CastLike")


class GraphReader:
    """Reads a graph's nodes as layers (see the module doc). ``parts`` holds the layers in node order."""

    def __init__(self, onnx: Any, model: Any, functions: dict[str, Any]):
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        model = sorted_graph(onnx, model, self.opset)  # each tensor defined once, no cycle: see .checks
        check_attributes(onnx, model, self.opset, {*READERS, *FOLDED_OPS})  # each of the type ONNX declares
        self.onnx, self.graph = onnx, model.graph
        self.constants = {t.name: onnx.numpy_helper.to_array(t) for t in self.graph.initializer}
        self.inputs = [v.name for v in self.graph.input if v.name not in self.constants]
        self.shapes = _shapes(onnx, model)
        self.consumers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            if node.op_type == "Constant":
                self.constants[node.output[0]] = constant_value(onnx, node)
        self.done: set[int] = set()
        self._fold_constants()
        self.alias: dict[str, str] = {}
        self.parts: list[Part] = []
        self.functions = functions  # wlnet-made: layer position key -> its function (JSON)
        self.batched = self._batched()
        self.made_by_wlnet = model.producer_name == "wlnet"  # its nodes are named "<layer key>/<op>"

    # -- helpers ---------------------------------------------------------------------------------------
    def source(self, name: str) -> str:
        """The tensor ``name`` stands for, following the wires (Identity, absorbed nodes): a checked graph has
        no cycle, so neither have they; bounded all the same."""
        for _ in range(len(self.alias) + 1):
            if name not in self.alias:
                return name
            name = self.alias[name]
        raise NetSpecificationError(f'Import: the ONNX graph\'s wires from "{name}" form a cycle.')

    def const(self, node: Any, index: int, what: str) -> np.ndarray:
        if index >= len(node.input) or node.input[index] not in self.constants:
            name = node.input[index] if index < len(node.input) else ""
            if name in self.inputs:  # a weight given as a graph input without an initializer
                raise self.unsupported(node, f"its {what} {weight_input(name)}")
            raise self.unsupported(node, f"its {what} is not a constant (an initializer or a Constant node)")
        return np.asarray(self.constants[node.input[index]])

    def attributes(self, node: Any) -> dict[str, Any]:
        """The node's attributes as Python values, by name (strings such as auto_pad decoded)."""
        values = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}

    def mark_read(self, *nodes: Any) -> None:
        """Mark ``nodes`` (None ones left out) as read, by a reader that took them with the node it read."""
        listed = list(self.graph.node)
        self.done.update(listed.index(n) for n in nodes if n is not None)

    def unsupported(self, node: Any, why: str = "") -> NetSpecificationError:
        """The refusal of ``node``: its name (or, unnamed, its position and output), op and the model's opset,
        then ``why`` (what it would need); for an op wlnet does not read, or without ``why``, every op it reads."""
        position = next((i for i, n in enumerate(self.graph.node, 1) if n is node or n == node), "?")
        label = node_label(node, position, self.opset)
        if why and (node.op_type in READERS or node.op_type in FOLDED_OPS):
            return NetSpecificationError(f"Import: the ONNX node {label} has no wlnet equivalent: {why}.")
        reason = f": {why}" if why else ""
        return NetSpecificationError(
            f"Import: the ONNX node {label} has no wlnet equivalent{reason}; wlnet reads {', '.join(READ_OPS)}."
        )

    def only_consumer(self, tensor: str) -> Any | None:
        users = self.consumers.get(tensor, [])
        outputs = {v.name for v in self.graph.output}
        return users[0] if len(users) == 1 and tensor not in outputs else None

    def add(self, node: Any, layer: Layer, source: str | list[str], output: str) -> None:
        sources = [source] if isinstance(source, str) else source  # a list: one tensor per input port
        self.parts.append(Part(node.name, layer, tuple(self.source(s) for s in sources), output))

    # -- the walk --------------------------------------------------------------------------------------
    def read(self) -> list[Part]:
        for node in self.graph.node:
            if node.op_type == "PRelu" and len(node.input) > 1 and node.input[1] not in self.constants:
                raise self.unsupported(node, self._computed(node.input[1]))
        for index, node in enumerate(self.graph.node):
            if index in self.done or node.op_type == "Constant":
                continue
            key = node.name.rpartition("/")[0]
            if key in self.functions:
                self._read_function(key)
                continue
            self.done.add(index)
            reader = READERS.get(node.op_type)
            if reader is None:
                raise self.unsupported(node)
            reader(self, node)
        return self.parts

    def _computed(self, slope: str) -> str:
        """Why a PRelu's slope ``slope`` is not a constant: where it comes from."""
        if slope in self.inputs:
            return f"its slope {weight_input(slope)}"
        producer = next((n for n in self.graph.node if slope in n.output), None)
        where = f' the {producer.op_type} node "{producer.name}"' if producer is not None else " no node"
        return (f"its slope is computed by{where}, not a constant (an initializer, a Constant node, or "
                f"{', '.join(FOLDED_OPS)} of constants)")

    def _read_function(self, key: str) -> None:
        """In a model wlnet wrote, the nodes of an ElementwiseLayer (named ``"<key>/..."``) are that
        layer, its function recorded in the metadata."""
        indices = [i for i, n in enumerate(self.graph.node)
                   if n.name.rpartition("/")[0] == key and n.op_type != "Constant"]
        nodes = [self.graph.node[i] for i in indices]
        made = {out for n in nodes for out in n.output}
        source = next(x for n in nodes for x in n.input if x not in made and x not in self.constants)
        data = self.functions[key]
        function = NAMED_FUNCTIONS[data] if isinstance(data, str) else Expression.from_json(data, "Import")
        self.done.update(indices)
        self.parts.append(Part(nodes[0].name, ElementwiseLayer(function), (self.source(source),), nodes[-1].output[0]))

    def _fold_constants(self) -> None:
        """Fold the nodes of :data:`FOLDED_OPS` whose inputs are constants, or shapes (see the module
        doc): a shape is an object array of ints and dim names, kept apart from the constants."""
        shapes: dict[str, np.ndarray] = {}
        for index, node in enumerate(self.graph.node):
            if node.op_type not in FOLDED_OPS or not node.input:
                continue
            known = [not n or n in self.constants or n in shapes for n in node.input]
            if node.op_type == "Reshape" and node.input[1] in shapes and not known[0]:
                self._resolve_shape(node, shapes[node.input[1]])
                continue
            if fold_of_constant(self, node):
                self.done.add(index)
                continue
            if node.op_type == "Shape":
                value = self._shape_of(node)
                if value is not None:
                    shapes[node.output[0]] = value
                    self.done.add(index)
                continue
            if not all(known):
                continue
            values = [None if not n else shapes[n] if n in shapes else np.asarray(self.constants[n])
                      for n in node.input]
            try:
                value = fold(self.onnx, self.opset, node, values)
            except Exception as error:  # numpy's reshape, take, concatenate errors: a malformed node
                raise self.unsupported(node, f"its constant inputs do not fold ({type(error).__name__}: {error})") \
                    from None
            if any(n in shapes for n in node.input):
                shapes[node.output[0]] = value
            else:
                self.constants[node.output[0]] = value
            self.done.add(index)

    def _shape_of(self, node: Any) -> np.ndarray | None:
        """``Shape(x)``: x's dims, an unknown one as a name of its own; None when x's rank is unknown."""
        dims = self.shapes.get(node.input[0])
        if dims is None:
            return None
        attributes = self.attributes(node)
        named = [d if d is not None else f"?{node.input[0]}:{i}" for i, d in enumerate(dims)]
        value = np.empty(len(named), dtype=object)
        value[:] = named
        return value[attributes.get("start", 0):attributes.get("end", len(named))]

    def _resolve_shape(self, node: Any, shape: np.ndarray) -> None:
        """The constant shape of a Reshape to a computed ``shape``: 0 where it is the input's own dim at
        that axis, -1 for one dim left unknown. Left alone when more dims are unknown, or when another
        node uses the shape."""
        data, target = node.input[0], node.input[1]
        if shape.ndim != 1 or self.only_consumer(target) is not node:
            return
        dims = self.shapes.get(data) or ()
        resolved = [d if isinstance(d, (int, np.integer)) else 0 if i < len(dims) and dims[i] == d else None
                    for i, d in enumerate(shape)]
        unknown = [i for i, d in enumerate(resolved) if d is None]
        if len(unknown) <= 1:
            self.constants[target] = np.array([-1 if d is None else d for d in resolved], dtype=np.int64)

    def _batched(self) -> bool:
        """False when a PRelu slope varies along the first axis (see the module doc)."""
        for node in self.graph.node:
            if node.op_type != "PRelu" or len(node.input) < 2 or node.input[1] not in self.constants:
                continue
            slope, shape = np.asarray(self.constants[node.input[1]]), self.shapes.get(node.input[0])
            if shape is not None and slope.ndim == len(shape) and slope.shape[0] != 1:
                fixed = all(isinstance(d, int) for name in self.inputs for d in self.shapes.get(name) or [None])
                simple = all(n.op_type in (*_ELEMENTWISE, "PRelu", "LeakyRelu", "Identity", "Constant")
                             for n in self.graph.node)
                if not (fixed and simple):
                    raise self.unsupported(node, f"its slope (dims {slope.shape}) varies along the batch axis")
                return False
        return True


# -- readers ------------------------------------------------------------------------------------------------
def _prelu(r: GraphReader, node: Any) -> None:
    slope = r.const(node, 1, "slope").astype(np.float32)
    shape = r.shapes.get(node.input[0])
    if shape is None:
        raise r.unsupported(node, "the rank of its input is not known")
    aligned = forms.prelu_aligned(r, node, slope, shape)  # by the opset's rules: axis 1 before opset 7
    if r.batched:
        aligned = aligned[1:]
    levels: Any = [i + 1 for i, size in enumerate(aligned) if size != 1]
    value = slope.reshape([size for size in aligned if size != 1])
    levels = levels[0] if len(levels) == 1 else levels  # one level as an int, as ParametricRampLayer(2)
    r.add(node, ParametricRampLayer(levels, Slope=value), node.input[0], node.output[0])


def _leaky(r: GraphReader, node: Any) -> None:
    alpha = r.attributes(node).get("alpha", 0.01)  # a FLOAT: the type is checked (.checks.check_attributes)
    layer = ParametricRampLayer([], Slope=np.float32(alpha), LearningRateMultipliers=0)
    r.add(node, layer, node.input[0], node.output[0])


def _elementwise(r: GraphReader, node: Any) -> None:
    function = forms.elementwise_function(r, node, _ELEMENTWISE[node.op_type])  # Elu's alpha, Selu's alpha and gamma
    r.add(node, ElementwiseLayer(function), node.input[0], node.output[0])


def _identity(r: GraphReader, node: Any) -> None:
    r.alias[node.output[0]] = node.input[0]


def _flatten(r: GraphReader, node: Any) -> None:
    """A Flatten or Reshape to a matrix right before a Gemm or MatMul: absorbed; anywhere else, a
    FlattenLayer when it merges leading or trailing levels of one example."""
    user = r.only_consumer(node.output[0])
    own_layer = r.made_by_wlnet and user is not None and node.name.rpartition("/")[0] != user.name.rpartition("/")[0]
    if user is None or user.op_type not in _LINEAR_OPS or user.input[0] != node.output[0] or own_layer:
        r.add(node, _flatten_layer(r, node), node.input[0], node.output[0])
        return
    if node.op_type == "Flatten" and forms.axis_of(r, node, 1, node.input[0]) != 1:
        raise r.unsupported(node, "only axis=1 (everything but the batch axis) flattens as LinearLayer does")
    if node.op_type == "Reshape" and r.const(node, 1, "shape").size != 2:
        raise r.unsupported(node, "only a reshape to a matrix (batch, n) flattens as LinearLayer does")
    r.alias[node.output[0]] = node.input[0]


def _flatten_layer(r: GraphReader, node: Any) -> Layer:
    """The FlattenLayer a Flatten (axis 1) or a Reshape of one example's levels is."""
    shape = r.shapes.get(node.input[0])
    if node.op_type == "Flatten":
        return forms.flatten_layer(r, node, shape)
    target = [int(d) for d in r.const(node, 1, "shape").reshape(-1)]
    if shape is None or not target:
        raise r.unsupported(node, "wlnet reads a Reshape that keeps the batch axis (0 or -1 first) of an input "
                                  "whose rank is known")
    target = forms.batch_kept_shape(r, node, shape, target)
    dims_in = list(shape[1:])
    dims_out = [dims_in[i] if d == 0 and i < len(dims_in) else d for i, d in enumerate(target[1:])]
    n = _merged_levels(dims_in, dims_out) if dims_out else None
    if n is None or r.made_by_wlnet and r.graph.name == "ReshapeLayer":  # a model of a ReshapeLayer alone
        return shapes.reshape_layer(r, node, dims_in, target[1:])
    return FlattenLayer() if n == 0 else FlattenLayer(n)


def _merged_levels(dims_in: list, dims_out: list) -> int | None:
    """FlattenLayer's n for dims_in -> dims_out (0 for every level), or None when it is not one."""
    merged = len(dims_in) - len(dims_out) + 1
    if merged < 2 and not (len(dims_out) == 1 and dims_in):
        return None

    def size(dims: list) -> int | None:
        return int(np.prod(dims)) if all(isinstance(d, int) and d > 0 for d in dims) else None

    if len(dims_out) == 1 and dims_out[0] in (-1, size(dims_in)):
        return 0
    if dims_in[merged:] == dims_out[1:] and dims_out[0] in (-1, size(dims_in[:merged])):
        return merged - 1
    keep = len(dims_out) - 1
    if dims_in[:keep] == dims_out[:keep] and dims_out[-1] in (-1, size(dims_in[keep:])):
        return -(merged - 1)
    return None


def _gemm(r: GraphReader, node: Any) -> None:
    attributes = r.attributes(node)
    if attributes.get("transA", 0):
        raise r.unsupported(node, "transA=1 transposes the batch away")
    b = r.const(node, 1, "B").astype(np.float64)
    weights = (b if attributes.get("transB", 0) else b.T) * attributes.get("alpha", 1.0)
    biases = None
    if len(node.input) > 2 and node.input[2] and node.input[2] not in r.constants:
        forms.gemm_plus(r, node, weights, float(attributes.get("beta", 1.0)))
        return
    if len(node.input) > 2 and node.input[2]:
        c = r.const(node, 2, "C")
        biases = forms.bias_of(c, weights.shape[0])
        if biases is None:
            varies = "varies along the batch axis" if c.ndim == 2 and c.shape[0] != 1 else "is not a bias"
            raise r.unsupported(node, f"its C (dims {c.shape}) {varies}; wlnet reads a C of dims (), (1,), (n,), "
                                      f"(1, 1) or (1, n) (n = {weights.shape[0]}), constant over the batch")
        biases = biases * attributes.get("beta", 1.0)
    _linear(r, node, weights, biases, node.output[0])


def _matmul(r: GraphReader, node: Any) -> None:
    """MatMul of a constant matrix, with the Add of a constant vector that follows it, if any."""
    shape = r.shapes.get(r.source(node.input[0]))
    absorbed = r.source(node.input[0]) != node.input[0]
    if not absorbed and (shape is None or len(shape) != 2):  # an unknown rank might be 3: (batch, m, n) @ W
        raise r.unsupported(node, "only a MatMul of a matrix (batch, n) is a LinearLayer" + (
            " (the rank of its input is not known)" if shape is None else ""))
    weights = r.const(node, 1, "second factor").astype(np.float64).T
    if weights.ndim != 2:
        raise r.unsupported(node, "its second factor is not a matrix")
    output, biases = node.output[0], None
    add = r.only_consumer(output)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == output else add.input[0]
        biases = forms.bias_of(r.constants.get(other), weights.shape[0])  # only what broadcasts as biases
        if biases is not None:
            r.mark_read(add)
            output = add.output[0]
    _linear(r, node, weights, biases, output)


def _linear(r: GraphReader, node: Any, weights: np.ndarray, biases: np.ndarray | None, output: str) -> None:
    """The LinearLayer, with the Reshape of its output that follows, if any, as its output dims."""
    size: Any = weights.shape[0]
    reshape = r.only_consumer(output)
    if reshape is not None and reshape.op_type == "Reshape" and reshape.input[1] in r.constants:
        shape = [int(d) for d in np.asarray(r.constants[reshape.input[1]]).reshape(-1)]
        absorbed = True
        if shape == [-1] and size == 1:
            size = []
        elif len(shape) > 1 and shape[0] in (0, -1) and min(shape[1:]) > 0 and int(np.prod(shape[1:])) == size:
            size = tuple(shape[1:]) if len(shape) > 2 else size
        else:
            absorbed = False
        if absorbed:
            r.mark_read(reshape)
            output = reshape.output[0]
    layer = LinearLayer(size, Weights=weights.astype(np.float32),
                        Biases=None if biases is None else biases.astype(np.float32))
    r.add(node, layer, node.input[0], output)


#: The families' readers of a Transpose or Pad with the node it feeds, by (its op, that node's op).
_FEEDING = {**convolution.FEEDING, **normalization.FEEDING}


def _feeding(r: GraphReader, node: Any) -> bool:
    """Read a Transpose or Pad with the node it feeds when a family reads that pair (convolution.FEEDING:
    a Transpose or Pad before a Conv; normalization.FEEDING: a Transpose before a BatchNormalization),
    returning True; False when none does."""
    user = r.only_consumer(node.output[0])
    reader = None if user is None else _FEEDING.get((node.op_type, user.op_type))
    if reader is not None:
        reader(r, node)
    return reader is not None


def _transpose(r: GraphReader, node: Any) -> None:
    """A Transpose is part of a family's pattern: a Conv's, shapes' (Softmax, FlattenLayer groups), else pooling's."""
    if not _feeding(r, node) and not shapes.read_transpose(r, node):
        pooling.READERS["Transpose"](r, node)


def _pad(r: GraphReader, node: Any) -> None:
    """A Pad before a Conv (its padding), else pooling's."""
    if not _feeding(r, node):
        pooling.READERS["Pad"](r, node)


READERS: dict[str, Callable[[GraphReader, Any], None]] = {
    "PRelu": _prelu, "LeakyRelu": _leaky, "Identity": _identity, "Flatten": _flatten, "Reshape": _flatten,
    "Gemm": _gemm, "MatMul": _matmul, **dict.fromkeys(_ELEMENTWISE, _elementwise),
    **pooling.READERS,
    **combine.READERS,
    **shapes.READERS,
    **convolution.READERS,
    **normalization.READERS,
    "Transpose": _transpose,
    "Pad": _pad,
}


# -- constants and shapes -----------------------------------------------------------------------------
def _dims(value_info: Any) -> tuple | None:
    """A tensor's shape: ints, names of symbolic dims, None for unknown ones; None without a shape."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)


def _shapes(onnx: Any, model: Any) -> dict[str, tuple]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a graph shape inference cannot follow: what the model itself says
        inferred = model
    graph = inferred.graph
    shapes = {}
    for value in (*graph.value_info, *graph.input, *graph.output):
        dims = _dims(value)
        if dims is not None:
            shapes[value.name] = dims
    return shapes


def functions_of(metadata: dict[str, str]) -> dict[str, Any]:
    """The ElementwiseLayer functions a wlnet-made model records, by layer position key."""
    return json.loads(metadata[FUNCTIONS_KEY]) if FUNCTIONS_KEY in metadata else {}
