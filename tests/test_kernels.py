"""The fused kernels of ``wlnet.kernels`` against the reference formulation.

Values and input gradients must equal ``parametric_ramp_reference`` bit for bit (both compute the
same select and the same product); slope gradients are sums in another order, so they are compared
with a tolerance, and must be bit-identical from run to run and across thread counts. No timings.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import wlnet.kernels as kernels
from wlnet.functional import parametric_ramp, parametric_ramp_reference
from wlnet.kernels import cpu, settings
from wlnet.kernels.layout import CHUNK_ROWS, TABLE_BUDGET_DIVISOR, is_dense, plan_for

needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

SPECIAL = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -1.0, 0.0]

# (input shape, slope axes): ranks 1-5; level 1, last level, middle levels, spans, lists, [].
CASES = [
    ((7,), ()),
    ((5, 9), ()),
    ((5, 9), (1,)),
    ((4, 6, 5), (1,)),
    ((4, 6, 5), (2,)),
    ((4, 6, 5), (1, 2)),
    ((3, 4, 5, 6), (1,)),
    ((3, 4, 5, 6), (2,)),
    ((3, 4, 5, 6), (3,)),
    ((3, 4, 5, 6), (1, 2)),
    ((3, 4, 5, 6), (1, 3)),
    ((3, 4, 5, 6), (2, 3)),
    ((3, 4, 5, 6), (1, 2, 3)),
    ((3, 4, 5, 6), ()),
    ((2, 3, 4, 5, 6), (1,)),
    ((2, 3, 4, 5, 6), (4,)),
    ((2, 3, 4, 5, 6), (2, 3)),
    ((2, 3, 4, 5, 6), (1, 3)),
    ((2, 3, 4, 5, 6), (1, 4)),
    ((2, 3, 4, 5, 6), (1, 2, 3, 4)),
    # Long enough for scalar rows, and for expanded tables that split an axis.
    ((2, 3, 600), (1,)),
    ((3, 5, 40, 30), (1,)),
    ((64, 8, 9, 10), (2,)),
    ((64, 8, 9, 10), (1, 3)),
    ((32, 6, 7, 50), (3,)),
    ((8, 3, 2049), (1, 2)),
    ((4, 3, 640, 5), (1, 3)),
    # Scalar rows of whole lines, short (in tiles of rows) and long (one row at a time).
    ((4, 6, 56, 16), (2,)),
    ((4, 5, 24, 64), (2,)),
    ((2, 3, 8, 1024), (1, 2)),
]


def _inputs(shape, axes, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    flat = x.view(-1)
    picks = torch.randperm(flat.numel(), generator=generator)[: min(flat.numel(), 3 * len(SPECIAL))]
    for i, position in enumerate(picks.tolist()):
        flat[position] = SPECIAL[i % len(SPECIAL)]
    slope = torch.rand([shape[a] for a in axes], generator=generator, dtype=torch.float64) - 0.25
    grad = torch.randn(shape, generator=generator, dtype=torch.float64)
    return x.to(dtype), slope.to(dtype), grad.to(dtype)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equal up to the sign and payload of NaNs (and the sign of zero)."""
    return a.dtype == b.dtype and a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def _run(function, x, slope, axes, grad, x_grad=True, slope_grad=True):
    x = x.clone().requires_grad_(x_grad)
    slope = slope.clone().requires_grad_(slope_grad)
    y = function(x, slope, axes)
    y.backward(grad)
    return y, x.grad, slope.grad


def _slope_grad_tolerance(dtype):
    return {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("shape", "axes"), CASES)
def test_matches_reference(fused, monkeypatch, shape, axes, dtype):
    calls = []
    backward = cpu.backward
    monkeypatch.setattr(cpu, "backward", lambda *a: calls.append(1) or backward(*a))
    x, slope, grad = _inputs(shape, axes, dtype)

    y, gx, gs = _run(kernels.parametric_ramp, x, slope, axes, grad)
    y_ref, gx_ref, gs_ref = _run(parametric_ramp_reference, x, slope, axes, grad)

    assert calls, "the fused backward did not run"
    assert _same(y, y_ref)
    assert _same(gx, gx_ref)
    torch.testing.assert_close(gs, gs_ref, equal_nan=True, **_slope_grad_tolerance(dtype))
    with torch.no_grad():
        assert _same(kernels.parametric_ramp(x, slope, axes), y_ref)


