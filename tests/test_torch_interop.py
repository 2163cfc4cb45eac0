"""What PyTorch users do with a module, on every row of the contract table (``cases.CASES``).

For each row, ``module = case.net().to_torch()`` on a batch built as ``test_contract.py`` builds it
(the biggest group of equal-length sequences of a "Varying" row; every input port of a graph with
several, as positional arguments), and each operation's result is compared with the eager module's:
float32 values within rtol = atol = 1e-6, and, where the operation has a backward, the gradients of
a loss of the outputs with respect to the inputs and to every trainable parameter.

The operations: ``copy.deepcopy`` (before and after a call), pickling, ``torch.save``/``torch.load``
(the whole module, and its state dict with ``weights_only=True`` into a fresh module),
``torch.compile`` (default; ``fullgraph=True, dynamic=True``; two batch sizes, forward and backward),
``torch.export`` (strict and non-strict, a dynamic batch dim; the original module unchanged after),
``torch.func`` (``vmap`` over the batch, per-sample gradients by ``grad`` + ``vmap`` against a loop,
``jacrev`` against ``torch.autograd.functional.jacobian``), ``gradcheck`` and ``gradgradcheck`` in
float64, ``torch.jit.trace`` (and ``torch.jit.save``/``load``), CPU autocast to bfloat16, and
``DistributedDataParallel`` in a one-process gloo group.

Each row runs on the two paths a module's ParametricRamp takes in eager mode: "pytorch-kernel" (as
installed: the tiny inputs of the table run PyTorch's own PReLU kernel, straight from the module)
and "fused" (``wlnet.kernels``' thresholds at 0: every call goes through the operator
``torch.ops.wlnet.parametric_ramp`` and its fused kernels, so vmap, jacrev, autocast and double
backward use the operator's own rules). To keep the file fast on a 2-core CI machine (about 2 min
here, most of it gradgradcheck on the fused path, opcheck and inductor), the compile-heavy rows
(``torch.compile``, ``torch.export``) run on the fused path only (a compiled or exported module never
takes the eager shortcut), ``torch.compile`` only on a representative subset: every
ParametricRampLayer row, a chain and two graphs (:data:`COMPILED`).

Then the operators themselves: ``torch.library.opcheck`` of ``wlnet::parametric_ramp`` and
``wlnet::parametric_ramp_backward`` for every kind of level spec, dtype and memory layout, and a big
module compiled with ``fullgraph=True`` whose AOT forward and backward graphs (and inductor's code)
call the operators.

Bugs this file found in ``src/`` are strict xfails (:data:`KNOWN_BUGS`), removed with their fixes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import pickle

import pytest
import torch
import torch.distributed as dist
from torch.utils._pytree import tree_leaves

import wlnet.kernels as kernels
from cases import CASES
from test_contract import module_batches
from wlnet import operators
from wlnet.functions import Expression
from wlnet.kernels.layout import is_dense
from wlnet.layers.normalization import BatchNormalization
from wlnet.layers.ramp import ParametricRamp, RampModule
from wlnet.operators import view_shape

TOL = {"rtol": 1e-6, "atol": 1e-6}
BF16_TOL = {"rtol": 2e-2, "atol": 2e-2}  # a few bfloat16 roundings (8 bits of mantissa) apart

RAMP = torch.ops.wlnet.parametric_ramp.default
RAMP_BACKWARD = torch.ops.wlnet.parametric_ramp_backward.default

# The compile-heavy rows' subset: every ParametricRampLayer row, a chain, a graph of two outputs and
# one of two inputs, a chain with a BatchNormalizationLayer.
COMPILED = {c.id for c in CASES if c.id.startswith("ramp-")} | {"chain-mlp", "graph-branches", "graph-two-inputs",
                                                                "bn-chain"}


@functools.cache
def modules_of(case_id: str) -> tuple:
    """Every module inside a row's ``to_torch()`` module (built once per row)."""
    (case,) = [c for c in CASES if c.id == case_id]
    return tuple(case.net().to_torch().modules())


def holds_ramp(case) -> bool:
    return any(isinstance(m, RampModule) for m in modules_of(case.id))


def holds_expression(case) -> bool:
    return any(isinstance(getattr(m, "function", None), Expression) for m in modules_of(case.id))


