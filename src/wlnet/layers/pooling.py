"""PoolingLayer: Max, Mean or Total over sliding windows of the spatial dims, 1-, 2- or 3-d.

The options and the output-size arithmetic are ConvolutionLayer's (:mod:`wlnet.layers.spatial`).
Padding follows Wolfram's (MXNet's) pooling: a symmetric padding is the pooling's own, which Max
ignores (as padding with -inf) and Mean counts as zeros (the window's full size is the divisor);
an asymmetric one is an explicit zero padding before unpadded pooling, so Max then includes the
zeros. Every padding amount must be smaller than the kernel.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from ..arrays import floating_input
from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import Automatic
from ..types import TensorT, describe, parse_port, unify
from .aggregation import parse_function
from .base import Layer
from .spatial import (
    SAME,
    dimensionality,
    expand,
    input_sizes,
    join_channels,
    output_sizes,
    padding_pairs,
    parse_dimensionality,
    parse_interleaving,
    parse_padding,
    parse_sizes,
    same_padding,
    spec_rank,
    split_channels,
    torch_pad,
)

__all__ = ["POOLING_FUNCTIONS", "Pooling", "PoolingLayer", "pooling_pads"]

POOLING_FUNCTIONS = ("Max", "Mean", "Total")
_OPTIONS = ("Stride", "Function", "PaddingSize", "Interleaving", "Dimensionality", "Input", "Output")


class PoolingLayer(Layer):
    """Max, Mean or Total of each window of a kernel sliding over the spatial dims.

    Wolfram: ``PoolingLayer[k]``, ``PoolingLayer[{h, w}]``, ``PoolingLayer[k, s]``,
    ``PoolingLayer[k, "Function" -> Mean, "PaddingSize" -> p, "Interleaving" -> True]``.

    Args:
        k: the kernel size: an int (the same on every spatial dim) or a tuple of 1, 2 or 3 ints
            (one per spatial dim: 1-, 2- or 3-d pooling).
        s: the stride, an int or a tuple as ``k``; 1 by default (not the kernel size, as in the
            Wolfram Language). ``Stride=`` is the same.
        Function: ``"Max"`` (the default), ``"Mean"`` or ``"Total"`` (the window's sum); Python's
            ``max`` and ``sum`` and NumPy's ``np.mean`` are accepted for them.
        PaddingSize: ``n``, ``(n1, ...)``, ``((b1, a1), ...)`` (before and after each spatial dim)
            or ``"Same"`` (output ``ceil(in / stride)``, an odd total's extra element after), each
            amount smaller than the kernel. A symmetric padding is ignored by Max and counted as
            zeros by Mean and Total; an asymmetric one pads with zeros, which Max then includes
            (Wolfram's behaviour): on ``[-1, -2, -3]`` with kernel 2, ``PaddingSize=1`` gives
            ``[-1, -1, -2, -3]`` but ``PaddingSize=((1, 0),)`` gives ``[0, -1, -2]``.
        Interleaving: False (the default): the channels come first, ``(c, h, w)``; True: last,
            ``(h, w, c)`` (then the first spatial dim may be "Varying").
        Dimensionality: 1, 2 or 3 spatial dims, or Automatic (from a tuple specification, or from
            the input's rank).
        Input, Output: the ports' dims, as for every layer.

    Ports:
        Input: an array of rank 2, 3 or 4: channels and 1-3 spatial dims.
        Output: the same channels; each spatial size ``floor((in + before + after - k) / s) + 1``.

    >>> PoolingLayer(2, 2)([[[1, 2, 5, 0], [3, 4, 1, 1]]]).tolist()
    [[[4.0, 5.0]]]
    >>> from wlnet import Information
    >>> Information(PoolingLayer(3, (2, 1), PaddingSize=(2, 1), Input=(3, 7, 4)), "OutputPorts")
    {'Output': (3, 5, 4)}
    """

    _where_text: str

    def __init__(self, k, s=Automatic, *, Stride=Automatic, Function="Max", PaddingSize=0, Interleaving=False,
                 Dimensionality=Automatic, Input=Automatic, Output=Automatic, **unknown):
        check_options("PoolingLayer", unknown, _OPTIONS)
        where = "PoolingLayer"
        kernel = parse_sizes(k, "kernel size", where)
        strides = [parse_sizes(value, "Stride", where) for value in (s, Stride) if value is not Automatic]
        if len(strides) == 2 and strides[0] != strides[1]:
            raise NetSpecificationError(
                f"{where}: the stride is given twice, as {s!r} and as Stride={Stride!r}; give it once."
            )
        stride = strides[0] if strides else 1
        function = parse_function(Function, f"{where}: the Function option", POOLING_FUNCTIONS)
        padding = parse_padding(PaddingSize, where)
        interleaving = parse_interleaving(Interleaving, where)
        d = _dimensionality_option(Dimensionality, where)
        params = {"kernel": kernel, "stride": stride, "function": function, "padding": padding,
                  "interleaving": interleaving, "dimensionality": d}
        where = _where(params)
        specs = _specs(params)
        dimensionality(where, specs, None if d is None else d + 1)  # the tuples agree with each other
        _check_padding(kernel, padding, where)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        self._set_state(params, ports, {}, {})

    # -- the options ------------------------------------------------------------------------------
    @property
    def kernel(self) -> int | tuple[int, ...]:
        """The kernel size as given: an int for every spatial dim, or one per dim."""
        return self._params["kernel"]

    @property
    def stride(self) -> int | tuple[int, ...]:
        """The stride as given (1 by default)."""
        return self._params["stride"]

    @property
    def function(self) -> str:
        """"Max", "Mean" or "Total"."""
        return self._params["function"]

    @property
    def padding(self) -> Any:
        """The PaddingSize, parsed: ``n``, ``(n1, ...)``, ``((b1, a1), ...)`` or ``"Same"``."""
        return self._params["padding"]

    @property
    def interleaving(self) -> bool:
        return self._params["interleaving"]

    @property
    def _where(self) -> str:
        return self._where_text

    # -- shapes -----------------------------------------------------------------------------------
    def _infer(self) -> None:
        self._where_text = where = _where(self._params)
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        given = self._params["dimensionality"]
        if t_in.dims is not None:
            d = dimensionality(where, _specs(self._params), len(t_in.dims))
        elif t_out.dims is not None:
            d = dimensionality(where, _specs(self._params), len(t_out.dims), 'port "Output"')
        else:
            d = dimensionality(where, _specs(self._params), None if given is None else given + 1)
        if d is None:
            return
        kernel, stride, ones = expand(self.kernel, d), expand(self.stride, d), (1,) * d
        pads = padding_pairs(self.padding, d)
        if t_out.dims is not None:
            channels, spatial = split_channels(t_out, self.interleaving, where, "Output")
            assert spatial is not None
            sizes = input_sizes(spatial, kernel, stride, ones, pads, where, 'port "Output"')
            t_in = self._unify("Input", join_channels(channels, sizes, self.interleaving), t_in, t_out)
        if t_in.dims is not None:
            channels, spatial = split_channels(t_in, self.interleaving, where)
            assert spatial is not None
            sizes = output_sizes(spatial, kernel, stride, ones, pads, where, 'port "Input"')
            t_out = self._unify("Output", join_channels(channels, sizes, self.interleaving), t_in, t_out)
        elif t_out.dims is None:
            t_in = unify(t_in, TensorT((None,) * (d + 1)), f'{where}: port "Input"')
            t_out = unify(t_out, TensorT((None,) * (d + 1)), f'{where}: port "Output"')
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _unify(self, port: str, implied: TensorT, t_in: TensorT, t_out: TensorT) -> TensorT:
        """``implied`` (the output that the input gives, or the input that the output needs) unified
        with ``port`` ("Output" or "Input"), or a NetShapeError naming both ports."""
        try:
            return unify(implied, t_out if port == "Output" else t_in, "")
        except NetShapeError:
            if port == "Output":
                why = f'port "Input" is {describe(t_in)}, which pools to {describe(implied)}, but port "Output" is'
                raise NetShapeError(f"{self._where}: {why} {describe(t_out)}.") from None
            why = f'port "Output" is {describe(t_out)}, which needs port "Input" to be {describe(implied)}, but it is'
            raise NetShapeError(f"{self._where}: {why} {describe(t_in)}.") from None

    def _array_dims(self, name: str) -> tuple | None:
        return None  # no arrays

    # -- torch, repr --------------------------------------------------------------------------------
    def _torch_module(self) -> Pooling:
        dims, pads = self._ports["Input"].dims, None
        if self.padding == SAME and dims is not None and all(isinstance(n, int) for n in dims):
            d = len(dims) - 1
            spatial = dims[:-1] if self.interleaving else dims[1:]
            pads = pooling_pads(SAME, tuple(spatial), expand(self.kernel, d), expand(self.stride, d))
        return Pooling(self.kernel, self.stride, self.function, self.padding, self.interleaving,
                       self._params["dimensionality"], pads)

    def _options(self) -> dict[str, Any]:
        """The options that differ from the defaults, by name."""
        p = self._params
        options: dict[str, Any] = {}
        if p["function"] != "Max":
            options["Function"] = p["function"]
        if p["padding"] != 0:
            options["PaddingSize"] = p["padding"]
        if p["interleaving"]:
            options["Interleaving"] = True
        if p["dimensionality"] is not None:
            options["Dimensionality"] = p["dimensionality"]
        return options

    def _positional(self) -> tuple:
        return (self.kernel,) if self.stride == 1 else (self.kernel, self.stride)

    def _arguments(self) -> tuple[tuple, dict]:
        args, options = self._positional(), self._options()
        return args, {**options, **self._port_arguments(), **self._output_option(args, options)}

    def _constructor(self) -> str:
        args = [repr(a) for a in self._positional()]
        args += [f"{name}={value!r}" for name, value in self._options().items()]
        args += self._repr_options()
        args += [f"Output={spec!r}" for spec in self._output_option(self._positional(), self._options()).values()]
        return f"PoolingLayer({', '.join(args)})"


def _dimensionality_option(value: Any, where: str) -> int | None:
    return None if value is Automatic or value is None else parse_dimensionality(value, where)


def _specs(params: dict) -> dict[str, Any]:
    """The specifications whose tuples fix the dimensionality, by the names errors give them."""
    specs = {"kernel size": params["kernel"], "Stride": params["stride"]}
    if spec_rank(params["padding"]) is not None:
        specs["PaddingSize"] = params["padding"]
    if params["dimensionality"] is not None:
        specs["Dimensionality"] = (0,) * params["dimensionality"]
    return specs


def _check_padding(kernel: Any, padding: Any, where: str) -> None:
    """Every padding amount smaller than the kernel ("Same" always is)."""
    if padding == SAME:
        return
    d = spec_rank(kernel) or spec_rank(padding) or 1
    pairs: Any = padding_pairs(padding, d)
    for axis, (k, pair) in enumerate(zip(expand(kernel, d), pairs), start=1):
        if max(pair) >= k:
            raise NetSpecificationError(
                f"{where}: the padding size {max(pair)} at spatial dimension {axis} must be smaller than the kernel "
                f"size {k} there."
            )


def _where(params: dict) -> str:
    stride = "" if params["stride"] == 1 else f", stride {params['stride']}"
    return f'PoolingLayer ("{params["function"]}", kernel {params["kernel"]}{stride})'


def pooling_pads(padding: Any, spatial: tuple, kernel: tuple, stride: tuple) -> tuple[tuple[int, int], ...]:
    """The ``((before, after), ...)`` padding of each spatial dim, "Same" resolved for ``spatial``."""
    if padding == SAME:
        return tuple(same_padding(int(n), k, s, 1) for n, k, s in zip(spatial, kernel, stride))
    return padding_pairs(padding, len(kernel))  # type: ignore[return-value]


_MAX_POOL = {1: functional.max_pool1d, 2: functional.max_pool2d, 3: functional.max_pool3d}
_AVG_POOL = {1: functional.avg_pool1d, 2: functional.avg_pool2d, 3: functional.avg_pool3d}


class Pooling(nn.Module):
    """The torch form of PoolingLayer, batch first; it has no parameters.

    Computes ``F.max_pool1d/2d/3d`` (Max) or ``F.avg_pool1d/2d/3d`` with ``count_include_pad=True``
    (Mean; Total: that times the kernel's volume, rather than ``divisor_override=1``, which
    PyTorch's ONNX exporters do not write) over the spatial dims of a channel-first input (a channel-last one, with
    ``interleaving``, is moved to channel-first and back). A symmetric padding is the pooling's
    own (Max ignores it), or for one over half the kernel (more than PyTorch's pooling takes) an
    explicit padding with -inf (Max) or zeros; an asymmetric one is an explicit zero padding.
    ``"Same"`` padding is resolved for each input's sizes, or once for all where ``pads`` (its
    ``((before, after), ...)`` for the layer's input dims) is given.
    An integer or True/False input is computed in torch's default floating type.

    >>> Pooling(2, 2, "Mean")(torch.arange(8.0).reshape(1, 1, 8)).tolist()
    [[[0.5, 2.5, 4.5, 6.5]]]
    """

    def __init__(self, kernel=2, stride=1, function: str = "Max", padding=0, interleaving: bool = False,
                 dimensionality: int | None = None, pads: tuple | None = None):
        super().__init__()
        self.kernel = parse_sizes(kernel, "kernel size", "Pooling")
        self.stride = parse_sizes(stride, "Stride", "Pooling")
        self.function = parse_function(function, "Pooling", POOLING_FUNCTIONS)
        self.padding = parse_padding(padding, "Pooling")
        self.interleaving = parse_interleaving(interleaving, "Pooling")
        self.dimensionality = _dimensionality_option(dimensionality, "Pooling")
        self.pads = pads

    def _where(self) -> str:
        return _where({"kernel": self.kernel, "stride": self.stride, "function": self.function})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            x = floating_input(x, torch.get_default_dtype(), self._where())
        d = x.ndim - 2
        if not 1 <= d <= 3 or (isinstance(self.kernel, tuple) and len(self.kernel) != d):
            expected = len(self.kernel) if isinstance(self.kernel, tuple) else "1, 2 or 3"
            raise NetShapeError(
                f"{self._where()}: an input of shape {tuple(x.shape)} (batch first) has {max(d, 0)} spatial "
                f"dimensions, but the pooling needs {expected} (and a channel dimension)."
            )
        if self.interleaving:  # (permute, not movedim: TorchScript's ONNX exporter writes movedim's -1 as is)
            x = x.permute(0, d + 1, *range(1, d + 1))
        kernel, stride = expand(self.kernel, d), expand(self.stride, d)
        pads = self.pads if self.pads is not None else pooling_pads(self.padding, tuple(x.shape[2:]), kernel, stride)
        y = self._pool(x, kernel, stride, pads)
        return y.permute(0, *range(2, d + 2), 1) if self.interleaving else y

    def _pool(self, x: torch.Tensor, kernel: tuple, stride: tuple, pairs: tuple) -> torch.Tensor:
        symmetric = all(b == a for b, a in pairs)
        pad = tuple(b for b, _ in pairs)
        if not symmetric or any(2 * p > k for p, k in zip(pad, kernel)):
            fill = float("-inf") if symmetric and self.function == "Max" else 0.0
            x = functional.pad(x, torch_pad(pairs), value=fill)
            pad = (0,) * len(kernel)
        if self.function == "Max":
            return _MAX_POOL[len(kernel)](x, kernel, stride, pad)
        dtype = x.dtype
        cast = len(kernel) == 3 and x.device.type == "cpu" and dtype in (torch.bfloat16, torch.float16)
        if cast:
            x = x.float()  # PyTorch has no CPU avg_pool3d of these types: float32, rounded back
        y = _AVG_POOL[len(kernel)](x, kernel, stride, pad, count_include_pad=True)
        if self.function == "Total":
            y = y * math.prod(kernel)
        return y.to(dtype) if cast else y

    def extra_repr(self) -> str:
        return (f"function={self.function!r}, kernel={self.kernel}, stride={self.stride}, padding={self.padding!r}, "
                f"interleaving={self.interleaving}")
