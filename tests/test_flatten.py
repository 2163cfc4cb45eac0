"""FlattenLayer against NumPy's reshape, its shape inference both ways, and its errors."""

import math

import numpy as np
import pytest
import torch

from wlnet import (
    Automatic,
    FlattenLayer,
    Information,
    LinearLayer,
    NetChain,
    NetInitialize,
    ParametricRampLayer,
)
from wlnet.errors import NetShapeError, NetSpecificationError
from wlnet.layers.flatten import Flatten


def numpy_flatten(x: np.ndarray, n) -> np.ndarray:
    """The oracle, on a batch (batch axis 0): merge the first n + 1, the last -n + 1 or all example axes."""
    batch, dims = x.shape[0], x.shape[1:]
    if n is None:
        return x.reshape(batch, -1)
    if n > 0:
        return x.reshape(batch, -1, *dims[n + 1:])
    return x.reshape(batch, *dims[:len(dims) + n - 1], -1)


@pytest.mark.parametrize(("dims", "n"), [
    (dims, n) for dims in [(2, 3, 4), (2, 3, 4, 5), (3, 2)] for n in [None, 1, 2, -1, -2]
    if n is None or abs(n) < len(dims)  # a rank too small for n is an error (see the error tests)
])
def test_values_are_numpy_reshape(dims, n):
    x = np.random.default_rng(0).standard_normal((5, *dims)).astype(np.float32)
    layer = FlattenLayer(*(() if n is None else (n,)), Input=dims)
    expected = numpy_flatten(x, n)
    np.testing.assert_array_equal(layer(x), expected)
    np.testing.assert_array_equal(layer(x[0]), expected[0])  # one example
    assert Information(layer, "OutputPorts")["Output"] == (
        expected.shape[1] if expected.ndim == 2 else expected.shape[1:])
    np.testing.assert_array_equal(layer.to_torch()(torch.from_numpy(x)).numpy(), expected)


def test_infinity_is_the_default():
    expected = FlattenLayer(Input=(2, 3))
    assert FlattenLayer(math.inf, Input=(2, 3)) == FlattenLayer(float("inf"), Input=(2, 3)) == expected
    assert repr(FlattenLayer(math.inf, Input=3)) == "FlattenLayer(Input=3)"


def test_flattening_a_vector_changes_nothing():
    assert FlattenLayer()([1, 2, 3]).tolist() == [1.0, 2.0, 3.0]


def test_without_input_dims_the_data_decides():
    layer = FlattenLayer(1)
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(layer(x), x.reshape(6, 4))  # tried as one example first
    assert Information(layer, "OutputPorts")["Output"] is Automatic


def test_varying_sequences_flatten_their_later_levels():
    layer = FlattenLayer(-1, Input=("Varying", 2, 3))
    assert Information(layer, "OutputPorts")["Output"] == ("Varying", 6)
    sequences = [np.random.default_rng(i).standard_normal((length, 2, 3)) for i, length in enumerate((3, 1, 2))]
    for sequence, result in zip(sequences, layer(sequences)):
        np.testing.assert_allclose(result, sequence.reshape(len(sequence), 6), rtol=1e-6)


def test_output_dims_infer_the_input_dims():
    layer = FlattenLayer(1, Input=(Automatic, 3, 4), Output=(6, 4))
    assert Information(layer, "InputPorts")["Input"] == (2, 3, 4)
    assert FlattenLayer(-1, Output=(5, 6))._ports["Input"].dims == (5, None, None)
    assert FlattenLayer(Output=6)._ports["Input"].dims is None  # any rank may flatten to 6


def test_output_dims_come_from_the_next_layer_in_a_chain():
    chain = NetChain([FlattenLayer(1), LinearLayer(2, Input=(6, 4))])
    assert Information(chain, "InputPorts")["Input"] == (Automatic, Automatic, 4)
    chain = NetChain([FlattenLayer(1, Input=(2, Automatic, 4)), LinearLayer(2, Input=(6, 4))])
    assert Information(chain, "InputPorts")["Input"] == (2, 3, 4)


def test_a_chain_through_flatten_initializes_and_runs():
    net = NetInitialize(NetChain([FlattenLayer(), LinearLayer(2)], Input=(2, 3)))
    assert Information(net, "ArraysDimensions")[(2, "Weights")] == (2, 6)
    x = np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32)
    weights = Information(net, "ArraysList")[0]
    np.testing.assert_allclose(net(x), x.reshape(4, 6) @ weights.T, rtol=1e-5, atol=1e-6)