# Bugs in src/ this file found: (test, path) -> [(which rows, reason, the exception it raises)], as strict
# xfails (remove them with the fix).
KNOWN_BUGS: dict = {}

PATHS = ["pytorch-kernel", "fused"]


def rows(test=None, *, where=lambda case: True, paths=PATHS):
    """The table's rows (those ``where`` accepts) times the kernel ``paths``, as parameters
    ``case, path`` of ``test``, a known bug (``case.known_bugs`` or :data:`KNOWN_BUGS`) as a strict xfail."""
    def param(case, path, name):
        marks = [pytest.mark.xfail(reason=reason, raises=error, strict=True)
                 for applies, reason, error in KNOWN_BUGS.get((name, path), []) if applies(case)]
        if case.known_bugs.get(name):
            marks.append(pytest.mark.xfail(reason=case.known_bugs[name], strict=True))
        return pytest.param(case, path, id=f"{case.id}-{path}", marks=marks)

    def parametrize(test):
        params = [param(c, p, test.__name__) for c in CASES if where(c) for p in paths]
        return pytest.mark.parametrize(("case", "path"), params, indirect=["path"])(test)

    return parametrize if test is None else parametrize(test)


@pytest.fixture
def path(request):
    """The row's kernel path (see the module's docstring); "fused" through conftest's ``fused``."""
    if request.param == "fused":
        request.getfixturevalue("fused")
    return request.param


# -- helpers ---------------------------------------------------------------------------------------


def setup(case, extra=3):
    """The row's module, its input batch (a list of float32 tensors, one per input port) and a second
    batch of ``extra`` more examples of the same dims."""
    net = case.net()
    groups = module_batches(net, case.example())
    _, inputs = max(groups, key=lambda group: len(group[1][0]))
    generator = torch.Generator().manual_seed(5)
    n = len(inputs[0]) + extra
    other = [torch.randn((n, *x.shape[1:]), generator=generator) for x in inputs]
    return net.to_torch(), inputs, other


def flat(result) -> list:
    """A module's result as a list of tensors (a dict's values in port order)."""
    return list(result.values()) if isinstance(result, dict) else [result]


def loss_of(outputs) -> torch.Tensor:
    """A loss with a different weight for every output element (so every gradient element differs)."""
    return sum((o * torch.linspace(-1.5, 2.0, o.numel(), dtype=o.dtype).reshape(o.shape)).sum() for o in outputs)


def outcome(function, inputs, parameters=None, *, grads=True, context=None) -> dict:
    """``function``'s outputs on ``inputs`` and, when ``grads``, the gradients of :func:`loss_of` them
    with respect to the inputs and to ``parameters``' (a module) trainable parameters, by name.
    ``context`` (a context manager factory) wraps the forward only."""
    parameters = function if parameters is None else parameters
    inputs = [x.detach().clone().requires_grad_(grads) for x in inputs]
    for p in parameters.parameters():
        p.grad = None
    with (context or contextlib.nullcontext)():
        outputs = flat(function(*inputs))
    result = {"outputs": [o.detach() for o in outputs]}
    if grads:
        loss_of(outputs).backward()
        result["input grads"] = [x.grad for x in inputs]
        result["parameter grads"] = {k: p.grad for k, p in parameters.named_parameters() if p.requires_grad}
    return result


def assert_same(got, want, **tolerance) -> None:
    """Two outcomes (or lists, dicts, tensors) equal within ``tolerance`` (default :data:`TOL`)."""
    tolerance = tolerance or TOL
    if isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            assert_same(got[key], want[key], **tolerance)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert_same(a, b, **tolerance)
    elif want is None:
        assert got is None
    else:
        assert got is not None
        torch.testing.assert_close(got, want, **tolerance)


def has_ramp(module) -> bool:
    return any(isinstance(m, RampModule) for m in module.modules())


def perturbed(module):
    """``module`` with every parameter changed in place (so a fresh module differs from it)."""
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(1.5).add_(0.25)
    return module


def off_kinks(x: torch.Tensor) -> torch.Tensor:
    """``x`` moved away from 0 (the ramp's kink), for finite differences."""
    return torch.where(x == 0, 0.1, x + 0.1 * torch.sign(x))