@needs_numba
@pytest.mark.parametrize(("shape", "axes"), CASES[::3])
def test_bfloat16(fused, shape, axes):
    x, slope, grad = _inputs(shape, axes, torch.bfloat16)
    y, gx, gs = _run(kernels.parametric_ramp, x, slope, axes, grad)
    y_ref, gx_ref, _ = _run(parametric_ramp_reference, x, slope, axes, grad)
    assert _same(y, y_ref)
    assert _same(gx, gx_ref)
    # The reference sums in bfloat16, ours in float32: compare both with the float64 sum.
    _, _, gs64 = _run(parametric_ramp_reference, x.double(), slope.double(), axes, grad.double())
    torch.testing.assert_close(gs.double(), gs64, rtol=1e-2, atol=1e-2, equal_nan=True)
    with torch.no_grad():
        assert _same(kernels.parametric_ramp(x, slope, axes), y_ref)


# Runs that end inside a line (W = 56, 17, 129 elements), channels-last, the array's last partial
# line, and tables with padding reads at both ends.
LINE_CASES = CASES[20:] + [
    ((3, 5, 7, 56), (1, 2)),
    ((3, 5, 7, 56), (2,)),
    ((3, 5, 7, 56), (3,)),
    ((2, 9, 40, 17), (1, 3)),
    ((1, 130, 129), ()),
    ((5, 1000), (1,)),
]


@needs_numba
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "axes"), LINE_CASES)
def test_line_forward(monkeypatch, shape, axes, dtype, streaming):
    """The line forward (explicit SIMD, plain or non-temporal stores) equals the reference bit
    for bit, wherever runs start and end within the lines."""
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", 1 if streaming else 1 << 62)
    monkeypatch.setattr(cpu, "torch_forward_is_fast", lambda plan, dtype: False)
    cpu._ensure_compiled(dtype)  # its warm-up calls are not the ones counted below
    calls = []
    lines = cpu._forward_lines
    monkeypatch.setattr(cpu, "_forward_lines", lambda *a: calls.append(a[-1]) or lines(*a))
    x, slope, _ = _inputs(shape, axes, dtype)
    x.view(-1)[-len(SPECIAL) :] = torch.tensor(SPECIAL, dtype=dtype)  # the scalar tail too
    permuted = x.transpose(0, -1).contiguous().transpose(0, -1)  # same shape, memory reordered
    for data in (x, permuted):
        y = cpu.forward(data, slope, axes)
        assert _same(y, parametric_ramp_reference(data, slope, axes))
        assert y.stride() == data.stride()
    assert calls and all(flag == streaming for flag in calls)


@needs_numba
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "axes"), LINE_CASES)
def test_line_backward(fused, monkeypatch, shape, axes, dtype, streaming):
    """The explicit-vector backward (rows that start and end anywhere within lines, plain or
    non-temporal stores): input gradients bit for bit, slope gradients to rounding."""
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", 1 if streaming else 1 << 62)
    cpu._ensure_compiled(dtype)  # its warm-up calls are not the ones counted below
    calls = []
    for name in ("_backward_scalar_lines", "_backward_scalar_crossing", "_backward_table_lines"):
        kernel = getattr(cpu, name)
        monkeypatch.setattr(cpu, name, lambda *a, kernel=kernel: calls.append(a[-1]) or kernel(*a))
    x, slope, grad = _inputs(shape, axes, dtype)
    lanes = 64 // x.element_size()
    permuted = x.transpose(0, -1).contiguous().transpose(0, -1)  # same shape, memory reordered
    for data in (x, permuted):
        calls.clear()
        g = grad.transpose(0, -1).contiguous().transpose(0, -1) if data is permuted else grad
        _, gx, gs = _run(kernels.parametric_ramp, data, slope, axes, g)
        _, gx_ref, _ = _run(parametric_ramp_reference, data, slope, axes, g)
        _, _, gs64 = _run(parametric_ramp_reference, data.double(), slope.double(), axes, g.double())
        assert _same(gx, gx_ref)
        tolerance = {"rtol": 1e-2, "atol": 1e-2} if dtype == torch.bfloat16 else _slope_grad_tolerance(dtype)
        torch.testing.assert_close(gs.double(), gs64, equal_nan=True, **tolerance)
        plan = plan_for(data.shape, data.stride(), axes, line=lanes)
        if not plan.contiguous or plan.inner % lanes == 0:
            # Non-temporal stores when every line is written whole: runs of whole lines, or
            # one-block scalar rows at least a line long, whose lines cross from row to row.
            crossing = not plan.contiguous and plan.inner >= lanes and plan.inner <= cpu._block(plan)
            assert calls == [streaming and (plan.inner % lanes == 0 or crossing)]