def test_repr_and_arguments_rebuild_the_layer():
    for layer in [FlattenLayer(), FlattenLayer(2, Input=(2, 3, 4)), FlattenLayer(-1, Input=("Varying", 2, 3)),
                  FlattenLayer(1, Output=(6, 4))]:
        args, options = layer._arguments()
        assert FlattenLayer(*args, **options) == layer
        assert eval(repr(layer).split("  #")[0], {"FlattenLayer": FlattenLayer, "Automatic": Automatic}) == layer


@pytest.mark.parametrize("n", [0, "a", 1.5, True, None, -math.inf, math.nan])
def test_a_bad_n_is_an_error(n):
    with pytest.raises(NetSpecificationError, match=r"FlattenLayer: the argument should be a nonzero integer"):
        FlattenLayer(n)


@pytest.mark.parametrize(("groups", "match"), [
    ([], "nonempty list of nonempty lists"), ([[1], []], "nonempty list of nonempty lists"),
    ([[0, 1]], "counted from 1"), ([[-1]], "counted from 1"), ([[1, 2], [2]], "names level 2 twice"),
])
def test_bad_groups_of_levels_are_an_error(groups, match):
    with pytest.raises(NetSpecificationError, match=match):
        FlattenLayer(groups)


@pytest.mark.parametrize(("n", "dims", "needed"), [(2, (2, 3), 3), (-3, (2, 3, 4), 4), (None, "Real", 1)])
def test_a_rank_too_small_is_a_shape_error(n, dims, needed):
    args = () if n is None else (n,)
    pattern = rf'^FlattenLayer \(.*\): port "Input" is .* needs an array of rank >= {needed}'
    with pytest.raises(NetShapeError, match=pattern):
        FlattenLayer(*args, Input=dims)


def test_a_rank_too_small_in_a_chain_names_the_layer():
    with pytest.raises(NetShapeError, match=r"FlattenLayer\(2\) merges levels 1 to 3 and needs an array of rank >= 3"):
        NetChain([LinearLayer((2, 3)), FlattenLayer(2)], Input=4)


def test_a_rank_too_small_in_the_data_is_a_shape_error():
    with pytest.raises(NetShapeError, match=r"rank >= 3"):
        FlattenLayer(2)([1.0, 2.0])


@pytest.mark.parametrize(("n", "dims"), [(None, ("Varying", 3)), (1, ("Varying", 2, 3)), (-1, ("Varying", 3))])
def test_merging_the_varying_level_is_a_shape_error(n, dims):
    args = () if n is None else (n,)
    with pytest.raises(NetShapeError, match=r'^FlattenLayer \(.*\): port "Input" is a sequence .*"Varying"'):
        FlattenLayer(*args, Input=dims)


def test_merging_the_varying_level_suggests_merging_the_later_ones():
    with pytest.raises(NetShapeError, match=r"use FlattenLayer\(-1\)"):
        FlattenLayer(Input=("Varying", 2, 3))


def test_output_dims_that_contradict_the_input_are_a_shape_error():
    with pytest.raises(NetShapeError, match=r'flattens to a 6×4 matrix, but port "Output" is a 5×4 matrix'):
        FlattenLayer(1, Input=(2, 3, 4), Output=(5, 4))
    with pytest.raises(NetShapeError, match=r"7 is not a multiple of 3"):
        FlattenLayer(1, Input=(Automatic, 3, 4), Output=(7, 4))
    with pytest.raises(NetShapeError, match=r"outputs an array of rank at least 1"):
        FlattenLayer(1, Output="Real")


def test_a_varying_output_level_needs_a_varying_input_level():
    with pytest.raises(NetShapeError, match=r'level 1 of port "Output" .* is "Varying"'):
        NetChain([FlattenLayer(1), ParametricRampLayer(2)], Output=("Varying", 3))


def test_unknown_options_are_refused():
    with pytest.raises(TypeError, match="unknown option Slope"):
        FlattenLayer(Slope=1)


def test_the_torch_form_has_no_parameters_and_checks_the_rank():
    module = FlattenLayer(1, Input=(2, 3, 4)).to_torch()
    assert isinstance(module, Flatten) and module.level == 1 and not list(module.parameters())
    with pytest.raises(NetShapeError, match=r"FlattenLayer \(levels 1 to 2\): an input of shape \(5, 2\)"):
        module(torch.zeros(5, 2))


def test_gradients_flow_through():
    x = torch.randn(3, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(Flatten(-2), (x,))
