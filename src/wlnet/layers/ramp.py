"""ParametricRampLayer: a leaky ReLU whose negative-side slope is learned, per chosen levels."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .. import kernels, operators
from ..arrays import as_array, floating_input
from ..errors import NetShapeError, check_options
from ..functional import slope_view_shape
from ..symbols import Automatic
from ..types import VARYING, TensorT, describe, parse_port, unify
from .base import Layer, parse_multiplier
from .levels import (
    front_axes,
    input_from_slope,
    layer_text,
    level_count,
    levels_text,
    ramp_axes,
    ramp_levels,
    unify_slope,
)

__all__ = ["ParametricRamp", "ParametricRampLayer", "RampModule"]

_OPTIONS = ("Slope", "LearningRateMultipliers", "Input", "Output")


class ParametricRampLayer(Layer):
    """A leaky ReLU activation with a slope that can be learned, per element of chosen levels.

    Wolfram: ``ParametricRampLayer[levels, "Slope" -> s, LearningRateMultipliers -> m,
    "Input" -> dims]``. Computes, elementwise, f(x) = x for x > 0 and slope * x otherwise.

    Args:
        levels: which input levels (1-based dimensions of one example, the batch axis not
            counted) carry their own slope values. An int ``a`` (negative counts from the last
            level, -1 = last), ``Span(a1, a2)`` (levels a1 through a2, inclusive; ``Span(2,
            All)``), a list of ints, or ``[]`` for one slope shared by every element. The slope
            has the input's dims at these levels, in increasing level order, and broadcasts over
            every other level and over the batch. ``Automatic`` (the default) means level 1,
            except that a scalar ``Slope`` makes it ``[]``, so ``ParametricRampLayer(Slope=0.1,
            LearningRateMultipliers=0)`` is the fixed leaky ReLU of the Wolfram documentation.
        Slope: the slope array; ``Automatic`` until NetInitialize sets every value to 0.1.
            Giving it also fixes the input's dims at the chosen levels (an Input that disagrees is
            an error). When the number of levels chosen depends on the input's rank
            (``Span(2, All)``), it fixes the input's rank too, so ``Information(layer,
            "InputPorts")`` gives the dims, e.g. ``(Automatic, 3, 2)``; otherwise (a level, a list,
            ``Span(1, 2)``) the input may still have any rank and its dims stay unknown until an
            Input option, a neighbouring layer or the data fix the rank.
        LearningRateMultipliers: the slope's learning-rate multiplier; 0 (or None) freezes it.
        Input, Output: the port's dims: an int ``n`` (a length-n vector), a tuple of ints,
            ``("Varying", n, ...)`` for sequences of any length, or ``"Real"`` (a scalar, only
            with ``levels=[]``).

    Gradients at x == 0: d/dx = slope and d/dslope = 0, as in MXNet and PyTorch.

    Ports:
        Input: an array of any rank (of rank at least the highest level used).
        Output: an array with the input's dims.

    >>> prelu = ParametricRampLayer([], Slope=0.25)
    >>> prelu([[10, 10, 10], [-10, -10, -10]]).tolist()
    [[10.0, 10.0, 10.0], [-2.5, -2.5, -2.5]]
    """

    _where_text: str
    _slope_dims: tuple | None

    @property
    def _array_names(self) -> tuple[str, ...]:
        return ("Slope",)

    def __init__(self, levels=Automatic, *, Slope=Automatic, LearningRateMultipliers=Automatic, Input=Automatic,
                 Output=Automatic, **unknown):
        check_options("ParametricRampLayer", unknown, _OPTIONS)
        slope = Automatic if Slope is Automatic else as_array(Slope, 'ParametricRampLayer: "Slope"')
        if levels is Automatic:
            levels = [] if slope is not Automatic and slope.ndim == 0 else 1
        levels = ramp_levels(levels)
        where = layer_text(levels)
        ports = {
            "Input": parse_port(Input, f'{where}: the "Input" option'),
            "Output": parse_port(Output, f'{where}: the "Output" option'),
        }
        multiplier = parse_multiplier(LearningRateMultipliers, where)
        self._set_state({"levels": levels}, ports, {"Slope": slope}, {"Slope": multiplier})

    @property
    def _where(self) -> str:
        return self._where_text

    def _infer(self) -> None:
        where = layer_text(self._params["levels"])
        self._where_text = where  # built once: evaluation names the layer often
        levels = self._params["levels"]
        t = unify(self._ports["Input"], self._ports["Output"], f'{where}: ports "Input" and "Output"')
        slope = self._arrays["Slope"]
        if t.dims is None and slope is not Automatic:
            t = unify(t, input_from_slope(levels, slope), f'{where}: port "Input" and the given "Slope"')
        slope_dims = None
        front = front_axes(levels)
        if t.dims is not None:
            axes = ramp_axes(levels, len(t.dims), where, t)
            for axis in axes:
                if t.dims[axis] == VARYING:
                    raise NetShapeError(
                        f'{where}: level {axis + 1} of port "Input" ({describe(t)}) is "Varying": '
                        "its length differs between examples, so it cannot carry slope values. "
                        "Choose levels that have a fixed size, e.g. "
                        'ParametricRampLayer(2, Input=("Varying", 3)).'
                    )
            slope_dims = tuple(t.dims[a] for a in axes)
            if slope is not Automatic:
                slope_dims = unify_slope(levels, slope_dims, slope)
                dims = list(t.dims)
                for axis, size in zip(axes, slope_dims):
                    dims[axis] = size
                t = TensorT(tuple(dims))
        elif slope is not Automatic:
            slope_dims = slope.shape
        elif front is not None and len(t.leading) > max(front, default=-1):
            slope_dims = tuple(t.leading[axis] for axis in front)
            slope_dims = None if None in slope_dims else slope_dims
        elif level_count(levels) == 0:
            slope_dims = ()
        self._slope_dims = None if slope_dims is None else tuple(slope_dims)
        self._ports["Input"] = self._ports["Output"] = t

    def _array_dims(self, name: str) -> tuple | None:
        return self._slope_dims

    def _array_dims_hint(self, name: str) -> str:
        """Why the slope's dims are unknown, and how to give them (for NetInitialize's error)."""
        return (
            f"its dims are the input's dims at levels {levels_text(self._params['levels'])}, "
            "and the input's dims are not known. Give them with the Input option, e.g. "
            f"ParametricRampLayer({levels_text(self._params['levels'])}, Input=(3,)), or give "
            "Slope=..."
        )

    def _torch_module(self) -> ParametricRamp:
        return ParametricRamp(torch.tensor(self._arrays["Slope"]), self._params["levels"])

    def _arguments(self) -> tuple[tuple, dict]:
        return (self._params["levels"],), self._port_arguments()

    def _constructor(self) -> str:
        args = [levels_text(self._params["levels"]), *self._repr_options()]
        return f"ParametricRampLayer({', '.join(args)})"


class RampModule(nn.Module):
    """What every torch module of the layer computes (:class:`ParametricRamp`, the ``to_torch()``
    form, and :class:`wlnet.nn.PReLU`): the operator ``torch.ops.wlnet.parametric_ramp``
    (:mod:`wlnet.operators`) with the slope parameter ``self._parameters[self._slope_name]`` on the
    axes that ``levels`` names (1-based, the batch axis not counted), checked against the input.

    Small inputs run PyTorch's PReLU kernel straight from here in eager mode (its C++ autograd node
    costs the least per call): below :data:`wlnet.kernels.MIN_FUSED_NUMEL` elements, and, for a call
    that wants gradients, below ``MIN_FUSED_TRAINING_NUMEL``, and inference on mid-size inputs where
    that kernel is faster. Under ``torch.compile``, ``torch.export`` and ``torch.jit.trace`` the
    operator always runs (its own kernel makes the same choice at run time), so a compiled graph or
    a trace depends neither on the batch size nor on the grad mode it was made in. What a call
    plans for an input rank is kept in ``_plans``, plain data that copies and pickles (a copy
    starts with none).
    """

    _slope_name = "Slope"
    levels: object

    def __init__(self) -> None:
        super().__init__()
        # input rank -> _Plan
        self._plans: dict[int, _Plan] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_plans"] = {}  # planned for the original's parameter: the copy plans its own
        return state

    def _where(self) -> str:
        return layer_text(self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not getattr: Module.__getattr__ costs 0.4 us a call.
        slope: torch.Tensor = self._parameters[self._slope_name]  # type: ignore[assignment]
        if x.dtype is not slope.dtype and not x.is_floating_point():
            x = floating_input(x, slope.dtype, self._where())
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            # Compiled, exported or traced (sizes may be symbolic or recorded): the operator, planned
            # afresh, nothing cached. (Under torch.jit.trace the sizes are checked by the operator
            # when the trace runs: a comparison here would only warn.)
            axes = self._plan(x.ndim, slope)[0]
            if not torch.jit.is_tracing() and tuple(x.shape[a] for a in axes) != tuple(slope.shape):
                raise self._mismatch(x, axes)
            return operators.compiled(x, slope if x.dtype is slope.dtype else slope.to(x.dtype), list(axes))
        plan = self._plans.get(x.ndim)
        # Planned for this rank, with this very parameter in its dtype (module.to() converts in place).
        if plan is None or plan.slope is not slope or plan.dtype is not slope.dtype:
            plan = self._plans[x.ndim] = self._call_plan(x.ndim, slope)
        same_dtype = x.dtype is slope.dtype
        # What the dispatch picks for a small input (PyTorch's own PReLU kernel), and for a mid-size
        # one without gradients where that kernel is faster (kernels.torch_forward_is_faster, its
        # slope and dtype parts planned), without the dispatch's general checks: such a call is
        # mostly per-call cost. A slope on the last axes broadcasts as it is.
        n = x.numel()
        pytorch_kernel = same_dtype and (
            n < kernels.MIN_FUSED_NUMEL
            or (
                n < kernels.MIN_FUSED_TRAINING_NUMEL
                if torch.is_grad_enabled() and (x.requires_grad or slope.requires_grad)  # wants gradients
                else _torch_inference(plan, x)
            )
        )
        if pytorch_kernel and plan.form == _CHANNELS:
            # torch.prelu checks the channels against a slope of two or more values itself.
            try:
                return torch.prelu(x, slope)
            except RuntimeError:
                if not _dims_fit(x, plan.sizes):
                    raise self._mismatch(x, plan.axes) from None
                raise
        if not _dims_fit(x, plan.sizes):
            raise self._mismatch(x, plan.axes)
        # (Under CPU autocast the operator, which autocasts as torch.prelu does; _prelu_kernel does not.)
        if not pytorch_kernel or torch.is_autocast_enabled("cpu"):
            return operators.ramp(x, slope if same_dtype else slope.to(x.dtype), plan.axes_list)
        if plan.form == _AS_IS:
            return torch._prelu_kernel(x, slope)
        return torch._prelu_kernel(x, slope.reshape(plan.view))

    def _call_plan(self, ndim: int, slope: torch.Tensor) -> _Plan:
        """What :meth:`forward` needs for inputs of rank ``ndim``."""
        axes, view = self._plan(ndim, slope)
        form = _VIEW
        if list(view[ndim - slope.ndim:]) == list(slope.shape):  # the rest of view is 1s
            form = _AS_IS  # the slope broadcasts as it is
        elif axes == (1,) and slope.ndim == 1 and slope.shape[0] > 1:
            form = _CHANNELS  # torch.prelu's own form: it reshapes, and checks the channels, in C++
        # (bfloat16 only where the slope is constant along the innermost axis: kernels.torch_forward_fits)
        torch_inference = kernels.one_slope_dim(slope.shape) and (
            kernels.torch_forward_dtype(slope.dtype)
            or slope.dtype == torch.bfloat16 and not kernels.slope_innermost(ndim, slope.shape, axes)
        )
        sizes = tuple(zip(axes, (int(n) for n in slope.shape)))
        return _Plan(axes, list(axes), view, form, sizes, slope, torch_inference, slope.dtype)

    def _plan(self, ndim: int, slope: torch.Tensor) -> tuple[tuple[int, ...], list[int]]:
        """The axes of a batch of rank ``ndim`` that the levels name, and the slope's view shape."""
        where = self._where()
        if ndim < 1:
            raise NetShapeError(f"{where}: the input needs a batch axis first, but is a 0-d tensor.")
        axes = tuple(a + 1 for a in ramp_axes(self.levels, ndim - 1, where))
        if len(axes) != slope.ndim:
            raise NetShapeError(
                f"{where}: the levels name {len(axes)} dims of an input of rank {ndim} (batch first), but the "
                f"slope has {slope.ndim}."
            )
        return axes, slope_view_shape(ndim, slope.shape, axes)

    def _mismatch(self, x: torch.Tensor, axes: tuple[int, ...]) -> NetShapeError:
        slope = self._parameters[self._slope_name]
        assert slope is not None
        return NetShapeError(
            f"{self._where()}: an input of shape {tuple(x.shape)} (batch first) has dims "
            f"{tuple(x.shape[a] for a in axes)} at levels {levels_text(self.levels)}, but "
            f"the slope has dims {tuple(slope.shape)}."
        )


