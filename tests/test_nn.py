"""wlnet.nn: the drop-in for torch.nn.PReLU, its functional form and replace_prelu.

The reference is PyTorch itself: every reference input of the OpInfo of
``torch.nn.functional.prelu`` (PyTorch's own operator test data, 108 inputs: 0-d, 1-d, empty,
shared and per-channel weights, large ones) gives the same values and gradients, through PyTorch's
kernel (small inputs) and through the fused kernels (forced), for the function and the module.
"""

import copy
import io

import pytest
import torch
from torch import nn

import wlnet.nn
from wlnet import kernels
from wlnet.functional import parametric_ramp_reference
from wlnet.symbols import Span

needs_numba = pytest.mark.skipif(not kernels.available()["cpu"], reason="numba is not installed")


def _reference_inputs():
    pytest.importorskip("expecttest")  # torch.testing._internal imports it
    from torch.testing._internal.common_methods_invocations import op_db

    (op,) = [o for o in op_db if o.name == "nn.functional.prelu"]
    samples = []
    for dtype in (torch.float32, torch.float64):
        for sample in op.reference_inputs("cpu", dtype, requires_grad=True):
            weight = sample.args[0] if sample.args else sample.kwargs["weight"]
            samples.append((sample.input, weight))
    return samples


@pytest.fixture(params=["as installed", "fused kernels forced"])
def path(request, monkeypatch):
    if request.param == "fused kernels forced":
        if not kernels.available()["cpu"]:
            pytest.skip("numba is not installed")
        for name in ("MIN_FUSED_NUMEL", "MIN_FUSED_TRAINING_NUMEL", "TORCH_FORWARD_BYTES"):
            monkeypatch.setattr(kernels, name, 0)
    return request.param


def _values_and_grads(function, x, weight):
    x = x.detach().clone().requires_grad_()
    weight = weight.detach().clone().requires_grad_()
    y = function(x, weight)
    if y.numel():
        grad = torch.linspace(-2, 3, y.numel(), dtype=y.dtype).reshape(y.shape)
        y.backward(grad)
    return y, x.grad, weight.grad


def _assert_same(found, expected):
    for a, b in zip(found, expected):
        if b is None:
            assert a is None or not a.any()
            continue
        assert a.shape == b.shape and a.dtype == b.dtype
        # The slope gradient is a sum, which the fused kernels add in another (fixed) order.
        scale = float(b.detach().abs().max()) if b.numel() else 1.0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * max(1.0, scale), equal_nan=True)


def test_every_opinfo_reference_input_of_prelu(path):
    samples = _reference_inputs()
    assert len(samples) == 216  # 108 per dtype: PyTorch's whole list
    for x, weight in samples:
        expected = _values_and_grads(torch.nn.functional.prelu, x, weight)
        _assert_same(_values_and_grads(wlnet.nn.functional.prelu, x, weight), expected)


def test_every_opinfo_reference_input_through_the_module(path):
    """The module of the sample's weight (nn.PReLU holds a 1-d weight): the same as nn.PReLU's."""
    for x, weight in _reference_inputs():
        theirs = nn.PReLU(weight.numel(), dtype=weight.dtype)
        ours = wlnet.nn.PReLU(weight.numel(), dtype=weight.dtype)
        with torch.no_grad():
            theirs.weight.copy_(weight.reshape(-1))
            ours.weight.copy_(weight.reshape(-1))
        expected = _values_and_grads(lambda a, w, m=theirs: m(a), x, weight)
        found = _values_and_grads(lambda a, w, m=ours: m(a), x, weight)
        _assert_same(found[:2], expected[:2])
        if expected[0].numel():
            torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-5, atol=1e-4, equal_nan=True)


def test_refuses_what_torch_refuses_with_its_message():
    x = torch.randn(2, 4, 5)
    with pytest.raises(RuntimeError) as theirs:
        nn.PReLU(3)(x)
    with pytest.raises(RuntimeError) as ours:
        wlnet.nn.PReLU(3)(x)
    assert str(ours.value) == str(theirs.value)
    big = torch.randn(8, 4, 64, 64)  # the operator's path, not torch.prelu's
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        wlnet.nn.PReLU(3)(big)
    with pytest.raises(RuntimeError):
        wlnet.nn.PReLU(4)(big.double())  # a float32 weight on float64 input, as torch.prelu refuses it
    with pytest.raises(ValueError, match="levels="):
        wlnet.nn.PReLU((3, 4))


