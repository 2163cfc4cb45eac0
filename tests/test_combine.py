"""TotalLayer and CatenateLayer: values, InputPorts, shape inference both ways, NetGraph wiring of
several inputs (Wolfram's ``{a, b} -> total``), errors, the torch modules, from_torch and ONNX."""

import numpy as np
import pytest
import torch

from wlnet import (
    Automatic,
    CatenateLayer,
    ExportByteArray,
    ImportByteArray,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetPort,
    NetPortGradient,
    NetReplacePart,
    ParametricRampLayer,
    Tanh,
    TotalLayer,
    from_torch,
)
from wlnet.errors import NetDataError, NetShapeError, NetSpecificationError
from wlnet.layers.combine import Catenate, Total

RNG = np.random.default_rng(20)


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- values ---------------------------------------------------------------------------------------------
def test_total_adds_a_list_a_dict_and_batches():
    a, b, c = normal(4, 2, 3), normal(4, 2, 3), normal(4, 2, 3)
    np.testing.assert_allclose(TotalLayer()([a, b]), a + b, rtol=1e-6)
    np.testing.assert_allclose(TotalLayer()([a, b, c]), a + b + c, rtol=1e-6)
    np.testing.assert_allclose(TotalLayer()({"Input1": a[0], "Input2": b[0]}), a[0] + b[0], rtol=1e-6)
    named = TotalLayer(InputPorts={"x": (2, 3), "y": (2, 3)})
    np.testing.assert_allclose(named({"x": a, "y": b}), a + b, rtol=1e-6)
    np.testing.assert_allclose(named([a, b]), a + b, rtol=1e-6)  # a list feeds the ports in order
    assert TotalLayer()([[1, 2], [10, 20]]).tolist() == [11.0, 22.0]  # Wolfram's layer[{in1, in2}]


@pytest.mark.parametrize(("level", "dims", "axis"), [
    (1, [(2, 3), (4, 3)], 0), (2, [(2, 3), (2, 4)], 1), (-1, [(2, 3), (2, 1), (2, 2)], -1), (-2, [(1, 3), (2, 3)], -2),
])
def test_catenate_equals_numpy_at_each_level(level, dims, axis):
    xs = [normal(5, *d) for d in dims]
    layer = CatenateLayer(level, InputPorts=dims)
    np.testing.assert_array_equal(layer(xs), np.concatenate(xs, axis=axis + 1 if axis >= 0 else axis))
    # Wolfram's layer[{x1, x2}]: one example of each input (the ranks taken from the data).
    np.testing.assert_array_equal(CatenateLayer(level)([x[0] for x in xs]), np.concatenate([x[0] for x in xs], axis))


def test_catenate_replicates_lower_rank_inputs():
    """Wolfram's examples (spec 8.2): {2, 3} with {4} at level 1 gives {2, 7}, the vector repeated on each
    row; the level counts on the input of lowest rank."""
    m, v = normal(2, 3), normal(4)
    out = CatenateLayer()([m, v])
    np.testing.assert_array_equal(out, np.concatenate([m, np.stack([v, v])], axis=1))
    layer = CatenateLayer(InputPorts=[(2, 3), 4])
    assert Information(layer, "OutputPorts") == {"Output": (2, 7)}
    assert Information(CatenateLayer(InputPorts=[3, 3]), "OutputPorts") == {"Output": 6}
    assert Information(CatenateLayer(InputPorts=[(2, 3), (2, 3)]), "OutputPorts") == {"Output": (4, 3)}
    assert Information(CatenateLayer(2, InputPorts=[(2, 3), (2, 3)]), "OutputPorts") == {"Output": (2, 6)}
    varying = CatenateLayer(InputPorts=[("Varying", 3), 2])
    assert Information(varying, "OutputPorts") == {"Output": ("Varying", 5)}
    seq, w = normal(3, 6, 3), normal(3, 2)  # a batch of 3 sequences of length 6
    np.testing.assert_array_equal(varying([seq, w]), np.concatenate([seq, np.repeat(w[:, None], 6, 1)], axis=2))
    # Three ranks: the level counts on the vector, the matrix is repeated over the array's first dim.
    a, b, c = normal(2, 2, 3), normal(2, 3), normal(5)
    want = np.concatenate([a, np.stack([b, b]), np.broadcast_to(c, (2, 2, 5))], axis=2)
    np.testing.assert_array_equal(CatenateLayer()([a, b, c]), want)


