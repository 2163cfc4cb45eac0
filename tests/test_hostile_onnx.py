"""ONNX files from elsewhere (issue 23): Import reads them as ONNX (onnxruntime) computes them or refuses
them, and never hangs. An Add or a Gemm's C is read as biases only where ONNX broadcasting makes it one;
every attribute has the type ONNX declares; a graph with a cycle or a tensor defined twice is refused
(in a subprocess with a timeout: such a graph used to make Import loop forever); a FIFO or a device is
refused without being read; folded constants are bounded; export writes opset 17 by default."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from wlnet import ElementwiseLayer, Information, LinearLayer, NetChain, NetInitialize  # noqa: E402
from wlnet.errors import NetError, NetSpecificationError  # noqa: E402
from wlnet.onnx import export_onnx, import_onnx, onnx_model  # noqa: E402
from wlnet.onnx.folding import MAX_FOLDED_ELEMENTS  # noqa: E402

RNG = np.random.default_rng(23)


def make_model(nodes, inputs, outputs, initializers=None, opset=17):
    """A model of ``nodes``; ``inputs``/``outputs``: (name, shape) pairs (float32); ``initializers``:
    name -> array."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def runtime(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def refused_by_onnx(model, by_runtime=True) -> None:
    """onnx's checker (and onnxruntime) refuse ``model`` too (the test's model is invalid, not just unread)."""
    with pytest.raises(Exception):  # noqa: B017, PT011 (onnx's ValidationError, onnxruntime's errors)
        onnx.checker.check_model(model)
    if by_runtime:
        with pytest.raises(Exception):  # noqa: B017, PT011
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


# -- an Add or a Gemm's C read as biases only where ONNX broadcasting makes it one -------------------------
def test_the_issue_case_an_add_of_dims_3_1_after_a_matmul_is_refused_not_read_as_biases():
    x = np.array([[3, 5, 7]] * 3, np.float32)
    c = np.array([[10], [20], [30]], np.float32)
    model = make_model([helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "c"], ["y"])],
                       [("x", [3, 3])], [("y", [3, 3])], {"W": np.eye(3, dtype=np.float32), "c": c})
    np.testing.assert_array_equal(runtime(model, x), [[13, 15, 17], [23, 25, 27], [33, 35, 37]])  # c per row
    with pytest.raises(NetSpecificationError, match=r'\(Add, opset 17.* its input "c" is a constant.*dims \(n,\) '
                                                    r"or \(1, n\)"):
        import_onnx(model.SerializeToString())


@pytest.mark.parametrize("dims", [(), (1,), (3,), (1, 1), (1, 3)])
@pytest.mark.parametrize("first", [False, True])
def test_an_add_after_a_matmul_that_broadcasts_as_biases_is_read_as_onnxruntime_computes_it(dims, first):
    c = RNG.normal(size=dims).astype(np.float32)
    add = helper.make_node("Add", ["c", "t"] if first else ["t", "c"], ["y"])
    model = make_model([helper.make_node("MatMul", ["x", "W"], ["t"]), add], [("x", ["N", 4])], [("y", ["N", 3])],
                       {"W": RNG.normal(size=(4, 3)).astype(np.float32), "c": c})
    net = import_onnx(model.SerializeToString())
    assert [type(layer) for layer in Information(net, "Layers").values()] == [LinearLayer]  # the Add: its biases
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(net(x), runtime(model, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dims", [(3, 1), (3, 3), (1, 1, 3), (2, 1, 3)])
def test_an_add_after_a_matmul_that_does_not_broadcast_as_biases_is_refused(dims):
    model = make_model([helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "c"], ["y"])],
                       [("x", [3, 4])], [("y", None)], {"W": np.ones((4, 3), np.float32),
                                                       "c": np.ones(dims, np.float32)})
    runtime(model, np.ones((3, 4), np.float32))  # valid ONNX: onnxruntime computes it
    with pytest.raises(NetSpecificationError, match=r'\(Add, opset 17.* its input "c" is a constant'):
        import_onnx(model.SerializeToString())