@needs_numba
def test_outputs_not_on_a_line_use_the_row_kernels(monkeypatch):
    """An output (or input gradient) that does not start on a 64-byte line goes through the row
    kernels instead of the line kernels."""
    def misaligned(x):
        y = torch.empty(x.numel() + 1, dtype=x.dtype)[1:].view(x.shape)
        return y, "reused"

    for dtype in (torch.float32, torch.bfloat16):
        cpu._ensure_compiled(dtype)  # its warm-up calls every kernel
    monkeypatch.setattr(cpu, "_new_output", misaligned)
    monkeypatch.setattr(cpu, "torch_forward_is_fast", lambda plan, dtype: False)
    for name in ("_forward_lines", "_backward_scalar_lines", "_backward_scalar_crossing", "_backward_table_lines"):
        monkeypatch.setattr(cpu, name, None)  # calling one would fail
    for dtype in (torch.float32, torch.bfloat16):
        for axes in [(1,), (3,), (1, 2)]:
            x, slope, grad = _inputs((3, 5, 7, 56), axes, dtype)
            y = cpu.forward(x, slope, axes)
            assert y.data_ptr() % 64 != 0
            assert _same(y, parametric_ramp_reference(x, slope, axes))
            gx, gs = cpu.backward(x, slope, grad, plan_for(x.shape, x.stride(), axes), True, True)
            _, gx_ref, _ = _run(parametric_ramp_reference, x, slope, axes, grad)
            _, _, gs64 = _run(parametric_ramp_reference, x.double(), slope.double(), axes, grad.double())
            assert gx.data_ptr() % 64 != 0 and _same(gx, gx_ref)
            torch.testing.assert_close(gs.double(), gs64, rtol=1e-2, atol=1e-2, equal_nan=True)


