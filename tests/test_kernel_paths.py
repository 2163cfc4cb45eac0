"""Which path a call takes, and what it costs in memory: no call waits for a compile (the kernels
load in a background thread while PyTorch's PReLU kernel runs), and the backward reads expanded
or otherwise strided output gradients and strided inputs without full-size copies. No timings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import wlnet.kernels as kernels
from test_kernels import CASES, _inputs, _same, _slope_grad_tolerance
from wlnet.functional import parametric_ramp_reference
from wlnet.kernels import cpu

needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")


# --- the background compile ----------------------------------------------------------------------

FIRST_CALL = """
import logging, torch
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")  # the compile notice is INFO
from wlnet import kernels
from wlnet.functional import parametric_ramp, parametric_ramp_reference

torch_backwards = []
real_backward = kernels._prelu_backward
kernels._prelu_backward = lambda *args: torch_backwards.append(1) or real_backward(*args)

def step(function, x, slope, grad):
    x = x.clone().requires_grad_()
    slope = slope.clone().requires_grad_()
    y = function(x, slope, (1,))
    before = len(torch_backwards)
    y.backward(grad)
    return y, x.grad, slope.grad, "PyTorch's" if len(torch_backwards) > before else "fused"

special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 2.0, -2.0])
for dtype in (torch.float32,):
    x = torch.randn(8, 16, 32, 32).to(dtype)
    x.view(-1)[: special.numel()] = special.to(dtype)  # the gradients at 0 and +inf too
    slope = torch.linspace(-0.5, 0.5, 16).to(dtype)
    grad = torch.randn_like(x)
    expected = step(parametric_ramp_reference, x, slope, grad)
    first = step(parametric_ramp, x, slope, grad)
    assert not kernels.ready(dtype), "the first call waited for the kernels"
    assert dtype not in kernels._preparing, "the first call started loading the kernels beside it"
    assert first[3] == "PyTorch's", first[3]
    second = step(parametric_ramp, x, slope, grad)  # starts loading them, and does not wait either
    assert dtype in kernels._preparing and second[3] == "PyTorch's", second[3]
    assert kernels.wait_ready(dtype, timeout=600)
    later = step(parametric_ramp, x, slope, grad)
    assert later[3] == "fused", later[3]
    for found in (first, later):
        assert torch.equal(found[0], expected[0]) and torch.equal(found[1], expected[1])
        torch.testing.assert_close(found[2], expected[2], rtol=1e-4, atol=1e-4)
        at = torch.tensor([slope[0], slope[0], 1, slope[0], 1, slope[0]], dtype=dtype)  # 0, -0, inf, -inf, 2, -2
        assert torch.equal(found[1].view(-1)[:6], at * grad.view(-1)[:6])
    torch.testing.assert_close(first[2], later[2], rtol=1e-4, atol=1e-4)
print("ok")
"""


@needs_numba
def test_first_call_does_not_wait_for_the_compile(tmp_path):
    """With an empty cache, the first big call returns the reference's values before the kernels
    are compiled; after :func:`wlnet.kernels.wait_ready` calls take the kernels, same values."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("WLNET_COMPILE_IN_BACKGROUND")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FIRST_CALL)], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok" in done.stdout
    announced = [line for line in done.stderr.splitlines() if "compiling the fast CPU kernels" in line]
    assert len(announced) == 1 and "in the background" in announced[0], done.stderr[-3000:]


def test_forked_child_starts_no_thread(monkeypatch):
    monkeypatch.setattr(kernels, "_forked", True)
    assert kernels._prepare(torch.float32) is None
    assert not kernels.wait_ready(torch.float16)


# --- output gradients of any layout, strided inputs ----------------------------------------------


def _grads(function, x, slope, axes, backward):
    x = x.clone().requires_grad_() if x.is_leaf else x.detach().requires_grad_()
    slope = slope.clone().requires_grad_()
    backward(function(x, slope, axes))
    return x.grad, slope.grad


def _finite(x):
    return x.nan_to_num(0.0, 0.0, 0.0)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("shape", "axes"), CASES)
