"""NetGraph and NetPort: wiring, two-way shape inference, errors, the verbs, evaluation, to_torch."""

import pickle

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    Automatic,
    ElementwiseLayer,
    Information,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetExtract,
    NetInitialize,
    NetReplacePart,
    Normal,
    ParametricRampLayer,
    Ramp,
    Tanh,
)
from wlnet.errors import NetDataError, NetOptionError, NetShapeError, NetSpecificationError
from wlnet.nets.graph import Graph, NetGraph, NetPort

RNG = np.random.default_rng(7)
W1, B1 = RNG.standard_normal((3, 4)), RNG.standard_normal(3)
W2, B2 = RNG.standard_normal((2, 3)), RNG.standard_normal(2)
SLOPE = np.array([0.5, 0.25, 2.0])
X = RNG.standard_normal((6, 4))


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def relu(x):
    return np.maximum(x, 0.0)


def prelu(x, slope):
    return np.where(x > 0, x, slope * x)


def dense(x, w, b):
    return x @ f32(w).T + f32(b)


def three_layers():
    return [LinearLayer(3, Weights=W1, Biases=B1), Ramp, LinearLayer(2, Weights=W2, Biases=B2)]


def branches():
    """A trunk feeding two heads: one input, two outputs."""
    return NetGraph(
        {"trunk": LinearLayer(3, Weights=W1, Biases=B1),
         "head": LinearLayer(2, Weights=W2, Biases=B2),
         "act": ParametricRampLayer(Slope=SLOPE)},
        [("trunk", "head"), ("trunk", "act")],
        Input=4,
    )


# -- a linear graph is a chain --------------------------------------------------------------------
def test_linear_graph_equals_the_chain_and_numpy():
    chain = NetChain(three_layers())
    expected = dense(relu(dense(f32(X), W1, B1)), W2, B2)
    for graph in (NetGraph(three_layers(), [(1, 2), (2, 3)]),
                  NetGraph(three_layers(), [(1, 2, 3)]),
                  NetGraph(three_layers(), [(NetPort("Input"), 1, 2, 3, NetPort("Output"))]),
                  NetGraph(chain)):
        out = graph(X)
        assert out.shape == (6, 2) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(out, chain(X))
        np.testing.assert_array_equal(graph(X[0]), chain(X[0]))  # one example, no batch axis


def test_initialize_gives_the_chains_arrays_by_position():
    chain = NetInitialize(NetChain([LinearLayer(3), Ramp, LinearLayer(2)], Input=4))
    graph = NetInitialize(NetGraph([LinearLayer(3), Ramp, LinearLayer(2)], [(1, 2, 3)], Input=4))
    positions = Information(graph, "ArraysPositionList")
    assert positions == [(1, "Weights"), (1, "Biases"), (3, "Weights"), (3, "Biases")]
    assert positions == Information(chain, "ArraysPositionList")
    for position in positions:
        np.testing.assert_array_equal(NetExtract(graph, list(position)), NetExtract(chain, list(position)))
    np.testing.assert_array_equal(graph(X), chain(X))
    assert NetInitialize(graph) is graph  # nothing missing: the same net
    assert NetExtract(NetInitialize(graph, None), [1, "Weights"]) is Automatic


