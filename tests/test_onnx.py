"""ONNX export and import, checked against onnxruntime: every row of the contract table, every
level spec of PRelu (with the slope initializer's shape), LinearLayer's forms, every function,
models built with onnx.helper, ONNX's own PRelu test vectors, and the round trip."""

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cases import CASES, page_chain  # noqa: E402
from test_contract import module_batches, outputs_of  # noqa: E402
from wlnet import (  # noqa: E402
    All,
    ElementwiseLayer,
    Exp,
    FlattenLayer,
    Information,
    LinearLayer,
    NetChain,
    NetDecoder,
    NetGraph,
    NetInitialize,
    NetPort,
    NetReplacePart,
    ParametricRampLayer,
    ReshapeLayer,
    Span,
    Sqrt,
    Tanh,
)
from wlnet.errors import NetError, NetInitializationError, NetOptionError, NetShapeError, NetSpecificationError  # noqa: E402
from wlnet.functions import NAMED_FUNCTIONS  # noqa: E402
from wlnet.layers.base import Layer  # noqa: E402
from wlnet.onnx import export_onnx, import_onnx, onnx_model  # noqa: E402
from wlnet.onnx.common import DEFAULT_OPSET, require  # noqa: E402

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}
RNG = np.random.default_rng(7)


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, feeds: dict) -> dict:
    """The model's outputs on ``feeds`` (float32), by output name."""
    s = session(model)
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})))


def assert_same_as_runtime(net, data, model=None):
    """``net``'s raw outputs on ``data`` equal onnxruntime's on the exported model (or ``model``)."""
    model = model if model is not None else onnx_model(net)
    expected = outputs_of(net, net(data, None))
    ports = Information(net, "InputPortNames")
    s = session(model)
    names = [o.name for o in s.get_outputs()]
    assert names == list(expected)
    for indices, inputs in module_batches(net, data):
        got = dict(zip(names, s.run(names, {p: x.numpy() for p, x in zip(ports, inputs)})))
        for port, value in expected.items():
            want = np.stack([value[i] for i in indices]) if indices is not None else np.asarray(value)
            np.testing.assert_allclose(got[port], want, **TOLERANCE, err_msg=port)


def slope_of(model) -> tuple:
    (slope,) = [i for i in model.graph.initializer if i.name.endswith("Slope")]
    return tuple(slope.dims)


# -- export -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_contract_row_computes_what_onnxruntime_does(case):
    assert_same_as_runtime(case.net(), case.example())


LEVELS = [
    (1, (1, 2, 1, 1)), (2, (1, 1, 3, 1)), (-1, (1, 1, 1, 4)), (Span(1, 2), (1, 2, 3, 1)),
    (Span(2, All), (1, 1, 3, 4)), ([1, 3], (1, 2, 1, 4)), ([], (1, 1, 1, 1)),
]


@pytest.mark.parametrize(("levels", "shape"), LEVELS, ids=[repr(levels) for levels, _ in LEVELS])
def test_prelu_slope_sits_on_its_levels(levels, shape):
    dims = [d for d in shape[1:] if d != 1] if levels != [] else []
    slope = RNG.uniform(-2, 2, dims).astype(np.float32)  # distinct values: a misplaced slope shows
    net = ParametricRampLayer(levels, Slope=slope, Input=(2, 3, 4))
    model = onnx_model(net)
    assert slope_of(model) == shape
    assert_same_as_runtime(net, RNG.standard_normal((5, 2, 3, 4)), model)


def test_prelu_on_a_real_input_and_on_sequences_of_two_lengths():
    real = ParametricRampLayer([], Slope=0.3, Input="Real")
    model = onnx_model(real)
    assert slope_of(model) == (1,)
    assert_same_as_runtime(real, RNG.standard_normal(4), model)
    varying = ParametricRampLayer(2, Slope=[0.5, -0.25, 2.0], Input=("Varying", 3))
    model = onnx_model(varying)
    assert slope_of(model) == (1, 1, 3)
    x = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in x] == ["batch", "Input_length", 3]
    assert_same_as_runtime(varying, [RNG.standard_normal((n, 3)) for n in (2, 5, 2)], model)


