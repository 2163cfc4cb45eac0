"""ParametricRampLayer: a leaky ReLU whose negative-side slope is learned, per chosen levels."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import kernels
from ..arrays import as_array, floating_input
from ..errors import NetShapeError, NetSpecificationError, check_options
from ..functional import parametric_ramp, slope_view_shape
from ..symbols import All, Automatic, Span
from ..types import VARYING, TensorT, as_int, describe, parse_port, unify
from .base import Layer, parse_multiplier

__all__ = ["ParametricRamp", "ParametricRampLayer", "resolve_levels"]

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
        levels = _parse_levels(levels)
        where = _where(levels)
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
        where = _where(self._params["levels"])
        self._where_text = where  # built once: evaluation names the layer often
        levels = self._params["levels"]
        t = unify(self._ports["Input"], self._ports["Output"], f'{where}: ports "Input" and "Output"')
        slope = self._arrays["Slope"]
        if t.dims is None and slope is not Automatic:
            t = unify(t, _input_from_slope(levels, slope), f'{where}: port "Input" and the given "Slope"')
        slope_dims = None
        front = _front_axes(levels)
        if t.dims is not None:
            axes = resolve_levels(levels, len(t.dims), where, t)
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
                slope_dims = _unify_slope(levels, slope_dims, slope)
                dims = list(t.dims)
                for axis, size in zip(axes, slope_dims):
                    dims[axis] = size
                t = TensorT(tuple(dims))
        elif slope is not Automatic:
            slope_dims = slope.shape
        elif front is not None and len(t.leading) > max(front, default=-1):
            slope_dims = tuple(t.leading[axis] for axis in front)
            slope_dims = None if None in slope_dims else slope_dims
        elif _level_count(levels) == 0:
            slope_dims = ()
        self._slope_dims = None if slope_dims is None else tuple(slope_dims)
        self._ports["Input"] = self._ports["Output"] = t

    def _array_dims(self, name: str) -> tuple | None:
        return self._slope_dims

    def _array_dims_hint(self, name: str) -> str:
        """Why the slope's dims are unknown, and how to give them (for NetInitialize's error)."""
        return (
            f"its dims are the input's dims at levels {_levels_text(self._params['levels'])}, "
            "and the input's dims are not known. Give them with the Input option, e.g. "
            f"ParametricRampLayer({_levels_text(self._params['levels'])}, Input=(3,)), or give "
            "Slope=..."
        )

    def _torch_module(self) -> ParametricRamp:
        return ParametricRamp(torch.tensor(self._arrays["Slope"]), self._params["levels"])

    def _arguments(self) -> tuple[tuple, dict]:
        return (self._params["levels"],), self._port_arguments()

    def _constructor(self) -> str:
        args = [_levels_text(self._params["levels"]), *self._repr_options()]
        return f"ParametricRampLayer({', '.join(args)})"


class ParametricRamp(nn.Module):
    """The torch form of ParametricRampLayer (what ``to_torch()`` returns), batch first.

    The slope is the ``nn.Parameter`` ``Slope`` (its ``state_dict()`` key is the Wolfram array
    name, see :mod:`wlnet.lower`), also reachable as ``slope``; ``levels`` is the layer's levels
    specification (1-based, batch axis not counted). Lowered from a layer, a slope whose
    learning-rate multiplier is 0 has ``requires_grad=False``, and the multiplier is kept as
    ``slope.lr_multiplier`` for training loops that scale learning rates per parameter.

    An integer or True/False input is computed in the slope's floating type (the output has that
    type, as ``int_tensor * float_tensor`` has in PyTorch); a floating input keeps its type (the
    slope is converted to it); a complex input is a NetDataError.

    >>> module = ParametricRamp(torch.tensor([0.5, 0.25]), levels=1)
    >>> list(module.state_dict()), module(torch.tensor([[-2.0, -2.0]])).tolist()
    (['Slope'], [[-1.0, -0.5]])
    """

    def __init__(self, slope: torch.Tensor, levels=1):
        super().__init__()
        self.levels = _parse_levels(levels)
        self.Slope = nn.Parameter(torch.as_tensor(slope))
        # input rank -> (axes, the slope's view shape or None, (axis, size) pairs to check, the slope
        # planned for, whether PyTorch's kernel may run inference as far as the slope's dims and
        # dtype tell: kernels.torch_forward_is_faster, and that dtype)
        self._plans: dict[int, tuple] = {}

    @property
    def slope(self) -> nn.Parameter:
        """The slope parameter (the same object as ``Slope``)."""
        return self.Slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not self.Slope: Module.__getattr__ costs 0.4 us a call.
        slope: torch.Tensor = self._parameters["Slope"]  # type: ignore[assignment]
        same_dtype = x.dtype is slope.dtype
        if not same_dtype and not x.is_floating_point():
            x = floating_input(x, slope.dtype, _where(self.levels))
            same_dtype = x.dtype is slope.dtype
        if torch._C._is_tracing() or torch.compiler.is_compiling():
            # Sizes may be traced or symbolic values here: nothing is cached from them (and under
            # torch.jit.trace the check would only warn).
            axes = self._plan(x.ndim, slope)[0]
            if not torch.jit.is_tracing() and tuple(x.shape[a] for a in axes) != slope.shape:
                raise self._mismatch(x, axes)
            return parametric_ramp(x, slope, axes)
        plan = self._plans.get(x.ndim)
        # Planned for this rank, with this very parameter in its dtype (module.to() converts in place).
        if plan is None or plan[3] is not slope or plan[5] is not slope.dtype:
            plan = self._plans[x.ndim] = self._call_plan(x.ndim, slope)
        axes, view, sizes, _, torch_inference, _ = plan
        # What the dispatch picks for a small input (PyTorch's own PReLU kernel), and for a mid-size
        # one without gradients where that kernel is faster (kernels.torch_forward_is_faster, its
        # slope and dtype parts planned), without the dispatch's general checks: such a call is
        # mostly per-call cost. A slope on the last axes broadcasts as it is (view None).
        n = x.numel()
        pytorch_kernel = same_dtype and (
            n < kernels.MIN_FUSED_NUMEL
            or torch_inference and x.is_cpu and x.is_contiguous()
            and not (torch.is_grad_enabled() and (x.requires_grad or slope.requires_grad))  # kernels.wants_grad
            and n * x.element_size() <= kernels.torch_forward_bytes()
        )
        if pytorch_kernel and view is _CHANNELS:
            # torch.prelu checks the channels against a slope of two or more values itself.
            try:
                return torch.prelu(x, slope)
            except RuntimeError:
                if not _dims_fit(x, sizes):
                    raise self._mismatch(x, axes) from None
                raise
        if not _dims_fit(x, sizes):
            raise self._mismatch(x, axes)
        if not pytorch_kernel:
            return parametric_ramp(x, slope, axes)
        if view is None:
            return torch._prelu_kernel(x, slope)
        return torch._prelu_kernel(x, slope.reshape(view))

    def _call_plan(self, ndim: int, slope: torch.Tensor) -> tuple:
        """What :meth:`forward` needs for inputs of rank ``ndim`` (see ``_plans``)."""
        axes, view = self._plan(ndim, slope)
        form: list[int] | None = view
        if list(view[ndim - slope.ndim:]) == list(slope.shape):  # the rest of view is 1s
            form = None  # the slope broadcasts as it is
        elif axes == (1,) and slope.ndim == 1 and slope.shape[0] > 1:
            form = _CHANNELS  # torch.prelu's own form: it reshapes, and checks the channels, in C++
        torch_inference = kernels.one_slope_dim(slope.shape) and kernels.torch_forward_dtype(slope.dtype)
        return axes, form, tuple(zip(axes, slope.shape)), slope, torch_inference, slope.dtype

    def _plan(self, ndim: int, slope: torch.Tensor) -> tuple[tuple[int, ...], list[int]]:
        """The axes of a batch of rank ``ndim`` that the levels name, and the slope's view shape."""
        where = _where(self.levels)
        if ndim < 1:
            raise NetShapeError(f"{where}: the input needs a batch axis first, but is a 0-d tensor.")
        axes = tuple(a + 1 for a in resolve_levels(self.levels, ndim - 1, where))
        if len(axes) != slope.ndim:
            raise NetShapeError(
                f"{where}: the levels name {len(axes)} dims of an input of rank {ndim} (batch first), but the "
                f"slope has {slope.ndim}."
            )
        return axes, slope_view_shape(ndim, slope.shape, axes)

    def _mismatch(self, x: torch.Tensor, axes: tuple[int, ...]) -> NetShapeError:
        return NetShapeError(
            f"{_where(self.levels)}: an input of shape {tuple(x.shape)} (batch first) has dims "
            f"{tuple(x.shape[a] for a in axes)} at levels {_levels_text(self.levels)}, but "
            f"the slope has dims {tuple(self.Slope.shape)}."
        )

    def extra_repr(self) -> str:
        return f"levels={_levels_text(self.levels)}, slope_shape={tuple(self.slope.shape)}"