@pytest.mark.parametrize("dims", [(), (1,), (3,), (1, 1), (1, 3)])
def test_a_gemm_c_that_broadcasts_as_biases_is_read_as_onnxruntime_computes_it(dims):
    c = RNG.normal(size=dims).astype(np.float32)
    gemm = helper.make_node("Gemm", ["x", "B", "c"], ["y"], alpha=0.5, beta=2.0, transB=1)
    model = make_model([gemm], [("x", ["N", 4])], [("y", ["N", 3])],
                       {"B": RNG.normal(size=(3, 4)).astype(np.float32), "c": c})
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(import_onnx(model.SerializeToString())(x), runtime(model, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("dims", "why"), [((2, 1), "varies along the batch axis"),
                                           ((2, 3), "varies along the batch axis"),
                                           ((3, 1), "varies along the batch axis"),
                                           ((2,), "is not a bias"), ((1, 2), "is not a bias")])
def test_a_gemm_c_that_is_not_a_bias_is_refused(dims, why):
    gemm = helper.make_node("Gemm", ["x", "B", "c"], ["y"])
    c = np.arange(np.prod(dims), dtype=np.float32).reshape(dims)
    model = make_model([gemm], [("x", [dims[0] if len(dims) == 2 and dims[0] > 1 else 2, 4])], [("y", None)],
                       {"B": np.ones((4, 3), np.float32), "c": c})
    with pytest.raises(NetSpecificationError, match=rf"\(Gemm, opset 17, .* its C \(dims \({dims[0]}, ?"
                                                    rf"{dims[1] if len(dims) == 2 else ''}\)\) {why}"):
        import_onnx(model.SerializeToString())


def test_a_gemm_of_a_computed_c_of_dims_batch_1_is_refused():
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["c"], keepdims=1),
             helper.make_node("Gemm", ["x", "B", "c"], ["y"])]
    model = make_model(nodes, [("x", ["N", 4])], [("y", ["N", 3])],
                       {"B": np.ones((4, 3), np.float32), "axes": np.array([1], np.int64)})
    runtime(model, np.ones((2, 4), np.float32))  # valid ONNX: C of dims (N, 1) broadcasts over the columns
    with pytest.raises(NetSpecificationError, match=r"\(Gemm, opset 17, .* its C is computed.* C of the output's dims"):
        import_onnx(model.SerializeToString())


# -- every attribute is read by its declared type, or refused -------------------------------------------------
def _node(op, inputs, outputs, **typed):
    """A node named "n" whose attributes are given as name=(type, value): the value stored in the field
    of ``type`` (onnx.helper would infer the type from the value)."""
    node = helper.make_node(op, inputs, outputs, name="n")
    for name, (kind, value) in typed.items():
        attribute = onnx.AttributeProto(name=name, type=getattr(onnx.AttributeProto, kind))
        field = {"FLOAT": "f", "INT": "i", "STRING": "s"}.get(kind)
        if field:
            setattr(attribute, field, value)
        else:
            getattr(attribute, kind.lower()).extend(value)
        node.attribute.append(attribute)
    return node