@pytest.mark.parametrize("net", [
    LinearLayer(3, Weights=RNG.standard_normal((3, 2)), Biases=RNG.standard_normal(3), Input=2),
    LinearLayer((2, 2), Weights=RNG.standard_normal((4, 3)), Biases=RNG.standard_normal(4), Input=3),
    LinearLayer([], Weights=RNG.standard_normal((1, 6)), Biases=RNG.standard_normal(1), Input=(2, 3)),
    LinearLayer(2, Weights=RNG.standard_normal((2, 1)), Biases=RNG.standard_normal(2), Input="Real"),
    LinearLayer(2, Weights=RNG.standard_normal((2, 3)), Biases=None, Input=3),
], ids=["vector", "tuple", "real-output", "real-input", "no-biases"])
def test_linear_layer_forms(net):
    dims = Information(net, "InputPorts")["Input"]
    dims = () if dims == "Real" else (dims if isinstance(dims, tuple) else (dims,))
    model = onnx_model(net)
    assert_same_as_runtime(net, RNG.standard_normal((4, *dims)), model)
    assert ("Biases" in [i.name for i in model.graph.initializer]) == net._params["biases"]


FUNCTIONS = sorted({f.name for f in NAMED_FUNCTIONS.values()})


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_matches_torch(name):
    net = ElementwiseLayer(name, Input=(3, 4))
    x = RNG.standard_normal((2, 3, 4)) * 3
    if name in ("Log", "Sqrt"):
        x = np.abs(x) + 0.1
    assert_same_as_runtime(net, x)
    if name in ("GELU", "HardTanh"):  # the other form, for older opsets
        assert_same_as_runtime(net, x, onnx_model(net, OperatorSetVersion=10 if name == "HardTanh" else 17))


def test_a_traced_lambda_is_its_tree_of_nodes():
    net = ElementwiseLayer(lambda x: -(Sqrt(abs(x)) ** 1.5) / 3 + 2 * Tanh(x) - Exp(-x), Input=5)
    model = onnx_model(net)
    ops = {node.op_type for node in model.graph.node}
    assert {"Sqrt", "Abs", "Pow", "Neg", "Div", "Mul", "Add", "Sub", "Tanh", "Exp", "Constant"} <= ops
    assert not model.graph.initializer
    assert_same_as_runtime(net, RNG.standard_normal((3, 5)))


def test_the_page_chain_gives_raw_probabilities_and_keeps_its_decoder():
    net = NetInitialize(NetReplacePart(page_chain(), "Input", 3))
    model = onnx_model(net)
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == ["batch", 3]
    assert_same_as_runtime(net, RNG.standard_normal((4, 3)), model)
    back = import_onnx(model.SerializeToString())
    assert back._coder("Output") == NetDecoder("Boolean")
    x = RNG.standard_normal((4, 3))
    assert back(x) == net(x)


def test_ports_arrays_and_nodes_are_named_by_the_net():
    net = CASES[[c.id for c in CASES].index("graph-two-inputs")].net()
    model = onnx_model(net)
    assert [i.name for i in model.graph.input] == ["x", "y"]
    assert [o.name for o in model.graph.output] == ["Output1", "Output2"]
    assert [i.name for i in model.graph.initializer] == ["a.Weights", "a.Biases", "b.Slope", "sum.Weights",
                                                         "sum.Biases"]
    assert [n.name for n in model.graph.node] == ["a/Gemm", "b/PRelu", "sum/Gemm"]
    nested = CASES[[c.id for c in CASES].index("chain-of-graph")].net()
    assert [n.name for n in onnx_model(nested).graph.node] == ["1.a/Gemm", "1.b/Tanh", "2/PRelu", "3/Gemm"]
    for slot in onnx_model(nested).graph.initializer:  # bit for bit
        array = numpy_helper.to_array(slot)
        key = slot.name.split(".")
        value = NetInitialize(nested).to_torch().state_dict()[slot.name].numpy()
        assert array.reshape(value.shape).tobytes() == value.tobytes(), key


def test_export_writes_the_file_with_its_options(tmp_path):
    net = CASES[0].net()
    path = tmp_path / "net.onnx"
    assert export_onnx(path, net, Description="a ramp", GraphName="g", ModelVersion=3) == str(path)
    assert os.listdir(tmp_path) == ["net.onnx"]  # no temporary file left behind
    assert import_onnx(path, "Description") == "a ramp"
    assert import_onnx(path, "ModelVersion") == 3
    assert import_onnx(path, "ProducerName") == "wlnet"
    assert import_onnx(path, "OperatorSetVersion") == DEFAULT_OPSET == 17
    assert import_onnx(path, "ModelDomain") is None
    assert isinstance(import_onnx(path, "IRVersion"), int) and import_onnx(path, "ProducerVersion")
    assert onnx.load(str(path)).graph.name == "g"
    assert onnx_model(net).graph.name == "ParametricRampLayer"