def _dims_fit(x: torch.Tensor, sizes: tuple[tuple[int, int], ...]) -> bool:
    """Whether the input's dims at the levels are the slope's (``sizes``: (axis, size) pairs)."""
    shape = x.shape
    for axis, size in sizes:  # (a loop: all() over a generator costs 0.3 us a call)
        if shape[axis] != size:
            return False
    return True


_CHANNELS: list[int] = []  # a plan's view for a slope on axis 1 (torch.prelu's own form), by identity


def _where(levels) -> str:
    return f"ParametricRampLayer (levels {_levels_text(levels)})"


def _levels_text(levels) -> str:
    if isinstance(levels, tuple):
        return "[" + ", ".join(map(str, levels)) + "]"
    return repr(levels)


def _level(value, where: str) -> int:
    """One level: a nonzero int (NumPy ints too, not bools)."""
    level = as_int(value)
    if level is None:
        raise NetSpecificationError(
            f"{where}: a level should be a nonzero integer, but {value!r} is not an integer."
        )
    if level == 0:
        raise NetSpecificationError(
            f"{where}: level 0 does not exist: levels count from 1 (the first dimension of one "
            "example, after the batch axis); -1 is the last level."
        )
    return level


def _parse_levels(levels):
    """Validate a levels specification: int, Span or a list of ints; a list becomes a tuple."""
    where = "ParametricRampLayer"
    if isinstance(levels, Span):
        start = _level(levels.start, f"{where}: the start of {levels!r}")
        if levels.stop is All:
            return Span(start, All)
        stop = _level(levels.stop, f"{where}: the end of {levels!r}")
        if (start > 0) == (stop > 0) and start > stop:
            raise NetSpecificationError(
                f"{where}: {levels!r} selects no levels (its start is after its end); "
                "use [] for one slope shared by every element."
            )
        return Span(start, stop)
    if isinstance(levels, (list, tuple)):
        parsed = tuple(_level(level, where) for level in levels)
        seen = set()
        for level in parsed:
            if level in seen:
                raise NetSpecificationError(
                    f"{where}: level {level} appears twice in the levels {list(parsed)}; each "
                    "level may be given once."
                )
            seen.add(level)
        return parsed
    if isinstance(levels, (str, bytes, dict, set)) or levels is None:
        raise NetSpecificationError(
            f"{where}: the levels should be an integer, a Span, a list of integers or [], "
            f"but were {levels!r}."
        )
    return _level(levels, where)