def test_integer_inputs_are_computed_as_floats():
    total = Total(("Input1", "Input2"))
    out = total(torch.tensor([[True, False]]), torch.tensor([[True, True]]))
    assert out.dtype == torch.float32 and out.tolist() == [[2.0, 1.0]]
    cat = Catenate(1)(torch.tensor([[1, 2]]), torch.tensor([[0.5]], dtype=torch.float64))
    assert cat.dtype == torch.float64 and cat.tolist() == [[1.0, 2.0, 0.5]]


# -- InputPorts and shapes ---------------------------------------------------------------------------------
def test_input_ports_forms_and_repr():
    assert Information(TotalLayer(), "InputPorts") == {}  # Automatic: not fixed yet
    assert TotalLayer(InputPorts=2)._input_names == ("Input1", "Input2")
    assert Information(TotalLayer(InputPorts=["a", "b"]), "InputPorts") == {"a": Automatic, "b": Automatic}
    assert Information(CatenateLayer(InputPorts=[(2, 3), (2, 3)]), "InputPorts") == {"Input1": (2, 3), "Input2": (2, 3)}
    assert Information(TotalLayer(InputPorts={"a": "Real", "b": Automatic}), "InputPorts") == {"a": "Real", "b": "Real"}
    for layer, text in [
        (TotalLayer(), "TotalLayer()"),
        (TotalLayer(InputPorts=3), "TotalLayer(InputPorts=3)"),
        (TotalLayer(InputPorts=3, Output=2), "TotalLayer(InputPorts=[2, 2, 2])"),
        (TotalLayer(Output=(2, 3)), "TotalLayer(Output=(2, 3))"),
        (TotalLayer(InputPorts={"a": 3, "b": 3}), "TotalLayer(InputPorts={'a': 3, 'b': 3})"),
        (CatenateLayer(2, InputPorts=["x", "y"]), "CatenateLayer(2, InputPorts=['x', 'y'])"),
        (CatenateLayer(InputPorts=[(2, Automatic), 4], Output=(2, 9)), "CatenateLayer(InputPorts=[(2, 5), 4])"),
        (CatenateLayer(-1, Output=(2, 9)), "CatenateLayer(-1, Output=(2, 9))"),
    ]:
        assert repr(layer).split("  #")[0] == text
        assert eval(text, {"TotalLayer": TotalLayer, "CatenateLayer": CatenateLayer, "Automatic": Automatic}) == layer
        assert ImportByteArray(ExportByteArray(layer)) == layer
    assert TotalLayer() != TotalLayer(InputPorts=2)  # one is not fixed yet


def test_total_dims_flow_both_ways():
    assert Information(TotalLayer(InputPorts=[3, Automatic]), "InputPorts") == {"Input1": 3, "Input2": 3}
    assert Information(TotalLayer(InputPorts=2, Output=(2, 4)), "InputPorts") == {"Input1": (2, 4), "Input2": (2, 4)}
    # In a graph: the sum's other summand gives the graph's input its dims (LinearLayer(3) -> 3).
    graph = NetGraph({"lin": LinearLayer(3), "add": TotalLayer()},
                     [(NetPort("x"), "lin"), (("lin", NetPort("x")), "add")])
    assert Information(graph, "InputPorts") == {"x": 3}
    assert NetExtract(graph, "add") == TotalLayer(InputPorts=[3, 3])