# -- import -----------------------------------------------------------------------------------------
def make_model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs],
        initializer=[numpy_helper.from_array(v if np.asarray(v).dtype == np.int64 else np.asarray(v, np.float32),
                                             name=k) for k, v in initializers],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def assert_imports_as_runtime(model, feeds):
    net = import_onnx(model.SerializeToString())
    want = run(model, feeds)
    got = net(feeds if len(feeds) > 1 else next(iter(feeds.values())))
    got = got if isinstance(got, dict) else {next(iter(want)): got}
    for name, value in want.items():
        np.testing.assert_allclose(np.asarray(got[name]), value, **TOLERANCE, err_msg=name)
    return net


@pytest.mark.parametrize(("slope_shape", "levels"), [((3, 1, 1), [1]), ((5,), [3]), ((), []), ((1, 4, 5), [2, 3]),
                                                     ((1, 1, 1, 1), [])])
def test_import_prelu_slopes_become_levels(slope_shape, levels):
    slope = RNG.uniform(-1, 1, slope_shape)
    model = make_model([helper.make_node("PRelu", ["x", "s"], ["y"], name="p")],
                       [("x", ["N", 3, 4, 5])], [("y", ["N", 3, 4, 5])], [("s", slope)])
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((2, 3, 4, 5))})
    assert net._children()[0][1]._params["levels"] == (tuple(levels) if len(levels) != 1 else levels[0])


def test_import_leaky_relu_is_a_frozen_shared_slope():
    model = make_model([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.2)], [("x", ["N", 4])], [("y", ["N", 4])])
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((3, 4))})
    assert Information(net, "ArraysLearningRateMultipliers") == {(1, "Slope"): 0.0}


@pytest.mark.parametrize("trans_b", [0, 1])
def test_import_gemm_folds_alpha_and_beta(trans_b):
    b = RNG.standard_normal((2, 3) if trans_b else (3, 2))
    node = helper.make_node("Gemm", ["x", "b", "c"], ["y"], alpha=0.5, beta=2.0, transB=trans_b)
    model = make_model([node], [("x", ["N", 3])], [("y", ["N", 2])], [("b", b), ("c", RNG.standard_normal((1, 2)))])
    assert_imports_as_runtime(model, {"x": RNG.standard_normal((4, 3))})


def test_import_matmul_add_flatten_gemm_and_matmul_alone():
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("Gemm", ["f", "w"], ["g"]),
             helper.make_node("Relu", ["g"], ["r"]), helper.make_node("MatMul", ["r", "m"], ["h"]),
             helper.make_node("Add", ["h", "bias"], ["a"]), helper.make_node("MatMul", ["a", "m2"], ["y"])]
    init = [("w", RNG.standard_normal((6, 4))), ("m", RNG.standard_normal((4, 3))), ("bias", RNG.standard_normal(3)),
            ("m2", RNG.standard_normal((3, 2)))]
    model = make_model(nodes, [("x", ["N", 2, 3])], [("y", ["N", 2])], init, opset=13)
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((5, 2, 3))})
    assert isinstance(net, NetChain) and len(net._children()) == 4
    assert "Biases" not in net._children()[-1][1]._array_names


def test_import_a_branching_graph_names_layers_after_nodes():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["t"], name="trunk", transB=1),
             helper.make_node("Tanh", ["t"], ["a"], name="act"),
             helper.make_node("PRelu", ["t", "s"], ["b"], name="pr"),
             helper.make_node("Gemm", ["z", "w2"], ["c"], name="side")]
    init = [("w", RNG.standard_normal((3, 2))), ("s", RNG.uniform(size=3)), ("w2", RNG.standard_normal((2, 2)))]
    model = make_model(nodes, [("x", ["N", 2]), ("z", ["N", 2])], [("a", ["N", 3]), ("b", ["N", 3]), ("c", ["N", 2])],
                       init)
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((3, 2)), "z": RNG.standard_normal((3, 2))})
    assert isinstance(net, NetGraph) and [k for k, _ in net._children()] == ["trunk", "act", "pr", "side"]
    assert Information(net, "InputPortNames") == ["x", "z"]


