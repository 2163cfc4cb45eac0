"""What export and import share: the lazy imports of onnx and onnxruntime, the metadata keys, and
the newest opset the installed onnxruntime runs."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

import numpy as np

__all__ = [
    "CODERS_KEY", "DESCRIPTION_KEY", "FUNCTIONS_KEY", "NET_KEY", "PRODUCER", "array_name", "newest_runtime_opset",
    "require", "shortest_float32",
]

PRODUCER = "wlnet"
#: ``metadata_props`` keys of a model wlnet writes: the coders of its ports (JSON), the type of
#: the net exported (so that import gives back a bare layer or a NetGraph), and the functions of
#: its ElementwiseLayers (JSON, by layer), which import reads back.
CODERS_KEY = "wlnet.coders"
NET_KEY = "wlnet.net"
FUNCTIONS_KEY = "wlnet.functions"
#: The net's whole description (wlnet.serialize), which import uses when the graph is exactly
#: what exporting that description gives (so a model that was edited since is read from its graph).
DESCRIPTION_KEY = "wlnet.description"

_INSTALL = 'ONNX support needs the onnx package (and onnxruntime to pick the opset); pip install "wlnet[onnx]".'


def array_name(prefix: str, name: str) -> str:
    """The ONNX initializer name of array ``name`` of the layer at key ``prefix`` (``""`` at the top):
    its array path, ``"2.Weights"``."""
    return f"{prefix}.{name}" if prefix else name


def shortest_float32(value: float) -> float:
    """A float32 attribute as the shortest decimal that gives the same float32 (0.001, not
    0.0010000000474974513)."""
    return float(str(np.float32(value)))


def require(name: str = "onnx") -> ModuleType:
    """The module ``name`` (onnx or onnxruntime), imported on first use; ImportError saying how to
    install it when it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"{name} is not installed. {_INSTALL}") from error


@functools.cache
def newest_runtime_opset() -> int:
    """The newest ONNX opset that the installed onnxruntime loads, found once by building a
    one-node model at descending opsets; onnx's newest when onnxruntime is not installed."""
    onnx = require()
    newest = onnx.defs.onnx_opset_version()
    try:
        runtime = importlib.import_module("onnxruntime")
    except ImportError:
        return newest
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    for version in range(newest, 6, -1):
        opsets = [helper.make_opsetid("", version)]
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
        try:
            runtime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime refuses an opset it does not know with various errors
            continue
        return version
    return newest
