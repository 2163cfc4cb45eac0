"""NetPortGradient: input and array gradients against NumPy and torch.autograd, imposed output
gradients, return types, errors, and the value object itself."""

import pickle

import numpy as np
import pytest
import torch

import wlnet
from wlnet import (
    All,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetGraph,
    NetInitialize,
    NetPort,
    NetPortGradient,
    ParametricRampLayer,
    Span,
)
from wlnet.errors import NetDataError, NetShapeError, NetSpecificationError

SLOPE = np.array([0.5, 0.25, 2.0], dtype=np.float32)
PRELU = ParametricRampLayer(Slope=SLOPE, Input=3)
X = np.array([[-2.0, 4.0, 0.0], [1.0, -3.0, -0.5], [0.0, 0.0, 7.0]], dtype=np.float32)


def page_chain():
    """The page's Boolean chain (example 12), on scalars, initialized."""
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    chain = NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Input="Real",
                     Output=NetDecoder("Boolean"))
    return NetInitialize(chain, RandomSeeding=5)


def test_the_value_object():
    assert wlnet.NetPortGradient is NetPortGradient and "NetPortGradient" in wlnet.__all__
    assert repr(NetPortGradient("Input")) == "NetPortGradient('Input')"
    assert repr(NetPortGradient(2, "Slope")) == "NetPortGradient([2, 'Slope'])"
    assert repr(NetPortGradient(All)) == "NetPortGradient(All)"
    assert NetPortGradient([2, "Slope"]) == NetPortGradient(2, "Slope") == NetPortGradient((2, "Slope"))
    assert NetPortGradient(np.int64(2), "Slope") == NetPortGradient(2, "Slope")
    assert NetPortGradient("Input") != NetPortGradient("Output") != NetPort("Output")
    assert len({NetPortGradient("Input"), NetPortGradient("Input"), NetPortGradient(All)}) == 2
    for spec in (NetPortGradient("Input"), NetPortGradient(["ramp", "Slope"]), NetPortGradient(All)):
        assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(AttributeError, match="immutable"):
        NetPortGradient("Input").spec = "Output"  # type: ignore[misc]


@pytest.mark.parametrize(("spec", "shown"), [
    ((1.5,), "1.5"), (([1, 2],), r"\[1, 2\]"), ((True,), "True"), ((), r"\[\]"), ((["Slope", 2],), r"\['Slope', 2\]"),
])
def test_a_bad_specification_is_refused(spec, shown):
    with pytest.raises(NetSpecificationError, match=rf"NetPortGradient: {shown} is not a port or an array; give an "
                                                    r"input port's name \(\"Input\"\), an array's name"):
        NetPortGradient(*spec)


def numpy_input_gradient(x, slope):
    """d(sum of outputs)/dx of the parametric ramp: 1 where x > 0, the slope elsewhere (x == 0 included)."""
    return np.where(x > 0, np.float32(1), np.broadcast_to(slope, x.shape)).astype(np.float32)


def test_input_gradient_of_the_ramp_is_one_or_the_slope():
    batch = PRELU(X, NetPortGradient("Input"))
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.shape == (3, 3)
    np.testing.assert_array_equal(batch, numpy_input_gradient(X, SLOPE))
    assert batch.tolist() == [[0.5, 1.0, 2.0], [1.0, 0.25, 2.0], [0.5, 0.25, 1.0]]
    one = PRELU(X[1], NetPortGradient("Input"))  # one example: its own gradient, the port's dims
    assert one.shape == (3,) and one.tolist() == [1.0, 0.25, 2.0]


def test_array_gradient_is_summed_over_the_batch():
    slope = PRELU(X, NetPortGradient("Slope"))
    assert isinstance(slope, np.ndarray) and slope.dtype == np.float32
    np.testing.assert_array_equal(slope, np.where(X > 0, 0, X).sum(axis=0))  # d/dslope = x where x <= 0
    assert slope.tolist() == [-2.0, -3.0, -0.5]
    assert PRELU(X[0], NetPortGradient("Slope")).tolist() == [-2.0, 0.0, 0.0]


