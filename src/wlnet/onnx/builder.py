"""The ONNX graph under construction: its nodes, initializers and constants, with unique names,
and the oldest opset that can hold what has been emitted so far."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["Builder"]

#: The oldest opset wlnet writes: from 7 on, Add, Mul, PRelu, ... broadcast as NumPy does.
OLDEST_OPSET = 7


class Builder:
    """Collects an ONNX graph's nodes and initializers for one export.

    Node names are ``"<position>/<Op>"`` (``"2.1/PRelu"``; a bare layer's are ``"PRelu"``), made
    unique with a numeric suffix; a node's output tensor is ``"<node name>_output"``. Initializers
    are the net's arrays, named by their array paths; every other constant is a ``Constant`` node,
    so that the initializers are exactly the net's arrays.
    """

    def __init__(self, onnx: ModuleType, opset: int):
        self.onnx = onnx
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.needed = (OLDEST_OPSET, "")  # (opset, why): the oldest opset that holds the graph
        self.functions: dict[str, Any] = {}  # layer position key -> its function, as JSON
        self._names: set[str] = set()

    def name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... if taken."""
        name, n = base, 0
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def require(self, version: int, why: str) -> None:
        """Record that the graph needs opset ``version`` or newer, because of ``why``."""
        if version > self.needed[0]:
            self.needed = (version, why)

    def node(self, prefix: str, op: str, inputs: list[str], *, since: int = OLDEST_OPSET, where: str = "",
             **attributes: Any) -> str:
        """Add the node ``op`` (which needs opset ``since``, for ``where``) and return its output."""
        self.require(since, f"{where or prefix} needs {op}, which needs at least {since}")
        name = self.name(f"{prefix}/{op}" if prefix else op)
        output = f"{name}_output"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attributes))
        return output

    def constant(self, prefix: str, value: Any, dtype: Any = np.float32) -> str:
        """A Constant node holding ``value`` (a scalar or an array, of ``dtype``); its output."""
        array = np.asarray(value, dtype=dtype)
        tensor = self.onnx.numpy_helper.from_array(array)
        return self.node(prefix, "Constant", [], since=1, value=tensor)

    def initializer(self, key: str, array: np.ndarray) -> str:
        """The net's array ``key`` as an initializer (float32, bit for bit); its name, ``key``."""
        self._names.add(key)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array, dtype=np.float32), name=key))
        return key

    def rename(self, old: str, new: str) -> None:
        """Write the tensor ``old`` as ``new`` everywhere (the last step, naming the outputs)."""
        for node in self.nodes:
            for values in (node.input, node.output):
                for i, value in enumerate(values):
                    if value == old:
                        values[i] = new
