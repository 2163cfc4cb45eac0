"""The fused fast path of ParametricRampLayer: one pass forward, one pass backward, any level spec.

:func:`wlnet.functional.parametric_ramp` asks :func:`supports` and then calls the operator
``torch.ops.wlnet.parametric_ramp`` (:mod:`wlnet.operators`), whose kernels are :func:`forward` and
:func:`backward` here; results and gradients equal
:func:`wlnet.functional.parametric_ramp_reference` (bit for bit, except that the slope gradient is
summed in another, fixed, order). Backends, compiled from Python at first use, no C compiler needed:

* CPU: Numba (a dependency of wlnet), float32, float64 and bfloat16.
* CUDA: Triton, float32, float64, float16 and bfloat16.

Without the backend for a device, the operator runs PyTorch's own PReLU kernel, and the logger
``"wlnet"`` says once why and how to get the fast path.

Tensors below :data:`MIN_FUSED_NUMEL` elements, or of a dtype the JIT kernels do not take, use
PyTorch's own PReLU kernel with the slope broadcast to the input: the same formula and gradients,
the least overhead per call. The design and measurements: ``docs/kernel.md``.

No call waits for a compile: the first big call of a dtype runs PyTorch's PReLU kernel alone, the
second starts loading (or compiling) the CPU kernels in a background thread and runs PyTorch's
kernel meanwhile, as the next calls do until :func:`ready` says the kernels are there.
:func:`wait_ready` waits for them (tests, benchmarks); ``WLNET_COMPILE_IN_BACKGROUND=0`` (or
:data:`COMPILE_IN_BACKGROUND` = False) makes the first call compile them itself, as before.

>>> import torch
>>> x = torch.tensor([[-2.0, 0.0, 3.0]])
>>> parametric_ramp(x, torch.tensor([0.5, 0.5, 0.5]), (1,))
tensor([[-1.,  0.,  3.]])
"""

from __future__ import annotations

import logging
import os
import threading
import types
from collections.abc import Sequence

import torch

from . import settings
from .layout import LINE, is_dense, plan_for, same_layout
from .memory import reuse_memory
from .pool import release as release_outputs

__all__ = [
    "COMPILE_IN_BACKGROUND",
    "MIN_FUSED_NUMEL",
    "available",
    "parametric_ramp",
    "plain",
    "ready",
    "release_outputs",
    "reuse_memory",
    "supports",
    "one_slope_dim",
    "slope_innermost",
    "torch_forward_bytes",
    "torch_forward_dtype",
    "torch_forward_fits",
    "torch_forward_is_faster",
    "view_shape",
    "wait_ready",
]

#: Inputs with fewer elements take PyTorch's own PReLU kernel (a C++ autograd node: the least
#: overhead per call) instead of a JIT kernel. Below this size its slope-gradient reduction runs
#: on one thread, so it is deterministic too. Tests lower it to 0 to reach the kernels.
MIN_FUSED_NUMEL = 1 << 15

#: Calls that want gradients take PyTorch's kernel below this many elements when a wlnet module or
#: function makes them: the fused path's fixed cost per training step (autograd.Functions in
#: Python, planning, parallel regions) is larger than what it saves below about this size
#: (bench/shapes.py --sweep, level 1: fused steps 0.73-0.77x nn.PReLU's at 1e5 elements, 1.6-1.8x
#: at 1.5e5, float32 and bfloat16). Tests lower it to 0 to reach the kernels.
MIN_FUSED_TRAINING_NUMEL = 1 << 17

#: Inference (no gradient wanted) on a contiguous float32/float64 CPU input of at most this many
#: bytes runs PyTorch's PReLU kernel where that kernel is fast: a slope with at most one dim above 1
#: (one slope, or one per channel, on any one level). While input and output stay in the cache it
#: is as fast as the fused forward or faster, and for small inputs 1.3-4x (the fused forward's
#: planning and parallel region cost more than the work: bench/sizes.py); with a slope of two dims
#: or more (Span(1, 2): 2-10x slower in PyTorch's kernel), or above this size, the fused forward
#: wins (there it streams its output past the cache). None: half the last-level cache, as for the
#: streaming stores (measured, level 1 float32: PyTorch's kernel 1.04-1.10x faster at 6.4-12.8 MB
#: and even at 25.7 MB, with a 32 MiB L3; 5x slower at 51 MB, a fresh mapping for its output).
#: Tests set it to 0 to reach the kernels.
TORCH_FORWARD_BYTES: int | None = None

logger = logging.getLogger("wlnet")