def test_signature_defaults_and_repr_are_torchs():
    ours, theirs = wlnet.nn.PReLU(), nn.PReLU()
    assert ours.weight.shape == theirs.weight.shape == (1,) and ours.weight.tolist() == [0.25]
    assert repr(ours) == repr(theirs) == "PReLU(num_parameters=1)"
    typed = wlnet.nn.PReLU(3, init=0.5, dtype=torch.float64, device="cpu")
    assert typed.weight.dtype == torch.float64 and typed.weight.tolist() == [0.5] * 3
    with torch.no_grad():
        typed.weight.zero_()
    typed.reset_parameters()
    assert typed.weight.tolist() == [0.5] * 3


def test_checkpoints_load_both_ways():
    torch.manual_seed(0)
    theirs = nn.PReLU(8)
    with torch.no_grad():
        theirs.weight.uniform_(-1, 1)
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)
    ours = wlnet.nn.PReLU(8)
    buffer.seek(0)
    ours.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(4, 8, 40, 40)
    assert torch.equal(ours(x), theirs(x))
    with torch.no_grad():
        ours.weight.mul_(2)
    back = nn.PReLU(8)
    back.load_state_dict(ours.state_dict())
    assert torch.equal(back.weight, ours.weight) and list(ours.state_dict()) == ["weight"]


class _Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.PReLU(channels)

    def forward(self, x):
        return x + self.act(self.conv(x))


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.PReLU())
        self.blocks = nn.ModuleList([_Block(8), _Block(8)])
        self.heads = nn.ModuleDict({"a": nn.PReLU(8, init=0.1)})
        self.kept = _Subclass(8)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.kept(self.heads["a"](x))


class _Subclass(nn.PReLU):
    """A subclass may compute something else: replace_prelu leaves it alone."""


def test_replace_prelu_swaps_every_prelu_in_place_keeping_the_parameters():
    torch.manual_seed(0)
    model = _Net().double()
    model.blocks[1].act.weight.requires_grad_(False)
    model.eval()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    expected = model(x)
    keys = list(model.state_dict())
    weights = {name: p for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert wlnet.nn.replace_prelu(model) is model
    swapped = [m for m in model.modules() if type(m) is wlnet.nn.PReLU]
    assert len(swapped) == 4 and not [m for m in model.modules() if type(m) is nn.PReLU]
    assert type(model.kept) is _Subclass
    assert list(model.state_dict()) == keys
    assert all(p is weights[name] for name, p in model.named_parameters())  # the very parameters
    assert model.blocks[1].act.weight.dtype == torch.float64 and not model.blocks[1].act.weight.requires_grad
    assert not model.stem[1].training
    assert torch.equal(model(x), expected)
    before = model.heads["a"].weight.detach().clone()
    model(x).sum().backward()
    optimizer.step()  # the optimizer made before the swap trains the swapped modules
    assert not torch.equal(model.heads["a"].weight, before)
    top = nn.PReLU(3)
    replaced = wlnet.nn.replace_prelu(top)
    assert type(replaced) is wlnet.nn.PReLU and replaced.weight is top.weight


@needs_numba
@pytest.mark.parametrize(
    ("levels", "slope_shape", "axes"),
    [(1, (6,), (1,)), (-1, (40,), (3,)), ([1, 3], (6, 40), (1, 3)), (Span(2, -1), (36, 40), (2, 3)),
     ([], (), ())],
)
def test_levels_put_the_slope_on_any_dims(monkeypatch, levels, slope_shape, axes):
    for name in ("MIN_FUSED_NUMEL", "MIN_FUSED_TRAINING_NUMEL"):
        monkeypatch.setattr(kernels, name, 0)
    kernels.wait_ready(torch.float32)
    module = wlnet.nn.PReLU(slope_shape, levels=levels)
    with torch.no_grad():
        module.weight.copy_(torch.linspace(-0.5, 0.5, module.weight.numel()).reshape(slope_shape))
    x = torch.randn(5, 6, 36, 40, requires_grad=True)
    y = module(x)
    y.backward(torch.ones_like(y))
    reference_x = x.detach().clone().requires_grad_()
    reference_slope = module.weight.detach().clone().requires_grad_()
    expected = parametric_ramp_reference(reference_x, reference_slope, axes)
    expected.backward(torch.ones_like(expected))
    assert torch.equal(y, expected) and torch.equal(x.grad, reference_x.grad)
    torch.testing.assert_close(module.weight.grad, reference_slope.grad, rtol=1e-5, atol=1e-4)
    assert "levels=" in repr(module) and list(copy.deepcopy(module).state_dict()) == ["weight"]