def test_expanded_output_gradients(fused, monkeypatch, shape, axes, dtype):
    """The gradient of ``y.sum()`` (all strides 0), of a scaled sum and a partly expanded one
    ((1, C, 1, ...) broadcast): the reference's gradients, through the kernels."""
    calls = []
    backward = cpu.backward
    monkeypatch.setattr(cpu, "backward", lambda *a: calls.append(a[2].stride()) or backward(*a))
    x, slope, _ = _inputs(shape, axes, dtype)
    x = _finite(x)
    partial = [1] * len(shape)
    partial[-1 if len(shape) == 1 else 1] = shape[-1 if len(shape) == 1 else 1]
    ways = {
        "sum": lambda y: y.sum().backward(),
        "scaled": lambda y: y.backward(torch.tensor(-0.75, dtype=dtype).expand(shape)),
        "partial": lambda y: y.backward(torch.linspace(-1, 1, max(partial), dtype=dtype).view(partial).expand(shape)),
    }
    for name, way in ways.items():
        calls.clear()
        gx, gs = _grads(kernels.parametric_ramp, x, slope, axes, way)
        gx_ref, gs_ref = _grads(parametric_ramp_reference, x, slope, axes, way)
        assert calls and (0 in calls[0] or len(shape) == 1), name  # the kernels got the expanded gradient itself
        assert _same(gx, gx_ref), name
        torch.testing.assert_close(gs, gs_ref, **_slope_grad_tolerance(dtype))


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("shape", "axes"), CASES)
def test_sliced_inputs(fused, shape, axes, dtype):
    """A strided input (every other element of its last axis) gives the reference's gradients,
    and the backward keeps the input itself, not a dense copy."""
    wide, _, _ = _inputs((*shape[:-1], 2 * shape[-1]), (), dtype)
    _, slope, _ = _inputs(shape, axes, dtype)
    base = _finite(wide).requires_grad_()
    sliced = base[..., ::2]
    y = kernels.parametric_ramp(sliced, slope.clone().requires_grad_(), axes)
    assert y.grad_fn.saved_tensors[0].data_ptr() == base.data_ptr()
    grad = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(2))
    gx, gs = _grads(kernels.parametric_ramp, sliced, slope, axes, lambda y: y.backward(grad))
    gx_ref, gs_ref = _grads(parametric_ramp_reference, sliced, slope, axes, lambda y: y.backward(grad))
    assert _same(gx, gx_ref)
    torch.testing.assert_close(gs, gs_ref, **_slope_grad_tolerance(dtype))


@needs_numba
@pytest.mark.parametrize("axes", [(1,), (3,), (1, 2), ()])
def test_no_full_size_gradient_copy(fused, monkeypatch, axes):
    """``y.sum().backward()`` allocates one full-size tensor, the input gradient: the expanded
    output gradient is not made dense first."""
    x, slope, _ = _inputs((4, 6, 5, 56), axes, torch.float32)
    x = _finite(x).requires_grad_()
    slope = slope.requires_grad_()
    y = kernels.parametric_ramp(x, slope, axes)
    sizes = []
    for name in ("empty_like", "empty", "zeros_like", "ones_like", "full_like"):
        original = getattr(torch, name)
        monkeypatch.setattr(
            torch, name, lambda *a, original=original, **k: (t := original(*a, **k), sizes.append(t.numel()))[0]
        )
    y.sum().backward()
    assert sum(1 for n in sizes if n >= x.numel()) == 1, sizes
    assert x.grad is not None and slope.grad is not None


# --- inference at mid sizes: PyTorch's kernel where it is the faster one ---------------------------


@needs_numba
@pytest.mark.parametrize(
    ("shape", "axes", "torch_kernel"),
    [
        ((8, 64, 14, 14), (1,), True),  # level 1 of an image: one slope per channel
        ((8, 64, 14, 14), (3,), True),  # the last level
        ((8, 64, 14, 14), (), True),  # one slope for all
        ((1024, 256), (1,), True),
        ((8, 64, 14, 14), (1, 2), False),  # Span(1, 2): a slope of two dims, slow in PyTorch's kernel
        ((8, 64, 14, 14), (1, 3), False),
        ((64, 64, 28, 28), (1,), False),  # 12.25 MiB: above TORCH_FORWARD_BYTES, the fused forward
    ],
)
def test_inference_picks_pytorchs_kernel_where_it_is_faster(monkeypatch, shape, axes, torch_kernel):
    monkeypatch.setattr(kernels, "TORCH_FORWARD_BYTES", 8 << 20)  # half of a 16 MiB cache
    kernels.wait_ready(torch.float32)
    fused_calls = []
    real = kernels._forward
    monkeypatch.setattr(kernels, "_forward", lambda *args: fused_calls.append(args[1].shape) or real(*args))
    x = torch.randn(shape)
    slope = torch.rand([shape[a] for a in axes])
    with torch.no_grad():
        y = kernels.parametric_ramp(x, slope, axes)
    assert (not fused_calls) == torch_kernel
    expected = parametric_ramp_reference(x, slope, axes)
    assert torch.equal(y, expected)
    if torch_kernel:  # a gradient wanted: the fused step, whatever the size
        x.requires_grad_()
        torch_backwards = []
        real_backward = kernels._prelu_backward
        monkeypatch.setattr(kernels, "_prelu_backward", lambda *args: torch_backwards.append(1) or real_backward(*args))
        kernels.parametric_ramp(x, slope, axes).sum().backward()
        assert not torch_backwards


