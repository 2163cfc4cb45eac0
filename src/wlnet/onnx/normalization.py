"""BatchNormalizationLayer as an ONNX ``BatchNormalization`` node, and the node read back as the layer.

Export: one ``BatchNormalization`` in its inference form (one output), its inputs ``scale`` = Scaling,
``B`` = Biases, ``input_mean`` = MovingMean, ``input_var`` = MovingVariance (initializers), its
``epsilon`` the layer's Epsilon, always written (ONNX's default is 1e-5, the Wolfram Language's
0.001), and its ``momentum`` the layer's Momentum (ONNX's is the fraction kept too). ONNX takes
``(N, C, D1, ...)``, which a vector input ``(N, C)`` already is, so only ``Interleaving=True`` on an
input of rank 2 or more needs more: the node goes between two ``Transpose`` nodes (the channels to
dim 1, and back last).

Import reads a ``BatchNormalization`` whose four arrays are constants, its ``epsilon`` (1e-5 when
absent, ONNX's default) and ``momentum`` (0.9 when absent) as the layer's, written as the shortest
decimals that give the same float32 (so 0.001 stays 0.001); a ``Transpose`` moving the last dim to
dim 1 before it, with the inverse ``Transpose`` after it, makes ``Interleaving=True`` (its reader is
in :data:`FEEDING`). Refused: ``training_mode=1`` (opset 14 on: the batch's statistics), the
outputs of the running statistics used by another node, ``spatial=0`` (opset 7 and 8: statistics
per element).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..layers.base import Layer
from ..layers.normalization import ARRAYS, BatchNormalizationLayer
from .builder import Builder
from .common import array_name, shortest_float32

__all__ = ["EMITTERS", "FEEDING", "READERS", "READ_OPS"]


# -- export --------------------------------------------------------------------------------------------
def emit_batch_normalization(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """One BatchNormalization (see the module doc), between Transposes for Interleaving=True."""
    assert isinstance(layer, BatchNormalizationLayer)
    where, x = layer._where, inputs["Input"]
    dims = layer._ports["Input"].dims
    assert dims is not None
    rank = len(dims) + 1  # with the batch axis
    transposed = layer.interleaving and rank > 2
    if transposed:
        x = b.node(prefix, "Transpose", [x], since=1, where=where, perm=[0, rank - 1, *range(1, rank - 1)])
    arrays = [b.initializer(array_name(prefix, name), layer._array(name)) for name in ARRAYS]
    y = b.node(prefix, "BatchNormalization", [x, *arrays], since=7, where=where, epsilon=layer.epsilon,
               momentum=layer.momentum)
    if transposed:
        y = b.node(prefix, "Transpose", [y], since=1, where=where, perm=[0, *range(2, rank), 1])
    return {"Output": y}


EMITTERS: dict[type, Callable[[Builder, Layer, str, dict[str, str]], dict[str, str]]] = {
    BatchNormalizationLayer: emit_batch_normalization,
}


# -- import --------------------------------------------------------------------------------------------
def _layer(r: Any, node: Any, interleaving: bool) -> BatchNormalizationLayer:
    attributes = r.attributes(node)
    if attributes.get("training_mode", 0):
        raise r.unsupported(node, "training_mode=1 normalizes with the batch's statistics; wlnet reads the "
                                  "inference form (training_mode=0), which uses the running ones")
    if not attributes.get("spatial", 1):
        raise r.unsupported(node, "spatial=0 takes statistics per element, not per channel")
    outputs = {v.name for v in r.graph.output}
    used = [name for name in node.output[1:] if name and (r.consumers.get(name) or name in outputs)]
    if used:
        raise r.unsupported(node, f"its outputs {used} (running statistics of a training-mode node) are used")
    what = ("scale", "B", "input_mean", "input_var")
    scaling, biases, mean, variance = (r.const(node, i + 1, name).astype(np.float32) for i, name in enumerate(what))
    if any(a.ndim != 1 for a in (scaling, biases, mean, variance)):
        raise r.unsupported(node, "its scale, B, mean and var should be vectors (one value per channel)")
    options: dict[str, Any] = {"Epsilon": shortest_float32(attributes.get("epsilon", 1e-5)),
                               "Momentum": shortest_float32(attributes.get("momentum", 0.9))}
    if interleaving:
        options["Interleaving"] = True
    return BatchNormalizationLayer(**options, Scaling=scaling, Biases=biases, MovingMean=mean, MovingVariance=variance)


def _batch_normalization(r: Any, node: Any) -> None:
    r.add(node, _layer(r, node, False), node.input[0], node.output[0])


def _transposed(r: Any, node: Any) -> None:
    """Channels moved from last to dim 1, normalized, and moved back last: Interleaving=True."""
    perm = [int(i) for i in r.attributes(node).get("perm", [])]
    rank = len(perm)
    normalization = r.only_consumer(node.output[0])
    if rank < 3 or perm != [0, rank - 1, *range(1, rank - 1)]:
        raise r.unsupported(node, "wlnet reads a Transpose before a BatchNormalization only when it moves the last "
                                  "dim (the channels) to dim 1 (a BatchNormalizationLayer with Interleaving=True)")
    back = r.only_consumer(normalization.output[0])
    back_perm = None if back is None or back.op_type != "Transpose" else [
        int(i) for i in r.attributes(back).get("perm", [])]
    if back_perm != [0, *range(2, rank), 1]:
        raise r.unsupported(node, "the BatchNormalization after it is not followed by the Transpose moving the "
                                  "channels back last")
    nodes = list(r.graph.node)
    r.done.update((nodes.index(normalization), nodes.index(back)))
    r.add(node, _layer(r, normalization, True), node.input[0], back.output[0])


READERS: dict[str, Callable[[Any, Any], None]] = {"BatchNormalization": _batch_normalization}
#: (op, the op of the only node it feeds) -> the reader of both: a Transpose read with the BatchNormalization after it.
FEEDING: dict[tuple[str, str], Callable[[Any, Any], None]] = {("Transpose", "BatchNormalization"): _transposed}
#: What these readers read, for the error naming every op wlnet reads.
READ_OPS = ("BatchNormalization", "Transpose (around a BatchNormalization)")
