"""ConvolutionLayer: the output-size table and conformance vector of the Wolfram notes (spec §2.5,
§15.2), PyTorch's own convolutions as the reference, from_torch, channels last, errors, NetInitialize,
and ONNX forms that other exporters write. (The contract table, tests/cases.py, runs the rest.)"""

import numpy as np
import pytest
import torch
from torch import nn

from wlnet import (
    Automatic,
    ConvolutionLayer,
    FlattenLayer,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetInitialize,
    ParametricRampLayer,
    from_torch,
)
from wlnet.errors import NetShapeError, NetSpecificationError

RNG = np.random.default_rng(20)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def random_conv(n, s, c, **options):
    """A ConvolutionLayer with random weights and biases (for c input channels)."""
    groups = options.get("ChannelGroups", 1)
    d = len(s) if isinstance(s, tuple) else options.pop("d", 2)
    kernel = s if isinstance(s, tuple) else (s,) * d
    weights = RNG.standard_normal((n, c // groups, *kernel)).astype(np.float32)
    biases = RNG.standard_normal(n).astype(np.float32)
    return ConvolutionLayer(n, s, Weights=weights, Biases=None if options.pop("bias", True) is False else biases,
                            **options)


# -- the output size (spec §2.5: Wolfram's own test table, every row) -----------------------------------
TABLE = [
    ((3, (3, 2)), {"Stride": (2, 1), "PaddingSize": (2, 1), "Dilation": (2, 1)}, (3, 7, 5), (3, 4, 6)),
    ((2, 2), {}, (2, 4, 4), (2, 3, 3)),
    ((2, 2), {"Stride": 2}, (2, 8, 8), (2, 4, 4)),
    ((2, 2), {"Dilation": 2}, (2, 8, 8), (2, 6, 6)),
    ((6, 2), {"Dilation": 2, "ChannelGroups": 3}, (3, 3, 3), (6, 1, 1)),
    ((3, 2), {"PaddingSize": ((1, 2), (2, 1))}, (2, 3, 4), (3, 5, 6)),
    ((3, (3,)), {"Stride": 2, "PaddingSize": 2, "Dilation": 2}, (3, 7), (3, 4)),
    ((3, (3, 2, 3)), {"Stride": (2, 1, 2), "PaddingSize": (2, 1, 0)}, (3, 7, 5, 8), (3, 5, 6, 3)),
]


@pytest.mark.parametrize(("args", "options", "dims_in", "dims_out"), TABLE)
def test_output_dims_of_the_wolfram_table(args, options, dims_in, dims_out):
    layer = ConvolutionLayer(*args, **options, Input=dims_in)
    assert Information(layer, "OutputPorts") == {"Output": dims_out}
    net = NetInitialize(layer)
    assert net(RNG.standard_normal(dims_in)).shape == dims_out  # and the computation agrees


def test_same_padding_gives_ceiling_of_in_over_stride_with_the_extra_zero_after():
    assert Information(ConvolutionLayer(2, 3, Stride=2, PaddingSize="Same", Input=(1, 6, 5)), "OutputPorts") == {
        "Output": (2, 3, 3)}
    assert Information(ConvolutionLayer(2, 4, Dilation=2, PaddingSize="Same", Input=(1, 7)), "OutputPorts") == {
        "Output": (2, 7)}
    # In 6, kernel 3, stride 2: a total of 1 zero, after; in 5: one on each side.
    same = random_conv(2, 3, 1, Stride=2, PaddingSize="Same")
    explicit = ConvolutionLayer(2, 3, Stride=2, PaddingSize=((0, 1), (1, 1)), Weights=NetExtract(same, "Weights"),
                                Biases=NetExtract(same, "Biases"))
    x = RNG.standard_normal((4, 1, 6, 5))
    np.testing.assert_array_equal(same(x), explicit(x))
    # Stride 1: PyTorch's padding="same" (which also puts the extra zero after).
    same = random_conv(3, 4, 2, d=1, PaddingSize="Same", Dilation=2)
    torch_conv = nn.Conv1d(2, 3, 4, padding="same", dilation=2)
    with torch.no_grad():
        torch_conv.weight.copy_(torch.tensor(NetExtract(same, "Weights")))
        torch_conv.bias.copy_(torch.tensor(NetExtract(same, "Biases")))
        x = torch.randn(3, 2, 9)
        torch.testing.assert_close(same(x), torch_conv(x), **TOLERANCE)


# -- the computation -------------------------------------------------------------------------------------
def test_conformance_vector_is_a_cross_correlation_without_flip():
    """Spec §15.2: one channel, Weights {{{1, 0}, {0, -1}}}, no biases."""
    layer = ConvolutionLayer(1, 2, Weights=[[[[1, 0], [0, -1]]]], Biases=None)
    x = [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]
    np.testing.assert_array_equal(layer(x), [[[-4, -4], [-4, -4]]])


TORCH_FORMS = [
    ("1d", nn.Conv1d(3, 4, 3), (3, 9)),
    ("2d", nn.Conv2d(3, 4, 3), (3, 7, 6)),
    ("3d", nn.Conv3d(2, 4, (2, 3, 2)), (2, 4, 5, 4)),
    ("stride-padding-dilation", nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(2, 1)), (2, 7, 5)),
    ("groups", nn.Conv2d(4, 6, 3, groups=2, padding=1), (4, 5, 5)),
    ("depthwise", nn.Conv2d(3, 3, 3, groups=3), (3, 5, 5)),
    ("no-bias", nn.Conv2d(2, 3, 2, bias=False), (2, 4, 4)),
    ("same", nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2)), (2, 6, 7)),
    ("valid", nn.Conv1d(2, 3, 3, padding="valid", stride=2), (2, 8)),
    ("3d-padding", nn.Conv3d(1, 2, 3, padding=(1, 0, 2), stride=(1, 2, 1)), (1, 4, 5, 3)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize(("name", "module", "dims"), TORCH_FORMS, ids=[t[0] for t in TORCH_FORMS])
def test_from_torch_equals_the_module_and_the_layer_is_pytorchs_convolution(name, module, dims):
    torch.manual_seed(0)
    module.eval()
    net = from_torch(module, Input=dims)
    assert isinstance(net, ConvolutionLayer)
    x = torch.randn(3, *dims)
    with torch.no_grad():
        want = module(x)
    torch.testing.assert_close(net(x), want, **TOLERANCE)
    assert Information(net, "OutputPorts")["Output"] == tuple(want.shape[1:])
    torch.testing.assert_close(net.to_torch()(x), want, **TOLERANCE)  # the lowered module too


HAND_WRITTEN = [  # (ConvolutionLayer's options, nn.ConvNd's), the same convolution
    ((3, (3,)), {"Stride": 2, "PaddingSize": 2, "Dilation": 2}, (nn.Conv1d, 2, 3, 3),
     {"stride": 2, "padding": 2, "dilation": 2}, (2, 7)),
    ((6, 2), {"Dilation": 2, "ChannelGroups": 3}, (nn.Conv2d, 3, 6, 2), {"dilation": 2, "groups": 3}, (3, 5, 4)),
    ((4, (3, 2, 3)), {"Stride": (2, 1, 2), "PaddingSize": (2, 1, 0)}, (nn.Conv3d, 2, 4, (3, 2, 3)),
     {"stride": (2, 1, 2), "padding": (2, 1, 0)}, (2, 7, 5, 8)),
    ((2, 3), {"Biases": None}, (nn.Conv2d, 2, 2, 3), {"bias": False}, (2, 4, 5)),
]


@pytest.mark.parametrize(("args", "options", "torch_args", "torch_options", "dims"), HAND_WRITTEN)
def test_a_hand_written_layer_is_pytorchs_convolution(args, options, torch_args, torch_options, dims):
    torch.manual_seed(2)
    module = torch_args[0](*torch_args[1:], **torch_options)
    arrays = {"Weights": module.weight, **({"Biases": module.bias} if module.bias is not None else {})}
    layer = ConvolutionLayer(*args, **options, **arrays, Input=dims)
    x = torch.randn(4, *dims)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), module(x), **TOLERANCE)


