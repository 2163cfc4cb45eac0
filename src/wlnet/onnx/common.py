"""What export and import share: the lazy imports of onnx and onnxruntime, the metadata keys, and
the opset export writes by default."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

__all__ = [
    "CODERS_KEY", "DEFAULT_OPSET", "DESCRIPTION_KEY", "FUNCTIONS_KEY", "NET_KEY", "PRODUCER", "array_name", "require",
    "shortest_float32",
]

PRODUCER = "wlnet"
#: The opset export writes by default (``OperatorSetVersion=Automatic``): 17, which onnxruntime
#: reads from 1.13 (2022) on, as do current converters and the Wolfram Language's import, and which
#: has every op wlnet writes: opset 20's ``Gelu`` is written from 20 only (before, its ``Erf`` form),
#: the Reduce ops' axes as an input (18) only from 18. The newest opset a runtime reads is not the
#: default, since files would then not load in older runtimes.
DEFAULT_OPSET = 17
#: ``metadata_props`` keys of a model wlnet writes: the coders of its ports (JSON), the type of
#: the net exported (so that import gives back a bare layer or a NetGraph), and the functions of
#: its ElementwiseLayers (JSON, by layer), which import reads back.
CODERS_KEY = "wlnet.coders"
NET_KEY = "wlnet.net"
FUNCTIONS_KEY = "wlnet.functions"
#: The net's whole description (wlnet.serialize), which import uses when the graph is exactly
#: what exporting that description gives (so a model that was edited since is read from its graph).
DESCRIPTION_KEY = "wlnet.description"

_INSTALL = 'ONNX support needs the onnx package; pip install "wlnet[onnx]".'


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