WRONG_TYPES = {
    "LeakyRelu alpha INT": (_node("LeakyRelu", ["x"], ["y"], alpha=("INT", 2)), "alpha", "INT", "FLOAT"),
    "Elu alpha INT": (_node("Elu", ["x"], ["y"], alpha=("INT", 2)), "alpha", "INT", "FLOAT"),
    "Softmax axis FLOAT": (_node("Softmax", ["x"], ["y"], axis=("FLOAT", 1.0)), "axis", "FLOAT", "INT"),
    "Flatten axis STRING": (_node("Flatten", ["x"], ["y"], axis=("STRING", b"1")), "axis", "STRING", "INT"),
    "Gemm transB FLOAT": (_node("Gemm", ["x", "B"], ["y"], transB=("FLOAT", 1.0)), "transB", "FLOAT", "INT"),
    "Conv strides FLOATS": (_node("Conv", ["x4", "K"], ["y"], strides=("FLOATS", [1.0, 1.0])), "strides", "FLOATS",
                            "INTS"),
    "MaxPool kernel_shape INT": (_node("MaxPool", ["x4"], ["y"], kernel_shape=("INT", 2)), "kernel_shape", "INT",
                                 "INTS"),
    "Transpose perm FLOATS": (_node("Transpose", ["x"], ["y"], perm=("FLOATS", [0.0, 1.0])), "perm", "FLOATS", "INTS"),
    "BatchNormalization epsilon INT": (_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"],
                                             epsilon=("INT", 1)), "epsilon", "INT", "FLOAT"),
    "Constant value_float INT": (_node("Constant", [], ["y"], value_float=("INT", 1)), "value_float", "INT", "FLOAT"),
}


def _attribute_model(node):
    inputs = [("x4", [1, 2, 4, 4])] if "x4" in node.input else [("x", [1, 3])] if node.input else []
    initializers = {"B": np.ones((3, 3), np.float32), "K": np.ones((2, 2, 1, 1), np.float32),
                    "s": np.ones(3, np.float32)}
    return make_model([node], inputs, [("y", None)], {k: v for k, v in initializers.items() if k in node.input})


@pytest.mark.parametrize("case", WRONG_TYPES)
def test_an_attribute_of_another_type_than_onnx_declares_is_refused_naming_node_attribute_and_types(case):
    node, name, found, expected = WRONG_TYPES[case]
    model = _attribute_model(node)
    refused_by_onnx(model, by_runtime=node.op_type != "Constant")  # onnxruntime reads value_float=INT 1 as int64 1
    with pytest.raises(NetSpecificationError, match=rf'^Import: the ONNX node "n" \({node.op_type}, opset 17\) is not '
                                                    rf'valid ONNX.*its attribute "{name}" has the type {found}, but '
                                                    rf"{node.op_type}-\d+ declares it {expected}\.$"):
        import_onnx(model.SerializeToString())


def test_the_issue_case_leaky_relu_of_an_int_alpha_is_no_longer_read_as_slope_0():
    model = _attribute_model(_node("LeakyRelu", ["x"], ["y"], alpha=("INT", 2)))
    with pytest.raises(NetSpecificationError, match='"alpha" has the type INT, but LeakyRelu-16 declares it FLOAT'):
        import_onnx(model.SerializeToString())
    good = _attribute_model(_node("LeakyRelu", ["x"], ["y"], alpha=("FLOAT", 0.25)))
    x = np.array([[-4, 1, -2]], np.float32)
    np.testing.assert_array_equal(import_onnx(good.SerializeToString())(x), runtime(good, x))
    np.testing.assert_array_equal(runtime(good, x), [[-1, 1, -0.5]])


def _mismatched():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="n")
    node.attribute.append(onnx.AttributeProto(name="alpha", type=onnx.AttributeProto.FLOAT, i=3))
    return node


def _twice():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="n", alpha=0.5)
    node.attribute.append(helper.make_attribute("alpha", 0.7))
    return node


INVALID_ATTRIBUTES = {
    "unknown": (helper.make_node("LeakyRelu", ["x"], ["y"], name="n", beta=0.1),
                r'"beta" is not one that LeakyRelu-16 has \(it has alpha\)'),
    "twice": (_twice(), r'"alpha" appears more than once'),
    "value in another field": (_mismatched(), r'"alpha" of type FLOAT holds its value in another field \(i\)'),
    "required missing": (helper.make_node("Concat", ["x", "x"], ["y"], name="n"), r'"axis", which Concat-13 requires, '
                                                                                   "is missing"),
}


