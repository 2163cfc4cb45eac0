"""Import: an ONNX model as a wlnet net, its arrays, or its metadata.

The graph's nodes are read as layers (:mod:`.ops`); a graph that is a single line from one input
to one output becomes a NetChain, any other a NetGraph wired by NetPort (its ports named after the
graph's inputs and outputs, its layers after the ONNX nodes when their names are unique). A model
wlnet wrote gives back the very net exported (from the description it records, as long as its
graph is exactly what that net exports to); failing that, it keeps its layer keys (read from its
node names, ``"2/PRelu"`` is layer 2), the type of its net (a bare layer, a NetChain or a
NetGraph) and its ports' coders, so that exporting the imported net gives the same graph.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote

import numpy as np

from ..coders import NetDecoder, NetEncoder
from ..errors import NetError, NetSpecificationError, closest
from ..layers.base import Layer
from ..lower import array_slots, with_arrays
from ..nets.chain import NetChain
from ..nets.graph import NetGraph
from ..nets.wiring import NetPort
from ..serialize import json_coder, json_net
from ..symbols import Automatic
from ..types import VARYING, TensorT
from .checks import read_regular_file
from .common import CODERS_KEY, DESCRIPTION_KEY, NET_KEY, PRODUCER, require
from .export import onnx_model
from .graphs import torch_keys
from .ops import GraphReader, Part, functions_of

__all__ = ["ELEMENTS", "import_onnx"]

ELEMENTS = ("Net", "UninitializedNet", "ArrayAssociation", "ArrayList", "OperatorSetVersion", "IRVersion",
            "ProducerName", "ProducerVersion", "Description", "ModelVersion", "ModelDomain")


def import_onnx(source: str | os.PathLike | bytes, element: str = "Net") -> Any:
    """An element of the ONNX model in the file ``source`` (or in the bytes ``source``).

    Wolfram: ``Import["file.onnx"]``, ``Import["file.onnx", element]``.

    Elements: ``"Net"`` (the net with its arrays, the default), ``"UninitializedNet"``,
    ``"ArrayAssociation"`` (``{array path: float32 array}``), ``"ArrayList"``,
    ``"OperatorSetVersion"``, ``"IRVersion"``, ``"ProducerName"``, ``"ProducerVersion"``,
    ``"Description"``, ``"ModelVersion"``, ``"ModelDomain"`` (None where the model has no text).

    Raises:
        NetSpecificationError: an unknown element; a node wlnet has no layer for.
        NetError: a file that cannot be read as an ONNX model.
    """
    if element not in ELEMENTS:
        raise NetSpecificationError(
            f"Import: {element!r} is not an ONNX element.{closest(str(element), ELEMENTS)} The elements are: "
            f"{', '.join(ELEMENTS)}."
        )
    onnx = require()
    model = _load(onnx, source)
    metadata = {
        "OperatorSetVersion": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "IRVersion": model.ir_version,
        "ProducerName": model.producer_name or None,
        "ProducerVersion": model.producer_version or None,
        "Description": model.doc_string or None,
        "ModelVersion": model.model_version,
        "ModelDomain": model.domain or None,
    }
    if element in metadata:
        return metadata[element]
    try:
        net = model_net(onnx, model)
    except NetError as error:
        if str(error).startswith("Import"):
            raise
        raise type(error)(f"Import: the ONNX model's net: {error}") from None
    except Exception as error:  # a model that decodes but is inconsistent (a damaged file, a bad tool)
        raise NetError(f"Import: the ONNX model is malformed ({type(error).__name__}: {error}).") from error
    if element == "Net":
        return net
    if element == "UninitializedNet":
        return with_arrays(net, {slot.key: Automatic for slot in array_slots(net)})
    arrays = {slot.key: np.array(slot.value) for slot in array_slots(net)}
    return arrays if element == "ArrayAssociation" else list(arrays.values())


def _load(onnx: Any, source: Any) -> Any:
    """The model in the bytes or the file ``source``: a regular file only (:func:`.checks.read_regular_file`),
    its external data (if any) loaded by onnx from the model's directory."""
    what = "the given bytes" if isinstance(source, (bytes, bytearray)) else f'"{os.fspath(source)}"'
    try:
        if isinstance(source, (bytes, bytearray)):
            return onnx.load_model_from_string(bytes(source))
        with read_regular_file(os.fspath(source)) as file:  # onnx.load of the open file: its name gives the format
            return onnx.load(file)
    except NetError:
        raise
    except Exception as error:  # protobuf's DecodeError, OSError, ...: the file is not a model
        raise NetError(f"Import: cannot read {what} as an ONNX model ({type(error).__name__}: {error}).") from None


def model_net(onnx: Any, model: Any) -> Layer:
    """The net of an ONNX model (see the module doc)."""
    metadata = {p.key: p.value for p in model.metadata_props}
    made_here = model.producer_name == PRODUCER and NET_KEY in metadata
    described = _described_net(onnx, model, metadata) if made_here else None
    if described is not None:
        return described
    reader = GraphReader(onnx, model, functions_of(metadata) if made_here else {})
    parts = reader.read()
    if not parts:
        wires = [node for node in reader.graph.node if node.op_type != "Constant"]
        if wires:  # Identity, a Sum of one input, ...: the output is the input itself
            raise reader.unsupported(wires[-1], "the graph's output is its input unchanged, and a wlnet net has at "
                                                "least one layer")
        raise NetSpecificationError("Import: the ONNX graph has no nodes wlnet can read as layers.")
    coders = _coders(metadata)
    ports = {name: coders.get(name) or _port_type(reader, name) for name in reader.inputs}
    outputs = [reader.source(v.name) for v in reader.graph.output]
    keys = _keys(parts, made_here) if made_here else torch_keys(reader, parts) or _keys(parts, made_here)
    kind = metadata.get(NET_KEY) if made_here else None
    line = _is_line(parts, reader.inputs, outputs)
    if kind not in ("NetChain", "NetGraph") and made_here and _is_layer(parts, reader.inputs, outputs):
        layer = parts[0].layer
        if layer._input_names != tuple(reader.inputs):  # a TotalLayer's ports, named as the graph's inputs
            args, options = layer._arguments()
            layer = type(layer)(*args, **{**options, "InputPorts": dict.fromkeys(reader.inputs, Automatic)})
        for name in layer._input_names:
            layer = layer._with_input_type(name, ports[name])
        return layer
    if line and kind != "NetGraph":
        layers = [p.layer for p in parts] if isinstance(keys[0], int) else dict(zip(keys, [p.layer for p in parts]))
        options = {"Input": ports[reader.inputs[0]]}
        if coders.get("Output") is not None:
            options["Output"] = coders["Output"]
        return NetChain(layers, **options)
    return _graph(reader, parts, keys, ports, coders)


