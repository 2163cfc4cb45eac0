"""The eager fast path: plain eager calls run the operator's kernels without the dispatcher, and
everything that must see the operator (dispatch modes, the profiler, tensor subclasses, torch.func,
autocast, negative views) still does. The CPU kernels' NumPy views of tensor memory. No timings.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import wlnet.nn
from wlnet import kernels, operators
from wlnet.kernels import cpu

needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")

FORWARD = "wlnet.parametric_ramp.default"
BACKWARD = "wlnet.parametric_ramp_backward.default"


class Recording(TorchDispatchMode):
    """Every op that reaches the Python dispatch layer, by name."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _step(module, x, grad):
    x = x.detach().requires_grad_()
    y = module(x)
    y.backward(grad)
    return y.detach(), x.grad, module.weight.grad


def _inputs(layout=torch.contiguous_format, dtype=torch.float32):
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 5, 6, generator=generator).to(dtype)
    x.view(-1)[:4] = torch.tensor([0.0, -0.0, float("inf"), float("-inf")], dtype=dtype)
    x = x.contiguous(memory_format=layout)
    grad = torch.randn(2, 4, 5, 6, generator=generator).to(dtype).contiguous(memory_format=layout)
    return x, grad


@needs_numba
def test_a_dispatch_mode_sees_the_operators(fused):
    module = wlnet.nn.PReLU(4)
    x, grad = _inputs()
    with Recording() as mode:
        _step(module, x, grad)
    assert FORWARD in mode.ops and BACKWARD in mode.ops, mode.ops


@needs_numba
def test_a_dispatch_mode_sees_the_inference_call(fused):
    module = wlnet.nn.PReLU(4)
    x, _ = _inputs()
    with torch.no_grad(), Recording() as mode:
        module(x)
    assert FORWARD in mode.ops, mode.ops


@needs_numba
def test_the_profiler_records_the_operators(fused):
    module = wlnet.nn.PReLU(4)
    x, grad = _inputs()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        _step(module, x, grad)
    names = {event.name for event in profile.events()}
    assert {"wlnet::parametric_ramp", "wlnet::parametric_ramp_backward"} <= names, sorted(names)


@needs_numba
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_fast_path_computes_what_the_dispatcher_does(fused, layout, dtype):
    """Bit for bit: values, input gradients, slope gradients, and the output's strides."""
    kernels.wait_ready(dtype)
    module = wlnet.nn.PReLU(4, dtype=dtype)
    with torch.no_grad():
        module.weight.copy_(torch.linspace(-0.5, 0.5, 4))
    x, grad = _inputs(layout, dtype)
    direct = _step(module, x, grad)
    module.weight.grad = None
    with Recording() as mode:  # a mode: the dispatcher's path
        dispatched = _step(module, x, grad)
    assert FORWARD in mode.ops
    for a, b in zip(direct, dispatched):
        assert torch.equal(a.nan_to_num(), b.nan_to_num()) and a.stride() == b.stride()
    assert direct[0].is_contiguous(memory_format=layout)


def test_only_plain_tensors_take_the_fast_path():
    x = torch.randn(3)
    assert kernels.plain(x, torch.nn.Parameter(torch.randn(3)))
    assert not kernels.plain(torch._neg_view(x))  # its values are the negated memory
    assert not kernels.plain(x.to("meta"))
    assert not kernels.plain(x.to_sparse())
    with torch.inference_mode():
        assert not kernels.plain(torch.randn(3))

    class Subclass(torch.Tensor):
        pass

    assert not kernels.plain(x.as_subclass(Subclass))
    with Recording():
        assert not kernels.plain(x)
    assert torch.func.vmap(lambda t: torch.tensor(kernels.plain(t)))(torch.randn(2, 3)).tolist() == [False, False]


@needs_numba
def test_a_negative_view_is_read_as_its_values(fused):
    module = wlnet.nn.PReLU(4, init=0.5)
    x, _ = _inputs()
    x = x.nan_to_num(0.0, 0.0, 0.0)
    negated = torch._neg_view(x)
    with torch.no_grad():
        assert torch.equal(module(negated), torch.where(-x > 0, -x, 0.5 * -x))


@needs_numba
def test_cpu_autocast_still_casts_an_inference_call(fused):
    kernels.wait_ready(torch.bfloat16)
    module = wlnet.nn.PReLU(4)
    x, _ = _inputs()
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        y = module(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, torch.prelu(x.bfloat16(), module.weight.detach().bfloat16()))


# --- the CPU kernels' views of tensor memory -------------------------------------------------------


@needs_numba
@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(24.0).reshape(2, 3, 4),
        lambda: torch.arange(120.0).reshape(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
        lambda: torch.arange(24.0, dtype=torch.float64).reshape(2, 3, 4).permute(2, 0, 1),
        lambda: torch.arange(24.0).reshape(4, 6)[1:],  # a storage offset
        lambda: torch.arange(24.0).to(torch.bfloat16).reshape(2, 12),
    ],
)
def test_storage_is_the_memory_in_memory_order(make):
    t = make()
    order = sorted(range(t.ndim), key=lambda d: -t.stride(d))
    def memory() -> torch.Tensor:
        flat = t.permute(order).reshape(-1)
        return flat.view(torch.uint16) if t.dtype == torch.bfloat16 else flat

    view = cpu._storage(t)
    assert np.array_equal(view, memory().numpy())
    view[0] = 7  # the tensor's own memory
    assert memory()[0].item() == 7


@needs_numba
def test_storage_keeps_its_tensor_alive():
    view = cpu._storage(torch.full((1000,), 3.0))
    gc.collect()
    for _ in range(50):  # memory freed under the view would now hold these
        torch.full((1000,), 9.0) + 1
    assert (view == 3.0).all()


@needs_numba
def test_numba_follows_each_change_of_torch_threads(fused):
    import numba

    threads = torch.get_num_threads()
    x, _ = _inputs()
    slope = torch.rand(4)
    try:
        for count in (1, max(2, threads), 1):
            torch.set_num_threads(count)
            operators.parametric_ramp(x, slope, [1])
            assert numba.get_num_threads() == min(count, numba.config.NUMBA_NUM_THREADS)
    finally:
        torch.set_num_threads(threads)


# --- channels_last outputs reuse pooled memory ---------------------------------------------------


@needs_numba
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_big_outputs_of_any_dense_layout_come_from_the_pool(fused, layout):
    """A big output (over POOL_MIN_BYTES) of a channels-last input is laid out as its input and
    reuses the memory of a freed earlier one, as a contiguous one does (channels-last outputs were
    fresh mappings every call, 2-4x slower)."""
    from wlnet.kernels import pool

    pool.release()
    x = torch.randn(4, 64, 96, 96).contiguous(memory_format=layout)  # 9 MiB
    grad = torch.randn(4, 64, 96, 96).contiguous(memory_format=layout)
    slope = torch.tensor(0.25)
    first, _ = operators.parametric_ramp_backward(grad, x, slope, [], True, True)  # the input gradient
    pointer = first.data_ptr()
    assert first.is_contiguous(memory_format=layout)
    assert pool.kept_bytes() == first.numel() * 4  # kept for reuse
    del first
    assert pool.kept_bytes(idle=True) == x.numel() * 4
    second, _ = operators.parametric_ramp_backward(grad, x, slope, [], True, True)
    assert second.data_ptr() == pointer and second.stride() == x.stride()
    assert torch.equal(second, torch.where(x > 0, grad, 0.25 * grad))
    pool.release()