@pytest.mark.parametrize("case", INVALID_ATTRIBUTES)
def test_an_attribute_onnx_does_not_declare_so_is_refused(case):
    node, message = INVALID_ATTRIBUTES[case]
    model = _attribute_model(node)
    refused_by_onnx(model)
    with pytest.raises(NetSpecificationError, match=rf'"n" \({node.op_type}, opset 17\) is not valid ONNX.*{message}'):
        import_onnx(model.SerializeToString())


def test_a_node_of_another_domain_is_not_read_as_the_onnx_op_of_its_name():
    model = _attribute_model(helper.make_node("Relu", ["x"], ["y"], name="n", domain="com.example"))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(NetSpecificationError, match=r'"n" \(Relu, opset 17\) is of the domain "com.example"'):
        import_onnx(model.SerializeToString())


def test_an_op_wlnet_reads_that_onnx_has_not_at_the_opset_is_refused():
    nodes = [helper.make_node("Expand", ["c", "shape"], ["e"], name="n"), helper.make_node("Add", ["x", "e"], ["y"])]
    model = make_model(nodes, [("x", [1, 3])], [("y", [1, 3])],
                       {"c": np.ones(1, np.float32), "shape": np.array([1, 3], np.int64)}, opset=7)
    with pytest.raises(NetSpecificationError, match=r'"n" \(Expand, opset 7\) is not valid ONNX: ONNX has no Expand '
                                                    "at opset 7"):
        import_onnx(model.SerializeToString())


# -- the graph: acyclic, each tensor defined once; files: regular only (in a subprocess, under a timeout) ---------
def _identity(source, target):
    return helper.make_node("Identity", [source], [target], name=f"{target}<-{source}")