# -- copies, pickles, saves ------------------------------------------------------------------------


@rows
def test_deepcopy_before_and_after_a_call(case, path):
    module, inputs, other = setup(case)
    before = copy.deepcopy(module)
    want = outcome(module, inputs)
    after = copy.deepcopy(module)
    for copied in (before, after):
        assert_same(outcome(copied, inputs), want)
        assert_same(outcome(copied, other), outcome(module, other))
        for (name, a), (_, b) in zip(copied.named_parameters(), module.named_parameters()):
            assert a is not b and a.data_ptr() != b.data_ptr() and a.requires_grad == b.requires_grad, name
    # A copy's parameters are its own: changing them leaves the original alone.
    perturbed(after)
    assert_same(outcome(module, inputs), want)


@rows
def test_pickle_round_trip(case, path):
    module, inputs, _ = setup(case)
    want = outcome(module, inputs)  # after a call, with whatever the module planned
    back = pickle.loads(pickle.dumps(module))
    assert type(back) is type(module)
    assert_same(outcome(back, inputs), want)


@rows
def test_torch_save_and_load(case, path):
    module, inputs, _ = setup(case)
    perturbed(module)
    want = outcome(module, inputs)
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    assert_same(outcome(torch.load(buffer, weights_only=False), inputs), want)

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = case.net().to_torch()
    if list(module.parameters()):
        assert not all(torch.equal(a, b) for a, b in zip(fresh.parameters(), module.parameters()))
    fresh.load_state_dict(state)
    assert [(k, p.requires_grad) for k, p in fresh.named_parameters()] == [
        (k, p.requires_grad) for k, p in module.named_parameters()]
    assert_same(outcome(fresh, inputs), want)


# -- torch.func ------------------------------------------------------------------------------------


@rows
def test_vmap_over_the_batch(case, path):
    module, inputs, _ = setup(case)
    with torch.no_grad():
        want = flat(module(*inputs))

    def one(*examples):
        return [o.squeeze(0) for o in flat(module(*(x.unsqueeze(0) for x in examples)))]

    assert_same(torch.func.vmap(one)(*inputs), want)


@rows
def test_per_sample_gradients_by_grad_and_vmap(case, path):
    module, inputs, _ = setup(case)
    trainable = {k: p.detach() for k, p in module.named_parameters() if p.requires_grad}

    def loss(parameters, *examples):
        result = torch.func.functional_call(module, parameters, tuple(x.unsqueeze(0) for x in examples))
        return loss_of(flat(result))

    argnums = tuple(range(1 + len(inputs)))
    per_sample = torch.func.vmap(torch.func.grad(loss, argnums=argnums), in_dims=(None, *[0] * len(inputs)))
    got = per_sample(trainable, *inputs)
    for i in range(len(inputs[0])):
        want = outcome(module, [x[i:i + 1] for x in inputs])
        assert_same({k: g[i] for k, g in got[0].items()}, want["parameter grads"])
        assert_same([g[i] for g in got[1:]], [g[0] for g in want["input grads"]])


@rows
def test_jacrev_equals_autograd_jacobian(case, path):
    module, inputs, _ = setup(case)
    tiny = tuple(x[:2] for x in inputs)

    def f(*xs):
        return tuple(flat(module(*xs)))

    got = torch.func.jacrev(f, argnums=tuple(range(len(tiny))))(*tiny)
    want = torch.autograd.functional.jacobian(f, tiny)
    assert_same(tree_leaves(got), tree_leaves(want))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # (torch's forward AD)
@rows
def test_jacfwd_equals_jacrev(case, path):
    """Forward mode (torch.func.jvp inside jacfwd) gives the reverse-mode Jacobian."""
    module, inputs, _ = setup(case)
    tiny = tuple(x[:2] for x in inputs)

    def f(*xs):
        return tuple(flat(module(*xs)))

    argnums = tuple(range(len(tiny)))
    assert_same(tree_leaves(torch.func.jacfwd(f, argnums=argnums)(*tiny)),
                tree_leaves(torch.func.jacrev(f, argnums=argnums)(*tiny)))


