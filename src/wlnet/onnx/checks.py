"""What Import checks of an ONNX model before reading it, so that a file from elsewhere never hangs
wlnet nor is read as something it is not (the rules of ONNX's IR, as ``onnx.checker`` and
onnxruntime apply them).

* The file (:func:`read_regular_file`): only a regular file is opened for reading (a FIFO, a device
  or a directory is refused without blocking on it), of at most 2 GiB (protobuf's limit for one
  message: a larger ONNX model keeps its tensors as external data, which onnx loads from the
  model's directory with its own checks).
* The graph (:func:`sorted_graph`): every tensor is defined once, by a graph input, an initializer
  or one node's output (an initializer of a graph input's name is allowed: it is the input's default
  value, which Import takes as a constant); every tensor a node reads is defined; every graph
  output is defined; the graph has no cycle (an ``Identity`` of its own output, or ``a <- b``,
  ``b <- a``). The nodes are then read in a topological order: the file's own order when it is one
  (ONNX requires it), else the same order as far as the edges allow (as onnxruntime sorts them).
* Every node's attributes (:func:`check_attributes`) have the type that ONNX's schema of the op at the
  model's opset declares (``onnx.defs``: LeakyRelu's ``alpha`` is a FLOAT, Conv's ``strides`` INTS),
  each appears once, holds its value in that type's field, is one the op has, and a required one is
  there. A node of another domain than ONNX's own (``""``, ``"ai.onnx"``) is refused: its op is not
  the ONNX op of that name. A node of an op that wlnet reads but that ONNX does not have at the
  model's opset (``Expand`` before opset 8) is refused too.

Each refusal is a :class:`~wlnet.errors.NetSpecificationError` naming the tensors, nodes or attribute.
"""

from __future__ import annotations

import functools
import heapq
import os
import stat
from collections.abc import Collection
from typing import Any

from ..errors import NetError, NetSpecificationError, shortened

__all__ = ["MAX_MODEL_BYTES", "check_attributes", "node_label", "read_regular_file", "sorted_graph"]

#: The largest model file Import reads: protobuf's limit for one message (2 GiB).
MAX_MODEL_BYTES = 2**31 - 1
_DOMAINS = ("", "ai.onnx")