def test_from_torch_keeps_the_forms_and_refuses_other_padding_modes():
    net = from_torch(nn.Conv2d(4, 6, (3, 3), stride=2, padding=1, groups=2, bias=False))
    assert repr(net).startswith("ConvolutionLayer(6, (3, 3), Stride=2, PaddingSize=1, ChannelGroups=2, "
                                "Input=(4, Automatic, Automatic)")
    frozen = nn.Conv1d(2, 2, 2).requires_grad_(False)
    assert Information(from_torch(frozen), "ArraysLearningRateMultipliers") == {
        ("Weights",): 0.0, ("Biases",): 0.0}
    with pytest.raises(NetSpecificationError, match=r'nn\.Conv2d has no wlnet equivalent: padding_mode="reflect" '
                                                    r"pads with other values than zeros"):
        from_torch(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))


def test_a_torch_cnn_converts_to_a_chain():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.PReLU(4), nn.Conv2d(4, 4, 3, stride=2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).eval()
    net = from_torch(model, Input=(1, 8, 8))
    assert Information(net, "LayerTypeCounts") == {"ConvolutionLayer": 2, "ParametricRampLayer": 1,
                                                   "FlattenLayer": 1, "LinearLayer": 1}
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), **TOLERANCE)


def test_interleaving_is_the_channel_first_computation_permuted():
    first = random_conv(4, (3, 2), 3, Stride=(1, 2), PaddingSize=((1, 0), (2, 1)))
    last = ConvolutionLayer(4, (3, 2), Stride=(1, 2), PaddingSize=((1, 0), (2, 1)), Interleaving=True,
                            Weights=NetExtract(first, "Weights"), Biases=NetExtract(first, "Biases"),
                            Input=(6, 5, 3))
    assert Information(last, "OutputPorts") == {"Output": (5, 4, 4)}
    x = RNG.standard_normal((2, 3, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(last(x.transpose(0, 2, 3, 1)), first(x).transpose(0, 2, 3, 1), **TOLERANCE)


def test_a_channels_last_tensor_gives_the_same_as_a_contiguous_one():
    module = random_conv(4, 3, 3, PaddingSize=1).to_torch()
    x = torch.randn(2, 3, 6, 5)
    y = module(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y, module(x))
    interleaved = ConvolutionLayer(4, 3, Interleaving=True, Weights=module.Weights, Biases=module.Biases)
    y = interleaved.to_torch()(x.permute(0, 2, 3, 1))  # NHWC data: its channels-first view is channels_last
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, module.Weights, module.Biases).permute(0, 2, 3, 1))