def test_catenate_dims_flow_both_ways():
    layer = CatenateLayer(InputPorts=[(2, 3), Automatic], Output=(5, 3))
    assert Information(layer, "InputPorts") == {"Input1": (2, 3), "Input2": Automatic}  # its rank is not known
    layer = CatenateLayer(InputPorts=[(2, 3), (Automatic, Automatic)], Output=(5, 3))
    assert Information(layer, "InputPorts") == {"Input1": (2, 3), "Input2": (3, 3)}
    graph = NetGraph({"a": LinearLayer(3), "cat": CatenateLayer(), "out": LinearLayer(2)},
                     [(NetPort("x"), "a"), (("a", NetPort("y")), "cat", "out")], x=4, Output=2)
    assert Information(graph, "InputPorts") == {"x": 4, "y": Automatic}
    # A vector y (its rank given, its size not) is what the Output given leaves: 7 - 3.
    fixed = NetGraph({"a": LinearLayer(3), "cat": CatenateLayer(Output=7), "out": LinearLayer(2)},
                     [(NetPort("x"), "a"), (("a", NetPort("y")), "cat", "out")], x=4, y=(Automatic,))
    assert Information(fixed, "InputPorts") == {"x": 4, "y": 4}


# -- NetGraph wiring -------------------------------------------------------------------------------------
def residual_graph(edges):
    return NetGraph({"lin": LinearLayer(3), "ramp": ParametricRampLayer(), "add": TotalLayer()}, edges, Input=3)


def test_every_way_of_wiring_the_residual_block_is_the_same_graph():
    chain = (NetPort("Input"), "lin", "ramp")
    forms = [
        [chain, (("ramp", NetPort("Input")), "add")],  # Wolfram's {ramp, NetPort["Input"]} -> add
        [chain, (["ramp", NetPort("Input")], "add")],
        [chain, ("ramp", "add"), (NetPort("Input"), "add")],  # separate connections, in order
        [chain, ("ramp", NetPort("add", "Input1")), (NetPort("Input"), NetPort("add", "Input2"))],
        [(NetPort("Input"), "lin", "ramp", NetPort("add", "Input2"))],  # "Input1" left unfed
    ]
    graphs = [residual_graph(edges) for edges in forms]
    assert all(NetExtract(g, "add") == TotalLayer(InputPorts=[3, 3]) for g in graphs)
    assert graphs[0] == graphs[1] == graphs[2] == graphs[3]
    assert Information(graphs[4], "InputPorts") == {"Input": 3, "Input1": 3}  # the unfed port: a graph input
    assert Information(graphs[4], "LayersGraph") == Information(graphs[0], "LayersGraph")
    # An Automatic layer has as many ports as the highest one fed: "Input1" alone makes one.
    one = residual_graph([(NetPort("Input"), "lin", "ramp", NetPort("add", "Input1"))])
    assert NetExtract(one, "add") == TotalLayer(InputPorts=[3])