def read_regular_file(path: str) -> Any:
    """``path`` opened for reading (binary) when it is a regular file of at most
    :data:`MAX_MODEL_BYTES`; a NetError naming it otherwise. It is opened without blocking (a FIFO
    would wait for a writer) and checked on the open file, so that it cannot change in between."""

    def opener(name: str, flags: int) -> int:
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))

    try:
        file = open(path, "rb", opener=opener)  # noqa: SIM115 (returned open, the caller closes it)
    except OSError as error:
        raise NetError(f'Import: cannot open "{path}" ({type(error).__name__}: {error.strerror or error}).') from None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(
            info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket" \
            if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise NetError(f'Import: "{path}" is {kind}; Import reads an ONNX model only from a regular file.')
    if info.st_size > MAX_MODEL_BYTES:
        file.close()
        raise NetError(f'Import: "{path}" has {info.st_size} bytes, more than an ONNX model can have '
                       f"({MAX_MODEL_BYTES}, protobuf's limit; a larger model keeps its tensors as external data).")
    return file


def node_label(node: Any, position: Any, opset: int) -> str:
    """A node as errors name it: ``"conv1" (Conv, opset 17)``, or unnamed by its (1-based) position and
    first output, ``7 (Hardmax, opset 13, unnamed, writing "Output")``."""
    if node.name:
        return f'"{shortened(node.name, 80)}" ({shortened(node.op_type, 40)}, opset {opset})'
    output = shortened(node.output[0], 80) if node.output else ""
    return f'{position} ({shortened(node.op_type, 40)}, opset {opset}, unnamed, writing "{output}")'


def _tensor(name: str) -> str:
    return f'"{shortened(name, 80)}"'


def sorted_graph(onnx: Any, model: Any, opset: int) -> Any:
    """``model`` when its graph is valid (see the module doc) and its nodes topologically sorted; a copy
    with the nodes sorted (stably) when the graph is valid but out of order; an error otherwise."""
    nodes = list(model.graph.node)
    order = _order(nodes, _producers(model.graph, nodes, opset), opset)
    if order == list(range(len(nodes))):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.node[:]
    copy.graph.node.extend(nodes[i] for i in order)
    return copy


def _producers(graph: Any, nodes: list, opset: int) -> dict[str, int]:
    """Each node output's node (by index), once every tensor is found defined once and every tensor read
    defined (see the module doc); an error naming the tensor and its definitions otherwise."""
    defined: dict[str, str] = {}
    sparse = [t.values.name for t in graph.sparse_initializer]
    for kind, names in (("graph input", [v.name for v in graph.input]),
                        ("initializer", [t.name for t in graph.initializer] + sparse)):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise NetSpecificationError(f"Import: the ONNX graph has two {kind}s named {_tensor(name)}; each "
                                            "tensor of an ONNX graph is defined once.")
            seen.add(name)
            defined.setdefault(name, f"the {kind} {_tensor(name)}")  # an input's initializer: its default value
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in filter(None, node.output):
            if name in defined:
                raise NetSpecificationError(
                    f"Import: the ONNX node {node_label(node, index + 1, opset)} writes the tensor {_tensor(name)}, "
                    f"which {defined[name]} already defines; each tensor of an ONNX graph is defined once (by a "
                    "graph input, an initializer or one node's output).")
            defined[name], producer[name] = f"the node {node_label(node, index + 1, opset)}", index
    for index, node in enumerate(nodes):
        for name in filter(None, node.input):
            if name not in defined:
                raise NetSpecificationError(
                    f"Import: the ONNX node {node_label(node, index + 1, opset)} reads the tensor {_tensor(name)}, "
                    "which no graph input, initializer or node of the graph defines.")
    for value in graph.output:
        if value.name not in defined:
            raise NetSpecificationError(f"Import: the ONNX graph output {_tensor(value.name)} is not defined by a "
                                        "node, a graph input or an initializer.")
    return producer


def _order(nodes: list, producer: dict[str, int], opset: int) -> list[int]:
    """The nodes' indices in a topological order, each as early as the file has it (Kahn's algorithm,
    the ready node of the lowest index first); an error naming a cycle when there is one."""
    needs = [{producer[name] for name in node.input if name in producer} for node in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for index, sources in enumerate(needs):
        for source in sources:
            users[source].append(index)
    waiting = [len(sources) for sources in needs]
    ready = [index for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) < len(nodes):
        raise _cycle_error(nodes, needs, set(range(len(nodes))) - set(order), producer, opset)
    return order


def _cycle_error(nodes: list, needs: list[set[int]], left: set[int], producer: dict[str, int],
                 opset: int) -> NetSpecificationError:
    """The error naming one cycle among the nodes ``left`` (each of which needs another one left)."""
    path, index = [], min(left)
    while index not in path:  # at most len(left) steps: each node left needs a node left
        path.append(index)
        index = min(needs[index] & left)
    cycle = path[path.index(index):]
    steps = []
    for i in cycle:
        node = nodes[i]
        read = [name for name in node.input if producer.get(name) in cycle]
        written = [name for name in node.output if name and any(name in nodes[j].input for j in cycle)]
        steps.append(f"the node {node_label(node, i + 1, opset)} computes {_tensor(written[0] if written else '?')}"
                     f" from {_tensor(read[0])}")
    return NetSpecificationError(f"Import: the ONNX graph has a cycle: {'; '.join(steps)}; an ONNX graph is "
                                 "acyclic (its nodes are sorted so that each reads only what earlier ones write).")


@functools.cache
def _schema(onnx: Any, op_type: str, opset: int) -> tuple[str, dict[str, tuple[int, bool]]] | None:
    """The op's schema at ``opset``: its name with the version it dates from, and each attribute's declared
    type and whether it is required; None when ONNX has no such op at that opset."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except Exception:  # onnx.defs.SchemaError
        return None
    declared = {name: (int(a.type), bool(a.required)) for name, a in schema.attributes.items()}
    return f"{op_type}-{schema.since_version}", declared


def _type_name(onnx: Any, value: int) -> str:
    try:
        return str(onnx.AttributeProto.AttributeType.Name(value))
    except ValueError:
        return f"an unknown type ({value})"


def check_attributes(onnx: Any, model: Any, opset: int, read_ops: Collection[str]) -> None:
    """Check each node's domain and attributes (see the module doc); ``read_ops``: the ops wlnet reads,
    which ONNX must have at the model's opset."""
    for index, node in enumerate(model.graph.node):
        label = node_label(node, index + 1, opset)
        if node.domain not in _DOMAINS:
            raise NetSpecificationError(
                f"Import: the ONNX node {label} is of the domain {_tensor(node.domain)}, not ONNX's own (ai.onnx); "
                "wlnet reads only ONNX's ops.")
        schema = _schema(onnx, node.op_type, opset)
        if schema is None:
            if node.op_type in read_ops:
                raise NetSpecificationError(f"Import: the ONNX node {label} is not valid ONNX: ONNX has no "
                                            f"{node.op_type} at opset {opset}.")
            continue  # an op wlnet does not read: the reader names it
        _check_node_attributes(onnx, node, label, *schema)


def _check_node_attributes(onnx: Any, node: Any, label: str, op: str, declared: dict[str, tuple[int, bool]]) -> None:
    where = f"Import: the ONNX node {label} is not valid ONNX (onnx.checker refuses it too): its attribute"
    seen: set[str] = set()
    for attribute in node.attribute:
        name = _tensor(attribute.name)
        if attribute.name in seen:
            raise NetSpecificationError(f"{where} {name} appears more than once.")
        seen.add(attribute.name)
        if attribute.name not in declared:
            raise NetSpecificationError(f"{where} {name} is not one that {op} has (it has "
                                        f"{', '.join(sorted(declared)) or 'none'}).")
        expected, found = declared[attribute.name][0], int(attribute.type)
        if found != expected:
            raise NetSpecificationError(f"{where} {name} has the type {_type_name(onnx, found)}, but {op} declares "
                                        f"it {_type_name(onnx, expected)}.")
        fields = {field.name for field, _ in attribute.ListFields()} & _VALUE_FIELDS
        if attribute.ref_attr_name or fields - {_VALUE_FIELD.get(found, "")}:
            raise NetSpecificationError(f"{where} {name} of type {_type_name(onnx, found)} holds its value in "
                                        f"another field ({', '.join(sorted(fields)) or 'ref_attr_name'}).")
    missing = [name for name, (_, required) in declared.items() if required and name not in seen]
    if missing:
        raise NetSpecificationError(f"{where} {_tensor(missing[0])}, which {op} requires, is missing.")


#: Each attribute type's value field in AttributeProto (by AttributeProto.AttributeType's numbers).
_VALUE_FIELD = {1: "f", 2: "i", 3: "s", 4: "t", 5: "g", 11: "sparse_tensor", 13: "tp", 6: "floats", 7: "ints",
                8: "strings", 9: "tensors", 10: "graphs", 12: "sparse_tensors", 14: "type_protos"}
_VALUE_FIELDS = set(_VALUE_FIELD.values())