# -- gradcheck, gradgradcheck ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # (torch's forward AD)
@rows
def test_gradcheck_and_gradgradcheck_float64(case, path):
    if path == "fused":
        kernels.wait_ready(torch.float64)
    module, inputs, _ = setup(case)
    module = module.double()
    inputs = [off_kinks(x[:2].double()).requires_grad_() for x in inputs]
    state = {k: p.detach().clone().requires_grad_() for k, p in module.named_parameters() if p.requires_grad}
    keys = list(state)

    def f(*args):
        arrays = dict(zip(keys, args[len(inputs):]))
        return tuple(flat(torch.func.functional_call(module, arrays, tuple(args[:len(inputs)]))))

    args = (*inputs, *state.values())
    assert torch.autograd.gradcheck(f, args, check_forward_ad=True)
    assert torch.autograd.gradgradcheck(f, args)


# -- torch.jit.trace -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit._trace")  # deprecated, still used
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit._serialization")
@rows
def test_jit_trace_and_save_load(case, path):
    module, inputs, _ = setup(case)
    generator = torch.Generator().manual_seed(9)
    second = [torch.randn(x.shape, generator=generator) for x in inputs]  # same shape, other values
    traced = torch.jit.trace(module, tuple(inputs), strict=False)  # strict=False: a dict of outputs
    want = outcome(module, second)
    assert_same(outcome(traced, second), want)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert_same(outcome(loaded, second), want)


# -- autocast --------------------------------------------------------------------------------------
WIDENED_BY_A_SUM = {"graph-residual"}  # rows whose output adds a float32 input to a lowered branch