def test_integer_input_is_computed_in_the_weights_type():
    layer = ConvolutionLayer(1, 2, Weights=[[[[1, 0], [0, -1]]]], Biases=[0.5])
    y = layer.to_torch()(torch.arange(9).reshape(1, 1, 3, 3))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, torch.full((1, 1, 2, 2), -3.5))


def test_a_ramp_after_a_convolution_is_per_channel_as_nn_prelu():
    conv = random_conv(4, 3, 2, PaddingSize=1)
    slope = RNG.uniform(-1, 1, 4).astype(np.float32)
    net = NetChain([conv, ParametricRampLayer(Slope=slope)], Input=(2, 5, 5))
    assert NetExtract(net, 2)._params["levels"] == 1  # the default level: the channels of {c, h, w}
    prelu = nn.PReLU(4)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor(slope))
        x = torch.randn(3, 2, 5, 5)
        torch.testing.assert_close(net(x), prelu(conv.to_torch()(x)), **TOLERANCE)
    # Channels last: the channels are level -1.
    last = NetChain([ConvolutionLayer(4, 3, PaddingSize=1, Interleaving=True, Weights=NetExtract(conv, "Weights"),
                                      Biases=NetExtract(conv, "Biases")), ParametricRampLayer(-1, Slope=slope)],
                    Input=(5, 5, 2))
    with torch.no_grad():
        torch.testing.assert_close(last(x.permute(0, 2, 3, 1)), net(x).permute(0, 2, 3, 1), **TOLERANCE)