def _described_net(onnx: Any, model: Any, metadata: dict[str, str]) -> Layer | None:
    """The net wlnet exported to ``model``, from the description it recorded, when exporting that
    net again gives exactly the model's graph (a model edited since is read from its graph)."""
    try:
        skeleton = json_net(json.loads(metadata[DESCRIPTION_KEY]), "Import")
        initializers = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        arrays = {}
        for slot in array_slots(skeleton):
            value = initializers[slot.key]
            arrays[slot.key] = value.reshape(slot.known_dims) if slot.known_dims is not None else value
        net = with_arrays(skeleton, arrays)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        again = onnx_model(net, OperatorSetVersion=opset, GraphName=model.graph.name)
    except (KeyError, ValueError, TypeError, StopIteration):  # NetError is a ValueError
        return None
    return net if again.graph == model.graph else None


def _graph(reader: GraphReader, parts: list[Part], keys: list, ports: dict, coders: dict) -> NetGraph:
    producer = {part.output: key for part, key in zip(parts, keys)}
    # (source tensor, destination) of every layer input: the layer, or its port when it has several
    feeds = [(source, key if len(part.sources) == 1 else NetPort(key, port))
             for part, key in zip(parts, keys) for source, port in zip(part.sources, part.layer._input_names)]
    edges: list[tuple] = []
    for name in reader.inputs:
        edges += [(NetPort(name), destination) for source, destination in feeds if source == name]
    edges += [(producer[source], destination) for source, destination in feeds if source in producer]
    used = {source for source, _ in feeds}
    for value in reader.graph.output:
        tensor = reader.source(value.name)
        if tensor not in producer:
            raise NetSpecificationError(
                f'Import: the ONNX graph output "{value.name}" is not computed by a layer (it is a graph '
                "input or a constant); wlnet graphs cannot express that."
            )
        edges.append((producer[tensor], NetPort(value.name)))
        used.add(tensor)
    edges += [(key, None) for part, key in zip(parts, keys) if part.output not in used]
    layers = [p.layer for p in parts] if isinstance(keys[0], int) else dict(zip(keys, [p.layer for p in parts]))
    options = {**ports, **{name: coder for name, coder in coders.items() if name not in ports}}
    return NetGraph(layers, edges, **options)


def _is_line(parts: list[Part], inputs: list[str], outputs: list[str]) -> bool:
    """Whether the layers form one line from the only input to the only output."""
    if len(inputs) != 1 or len(outputs) != 1 or outputs[0] != parts[-1].output:
        return False
    sources = [part.sources for part in parts]
    return sources == [(inputs[0],), *((part.output,) for part in parts[:-1])]


def _is_layer(parts: list[Part], inputs: list[str], outputs: list[str]) -> bool:
    """Whether the graph is one layer, its input ports the graph's inputs and its output the graph's."""
    layer = parts[0].layer
    names = inputs if layer._ports_in_order else list(layer._input_names)
    return len(parts) == 1 and outputs == [parts[0].output] and list(parts[0].sources) == inputs == names


def _keys(parts: list[Part], made_here: bool) -> list:
    """The layers' keys: in a model wlnet wrote, the positions its node names carry (1, 2, ... or
    the layer names); otherwise the node names when they are all unique, else 1, 2, ..."""
    if made_here:
        steps = [part.name.rpartition("/")[0] for part in parts]
        if steps == [str(i) for i in range(1, len(parts) + 1)]:
            return list(range(1, len(parts) + 1))
        names = [unquote(step) if "." not in step else step for step in steps]
    else:
        names = [part.name for part in parts]
    if all(names) and len(set(names)) == len(names):
        return names
    return list(range(1, len(parts) + 1))


def _port_type(reader: GraphReader, name: str) -> TensorT:
    """A graph input's type: its shape after the batch axis (unless the graph is read on single
    examples); a symbolic dim right after the batch axis is "Varying", any other unknown."""
    shape = reader.shapes.get(name)
    if shape is None:
        return TensorT(None)
    dims = shape[1:] if reader.batched else shape
    return TensorT(tuple(
        d if isinstance(d, int) and d > 0 else (VARYING if i == 0 and reader.batched and d else None)
        for i, d in enumerate(dims)
    ))


def _coders(metadata: dict[str, str]) -> dict[str, Any]:
    """The ports' coders recorded by wlnet's export."""
    kinds = {"NetEncoder": NetEncoder, "NetDecoder": NetDecoder}
    recorded = json.loads(metadata.get(CODERS_KEY, "{}"))
    return {port: json_coder(entry[2], "Import") if len(entry) > 2 else kinds[entry[0]](entry[1])
            for port, entry in recorded.items() if entry[0] in kinds}
