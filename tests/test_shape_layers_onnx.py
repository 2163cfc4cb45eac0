"""SoftmaxLayer, DropoutLayer, ReshapeLayer and FlattenLayer's groups in ONNX: the forms the contract
table does not reach (older opsets, models other tools write), checked against onnxruntime."""

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import helper  # noqa: E402

from test_onnx import assert_imports_as_runtime, assert_same_as_runtime, make_model  # noqa: E402
from wlnet import DropoutLayer, FlattenLayer, NetChain, ReshapeLayer, SoftmaxLayer  # noqa: E402
from wlnet.errors import NetSpecificationError  # noqa: E402
from wlnet.onnx import import_onnx, onnx_model  # noqa: E402

RNG = np.random.default_rng(11)


def ops(model) -> list[str]:
    return [node.op_type for node in model.graph.node if node.op_type != "Constant"]


def without_description(model):
    for prop in model.metadata_props:
        if prop.key == "wlnet.description":
            prop.value = "{}"
    return model


@pytest.mark.parametrize(("level", "expected"), [(-1, ["Softmax"]), (3, ["Softmax"]), (1, ["Transpose", "Softmax",
                                                                                             "Transpose"]),
                                                 (-2, ["Transpose", "Softmax", "Transpose"])])
def test_softmax_before_opset_13_moves_its_level_last(level, expected):
    layer = SoftmaxLayer(level, Input=(2, 3, 4))
    model = onnx_model(layer, OperatorSetVersion=12)
    assert ops(model) == expected
    x = RNG.standard_normal((5, 2, 3, 4))
    assert_same_as_runtime(layer, x, model)
    back = import_onnx(without_description(model).SerializeToString())
    np.testing.assert_allclose(back(x), layer(x), rtol=1e-6, atol=1e-7)
    assert isinstance(back, SoftmaxLayer)


def test_softmax_from_opset_13_keeps_its_axis():
    model = onnx_model(SoftmaxLayer(-2, Input=(3, 4)))
    (node,) = [n for n in model.graph.node if n.op_type == "Softmax"]
    assert helper.get_attribute_value(node.attribute[0]) == -2


def test_import_softmax_of_other_tools():
    softmax = lambda axis: helper.make_node("Softmax", ["x"], ["y"], name="s", axis=axis)  # noqa: E731
    model = make_model([softmax(1)], [("x", ["N", 3, 4])], [("y", ["N", 3, 4])], opset=13)
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((2, 3, 4))})
    assert net == NetChain({"s": SoftmaxLayer(1, Input=(3, 4))})
    trailing_ones = make_model([softmax(1)], [("x", ["N", 3, 1])], [("y", ["N", 3, 1])], opset=11)
    assert assert_imports_as_runtime(trailing_ones, {"x": RNG.standard_normal((2, 3, 1))}) == NetChain(
        {"s": SoftmaxLayer(1, Input=(3, 1))})
    old = make_model([softmax(1)], [("x", ["N", 3, 4])], [("y", ["N", 3, 4])], opset=11)
    with pytest.raises(NetSpecificationError, match=r"before opset 13, Softmax with axis=1 normalizes over axes 1 to 2 "
                                                    r"together, which no SoftmaxLayer does"):
        import_onnx(old.SerializeToString())
    batch = make_model([softmax(0)], [("x", ["N", 3])], [("y", ["N", 3])], opset=13)
    with pytest.raises(NetSpecificationError, match=r"normalizes over the batch axis"):
        import_onnx(batch.SerializeToString())


@pytest.mark.parametrize("opset", [11, 17])
def test_dropout_exports_as_inference_dropout_and_reads_back(opset):
    layer = DropoutLayer(0.3, Input=(2, 3))
    model = onnx_model(layer, OperatorSetVersion=opset)
    assert ops(model) == ["Dropout"]
    x = RNG.standard_normal((4, 2, 3))
    assert_same_as_runtime(layer, x, model)
    assert import_onnx(without_description(model).SerializeToString()) == layer
    alpha = DropoutLayer(0.3, Method="AlphaDropout", Input=(2, 3))
    assert import_onnx(onnx_model(alpha, OperatorSetVersion=opset).SerializeToString()) == alpha  # its description


def test_import_dropout_of_other_tools():
    ratio = ("r", np.array(0.25, dtype=np.float32))
    model = make_model([helper.make_node("Dropout", ["x", "r"], ["y"], name="d")], [("x", ["N", 3])],
                       [("y", ["N", 3])], [ratio], opset=13)
    assert assert_imports_as_runtime(model, {"x": RNG.standard_normal((2, 3))}) == NetChain(
        {"d": DropoutLayer(0.25, Input=3)})
    masked = make_model([helper.make_node("Dropout", ["x", "r"], ["y", "mask"], name="d")], [("x", ["N", 3])],
                        [("y", ["N", 3]), ("mask", ["N", 3])], [ratio], opset=13)
    with pytest.raises(NetSpecificationError, match=r"its second output \(the mask\) is used"):
        import_onnx(masked.SerializeToString())
    training = make_model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="d")], [("x", ["N", 3])],
                          [("y", ["N", 3])], [ratio, ("t", np.array(True))], opset=13)
    with pytest.raises(NetSpecificationError, match=r"its training_mode is true"):
        import_onnx(training.SerializeToString())


def test_import_a_transpose_and_reshape_is_a_flatten_of_groups():
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="t", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["t", "shape"], ["y"], name="r")]
    model = make_model(nodes, [("x", ["N", 2, 3, 4])], [("y", ["N", 12, 2])],
                       [("shape", np.array([0, 12, 2], dtype=np.int64))])
    net = assert_imports_as_runtime(model, {"x": RNG.standard_normal((3, 2, 3, 4))})
    assert net == NetChain({"t": FlattenLayer([[2, 3]], Input=(2, 3, 4))})
    lone = make_model(nodes[:1], [("x", ["N", 2, 3, 4])], [("t", ["N", 3, 4, 2])])
    with pytest.raises(NetSpecificationError, match=r'"t" \(Transpose'):
        import_onnx(lone.SerializeToString())


def test_a_reshape_layer_alone_reads_back_from_its_graph():
    layer = ReshapeLayer((3, 2, 2), Input=12)
    model = onnx_model(layer)
    assert import_onnx(without_description(model).SerializeToString()) == layer
