"""NetChain, LinearLayer, ElementwiseLayer, the Boolean coders, NetExtract/NetReplacePart on parts."""

import numpy as np
import pytest
import torch

from cases import page_chain
from wlnet import (
    Automatic,
    ElementwiseLayer,
    Information,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetError,
    NetExtract,
    NetInitialize,
    NetReplacePart,
    Normal,
    ParametricRampLayer,
    Ramp,
    Tanh,
)
from wlnet.errors import NetShapeError, NetSpecificationError


def test_page_chain_structure_and_types():
    net = page_chain()
    assert [type(layer).__name__ for layer in Normal(net)] == [
        "LinearLayer", "ParametricRampLayer", "LinearLayer", "ElementwiseLayer"]
    assert NetExtract(net, 4).function is LogisticSigmoid
    assert NetExtract(net, "Output") == NetDecoder("Boolean")
    assert NetExtract(net, [3, "Weights"]) is Automatic
    assert Information(net, "ArraysDimensions")[(3, "Weights")] == (1, 3)
    real = NetInitialize(NetReplacePart(net, "Input", "Real"))
    assert NetExtract(real, [1, "Weights"]).shape == (3, 1)


def test_chain_computes_the_composition():
    w1 = np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]], dtype=np.float32)
    b1 = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    slope = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    w2 = np.array([[1.0, 2.0, -1.0]], dtype=np.float32)
    net = NetChain([LinearLayer(3, Weights=w1, Biases=b1), ParametricRampLayer(Slope=slope),
                    LinearLayer([], Weights=w2, Biases=[0.5]), Tanh])
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -3.0]], dtype=np.float32)
    h = x @ w1.T + b1
    h = np.where(h > 0, h, slope * h)
    expected = np.tanh(h @ w2.T + 0.5)[:, 0]
    np.testing.assert_allclose(net(x), expected, rtol=1e-6)
    assert net(x[0]).shape == ()


def test_shape_inference_runs_both_ways():
    # The slope fixes LinearLayer's output size (backwards); Input fixes its weights (forwards).
    net = NetChain([LinearLayer(), ParametricRampLayer(Slope=[0.1, 0.2, 0.3], Input=3)], Input=2)
    assert Information(net, "ArraysDimensions")[(1, "Weights")] == (3, 2)
    assert NetExtract(net, "Output") == 3
    backwards = NetChain([LinearLayer(), LinearLayer(2, Input=5)])
    assert Information(backwards, "ArraysDimensions")[(1, "Biases")] == (5,)
    deep = NetChain([NetChain([LinearLayer(4), Ramp]), ParametricRampLayer(Span_(1))], Input=(2, 3))
    assert Information(NetInitialize(deep), "ArraysDimensions")[(2, "Slope")] == (4,)


def Span_(level):  # a level spec written as an int, to keep the test readable
    return level


def test_bare_specs_become_layers():
    net = NetChain([5, Ramp, [2, Tanh]], Input=3)
    kinds = [type(layer).__name__ for layer in Normal(net)]
    assert kinds == ["LinearLayer", "ElementwiseLayer", "NetChain"]
    assert Information(net, "LayersCount") == 4
    assert Information(net, "LayerTypeCounts") == {"LinearLayer": 2, "ElementwiseLayer": 2}
    assert Information(net, "LayersGraph") == {1: [2], 2: [3], 3: []}
    assert Information(net, "ArraysPositionList")[2:] == [(3, 1, "Weights"), (3, 1, "Biases")]