@pytest.mark.parametrize("levels", [2, Span(1, 2), [1, 3], []])
def test_every_level_spec_against_numpy(levels):
    rng = np.random.default_rng(3)
    layer = NetInitialize(ParametricRampLayer(levels, Input=(2, 3, 4)), RandomSeeding=1)
    slope = np.asarray(wlnet.NetExtract(layer, "Slope"))
    view = {2: (1, 3, 1), "span": (2, 3, 1), "list": (2, 1, 4), "none": ()}[
        levels if isinstance(levels, int) else "span" if isinstance(levels, Span) else "list" if levels else "none"]
    x = rng.standard_normal((5, 2, 3, 4)).astype(np.float32)
    s = slope.reshape(view) if view else slope
    np.testing.assert_array_equal(layer(x, NetPortGradient("Input")), numpy_input_gradient(x, s))
    expected = np.where(x > 0, 0, x).sum(axis=0)  # summed over the batch, then over the levels without a slope
    axes = {(1, 3, 1): (0, 2), (2, 3, 1): (2,), (2, 1, 4): (1,), (): (0, 1, 2)}[view]
    np.testing.assert_allclose(layer(x, NetPortGradient("Slope")), expected.sum(axis=axes), rtol=1e-5, atol=1e-6)


def test_a_scalar_port_gives_a_numpy_scalar():
    prelu = ParametricRampLayer([], Slope=0.25, Input="Real")
    single = prelu(-3.0, NetPortGradient("Input"))
    assert isinstance(single, np.float32) and single == np.float32(0.25)
    assert prelu([-3.0, 2.0], NetPortGradient("Input")).tolist() == [0.25, 1.0]
    shared = prelu(-3.0, NetPortGradient("Slope"))
    assert isinstance(shared, np.float32) and shared == -3.0


def test_the_page_chain_against_torch_autograd():
    chain = page_chain()
    x = np.array([1.0, 2.0, 3.0, 4.0, -0.5], dtype=np.float32)
    module = chain.to_torch().requires_grad_(True)  # the frozen slope's gradient too
    leaf = torch.tensor(x, requires_grad=True)
    parameters = dict(module.named_parameters())
    expected = torch.autograd.grad(module(leaf).sum(), [leaf, *parameters.values()])
    gradients = chain(x, NetPortGradient(All))
    assert list(gradients) == [NetPortGradient("Input"), *(NetPortGradient(p) for p in
                                                           ([1, "Weights"], [1, "Biases"], [2, "Slope"],
                                                            [3, "Weights"], [3, "Biases"]))]
    for value, reference in zip(gradients.values(), expected):
        assert isinstance(value, (np.ndarray, np.float32)) and value.dtype == np.float32
        np.testing.assert_allclose(value, reference.numpy(), rtol=1e-6, atol=1e-7)
    # The decoder is not applied: the gradient is of the probability, whatever NetDecoder says.
    one = chain(2.0, NetPortGradient("Input"))
    assert isinstance(one, np.float32) and one == gradients[NetPortGradient("Input")][1]
    # The frozen slope (multiplier 0) has a gradient too: it is asked for, not applied.
    assert chain(x, NetPortGradient(2, "Slope")) == gradients[NetPortGradient([2, "Slope"])]
    assert chain(x, NetPortGradient(-2, "Biases")) == gradients[NetPortGradient([3, "Biases"])]


def test_a_list_of_gradients_gives_a_dict_in_that_order():
    chain = page_chain()
    both = chain([1.0, 2.0], [NetPortGradient(2, "Slope"), NetPortGradient("Input")])
    assert list(both) == [NetPortGradient([2, "Slope"]), NetPortGradient("Input")]
    np.testing.assert_array_equal(both[NetPortGradient("Input")], chain([1.0, 2.0], NetPortGradient("Input")))


def test_an_imposed_output_gradient_weights_the_outputs():
    chain = page_chain()
    x, g = [1.0, 2.0, -3.0], [2.0, 0.5, -1.0]
    plain = chain(x, NetPortGradient("Input"))
    weighted = chain({"Input": x, NetPortGradient("Output"): g}, NetPortGradient("Input"))
    np.testing.assert_allclose(weighted, np.float32(g) * plain, rtol=1e-6)
    ones = chain({"Input": x, NetPortGradient("Output"): [1.0, 1.0, 1.0]}, NetPortGradient("Input"))
    np.testing.assert_array_equal(ones, plain)
    one = chain({"Input": 2.0, NetPortGradient("Output"): 3.0}, NetPortGradient("Input"))
    np.testing.assert_allclose(one, 3 * chain(2.0, NetPortGradient("Input")), rtol=1e-6)


