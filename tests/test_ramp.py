"""ParametricRampLayer against a NumPy oracle, PyTorch, and gradcheck."""

import pickle
import typing

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import wlnet
from wlnet import All, NetExtract, NetInitialize, ParametricRampLayer, Scaled, Span
from wlnet.functional import parametric_ramp, parametric_ramp_reference


def numpy_prelu(x: np.ndarray, slope: np.ndarray, axes) -> np.ndarray:
    """The oracle: x batched (batch axis 0), slope on the example axes ``axes`` (0-based)."""
    shape = [1] * x.ndim
    for axis, size in zip(axes, slope.shape):
        shape[axis + 1] = size
    return np.where(x > 0, x, slope.reshape(shape) * x)


@st.composite
def level_cases(draw):
    """(dims, chosen axes, a levels spec selecting exactly those axes) in one of every form."""
    rank = draw(st.integers(1, 4))
    dims = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axes = sorted(draw(st.sets(st.integers(0, rank - 1))))
    forms = ["list"]
    if len(axes) == 1:
        forms += ["int", "negative int"]
    if axes and axes == list(range(axes[0], axes[-1] + 1)):
        forms += ["span", "negative span"] + (["span to All"] if axes[-1] == rank - 1 else [])
    form = draw(st.sampled_from(forms))
    first, last = (axes[0], axes[-1]) if axes else (None, None)
    if form == "int":
        spec = first + 1
    elif form == "negative int":
        spec = first - rank
    elif form == "span":
        spec = Span(first + 1, last + 1)
    elif form == "negative span":
        spec = Span(first - rank, last - rank)
    elif form == "span to All":
        spec = Span(first + 1, All)
    else:
        spec = [draw(st.sampled_from([a + 1, a - rank])) for a in axes]
        spec = draw(st.permutations(spec))
    return dims, tuple(axes), spec


@settings(max_examples=150, deadline=None)
@given(case=level_cases(), data=st.data())
def test_levels_and_values_match_numpy_oracle(case, data):
    dims, axes, spec = case
    slope_dims = tuple(dims[a] for a in axes)
    layer = NetInitialize(ParametricRampLayer(spec, Input=dims))
    assert NetExtract(layer, "Slope").shape == slope_dims  # the slope-dims rule
    elements = st.floats(-3, 3, width=32) | st.just(0.0) | st.just(-0.0)
    slope = np.asarray(
        data.draw(st.lists(elements, min_size=int(np.prod(slope_dims)), max_size=int(np.prod(slope_dims)))),
        dtype=np.float32,
    ).reshape(slope_dims)
    layer = ParametricRampLayer(spec, Slope=slope, Input=dims)
    batch = data.draw(st.integers(1, 3))
    size = batch * int(np.prod(dims))
    x = np.asarray(data.draw(st.lists(elements, min_size=size, max_size=size)), np.float32)
    x = x.reshape((batch, *dims))
    expected = numpy_prelu(x, slope, axes)
    np.testing.assert_array_equal(layer(x), expected)
    np.testing.assert_array_equal(layer(x[0]), expected[0])  # one example
    # Same values when the dims are inferred just in time from the slope and the data.
    if len(axes) == len(dims) or not axes:
        np.testing.assert_array_equal(ParametricRampLayer(spec, Slope=slope)(x[0]), expected[0])


@settings(max_examples=150, deadline=None)
@given(case=level_cases())
def test_a_slope_alone_fixes_the_input_dims_at_its_levels(case):
    """The slope has the input's dims at the levels. When the levels' count depends on the input's
    rank (a span from a level counted from the first to the last, or to All), the slope's rank fixes
    the input's rank, and the input has the slope's dims there; otherwise the rank stays unknown."""
    dims, axes, spec = case
    slope = np.full(tuple(dims[a] for a in axes), 0.5, np.float32)
    layer = ParametricRampLayer(spec, Slope=slope)
    fixes_rank = isinstance(spec, Span) and spec.start > 0 and (spec.stop is All or spec.stop < 0)
    expected = tuple(dims[a] if a in axes else None for a in range(len(dims))) if fixes_rank else None
    assert layer._ports["Input"].dims == layer._ports["Output"].dims == expected
    assert layer == ParametricRampLayer(spec, Slope=slope, Input=expected or wlnet.Automatic)
    with_input = ParametricRampLayer(spec, Slope=slope, Input=dims)  # consistent with Input: no error
    np.testing.assert_array_equal(with_input(np.ones((1, *dims))), np.ones((1, *dims)))
    if fixes_rank:
        wrong = tuple(d + 1 if i in axes else d for i, d in enumerate(dims))
        with pytest.raises(wlnet.NetError, match='inferred inconsistent dimensions for array "Slope"'):
            ParametricRampLayer(spec, Slope=slope, Input=wrong)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5)])