# -- shapes inferred both ways ---------------------------------------------------------------------------
def test_dims_are_inferred_from_the_arrays_and_the_output():
    weights = np.zeros((6, 2, 3, 3), np.float32)
    layer = ConvolutionLayer(Weights=weights, ChannelGroups=2)  # n, kernel and input channels from the Weights
    assert layer._array_dims("Biases") == (6,)
    assert Information(layer, "InputPorts") == {"Input": (4, Automatic, Automatic)}
    assert Information(ConvolutionLayer(3, 3, PaddingSize=1, Output=(3, 5, 7)), "InputPorts") == {
        "Input": (Automatic, 5, 7)}  # stride 1: the input's spatial sizes from the output's
    assert Information(ConvolutionLayer(3, 3, Stride=2, Output=(3, 5, 7)), "InputPorts") == {
        "Input": (Automatic,) * 3}  # stride 2: several input sizes give one output size
    assert Information(ConvolutionLayer(3, (3, 3, 3)), "InputPorts") == {"Input": (Automatic,) * 4}
    chain = NetChain([ConvolutionLayer(8, 3), ParametricRampLayer(), FlattenLayer(), LinearLayer(2)],
                     Input=(1, 10, 10))
    assert Information(NetExtract(chain, 3), "InputPorts") == {"Input": (8, 8, 8)}
    assert Information(ConvolutionLayer(3, 3, Dimensionality=1), "InputPorts") == {"Input": (Automatic,) * 2}
    one_d = NetInitialize(ConvolutionLayer(3, 3, Dimensionality=1, Input=(2, 6)))
    assert repr(one_d).startswith("ConvolutionLayer(3, 3, Dimensionality=1, Input=(2, 6), ")
    assert from_torch(one_d.to_torch(), Input=(2, 6)) == one_d
    varying = ConvolutionLayer(2, 3, Interleaving=True, Input=("Varying", 4))
    assert Information(varying, "OutputPorts") == {"Output": ("Varying", 2)}


# -- errors ------------------------------------------------------------------------------------------------
ERRORS = [
    (lambda: ConvolutionLayer(2, 5, Input=(1, 4, 4)), NetShapeError,
     r'^ConvolutionLayer \(2 output channels, kernel size 5\): kernel size 5 cannot exceed input size 4 plus padding '
     r'size 0 at spatial dimension 1 of port "Input" \(an array of dims \(1, 4, 4\)\)\.'),
    (lambda: ConvolutionLayer(2, 3, Dilation=2, PaddingSize=(0, 1), Input=(1, 6, 2)), NetShapeError,
     r"kernel size 5 \(kernel 3 with dilation 2\) cannot exceed input size 2 plus padding size 2 at spatial "
     r"dimension 2"),
    (lambda: ConvolutionLayer(4, 3, ChannelGroups=2, Input=(3, 5, 5)), NetShapeError,
     r'^ConvolutionLayer \(4 output channels, kernel size 3\): the number of input channels 3 \(port "Input": an '
     r"array of dims \(3, 5, 5\)\) is not divisible by the group number 2 \(ChannelGroups\)"),
    (lambda: ConvolutionLayer(3, 3, ChannelGroups=2, Input=(4, 5, 5)), NetShapeError,
     r'the number of output channels 3 \(port "Output": an array of dims \(3, 3, 3\)\) is not divisible by the '
     r"group number 2"),
    (lambda: ConvolutionLayer(2, 3, Input=("Varying", 5)), NetShapeError,
     r'the number of channels of port "Input" \(a sequence of length-5 vectors\) cannot be "Varying" \(dynamic\)\. '
     r"To use a dynamic spatial dimension, use Interleaving=True"),
    (lambda: ConvolutionLayer(2, 3, Input=(1, 5, 5, 5, 5)), NetShapeError,
     r'port "Input" \(an array of dims \(1, 5, 5, 5, 5\)\) should be an array of rank 2, 3 or 4 \(channels and 1, 2 '
     r"or 3 spatial dimensions\), but has rank 5"),
    (lambda: ConvolutionLayer(2, (3, 3), Input=(1, 5)), NetShapeError,
     r'the kernel size \(3, 3\) has 2 spatial dimensions, so port "Input" \(a 1×5 matrix\) should have rank 3'),
    (lambda: ConvolutionLayer(2, (3, 3, 3, 3)), NetSpecificationError,
     r"the kernel size \(3, 3, 3, 3\): the dimensionality \(number of spatial dimensions\) must be either 1, 2 or 3"),
    (lambda: ConvolutionLayer(2, (3, 3), Stride=(1, 1, 1)), NetSpecificationError,
     r"the kernel size \(3, 3\) has 2 spatial dimensions, but the Stride \(1, 1, 1\) has 3"),
    (lambda: ConvolutionLayer(2, 0), NetSpecificationError,
     r"the kernel size should be a positive integer or a tuple of 1, 2 or 3 positive integers"),
    (lambda: ConvolutionLayer(2, 3, PaddingSize=-1), NetSpecificationError, r"the PaddingSize should be"),
    (lambda: ConvolutionLayer(2, 3, PaddingSize="same"), NetSpecificationError, r'or "Same", but was \'same\''),
    (lambda: ConvolutionLayer(2, 3, Interleaving=1), NetSpecificationError, r"Interleaving should be True"),
    (lambda: ConvolutionLayer(0, 3), NetSpecificationError, r"number of output channels n should be a positive"),
    (lambda: ConvolutionLayer(2, 3, Weights=np.zeros((3, 1, 3, 3))), NetShapeError,
     r'the number of output channels is 2 by n, but 3 by "Weights" \(its first dim\)'),
    (lambda: ConvolutionLayer(2, 3, Weights=np.zeros((2, 1, 2, 2))), NetShapeError,
     r'inferred inconsistent dimensions for array "Weights": the kernel size is 3, so Weights needs dims '
     r"\(n, c/g, 3, 3\), but has dims \(2, 1, 2, 2\)"),
    (lambda: ConvolutionLayer(2, 3, Weights=np.zeros((2, 1, 3, 3)), Input=(2, 5, 5)), NetShapeError,
     r'the number of input channels is 2 by port "Input", but 1 by "Weights" \(its second dim times the '
     r"ChannelGroups\)"),
    (lambda: ConvolutionLayer(2, 3, Input=(1, 5, 5), Output=(2, 4, 4)), NetShapeError,
     r'port "Output" is an array of dims \(2, 4, 4\), but the other port\'s size and the kernel, stride, padding and '
     r"dilation give size 3 at spatial dimension 1, not 4"),
    (lambda: ConvolutionLayer(2, 3, PaddingSize=5, Output=(2, 1, 1)), NetShapeError,
     r"an input with non-positive dimensions was inferred"),
    (lambda: ConvolutionLayer(2, (3, 3), Dimensionality=1), NetShapeError,
     r"Dimensionality is 1, but the kernel size, Stride, PaddingSize, Dilation, Weights or ports give 2 spatial "
     r"dimensions"),
    (lambda: ConvolutionLayer(2, 3, Dimensionality=4), NetSpecificationError,
     r"Dimensionality should be 1, 2 or 3 \(the number of spatial dimensions\) or Automatic, but was 4"),
    (lambda: ConvolutionLayer(2, 3, Strides=2), Exception, r"unknown option Strides\. Did you mean Stride\?"),
]


