"""A net as an ONNX model, emitted from the net's description (never traced from torch).

Containers are flattened into one ONNX graph: NetChain feeds each layer's output to the next,
NetGraph follows its wiring in topological order, and each leaf layer is emitted by its row of
:data:`.emit.EMITTERS`. The graph's inputs and outputs are the net's ports, float32, the batch
dim symbolic (``"batch"``), a "Varying" dim symbolic too (``"Input_length"``); a NetEncoder or
NetDecoder is left out (the model computes the raw numbers) and recorded in the model's
``metadata_props`` so that import restores it. The metadata also holds the net's whole
description (:mod:`wlnet.serialize`), with which import gives back the very net exported (nesting,
levels, multipliers) as long as the graph is still exactly what that net exports to.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import NetOptionError, NetShapeError, NetSpecificationError, check_options
from ..layers.base import Layer
from ..nets.chain import NetChain
from ..nets.graph import NetGraph
from ..nets.wiring import NetPort
from ..serialize import coder_json, net_json
from ..symbols import Automatic
from ..types import VARYING, TensorT, describe
from ..version import __version__
from ..writing import write_atomically
from .builder import Builder
from .common import CODERS_KEY, DEFAULT_OPSET, DESCRIPTION_KEY, FUNCTIONS_KEY, NET_KEY, PRODUCER, require
from .emit import EMITTERS, position_key

__all__ = ["export_onnx", "onnx_model"]

_OPTIONS = ("OperatorSetVersion", "Description", "GraphName", "ModelVersion")


def onnx_model(net: Layer, *, OperatorSetVersion=Automatic, Description=None, GraphName=Automatic, ModelVersion=0,
               **unknown) -> Any:
    """``net`` as an ``onnx.ModelProto``, checked with ``onnx.checker`` (see :func:`export_onnx`)."""
    check_options("Export", unknown, _OPTIONS)
    onnx = require()
    opset = _opset(onnx, OperatorSetVersion)
    graph_name = type(net).__name__ if GraphName is Automatic else _text(GraphName, "GraphName")
    description = "" if Description is None else _text(Description, "Description")
    version = _model_version(ModelVersion)
    net._require_initialized("export the net to ONNX")
    ports = {name: _port_type(net, name, t) for name, t in net._ports.items()}
    b = Builder(onnx, opset)
    outputs = _emit(b, net, (), {name: name for name in net._input_names})
    if OperatorSetVersion is Automatic and b.needed[0] > opset:  # an op newer than the default: its opset
        return onnx_model(net, OperatorSetVersion=b.needed[0], Description=Description, GraphName=GraphName,
                          ModelVersion=ModelVersion)
    _name_outputs(b, outputs, set(net._input_names))
    if b.needed[0] > opset:
        raise NetOptionError(
            f"Export: OperatorSetVersion {opset} is too old for this net: {b.needed[1]}. Use "
            f"OperatorSetVersion={b.needed[0]} or newer (or Automatic)."
        )
    symbols = _length_symbols(net, ports)
    graph = onnx.helper.make_graph(
        b.nodes, graph_name,
        [_value_info(onnx, name, ports[name], symbols) for name in net._input_names],
        [_value_info(onnx, name, ports[name], symbols) for name in net._output_names],
        initializer=b.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name=PRODUCER,
                                   producer_version=__version__, doc_string=description, model_version=version)
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    if model.ir_version < 4:  # IR 3 (opsets 7 and 8) lists the initializers among the graph's inputs
        model.graph.input.extend(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                                 for t in model.graph.initializer)
    metadata = {NET_KEY: type(net).__name__, DESCRIPTION_KEY: json.dumps(net_json(net)), **_coders(net)}
    if b.functions:
        metadata[FUNCTIONS_KEY] = json.dumps(b.functions)
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def export_onnx(path: str | os.PathLike, net: Layer, *, OperatorSetVersion=Automatic, Description=None,
                GraphName=Automatic, ModelVersion=0, **unknown) -> str:
    """Write ``net`` to the ONNX file ``path`` and return the path.

    Wolfram: ``Export["file.onnx", net, "OperatorSetVersion" -> v, "Description" -> d,
    "GraphName" -> g, "ModelVersion" -> m]``.

    Args:
        path: the file to write; written to a temporary file in the same directory, then renamed.
        net: an initialized layer, NetChain or NetGraph whose ports' dims are known (a "Varying"
            dim becomes a symbolic one).
        OperatorSetVersion: the ONNX opset, an integer from 7 up to the newest the installed onnx
            knows. ``Automatic`` is opset 17 (:data:`wlnet.onnx.common.DEFAULT_OPSET`), which
            onnxruntime >= 1.13 and current converters read and which has every op wlnet writes
            (a newer one only for a net that needs it); pass e.g. ``OperatorSetVersion=20`` to write
            GELU as one ``Gelu`` node, or an older one for an older runtime (an error names the op
            that needs a newer one).
        Description: the model's doc_string. GraphName: the graph's name (``Automatic``: the net's
            type name). ModelVersion: the model's version, an integer.

    Raises:
        NetInitializationError: an array of the net is not initialized.
        NetShapeError: a port whose dims are not known.
        NetSpecificationError: a layer ONNX cannot express (an ElementwiseLayer of an opaque callable).
        NetOptionError: an unknown option, or a value of the wrong form.
    """
    model = onnx_model(net, OperatorSetVersion=OperatorSetVersion, Description=Description, GraphName=GraphName,
                       ModelVersion=ModelVersion, **unknown)
    return write_atomically(path, model.SerializeToString())


# -- the graph ---------------------------------------------------------------------------------------
def _emit(b: Builder, net: Layer, position: tuple, inputs: dict[str, str]) -> dict[str, str]:
    """Emit ``net`` (at ``position``) on the tensors ``inputs`` (by port); its outputs by port."""
    if isinstance(net, NetChain):
        x = inputs["Input"]
        for key, child in net._children():
            x = _emit(b, child, (*position, key), {child._input_names[0]: x})[child._output_names[0]]
        return {"Output": x}
    if isinstance(net, NetGraph):
        return _emit_graph(b, net, position, inputs)
    emitter = EMITTERS.get(type(net))
    if emitter is None:
        raise NetSpecificationError(
            f"Export: {net._where} has no ONNX export; wlnet exports "
            f"{', '.join(t.__name__ for t in EMITTERS)}, NetChain and NetGraph."
        )
    return emitter(b, net, position_key(position), inputs)


def _emit_graph(b: Builder, net: NetGraph, position: tuple, inputs: dict[str, str]) -> dict[str, str]:
    wiring, children = net._wiring, dict(net._children())
    source = {dst: src for src, dst in wiring.edges}
    values: dict[NetPort, str] = {NetPort(name): tensor for name, tensor in inputs.items()}
    for key in wiring.order:
        child = children[key]
        given = {port: values[source[NetPort(key, port)]] for port in child._input_names}
        for port, tensor in _emit(b, child, (*position, key), given).items():
            values[NetPort(key, port)] = tensor
    return {name: values[source[NetPort(name)]] for name in wiring.outputs}


def _name_outputs(b: Builder, outputs: dict[str, str], inputs: set[str]) -> None:
    """Give each output tensor its port's name: renamed where a node makes it, else an Identity."""
    renamed: dict[str, str] = {}
    for port, tensor in outputs.items():
        if tensor in inputs or tensor in renamed:
            b.node(port, "Identity", [renamed.get(tensor, tensor)], since=1)
            b.rename(b.nodes[-1].output[0], port)
        else:
            b.rename(tensor, port)
            renamed[tensor] = port