_HINTS = {
    "cpu": "pip install numba (or pip install wlnet[fast])",
    "cuda": "pip install triton",
}
_backends: dict[str, types.ModuleType | None] = {}
_errors: dict[str, Exception] = {}
_told: set[str] = set()
_told_lock = threading.Lock()

#: Whether the CPU kernels are loaded or compiled in a background thread while PyTorch's PReLU
#: kernel serves the calls; None: as ``WLNET_COMPILE_IN_BACKGROUND`` says (default yes), read at
#: the first big call. False: the first big call of a dtype loads or compiles them itself.
COMPILE_IN_BACKGROUND: bool | None = None
#: The dtypes whose CPU kernels are loaded: calls of these dtypes run them.
_ready: set[torch.dtype] = set()
#: The dtypes with a big call so far: the next big call of one starts its background thread.
_called: set[torch.dtype] = set()
#: The background thread per dtype, started by the second big call of that dtype.
_preparing: dict[torch.dtype, threading.Thread] = {}
_preparing_lock = threading.Lock()
#: True in a child forked from this process: no thread started, no kernels (see ``cpu``).
_forked = False


def _load(device_type: str) -> types.ModuleType | None:
    """The kernel module for a device type, imported on first use; None if its JIT is missing."""
    if device_type not in _backends:
        module = _import(device_type)
        if module is not None and module.MISSING is not None:
            _errors[device_type] = module.MISSING
            module = None
        _backends[device_type] = module
    return _backends[device_type]


def _import(device_type: str) -> types.ModuleType | None:
    """The kernel module for a device type (imported here: each imports its JIT), or None."""
    if device_type == "cpu":
        from . import cpu

        return cpu
    if device_type == "cuda":
        from . import cuda

        return cuda
    return None


def _unavailable(device_type: str) -> None:
    """Say once, on the ``wlnet`` logger, that the fused kernels are missing for this device."""
    with _told_lock:  # the background thread may say it too
        if device_type in _told or device_type not in _HINTS:
            return
        _told.add(device_type)
    error = _errors.get(device_type)
    # A JIT that is installed but cannot run here says what to do itself (``cpu.UnavailableError``).
    hint = getattr(error, "hint", None) or _HINTS[device_type]
    logger.log(
        logging.INFO if getattr(error, "quiet", False) else logging.WARNING,
        "the fused ParametricRampLayer kernel is unavailable on %s (%s); using PyTorch's own PReLU "
        "kernel, as fast as torch.nn.PReLU, which the fused kernel trains about 4x faster than. To get "
        "it: %s.",
        device_type,
        error or "no JIT for this device",
        hint,
    )


def _give_up(device_type: str, error: Exception) -> None:
    """The kernels of ``device_type`` failed to start in this process (Numba's settings, a damaged
    cache, a forked child): say so once and use PyTorch's ops from now on."""
    _backends[device_type] = None
    _errors[device_type] = error
    _unavailable(device_type)


def _in_background() -> bool:
    """:data:`COMPILE_IN_BACKGROUND`, from ``WLNET_COMPILE_IN_BACKGROUND`` the first time."""
    global COMPILE_IN_BACKGROUND
    if COMPILE_IN_BACKGROUND is None:
        COMPILE_IN_BACKGROUND = bool(settings.read("WLNET_COMPILE_IN_BACKGROUND"))
    return COMPILE_IN_BACKGROUND


def ready(dtype: torch.dtype) -> bool:
    """Whether the CPU kernels for ``dtype`` are loaded, so that big calls of it run them.

    >>> ready(torch.int64)
    False
    """
    return dtype in _ready


def wait_ready(dtype: torch.dtype, timeout: float | None = None) -> bool:
    """Load or compile the CPU kernels for ``dtype`` now (in the background thread, started if need
    be) and wait at most ``timeout`` seconds for them; returns :func:`ready`. False at once where
    they cannot run (no Numba, a dtype they do not take, a forked child).

    >>> wait_ready(torch.float16)
    False
    """
    if dtype not in _ready and (thread := _prepare(dtype)) is not None:
        thread.join(timeout)
    return dtype in _ready


def _prepare(dtype: torch.dtype) -> threading.Thread | None:
    """The thread that makes the CPU kernels for ``dtype`` ready, started the first time."""
    if _forked or _backends.get("cpu", True) is None:
        return None
    with _preparing_lock:
        thread = _preparing.get(dtype)
        if thread is None:
            # A daemon: an interpreter that ends while the kernels compile does not wait for them.
            name = f"wlnet-kernels-{dtype}"
            thread = threading.Thread(target=_make_ready, args=(dtype,), name=name, daemon=True)
            _preparing[dtype] = thread
            thread.start()
    return thread