def onnx_prelu_cases():
    """ONNX's own PRelu node tests (onnx.backend.test.case.node.prelu), rebuilt: the installed onnx
    does not ship their data files."""
    from onnx.backend.test.case.node import prelu

    found = []
    original = prelu.expect
    prelu.expect = lambda node, inputs, outputs, name: found.append((name, inputs, outputs))
    try:
        np.random.seed(0)
        prelu.PRelu.export()
        prelu.PRelu.export_prelu_broadcast()
    finally:
        prelu.expect = original
    return found


@pytest.mark.parametrize("name", ["test_prelu_example", "test_prelu_broadcast"])
def test_onnx_prelu_test_vectors(name):
    (_, (x, slope), (y,)), = [c for c in onnx_prelu_cases() if c[0] == name]
    model = make_model([helper.make_node("PRelu", ["x", "slope"], ["y"])], [("x", list(x.shape))],
                       [("y", list(y.shape))], [("slope", slope)])
    net = import_onnx(model.SerializeToString())
    np.testing.assert_allclose(net(x), y, **TOLERANCE)
    # A slope that varies along the first axis: the graph is read on single examples.
    assert Information(net, "InputPorts")["Input"] == ((3, 4, 5) if name == "test_prelu_example" else (4, 5))


# -- round trip --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_export_import_export_gives_the_same_graph_and_the_same_net(case):
    net = case.net()
    model = onnx_model(net)
    back = import_onnx(model.SerializeToString())
    assert back == net  # nesting, levels, multipliers and coders too: the description it records
    assert onnx_model(back).graph == model.graph
    arrays = import_onnx(model.SerializeToString(), "ArrayAssociation")
    assert list(arrays) == [i.name for i in model.graph.initializer]
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert len(import_onnx(model.SerializeToString(), "ArrayList")) == len(arrays)
    bare = import_onnx(model.SerializeToString(), "UninitializedNet")
    assert NetInitialize(bare, None) == NetInitialize(back, None)


NESTED = ("chain-of-graph", "graph-of-chain", "graph-of-graph")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_model_without_wlnet_description_is_read_from_its_graph(case):
    net = case.net()
    model = onnx_model(net)
    for prop in model.metadata_props:
        if prop.key == "wlnet.description":
            prop.value = "{}"
    back = import_onnx(model.SerializeToString())
    again = onnx_model(back)
    if case.id in NESTED:  # nesting is flattened: the layers keep their positions as names ("1.a")
        assert [i.name for i in again.graph.initializer] == [i.name.replace(".", "%2E", i.name.count(".") - 1)
                                                            for i in model.graph.initializer]
        assert_same_as_runtime(back, case.example(), model)
        return
    assert again.graph == model.graph


def test_an_edited_graph_is_read_from_the_graph_not_from_the_description():
    net = NetInitialize(NetChain([LinearLayer(3), ParametricRampLayer(), LinearLayer(2)], Input=2))
    model = onnx_model(net)
    for node in model.graph.node:
        if node.op_type == "PRelu":
            node.op_type, node.input[:] = "Relu", node.input[:1]  # someone swapped the activation
    model.graph.initializer.remove(next(i for i in model.graph.initializer if i.name == "2.Slope"))
    back = import_onnx(model.SerializeToString())
    assert isinstance(back, NetChain) and back != net
    assert Information(back, "LayerTypeCounts") == {"LinearLayer": 2, "ElementwiseLayer": 1}
    x = RNG.standard_normal((4, 2))
    np.testing.assert_allclose(back(x), run(model, {"Input": x})["Output"], **TOLERANCE)


# -- errors ------------------------------------------------------------------------------------------
def test_an_unsupported_op_names_op_node_and_opset():
    model = make_model([helper.make_node("LRN", ["x"], ["y"], name="norm1", size=3)], [("x", ["N", 3, 4, 4])],
                       [("y", ["N", 3, 4, 4])])
    with pytest.raises(NetSpecificationError, match=r'"norm1" \(LRN, opset 17\) has no wlnet equivalent; '
                                                    r"wlnet reads PRelu, LeakyRelu"):
        import_onnx(model.SerializeToString())