def test_size_thresholds_from_cache_size(tmp_path, monkeypatch):
    """The streaming threshold and the size up to which inference takes PyTorch's kernel come from
    the largest cache sysfs reports, else 32 MiB."""
    for name, size in [("index0", "48K"), ("index2", "1024K"), ("index3", "32768K"), ("index9", "big")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "size").write_text(size + "\n")
    assert settings.largest_cache(tmp_path) == 32 << 20
    (tmp_path / "index3" / "size").write_text("1M\n")
    assert settings.largest_cache(tmp_path) == 1 << 20
    assert settings.largest_cache(tmp_path / "missing") == 32 << 20
    half = settings.last_level_cache() // 2
    assert cpu._stream_min_bytes() == (int(os.environ.get("WLNET_STREAM_MIN_BYTES", 0)) or half)
    monkeypatch.setattr(kernels, "TORCH_FORWARD_BYTES", None)
    assert kernels.torch_forward_fits(torch.empty(half // 4))
    assert not kernels.torch_forward_fits(torch.empty(half // 4 + 1))
    assert kernels.TORCH_FORWARD_BYTES == half  # read once


@needs_numba
@pytest.mark.parametrize(("x_grad", "slope_grad"), [(True, False), (False, True)])
def test_one_gradient(fused, x_grad, slope_grad):
    x, slope, grad = _inputs((3, 4, 5, 6), (1, 3), torch.float64)
    _, gx, gs = _run(kernels.parametric_ramp, x, slope, (1, 3), grad, x_grad, slope_grad)
    _, gx_ref, gs_ref = _run(parametric_ramp_reference, x, slope, (1, 3), grad, x_grad, slope_grad)
    assert (gx is None) == (gx_ref is None) and (gs is None) == (gs_ref is None)
    if gx is not None:
        assert _same(gx, gx_ref)
    if gs is not None:
        torch.testing.assert_close(gs, gs_ref, equal_nan=True)


@needs_numba
def test_gradient_at_zero_and_inf(fused):
    x = torch.tensor([[0.0, -0.0, float("inf"), float("-inf"), 2.0, -2.0]], requires_grad=True)
    slope = torch.tensor(0.25, requires_grad=True)
    kernels.parametric_ramp(x, slope, ()).sum().backward()
    assert x.grad.tolist() == [[0.25, 0.25, 1.0, 0.25, 1.0, 0.25]]
    assert torch.isinf(slope.grad) and slope.grad < 0  # -inf + (-2): x = +inf adds exactly 0


@needs_numba
@pytest.mark.parametrize("axes", [(1,), (3,), (1, 2), ()])
def test_layouts(fused, axes):
    """Channels-last memory is walked in place; gaps are copied; odd gradients are handled."""
    x, slope, grad = _inputs((4, 6, 5, 7), axes, torch.float32)
    last = x.to(memory_format=torch.channels_last)
    gapped = torch.cat([x, x], dim=3)[..., ::2]
    assert plan_for(last.shape, last.stride(), axes) is not None
    assert not is_dense(gapped.shape, gapped.stride())
    for data in (last, gapped):
        y, gx, gs = _run(kernels.parametric_ramp, data, slope, axes, grad)
        y_ref, gx_ref, gs_ref = _run(parametric_ramp_reference, data, slope, axes, grad)
        assert _same(y, y_ref) and _same(gx, gx_ref)
        torch.testing.assert_close(gs, gs_ref, equal_nan=True, rtol=1e-4, atol=1e-4)
    y = kernels.parametric_ramp(last, slope, axes)
    assert y.stride() == last.stride()
    # The gradient of a sum arrives as an expanded (stride 0) tensor.
    finite = x.nan_to_num(0.0, 0.0, 0.0)
    xa, sa = finite.clone().requires_grad_(), slope.clone().requires_grad_()
    kernels.parametric_ramp(xa, sa, axes).sum().backward()
    xb, sb = finite.clone().requires_grad_(), slope.clone().requires_grad_()
    parametric_ramp_reference(xb, sb, axes).sum().backward()
    assert _same(xa.grad, xb.grad)
    torch.testing.assert_close(sa.grad, sb.grad, rtol=1e-4, atol=1e-4)


@needs_numba
@pytest.mark.parametrize(
    ("shape", "axes"),
    [((3, 4, 5), (1,)), ((3, 4, 5), (2,)), ((2, 3, 4, 5), (1, 3)), ((3, 4, 5), ()), ((2, 3, 4, 5), (1, 2))],
)
def test_gradcheck(fused, monkeypatch, shape, axes):
    calls = []
    backward = cpu.backward
    monkeypatch.setattr(cpu, "backward", lambda *a: calls.append(1) or backward(*a))
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 + 0.1
    x = x * torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0).double()
    slope = torch.rand([shape[a] for a in axes], generator=generator, dtype=torch.float64)
    x.requires_grad_()
    slope.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, s: parametric_ramp(a, s, axes), (x, slope))
    assert calls, "gradcheck did not go through the fused kernel"
    assert torch.autograd.gradgradcheck(lambda a, s: parametric_ramp(a, s, axes), (x, slope))


@needs_numba
@pytest.mark.parametrize("shape", [(16, 32, 48, 40), (4, 32, 8, 31)])
@pytest.mark.parametrize("axes", [(1,), (3,), (1, 3), ()])
def test_deterministic(shape, axes):
    """Bit-identical slope gradients, run after run and at any thread count, big or small."""
    x, slope, grad = _inputs(shape, axes, torch.float32, seed=3)
    x = x.nan_to_num(0.0, 0.0, 0.0)
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (threads, 1, threads, max(2, threads)):
            torch.set_num_threads(count)
            results.append(_run(kernels.parametric_ramp, x, slope, axes, grad)[2])
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert torch.equal(results[0], other)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize(("shape", "axes"), [case for case in CASES if math.prod(case[0]) < 1 << 15])
def test_small_inputs_match_reference(shape, axes, dtype):
    """Below MIN_FUSED_NUMEL, PyTorch's PReLU kernel runs, with the reference's gradients."""
    x, slope, grad = _inputs(shape, axes, dtype)
    assert x.numel() < kernels.MIN_FUSED_NUMEL and kernels.supports(x, slope, axes)
    y, gx, gs = _run(kernels.parametric_ramp, x, slope, axes, grad)
    y_ref, gx_ref, gs_ref = _run(parametric_ramp_reference, x, slope, axes, grad)
    assert _same(y, y_ref) and _same(gx, gx_ref)
    loose = {"rtol": 1e-2, "atol": 1e-2} if dtype == torch.float16 else _slope_grad_tolerance(dtype)
    torch.testing.assert_close(gs, gs_ref, equal_nan=True, **loose)


def _backward_path(monkeypatch, function, x, slope, axes) -> str:
    """Which backward a call's gradient runs: "fused" or "PyTorch's" (its PReLU backward kernel)."""
    torch_backwards = []
    real = kernels._prelu_backward
    monkeypatch.setattr(kernels, "_prelu_backward", lambda *args: torch_backwards.append(1) or real(*args))
    function(x, slope, axes).sum().backward()
    monkeypatch.setattr(kernels, "_prelu_backward", real)
    return "PyTorch's" if torch_backwards else "fused"


@needs_numba
def test_paths_by_size(monkeypatch):
    """Big inputs take the fused kernels, small ones PyTorch's PReLU kernel; same values."""
    for shape, fused_path in [((3, 7), False), ((4, 40, 500), True)]:
        x, slope, _ = _inputs(shape, (1,), torch.float32)
        assert (x.numel() >= kernels.MIN_FUSED_NUMEL) == fused_path
        with torch.no_grad():
            assert kernels.supports(x, slope, (1,))
            assert _same(kernels.parametric_ramp(x, slope, (1,)), parametric_ramp_reference(x, slope, (1,)))
        x.requires_grad_()
        assert kernels.supports(x, slope, (1,))
        assert _backward_path(monkeypatch, kernels.parametric_ramp, x, slope, (1,)) == (
            "fused" if fused_path else "PyTorch's"
        )
    half = torch.randn(4, 40, 500, dtype=torch.float16, requires_grad=True)
    assert _backward_path(monkeypatch, kernels.parametric_ramp, half, torch.ones(40, dtype=torch.float16), (1,)) == (
        "PyTorch's"
    )
    assert not kernels.supports(torch.ones(5, dtype=torch.int64), torch.ones((), dtype=torch.int64), ())
    assert not kernels.supports(torch.ones(0, 3), torch.ones(3), (1,))


def test_plans_are_small_and_fixed():
    """Tables and partial sums stay a small fraction of the input: no full-size temporaries."""
    shapes = [
        ((64, 64, 56, 56), (1,), False),
        ((64, 64, 56, 56), (3,), True),
        ((64, 64, 56, 56), (2,), False),
        ((64, 64, 56, 56), (1, 2), False),
        ((64, 64, 56, 56), (1, 3), True),
        ((64, 64, 56, 56), (), False),
        ((4096, 4096), (1,), True),
    ]
    for shape, axes, contiguous in shapes:
        plan = plan_for(shape, torch.empty(0).new_empty(shape).stride(), axes)
        numel = torch.Size(shape).numel()
        assert plan.contiguous is contiguous
        assert plan.rows * plan.inner == numel
        assert plan.chunks % plan.groups == 0
        assert sorted(plan.order.tolist()) == list(range(plan.rows))
        table = plan.groups * plan.inner if plan.contiguous else plan.slope_numel
        assert table <= max(numel // TABLE_BUDGET_DIVISOR, plan.slope_numel)
        blocks = -(-plan.inner // cpu._block(plan))
        partial = plan.chunks * plan.inner if plan.contiguous else plan.rows * blocks
        assert partial <= numel // (CHUNK_ROWS // 2)
    assert plan_for((5,), (2,), ()) is None  # gaps in memory
    # Table rows read runs of rows in memory order when the runs are long enough...
    plan = plan_for((4, 3, 640, 5), (9600, 3200, 5, 1), (1, 3))
    assert plan.contiguous and plan.groups == 3 and plan.order.tolist() == list(range(plan.rows))
    # ... and otherwise sort the rows by group.
    plan = plan_for((64, 8, 9, 10), (720, 90, 10, 1), (1, 3))
    assert plan.contiguous and plan.groups == 8 and plan.order.tolist() != list(range(plan.rows))
    # The forward's plans make table rows a whole number of lines long where a factor allows it.
    strides = (200704, 3136, 56, 1)
    assert plan_for((64, 64, 56, 56), strides, (3,)).inner == 112
    assert plan_for((64, 64, 56, 56), strides, (3,), line=32).inner == 224
    assert plan_for((64, 64, 56, 56), strides, (1, 3), line=32).inner == 224
    assert plan_for((64, 64, 56, 56), strides, (2,), line=32).inner == 56  # scalar rows: not table rows
    assert plan_for((4, 3, 7, 5), (105, 35, 5, 1), (3,), line=32).inner % 32 != 0  # no factor fits


def test_missing_numba_falls_back(fused, monkeypatch, caplog):
    monkeypatch.setattr(kernels, "_backends", {})
    monkeypatch.setattr(kernels, "_told", set())
    monkeypatch.setattr(cpu, "MISSING", ImportError("No module named 'numba'"))
    x, slope, grad = _inputs((3, 4, 5), (1,), torch.float64)
    with caplog.at_level(logging.WARNING, logger="wlnet"):
        assert kernels.supports(x, slope, (1,))  # PyTorch's own PReLU kernel, not the reference
        assert kernels.supports(x, slope, (1,))
        y, gx, gs = _run(parametric_ramp, x, slope, (1,), grad)
        assert _backward_path(monkeypatch, parametric_ramp, x.detach().requires_grad_(), slope, (1,)) == "PyTorch's"
    messages = [r.getMessage() for r in caplog.records if r.name == "wlnet"]
    assert len(messages) == 1 and "pip install numba" in messages[0] and "as fast as torch.nn.PReLU" in messages[0]
    assert not kernels.available()["cpu"]
    y_ref, gx_ref, gs_ref = _run(parametric_ramp_reference, x, slope, (1,), grad)
    assert _same(y, y_ref) and _same(gx, gx_ref) and _same(gs, gs_ref)


def test_imports_without_numba_or_triton():
    """A fresh interpreter with neither JIT: everything imports, results come from the reference."""
    script = textwrap.dedent(
        """
        import logging, sys
        sys.modules["numba"] = None
        sys.modules["triton"] = None
        logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
        import torch
        import wlnet.kernels.cpu, wlnet.kernels.cuda
        from wlnet.functional import parametric_ramp
        x = torch.randn(300000, requires_grad=True)
        parametric_ramp(x, torch.tensor(0.5), ()).sum().backward()
        print("ok", wlnet.kernels.available())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ok {'cpu': False, 'cuda': False}" in done.stdout
    assert "wlnet the fused ParametricRampLayer kernel is unavailable on cpu" in done.stderr


@needs_numba
def test_kernels_stay_in_bounds(tmp_path):
    """Every kernel, compiled with Numba's bounds checks, over every plan kind and gradient choice.

    A kernel that wrote past a buffer (the slope-gradient placeholder when the slope needs no
    gradient did) corrupts the heap silently and crashes the interpreter later.
    """
    script = textwrap.dedent(
        """
        import torch
        from wlnet.kernels import cpu
        from wlnet.kernels.layout import plan_for
        cpu.STREAM_MIN_BYTES = 1
        cpu.torch_forward_is_fast = lambda plan, dtype: False
        for dtype in (torch.float32, torch.bfloat16):
            for shape, axes in %r:
                x = torch.randn(shape).to(dtype)
                slope = torch.rand([shape[a] for a in axes]).to(dtype)
                plan = plan_for(x.shape, x.stride(), axes)
                cpu.forward(x, slope, axes)
                for need_gx, need_gs in ((True, True), (True, False), (False, True)):
                    cpu.backward(x, slope, torch.randn_like(x), plan, need_gx, need_gs)
        print("ok")
        """
        % [case for case in CASES + LINE_CASES if math.prod(case[0]) > 64]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "NUMBA_BOUNDSCHECK": "1"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path)  # bounds-checked code must not meet the normal cache
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok" in done.stdout


INTERPRETED = [
    ((6, 5, 7, 3), (1,)),
    ((6, 5, 7, 3), (3,)),
    ((6, 5, 7, 3), (1, 3)),
    ((4, 3000), ()),
    ((64, 8, 9, 10), (2,)),
    ((4, 3, 20, 56), (1, 2)),  # runs of 56: 16 x 64 tiles, a partial last tile of rows
    ((3, 4, 5, 56), (3,)),
]


def _check_triton_interpreted() -> None:
    """The Triton kernels on CPU tensors; run where TRITON_INTERPRET=1 was set before importing
    Triton (its own library functions are compiled for the interpreter only then)."""
    from wlnet.kernels import cuda

    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        for shape, axes in INTERPRETED:
            x, slope, grad = _inputs(shape, axes, dtype)
            plan = plan_for(x.shape, x.stride(), axes)
            y = cuda.forward(x, slope, axes)
            gx, gs = cuda.backward(x, slope, grad, plan, True, True)
            y_ref, gx_ref, _ = _run(parametric_ramp_reference, x, slope, axes, grad)
            _, _, gs64 = _run(parametric_ramp_reference, x.double(), slope.double(), axes, grad.double())
            if dtype == torch.bfloat16:
                # The interpreter truncates float32 to bfloat16 where a GPU rounds to nearest even.
                torch.testing.assert_close(y, y_ref, rtol=1e-2, atol=0, equal_nan=True)
                torch.testing.assert_close(gx, gx_ref, rtol=1e-2, atol=0, equal_nan=True)
            else:
                assert _same(y, y_ref) and _same(gx, gx_ref), (shape, axes, dtype)
            loose = dtype in (torch.float16, torch.bfloat16)
            tolerance = {"rtol": 1e-2, "atol": 1e-2} if loose else _slope_grad_tolerance(dtype)
            torch.testing.assert_close(gs.double(), gs64, equal_nan=True, **tolerance)
    print("interpreted ok")


def test_triton_kernels_in_interpreter():
    pytest.importorskip("triton")
    script = (
        "import os, runpy; os.environ['TRITON_INTERPRET'] = '1'; "
        f"runpy.run_path({__file__!r})['_check_triton_interpreted']()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "interpreted ok" in done.stdout


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "axes"), CASES[::2])
def test_cuda_matches_reference(fused, shape, axes, dtype):
    if not kernels.available()["cuda"]:
        pytest.skip("triton unavailable")
    x, slope, grad = (t.cuda() for t in _inputs(shape, axes, dtype))
    y, gx, gs = _run(kernels.parametric_ramp, x, slope, axes, grad)
    y_ref, gx_ref, _ = _run(parametric_ramp_reference, x, slope, axes, grad)
    _, _, gs64 = _run(parametric_ramp_reference, x.double(), slope.double(), axes, grad.double())
    assert _same(y, y_ref) and _same(gx, gx_ref)
    tolerance = {"rtol": 1e-2, "atol": 1e-2} if dtype == torch.bfloat16 else _slope_grad_tolerance(dtype)
    torch.testing.assert_close(gs.double(), gs64, equal_nan=True, **tolerance)
    again = _run(kernels.parametric_ramp, x, slope, axes, grad)[2]
    assert torch.equal(gs, again)


@needs_numba
def test_nettrain_goes_through_the_kernels(monkeypatch):
    """NetTrain (the page's example and a 3-layer MLP) evaluates the ramp through wlnet.kernels, or,
    for inputs below MIN_FUSED_NUMEL, through PyTorch's PReLU kernel directly from the module."""
    wl = pytest.importorskip("wlnet")
    calls = []
    fast, prelu = kernels.parametric_ramp, torch._prelu_kernel
    monkeypatch.setattr(kernels, "parametric_ramp", lambda *a: calls.append(a[0].shape) or fast(*a))
    monkeypatch.setattr(torch, "_prelu_kernel", lambda *a: calls.append(a[0].shape) or prelu(*a))
    generator = torch.Generator().manual_seed(0)
    data = (torch.rand(10, 3, generator=generator) * 2 - 1).numpy(), (torch.rand(10, 3) * 2 - 1).numpy()
    act = wl.NetInitialize(wl.ParametricRampLayer(Input=3))
    wl.NetTrain(act, data, MaxTrainingRounds=2, RandomSeeding=1)
    assert calls, "NetTrain of the page's example did not reach wlnet.kernels"
    calls.clear()
    mlp = wl.NetChain(
        [
            wl.LinearLayer(128),
            wl.ParametricRampLayer(),
            wl.LinearLayer(128),
            wl.ParametricRampLayer(),
            wl.LinearLayer(8),
        ],
        Input=32,
    )
    inputs, targets = torch.rand(256, 32, generator=generator).numpy(), torch.rand(256, 8, generator=generator).numpy()
    wl.NetTrain(mlp, (inputs, targets), MaxTrainingRounds=1, BatchSize=64, RandomSeeding=1)
    assert len(calls) >= 2 * 4 and all(tuple(shape) == (64, 128) for shape in calls)


def _zeros_under_infinite_grad(shape, axes, dtype):
    """An input with many zeros (both signs) whose upstream gradient is +-inf exactly there, and
    the slope gradient as select semantics give it, summed in float64."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    grad = torch.randn(shape, generator=generator, dtype=torch.float64)
    zero = torch.rand(shape, generator=generator) < 0.25
    coin = torch.rand(shape, generator=generator) < 0.5
    x[zero] = torch.where(coin, 0.0, -0.0).double()[zero]
    grad[zero] = torch.where(coin, math.inf, -math.inf).double()[zero]
    x, grad = x.to(dtype), grad.to(dtype)
    x64, g64 = x.double(), grad.double()
    per_element = torch.where(x64 < 0, x64 * torch.where(x64 < 0, g64, 0.0), 0.0)
    others = tuple(d for d in range(len(shape)) if d not in axes)
    expected = per_element.sum(dim=others) if others else per_element
    return x, grad, expected


@needs_numba
@pytest.mark.parametrize("row_kernels", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("shape", "axes"), LINE_CASES + [CASES[i] for i in (1, 8, 12, 13, 16, 19)])
def test_slope_gradient_at_zero_under_infinite_grad(fused, monkeypatch, shape, axes, dtype, row_kernels):
    """d/dslope at x = 0 is selected to 0, never 0 * inf = NaN: every kernel path (scalar rows,
    table rows, whole lines, crossing lines, the row kernels for misaligned gradients), with and
    without the input gradient, equals the float64 select-semantics sum."""
    if row_kernels:
        def misaligned(x):
            return torch.empty(x.numel() + 1, dtype=x.dtype)[1:].view(x.shape), "reused"

        monkeypatch.setattr(cpu, "_new_output", misaligned)
    x, grad, expected = _zeros_under_infinite_grad(shape, axes, dtype)
    slope = (torch.rand([shape[a] for a in axes], dtype=torch.float64) - 0.25).to(dtype)
    tolerance = {"rtol": 1e-2, "atol": 1e-2} if dtype == torch.bfloat16 else _slope_grad_tolerance(dtype)
    for x_grad in (True, False):
        for function in (kernels.parametric_ramp, parametric_ramp_reference):
            _, _, gs = _run(function, x, slope, axes, grad, x_grad=x_grad)
            assert torch.isfinite(gs).all(), (function, x_grad)
            if dtype != torch.bfloat16 or function is kernels.parametric_ramp:  # the reference sums in bfloat16
                torch.testing.assert_close(gs.double(), expected.reshape(slope.shape), **tolerance)


@needs_numba
def test_slope_gradient_at_zero_in_double_backward(fused):
    """The differentiable backward (create_graph=True) selects too."""
    x, grad, expected = _zeros_under_infinite_grad((4, 6, 50), (1,), torch.float64)
    slope = torch.rand(6, dtype=torch.float64, requires_grad=True)
    y = kernels.parametric_ramp(x.requires_grad_(), slope, (1,))
    (gs,) = torch.autograd.grad(y, slope, grad, create_graph=True)
    torch.testing.assert_close(gs, expected, rtol=1e-10, atol=1e-10)
