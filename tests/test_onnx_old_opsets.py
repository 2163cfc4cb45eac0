"""Export at the oldest opsets wlnet writes, 7 and 8: every row of the contract table either runs in
onnxruntime computing what the net computes, or is refused with a NetOptionError naming the op that
needs a newer opset and that opset. PRelu broadcasts its slope unidirectionally from opset 7
(PRelu-9 only added integer types), so a net of ParametricRampLayers exports at 7."""

import re

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from cases import CASES  # noqa: E402
from test_onnx import assert_same_as_runtime  # noqa: E402
from wlnet import BatchNormalizationLayer, LinearLayer, NetChain, NetInitialize, ParametricRampLayer  # noqa: E402
from wlnet.errors import NetOptionError  # noqa: E402
from wlnet.onnx import import_onnx, onnx_model  # noqa: E402

_TOO_OLD = re.compile(r"Export: OperatorSetVersion (\d+) is too old for this net: .* needs (\w+), which needs at least "
                      r"(\d+)\. Use OperatorSetVersion=(\d+) or newer")


@pytest.mark.parametrize("opset", [7, 8])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_contract_row_at_an_old_opset_runs_or_names_the_newer_opset_it_needs(case, opset):
    net = case.net()
    try:
        model = onnx_model(net, OperatorSetVersion=opset)
    except NetOptionError as error:
        found = _TOO_OLD.search(str(error))
        assert found, str(error)
        assert int(found[1]) == opset and int(found[3]) == int(found[4]) > opset
        return
    assert model.opset_import[0].version == opset
    assert_same_as_runtime(net, case.example(), model)


def test_prelu_linear_and_batch_normalization_export_at_opset_7_and_come_back():
    net = NetInitialize(NetChain([LinearLayer(6), BatchNormalizationLayer(), ParametricRampLayer(1)], Input=4))
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    for opset in (7, 8):
        model = onnx_model(net, OperatorSetVersion=opset)
        assert [n.op_type for n in model.graph.node] == ["Gemm", "BatchNormalization", "PRelu"]
        assert_same_as_runtime(net, x, model)
        back = import_onnx(model.SerializeToString())
        np.testing.assert_allclose(back(x), net(x), rtol=1e-6, atol=1e-6)


def test_an_op_newer_than_the_opset_is_named():
    net = NetInitialize(NetChain([LinearLayer(3, Biases=None)], Input=4))  # Gemm without C: opset 11
    with pytest.raises(NetOptionError, match=r"OperatorSetVersion 8 is too old for this net: .*Gemm, which needs at "
                                             r"least 11\. Use OperatorSetVersion=11 or newer"):
        onnx_model(net, OperatorSetVersion=8)