@pytest.mark.parametrize(("make", "error", "pattern"), ERRORS)
def test_errors_name_the_layer_the_port_and_the_dims(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_the_torch_module_checks_its_input():
    module = random_conv(2, 3, 2).to_torch()
    with pytest.raises(NetShapeError, match=r"the input's second dim \(the channels\) should be 2, but the input has "
                                            r"shape \(1, 3, 5, 5\)"):
        module(torch.randn(1, 3, 5, 5))
    with pytest.raises(NetShapeError, match=r"kernel size 3 cannot exceed input size 2 plus padding size 0 at "
                                            r"spatial dimension 1"):
        module(torch.randn(1, 2, 2, 5))
    with pytest.raises(NetShapeError, match=r"should have rank 4 \(batch, channels and 2 spatial dims\), but has "
                                            r"shape \(2, 5, 5\)"):
        module(torch.randn(2, 5, 5))
    sequences = NetInitialize(ConvolutionLayer(2, 3, Interleaving=True, Input=("Varying", 1)))
    with pytest.raises(NetShapeError, match=r"kernel size 3 cannot exceed input size 2"):
        sequences([np.ones((2, 1)), np.ones((4, 1))])


def test_uninitialized_weights_say_what_is_missing():
    with pytest.raises(Exception, match=r"the number of input channels \(the Input option\)"):
        NetInitialize(ConvolutionLayer(2, 3))


# -- NetInitialize -----------------------------------------------------------------------------------------
def test_kaiming_uses_the_fan_in_of_a_group_and_biases_start_at_zero():
    layer = NetInitialize(ConvolutionLayer(64, (3, 5), ChannelGroups=2, Input=(16, 9, 9)))
    weights = NetExtract(layer, "Weights")
    assert weights.shape == (64, 8, 3, 5)
    fan_in = 8 * 3 * 5
    assert abs(weights.std() / np.sqrt(2 / fan_in) - 1) < 0.05
    assert not NetExtract(layer, "Biases").any()


def test_identity_initialization_is_a_centred_delta():
    layer = NetInitialize(ConvolutionLayer(3, 3, PaddingSize=1, Input=(3, 4, 5)), Method=("Identity",
                                                                                          {"Distribution": 0}))
    x = RNG.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(layer(x), x, **TOLERANCE)


# -- ONNX forms that other exporters write -----------------------------------------------------------------
def onnx_conv(nodes, x_shape, y_shape, initializers, opset=17):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        initializer=[numpy_helper.from_array(np.asarray(v), name=k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def assert_imports_as_runtime(model, x):
    import onnxruntime as ort

    from wlnet.onnx import import_onnx

    net = import_onnx(model.SerializeToString())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(["y"], {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(net(x), want, **TOLERANCE)
    return net


def only_layer(net):
    """The one layer of an imported net (a NetChain of one layer, or the layer)."""
    return net if isinstance(net, ConvolutionLayer) else NetExtract(net, 1)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_import_conv_with_auto_pad(auto_pad):
    from onnx import helper

    w = RNG.standard_normal((3, 2, 3, 2)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 1])
    model = onnx_conv([node], ["N", 2, 6, 5], ["N", 3, None, None], {"w": w})
    layer = only_layer(assert_imports_as_runtime(model, RNG.standard_normal((2, 2, 6, 5))))
    expected = {"SAME_UPPER": "Same", "SAME_LOWER": ((1, 0), (1, 0)), "VALID": 0}[auto_pad]
    assert layer._params["PaddingSize"] == expected


def test_import_a_pad_before_a_conv_joins_its_padding():
    from onnx import helper

    w = RNG.standard_normal((4, 3, 2, 2)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    pads = np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64)
    nodes = [helper.make_node("Pad", ["x", "p"], ["padded"]),
             helper.make_node("Conv", ["padded", "w", "b"], ["y"], pads=[0, 1, 0, 0])]
    model = onnx_conv(nodes, ["N", 3, 5, 4], ["N", 4, None, None], {"w": w, "b": b, "p": pads})
    layer = only_layer(assert_imports_as_runtime(model, RNG.standard_normal((2, 3, 5, 4))))
    assert layer._params["PaddingSize"] == ((1, 2), (1, 1))


def test_import_transposes_around_a_conv_as_interleaving():
    from onnx import helper

    w = RNG.standard_normal((4, 3, 2, 2)).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["t", "w"], ["c"], pads=[0, 1, 0, 0]),
             helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])]
    model = onnx_conv(nodes, ["N", 5, 4, 3], ["N", None, None, 4], {"w": w})
    layer = only_layer(assert_imports_as_runtime(model, RNG.standard_normal((2, 5, 4, 3))))
    assert layer._params["Interleaving"] is True and layer._params["biases"] is False


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal")
@pytest.mark.filterwarnings("ignore:Constant folding - Only steps=1:UserWarning")
def test_torch_asymmetric_padding_exports_and_imports_back():
    """The module pads asymmetrically with F.pad: PyTorch's TorchScript exporter writes a Pad (its pads
    computed by ConstantOfShape, Concat, Slice, Transpose... of constants), then the Conv."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import io

    from wlnet.onnx import import_onnx

    layer = random_conv(2, 2, 2, PaddingSize=((1, 2), (0, 1)), Input=(2, 4, 4))
    module = layer.to_torch().eval()
    buffer = io.BytesIO()
    x = torch.randn(2, 2, 4, 4)
    torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    model = onnx.load_from_string(buffer.getvalue())
    assert [n.op_type for n in model.graph.node][-2:] == ["Pad", "Conv"]  # its pads computed from constants
    net = import_onnx(model.SerializeToString())
    assert only_layer(net)._params["PaddingSize"] == ((1, 2), (0, 1))
    torch.testing.assert_close(torch.as_tensor(net(x.numpy())), module(x), **TOLERANCE)