def test_the_residual_block_computes_input_plus_ramp_of_linear():
    net = NetInitialize(residual_graph([(NetPort("Input"), "lin", "ramp"), (("ramp", NetPort("Input")), "add")]))
    w, b = NetExtract(net, ["lin", "Weights"]), NetExtract(net, ["lin", "Biases"])
    slope = torch.tensor([0.5, -0.25, 2.0])
    net = NetReplacePart(net, ["ramp", "Slope"], slope.numpy())
    x = normal(6, 3)
    hidden = torch.tensor(x) @ torch.tensor(w).T + torch.tensor(b)
    want = torch.tensor(x) + torch.nn.functional.prelu(hidden, slope)
    torch.testing.assert_close(torch.tensor(net(x)), want)
    torch.testing.assert_close(net.to_torch()(torch.tensor(x)), want)
    # d(sum of outputs)/d(input) = 1 + W^T (prelu'(h)), by autograd on the hand computation
    xt = torch.tensor(x, requires_grad=True)
    (xt + torch.nn.functional.prelu(xt @ torch.tensor(w).T + torch.tensor(b), slope)).sum().backward()
    np.testing.assert_allclose(net(x, NetPortGradient("Input")), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_graph_of_three_summands_and_of_named_ports():
    graph = NetGraph({"a": LinearLayer(2), "b": Tanh, "sum": TotalLayer()},
                     [(NetPort("x"), "a"), (NetPort("y"), "b"), (("a", "b", NetPort("z")), "sum")], x=3, y=2)
    assert NetExtract(graph, "sum") == TotalLayer(InputPorts=[2, 2, 2])
    assert Information(graph, "InputPorts") == {"x": 3, "y": 2, "z": 2}
    named = NetGraph({"t": TotalLayer(InputPorts=["p", "q"]), "out": LinearLayer(1)},
                     [(NetPort("u"), NetPort("t", "q")), (NetPort("v"), NetPort("t", "p")), ("t", "out")], u=2)
    assert Information(named, "InputPorts") == {"u": 2, "v": 2}
    catenated = NetGraph([CatenateLayer()], [((NetPort("In1"), NetPort("In2")), 1)], In1=2, In2=3)  # the docs' example
    assert catenated({"In1": [1, 2], "In2": [3, 4, 5]}).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_verbs_on_a_graph_with_a_total():
    net = NetInitialize(residual_graph([(NetPort("Input"), "lin", "ramp"), (("ramp", NetPort("Input")), "add")]))
    again = ImportByteArray(ExportByteArray(net))
    assert again == net and repr(again) == repr(net)
    assert Information(net, "LayerTypeCounts") == {"LinearLayer": 1, "ParametricRampLayer": 1, "TotalLayer": 1}
    assert NetExtract(net, ["add", "Input2"]) == 3 and NetExtract(net, ["add", "Output"]) == 3
    assert "TotalLayer" in net._repr_html_()
    assert Information(net, "SummaryGraphic") is not None
    swapped = NetReplacePart(net, "add", CatenateLayer())  # the same wiring, now catenating
    assert Information(swapped, "OutputPorts") == {"Output": 6}


# -- errors ----------------------------------------------------------------------------------------------
ERRORS = [
    ("total dims", lambda: TotalLayer(InputPorts=[3, 4]), NetShapeError,
     r'TotalLayer: port "Input2" is a length-4 vector, but port "Input1" is a length-3 vector; the inputs and the '
     r"output of TotalLayer all have the same dims"),
    ("total output", lambda: TotalLayer(InputPorts=[(2, 3), (2, 3)], Output=6), NetShapeError,
     r'port "Output" is a length-6 vector, but port "Input1" is a 2×3 matrix'),
    ("total in a graph", lambda: NetGraph({"a": LinearLayer(3), "b": LinearLayer(2), "add": TotalLayer()},
                                          [(NetPort("x"), "a"), (NetPort("x"), "b"), (("a", "b"), "add")]),
     NetShapeError, r"NetGraph: layer 'b' .* gives a length-2 vector, but layer 'add' \(TotalLayer\) port \"Input2\" "
                    r"needs a length-3 vector"),
    ("catenate off-level", lambda: CatenateLayer(InputPorts=[(2, 3), (2, 4)]), NetShapeError,
     r'CatenateLayer: port "Input2" is a 2×4 matrix, but port "Input1" is a 2×3 matrix; off the catenated level the '
     r'dims must agree \(they differ at level 2 of "Input2"\)'),
    ("catenate varying level", lambda: CatenateLayer(InputPorts=[("Varying", 3), ("Varying", 3)]), NetShapeError,
     r'port "Input1" is a sequence of length-3 vectors, whose catenated level is "Varying".*cannot be catenated'),
    ("catenate level too deep", lambda: CatenateLayer(3, InputPorts=[(2, 3, 4), (2, 3)]), NetShapeError,
     r'CatenateLayer \(level 3\): port "Input2" is a 2×3 matrix \(rank 2\), which has no level 3'),
    ("catenate output size", lambda: CatenateLayer(InputPorts=[2, 3], Output=6), NetShapeError,
     r'port "Output" has size 6 at the catenated level, but the inputs have sizes Input1: 2, Input2: 3'),
    ("catenate level 0", lambda: CatenateLayer(0), NetSpecificationError, r"the level should be a nonzero integer"),
    ("zero ports", lambda: TotalLayer(InputPorts=0), NetSpecificationError, r"positive number of ports"),
    ("names and shapes", lambda: TotalLayer(InputPorts=["a", 3]), NetSpecificationError, r"mixes names and shapes"),
    ("duplicate names", lambda: TotalLayer(InputPorts=["a", "a"]), NetSpecificationError, r"are not distinct"),
    ("Output as a name", lambda: TotalLayer(InputPorts=["Output", "a"]), NetSpecificationError, r"is the output port"),
    ("unknown option", lambda: TotalLayer(Inputs=2), Exception, r"unknown option Inputs"),
    ("too many sources", lambda: NetGraph({"t": TotalLayer(InputPorts=2)}, [((NetPort("a"), NetPort("b"), NetPort("c")),
                                                                            "t")]),
     NetSpecificationError, r"layer 't' \(TotalLayer\) is given its source number 3, but it has 2 input ports"),
    ("not fed", lambda: NetGraph({"a": LinearLayer(2), "t": TotalLayer()}, [(NetPort("x"), "a")]),
     NetSpecificationError, r"no connection feeds layer 't' \(TotalLayer\), whose number of input ports"),
    ("named port of an Automatic layer", lambda: NetGraph({"t": TotalLayer()}, [(NetPort("x"), NetPort("t", "a"))]),
     NetSpecificationError, r'has no input port "a": with InputPorts Automatic its ports are "Input1"'),
    ("in a chain", lambda: NetChain([LinearLayer(2), TotalLayer()]), NetSpecificationError,
     r"NetChain: layer 2 \(TotalLayer\) has no input port yet, but a NetChain feeds each layer"),
    ("list too long", lambda: TotalLayer(InputPorts=2)([[1.0], [2.0], [3.0]]), NetDataError,
     r"the layer has 2 input ports \('Input1', 'Input2'\), but the list gives 3 arrays"),
    ("one array for an Automatic layer", lambda: TotalLayer()(np.ones(3)), NetDataError,
     r"the number of input ports is not fixed yet \(InputPorts Automatic\), so the data should be a list"),
    ("data of different dims", lambda: TotalLayer()([np.ones(3), np.ones(4)]), NetShapeError, r"length-4 vector"),
    ("module inputs", lambda: Total(("Input1", "Input2"))(torch.ones(1, 2)), TypeError,
     r"TotalLayer: forward takes 2 inputs \(Input1, Input2\) \(one tensor per input port\), but 1 were given"),
    ("from_torch Input", lambda: from_torch(Total(("Input1", "Input2")), Input=3), NetSpecificationError,
     r"Input=3 gives the dims of one input port, but the converted net \(TotalLayer\) has the input ports"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -- torch -----------------------------------------------------------------------------------------------
def test_modules_and_from_torch():
    layer = CatenateLayer(2, InputPorts=[(2, 3), (2, 4)])
    module = layer.to_torch()
    assert isinstance(module, Catenate) and not module.state_dict()
    assert from_torch(module) == CatenateLayer(2, InputPorts=2)
    assert from_torch(TotalLayer(InputPorts=["a", "b"]).to_torch()) == TotalLayer(InputPorts=["a", "b"])
    assert from_torch(TotalLayer().to_torch()) == TotalLayer()
    # A port named like a shape ("Real") stays a name: the ports come back as a dict.
    real = TotalLayer(InputPorts={"Real": Automatic, "b": Automatic})
    assert from_torch(real.to_torch()) == real
    xs = [torch.randn(5, 2, 3, requires_grad=True), torch.randn(5, 2, 4, requires_grad=True)]
    module(*xs).sum().backward()
    assert all(torch.equal(x.grad, torch.ones_like(x)) for x in xs)


# -- ONNX ------------------------------------------------------------------------------------------------
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from wlnet.onnx import import_onnx, onnx_model  # noqa: E402


def run(model, feeds: dict):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})[0]


def model_of(nodes, inputs, output_shape, opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def test_a_shortcut_graph_from_another_tool_imports_as_a_total():
    """x -> Relu -> Add(x, relu): the residual sum of a ResNet, as PyTorch's exporters write it."""
    model = model_of([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                      helper.make_node("Add", ["x", "r"], ["y"], name="add")], [("x", ["N", 3])], ["N", 3])
    net = import_onnx(model)
    assert isinstance(net, NetGraph) and NetExtract(net, "add") == TotalLayer(InputPorts=[3, 3])
    x = normal(4, 3)
    np.testing.assert_allclose(net(x), x + np.maximum(x, 0))
    cat = model_of([helper.make_node("Tanh", ["a"], ["t"], name="tanh"),
                    helper.make_node("Concat", ["t", "b"], ["y"], name="cat", axis=-1)],
                   [("a", ["N", 2, 3]), ("b", ["N", 2, 1])], ["N", 2, 4])
    net = import_onnx(cat)
    assert NetExtract(net, "cat") == CatenateLayer(-1, InputPorts=[(2, 3), (2, 1)])
    a, b = normal(4, 2, 3), normal(4, 2, 1)
    np.testing.assert_allclose(net({"a": a, "b": b}), np.concatenate([np.tanh(a), b], -1), rtol=1e-6)


@pytest.mark.parametrize(("nodes", "inputs", "pattern"), [
    ([helper.make_node("Add", ["x", "c"], ["y"], name="bias")], [("x", ["N", 3])], r'input "c" is a constant'),
    ([helper.make_node("Add", ["x", "z"], ["y"], name="bcast")], [("x", ["N", 3]), ("z", ["N", 1])],
     r"its inputs have different shapes \(\('\?', 3\), \('\?', 1\)\), which ONNX broadcasts"),
    ([helper.make_node("Concat", ["x", "z"], ["y"], name="batch", axis=0)], [("x", ["N", 3]), ("z", ["N", 3])],
     r"catenates along the batch axis"),
])
def test_import_refuses_what_the_layers_do_not_compute(nodes, inputs, pattern):
    constant = helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [3], [1, 2, 3]))
    with pytest.raises(NetSpecificationError, match=pattern):
        import_onnx(model_of([constant, *nodes], inputs, ["N", 3]))


