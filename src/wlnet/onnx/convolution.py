"""ConvolutionLayer as an ONNX ``Conv`` node, and ``Conv`` read back as the layer.

Export: one ``Conv`` with ``W`` = the Weights as they are (ONNX's ``(M, C/group, k...)`` is the
layer's layout), ``B`` = the Biases (left out for ``Biases=None``), ``kernel_shape``, ``strides``,
``dilations``, ``group`` = ChannelGroups and ``pads`` = ``[b1, ..., bd, a1, ..., ad]`` (ONNX's Conv
pads each side on its own, so an asymmetric padding needs no ``Pad`` node). ``PaddingSize="Same"``
is written as the pads it comes to for the input's sizes; on a "Varying" length, as
``auto_pad="SAME_UPPER"`` (the same split: the extra zero after). ``Interleaving=True`` puts the
``Conv`` between two ``Transpose`` nodes (channels to dim 1, and back last).

Import reads ``Conv`` with constant ``W`` (and ``B``): ``auto_pad`` ``"VALID"`` is padding 0,
``"SAME_UPPER"`` is ``PaddingSize="Same"``, ``"SAME_LOWER"`` the explicit pads it comes to (the
input's sizes must be known); a ``Pad`` of zeros on the spatial dims right before it joins its
padding (what PyTorch's exporters write for an asymmetric padding), and a ``Transpose`` of channels-
last data before it with the inverse ``Transpose`` after it makes ``Interleaving=True``. The
``Transpose`` and ``Pad`` readers are :data:`FEEDING`, by the op of the node they feed (so that
other families read theirs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import NetSpecificationError
from ..layers.base import Layer
from ..layers.convolution import ConvolutionLayer
from ..layers.spatial import (
    SAME,
    compact,
    expand,
    onnx_pads,
    padding_pairs,
    resolved_padding,
    same_padding,
    split_channels,
)
from .builder import Builder
from .common import array_name

__all__ = ["EMITTERS", "FEEDING", "READERS", "READ_OPS"]


# -- export --------------------------------------------------------------------------------------------
def _pad_attributes(layer: Layer, spatial: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> dict[str, Any]:
    d = len(kernel)
    pairs = padding_pairs(layer._params["PaddingSize"], d)
    resolved = resolved_padding(pairs, spatial, kernel, stride, dilation)
    if resolved is not None:
        return {"pads": onnx_pads(resolved)}
    if any(x != 1 for x in dilation):  # onnxruntime's SAME_UPPER does not dilate
        raise NetSpecificationError(
            f'Export: {layer._where} cannot be exported to ONNX: PaddingSize "Same" on a "Varying" length pads by each '
            "sequence's length, which ONNX writes as auto_pad SAME_UPPER, and onnxruntime runs that without "
            "dilation; give the padding as numbers."
        )
    return {"auto_pad": "SAME_UPPER"}


def emit_convolution(b: Builder, layer: Layer, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """One Conv (see the module doc), between Transposes for Interleaving=True."""
    p, where, x = layer._params, layer._where, inputs["Input"]
    weights = layer._array("Weights")
    d = weights.ndim - 2
    _, spatial = split_channels(layer._ports["Input"], p["Interleaving"], where)
    kernel = tuple(int(k) for k in weights.shape[2:])
    stride, dilation = expand(p["Stride"], d), expand(p["Dilation"], d)
    if p["Interleaving"]:
        x = b.node(prefix, "Transpose", [x], since=1, where=where, perm=[0, d + 1, *range(1, d + 1)])
    conv = [x, b.initializer(array_name(prefix, "Weights"), weights)]
    if p["biases"]:
        conv.append(b.initializer(array_name(prefix, "Biases"), layer._array("Biases")))
    y = b.node(prefix, "Conv", conv, since=1, where=where, kernel_shape=list(kernel), strides=list(stride),
               dilations=list(dilation), group=p["ChannelGroups"],
               **_pad_attributes(layer, tuple(spatial or ()), kernel, stride, dilation))
    if p["Interleaving"]:
        y = b.node(prefix, "Transpose", [y], since=1, where=where, perm=[0, *range(2, d + 2), 1])
    return {"Output": y}


EMITTERS: dict[type, Callable[[Builder, Layer, str, dict[str, str]], dict[str, str]]] = {
    ConvolutionLayer: emit_convolution,
}


# -- import --------------------------------------------------------------------------------------------
def _padding_size(pairs: tuple) -> Any:
    """A PaddingSize in its shortest form: n, (n1, ...) or ((b1, a1), ...)."""
    if all(b == a for b, a in pairs):
        return compact(tuple(b for b, _ in pairs))
    return pairs


def _conv_pads(r: Any, node: Any, attributes: dict, kernel: tuple, stride: tuple, dilation: tuple) -> Any:
    """The Conv's own padding: pairs ((before, after), ...) or "Same"."""
    d = len(kernel)
    auto = attributes.get("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        return SAME
    if auto == "VALID":
        return ((0, 0),) * d
    if auto == "SAME_LOWER":
        shape = r.shapes.get(node.input[0])
        sizes = None if shape is None else shape[2:]
        if sizes is None or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise r.unsupported(node, "auto_pad SAME_LOWER pads by the input's sizes, which are not known")
        return tuple(same_padding(*args)[::-1] for args in zip(sizes, kernel, stride, dilation))
    if auto != "NOTSET":
        raise r.unsupported(node, f"its auto_pad {auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    pads = [int(p) for p in attributes.get("pads", [0] * (2 * d))]
    return tuple(zip(pads[:d], pads[d:]))


def _zero_pads(r: Any, pad: Any, d: int) -> tuple:
    """The spatial (before, after) pairs of a Pad of zeros (constant mode) on a (batch, c, ...) tensor."""
    attributes = r.attributes(pad)
    if attributes.get("mode", "constant") != "constant":
        raise r.unsupported(pad, f"it pads in mode {attributes['mode']!r}, but ConvolutionLayer pads with zeros")
    if r.opset >= 11:
        pads = [int(p) for p in r.const(pad, 1, "pads").reshape(-1)]
        value = float(np.asarray(r.const(pad, 2, "constant value")).reshape(-1)[0]) if len(pad.input) > 2 and \
            pad.input[2] else 0.0
        if len(pad.input) > 3 and pad.input[3]:
            raise r.unsupported(pad, "it names its axes; wlnet reads a Pad of every axis before a Conv")
    else:
        pads, value = [int(p) for p in attributes.get("pads", [])], float(attributes.get("value", 0.0))
    rank = len(pads) // 2
    if value != 0 or rank != d + 2 or any(pads[i] or pads[i + rank] for i in (0, 1)) or min(pads) < 0:
        raise r.unsupported(pad, f"wlnet reads a Pad before a Conv only when it adds zeros to the spatial dims "
                                 f"(pads {pads}, value {value:g})")
    return tuple(zip(pads[2:rank], pads[rank + 2:]))


def _layer(r: Any, node: Any, interleaving: bool, before: tuple | None = None) -> Layer:
    """The ConvolutionLayer of a Conv node (``before``: the pairs of a Pad node before it)."""
    weights = r.const(node, 1, "W").astype(np.float32)
    if weights.ndim not in (3, 4, 5):
        raise r.unsupported(node, f"its W has dims {weights.shape}; ConvolutionLayer has 1, 2 or 3 spatial dims")
    biases = r.const(node, 2, "B").astype(np.float32) if len(node.input) > 2 and node.input[2] else None
    attributes = r.attributes(node)
    d = weights.ndim - 2
    kernel = tuple(int(k) for k in attributes.get("kernel_shape", weights.shape[2:]))
    if kernel != tuple(weights.shape[2:]):
        raise r.unsupported(node, f"its kernel_shape {list(kernel)} is not W's kernel dims {list(weights.shape[2:])}")
    stride = tuple(int(s) for s in attributes.get("strides", [1] * d))
    dilation = tuple(int(x) for x in attributes.get("dilations", [1] * d))
    pads = _conv_pads(r, node, attributes, kernel, stride, dilation)
    if before is not None:
        if pads == SAME:
            raise r.unsupported(node, "it pads by auto_pad after a Pad node")
        pads = tuple((b0 + b1, a0 + a1) for (b0, a0), (b1, a1) in zip(before, pads))
    return ConvolutionLayer(
        int(weights.shape[0]), kernel, Stride=compact(stride),
        PaddingSize=SAME if pads == SAME else _padding_size(pads), Dilation=compact(dilation),
        ChannelGroups=int(attributes.get("group", 1)), Interleaving=interleaving, Weights=weights, Biases=biases,
    )


def _conv(r: Any, node: Any) -> None:
    r.add(node, _layer(r, node, False), node.input[0], node.output[0])


def _padded_conv(r: Any, pad: Any) -> None:
    """A Pad of zeros right before a Conv: that Conv's padding."""
    conv = r.only_consumer(pad.output[0])
    d = r.const(conv, 1, "W").ndim - 2
    layer = _layer(r, conv, False, _zero_pads(r, pad, d))
    r.mark_read(conv)
    r.add(conv, layer, pad.input[0], conv.output[0])


def _transposed_conv(r: Any, node: Any) -> None:
    """Channels moved to dim 1, convolved, and moved back last: Interleaving=True."""
    perm = [int(i) for i in r.attributes(node).get("perm", [])]
    d = len(perm) - 2
    conv = r.only_consumer(node.output[0])
    if not 1 <= d <= 3 or perm != [0, d + 1, *range(1, d + 1)]:
        raise r.unsupported(node, "wlnet reads a Transpose before a Conv only when it moves the last dim (the "
                                  "channels) to dim 1 (a ConvolutionLayer with Interleaving=True)")
    back = r.only_consumer(conv.output[0])
    back_perm = None if back is None or back.op_type != "Transpose" else [
        int(i) for i in r.attributes(back).get("perm", [])]
    if back_perm != [0, *range(2, d + 2), 1]:
        raise r.unsupported(node, "the Conv after it is not followed by the Transpose moving the channels back last")
    r.mark_read(conv, back)
    r.add(conv, _layer(r, conv, True), node.input[0], back.output[0])


READERS: dict[str, Callable[[Any, Any], None]] = {"Conv": _conv}
#: (op, the op of the only node it feeds) -> the reader of both: a Pad or a Transpose read with the Conv after it.
FEEDING: dict[tuple[str, str], Callable[[Any, Any], None]] = {
    ("Pad", "Conv"): _padded_conv,
    ("Transpose", "Conv"): _transposed_conv,
}
#: What these readers read, for the error naming every op wlnet reads.
READ_OPS = ("Conv", "Pad (of zeros, before a Conv)", "Transpose (around a Conv)")