def test_named_chain_parts():
    net = NetInitialize(NetChain({"lin": LinearLayer(4), "act": ParametricRampLayer(), "out": 2}, Input=3))
    assert NetExtract(net, ["act", "Slope"]).tolist() == [np.float32(0.1)] * 4
    lin = NetExtract(net, "lin")
    assert lin is NetExtract(net, 1)
    assert Information(lin, "ArraysDimensions") == {("Weights",): (4, 3), ("Biases",): (4,)}
    assert list(Normal(net)) == ["lin", "act", "out"]
    replaced = NetReplacePart(net, ["act", "Slope"], [1, 2, 3, 4])
    assert NetExtract(replaced, ["act", "Slope"]).tolist() == [1, 2, 3, 4]
    assert NetExtract(net, ["act", "Slope"]).tolist() == [np.float32(0.1)] * 4  # unchanged
    with pytest.raises(NetShapeError, match=r'the array "Slope" of ParametricRampLayer .* has dims \(4,\), but the '
                                            r"replacement has dims \(3,\)"):
        NetReplacePart(net, ["act", "Slope"], [1, 2, 3])
    with pytest.raises(NetSpecificationError, match=r"there is no layer named 'ac'\. Did you mean act\?"):
        NetExtract(net, ["ac", "Slope"])


def test_incompatible_layers_are_named_in_the_error():
    with pytest.raises(NetShapeError, match=r"NetChain: layer 1 \(LinearLayer \(output a length-3 vector\)\) outputs "
                                            r"a length-3 vector, but layer 2 \(ParametricRampLayer \(levels 1\)\) "
                                            r"needs an array of dims \(2, …\)"):
        NetChain([LinearLayer(3), ParametricRampLayer(Slope=[1, 2])], Input=2)
    with pytest.raises(NetShapeError, match=r"NetChain: layer 1 \(LinearLayer \(output a length-3 vector\)\) outputs "
                                            r"a length-3 vector, but layer 2 .* needs a length-4 vector"):
        NetChain([LinearLayer(3), LinearLayer(2, Input=4)])
    with pytest.raises(NetSpecificationError, match=r"NetChain: layer 2: 'x' is not a layer"):
        NetChain([LinearLayer(3), "x"])
    with pytest.raises(NetError, match=r"LinearLayer needs fixed dims"):
        NetChain([LinearLayer(3)], Input=("Varying", 2))


def test_chain_uninitialized_error_names_the_part():
    with pytest.raises(NetError, match=r'NetChain: cannot evaluate the net: the array "Weights" of layer 1 '
                                       r"\(LinearLayer .*\) is not initialized"):
        NetChain([LinearLayer(3)], Input=2)([1, 2])


def test_boolean_decoder_and_raw_output():
    net = NetChain([LinearLayer([], Weights=[[1.0]], Biases=[0.0]), LogisticSigmoid],
                   Input="Real", Output=NetDecoder("Boolean"))
    assert net(0.0) is True  # p = 0.5 is True
    assert net(-0.01) is False
    assert net([-1, 0, 1]) == [False, True, True]
    assert net(0.0, None) == np.float32(0.5)
    assert net([0.0], "Probability").tolist() == [0.5]
    assert NetDecoder("Boolean")([0.49, 0.5, 0.51]) == [False, True, True]


def test_boolean_encoder_on_the_input():
    net = NetChain([LinearLayer([], Weights=[[2.0]], Biases=[1.0])], Input=NetEncoder("Boolean"))
    assert net(True) == 3.0 and net(False) == 1.0
    assert net([True, False]).tolist() == [3.0, 1.0]
    assert net(0.5) == 2.0  # already-encoded numbers bypass the encoder


def test_coders_are_equal_by_value_and_unhashable():
    assert NetDecoder("Boolean") == NetDecoder("Boolean") != NetEncoder("Boolean")
    for coder in (NetDecoder("Boolean"), NetEncoder("Boolean")):
        with pytest.raises(TypeError, match="unhashable type"):
            hash(coder)


def test_linear_layer_forms_and_errors():
    scalar = NetInitialize(LinearLayer([], Input=3))
    assert NetExtract(scalar, "Weights").shape == (1, 3) and scalar([1, 2, 3]).shape == ()
    tensor_out = NetInitialize(LinearLayer((2, 2), Input=(3, 2)))
    assert NetExtract(tensor_out, "Weights").shape == (4, 6) and tensor_out(np.ones((3, 2))).shape == (2, 2)
    no_bias = LinearLayer(2, Weights=[[1, 2], [3, 4]], Biases=None)
    assert Information(no_bias, "ArraysPositionList") == [("Weights",)]
    assert no_bias([1, 1]).tolist() == [3.0, 7.0]
    assert repr(no_bias) == "LinearLayer(2, Weights=[[1.0, 2.0], [3.0, 4.0]], Biases=None)  # Input: dims unknown"
    with pytest.raises(NetShapeError, match=r"Weights needs 3 columns, but has 2"):
        LinearLayer(2, Weights=[[1, 2], [3, 4]], Input=3)
    with pytest.raises(NetSpecificationError, match=r"the output size should be a positive integer"):
        LinearLayer(0)