def _front_axes(levels) -> tuple[int, ...] | None:
    """The 0-based axes ``levels`` selects when every level is counted from the first (the same
    axes on every rank that has them); None when one is counted from the last."""
    if isinstance(levels, tuple):
        return tuple(sorted(level - 1 for level in levels)) if all(level > 0 for level in levels) else None
    if isinstance(levels, Span):
        if isinstance(levels.stop, int) and levels.start > 0 and levels.stop > 0:
            return tuple(range(levels.start - 1, levels.stop))
        return None
    return (levels - 1,) if levels > 0 else None


def _level_count(levels) -> int | None:
    """How many levels a specification selects, when that does not depend on the input's rank."""
    if isinstance(levels, tuple):
        return len(levels)
    if isinstance(levels, Span):
        # A parsed span ends at a level (an int) or at All. Through All, or from a level counted
        # from the first to one counted from the last, the count depends on the rank.
        if not isinstance(levels.stop, int) or (levels.start > 0) != (levels.stop > 0):
            return None
        return levels.stop - levels.start + 1
    return 1


def resolve_levels(levels, rank: int, where: str, port: TensorT | None = None) -> tuple[int, ...]:
    """The 0-based axes of one example of rank ``rank`` that ``levels`` selects, sorted.

    >>> resolve_levels(Span(2, All), 4, "")
    (1, 2, 3)
    >>> resolve_levels((-1, 1), 3, "")
    (0, 2)
    """
    port_text = describe(port) if port is not None else f"an array of rank {rank}"
    if isinstance(levels, Span):
        stop = levels.stop if isinstance(levels.stop, int) else rank  # a parsed span's stop: a level or All
        ends = [_axis(levels.start, rank, where, levels, port_text),
                _axis(stop, rank, where, levels, port_text)]
        if ends[0] > ends[1]:
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), {levels!r} selects no levels (its start "
                "is after its end); use [] for one slope shared by every element."
            )
        return tuple(range(ends[0], ends[1] + 1))
    if isinstance(levels, tuple):
        axes = [_axis(level, rank, where, levels, port_text) for level in levels]
        if len(set(axes)) != len(axes):
            raise NetShapeError(
                f"{where}: on {port_text} (rank {rank}), the levels {list(levels)} name the same "
                "level twice."
            )
        return tuple(sorted(axes))
    return (_axis(levels, rank, where, levels, port_text),)