# -- ports, options, metadata ------------------------------------------------------------------------------
def _port_type(net: Layer, name: str, t: TensorT) -> TensorT:
    if t.dims is None or None in t.dims:
        raise NetShapeError(
            f'Export: cannot export {net._where} to ONNX: the dims of port "{name}" are not known '
            f"({describe(t)}); ONNX needs every dim but the batch and \"Varying\" ones. Give them with "
            f"the {name} option."
        )
    return t


def _length_symbols(net: Layer, ports: dict[str, TensorT]) -> dict[str, str]:
    """The symbolic name of each port's "Varying" dim: ``"<input>_length"``; outputs share the
    symbol of the input when only one input varies."""
    varying = [name for name in net._input_names if ports[name].varying]
    symbols = {name: f"{name}_length" for name in ports if ports[name].varying}
    if len(varying) == 1:
        symbols.update({name: symbols[varying[0]] for name in net._output_names if name in symbols})
    return symbols


def _value_info(onnx: Any, name: str, t: TensorT, symbols: dict[str, str]) -> Any:
    assert t.dims is not None
    shape = ["batch", *(symbols[name] if d == VARYING else d for d in t.dims)]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def _coders(net: Layer) -> dict[str, str]:
    """The ports' NetEncoders and NetDecoders as metadata: ``{port: [type, kind]}`` in JSON, with
    the coder's whole description third (:func:`wlnet.serialize.coder_json`: a Class coder's
    labels) where the kind alone does not give the coder."""
    coders = {port: [type(coder).__name__, coder.kind, *([coder_json(coder)] if coder.spec != coder.kind else [])]
              for port in net._ports if (coder := net._coder(port)) is not None}
    return {CODERS_KEY: json.dumps(coders)} if coders else {}


def _opset(onnx: Any, value: Any) -> int:
    newest = onnx.defs.onnx_opset_version()
    if value is Automatic:
        return min(DEFAULT_OPSET, newest)
    if isinstance(value, bool) or not isinstance(value, int) or not 7 <= value <= newest:
        raise NetOptionError(
            f"Export: OperatorSetVersion should be Automatic or an integer from 7 to {newest} (the newest "
            f"opset the installed onnx knows), but was {value!r}."
        )
    return value


def _text(value: Any, option: str) -> str:
    if not isinstance(value, str):
        raise NetOptionError(f"Export: {option} should be a string, but was {value!r}.")
    return value


def _model_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NetOptionError(f"Export: ModelVersion should be a nonnegative integer, but was {value!r}.")
    return value