def test_export_errors():
    opaque = ElementwiseLayer(lambda x: torch.tanh(x), Input=3)
    with pytest.raises(NetSpecificationError, match=r"ElementwiseLayer \(.*\) cannot be exported.*wlnet's functions"):
        onnx_model(opaque)
    with pytest.raises(NetInitializationError, match="export the net to ONNX"):
        onnx_model(ParametricRampLayer(Input=3))
    with pytest.raises(NetOptionError, match="Did you mean OperatorSetVersion"):
        onnx_model(CASES[0].net(), OperatorSetVersio=12)
    with pytest.raises(NetShapeError, match='port "Input" are not known'):
        onnx_model(ParametricRampLayer([], Slope=0.5))
    with pytest.raises(NetOptionError, match=r"too old.*Gemm, which needs at least 11"):  # no biases: no C
        onnx_model(NetInitialize(LinearLayer(2, Biases=None, Input=3)), OperatorSetVersion=8)
    with pytest.raises(NetOptionError, match="OperatorSetVersion should be"):
        onnx_model(CASES[0].net(), OperatorSetVersion=1000)


def test_import_errors(tmp_path):
    with pytest.raises(NetSpecificationError, match="Did you mean ArrayList"):
        import_onnx(b"", "ArrayLists")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(NetError, match="bad.onnx"):
        import_onnx(bad)
    with pytest.raises(ImportError, match=r'pip install "wlnet\[onnx\]"'):
        require("wlnet_no_such_module")


def test_graph_port_fed_to_two_outputs_and_a_graph_input_output():
    net = NetGraph({"t": Tanh}, [(NetPort("x"), "t"), ("t", NetPort("a")), ("t", NetPort("b"))], x=2)
    model = onnx_model(net)
    assert [o.name for o in model.graph.output] == ["a", "b"]
    assert_same_as_runtime(net, RNG.standard_normal((3, 2)), model)


@pytest.mark.parametrize(("node", "level"), [
    (lambda: helper.make_node("Flatten", ["x"], ["y"], axis=1, name="f"), None),
    (lambda: helper.make_node("Reshape", ["x", "shape"], ["y"], name="f"), 1),
])
def test_import_a_flatten_of_levels_is_a_flatten_layer(node, level):
    shape = {"shape": np.array([0, 6, 4], dtype=np.int64)} if level else {}
    out = ["N", 24] if level is None else ["N", 6, 4]
    model = make_model([node()], [("x", ["N", 2, 3, 4])], [("y", out)], list(shape.items()))
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((2, 2, 3, 4))})
    flatten = FlattenLayer(Input=(2, 3, 4)) if level is None else FlattenLayer(level, Input=(2, 3, 4))
    assert net == NetChain({"f": flatten})


@pytest.mark.parametrize(("target", "expected"), [([0, 2, 12], -1), ([-1, 24], None), ([0, 0, -1], -1)])
def test_import_a_reshape_merging_trailing_levels(target, expected):
    model = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")], [("x", ["N", 2, 3, 4])],
                       [("y", None)], [("shape", np.array(target, dtype=np.int64))])
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((3, 2, 3, 4))})
    flatten = FlattenLayer(Input=(2, 3, 4)) if expected is None else FlattenLayer(expected, Input=(2, 3, 4))
    assert net == NetChain({"r": flatten})


def test_import_a_reshape_that_is_no_flatten_is_a_reshape_layer():
    model = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")], [("x", ["N", 2, 3, 4])],
                       [("y", ["N", 4, 6])], [("shape", np.array([0, 4, 6], dtype=np.int64))])
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((3, 2, 3, 4))})
    assert net == NetChain({"r": ReshapeLayer((4, 6), Input=(2, 3, 4))})


@settings(max_examples=200, deadline=None)
@given(where=st.integers(0, 10**6), value=st.integers(0, 255), cut=st.booleans())
def test_a_damaged_model_imports_or_is_refused_with_a_net_error(where, value, cut):
    data = bytearray(DAMAGED)
    where %= len(data)
    if cut:
        del data[where:]
    else:
        data[where] = value
    try:
        net = import_onnx(bytes(data))
    except NetError as error:
        assert str(error).startswith("Import:")
    else:  # ONNX files carry no checksum: the damage may leave another valid model
        assert isinstance(net, Layer)


DAMAGED = onnx_model(NetInitialize(NetChain([LinearLayer(3), ParametricRampLayer(), FlattenLayer(), LinearLayer([])],
                                            Input=(2, 2)))).SerializeToString()