def test_level_1_matches_torch_prelu_values_and_gradients(shape):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    x[0, 0] = 0.0
    slope = torch.rand(shape[1], dtype=torch.float64)
    ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours_s, theirs_s = slope.clone().requires_grad_(), slope.clone().requires_grad_()
    ours = parametric_ramp(ours_x, ours_s, (1,))
    theirs = torch.nn.functional.prelu(theirs_x, theirs_s)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    grad = torch.randn(shape, dtype=torch.float64)
    ours.backward(grad)
    theirs.backward(grad)
    torch.testing.assert_close(ours_x.grad, theirs_x.grad)
    torch.testing.assert_close(ours_s.grad, theirs_s.grad)


@pytest.mark.parametrize(
    ("levels", "dims"),
    [(1, (3, 4)), (-1, (3, 4)), (Span(1, 2), (2, 3, 2)), ([1, 3], (2, 3, 2)), ([], (3, 2)), (2, (2, 3))],
)
def test_gradcheck_float64(levels, dims):
    torch.manual_seed(1)
    module = NetInitialize(ParametricRampLayer(levels, Input=dims)).to_torch().double()
    x = torch.randn((2, *dims), dtype=torch.float64)
    x = x + 0.1 * torch.sign(x)  # keep finite differences away from the kink at 0
    slope = (torch.rand(module.slope.shape, dtype=torch.float64) - 0.5).requires_grad_()

    def f(x, s):
        return torch.func.functional_call(module, {"Slope": s}, (x,))

    assert torch.autograd.gradcheck(f, (x.requires_grad_(), slope))
    # With exact zeros in the input the function is not differentiable in x there, but it is
    # in the slope (f = slope * 0): gradcheck with respect to the slope alone.
    x_zeros = x.detach().clone()
    x_zeros.view(-1)[::3] = 0.0
    assert torch.autograd.gradcheck(lambda s: f(x_zeros, s), (slope,))
    assert torch.autograd.gradgradcheck(f, (x.detach().requires_grad_(), slope))