def test_vector_outputs_sum_and_several_input_ports():
    wa = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], dtype=np.float32)
    wb = np.array([[2.0, -1.0]], dtype=np.float32)
    graph = NetGraph([LinearLayer(2, Weights=wa, Biases=[0, 0]), LinearLayer(1, Weights=wb, Biases=[1.0])],
                     [(NetPort("a"), 1), (NetPort("b"), 2)], a=3, b=2)
    data = {"a": np.ones((4, 3)), "b": np.zeros((4, 2))}
    grads = graph(data, [NetPortGradient("a"), NetPortGradient("b"), NetPortGradient(1, "Weights")])
    np.testing.assert_array_equal(grads[NetPortGradient("a")], np.tile(wa.sum(axis=0), (4, 1)))  # [0, 2.5, 7]
    np.testing.assert_array_equal(grads[NetPortGradient("b")], np.tile(wb.sum(axis=0), (4, 1)))
    np.testing.assert_array_equal(grads[NetPortGradient([1, "Weights"])], np.full((2, 3), 4.0))  # 4 examples of ones
    imposed = graph({**data, NetPortGradient("Output1"): np.tile([1.0, 0.0], (4, 1))}, NetPortGradient("a"))
    np.testing.assert_array_equal(imposed, np.tile(wa[0], (4, 1)))


def test_sequences_of_different_lengths():
    layer = NetInitialize(ParametricRampLayer(2, Input=("Varying", 2)))
    data = [[[1.0, -1.0]], [[-1.0, -2.0], [3.0, -4.0]]]
    grads = layer(data, NetPortGradient(All))
    assert [g.tolist() for g in grads[NetPortGradient("Input")]] == [
        [[1.0, np.float32(0.1)]], [[np.float32(0.1), np.float32(0.1)], [1.0, np.float32(0.1)]]]
    assert grads[NetPortGradient("Slope")].tolist() == [-1.0, -7.0]
    imposed = {"Input": data, NetPortGradient("Output"): [[[2.0, 2.0]], [[3.0, 3.0], [4.0, 4.0]]]}
    assert layer(imposed, NetPortGradient("Slope")).tolist() == [-3.0, -24.0]


def test_results_do_not_depend_on_batch_size_and_follow_precision_and_tensors():
    chain = page_chain()
    x = np.linspace(-2, 2, 9)
    whole = chain(x, NetPortGradient(All))
    for size in (1, 4):
        for key, value in chain(x, NetPortGradient(All), BatchSize=size).items():
            np.testing.assert_allclose(value, whole[key], rtol=1e-6, atol=1e-7)
    double = chain(x, NetPortGradient("Input"), WorkingPrecision="Real64")
    assert double.dtype == np.float64
    np.testing.assert_allclose(double, whole[NetPortGradient("Input")], rtol=1e-5)
    mixed = chain(x, NetPortGradient("Input"), WorkingPrecision="Mixed")  # bfloat16 inside, float32 out
    assert mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, whole[NetPortGradient("Input")], rtol=0.05, atol=0.01)
    tensor = chain(torch.tensor(x, dtype=torch.float32), NetPortGradient(All))
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in tensor.values())
    np.testing.assert_array_equal(tensor[NetPortGradient("Input")].numpy(), whole[NetPortGradient("Input")])


def test_an_output_that_does_not_depend_on_an_array_gives_zeros():
    graph = NetGraph({"used": LinearLayer(1, Weights=[[2.0]], Biases=[0.0]),
                      "unused": LinearLayer(1, Weights=[[3.0]], Biases=[0.0])},
                     [(NetPort("x"), "used"), (NetPort("y"), "unused"), ("unused", None)], x=1, y=1)
    grads = graph({"x": [1.0], "y": [1.0]}, NetPortGradient(All))
    assert grads[NetPortGradient("y")].tolist() == [0.0]
    assert grads[NetPortGradient(["unused", "Weights"])].tolist() == [[0.0]]
    assert grads[NetPortGradient(["used", "Weights"])].tolist() == [[1.0]]


