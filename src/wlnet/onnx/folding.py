"""Constant folding for the ONNX reader (:mod:`wlnet.onnx.ops`): the value of a ``Constant`` node, and
the output of a node whose inputs are all constants (or shapes: object arrays of ints and dim names).

Only ``ConstantOfShape`` and ``Expand`` make a constant larger than their inputs; one of more than
:data:`MAX_FOLDED_ELEMENTS` elements is refused before it is made (a file must not make Import
allocate without limit: the constants folded are shapes, pads and biases)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["FOLDS", "MAX_FOLDED_ELEMENTS", "constant_value", "fold", "fold_of_constant"]

#: The most elements a folded constant may have (256 MiB of float32).
MAX_FOLDED_ELEMENTS = 2**26


def constant_value(onnx: Any, node: Any) -> np.ndarray:
    attribute = node.attribute[0]
    value = onnx.helper.get_attribute_value(attribute)
    if attribute.name in ("value", "sparse_value"):
        return onnx.numpy_helper.to_array(value)
    return np.asarray(value)


def fold(onnx: Any, opset: int, node: Any, values: list[np.ndarray | None]) -> np.ndarray:
    """The output of a node of :data:`wlnet.onnx.ops.FOLDED_OPS` (but Shape) on ``values``: constants, or shapes
    (object arrays of ints and dim names); None for an input left out."""
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    data = values[0]
    assert data is not None
    if node.op_type in ("ConstantOfShape", "Expand"):
        _check_size(node.op_type, data, values[1:])
    value = FOLDS[node.op_type](data, values[1:], attributes, opset, onnx)
    # np.take of one index gives the element itself: a shape stays an object array, of ints and names.
    return np.asarray(value, dtype=object) if data.dtype == object else np.asarray(value)


def _check_size(op: str, data: np.ndarray, rest: list) -> None:
    """Refuse (ValueError, which the reader reports naming the node) a ConstantOfShape or Expand whose output
    would have more than :data:`MAX_FOLDED_ELEMENTS` elements, before it is made."""
    shape = [int(d) for d in np.asarray(data if op == "ConstantOfShape" else rest[0]).reshape(-1)]
    if op == "Expand":
        shape = list(np.broadcast_shapes(np.shape(data), tuple(max(d, 0) for d in shape)))
    size = math.prod(max(d, 0) for d in shape)
    if size > MAX_FOLDED_ELEMENTS:
        raise ValueError(f"it would make a constant of dims {tuple(shape)}, {size} elements, more than the "
                         f"{MAX_FOLDED_ELEMENTS} Import folds")


def fold_of_constant(r: Any, node: Any) -> bool:
    """Fold a ``Shape`` of a constant (its dims), or a ``CastLike`` of a constant like a computed tensor (as
    float32, wlnet's type), returning True; False for any other node. The dynamo exporter without its
    optimizer writes a bias-free Conv's zero biases as ``Expand(CastLike(0, x), Shape(W)[0:1])``."""
    data = node.input[0]
    if data not in r.constants or node.op_type not in ("Shape", "CastLike"):
        return False
    if node.op_type == "Shape":
        window = slice(r.attributes(node).get("start", 0), r.attributes(node).get("end", None))
        r.constants[node.output[0]] = np.array(np.shape(r.constants[data])[window], np.int64)
    elif node.input[1] not in r.constants:
        r.constants[node.output[0]] = np.asarray(r.constants[data], dtype=np.float32)
    else:
        return False
    return True


def _fold_reshape(data, rest, attributes, opset, onnx) -> np.ndarray:
    shape = [int(d) for d in np.asarray(rest[0]).reshape(-1)]
    if not attributes.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return data.reshape(shape)


def _fold_cast(data, rest, attributes, opset, onnx) -> np.ndarray:
    if data.dtype == object:  # a shape: its ints and names stay what they are
        return data
    return data.astype(onnx.helper.tensor_dtype_to_np_dtype(attributes["to"]))


def _axes(rest, attributes, opset) -> tuple[int, ...] | None:
    """Unsqueeze's and Squeeze's axes: an attribute before opset 13, an input from 13 on."""
    axes = attributes.get("axes") if opset < 13 else (rest[0] if rest else None)
    return None if axes is None else tuple(int(a) for a in np.asarray(axes).reshape(-1))


def _fold_unsqueeze(data, rest, attributes, opset, onnx) -> np.ndarray:
    axes = _axes(rest, attributes, opset)
    if axes is None:
        raise ValueError("Unsqueeze without axes")
    return np.expand_dims(data, axes)


def _fold_slice(data, rest, attributes, opset, onnx) -> np.ndarray:
    if opset < 10:
        starts, ends, axes, steps = attributes["starts"], attributes["ends"], attributes.get("axes"), None
    else:
        starts, ends, axes, steps = (*rest, None, None)[:4]
    starts, ends = np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1)
    axes = range(len(starts)) if axes is None else np.asarray(axes).reshape(-1)
    steps = np.ones(len(starts), dtype=np.int64) if steps is None else np.asarray(steps).reshape(-1)
    index = [slice(None)] * data.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


def _fold_expand(data, rest, attributes, opset, onnx) -> np.ndarray:
    """Expand: ONNX broadcasts both ways (a dim of 1 in the shape keeps the data's dim)."""
    shape = tuple(int(d) for d in np.asarray(rest[0]).reshape(-1))
    return np.broadcast_to(data, np.broadcast_shapes(data.shape, shape)).copy()


FOLDS: dict[str, Callable[..., np.ndarray]] = {
    "Identity": lambda data, rest, attributes, opset, onnx: data,
    "Reshape": _fold_reshape,
    "Concat": lambda data, rest, attributes, opset, onnx: np.concatenate(
        [data, *(v for v in rest if v is not None)], axis=attributes["axis"]),
    "Cast": _fold_cast,
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": lambda data, rest, attributes, opset, onnx: np.squeeze(data, _axes(rest, attributes, opset)),
    "Gather": lambda data, rest, attributes, opset, onnx: np.take(
        data, np.asarray(rest[0]).astype(np.int64), axis=attributes.get("axis", 0)),
    "Slice": _fold_slice,
    "ConstantOfShape": lambda data, rest, attributes, opset, onnx: np.full(
        [int(d) for d in np.asarray(data).reshape(-1)],
        onnx.numpy_helper.to_array(attributes["value"]).reshape(-1)[0] if "value" in attributes else np.float32(0)),
    "Transpose": lambda data, rest, attributes, opset, onnx: np.transpose(data, attributes.get("perm")),
    "Expand": _fold_expand,
    "CastLike": lambda data, rest, attributes, opset, onnx: (
        data if data.dtype == object else data.astype(rest[0].dtype)),
}