def _make_ready(dtype: torch.dtype) -> None:
    """Import the CPU backend (and Numba) and load or compile its kernels for ``dtype``; on success
    calls of ``dtype`` take them. A failure: one log line, PyTorch's kernel from then on."""
    backend = _load("cpu")
    if backend is None:
        _unavailable("cpu")
        return
    if dtype not in backend.DTYPES:
        return
    try:
        backend.prepare(dtype, background=True)
    except _failures(backend) as error:
        _give_up("cpu", error)
        return
    _ready.add(dtype)


def _cpu_backend(dtype: torch.dtype) -> types.ModuleType | None:
    """The CPU backend where its kernels for ``dtype`` may run now, else None (PyTorch's kernel)."""
    if dtype in _ready:
        return _backends.get("cpu")  # None once the kernels failed to run
    if _in_background():
        if dtype in _called:
            _prepare(dtype)
        else:
            # The first big call of a dtype runs alone, on PyTorch's kernel: loading the kernels
            # beside it (importing Numba, reading the cache) took two of its cores' time and made
            # a first training step 0.3-0.6 s slower. They load from the next call on.
            _called.add(dtype)
        return None
    return _load("cpu")  # the kernels load or compile at their first call


def _after_fork_in_child() -> None:
    """A forked child starts no thread and runs PyTorch's ops (the CPU kernels refuse a fork too)."""
    global _forked, _preparing_lock, _told_lock
    _forked = True
    _preparing_lock, _told_lock = threading.Lock(), threading.Lock()  # a parent's thread may have held them
    _ready.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> dict[str, bool]:
    """Whether the fused kernels can run, per device type.

    >>> sorted(available())
    ['cpu', 'cuda']
    """
    return {
        "cpu": _load("cpu") is not None,
        "cuda": torch.cuda.is_available() and _load("cuda") is not None,
    }


def supports(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int]) -> bool:
    """Whether :func:`parametric_ramp` (the operator) handles these tensors (else use the reference).

    True for non-empty floating-point tensors whose slope is on their device. Where the device's
    JIT is not available (no numba, a broken one, a forked process), the operator runs PyTorch's
    own PReLU kernel at every size, as fast as ``torch.nn.PReLU``, and the logger ``"wlnet"`` says
    once what is missing.

    Args:
        x: the input, batch axis included.
        slope: the slope, already of ``x``'s dtype and device, dims ``x``'s dims at ``axes``.
        axes: 0-based increasing axes of ``x`` that the slope's dims sit on.
    """
    return x.numel() > 0 and x.dtype.is_floating_point and slope.device == x.device


