"""PoolingLayer and AggregationLayer: Wolfram's output dims and padding vectors, PyTorch's pooling
modules and NumPy as references, from_torch, ONNX forms other exporters write, and the errors.

(``tests/test_pool.py`` is about the kernels' memory pool, not these layers.)"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from wlnet import (
    AggregationLayer,
    All,
    Automatic,
    Information,
    NetChain,
    NetExtract,
    NetInitialize,
    ParametricRampLayer,
    PoolingLayer,
    Span,
    from_torch,
)
from wlnet.errors import NetShapeError, NetSpecificationError
from wlnet.layers.reshape import ReshapeLayer

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
RNG = np.random.default_rng(11)


def randn(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def out_dims(layer):
    return Information(layer, "OutputPorts")["Output"]


# -- Wolfram's examples (spec sections 4.3, 4.4, 15 item 3) ---------------------------------------------
@pytest.mark.parametrize(("layer", "dims"), [
    (PoolingLayer(3, (2, 1), PaddingSize=(2, 1), Input=(3, 7, 4)), (3, 5, 4)),
    (PoolingLayer(2, Input=(2, 4, 4)), (2, 3, 3)),
    (PoolingLayer((3,), 3, Input=(1, 9)), (1, 3)),
    (PoolingLayer(2, 2, Input=(2, 8, 8)), (2, 4, 4)),
    (PoolingLayer(2, PaddingSize=((1, 0), (0, 1)), Input=(2, 3, 4)), (2, 3, 4)),
    (PoolingLayer((3, 2, 3), (2, 1, 2), PaddingSize=(2, 1, 0), Input=(3, 7, 5, 8)), (3, 5, 6, 3)),
    (PoolingLayer(3, 2, PaddingSize="Same", Input=(2, 7, 6)), (2, 4, 3)),
    (PoolingLayer(2, Interleaving=True, Input=(4, 4, 3)), (3, 3, 3)),
    (PoolingLayer(3, PaddingSize=1, Interleaving=True, Input=("Varying", 5)), ("Varying", 5)),
])
def test_output_dims(layer, dims):
    assert out_dims(layer) == dims


def test_default_stride_is_1_not_the_kernel_size():
    assert out_dims(PoolingLayer(2, Input=(1, 6))) == (1, 5)
    assert PoolingLayer(2, 3) == PoolingLayer(2, Stride=3) == PoolingLayer(2, 3, Stride=3)
    assert repr(PoolingLayer(2, Stride=3)) == "PoolingLayer(2, 3)  # Input: dims unknown"


def test_output_dims_give_the_input_where_the_stride_is_1():
    assert Information(PoolingLayer(2, Output=(3, 4, 4)), "InputPorts")["Input"] == (3, 5, 5)
    assert Information(PoolingLayer(2, (1, 2), Output=(3, 4, 4)), "InputPorts")["Input"] == (3, 5, Automatic)


@pytest.mark.parametrize(("options", "data", "expected"), [
    ({"PaddingSize": 1}, [-1, -2, -3], [-1, -1, -2, -3]),  # symmetric: Max ignores the padding
    ({"PaddingSize": 1, "Function": "Mean"}, [1, 2, 3], [0.5, 1.5, 2.5, 1.5]),  # Mean counts the zeros
    ({"PaddingSize": ((1, 0),)}, [-1, -2, -3], [0, -1, -2]),  # asymmetric: explicit zeros, which Max includes
    ({"PaddingSize": 1, "Function": "Total"}, [1, 2, 3], [1, 3, 5, 3]),
    ({"PaddingSize": ((0, 1),), "Function": "Mean"}, [1, 2, 3], [1.5, 2.5, 1.5]),
])
def test_wolfram_padding_vectors(options, data, expected):
    layer = PoolingLayer(2, **options, Input=(1, 3))
    np.testing.assert_array_equal(layer([data]), [expected])


# -- PyTorch's pooling modules as references ----------------------------------------------------------
POOLS = {1: (nn.MaxPool1d, nn.AvgPool1d), 2: (nn.MaxPool2d, nn.AvgPool2d), 3: (nn.MaxPool3d, nn.AvgPool3d)}


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, 1, 0), (3, 2, 1), (2, 2, 1), (3, 1, 0)])
def test_max_and_mean_are_pytorchs_pooling(d, kernel, stride, padding):
    x = randn(2, 3, *[7, 6, 5][:d])
    max_pool, avg_pool = POOLS[d]
    for function, module in [("Max", max_pool(kernel, stride, padding)),
                             ("Mean", avg_pool(kernel, stride, padding, count_include_pad=True))]:
        layer = PoolingLayer((kernel,) * d, stride, Function=function, PaddingSize=padding, Input=tuple(x.shape[1:]))
        torch.testing.assert_close(layer(x), module(x), **TOLERANCE)
        want_grad, got_grad = x.clone().requires_grad_(), x.clone().requires_grad_()
        module(want_grad).square().sum().backward()
        layer.to_torch()(got_grad).square().sum().backward()
        torch.testing.assert_close(got_grad.grad, want_grad.grad, **TOLERANCE)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_total_is_the_window_sum(d):
    x = randn(2, 2, *[6, 5, 4][:d], seed=3)
    layer = PoolingLayer(2, Function="Total", PaddingSize=1, Input=tuple(x.shape[1:]))
    mean = POOLS[d][1](2, 1, 1, count_include_pad=True)(x)
    torch.testing.assert_close(layer(x), mean * 2 ** d, **TOLERANCE)


def test_a_wide_symmetric_padding_is_ignored_by_max_and_zeros_for_mean():
    # PyTorch's pooling takes at most half the kernel: a padding of 2 with kernel 3 is padded explicitly.
    x = -torch.rand(1, 1, 4, 4) - 1  # every value negative: the padding cannot win the maximum
    minus_inf = nn.functional.pad(x, (2, 2, 2, 2), value=-math.inf)
    maximum = PoolingLayer(3, PaddingSize=2, Input=(1, 4, 4))
    torch.testing.assert_close(maximum(x), nn.functional.max_pool2d(minus_inf, 3, 1))
    zeros = nn.functional.pad(x, (2, 2, 2, 2))
    mean = PoolingLayer(3, PaddingSize=2, Function="Mean", Input=(1, 4, 4))
    torch.testing.assert_close(mean(x), nn.functional.avg_pool2d(zeros, 3, 1))


def test_an_asymmetric_padding_is_zeros_before_unpadded_pooling():
    x = -torch.rand(2, 3, 5, 4) - 1
    padded = nn.functional.pad(x, (0, 1, 2, 1))  # last dim (0, 1), first spatial dim (2, 1)
    layer = PoolingLayer(3, 2, PaddingSize=((2, 1), (0, 1)))
    torch.testing.assert_close(layer(x), nn.functional.max_pool2d(padded, 3, 2))
    assert (layer(x) == 0).any()  # the zeros win over negative values


def test_interleaving_pools_channels_last():
    x = randn(2, 5, 6, 3)
    layer = PoolingLayer((2, 3), (1, 2), Function="Mean", Interleaving=True, Input=(5, 6, 3))
    want = nn.functional.avg_pool2d(x.permute(0, 3, 1, 2), (2, 3), (1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), want, **TOLERANCE)


def test_sequences_of_different_lengths():
    layer = PoolingLayer(2, Interleaving=True, Input=("Varying", 2))
    data = [np.array([[1, 5], [3, 2], [0, 9]], np.float32), np.array([[4, 4], [1, 7]], np.float32)]
    got = layer(data)
    np.testing.assert_array_equal(got[0], [[3, 5], [3, 9]])
    np.testing.assert_array_equal(got[1], [[4, 7]])


def test_integer_input_and_a_single_example():
    assert PoolingLayer(2, 2)([[1, 2, 3, 4]]).tolist() == [[2.0, 4.0]]  # one example: one channel of length 4
    assert AggregationLayer("Total")(torch.tensor([[[1, 2], [3, 4]]])).tolist() == [10.0]  # one example (1, 2, 2)
    assert AggregationLayer("Total", Input=(2, 2))(torch.tensor([[[1, 2], [3, 4]]])).tolist() == [[3.0, 7.0]]


# -- AggregationLayer --------------------------------------------------------------------------------
NUMPY = {"Mean": np.mean, "Max": np.max, "Min": np.min, "Total": np.sum, "Times": np.prod}


@pytest.mark.parametrize("function", list(NUMPY))
@pytest.mark.parametrize(("levels", "axes"), [
    (Span(2, All), (1, 2)), (1, (0,)), (-1, (2,)), ([1, 3], (0, 2)), (Span(1, 2), (0, 1)), (All, (0, 1, 2)),
    (Span(-2, All), (1, 2)), ([3, -3], (0, 2)),
])
def test_aggregation_is_numpys(function, levels, axes):
    x = RNG.standard_normal((4, 2, 3, 5))
    layer = AggregationLayer(function, levels, Input=(2, 3, 5))
    want = NUMPY[function](x, axis=tuple(a + 1 for a in axes))
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-6)
    kept = tuple(d for i, d in enumerate((2, 3, 5)) if i not in axes)
    assert out_dims(layer) == ("Real" if not kept else kept[0] if len(kept) == 1 else kept)


def test_aggregation_default_is_global_pooling_of_channels():
    layer = AggregationLayer("Mean", Input=(3, 4, 4))
    assert out_dims(layer) == 3 and layer == AggregationLayer("Mean", Span(2, All), Input=(3, 4, 4))
    assert out_dims(AggregationLayer("Max", All, Input=(3, 4))) == "Real"
    assert repr(AggregationLayer(np.mean, [1, 3])) == "AggregationLayer('Mean', [1, 3])  # Input: dims unknown"


@pytest.mark.parametrize(("given", "name"), [
    ("Max", "Max"), (max, "Max"), (min, "Min"), (sum, "Total"), (np.mean, "Mean"), (torch.amax, "Max"),
    (math.prod, "Times"), ("Times", "Times"),
])
def test_functions_by_name_or_as_python_numpy_torch(given, name):
    assert AggregationLayer(given).function == name


def test_aggregation_infers_the_input_from_the_output():
    assert Information(AggregationLayer("Max", -1, Output=(2, 3)), "InputPorts")["Input"] == (2, 3, Automatic)
    assert Information(AggregationLayer("Max", [1, 3], Output=(4, 5)), "InputPorts")["Input"] == (
        Automatic, 4, Automatic, 5)
    assert NetExtract(AggregationLayer("Max", Output=4), "Input") == (4, ...)


def test_aggregation_over_a_sequence():
    layer = AggregationLayer("Mean", 1, Input=("Varying", 2))
    data = [np.array([[1, 2], [3, 4], [5, 0]], np.float32), np.array([[2, 2]], np.float32)]
    assert [x.tolist() for x in layer(data)] == [[3.0, 2.0], [2.0, 2.0]]


def test_a_chain_of_ramp_pooling_and_aggregation():
    net = NetInitialize(NetChain([ParametricRampLayer(), PoolingLayer(2, 2), AggregationLayer("Mean")],
                                 Input=(3, 4, 4)))
    x = randn(2, 3, 4, 4)
    slope = torch.tensor(NetExtract(net, [1, "Slope"]))
    want = nn.functional.max_pool2d(nn.functional.prelu(x, slope), 2, 2).mean(dim=(2, 3))
    torch.testing.assert_close(net(x), want, **TOLERANCE)
    assert Information(net, "OutputPorts")["Output"] == 3


# -- from_torch ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "dims", "layer"), [
    (nn.MaxPool2d(3, 2, 1), (2, 7, 6), PoolingLayer((3, 3), 2, PaddingSize=1)),
    (nn.MaxPool1d(2), (2, 7), PoolingLayer((2,), 2)),
    (nn.MaxPool3d((2, 1, 2), 1), (2, 3, 4, 5), PoolingLayer((2, 1, 2))),
    (nn.AvgPool2d(3, 2, 1), (2, 7, 6), PoolingLayer((3, 3), 2, Function="Mean", PaddingSize=1)),
    (nn.AvgPool1d(3, 1, 0, count_include_pad=False), (2, 7), PoolingLayer((3,), Function="Mean")),
    (nn.AvgPool2d(2, divisor_override=1), (2, 6, 6), PoolingLayer((2, 2), 2, Function="Total")),
    (nn.AvgPool3d(2, (1, 2, 1)), (1, 4, 4, 4), PoolingLayer((2, 2, 2), (1, 2, 1), Function="Mean")),
    (nn.AdaptiveAvgPool2d(1), (3, 5, 4), NetChain([AggregationLayer("Mean"), ReshapeLayer((All, 1, 1))])),
    (nn.AdaptiveMaxPool1d((1,)), (3, 5), NetChain([AggregationLayer("Max"), ReshapeLayer((All, 1))])),
])
def test_from_torch_of_pytorchs_pooling(module, dims, layer):
    net = from_torch(module, Input=dims)
    assert net == layer._with_input_type("Input", net._ports["Input"])
    x = randn(3, *dims)
    torch.testing.assert_close(net(x), module(x), **TOLERANCE)


def test_from_torch_of_a_classifier_head_is_one_aggregation():
    module = nn.Sequential(nn.PReLU(3), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(3, 2))
    net = from_torch(module, Input=(3, 6, 6))
    assert [type(layer).__name__ for _, layer in net._children()] == [
        "ParametricRampLayer", "PoolingLayer", "AggregationLayer", "LinearLayer"]
    x = randn(4, 3, 6, 6)
    torch.testing.assert_close(net(x), module(x).detach(), **TOLERANCE)


@pytest.mark.parametrize(("module", "message"), [
    (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode=True rounds output sizes up"),
    (nn.MaxPool2d(2, dilation=2), "dilation 2 is not 1"),
    (nn.MaxPool1d(2, return_indices=True), "return_indices=True"),
    (nn.AvgPool2d(3, padding=1, count_include_pad=False), "count_include_pad=False with padding"),
    (nn.AvgPool2d(2, divisor_override=3), "divisor_override=3"),
    (nn.AdaptiveAvgPool2d(2), "output_size=2 makes windows that depend on the input's size"),
    (nn.AdaptiveMaxPool2d(1, return_indices=True), "return_indices=True"),
])
def test_from_torch_refuses_what_has_no_equivalent(module, message):
    with pytest.raises(NetSpecificationError, match=rf"from_torch: nn\.{type(module).__name__} has no wlnet "
                                                    rf"equivalent: .*{message}"):
        from_torch(module)


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: PoolingLayer(2, PaddingSize=2), NetSpecificationError,
     r'PoolingLayer \("Max", kernel 2\): the padding size 2 at spatial dimension 1 must be smaller than the kernel'),
    (lambda: PoolingLayer((3, 2), PaddingSize=((0, 1), (2, 0))), NetSpecificationError,
     "padding size 2 at spatial dimension 2 must be smaller than the kernel size 2"),
    (lambda: PoolingLayer(4, Input=(1, 3)), NetShapeError,
     "kernel size 4 cannot exceed input size 3 plus padding size 0 at spatial dimension 1 of port \"Input\""),
    (lambda: PoolingLayer((2, 2), Input=(1, 3)), NetShapeError,
     r'the kernel size \(2, 2\) has 2 spatial dimensions, so port "Input" should have rank 3'),
    (lambda: PoolingLayer(2, Input=(1, 3, 3, 3, 3)), NetShapeError, "dimensionality .* must be either 1, 2 or 3"),
    (lambda: PoolingLayer(2, Input=("Varying", 3)), NetShapeError, "channels .* cannot be \"Varying\".*Interleaving"),
    (lambda: PoolingLayer(2, Input=(1, 3, 3), Output=(1, 3, 3)), NetShapeError,
     r'port "Output" is an array of dims \(1, 3, 3\), which needs port "Input" to be an array of dims \(1, 4, 4\)'),
    (lambda: PoolingLayer(2, Function="Min"), NetSpecificationError, '"Min" is not supported here.*"Max", "Mean"'),
    (lambda: PoolingLayer(2, 3, Stride=2), NetSpecificationError, "the stride is given twice"),
    (lambda: PoolingLayer(2, Dimensionality=4), NetSpecificationError, "Dimensionality should be 1, 2 or 3"),
    (lambda: PoolingLayer(2, Dimensionality=2, Input=(1, 4)), NetShapeError, "should have rank 3"),
    (lambda: AggregationLayer("Mean", 4, Input=(2, 3)), NetShapeError,
     r'AggregationLayer \("Mean", levels 4\): level 4 is beyond the rank of port "Input": it is a 2×3 matrix'),
    (lambda: AggregationLayer("Mean", []), NetSpecificationError, "the list of levels is empty"),
    (lambda: AggregationLayer("Mean", 0), NetSpecificationError, "level 0 does not exist"),
    (lambda: AggregationLayer("Mean", [1, 1]), NetSpecificationError, "level 1 appears twice"),
    (lambda: AggregationLayer("Mean", Span(3, 2)), NetSpecificationError, "selects no levels"),
    (lambda: AggregationLayer("Mean", Input="Real"), NetShapeError, "a real number, which has no levels to aggregate"),
    (lambda: AggregationLayer("Mean", Input=(2, 3), Output=3), NetShapeError,
     r'port "Input" is a 2×3 matrix, which aggregates to a length-2 vector, but port "Output" is a length-3'),
    (lambda: AggregationLayer("Median"), NetSpecificationError, '"Median" is not supported'),
    (lambda: AggregationLayer(np.var), NetSpecificationError, '"Variance" is not supported'),
    (lambda: AggregationLayer("Sum"), NetSpecificationError, 'Did you mean "Total"'),
    (lambda: AggregationLayer(len), NetSpecificationError, "the function should be one of"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_module_errors_name_the_layer():
    with pytest.raises(NetShapeError, match=r'PoolingLayer \("Max", kernel \(2, 2\)\): an input of shape \(2, 3, 4\)'):
        PoolingLayer((2, 2)).to_torch()(torch.zeros(2, 3, 4))
    with pytest.raises(NetShapeError, match=r"level 3 is beyond the rank"):
        AggregationLayer("Max", 3).to_torch()(torch.zeros(2, 3, 4))


# -- ONNX -------------------------------------------------------------------------------------------------
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from wlnet.onnx import import_onnx, onnx_model  # noqa: E402


def make_model(nodes, x_shape, y_shape, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def runtime(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, np.float32)})[0]


def imports_as_runtime(model, x):
    net = import_onnx(model.SerializeToString())
    np.testing.assert_allclose(net(x), runtime(model, x), **TOLERANCE)
    return net


def only_layer(net):
    """The one layer of an imported net (a NetChain of one layer, or the layer)."""
    if isinstance(net, NetChain):
        ((_, layer),) = net._children()
        return layer
    return net


def layer_types(net):
    return [type(layer).__name__ for _, layer in net._children()] if isinstance(net, NetChain) else [
        type(net).__name__]


@pytest.mark.parametrize("tail", ["Flatten", "Reshape", "Squeeze"])
@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_import_global_pooling_then_flatten_is_aggregation(op, tail):
    x = RNG.standard_normal((2, 3, 4, 5))
    initializers = []
    if tail == "Flatten":
        last = helper.make_node("Flatten", ["g"], ["y"], axis=1)
    elif tail == "Reshape":
        last, initializers = helper.make_node("Reshape", ["g", "shape"], ["y"]), [("shape", np.array([0, -1]))]
    else:
        last, initializers = helper.make_node("Squeeze", ["g", "axes"], ["y"]), [("axes", np.array([2, 3]))]
    model = make_model([helper.make_node(op, ["x"], ["g"]), last], ["N", 3, 4, 5], ["N", 3], initializers)
    net = imports_as_runtime(model, x)
    assert only_layer(net) == AggregationLayer("Mean" if op == "GlobalAveragePool" else "Max", Input=(3, 4, 5))


@pytest.mark.parametrize(("op", "axes"), [("GlobalAveragePool", None), ("ReduceMax", [-1]), ("ReduceSum", [2, 3])])
def test_import_kept_size_1_dims_are_a_reshape(op, axes):
    x = RNG.standard_normal((2, 3, 4, 5))
    node = helper.make_node(op, ["x"], ["y"], **({} if axes is None else {"axes": axes}))
    net = imports_as_runtime(make_model([node], ["N", 3, 4, 5], None, opset=12), x)
    assert layer_types(net) == ["AggregationLayer", "ReshapeLayer"]


@pytest.mark.parametrize("opset", [12, 18])
@pytest.mark.parametrize(("op", "keepdims"), [("ReduceMean", 0), ("ReduceMax", 0), ("ReduceSum", 0),
                                              ("ReduceMin", 1), ("ReduceProd", 0)])
def test_import_reduce(op, keepdims, opset):
    x = RNG.standard_normal((2, 3, 4, 5))
    axes_input = opset >= (13 if op == "ReduceSum" else 18)
    inputs, attributes = (["x", "axes"], {}) if axes_input else (["x"], {"axes": [1, -1]})
    nodes = [helper.make_node(op, inputs, ["r" if keepdims else "y"], keepdims=keepdims, **attributes)]
    if keepdims:
        nodes.append(helper.make_node("Flatten", ["r"], ["y"], axis=1))
    model = make_model(nodes, ["N", 3, 4, 5], ["N", 4], [("axes", np.array([1, -1]))] if axes_input else [], opset)
    net = imports_as_runtime(model, x)
    aggregation = only_layer(net) if not keepdims else net._children()[0][1]
    assert aggregation.levels == (1, 3)


@pytest.mark.parametrize(("attributes", "pad"), [
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, None),
    ({"kernel_shape": [2, 3], "auto_pad": "SAME_UPPER"}, None),
    ({"kernel_shape": [2, 2]}, [0, 0, 1, 0, 0, 0, 0, 1]),
    ({"kernel_shape": [3, 3], "pads": [2, 2, 2, 2]}, None),
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_import_pooling(op, attributes, pad):
    x = -RNG.random((2, 3, 6, 5)) - 1
    extra = {"count_include_pad": 1} if op == "AveragePool" else {}
    nodes = [helper.make_node(op, ["p" if pad else "x"], ["y"], **attributes, **extra)]
    initializers = []
    if pad:
        nodes.insert(0, helper.make_node("Pad", ["x", "pads"], ["p"]))
        initializers = [("pads", np.array(pad))]
    model = make_model(nodes, ["N", 3, 6, 5], None, initializers)
    if op == "MaxPool" and attributes.get("auto_pad") == "SAME_UPPER":  # unequal pads, which MaxPool ignores
        with pytest.raises(NetSpecificationError, match="unequal pads .* are ignored by MaxPool"):
            import_onnx(model.SerializeToString())
        return
    net = imports_as_runtime(model, x)
    assert layer_types(net) == ["PoolingLayer"]


def test_import_average_pool_times_volume_is_total():
    nodes = [helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], count_include_pad=1, pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["a", "v"], ["y"])]
    model = make_model(nodes, ["N", 2, 4, 4], None, [("v", np.float32(4))])
    net = imports_as_runtime(model, RNG.standard_normal((2, 2, 4, 4)))
    assert only_layer(net).function == "Total" and only_layer(net).padding == (1, 1)


@pytest.mark.parametrize(("nodes", "initializers", "message"), [
    ([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], [],
     "count_include_pad=0 with nonzero pads"),
    ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], [],
     "ceil_mode=1"),
    ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])], [], "dilations"),
    ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[0, 1, 1, 0])], [], "unequal pads"),
    ([helper.make_node("Pad", ["x", "pads"], ["p"]), helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[2, 2])],
     [("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1]))], "equal on both sides, would count in the MaxPool"),
    ([helper.make_node("Pad", ["x", "pads"], ["y"])], [("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1]))],
     "a Pad only right before a MaxPool or AveragePool"),
    ([helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)], [], "reduces every axis"),
    ([helper.make_node("ReduceMean", ["x"], ["y"], axes=[0, 2], keepdims=0)], [], "include the batch axis"),
])
def test_import_refusals(nodes, initializers, message):
    model = make_model(nodes, ["N", 2, 4, 4], None, initializers)
    with pytest.raises(NetSpecificationError, match=message):
        import_onnx(model.SerializeToString())


def test_forms_read_only_where_they_compute_what_a_layer_does():
    x = randn(3, 2, 4, 4).numpy()
    # ceil_mode=1 where it gives the sizes rounding down gives (4x4, kernel 2, stride 1: 3x3 both ways)
    same = make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1)],
                      ["N", 2, 4, 4], None)
    assert only_layer(imports_as_runtime(same, x)).function == "Max"
    # a Reduce keeping non-trailing axes as dims of size 1: the aggregation, then a reshape, where dims are known
    kept = make_model([helper.make_node("ReduceMax", ["x"], ["y"], axes=[1, 2])], ["N", 2, 4, 4], None, opset=17)
    imports_as_runtime(kept, x)
    unknown = make_model([helper.make_node("ReduceMax", ["x"], ["y"], axes=[1, 2])], ["N", 2, "h", "w"], None)
    with pytest.raises(NetSpecificationError, match="keeps the reduced axes as dims of size 1"):
        import_onnx(unknown.SerializeToString())


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning",
                            "ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal")
def test_torchvision_style_head_from_pytorchs_exporter():
    import io

    module = nn.Sequential(nn.PReLU(3), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2, count_include_pad=True),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)).eval()
    buffer = io.BytesIO()
    x = randn(2, 3, 8, 8)
    torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["Input"], output_names=["Output"],
                      dynamic_axes={"Input": {0: "batch"}, "Output": {0: "batch"}})
    model = onnx.load_from_string(buffer.getvalue())
    net = imports_as_runtime(model, x.numpy())
    assert layer_types(net) == ["ParametricRampLayer", "PoolingLayer", "PoolingLayer", "AggregationLayer",
                                "LinearLayer"]


@pytest.mark.parametrize("opset", [9, 12, 17])
@pytest.mark.parametrize("layer", [
    AggregationLayer("Mean", [1, 3], Input=(2, 3, 4)), AggregationLayer("Total", Input=(2, 3, 4)),
    PoolingLayer(2, PaddingSize=((1, 0), (0, 1)), Input=(2, 3, 3)),
    PoolingLayer(3, 2, Function="Total", PaddingSize=1, Interleaving=True, Input=(5, 2)),
], ids=["mean", "total", "asymmetric", "interleaved-total"])
def test_older_opsets_write_attributes(layer, opset):
    model = onnx_model(layer, OperatorSetVersion=opset)
    x = RNG.standard_normal((2, *NetExtract(layer, "Input")))
    np.testing.assert_allclose(runtime(model, x), layer(x), **TOLERANCE)
    assert import_onnx(model.SerializeToString()) == layer


EXPORTED = {
    "total": PoolingLayer(2, Function="Total", Input=(2, 4, 4)),
    "wide-padding": PoolingLayer(3, PaddingSize=2, Input=(2, 5, 5)),
    "asymmetric": PoolingLayer(2, PaddingSize=((1, 0), (0, 1)), Input=(2, 4, 4)),
    "interleaving": PoolingLayer(2, Function="Mean", Interleaving=True, Input=(4, 4, 2)),
    "total-1d": PoolingLayer((3,), Function="Total", PaddingSize=1, Input=(2, 6)),
    "same": PoolingLayer(3, 2, Function="Mean", PaddingSize="Same", Input=(2, 6, 5)),
    "times": AggregationLayer("Times", Input=(2, 3, 3)),
}


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning",
                            "ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal",
                            r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning",
                            "ignore:Constant folding - Only steps=1 can be constant folded:UserWarning")
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", list(EXPORTED))
def test_pytorchs_exporters_write_the_torch_forms_and_they_import(name, exporter):
    import io

    if exporter == "dynamo" and name not in ("total", "interleaving"):
        pytest.skip("the dynamo exporter costs seconds a model: two forms")
    pytest.importorskip("onnxscript") if exporter == "dynamo" else None
    layer = EXPORTED[name]
    module, x = layer.to_torch(), randn(3, *NetExtract(layer, "Input"))
    if exporter == "dynamo":
        model = torch.onnx.export(module, (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},),
                                  verbose=False).model_proto
    else:
        buffer = io.BytesIO()
        torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["Input"], output_names=["Output"],
                          dynamic_axes={"Input": {0: "batch"}})
        model = onnx.load_from_string(buffer.getvalue())
    np.testing.assert_allclose(runtime(model, x.numpy()), module(x).numpy(), **TOLERANCE)
    imports_as_runtime(model, x.numpy())