#: Graphs that used to hang Import (or could): name -> (nodes, initializers, inputs, the error's pattern).
GRAPHS = {
    "identity cycle": ([_identity("b", "a"), _identity("a", "b"), helper.make_node("Add", ["x", "a"], ["y"])], {},
                       ["x"], r'has a cycle: the node "a<-b" \(Identity, opset 17\) computes "a" from "b"; the node '
                              r'"b<-a" \(Identity, opset 17\) computes "b" from "a"; an ONNX graph is acyclic'),
    "self identity": ([_identity("a", "a"), helper.make_node("Add", ["x", "a"], ["y"])], {}, ["x"],
                      r'has a cycle: the node "a<-a" \(Identity, opset 17\) computes "a" from "a";'),
    "relu cycle": ([helper.make_node("Relu", ["b"], ["a"], name="r1"),
                    helper.make_node("Relu", ["a"], ["b"], name="r2"),
                    helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Add", ["t", "a"], ["y"])], {}, ["x"],
                   r'has a cycle: the node "r1" .* computes "a" from "b"; the node "r2" .* computes "b" from "a"'),
    "identity of a tensor onto itself": ([helper.make_node("Relu", ["x"], ["t"], name="r"), _identity("t", "t"),
                                          helper.make_node("Relu", ["t"], ["y"])], {}, ["x"],
                                         r'the ONNX node "t<-t" \(Identity, opset 17\) writes the tensor "t", which '
                                         r'the node "r" \(Relu, opset 17\) already defines'),
    "two nodes write one tensor": ([helper.make_node("Relu", ["x"], ["y"], name="r1"),
                                    helper.make_node("Sigmoid", ["x"], ["y"], name="r2")], {}, ["x"],
                                   r'node "r2" \(Sigmoid, opset 17\) writes the tensor "y", which the node "r1"'),
    "a node writes an initializer": ([helper.make_node("Relu", ["x"], ["c"], name="r"),
                                      helper.make_node("Add", ["x", "c"], ["y"])], {"c": np.ones((2, 3), np.float32)},
                                     ["x"], r'node "r" \(Relu, opset 17\) writes the tensor "c", which the initializer '
                                            r'"c" already defines'),
    "a node writes a graph input": ([helper.make_node("Relu", ["x"], ["x"], name="r"),
                                     helper.make_node("Relu", ["x"], ["y"])], {}, ["x"],
                                    r'node "r" \(Relu, opset 17\) writes the tensor "x", which the graph input "x"'),
    "two graph inputs of one name": ([helper.make_node("Add", ["x", "x"], ["y"])], {}, ["x", "x"],
                                     r'the ONNX graph has two graph inputs named "x"'),
    "two initializers of one name": ([helper.make_node("Add", ["x", "c"], ["y"])], {"c": np.ones((2, 3), np.float32)},
                                     ["x"], r'the ONNX graph has two initializers named "c"'),
    "a tensor nothing defines": ([helper.make_node("Add", ["x", "z"], ["y"], name="add")], {}, ["x"],
                                 r'node "add" \(Add, opset 17\) reads the tensor "z", which no graph input, '
                                 "initializer or node of the graph defines"),
    "an output nothing defines": ([helper.make_node("Relu", ["x"], ["t"])], {}, ["x"],
                                  r'the ONNX graph output "y" is not defined'),
}


def _graph_file(tmp_path, name):
    nodes, initializers, inputs, _ = GRAPHS[name]
    model = make_model(nodes, [(n, [2, 3]) for n in inputs], [("y", [2, 3])], initializers)
    if name == "two initializers of one name":
        model.graph.initializer.append(numpy_helper.from_array(np.zeros((2, 3), np.float32), "c"))
    path = tmp_path / f"{name.replace(' ', '_')}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


_CHILD = """
import json, sys
from wlnet.onnx import import_onnx
for path in sys.argv[1:]:
    try:
        import_onnx(path)
        print(json.dumps([path, None, ""]), flush=True)
    except Exception as error:
        print(json.dumps([path, type(error).__name__, str(error)]), flush=True)
"""


def _import_in_subprocess(paths) -> dict:
    """Import of each path in a fresh process under a timeout: {path: (error type or None, message)}."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                              timeout=60, env=env)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"Import hung (killed after 60 s); it had answered: {error.stdout!r}")
    assert done.returncode == 0, done.stderr
    return {path: (kind, message) for path, kind, message in map(json.loads, done.stdout.splitlines())}


def test_a_graph_with_a_cycle_or_a_tensor_defined_twice_is_refused_and_never_hangs(tmp_path):
    paths = {name: _graph_file(tmp_path, name) for name in GRAPHS}
    results = _import_in_subprocess(paths.values())
    for name, path in paths.items():
        kind, message = results[str(path)]
        assert kind == "NetSpecificationError", (name, kind, message)
        assert message.startswith("Import: "), (name, message)
        assert __import__("re").search(GRAPHS[name][3], message), (name, message)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/null are POSIX's")
def test_files_that_are_not_regular_files_are_refused_without_being_read(tmp_path):
    fifo, device, directory = tmp_path / "fifo.onnx", tmp_path / "null.onnx", tmp_path / "dir.onnx"
    os.mkfifo(fifo)  # opened for reading, it would wait for a writer forever
    os.symlink(os.devnull, device)
    directory.mkdir()
    results = _import_in_subprocess([fifo, device, directory])
    assert results[str(fifo)] == ("NetError", f'Import: "{fifo}" is a FIFO (named pipe); Import reads an ONNX model '
                                              "only from a regular file.")
    assert results[str(device)] == ("NetError", f'Import: "{device}" is a device; Import reads an ONNX model only '
                                                "from a regular file.")
    assert results[str(directory)][0] == "NetError" and str(directory) in results[str(directory)][1]


def test_a_regular_file_and_a_symlink_to_one_are_read(tmp_path):
    net = NetInitialize(LinearLayer(2, Input=3))
    path = tmp_path / "net.onnx"
    export_onnx(path, net)
    os.symlink(path, tmp_path / "link.onnx")
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(import_onnx(tmp_path / "link.onnx")(x), net(x))


def test_nodes_out_of_order_are_read_in_topological_order_as_onnxruntime_does():
    nodes = [helper.make_node("Relu", ["t"], ["y"], name="relu"), helper.make_node("Sigmoid", ["u"], ["t"], name="s"),
             helper.make_node("Tanh", ["x"], ["u"], name="tanh")]
    model = make_model(nodes, [("x", ["N", 3])], [("y", ["N", 3])])
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    net = import_onnx(model.SerializeToString())
    assert [key for (key, *_) in Information(net, "Layers")] == ["tanh", "s", "relu"]
    np.testing.assert_allclose(net(x), runtime(model, x), rtol=1e-6, atol=1e-6)


def test_an_initializer_of_a_graph_input_name_is_its_default_value_as_onnx_allows():
    model = make_model([helper.make_node("PRelu", ["x", "slope"], ["y"])], [("x", ["N", 3]), ("slope", [3])],
                       [("y", ["N", 3])], {"slope": np.array([0.1, 0.2, 0.3], np.float32)})
    onnx.checker.check_model(model)
    x = -np.ones((2, 3), np.float32)
    np.testing.assert_allclose(import_onnx(model.SerializeToString())(x), runtime(model, x), rtol=1e-6)


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand"])
def test_a_folded_constant_is_bounded_before_it_is_made(op):
    huge = np.array([10**7, 10**7], np.int64)  # 10**14 elements: refused by its size, never allocated
    node = (helper.make_node("ConstantOfShape", ["shape"], ["c"], name="n") if op == "ConstantOfShape" else
            helper.make_node("Expand", ["one", "shape"], ["c"], name="n"))
    model = make_model([node, helper.make_node("Add", ["x", "c"], ["y"])], [("x", [1, 3])], [("y", None)],
                       {"shape": huge, "one": np.ones(1, np.float32)})
    with pytest.raises(NetSpecificationError, match=rf'"n" \({op}, opset 17\).* dims \(10000000, 10000000\), '
                                                    rf"100000000000000 elements, more than the {MAX_FOLDED_ELEMENTS}"):
        import_onnx(model.SerializeToString())


# -- export: opset 17 by default ----------------------------------------------------------------------------------
def test_export_writes_opset_17_by_default_which_older_runtimes_read(tmp_path):
    net = NetInitialize(NetChain([LinearLayer(4), ElementwiseLayer("GELU"), LinearLayer(2)], Input=3))
    model = onnx_model(net)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert model.ir_version == 8  # onnxruntime >= 1.13 reads IR 8
    assert "Gelu" not in {n.op_type for n in model.graph.node}  # opset 20's Gelu: written as Erf before 20
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(runtime(model, x), net(x), rtol=1e-5, atol=1e-6)
    export_onnx(tmp_path / "net.onnx", net)
    assert import_onnx(tmp_path / "net.onnx", "OperatorSetVersion") == 17
    newer = onnx_model(net, OperatorSetVersion=20)  # another opset is chosen by the option
    assert newer.opset_import[0].version == 20 and "Gelu" in {n.op_type for n in newer.graph.node}


def test_automatic_takes_the_opset_a_net_needs_when_the_default_is_too_old(monkeypatch):
    monkeypatch.setattr("wlnet.onnx.export.DEFAULT_OPSET", 9)  # as if the default were 9: Gemm without C needs 11
    net = NetInitialize(LinearLayer(2, Biases=None, Input=3))
    assert onnx_model(net).opset_import[0].version == 11
    assert onnx_model(NetInitialize(LinearLayer(2, Input=3))).opset_import[0].version == 9


def test_import_of_a_file_that_is_no_model_is_a_net_error(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(NetError, match=r'^Import: cannot read ".*junk.onnx" as an ONNX model'):
        import_onnx(path)