class ParametricRamp(RampModule):
    """The torch form of ParametricRampLayer (what ``to_torch()`` returns), batch first.

    The slope is the ``nn.Parameter`` ``Slope`` (its ``state_dict()`` key is the Wolfram array
    name, see :mod:`wlnet.lower`), also reachable as ``slope``; ``levels`` is the layer's levels
    specification (1-based, batch axis not counted). Lowered from a layer, a slope whose
    learning-rate multiplier is 0 has ``requires_grad=False``, and the multiplier is kept as
    ``slope.lr_multiplier`` for training loops that scale learning rates per parameter.

    An integer or True/False input is computed in the slope's floating type (the output has that
    type, as ``int_tensor * float_tensor`` has in PyTorch); a floating input keeps its type (the
    slope is converted to it); a complex input is a NetDataError. It computes with the operator
    ``torch.ops.wlnet.parametric_ramp`` (see :class:`RampModule`), so it can be copied, pickled,
    compiled, exported, traced and vmapped.

    >>> module = ParametricRamp(torch.tensor([0.5, 0.25]), levels=1)
    >>> list(module.state_dict()), module(torch.tensor([[-2.0, -2.0]])).tolist()
    (['Slope'], [[-1.0, -0.5]])
    """

    def __init__(self, slope: torch.Tensor, levels=1):
        super().__init__()
        self.levels = ramp_levels(levels)
        self.Slope = nn.Parameter(torch.as_tensor(slope))

    @property
    def slope(self) -> nn.Parameter:
        """The slope parameter (the same object as ``Slope``)."""
        return self.Slope

    def extra_repr(self) -> str:
        return f"levels={levels_text(self.levels)}, slope_shape={tuple(self.slope.shape)}"