@pytest.mark.parametrize("dims", [[(2, 3), 4], [("Varying", 3), 2], [(2, 2, 3), (2, 3), 5]],
                         ids=["static", "varying", "three-ranks"])
def test_replicating_catenate_exports_what_onnxruntime_computes(dims):
    layer = CatenateLayer(InputPorts=dims)
    shapes = [(5, *(6 if d == "Varying" else d for d in ((d,) if isinstance(d, int) else d))) for d in dims]
    feeds = {f"Input{i}": normal(*s) for i, s in enumerate(shapes, 1)}
    model = onnx_model(layer)
    np.testing.assert_allclose(run(model, feeds), layer(feeds), rtol=1e-6)
    assert import_onnx(model.SerializeToString()) == layer  # from the description it records
    older = onnx_model(layer, OperatorSetVersion=11)
    np.testing.assert_allclose(run(older, feeds), layer(feeds), rtol=1e-6)


def test_sum_of_three_and_negative_level_before_opset_11():
    total = TotalLayer(InputPorts=[3, 3, 3])
    feeds = {f"Input{i}": normal(4, 3) for i in (1, 2, 3)}
    model = onnx_model(total)
    assert [n.op_type for n in model.graph.node] == ["Sum"]
    np.testing.assert_allclose(run(model, feeds), total(feeds), rtol=1e-6)
    cat = CatenateLayer(-1, InputPorts=[(2, 3), (2, 1)])
    feeds = {"Input1": normal(4, 2, 3), "Input2": normal(4, 2, 1)}
    old = onnx_model(cat, OperatorSetVersion=9)
    assert [a.i for a in old.graph.node[0].attribute] == [2]
    np.testing.assert_allclose(run(old, feeds), cat(feeds), rtol=1e-6)