def test_elementwise_functions_match_torch():
    x = torch.linspace(-2, 2, 9)
    for f, reference in [(Ramp, torch.relu), (LogisticSigmoid, torch.sigmoid), (Tanh, torch.tanh),
                         ("ELU", torch.nn.functional.elu), ("GELU", torch.nn.functional.gelu)]:
        np.testing.assert_allclose(ElementwiseLayer(f)(x.numpy()), reference(x).numpy(), rtol=1e-6)
    custom = ElementwiseLayer(lambda v: 2 * Tanh(v) + 1)
    np.testing.assert_allclose(custom(x.numpy()), (2 * torch.tanh(x) + 1).numpy(), rtol=1e-6)
    with pytest.raises(NetSpecificationError, match=r"'Relu' is not a known function\. Did you mean ReLU\?"):
        ElementwiseLayer("Relu")
    with pytest.raises(NetSpecificationError, match=r"should compute on torch tensors"):
        ElementwiseLayer(lambda v: np.tanh(v.numpy()).tolist() + 1)


def test_initializers_are_seeded_and_have_their_statistics():
    big = LinearLayer(256, Input=512)
    a, b = NetInitialize(big), NetInitialize(big)
    np.testing.assert_array_equal(NetExtract(a, "Weights"), NetExtract(b, "Weights"))  # RandomSeeding 1234
    c = NetInitialize(big, RandomSeeding=7)
    assert not np.array_equal(NetExtract(a, "Weights"), NetExtract(c, "Weights"))
    assert NetExtract(a, "Biases").tolist() == [0.0] * 256
    assert np.std(NetExtract(a, "Weights")) == pytest.approx(np.sqrt(2 / 512), rel=0.02)  # Kaiming
    xavier = NetExtract(NetInitialize(big, Method="Xavier"), "Weights")
    assert np.std(xavier) == pytest.approx(np.sqrt(2 / (512 + 256)), rel=0.02)
    uniform = NetExtract(NetInitialize(big, Method=("Kaiming", {"Distribution": "Uniform"})), "Weights")
    assert np.abs(uniform).max() <= np.sqrt(3) * np.sqrt(2 / 512) + 1e-6
    orthogonal = NetExtract(NetInitialize(big, Method="Orthogonal"), "Weights").astype(np.float64)
    np.testing.assert_allclose(orthogonal @ orthogonal.T, np.eye(256), atol=1e-5)
    identity = NetExtract(NetInitialize(LinearLayer(3, Input=3), Method=("Identity", {"Distribution": 0})), "Weights")
    np.testing.assert_array_equal(identity, np.eye(3))
    # Adding a layer never changes the others' values: each array has its own stream.
    one = NetInitialize(NetChain([LinearLayer(4)], Input=3))
    two = NetInitialize(NetChain([LinearLayer(4), LinearLayer(2)], Input=3))
    np.testing.assert_array_equal(NetExtract(one, [1, "Weights"]), NetExtract(two, [1, "Weights"]))


def test_chain_lowering_trains_every_array():
    net = NetInitialize(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(1)], Input=3))
    module = net.to_torch()
    loss = module(torch.randn(8, 3, generator=torch.Generator().manual_seed(0))).pow(2).sum()
    loss.backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    assert list(grads) == ["1.Weights", "1.Biases", "2.Slope", "3.Weights", "3.Biases"]  # the array paths
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_chain_learning_rate_multipliers_option_sets_every_layer():
    net = NetChain([LinearLayer(2), ParametricRampLayer()], Input=2, LearningRateMultipliers=0)
    assert set(Information(net, "ArraysLearningRateMultipliers").values()) == {0.0}