def _axis(level: int, rank: int, where: str, levels, port_text: str) -> int:
    axis = level - 1 if level > 0 else rank + level
    if not 0 <= axis < rank:
        if rank == 0:
            raise NetShapeError(
                f'{where}: port "Input" is a real number (rank 0), which has no level {level}; '
                'for one slope shared by every element use ParametricRampLayer([], Input="Real").'
            )
        raise NetShapeError(
            f'{where}: level {level} is beyond the rank of port "Input": it is {port_text}, of '
            f"rank {rank}, so levels run from 1 to {rank} (or -{rank} to -1)."
        )
    return axis


def _input_from_slope(levels, slope: np.ndarray) -> TensorT:
    """The input type that a given slope fixes when the input's rank is not known otherwise.

    The slope has the input's dims at the levels, so when the levels select a number of levels
    that depends on the input's rank (``Span(2, All)``, ``Span(1, -2)``), the slope's rank fixes
    the input's rank: the input then has the slope's dims at the levels and unknown dims elsewhere.
    When the number does not depend on the rank (a level, a list of levels, ``Span(1, 2)``,
    ``Span(-2, All)``), the input may have any rank of at least the levels' own: the rank stays
    unknown. Levels counted from the first fix the input's leading dims (level 2 and a slope of
    length 3: ``(Automatic, 3, ...)``, "an array of dims (n, 3, …)"); levels counted from the last
    fix nothing until the rank is known. Either way the slope's dims are checked against the
    input's as soon as its rank is known (an Input option, a neighbouring layer, or the data).

    Raises:
        NetShapeError: the levels select a number of levels, on an input of any rank, other than
            the slope's rank.
    """
    count = _level_count(levels)
    if count is not None:  # the same number of levels on every rank
        _unify_slope(levels, (None,) * count, slope)  # the slope has that rank, or this raises
        front = _front_axes(levels)
        if front is None:
            return TensorT(None)
        leading: list = [None] * (max(front, default=-1) + 1)
        for axis, size in zip(front, slope.shape):
            leading[axis] = size
        return TensorT(None, tuple(leading))
    fitting, counts = [], []
    for rank in range(slope.ndim + 2 * _largest_level(levels) + 2):  # every rank where the count changes
        try:
            count = len(resolve_levels(levels, rank, ""))
        except NetShapeError:
            continue
        counts.append(count)
        if count == slope.ndim:
            fitting.append(rank)
    if not fitting:
        raise NetShapeError(
            f'{_where(levels)}: inferred inconsistent dimensions for array "Slope": the levels '
            f"{_levels_text(levels)} select {_counts_text(counts)} of the input, and the Slope has one "
            f"dimension per level selected, but the given Slope is {describe(TensorT(tuple(slope.shape)))}."
        )
    if len(fitting) > 1:  # Span(-2, All): the last two levels of an input of any rank >= 2
        return TensorT(None)
    dims: list = [None] * fitting[0]
    for axis, size in zip(resolve_levels(levels, fitting[0], ""), slope.shape):
        dims[axis] = size
    return TensorT(tuple(dims))


def _largest_level(levels: Span) -> int:
    """The largest distance from either end of the input that the ends of a span name."""
    return max(abs(end) for end in (levels.start, levels.stop) if isinstance(end, int))


def _counts_text(counts: list[int]) -> str:
    """How many levels a specification selects on inputs of increasing rank: "1 level",
    "at least 2 levels" (more on a higher rank), "at most 2 levels" (fewer on a higher rank)."""
    low, high = min(counts), max(counts)
    if low == high:
        return f"{low} level" + ("" if low == 1 else "s")
    return f"at least {low} level{'' if low == 1 else 's'}" if counts[-1] == high else f"at most {high} levels"


def _unify_slope(levels, expected_dims: tuple, slope: np.ndarray) -> tuple:
    """The slope's dims that both the input at the levels (``expected_dims``) and the given slope allow."""
    expected, given = TensorT(expected_dims), TensorT(tuple(slope.shape))
    try:
        unified = unify(expected, given, "")
    except NetShapeError:
        raise NetShapeError(
            f'{_where(levels)}: inferred inconsistent dimensions for array "Slope": the input at '
            f"levels {_levels_text(levels)} makes it {describe(expected)}, but the given Slope is "
            f"{describe(given)}."
        ) from None
    assert unified.dims is not None  # both ranks are known, so the unified one is
    return unified.dims