class _Plan(NamedTuple):
    """What :meth:`RampModule.forward` planned for one input rank (plain data: it copies and pickles)."""

    axes: tuple[int, ...]
    axes_list: list[int]
    view: list[int]  # the slope's shape lined up with the input
    form: int  # _AS_IS, _CHANNELS or _VIEW: how PyTorch's kernel takes the slope
    sizes: tuple[tuple[int, int], ...]  # (axis, size) pairs to check
    slope: torch.Tensor  # the parameter planned for
    torch_inference: bool  # whether PyTorch's kernel may run inference, as far as the slope tells
    dtype: torch.dtype


_AS_IS, _CHANNELS, _VIEW = 0, 1, 2


def _torch_inference(plan: _Plan, x: torch.Tensor) -> bool:
    """kernels.torch_forward_is_faster, its slope and dtype parts planned (inlined: a call of it
    measured 1 us over nn.PReLU's forward)."""
    return (
        plan.torch_inference and x.is_cpu
        and (x.is_contiguous() or plan.dtype is not torch.bfloat16 and x.ndim == 4
             and x.is_contiguous(memory_format=torch.channels_last))
        and x.numel() * x.element_size() <= kernels.torch_forward_bytes()
    )


def _dims_fit(x: torch.Tensor, sizes: tuple[tuple[int, int], ...]) -> bool:
    """Whether the input's dims at the levels are the slope's (``sizes``: (axis, size) pairs)."""
    shape = x.shape
    for axis, size in sizes:  # (a loop: all() over a generator costs 0.3 us a call)
        if shape[axis] != size:
            return False
    return True