def parametric_ramp(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """f(x) = x if x > 0 else slope * x, with the slope on ``axes`` of ``x``: the operator
    ``torch.ops.wlnet.parametric_ramp`` (:mod:`wlnet.operators`), autograd included.

    Wolfram: the function of ``ParametricRampLayer[levels]``; ``axes`` are the 0-based axes of the
    batched input that ``levels`` names.

    Call only when :func:`supports` says True. Inputs of at least :data:`MIN_FUSED_NUMEL`
    elements, of a dtype the JIT kernels take, run the fused kernels (on CPU once they are
    :func:`ready`: the second such call starts loading them in the background); smaller ones (and
    other dtypes, and big calls until the kernels are ready) run PyTorch's own PReLU kernel
    with the slope broadcast to ``x``. Both give the reference's gradients:
    d/dx = 1 where x > 0 else slope (so slope at x = 0 and x = -0.0), and d/dslope = x * grad
    where x < 0 else 0 (exactly 0 at x = 0 and x = +inf; NaN where x is NaN), summed over the
    broadcast axes.

    Args:
        x: the input, batch axis included.
        slope: the slope, of ``x``'s dtype and device, dims ``x``'s dims at ``axes``.
        axes: 0-based increasing axes of ``x`` that the slope's dims sit on.

    Returns:
        A tensor of ``x``'s shape and dtype, laid out as ``torch.empty_like(x)``.
    """
    return torch.ops.wlnet.parametric_ramp(x, slope, list(axes))


_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
#: The dispatch keys of a plain dense tensor, per device type (CUDA's added at its first tensor).
_PLAIN_KEYS = {"cpu": torch._C._dispatch_keys(torch.empty(0))}


def plain(*tensors: torch.Tensor) -> bool:
    """Whether the dispatch of ``torch.ops.wlnet.*`` would come straight to its CPU or CUDA kernel,
    so that an eager call (:mod:`wlnet.operators`) may call that kernel itself (9-11 us less a
    call): plain dense tensors (no subclass, FakeTensor, functorch wrapper, negative or zero view,
    sparse or inference tensor: their dispatch keys are a plain tensor's) on a CPU or CUDA device,
    and no dispatch mode, function mode, torch.func transform or profiler (which records the
    operator's own events).

    >>> plain(torch.ones(2), torch.nn.Parameter(torch.ones(2)))
    True
    """
    if (
        torch._C._len_torch_dispatch_stack()
        or torch._C._is_torch_function_mode_enabled()
        or torch._C._are_functorch_transforms_active()
        or torch.autograd._profiler_enabled()
    ):
        return False
    for t in tensors:
        if type(t) not in _PLAIN_TYPES:
            return False
        keys = _PLAIN_KEYS["cpu"] if t.is_cpu else _cuda_keys(t) if t.is_cuda else None
        if keys is None or torch._C._dispatch_keys(t) != keys:
            return False
    return True


def _cuda_keys(t: torch.Tensor) -> torch._C.DispatchKeySet:
    keys = _PLAIN_KEYS.get("cuda")
    if keys is None:
        keys = _PLAIN_KEYS["cuda"] = torch._C._dispatch_keys(torch.empty(0, device=t.device))
    return keys


def forward(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """The operator's forward on a CPU or CUDA tensor: the fused kernel where it is the faster one,
    else PyTorch's PReLU kernel (small inputs, a dtype the kernels do not take, a strided input,
    an input PyTorch's kernel runs faster: :func:`torch_forward_is_faster`)."""
    if x.numel() >= max(MIN_FUSED_NUMEL, 2):
        backend = _cpu_backend(x.dtype) if x.device.type == "cpu" else _load(x.device.type)
        if backend is None and not (x.device.type == "cpu" and _in_background()):
            _unavailable(x.device.type)  # (in the background, its thread says so)
        if (
            backend is not None and x.dtype in backend.DTYPES and not torch_forward_is_faster(x, slope, axes)
            and is_dense(x.shape, x.stride())
        ):
            return _laid_out_like(_forward(backend, x, slope, axes), x)
    return _laid_out_like(_prelu(x, slope, axes), x)


def backward(
    grad: torch.Tensor, x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...], need_x: bool, need_slope: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The operator's backward on a CPU or CUDA tensor: the input gradient (laid out as
    ``torch.empty_like(x)``) and the slope gradient, each None when not asked for. The fused
    backward (one pass, its slope gradient summed in a fixed order) where the kernels are loaded,
    else PyTorch's PReLU backward."""
    backend = None
    if x.numel() >= max(MIN_FUSED_NUMEL, 2):
        if x.device.type != "cpu":
            backend = _load(x.device.type)
        elif x.dtype in _ready:
            backend = _backends.get("cpu")  # None once the kernels failed to run
        elif not _in_background():
            backend = _load("cpu")
        # (else: in the background, the forward started loading them; PyTorch's kernel meanwhile)
    if backend is not None and x.dtype in backend.DTYPES:
        dense = _dense(x)
        # Runs a whole number of lines where the plan can choose: the CPU kernels' vectors.
        plan = plan_for(dense.shape, dense.stride(), axes, line=LINE // x.element_size())
        if plan is not None:
            # The CPU kernels take any gradient layout (the expanded one of y.sum().backward() too)
            # without a full-size copy of their own; others need x's.
            if not getattr(backend, "ANY_GRAD_LAYOUT", False):
                grad = _dense(grad, dense)
            try:
                gx, gs = backend.backward(dense, slope, grad, plan, need_x, need_slope)
            except _failures(backend) as error:
                _give_up(x.device.type, error)
            else:
                return (_laid_out_like(gx, x) if gx is not None else None), gs
    return _prelu_backward(grad, x, slope, axes, need_x, need_slope)


def _prelu_backward(
    grad: torch.Tensor, x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...], need_x: bool, need_slope: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """:func:`backward` by PyTorch's PReLU backward kernel."""
    view = view_shape(x.ndim, slope.shape, axes)
    gx, gs = torch.ops.aten._prelu_kernel_backward(grad, x, slope.reshape(view))
    # (Its slope gradient is per element: summed over the broadcast axes here, as autograd does.)
    gs = gs.sum_to_size(view).reshape(slope.shape) if need_slope else None
    return (_laid_out_like(gx, x) if need_x else None), gs


def _laid_out_like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y`` (of ``x``'s shape) with the strides of ``torch.empty_like(x)``, as the operators' fake
    kernels promise: ``y`` itself when it has them (every dense input), else a copy."""
    dense = is_dense(x.shape, x.stride())
    if dense and y.stride() == x.stride():  # (the common case, cheaply)
        return y
    like = x if dense else torch.empty_like(x, device="meta")
    if same_layout(y, like):
        return y
    return torch.empty_strided(x.shape, like.stride(), dtype=y.dtype, device=y.device).copy_(y)


def torch_forward_is_faster(x: torch.Tensor, slope: torch.Tensor, axes: Sequence[int] | None = None) -> bool:
    """Whether PyTorch's PReLU kernel beats the fused forward on this input (see TORCH_FORWARD_BYTES):
    the slope's part (:func:`one_slope_dim`) and the input's (:func:`torch_forward_fits`); ``axes``,
    the slope's, tell whether it varies along the innermost axis (None: assume so)."""
    return one_slope_dim(slope.shape) and torch_forward_fits(x, slope_innermost(x.ndim, slope.shape, axes))


def one_slope_dim(shape: Sequence[int]) -> bool:
    """Whether a slope of dims ``shape`` has at most one dim above 1 (shared, or one per channel)."""
    return sum(size > 1 for size in shape) <= 1


def slope_innermost(ndim: int, shape: Sequence[int], axes: Sequence[int] | None) -> bool:
    """Whether a slope of dims ``shape`` on ``axes`` varies along the last axis of an input of rank
    ``ndim`` (None: unknown, taken as yes)."""
    return axes is None or any(axis == ndim - 1 and size > 1 for axis, size in zip(axes, shape))


def torch_forward_fits(x: torch.Tensor, slope_innermost: bool = True) -> bool:
    """The input's part of :func:`torch_forward_is_faster`: a CPU tensor of at most
    :func:`torch_forward_bytes` that PyTorch's kernel runs at memory speed: float32 or float64,
    contiguous or channels_last (where the slope varies along the innermost axis); bfloat16,
    contiguous, with a slope that is constant along the innermost axis (``slope_innermost``
    False: along it, PyTorch's bfloat16 loop is a slow one). Measured: bench/shapes.py --sweep."""
    if not x.is_cpu or x.numel() * x.element_size() > torch_forward_bytes():
        return False
    if x.dtype in _TORCH_FAST_DTYPES:
        return x.is_contiguous() or x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
    return x.dtype == torch.bfloat16 and not slope_innermost and x.is_contiguous()


def torch_forward_dtype(dtype: torch.dtype) -> bool:
    """Whether PyTorch's PReLU kernel runs ``dtype`` at memory speed (float32, float64)."""
    return dtype in _TORCH_FAST_DTYPES


_TORCH_FAST_DTYPES = (torch.float32, torch.float64)


def torch_forward_bytes() -> int:
    """:data:`TORCH_FORWARD_BYTES`; when it is None, half the last-level cache (set there once)."""
    global TORCH_FORWARD_BYTES
    if TORCH_FORWARD_BYTES is None:
        TORCH_FORWARD_BYTES = settings.last_level_cache() // 2
    return TORCH_FORWARD_BYTES


def _failures(backend: types.ModuleType) -> tuple[type[Exception], ...]:
    """What a backend raises when its kernels cannot run in this process."""
    unavailable = getattr(backend, "UnavailableError", None)
    return (unavailable,) if unavailable is not None else ()


def _forward(backend: types.ModuleType, x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """``backend.forward``, or PyTorch's kernel when the backend cannot run here (said once)."""
    try:
        return backend.forward(x, slope, axes)
    except _failures(backend) as error:
        _give_up(x.device.type, error)
        return _prelu(x, slope, axes)


def view_shape(ndim: int, slope_shape: Sequence[int], axes: Sequence[int]) -> list[int]:
    """The shape that lines the slope up with an input of rank ``ndim``: its dims at ``axes``, 1
    everywhere else.

    >>> view_shape(4, (3,), (1,))
    [1, 3, 1, 1]
    """
    shape = [1] * ndim
    for axis, size in zip(axes, slope_shape):
        shape[axis] = size
    return shape


def _prelu(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """PyTorch's PReLU kernel with the slope broadcast to ``x``: the same formula,
    ``x > 0 ? x : slope * x``, at 0, -0.0, inf and NaN too, and the same gradients (its backward
    selects on ``x > 0``, so d/dslope is 0, not NaN, at x = +inf)."""
    return torch._prelu_kernel(x, slope.reshape(view_shape(x.ndim, slope.shape, axes)))


def _dense(t: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """``t`` itself if its memory is dense (and laid out as ``like``'s), else a dense copy."""
    if like is None:
        return t if is_dense(t.shape, t.stride()) else t.contiguous()
    return t if same_layout(t, like) else torch.empty_like(like).copy_(t)