def test_gradient_at_zero_is_slope_for_x_and_zero_for_slope():
    x = torch.tensor([[0.0, -0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    slope = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64, requires_grad=True)
    parametric_ramp(x, slope, (1,)).sum().backward()
    assert x.grad.tolist() == [[0.3, 0.5, 0.7]]
    assert slope.grad.tolist() == [0.0, 0.0, 0.0]


def test_nan_and_inf_flow_through_the_formula():
    layer = ParametricRampLayer([], Slope=0.5)
    out = layer([np.nan, np.inf, -np.inf, -0.0, 0.0, -2.0])
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf
    assert out[3:].tolist() == [0.0, 0.0, -1.0]
    x = torch.tensor([[np.inf, -np.inf, 2.0]], requires_grad=True)
    slope = torch.tensor(0.5, requires_grad=True)
    parametric_ramp(x, slope, ()).sum().backward()
    # d/dslope is 0 where x > 0 (even +inf), x * grad elsewhere: -inf from the -inf element.
    assert slope.grad.item() == -np.inf
    assert x.grad.tolist() == [[1.0, 0.5, 1.0]]


def test_reference_and_dispatching_function_agree():
    torch.manual_seed(2)
    x = torch.randn(3, 4, 5, requires_grad=True)
    slope = torch.rand(4, 5, requires_grad=True)
    a = parametric_ramp(x, slope, (1, 2))
    b = parametric_ramp_reference(x, slope, (1, 2))
    torch.testing.assert_close(a, b)


def test_to_torch_is_a_plain_module_with_a_parameter():
    layer = NetInitialize(ParametricRampLayer(Input=(3, 2)))
    module = layer.to_torch()
    assert isinstance(module, torch.nn.Module)
    assert [name for name, _ in module.named_parameters()] == ["Slope"]  # the Wolfram array name
    assert module.slope is module.Slope
    assert module.slope.requires_grad and module.slope.lr_multiplier == 1.0
    with torch.no_grad():
        module.slope.fill_(0.5)  # training the module never touches the layer
    assert NetExtract(layer, "Slope").tolist() == [np.float32(0.1)] * 3
    out = module(torch.tensor([[[-1.0, 2.0], [3.0, -4.0], [-5.0, 6.0]]]))
    assert out.tolist() == [[[-0.5, 2.0], [3.0, -2.0], [-2.5, 6.0]]]
    frozen = ParametricRampLayer(Slope=[1, 2], LearningRateMultipliers=0).to_torch()
    assert frozen.slope.requires_grad is False and frozen.slope.lr_multiplier == 0.0


def test_to_torch_module_trains_with_an_optimizer():
    torch.manual_seed(3)
    module = NetInitialize(ParametricRampLayer(Input=2)).to_torch()
    target = torch.tensor([0.3, 0.7])
    x = -torch.rand(64, 2) - 0.1
    y = x * target
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = ((module(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    torch.testing.assert_close(module.slope.detach(), target, atol=1e-3, rtol=0)


def test_layers_are_immutable_values():
    layer = ParametricRampLayer(Input=3)
    initialized = NetInitialize(layer)
    assert NetExtract(layer, "Slope") is wlnet.Automatic  # the argument is unchanged
    with pytest.raises(AttributeError, match="immutable"):
        initialized.levels = 2
    slope = NetExtract(initialized, "Slope")
    with pytest.raises(ValueError, match="read-only"):
        slope[0] = 5.0
    given = np.array([0.1, 0.2, 0.3])
    from_given = ParametricRampLayer(Slope=given)
    given[0] = 9.0  # the caller's array stays the caller's
    assert NetExtract(from_given, "Slope")[0] == np.float32(0.1)


def test_pickle_round_trip_keeps_arrays_read_only():
    layer = ParametricRampLayer(Span(1, 2), Slope=[[0.1, 0.2], [0.3, 0.4]], LearningRateMultipliers=0.5)
    back = pickle.loads(pickle.dumps(layer))
    assert repr(back) == repr(layer)
    assert not NetExtract(back, "Slope").flags.writeable


def test_symbols_are_immutable_values_holding_what_their_annotations_declare():
    span = Span(2, All)
    assert pickle.loads(pickle.dumps(span)) == span and hash(span) == hash(Span(2, All))
    assert pickle.loads(pickle.dumps(All)) is All
    with pytest.raises(AttributeError, match="Span is immutable"):
        span.start = 1
    with pytest.raises(AttributeError, match="Scaled is immutable"):
        Scaled(0.5).value = 1.0
    for cls in (Span, Scaled, type(All)):  # what the type checker is told is what instances hold
        hints = typing.get_type_hints(cls)
        declared = {name for name, hint in hints.items() if typing.get_origin(hint) is not typing.ClassVar}
        assert set(cls.__slots__) == declared


@pytest.mark.parametrize(
    "layer",
    [
        ParametricRampLayer(),
        ParametricRampLayer(Input=3),
        ParametricRampLayer(Span(2, All), Input=(2, 3, 4)),
        ParametricRampLayer([1, -1], Input=(2, 3, 4)),
        ParametricRampLayer([], Slope=0.25),
        ParametricRampLayer(Slope=[0.1, 0.2, 0.3], LearningRateMultipliers=0, Input=3),
        ParametricRampLayer(2, Input=("Varying", 3)),
        ParametricRampLayer([], Input="Real"),
        NetInitialize(ParametricRampLayer(-1, Input=(2, 5))),
    ],
    ids=repr,
)
def test_repr_is_an_evaluable_constructor(layer):
    namespace = {name: getattr(wlnet, name) for name in wlnet.__all__}
    again = eval(repr(layer), namespace)
    assert repr(again) == repr(layer)
    a, b = NetExtract(layer, "Slope"), NetExtract(again, "Slope")
    assert a is b or np.array_equal(a, b)


def test_repr_of_a_large_slope_summarizes_it():
    layer = NetInitialize(ParametricRampLayer(Input=(64, 8)))
    assert repr(layer) == "ParametricRampLayer(1, Input=(64, 8))  # Slope: dims (64,), min 0.1, max 0.1"
