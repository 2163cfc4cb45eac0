"""ConvolutionLayer: a trainable 1-, 2- or 3-d convolution (cross-correlation) over channels."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arrays import as_array
from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import Automatic
from ..types import VARYING, TensorT, as_int, check_size, describe, parse_port, port_spec, unify
from .base import Layer, module_input, parse_multiplier
from .spatial import (
    SAME,
    dimensionality,
    effective_kernel,
    expand,
    input_sizes,
    join_channels,
    output_sizes,
    padding_pairs,
    parse_dimensionality,
    parse_interleaving,
    parse_padding,
    parse_sizes,
    resolved_padding,
    same_padding,
    split_channels,
    torch_pad,
)

__all__ = ["Convolution", "ConvolutionLayer"]

_OPTIONS = ("Stride", "PaddingSize", "Dilation", "ChannelGroups", "Interleaving", "Dimensionality", "Weights",
            "Biases", "LearningRateMultipliers", "Input", "Output")
#: The options' defaults, left out of the constructor text.
_DEFAULTS = {"Stride": 1, "PaddingSize": 0, "Dilation": 1, "ChannelGroups": 1, "Interleaving": False,
             "Dimensionality": Automatic}


class ConvolutionLayer(Layer):
    """A trainable convolution: each output channel is a kernel slid over the input's spatial
    dims, summed over the input channels (of its group), plus a bias.

    Wolfram: ``ConvolutionLayer[n, s]``, ``ConvolutionLayer[n, {s}]``, ``ConvolutionLayer[n, {h, w}]``,
    ``ConvolutionLayer[n, {h, w, d}]``, ``ConvolutionLayer[n, kernel, opts]``.

    The computation is a cross-correlation (the kernel is not flipped), as in MXNet and PyTorch:
    ``y[o, i...] = b[o] + sum over c, k... of W[o, c, k...] * x_padded[g * C/G + c, i*stride + k*dilation ...]``
    with ``g`` the group of output channel ``o``.

    Args:
        n: the number of output channels, or ``Automatic`` (from the Weights or the Output).
        s: the kernel size: an int for every spatial dim, or a tuple ``(k1,)``, ``(h, w)`` or
            ``(k1, k2, k3)`` (which also fixes the dimensionality, 1, 2 or 3); ``Automatic`` takes it
            from the Weights. With an int, the dimensionality is the input's rank minus 1.
        Stride: the step per spatial dim (an int or a tuple); 1 by default.
        PaddingSize: zeros added around each spatial dim: ``n``, ``(n1, n2, ...)`` (per dim),
            ``((b1, a1), (b2, a2), ...)`` (before and after), or ``"Same"``: the output size is
            ``ceil(in / stride)``, the extra zero of an odd total going after (as ONNX's SAME_UPPER
            and TensorFlow's "SAME"; see :mod:`wlnet.layers.spatial`). 0 by default.
        Dilation: the spacing of the kernel's taps per spatial dim; 1 by default.
        ChannelGroups: ``g`` groups: the input and output channels are split into g groups and
            output group i sees only input group i (g must divide both channel counts).
        Dimensionality: 1, 2 or 3 spatial dims, or ``Automatic`` (the default: from a tuple kernel
            size, Stride, PaddingSize or Dilation, from the Weights, or from the input's rank).
        Interleaving: False (the default): channels first, the input is ``{c, d1, ...}`` as in the
            Wolfram Language; True: channels last, ``{d1, ..., c}`` (then a ParametricRampLayer per
            channel after it uses level -1, as level 1 is the channel level otherwise).
        Weights: the kernel array, dims ``(n, c/g, k1, ...)`` (PyTorch's and ONNX's layout, with
            either Interleaving); ``Automatic`` until NetInitialize ("Kaiming" by default, with
            fan_in = (c/g) * prod(k)).
        Biases: the length-n vector (zeros at initialization), or ``None`` for no biases.
        LearningRateMultipliers: the arrays' learning-rate multiplier; 0 freezes them.
        Input, Output: the ports' dims, e.g. ``Input=(3, 28, 28)``.

    Output size per spatial dim: ``floor((in + before + after - (dilation * (k - 1) + 1)) / stride) + 1``.
    The dims are inferred both ways: the output's from the input's, the input's channels from the
    Weights and its spatial sizes from the output's where the stride is 1.

    Ports:
        Input: an array of rank 2, 3 or 4: the channels and 1-3 spatial dims (with Interleaving
            True, the first spatial dim may be "Varying").
        Output: the n channels and the output's spatial dims, in the input's order.

    >>> conv = ConvolutionLayer(1, 2, Weights=[[[[1, 0], [0, -1]]]], Biases=None)
    >>> conv([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]).tolist()
    [[[-4.0, -4.0], [-4.0, -4.0]]]
    >>> from wlnet import Information
    >>> Information(ConvolutionLayer(16, 3, Stride=2, PaddingSize=1, Input=(3, 28, 28)), "OutputPorts")
    {'Output': (16, 14, 14)}
    """

    _where_text: str
    _kernel: tuple | None

    def __init__(self, n=Automatic, s=Automatic, *, Stride=1, PaddingSize=0, Dilation=1, ChannelGroups=1,
                 Interleaving=False, Dimensionality=Automatic, Weights=Automatic, Biases=Automatic,
                 LearningRateMultipliers=Automatic, Input=Automatic, Output=Automatic, **unknown):
        check_options("ConvolutionLayer", unknown, _OPTIONS)
        where = "ConvolutionLayer"
        params = {
            "OutputChannels": _parse_count(n, "number of output channels n", where, Automatic),
            "KernelSize": Automatic if s is Automatic else parse_sizes(s, "kernel size", where),
            "Stride": parse_sizes(Stride, "Stride", where),
            "PaddingSize": parse_padding(PaddingSize, where),
            "Dilation": parse_sizes(Dilation, "Dilation", where),
            "ChannelGroups": _parse_count(ChannelGroups, "ChannelGroups", where, None),
            "Interleaving": parse_interleaving(Interleaving, where),
            "Dimensionality": Automatic if Dimensionality is Automatic else parse_dimensionality(Dimensionality, where),
            "biases": Biases is not None,
        }
        weights = Automatic if Weights is Automatic else as_array(Weights, f'{where}: "Weights"')
        if isinstance(weights, np.ndarray) and not 3 <= weights.ndim <= 5:
            raise NetSpecificationError(
                f'{where}: "Weights" should have dims (n, c/g, k1, ...) with 1, 2 or 3 kernel dims, but has dims '
                f"{weights.shape}."
            )
        biases = Automatic if Biases is Automatic or Biases is None else as_array(Biases, f'{where}: "Biases"')
        if isinstance(biases, np.ndarray) and biases.ndim != 1:
            raise NetSpecificationError(f'{where}: "Biases" should be a vector, but has dims {biases.shape}.')
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        arrays = {"Weights": weights, **({"Biases": biases} if params["biases"] else {})}
        multiplier = parse_multiplier(LearningRateMultipliers, where)
        self._set_state(params, ports, arrays, {name: multiplier for name in arrays})

    # -- the protocol -------------------------------------------------------------------------
    @property
    def _array_names(self) -> tuple[str, ...]:
        return ("Weights", "Biases") if self._params["biases"] else ("Weights",)

    @property
    def _where(self) -> str:
        return self._where_text

    def _infer(self) -> None:
        p = self._params
        weights, biases = self._arrays["Weights"], self._arrays.get("Biases", Automatic)
        kernel = p["KernelSize"] if p["KernelSize"] is not Automatic else (
            tuple(weights.shape[2:]) if weights is not Automatic else Automatic)
        self._where_text = where = _where_text(p["OutputChannels"], kernel)
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        specs = {"kernel size": kernel, "Stride": p["Stride"], "Dilation": p["Dilation"],
                 "PaddingSize": p["PaddingSize"] if p["PaddingSize"] != SAME else 0,
                 "Weights' kernel dims": tuple(weights.shape[2:]) if weights is not Automatic else 0}
        d = dimensionality(where, specs, t_in.rank, f'port "Input" ({describe(t_in)})')
        d_out = dimensionality(where, specs, t_out.rank, f'port "Output" ({describe(t_out)})')
        if d is not None and d_out is not None and d != d_out:
            raise NetShapeError(
                f'{where}: port "Input" is {describe(t_in)} and port "Output" is {describe(t_out)}, but they should '
                "have the same rank (the channels and the same spatial dimensions)."
            )
        d = d if d is not None else d_out
        d = _given_dimensionality(where, p["Dimensionality"], d)
        if kernel is not Automatic and weights is not Automatic and tuple(weights.shape[2:]) != expand(kernel, d or 1):
            raise NetShapeError(
                f'{where}: inferred inconsistent dimensions for array "Weights": the kernel size is {kernel!r}, so '
                f"Weights needs dims (n, c/g, {', '.join(map(str, expand(kernel, d or 1)))}), but has dims "
                f"{weights.shape}."
            )
        if d is not None:
            t_in = unify(t_in, TensorT((None,) * (d + 1)), f'{where}: port "Input"')
            t_out = unify(t_out, TensorT((None,) * (d + 1)), f'{where}: port "Output"')
        interleaving, groups = p["Interleaving"], p["ChannelGroups"]
        c_in, sp_in = split_channels(t_in, interleaving, where, "Input")
        c_out, sp_out = split_channels(t_out, interleaving, where, "Output")
        n = _agree(where, "the number of output channels", [
            ("n", p["OutputChannels"]), ('port "Output"', c_out),
            ('"Weights" (its first dim)', None if weights is Automatic else weights.shape[0]),
            ('"Biases" (its length)', None if biases is Automatic else biases.shape[0])])
        c = _agree(where, "the number of input channels", [
            ('port "Input"', c_in), ('"Weights" (its second dim times the ChannelGroups)',
                                     None if weights is Automatic else weights.shape[1] * groups)])
        self._kernel = None if kernel is Automatic or d is None else expand(kernel, d)
        if d is not None:
            assert sp_in is not None and sp_out is not None  # both ports have rank d + 1 now
            sp_in, sp_out = self._spatial(sp_in, sp_out, d, t_in, t_out)
            t_in, t_out = join_channels(c, sp_in, interleaving), join_channels(n, sp_out, interleaving)
        else:
            t_in = _leading(t_in, c, interleaving)
            t_out = _leading(t_out, n, interleaving)
        _check_groups(where, groups, c, "Input", t_in)
        _check_groups(where, groups, n, "Output", t_out)
        self._ports["Input"], self._ports["Output"] = t_in, t_out

    def _spatial(self, sp_in: tuple, sp_out: tuple, d: int, t_in: TensorT, t_out: TensorT) -> tuple[tuple, tuple]:
        """The input's and the output's spatial sizes, each inferred from the other where it can be."""
        p, where = self._params, self._where
        kernel = self._kernel
        stride, dilation = expand(p["Stride"], d), expand(p["Dilation"], d)
        padding = padding_pairs(p["PaddingSize"], d)
        if kernel is None and padding != SAME:
            return sp_in, sp_out  # the kernel is not known yet
        kernel = kernel or (1,) * d  # "Same": the sizes do not depend on it
        computed = output_sizes(sp_in, kernel, stride, dilation, padding, where, f'port "Input" ({describe(t_in)})')
        merged_out = _merge(where, 'port "Output"', sp_out, computed, t_out)
        back = input_sizes(merged_out, kernel, stride, dilation, padding, where, f'port "Output" ({describe(t_out)})')
        return _merge(where, 'port "Input"', sp_in, back, t_in), merged_out

    def _array_dims(self, name: str) -> tuple | None:
        given = self._arrays.get(name, Automatic)
        if given is not Automatic:
            return given.shape
        n, c = self._channels()
        if name == "Biases":
            return None if n is None else (n,)
        if n is None or c is None or self._kernel is None:
            return None
        return (n, c // self._params["ChannelGroups"], *self._kernel)

    def _channels(self) -> tuple[Any, Any]:
        """(output channels, input channels), each None while unknown."""
        interleaving = self._params["Interleaving"]
        n = _channel_of(self._ports["Output"], interleaving)
        c = _channel_of(self._ports["Input"], interleaving)
        return n, c

    def _array_dims_hint(self, name: str) -> str:
        n, c = self._channels()
        missing = [what for what, value in (("the number of output channels n", n),
                                            ("the number of input channels (the Input option)", c),
                                            ("the kernel size and its dimensionality", self._kernel)) if value is None]
        if name == "Biases":
            missing = missing[:1]
        return (
            f"its dims depend on {' and '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not known. "
            'Give them, e.g. ConvolutionLayer(16, 3, Input=(3, 28, 28)), or give Weights=... of dims (n, c/g, k...).'
        )

    def _torch_module(self) -> Convolution:
        p = self._params
        weights = self._arrays["Weights"]
        biases = self._arrays.get("Biases")
        d = weights.ndim - 2
        stride, dilation = expand(p["Stride"], d), expand(p["Dilation"], d)
        padding = padding_pairs(p["PaddingSize"], d)
        t_in = self._ports["Input"]
        if padding == SAME and t_in.dims is not None:
            spatial = split_channels(t_in, p["Interleaving"], self._where)[1] or ()
            padding = resolved_padding(padding, spatial, weights.shape[2:], stride, dilation) or SAME
        return Convolution(
            torch.tensor(weights), None if biases is None else torch.tensor(biases),
            stride=stride, dilation=dilation, padding=padding, groups=p["ChannelGroups"],
            interleaving=p["Interleaving"], spec=self._spec(), where=self._where,
        )

    def _spec(self) -> dict[str, Any]:
        """The constructor's arguments but the arrays and ports (what from_torch gives back)."""
        p = self._params
        spec = {"n": p["OutputChannels"], "s": p["KernelSize"]}
        spec.update({name: p[name] for name, default in _DEFAULTS.items() if p[name] != default})
        return spec

    def _arguments(self) -> tuple[tuple, dict]:
        spec = self._spec()
        options = self._port_arguments()
        options.update({name: value for name, value in spec.items() if name not in ("n", "s")})
        if spec["n"] is Automatic or spec["s"] is Automatic:  # the arrays alone fix them: keep the output
            out = port_spec(self._ports["Output"])
            if out is not Automatic:
                options["Output"] = out
        if not self._params["biases"]:
            options["Biases"] = None
        return (spec["n"], spec["s"]), options

    def _constructor(self) -> str:
        (n, s), options = self._arguments()
        args = [] if n is Automatic and s is Automatic else [repr(n), repr(s)] if s is not Automatic else [repr(n)]
        texts = [f"{name}={value!r}" for name, value in options.items()
                 if name not in ("Input", "Output", "LearningRateMultipliers", "Biases")]
        rest = self._repr_options()
        if "Output" in options:
            rest.insert(1 if "Input" in options else 0, f"Output={options['Output']!r}")
        if not self._params["biases"]:
            rest.append("Biases=None")
        return f"ConvolutionLayer({', '.join([*args, *texts, *rest])})"


class Convolution(nn.Module):
    """The torch form of ConvolutionLayer, batch first: ``F.conv1d``/``conv2d``/``conv3d`` on
    ``(batch, c, d1, ...)`` (with Interleaving, ``(batch, d1, ..., c)``, moved to channels first and
    back: a channels-last input then runs as a ``channels_last`` tensor). Asymmetric padding is an
    ``F.pad`` with zeros before the convolution; ``"Same"`` padding is resolved from the input's
    sizes (fixed when the layer knew them).

    Its parameters are ``Weights`` (n, c/g, k...) and, unless the layer has none, ``Biases`` (n):
    the Wolfram array names, which are the ``state_dict()`` keys; ``weight`` and ``bias`` name the
    same parameters, as in ``nn.Conv2d``. ``spec`` holds the layer's constructor arguments (but the
    arrays and ports), which :func:`wlnet.from_torch` gives back.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, stride: tuple, dilation: tuple,
                 padding: tuple | str, groups: int, interleaving: bool, spec: dict, where: str = "ConvolutionLayer"):
        super().__init__()
        self.Weights = nn.Parameter(torch.as_tensor(weight))
        if bias is not None:
            self.Biases = nn.Parameter(torch.as_tensor(bias))
        self.rank = self.Weights.ndim - 2  # spatial dims
        self.stride, self.dilation, self.groups = tuple(stride), tuple(dilation), groups
        if padding == SAME and all(s == 1 for s in self.stride):  # stride 1: "Same" pads the same for every size
            padding = tuple(same_padding(1, k, 1, dil) for k, dil in zip(self.Weights.shape[2:], self.dilation))
        self.padding = padding  # ((before, after), ...) or "Same" (a stride > 1, the input's sizes not known)
        self.interleaving = interleaving
        self.spec = dict(spec)
        self.where = where

    @property
    def weight(self) -> nn.Parameter:
        """The kernel (the same parameter as ``Weights``)."""
        return self.Weights

    @property
    def bias(self) -> nn.Parameter | None:
        """The biases (the same parameter as ``Biases``), or None when the layer has none."""
        return self._parameters.get("Biases")

    def _pads(self, sizes: Any) -> tuple:
        if self.padding != SAME:
            return self.padding  # type: ignore[return-value]
        kernel = tuple(self.Weights.shape[2:])
        with warnings.catch_warnings():  # torch.jit.trace: the padding of the traced sizes (as F.conv's shapes)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            sizes = tuple(int(s) for s in sizes)
        return resolved_padding(SAME, sizes, kernel, self.stride, self.dilation) or ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parameters = self._parameters  # not self.Weights: Module.__getattr__ costs 0.4 us a call
        weight: torch.Tensor = parameters["Weights"]  # type: ignore[assignment]
        x = module_input(x, weight.dtype, self.where)
        if x.ndim != self.rank + 2:
            raise NetShapeError(
                f"{self.where}: the input should have rank {self.rank + 2} (batch, channels and {self.rank} spatial "
                f"dims), but has shape {tuple(x.shape)}."
            )
        if self.interleaving:
            x = x.movedim(-1, 1)
        pads = self._pads(x.shape[2:])
        if not torch.jit.is_tracing():
            self._check(x, pads)
        if all(b == a for b, a in pads):
            padding: Any = tuple(b for b, _ in pads)
        else:
            x, padding = F.pad(x, torch_pad(pads)), 0
        y = _CONVOLUTIONS[self.rank - 1](x, weight, parameters.get("Biases"), self.stride, padding, self.dilation,
                                         self.groups)
        return y.movedim(1, -1) if self.interleaving else y

    def _check(self, x: torch.Tensor, pads: tuple) -> None:
        """The input's channels and spatial sizes against the kernel (NetShapeError, where F.conv
        would raise a RuntimeError)."""
        channels = self.Weights.shape[1] * self.groups
        if x.shape[1] != channels:
            where = "last" if self.interleaving else "second"
            raise NetShapeError(
                f"{self.where}: the input's {where} dim (the channels) should be {channels}, but the input has shape "
                f"{tuple(x.movedim(1, -1).shape if self.interleaving else x.shape)}."
            )
        for axis, (size, k, dil, (b, a)) in enumerate(
            zip(x.shape[2:], self.Weights.shape[2:], self.dilation, pads), start=1
        ):
            if effective_kernel(int(k), dil) > size + b + a:
                raise NetShapeError(
                    f"{self.where}: kernel size {effective_kernel(int(k), dil)} cannot exceed input size {size} "
                    f"plus padding size {b + a} at spatial dimension {axis} (an input of shape {tuple(x.shape)})."
                )

    def extra_repr(self) -> str:
        padding = self.padding if self.padding == SAME else tuple(self.padding)
        return (f"in={self.Weights.shape[1] * self.groups}, out={self.Weights.shape[0]}, "
                f"kernel={tuple(self.Weights.shape[2:])}, stride={self.stride}, padding={padding}, "
                f"dilation={self.dilation}, groups={self.groups}, interleaving={self.interleaving}, "
                f"bias={self.bias is not None}")


_CONVOLUTIONS = (F.conv1d, F.conv2d, F.conv3d)


# -- helpers ------------------------------------------------------------------------------------
def _parse_count(value: Any, what: str, where: str, automatic: Any) -> Any:
    if value is Automatic and automatic is Automatic:
        return Automatic
    number = as_int(value)
    if number is None or number < 1:
        raise NetSpecificationError(f"{where}: the {what} should be a positive integer, but was {value!r}.")
    return check_size(number, where, f"the {what}")


def _given_dimensionality(where: str, given: Any, d: int | None) -> int | None:
    """The number of spatial dims: the Dimensionality option's where given (it must agree with ``d``,
    what the specifications, the Weights and the ports give), else ``d``."""
    if given is Automatic:
        return d
    if d is not None and d != given:
        raise NetShapeError(
            f"{where}: Dimensionality is {given}, but the kernel size, Stride, PaddingSize, Dilation, Weights or ports "
            f"give {d} spatial dimension{'s' if d > 1 else ''}."
        )
    return given


def _where_text(n: Any, kernel: Any) -> str:
    parts = ([] if n is Automatic else [f"{n} output channel{'s' if n != 1 else ''}"]) + (
        [] if kernel is Automatic else [f"kernel size {kernel!r}"])
    return f"ConvolutionLayer ({', '.join(parts)})" if parts else "ConvolutionLayer"


def _agree(where: str, what: str, sources: list[tuple[str, Any]]) -> Any:
    """The one value that the known ``sources`` ((name, value or None/Automatic)) give, or None."""
    found: tuple[str, Any] | None = None
    for name, value in sources:
        if value is None or value is Automatic:
            continue
        if found is not None and found[1] != value:
            raise NetShapeError(
                f"{where}: inferred inconsistent dimensions: {what} is {found[1]} by {found[0]}, but {value} by {name}."
            )
        found = found or (name, int(value))
    return None if found is None else found[1]


def _check_groups(where: str, groups: int, channels: Any, port: str, t: TensorT) -> None:
    if channels is not None and channels % groups:
        raise NetShapeError(
            f'{where}: the number of {port.lower()} channels {channels} (port "{port}": {describe(t)}) is not '
            f"divisible by the group number {groups} (ChannelGroups); each of the {groups} groups needs the same "
            "number of channels."
        )


def _merge(where: str, port: str, given: tuple, inferred: tuple, t: TensorT) -> tuple:
    """Spatial sizes ``given`` (of a port) and ``inferred`` (from the other port), dim by dim."""
    merged = []
    for axis, (a, b) in enumerate(zip(given, inferred), start=1):
        if a is None or a == b or (a == VARYING and b is None):
            merged.append(b if a is None else a)
        elif b is None or b == VARYING:
            merged.append(a)
        else:
            raise NetShapeError(
                f"{where}: {port} is {describe(t)}, but the other port's size and the kernel, stride, padding and "
                f"dilation give size {b} at spatial dimension {axis}, not {a}."
            )
    return tuple(merged)


def _channel_of(t: TensorT, interleaving: bool) -> Any:
    if t.dims:
        return t.dims[-1] if interleaving else t.dims[0]
    if t.dims is None and t.leading and not interleaving:
        return t.leading[0]
    return None


def _leading(t: TensorT, channels: Any, interleaving: bool) -> TensorT:
    """An array of unknown rank with its channels known first: "an array of dims (c, …)"."""
    if t.dims is not None or channels is None or interleaving:
        return t
    return unify(t, TensorT(None, (channels,)), "ConvolutionLayer")