@rows
def test_cpu_autocast_bfloat16(case, path):
    if path == "fused":
        kernels.wait_ready(torch.bfloat16)
    module, inputs, _ = setup(case)
    got = outcome(module, inputs, context=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    reference = case.net().to_torch().to(torch.bfloat16)  # (a fresh module: the same arrays)
    want = outcome(reference, [x.to(torch.bfloat16) for x in inputs])
    # Every layer with arrays is on CPU autocast's lower-precision list (LinearLayer: linear;
    # ParametricRampLayer: prelu), and every output of a module that has one depends on one; the
    # others (ElementwiseLayer, FlattenLayer; BatchNormalizationLayer, as nn.BatchNorm2d: batch_norm is
    # on neither list) keep their input's type, as their torch ops do. A residual sum (TotalLayer) adds as
    # torch's + does, in the wider type: the block's float32 input plus its bfloat16 branch is float32.
    lowered = [p for m in module.modules() if not isinstance(m, BatchNormalization) for p in m.parameters(False)]
    dtype = torch.bfloat16 if lowered and case.id not in WIDENED_BY_A_SUM else torch.float32
    assert [o.dtype for o in got["outputs"]] == [dtype] * len(want["outputs"])
    assert_same([o.float() for o in got["outputs"]], [o.float() for o in want["outputs"]], **BF16_TOL)
    # The backward (outside autocast): float32 gradients of float32 leaves, near the bfloat16 module's.
    for grads in (got["input grads"], list(got["parameter grads"].values())):
        assert all(g.dtype == torch.float32 and g.isfinite().all() for g in grads)
    assert_same([g.float() for g in got["input grads"]], [g.float() for g in want["input grads"]], **BF16_TOL)
    assert_same({k: g.float() for k, g in got["parameter grads"].items()},
                {k: g.float() for k, g in want["parameter grads"].items()}, **BF16_TOL)


# -- DistributedDataParallel -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def process_group(tmp_path_factory):
    """A one-process gloo group, destroyed after this file's DDP rows."""
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    store = dist.FileStore(str(tmp_path_factory.mktemp("ddp") / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@rows
def test_distributed_data_parallel(case, path, process_group):
    module, inputs, _ = setup(case)
    if not any(p.requires_grad for p in module.parameters()):
        pytest.skip("DistributedDataParallel refuses a module without trainable parameters")
    want = outcome(module, inputs)
    ddp = torch.nn.parallel.DistributedDataParallel(case.net().to_torch())  # (a fresh module: the same arrays)
    assert_same(outcome(ddp, inputs, ddp.module), want)


# -- torch.compile, torch.export -------------------------------------------------------------------


# Inductor imports a module that warns of torch.jit's deprecation; not ours to fix.
INDUCTOR_WARNING = "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
# Dynamo's own handling of an autograd.Function warns inside torch; not ours to fix either.
AUTOGRAD_FUNCTION_WARNING = "ignore:.*should not be instantiated:DeprecationWarning"


@pytest.mark.filterwarnings(INDUCTOR_WARNING, AUTOGRAD_FUNCTION_WARNING)
@rows(where=lambda case: case.id in COMPILED, paths=["fused"])
@pytest.mark.parametrize("options", [{}, {"fullgraph": True, "dynamic": True}], ids=["default", "fullgraph-dynamic"])
def test_torch_compile(case, path, options, monkeypatch):
    from torch._dynamo.testing import CompileCounterWithBackend

    # Without duck shaping, a batch size equal to another dim (2 examples of dims (2, 3, 4)) gets a
    # symbol of its own, which the slope's dims at the levels do not specialize.
    monkeypatch.setattr(torch.fx.experimental._config, "use_duck_shape", False)
    torch._dynamo.reset()
    module, inputs, other = setup(case)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(module, backend=counter, **options)
    for batch in (inputs, other):  # two batch sizes
        want = outcome(module, batch)
        got = outcome(compiled, batch, module)
        # A slope gradient is a sum over the batch, which inductor adds in its own order.
        assert_same(got.pop("parameter grads"), want.pop("parameter grads"), rtol=1e-5, atol=1e-5)
        assert_same(got, want)
    # One graph (no graph break), made again for the second batch size unless dynamic from the start.
    assert counter.frame_count == (1 if options.get("dynamic") else 2)


@rows(paths=["fused"])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "non-strict"])
def test_torch_export(case, path, strict):
    module, inputs, other = setup(case)
    want = outcome(module, inputs)
    with torch.no_grad():
        want_other = flat(module(*other))
    batch, shapes = torch.export.Dim("batch"), torch.export.ShapesCollection()
    for x in inputs:
        shapes[x] = {0: batch}  # (by tensor: Graph.forward takes *args)
    args = tuple(inputs)
    exported = torch.export.export(module, args, dynamic_shapes=shapes.dynamic_shapes(module, args), strict=strict)
    targets = {node.target for node in exported.graph.nodes}
    assert (RAMP in targets) == has_ramp(module)
    replay = exported.module()
    assert_same(outcome(replay, inputs, grads=False)["outputs"], want["outputs"])
    with torch.no_grad():
        assert_same(flat(replay(*other)), want_other)  # another batch size
    assert_same(outcome(module, inputs), want)  # the original is unchanged


# -- the operators themselves ----------------------------------------------------------------------

@pytest.mark.filterwarnings(INDUCTOR_WARNING, AUTOGRAD_FUNCTION_WARNING)
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit._trace")  # deprecated, still used
@pytest.mark.parametrize("path", PATHS, indirect=True)
def test_the_functional_form_compiles_whole_and_traces_quietly(path):
    """wlnet.functional.parametric_ramp, like the modules: one graph under torch.compile with gradients,
    and a trace without the tracer's warnings (filterwarnings makes them errors) that replays."""
    from wlnet.functional import parametric_ramp

    class Ramp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.slope = torch.nn.Parameter(torch.rand(3, generator=generator))

        def forward(self, x):
            return parametric_ramp(x, self.slope, (1,))

    torch._dynamo.reset()
    generator = torch.Generator().manual_seed(3)
    x, other = torch.randn(4, 3, 5, generator=generator), torch.randn(6, 3, 5, generator=generator)
    module = Ramp()
    want = outcome(module, [x])
    assert_same(outcome(torch.compile(module, fullgraph=True, backend="eager"), [x], module), want)
    traced = torch.jit.trace(module, (x,))
    assert_same(outcome(traced, [x], module), want)
    assert_same(outcome(traced, [other], module), outcome(module, [other]))

SHAPE = (3, 4, 6, 5)
LEVEL_AXES = [(), (1,), (3,), (1, 3), (1, 2), (2, 3)]
LAYOUTS = ["contiguous", "channels_last", "permuted", "sliced", "expanded"]


def laid_out(layout: str, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """A leaf tensor of :data:`SHAPE` that requires grad, in ``layout``: its memory as created."""
    n, c, h, w = SHAPE

    def randn(*shape):
        return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)

    x = {
        "contiguous": lambda: randn(n, c, h, w),
        "channels_last": lambda: randn(n, c, h, w).contiguous(memory_format=torch.channels_last),
        "permuted": lambda: randn(w, h, c, n).permute(3, 2, 1, 0),  # every stride reversed
        "sliced": lambda: randn(n, c, 2 * h, w)[:, :, ::2],
        "expanded": lambda: randn(1, c, h, w).expand(n, c, h, w),  # stride 0 on the batch axis
    }[layout]()
    assert x.shape == SHAPE
    return x.detach().requires_grad_()  # (detach keeps the strides)


# opcheck's AOT dispatch check traces and compiles (about 1 s a call here): it runs on the rows that
# differ from this one in one thing at most (a one-factor-at-a-time design); the others run the rest.
AOT_BASE = {"axes": (1, 3), "dtype": torch.float32, "layout": "contiguous"}
CHEAP_CHECKS = ("test_schema", "test_autograd_registration", "test_faketensor")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("axes", LEVEL_AXES, ids=str)
def test_opcheck(fused, monkeypatch, axes, dtype, layout):
    """torch.library.opcheck of both operators: the schema, the autograd registration, the fake kernel
    against the real one (shapes, strides, dtypes) and, on some rows, AOT dispatch with dynamic shapes."""
    kernels.wait_ready(dtype)
    calls = []
    if kernels.ready(dtype):  # count the fused kernels' runs
        backend = kernels._backends["cpu"]
        for name in ("forward", "backward"):
            run = getattr(backend, name)
            monkeypatch.setattr(backend, name, lambda *a, run=run, name=name: calls.append(name) or run(*a))
    row = {"axes": axes, "dtype": dtype, "layout": layout}
    aot = sum(row[k] != v for k, v in AOT_BASE.items()) <= 1
    checks = (*CHEAP_CHECKS, "test_aot_dispatch_dynamic") if aot else CHEAP_CHECKS
    generator = torch.Generator().manual_seed(len(axes) * 10 + sum(axes))
    x = laid_out(layout, dtype, generator)
    slope = (torch.rand([SHAPE[a] for a in axes], generator=generator, dtype=torch.float64) - 0.25).to(dtype)
    slope.requires_grad_()
    torch.library.opcheck(RAMP, (x, slope, list(axes)), test_utils=checks)
    grad = laid_out(layout, dtype, generator)
    for need_x, need_slope in [(True, True), (True, False), (False, True)]:
        args = (grad, x, slope, list(axes), need_x, need_slope)
        torch.library.opcheck(RAMP_BACKWARD, args, test_utils=checks if need_x and need_slope else CHEAP_CHECKS)
    if kernels.ready(dtype):
        assert "backward" in calls  # the fused backward (a strided input is copied to dense memory for it)
    calls.clear()
    y = RAMP(x, slope, list(axes))
    torch.testing.assert_close(y, torch._prelu_kernel(x, slope.reshape(view_shape(x.ndim, slope.shape, axes))),
                               rtol=0, atol=0)
    assert y.stride() == torch.empty_like(x).stride()
    if kernels.ready(dtype):  # the fused forward takes dense memory only
        assert calls == (["forward"] if is_dense(x.shape, x.stride()) else [])


def nodes(graphs) -> set:
    return {node.target for graph in graphs for node in graph.graph.nodes}


@pytest.fixture(params=["operator", "decomposed"])
def compiled_forward(request, monkeypatch):
    """How a compiled graph computes the forward (``wlnet.operators.COMPILED_FORWARD``, where the
    package has that setting; before it, always the operator)."""
    if not hasattr(operators, "COMPILED_FORWARD"):
        if request.param != "operator":
            pytest.skip("this wlnet has no wlnet.operators.COMPILED_FORWARD: compiled graphs hold the operator")
    else:
        monkeypatch.setattr(operators, "COMPILED_FORWARD", request.param)
    return request.param


@pytest.mark.filterwarnings(INDUCTOR_WARNING, AUTOGRAD_FUNCTION_WARNING)
@pytest.mark.parametrize("shared", [False, True])
def test_auto_compiles_the_operator_past_the_cache_only(monkeypatch, shared):
    """``COMPILED_FORWARD = "auto"`` (the default): an input of more than ``COMPILED_OPERATOR_BYTES``
    (here set to 64 KiB) is compiled to the fused operators, a smaller one to PyTorch's PReLU kernel
    both ways, for inductor to fuse, with one shared slope or one per channel; all give the eager
    values and gradients."""
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.aot_autograd import make_boxed_func

    assert operators.COMPILED_FORWARD == "auto"
    monkeypatch.setattr(operators, "COMPILED_OPERATOR_BYTES", 1 << 16)
    kernels.wait_ready(torch.float32)
    for shape, operator in (((2, 8, 16, 16), False), ((4, 8, 32, 32), True)):  # 16 KiB, 128 KiB
        torch._dynamo.reset()
        module = ParametricRamp(torch.tensor(0.25) if shared else torch.linspace(-0.5, 0.5, 8),
                                levels=[] if shared else 1)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(4))
        graphs: dict[str, list] = {"forward": [], "backward": []}

        def recorder(kind, graphs=graphs):
            def compiler(graph_module, example_inputs):
                graphs[kind].append(graph_module)
                return make_boxed_func(graph_module.forward)
            return compiler

        backend = aot_autograd(fw_compiler=recorder("forward"), bw_compiler=recorder("backward"))
        # (inductor's slope gradient sums in its own order)
        assert_same(outcome(torch.compile(module, backend=backend, fullgraph=True), [x], module),
                    outcome(module, [x]), rtol=1e-5, atol=1e-5)
        forward, backward = nodes(graphs["forward"]), nodes(graphs["backward"])
        assert (RAMP in forward) == operator and (RAMP_BACKWARD in backward) == operator, (shape, forward)
        assert (torch.ops.aten._prelu_kernel.default in forward) != operator