ERRORS = [
    ("an output port", lambda c: c(1.0, NetPortGradient("Output")), NetSpecificationError,
     r"NetChain: NetPortGradient\('Output'\) names an output port; a gradient is taken with respect to an input "
     r"port \('Input'\) or an array\. To impose a gradient at an output port, give it in the data: "
     r"\{\"Input\": x, NetPortGradient\('Output'\): gradient\}"),
    ("a misspelt port", lambda c: c(1.0, NetPortGradient("Inpt")), NetSpecificationError,
     r"NetChain: NetPortGradient\('Inpt'\) names no input port or array of the net\. Did you mean 'Input'\? "
     r"Gradients can be taken with respect to: 'Input', \[1, 'Weights'\], \[1, 'Biases'\], \[2, 'Slope'\]"),
    ("a misspelt array", lambda c: c(1.0, NetPortGradient(2, "Slop")), NetSpecificationError,
     r"NetPortGradient\(\[2, 'Slop'\]\) names no input port or array of the net\. Did you mean \[2, 'Slope'\]\?"),
    ("an array of a chain by its name alone", lambda c: c(1.0, NetPortGradient("Slope")), NetSpecificationError,
     r"NetPortGradient\('Slope'\) names no input port or array"),
    ("a layer that is not there", lambda c: c(1.0, NetPortGradient(5, "Slope")), NetSpecificationError,
     r"NetChain: in NetPortGradient\(\[5, 'Slope'\]\), 5 is not a part; parts are numbered 1 to 4"),
    ("a path through a layer", lambda c: c(1.0, NetPortGradient(2, 1, "Slope")), NetSpecificationError,
     r"NetChain: in NetPortGradient\(\[2, 1, 'Slope'\]\), ParametricRampLayer \(levels \[\]\) has no parts, so "
     r"the path cannot go on after 2"),
    ("a gradient imposed at an input port", lambda c: c({"Input": 1.0, NetPortGradient("Input"): 1.0},
                                                        NetPortGradient("Input")), NetDataError,
     r"NetChain: a gradient is imposed at NetPortGradient\('Input'\), which is not an output port; the output "
     r"ports are: 'Output'"),
    ("a misspelt imposed port", lambda c: c({"Input": 1.0, NetPortGradient("Outpt"): 1.0}, NetPortGradient("Input")),
     NetDataError, r"not an output port; the output ports are: 'Output'\. Did you mean Output\?"),
    ("an imposed gradient without a gradient request", lambda c: c({"Input": 1.0, NetPortGradient("Output"): 1.0}),
     NetDataError, r"NetChain: the data imposes a gradient at an output port \(NetPortGradient\('Output'\)\), which "
                   r"is used only when gradients are asked for: net\(data, NetPortGradient\(\"Input\"\)\)"),
    ("an imposed gradient for fewer examples",
     lambda c: c({"Input": [1.0, 2.0], NetPortGradient("Output"): [1.0]}, NetPortGradient("Input")), NetShapeError,
     r"NetChain: the gradient imposed at output port \"Output\" should be a real number for each example \(the "
     r"output's dims\), but it is given for 1 example, not 2"),
    ("an imposed gradient of other dims",
     lambda c: c({"Input": [1.0, 2.0], NetPortGradient("Output"): [[1.0, 2.0], [3.0, 4.0]]}, NetPortGradient("Input")),
     NetShapeError, r"should be a real number for each example \(the output's dims\), but it is a length-2 vector"),
    ("an imposed gradient that is not numbers",
     lambda c: c({"Input": [1.0], NetPortGradient("Output"): ["x"]}, NetPortGradient("Input")), NetDataError,
     r"NetChain: the gradient imposed at output port \"Output\" should be real numbers, but it contains strings"),
]


@pytest.mark.parametrize(("name", "call", "kind", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(name, call, kind, message):
    with pytest.raises(kind, match=message):
        call(page_chain())


def test_a_bare_layer_lists_its_own_names():
    with pytest.raises(NetSpecificationError, match=r"ParametricRampLayer \(levels 1\): NetPortGradient\('Slop'\) "
                                                    r"names no input port or array of the net\. Did you mean "
                                                    r"'Slope'\? Gradients can be taken with respect to: 'Input', "
                                                    r"'Slope'\."):
        PRELU(X, NetPortGradient("Slop"))