# -- several outputs and inputs ---------------------------------------------------------------------
def test_branches_give_numbered_outputs():
    graph = branches()
    assert Information(graph, "InputPorts") == {"Input": 4}
    assert Information(graph, "OutputPorts") == {"Output1": 2, "Output2": 3}
    hidden = dense(f32(X), W1, B1)
    out = graph(X)
    assert set(out) == {"Output1", "Output2"}
    np.testing.assert_allclose(out["Output1"], dense(hidden, W2, B2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["Output2"], prelu(hidden, f32(SLOPE)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(graph(X, "Output2"), out["Output2"])
    one = graph(X[1])
    np.testing.assert_array_equal(one["Output1"], out["Output1"][1])
    chunked = graph(X, BatchSize=4)
    np.testing.assert_array_equal(chunked["Output1"], out["Output1"])
    double = graph(X, WorkingPrecision="Real64")
    assert double["Output2"].dtype == np.float64
    # Real64 reads the data in double; the arrays stay the float32 values.
    np.testing.assert_allclose(double["Output2"], prelu(dense(X, W1, B1), f32(SLOPE)), rtol=1e-12)
    tensors = graph(torch.tensor(X, dtype=torch.float32))
    assert isinstance(tensors["Output1"], torch.Tensor)
    np.testing.assert_array_equal(tensors["Output1"].numpy(), out["Output1"])


def test_named_graph_ports_and_chain_shorthand():
    graph = NetGraph(
        {"trunk": LinearLayer(3, Weights=W1, Biases=B1), "relu": Ramp, "out": LinearLayer(2, Weights=W2, Biases=B2)},
        [(NetPort("x"), "trunk", "relu", "out", NetPort("y")), ("trunk", NetPort("hidden"))],
        x=4,
    )
    assert Information(graph, "InputPortNames") == ["x"]
    assert Information(graph, "OutputPortNames") == ["y", "hidden"]
    out = graph({"x": X})
    hidden = dense(f32(X), W1, B1)
    np.testing.assert_allclose(out["hidden"], hidden, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["y"], dense(relu(hidden), W2, B2), rtol=1e-5, atol=1e-5)
    assert graph._layers_graph() == {"trunk": ["relu"], "relu": ["out"], "out": []}


def test_two_inputs_take_a_dict():
    wa, wb = RNG.standard_normal((2, 3)), RNG.standard_normal((1, 5))
    graph = NetGraph([LinearLayer(2, Weights=wa, Biases=[0, 0]), LinearLayer(1, Weights=wb, Biases=[1.0])],
                     [(NetPort("a"), 1), (NetPort("b"), 2)], a=3, b=5)
    assert Information(graph, "InputPorts") == {"a": 3, "b": 5}
    assert Information(graph, "OutputPortNames") == ["Output1", "Output2"]
    xa, xb = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 5))
    out = graph({"a": xa, "b": xb})
    np.testing.assert_allclose(out["Output1"], f32(xa) @ f32(wa).T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["Output2"], f32(xb) @ f32(wb).T + 1, rtol=1e-5, atol=1e-6)
    single = graph({"a": xa[0], "b": xb[0]})
    np.testing.assert_array_equal(single["Output2"], out["Output2"][0])
    with pytest.raises(NetDataError, match=r"no value for the input port 'b'; give a dict with every"):
        graph({"a": xa})
    with pytest.raises(NetDataError, match=r'names a port "c" that is not an input port'):
        graph({"a": xa, "b": xb, "c": xb})
    with pytest.raises(NetDataError, match=r"input ports 'a', 'b', so the data should be a dict"):
        graph(xa)
    with pytest.raises(NetDataError, match=r'port "b" is one example, but the data for port "a" is a batch'):
        graph({"a": xa, "b": xb[0]})
    with pytest.raises(NetDataError, match=r'different lengths \("a": 4, "b": 2\)'):
        graph({"a": xa, "b": xb[:2]})
    with pytest.raises(NetShapeError, match=r'port "a" should be a length-3 vector or a batch of them'):
        graph({"a": xb, "b": xb})
    with pytest.raises(NetOptionError, match=r"unexpected extra argument 'Output3'"):
        graph({"a": xa, "b": xb}, "Output3")


def test_unconnected_inputs_of_one_name_share_a_graph_input_and_outputs_can_be_muted():
    graph = NetGraph([LinearLayer(2, Weights=W2, Biases=B2), Tanh], [], Input=3)
    assert Information(graph, "InputPorts") == {"Input": 3}
    x = RNG.standard_normal((2, 3))
    out = graph(x)
    np.testing.assert_allclose(out["Output1"], dense(f32(x), W2, B2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["Output2"], np.tanh(f32(x)), rtol=1e-5, atol=1e-6)
    muted = NetGraph([LinearLayer(2, Weights=W2, Biases=B2), Tanh], [(1, None)], Input=3)
    assert Information(muted, "OutputPortNames") == ["Output"]
    np.testing.assert_allclose(muted(x), np.tanh(f32(x)), rtol=1e-5, atol=1e-6)


def test_a_nested_graph_is_a_layer_with_several_ports():
    wa, wb = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))
    inner = NetGraph([LinearLayer(2, Weights=wa, Biases=[0, 0]), LinearLayer(4, Weights=wb, Biases=[0] * 4)],
                     [(NetPort("a"), 1), (NetPort("b"), 2)])
    outer = NetGraph({"pre": Ramp, "pre2": Tanh, "inner": inner},
                     [(["pre", "pre2"], "inner"), (NetPort("inner", "Output1"), NetPort("y"))], Input=3)
    assert Information(outer, "InputPorts") == {"Input": 3}
    assert Information(outer, "OutputPorts") == {"y": 2, "Output2": 4}
    assert Information(NetExtract(outer, "inner"), "InputPorts") == {"a": 3, "b": 3}  # inferred inward
    assert Information(outer, "ArraysPositionList")[0] == ("inner", 1, "Weights")
    x = RNG.standard_normal((5, 3))
    out = outer(x)
    np.testing.assert_allclose(out["y"], relu(f32(x)) @ f32(wa).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["Output2"], np.tanh(f32(x)) @ f32(wb).T, rtol=1e-5, atol=1e-5)
    assert outer._layers_graph() == {"pre": ["inner"], "pre2": ["inner"], "inner": []}
    with pytest.raises(NetSpecificationError, match=r"layer 'inner' \(NetGraph\) has 2 input ports \('a', 'b'\); "
                                                    r"say which with NetPort\('inner', 'a'\)"):
        NetGraph({"pre": Ramp, "inner": inner}, [("pre", "inner")])
    module = outer.to_torch()
    result = module(torch.tensor(x, dtype=torch.float32))
    (result["y"].sum() + result["Output2"].sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


# -- shape inference ---------------------------------------------------------------------------------
def test_dims_flow_forward():
    graph = NetGraph([LinearLayer(3), Ramp, LinearLayer(2)], [(1, 2, 3)], Input=4)
    assert NetExtract(graph, [2, "Input"]) == 3 and NetExtract(graph, [3, "Input"]) == 3
    assert NetExtract(graph, "Output") == 2
    assert Information(graph, "ArraysDimensions") == {
        (1, "Weights"): (3, 4), (1, "Biases"): (3,), (3, "Weights"): (2, 3), (3, "Biases"): (2,)}


def test_dims_flow_backward():
    graph = NetGraph([LinearLayer(), Ramp, LinearLayer(2, Input=5)], [(1, 2, 3)])
    assert NetExtract(graph, [1, "Output"]) == 5 and NetExtract(graph, [2, "Input"]) == 5
    assert NetExtract(graph, "Input") is Automatic
    from_option = NetGraph([LinearLayer(), Ramp], [(1, 2)], Output=6)
    assert NetExtract(from_option, [1, "Output"]) == 6
    # Through a shared graph input: "b" fixes x, and x fixes "a".
    shared = NetGraph({"a": Ramp, "b": LinearLayer(2, Input=3)}, [(NetPort("x"), "a"), (NetPort("x"), "b")])
    assert Information(shared, "InputPorts") == {"x": 3}
    assert Information(shared, "OutputPorts") == {"Output1": 3, "Output2": 2}
    assert NetExtract(shared, ["a", "Input"]) == 3


def test_unknown_dims_are_inferred_from_the_data():
    graph = NetGraph([ParametricRampLayer([], Slope=0.5), Tanh], [])
    out = graph([[-2.0, 4.0]])
    assert out["Output1"].tolist() == [[-1.0, 4.0]]
    np.testing.assert_allclose(out["Output2"], np.tanh([[-2.0, 4.0]]), rtol=1e-6)


# -- errors ---------------------------------------------------------------------------------------------
ERRORS = [
    ("incompatible shapes", lambda: NetGraph([LinearLayer(3), LinearLayer(2, Input=4)], [(1, 2)]),
     NetShapeError,
     r'^NetGraph: layer 1 \(LinearLayer \(output a length-3 vector\)\) port "Output" gives a length-3 '
     r'vector, but layer 2 \(LinearLayer \(output a length-2 vector\)\) port "Input" needs a length-4 vector\.$'),
    ("shape against an option", lambda: NetGraph([LinearLayer(3), Ramp], [(1, 2)], Output=5),
     NetShapeError,
     r'port "Output" gives a length-3 vector, but graph output "Output" \(given by the option Output=5\) '
     r"is a length-5 vector"),
    ("a shared input meets two sizes",
     lambda: NetGraph([LinearLayer(3, Input=2), LinearLayer(4, Input=5)], []), NetShapeError,
     r'graph input "Input" \(set by layer 1 \(LinearLayer \(output a length-3 vector\)\) port "Input"\) '
     r'is a length-2 vector, but layer 2 .* port "Input" needs a length-5 vector'),
    ("cycle", lambda: NetGraph([LinearLayer(3), Ramp, Tanh], [(1, 2), (2, 3), (3, 1)]),
     NetSpecificationError,
     r"^NetGraph: the connections form a cycle: layer 1 \(LinearLayer \(output a length-3 vector\)\) -> "
     r"layer 2 \(ElementwiseLayer \(Ramp\)\) -> layer 3 \(ElementwiseLayer \(Tanh\)\) -> layer 1 .*acyclic"),
    ("cycle among named layers", lambda: NetGraph({"a": Ramp, "b": Tanh, "c": Ramp},
                                                  [(NetPort("x"), "a"), ("b", "c"), ("c", "b")]),
     NetSpecificationError, r"cycle: layer 'b' \(ElementwiseLayer \(Tanh\)\) -> layer 'c' .* -> layer 'b'"),
    ("self loop", lambda: NetGraph([Ramp], [(1, 1)]), NetSpecificationError,
     r"cycle: layer 1 \(ElementwiseLayer \(Ramp\)\) -> layer 1 \(ElementwiseLayer \(Ramp\)\)\."),
    ("unknown layer name", lambda: NetGraph({"dense": LinearLayer(3), "relu": Ramp}, [("dense", "rleu")]),
     NetSpecificationError,
     r"in the connection \('dense', 'rleu'\), there is no layer named 'rleu'\. Did you mean relu\? "
     r"The layers are: 'dense', 'relu'\. For a port of the whole graph, write NetPort\('rleu'\)\."),
    ("layer number too large", lambda: NetGraph([LinearLayer(3), Ramp], [(1, 5)]), NetSpecificationError,
     r"in the connection \(1, 5\), there is no layer 5: the layers are numbered 1 to 2"),
    ("a float is no layer", lambda: NetGraph([LinearLayer(3), Ramp], [(1, 2.0)]), NetSpecificationError,
     r"2\.0 is not a layer or a port"),
    ("unknown port", lambda: NetGraph([LinearLayer(3), Ramp], [(NetPort(1, "Outptu"), 2)]),
     NetSpecificationError, r'layer 1 .* has no output port "Outptu"\. Did you mean Output\?'),
    ("connection from an input port", lambda: NetGraph([LinearLayer(3), Ramp], [(NetPort(1, "Input"), 2)]),
     NetSpecificationError, r'port "Input" of layer 1 .* is an input port, so a connection cannot start there'),
    ("input fed twice", lambda: NetGraph([LinearLayer(3), Ramp, Tanh], [(1, 3), (2, 3)]),
     NetSpecificationError,
     r'layer 3 \(ElementwiseLayer \(Tanh\)\) port "Input" is fed twice, by layer 1 .* port "Output" and '
     r'by layer 2 .* port "Output"; each input port of a layer takes exactly one connection'),
    ("graph output fed twice", lambda: NetGraph([Ramp, Tanh], [(1, NetPort("y")), (2, NetPort("y"))]),
     NetSpecificationError, r'graph output "y" is fed twice'),
    ("port both input and output", lambda: NetGraph([Ramp, Tanh], [(NetPort("x"), 1), (2, NetPort("x"))]),
     NetSpecificationError, r'"x" would be both an input and an output port of the graph'),
    ("dangling output clashes with a named one",
     lambda: NetGraph([Ramp, Tanh], [(1, NetPort("Output"))]), NetSpecificationError,
     r'the unconnected port "Output" of layer 2 .* would become the graph output "Output"'),
    ("unknown option", lambda: NetGraph([Ramp], [], Inptu=3), NetOptionError,
     r"unknown option or port Inptu\. Did you mean Input\? The graph's ports are Input, Output"),
    ("edge as a list", lambda: NetGraph([Ramp, Tanh], [[1, 2]]), NetSpecificationError,
     r"the connection \[1, 2\] should be a tuple \(source, destination\)"),
    ("one bare edge", lambda: NetGraph([Ramp, Tanh], (1, 2)), NetSpecificationError,
     r"the connections should be a list of tuples"),
    ("too many sources", lambda: NetGraph([Ramp, Tanh, Ramp], [([1, 2], 3)]), NetSpecificationError,
     r"2 sources are listed for layer 3 \(ElementwiseLayer \(Ramp\)\), which has 1 input port"),
    ("list in the middle of a chain", lambda: NetGraph([Ramp, Tanh, Ramp], [(1, [2, 3])]),
     NetSpecificationError, r"only the first element may be a list"),
    ("muting a graph input", lambda: NetGraph([Ramp], [(NetPort("x"), None)]), NetSpecificationError,
     r"only a layer's output can be muted"),
    ("decoder on an input", lambda: NetGraph([Ramp], [], Input=NetDecoder("Boolean")),
     NetSpecificationError, r'"Input" is an input port, so it takes a NetEncoder'),
    ("no layers", lambda: NetGraph([], []), NetSpecificationError, r"needs at least one layer"),
    ("empty name", lambda: NetGraph({"": Ramp}), NetSpecificationError, r"a layer name cannot be empty"),
    ("not a layer", lambda: NetGraph(["relu"], []), NetSpecificationError, r"layer 1: 'relu' is not a layer"),
    ("NetPort without a port", lambda: NetPort(1), NetSpecificationError, r"NetPort: the specification 1"),
    ("nested NetPort", lambda: NetPort([1, 2, "Output"]), NetSpecificationError, r"nested positions"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -- the verbs ---------------------------------------------------------------------------------------------
def test_extract_replace_information_normal():
    graph = branches()
    head = NetExtract(graph, "head")
    assert head == LinearLayer(2, Weights=W2, Biases=B2, Input=3) and NetExtract(graph, 2) is head
    np.testing.assert_array_equal(NetExtract(graph, ["trunk", "Weights"]), f32(W1).astype(np.float32))
    np.testing.assert_array_equal(NetExtract(graph, [-1, "Slope"]), SLOPE.astype(np.float32))
    assert NetExtract(graph, "Input") == 4 and NetExtract(graph, "Output2") == 3
    assert list(NetExtract(graph, All)) == ["trunk", "head", "act"] and list(Normal(graph)) == ["trunk", "head", "act"]

    w_new = RNG.standard_normal((3, 4))
    replaced = NetReplacePart(graph, ["trunk", "Weights"], w_new)
    hidden = dense(f32(X), w_new, B1)
    np.testing.assert_allclose(replaced(X)["Output2"], prelu(hidden, f32(SLOPE)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(NetExtract(graph, ["trunk", "Weights"]), f32(W1).astype(np.float32))

    swapped = NetReplacePart(graph, "act", Tanh)
    assert NetExtract(swapped, "act") == ElementwiseLayer(Tanh, Input=3)
    np.testing.assert_allclose(swapped(X)["Output2"], np.tanh(dense(f32(X), W1, B1)), rtol=1e-5, atol=1e-5)
    with pytest.raises(NetShapeError, match=r"graph input \"Input\" .* is a length-4 vector, but layer 'trunk'"):
        NetReplacePart(graph, "trunk", LinearLayer(3, Input=5))

    # A port given again is inferred afresh from the layers as given.
    free = NetGraph([LinearLayer(3), Ramp], [(1, 2)])
    assert NetExtract(NetReplacePart(NetReplacePart(free, "Input", 5), "Input", 2), [1, "Input"]) == 2

    assert Information(graph, "LayersCount") == 3
    assert Information(graph, "LayerTypeCounts") == {"LinearLayer": 2, "ParametricRampLayer": 1}
    assert list(Information(graph, "Layers")) == [("trunk",), ("head",), ("act",)]
    assert Information(graph, "ArraysTotalElementCount") == 12 + 3 + 6 + 2 + 3
    assert "output port 'Output2'" in str(Information(graph))


def test_nested_chain_positions():
    graph = NetInitialize(NetGraph([[LinearLayer(3), Ramp], LinearLayer(2)], [(1, 2)], Input=4))
    assert Information(graph, "ArraysPositionList")[:2] == [(1, 1, "Weights"), (1, 1, "Biases")]
    w = NetExtract(graph, [1, 1, "Weights"])
    state = graph.to_torch().state_dict()
    np.testing.assert_array_equal(state["1.1.Weights"].numpy(), w)
    inner = NetExtract(graph, [1, 1])
    expected = dense(relu(dense(f32(X), w, NetExtract(inner, "Biases"))),
                     NetExtract(graph, [2, "Weights"]), NetExtract(graph, [2, "Biases"]))
    np.testing.assert_allclose(graph(X), expected, rtol=1e-5, atol=1e-5)


def test_converting_a_chain_keeps_its_coders():
    chain = NetInitialize(NetChain([LinearLayer(3), LogisticSigmoid, LinearLayer([]), LogisticSigmoid],
                                   Input=2, Output="Boolean"))
    graph = NetGraph(chain)
    data = RNG.standard_normal((5, 2))
    assert graph(data) == chain(data)
    np.testing.assert_array_equal(graph(data, None), chain(data, None))
    assert NetExtract(graph, "Output") == NetDecoder("Boolean")
    boolean_in = NetGraph([Ramp], [], Input="Boolean", Output="Real")
    assert NetExtract(boolean_in, "Input") == NetEncoder("Boolean")
    assert boolean_in([True, False]).tolist() == [1.0, 0.0]
    assert NetExtract(NetGraph(Ramp), 1) == ElementwiseLayer(Ramp)


# -- torch ---------------------------------------------------------------------------------------------------
def test_to_torch_gradients_reach_every_array():
    module = NetInitialize(branches()).to_torch()
    assert isinstance(module, Graph)
    x = torch.tensor(X, dtype=torch.float32)
    out = module(x)
    (out["Output1"].sum() + (out["Output2"] ** 2).sum()).backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    assert list(grads) == ["trunk.Weights", "trunk.Biases", "head.Weights", "head.Biases", "act.Slope"]
    for name, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, name
    # The trunk's gradient collects both branches: compare with torch written by hand.
    w1 = torch.tensor(W1, dtype=torch.float32, requires_grad=True)
    h = x @ w1.T + torch.tensor(B1, dtype=torch.float32)
    y1 = h @ torch.tensor(W2, dtype=torch.float32).T
    s = torch.tensor(SLOPE, dtype=torch.float32)
    y2 = torch.where(h > 0, h, s * h)
    (y1.sum() + (y2 ** 2).sum()).backward()
    torch.testing.assert_close(grads["trunk.Weights"], w1.grad)


def test_to_torch_call_forms_and_frozen_arrays():
    graph = NetInitialize(NetGraph([LinearLayer(2), LinearLayer(1)], [(NetPort("a"), 1), (NetPort("b"), 2)],
                                   a=3, b=2, LearningRateMultipliers=0))
    module = graph.to_torch()
    assert all(not p.requires_grad for p in module.parameters())
    xa, xb = torch.randn(4, 3), torch.randn(4, 2)
    by_position, by_name, by_dict = module(xa, xb), module(a=xa, b=xb), module({"a": xa, "b": xb})
    for out in (by_name, by_dict):
        torch.testing.assert_close(out["Output1"], by_position["Output1"])
        torch.testing.assert_close(out["Output2"], by_position["Output2"])
    with pytest.raises(TypeError, match=r"missing the input 'b'"):
        module(xa)
    with pytest.raises(TypeError, match=r"'c' is not an input port"):
        module(a=xa, b=xb, c=xb)


# -- values: repr, pickle, NetPort ----------------------------------------------------------------------------
def test_repr_is_an_evaluable_constructor():
    graph = branches()
    text = repr(graph)
    assert text.startswith("NetGraph({'trunk': LinearLayer(3, Input=4, Weights=")
    assert "[('trunk', 'head'), ('trunk', 'act')], Input=4)" in text
    namespace = {"NetGraph": NetGraph, "NetPort": NetPort, "LinearLayer": LinearLayer,
                 "ParametricRampLayer": ParametricRampLayer, "NetDecoder": NetDecoder}
    again = eval(text, namespace)
    assert repr(again) == text
    np.testing.assert_array_equal(again(X)["Output2"], graph(X)["Output2"])
    ported = NetGraph([Ramp, Tanh], [(NetPort("x"), 1), (NetPort(1, "Output"), NetPort("y")), (1, 2)], x=3)
    assert repr(ported) == ("NetGraph([ElementwiseLayer(Ramp, Input=3), ElementwiseLayer(Tanh, Input=3)], "
                            "[(NetPort('x'), 1), (1, NetPort('y')), (1, 2)], x=3)")
    assert "Input: dims unknown" in repr(NetGraph([Ramp], []))


def test_pickle_and_netport_values():
    graph = NetInitialize(branches())
    again = pickle.loads(pickle.dumps(graph))
    assert repr(again) == repr(graph)
    np.testing.assert_array_equal(again(X)["Output1"], graph(X)["Output1"])
    assert NetPort(2, "Output") == NetPort((2, "Output")) and NetPort("x") != NetPort(1, "x")
    assert len({NetPort("x"), NetPort("x")}) == 1
    assert pickle.loads(pickle.dumps(NetPort("n", "Output"))) == NetPort("n", "Output")
    with pytest.raises(AttributeError, match="immutable"):
        NetPort("x").port = "y"
    with pytest.raises(AttributeError, match="immutable"):
        graph._params = {}


def test_nettrain_trains_a_graph_like_a_chain():
    import numpy as np

    from wlnet import LinearLayer, NetChain, NetExtract, NetGraph, NetTrain, ParametricRampLayer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 3))
    Y = X[:, :2]
    layers = [LinearLayer(4), ParametricRampLayer(), LinearLayer(2)]
    graph = NetGraph(layers, [(1, 2), (2, 3)], Input=3)
    chain = NetChain(layers, Input=3)
    a = NetTrain(graph, (X, Y), MaxTrainingRounds=5, RandomSeeding=3)
    b = NetTrain(chain, (X, Y), MaxTrainingRounds=5, RandomSeeding=3)
    for position in ([1, "Weights"], [2, "Slope"], [3, "Biases"]):
        np.testing.assert_array_equal(NetExtract(a, position), NetExtract(b, position))