@pytest.mark.filterwarnings(INDUCTOR_WARNING, AUTOGRAD_FUNCTION_WARNING)
def test_compiled_graphs_keep_the_operators(fused, monkeypatch, compiled_forward):
    """A big module compiled with fullgraph=True: the AOT backward graph calls the fused backward
    operator, and the forward graph the forward operator (or, where ``COMPILED_FORWARD`` is
    "decomposed", PyTorch's PReLU kernel, for inductor to fuse), each once, and so does inductor's
    code; they run the fused kernels and give the eager values and gradients."""
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.aot_autograd import make_boxed_func
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    module = ParametricRamp(torch.linspace(-0.5, 0.5, 8), levels=1)
    x = torch.randn(4, 8, 64, 64, generator=torch.Generator().manual_seed(3))
    want = outcome(module, [x])
    operator = compiled_forward == "operator"

    graphs: dict[str, list] = {"forward": [], "backward": []}

    def recorder(kind):
        def compiler(graph_module, example_inputs):
            graphs[kind].append(graph_module)
            return make_boxed_func(graph_module.forward)
        return compiler

    backend = aot_autograd(fw_compiler=recorder("forward"), bw_compiler=recorder("backward"))
    assert_same(outcome(torch.compile(module, backend=backend, fullgraph=True), [x], module), want)
    forward, backward = nodes(graphs["forward"]), nodes(graphs["backward"])
    assert (RAMP in forward) == operator and (torch.ops.aten._prelu_kernel.default in forward) != operator
    assert RAMP_BACKWARD not in forward and RAMP_BACKWARD in backward and RAMP not in backward

    torch._dynamo.reset()
    calls = []
    if kernels.ready(torch.float32):
        backend = kernels._backends["cpu"]
        for name in ("forward", "backward"):
            run = getattr(backend, name)
            monkeypatch.setattr(backend, name, lambda *a, run=run, name=name: calls.append(name) or run(*a))
    compiled = torch.compile(module, fullgraph=True)
    got, codes = run_and_get_code(lambda: outcome(compiled, [x], module))
    assert_same(got, want)
    forward_code, backward_code = codes
    assert forward_code.count("torch.ops.wlnet.parametric_ramp.default(") == operator
    assert backward_code.count("torch.ops.wlnet.parametric_ramp_backward.default(") == 1
    if kernels.ready(torch.float32):
        assert calls == (["forward", "backward"] if operator else ["backward"])