@needs_numba
@pytest.mark.parametrize(("levels", "axes", "torch_kernel"),
                         [(1, (1,), True), (3, (3,), True), ([], (), True), ([1, 2], (1, 2), False)])
def test_the_module_makes_the_same_choice_for_inference(monkeypatch, levels, axes, torch_kernel):
    from wlnet.layers.ramp import ParametricRamp

    kernels.wait_ready(torch.float32)
    fused_calls = []
    real = kernels._forward
    monkeypatch.setattr(kernels, "_forward", lambda *args: fused_calls.append(args[1].shape) or real(*args))
    x = torch.randn(8, 64, 14, 14)
    module = ParametricRamp(torch.rand([x.shape[a] for a in axes]), levels)
    with torch.no_grad():
        y = module(x)
    assert (not fused_calls) == torch_kernel
    assert torch.equal(y, parametric_ramp_reference(x, module.Slope.detach(), axes))
    # Converted in place to bfloat16, where PyTorch's kernel is slow for a slope along the innermost
    # axis (level 3 here): the fused forward there, as the dispatch chooses (the module plans again
    # for the slope's new dtype); PyTorch's kernel for a slope constant along it.
    assert kernels.wait_ready(torch.bfloat16)
    fused_calls.clear()
    with torch.no_grad():
        y = module.bfloat16()(x.bfloat16())
    innermost = 3 in axes
    assert fused_calls == ([] if torch_kernel and not innermost else [x.shape])
    with torch.no_grad():
        dispatched = kernels.parametric_ramp(x.bfloat16(), module.Slope.detach(), axes)
    assert torch.equal(dispatched, y) and fused_calls == ([] if torch_kernel and not innermost else [x.shape] * 2)
    assert torch.equal(y, parametric_ramp_reference(x.bfloat16(), module.Slope.detach(), axes))


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "axes"), [((4, 6, 56, 16), (2,)), ((3, 5, 40, 30), (1,)), ((2, 3, 600), (1,)),
                                             ((64, 8, 9, 10), (1, 3)), ((8, 3, 2049), (1, 2))])
def test_a_one_value_gradient_is_read_as_one_value(fused, monkeypatch, shape, axes, dtype):
    """``y.sum().backward()`` and a scaled sum reach the kernels as one value with stride 0 (no
    full-size copy of the gradient), with the reference's gradients, bfloat16 included."""
    assert kernels.wait_ready(dtype)
    seen = []
    real = cpu._scalar_storage
    monkeypatch.setattr(cpu, "_scalar_storage", lambda g, n: seen.append(n) or real(g, n))
    x, slope, _ = _inputs(shape, axes, dtype)
    x = _finite(x)
    for way in (lambda y: y.sum().backward(), lambda y: y.backward(torch.tensor(-0.75, dtype=dtype).expand(shape))):
        seen.clear()
        gx, gs = _grads(kernels.parametric_ramp, x, slope, axes, way)
        gx_ref, gs_ref = _grads(parametric_ramp_reference, x, slope, axes, way)
        assert seen == [x.numel()]
        assert _same(gx, gx_ref)
        tolerance = {"rtol": 2e-2, "atol": 2e-2} if dtype == torch.bfloat16 else _slope_grad_tolerance(dtype)
        torch.testing.assert_close(gs, gs_ref, **tolerance)


@pytest.mark.parametrize(("slope_dims", "shape"), [
    ((3,), (2, 4, 5)), ((3,), (2, 1, 5)), ((3,), (40, 4, 1000)),  # small, small, mid-size
    ((1,), (2, 4, 5)), ((1,), (40, 4, 1000)),
])
@pytest.mark.parametrize("grad", [False, True])
def test_the_module_names_a_channel_mismatch_on_every_path(slope_dims, shape, grad):
    # Small inputs and mid-size inference go to torch.prelu, which checks a slope of two or more
    # channels itself (and would broadcast a single one); every path reports the layer's error.
    from wlnet.errors import NetShapeError
    from wlnet.layers.ramp import ParametricRamp

    module = ParametricRamp(torch.full(slope_dims, 0.25), 1)
    expected = rf"has dims \({shape[1]},\) at levels 1, but the slope has dims \({slope_dims[0]},\)"
    with pytest.raises(NetShapeError, match=expected):
        module(torch.randn(shape, requires_grad=grad))
    assert module(torch.randn(2, slope_dims[0], 5)).shape == (2, slope_dims[0], 5)  # and goes on working
