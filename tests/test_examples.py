"""The ParametricRampLayer page's examples (spec/ParametricRampLayer-examples.md), with their results."""

import numpy as np
import pytest

from wlnet import (
    Automatic,
    Information,
    NetExtract,
    NetInitialize,
    Normal,
    ParametricRampLayer,
    Span,
)

F32 = np.float32


def test_1_create_uninitialized_layer():
    layer = ParametricRampLayer()
    assert NetExtract(layer, "Slope") is Automatic
    assert NetExtract(layer, "Input") is Automatic
    assert repr(layer) == "ParametricRampLayer(1)  # Slope: uninitialized, dims unknown; Input: dims unknown"


def test_2_3_shared_slope_given_and_applied_as_one_example():
    prelu = ParametricRampLayer([], Slope=0.25)
    assert NetExtract(prelu, "Slope").shape == ()
    out = prelu([[10, 10, 10], [-10, -10, -10]])
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[10, 10, 10], [-2.5, -2.5, -2.5]])
    # The layer's own input stays unknown: just-in-time inference makes a specialized copy.
    assert NetExtract(prelu, "Input") is Automatic


def test_4_5_initialize_vector_layer():
    act = NetInitialize(ParametricRampLayer(Input=3))
    slope = NetExtract(act, "Slope")
    assert slope.shape == (3,) and slope.dtype == np.float32
    assert Normal(NetExtract(act, "Slope")) == [float(F32(0.1))] * 3
    assert all(isinstance(v, float) for v in Normal(slope))


def test_6_apply_to_batch_of_two_vectors():
    act = NetInitialize(ParametricRampLayer(Input=3))
    out = act([[-3, -2, -1], [0, 1, 2]])
    np.testing.assert_allclose(out, [[-0.3, -0.2, -0.1], [0, 1, 2]], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out[0], F32(0.1) * np.array([-3, -2, -1], dtype=F32))


def test_9_unique_slope_is_rank_0():
    act = NetInitialize(ParametricRampLayer([], Input=3))
    value = Normal(NetExtract(act, "Slope"))
    assert isinstance(value, float) and value == float(F32(0.1))
    np.testing.assert_allclose(act([-1, -2, 3]), [-0.1, -0.2, 3], atol=1e-6)


def test_10_sequence_of_vectors():
    act = NetInitialize(ParametricRampLayer(2, Input=("Varying", 3)))
    assert Normal(NetExtract(act, "Slope")) == [float(F32(0.1))] * 3
    one = act([[-1, 1, -1], [2, -2, 2]])
    np.testing.assert_allclose(one, [[-0.1, 1, -0.1], [2, -0.2, 2]], atol=1e-6)
    batch = act([[[-1, 1, -1]], [[1, 2, 3], [-1, -2, -3], [4, 5, -6]]])
    assert isinstance(batch, list) and [b.shape for b in batch] == [(1, 3), (3, 3)]
    np.testing.assert_allclose(batch[1], [[1, 2, 3], [-0.1, -0.2, -0.3], [4, 5, -0.6]], atol=1e-6)
    longer = act(np.ones((7, 3)) * -1)
    assert longer.shape == (7, 3)


def test_11_fixed_leaky_relu():
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    assert Information(leaky, "ArraysLearningRateMultipliers") == {("Slope",): 0.0}
    assert leaky.to_torch().slope.requires_grad is False
    np.testing.assert_allclose(leaky([-1, 0, 1]), [-0.1, 0, 1], atol=1e-7)


def test_14_15_given_slope_vector():
    prelu = ParametricRampLayer(Slope=[0.1, 0.2, 0.3], LearningRateMultipliers=0, Input=3)
    assert NetExtract(prelu, "Slope").tolist() == [F32(0.1), F32(0.2), F32(0.3)]
    out = prelu([[-1, -1, -1], [1, 1, 1]])
    np.testing.assert_array_equal(out, [[-F32(0.1), -F32(0.2), -F32(0.3)], [1, 1, 1]])
    np.testing.assert_allclose(prelu([-10, 5, -20]), [-1, 5, -6], atol=1e-6)


def test_16_unique_fixed_slope():
    out = ParametricRampLayer([], Slope=0.1)([[-1, -1, -1], [1, 1, 1]])
    np.testing.assert_allclose(out, [[-0.1, -0.1, -0.1], [1, 1, 1]], atol=1e-7)


@pytest.mark.parametrize(
    ("levels", "slope_dims"),
    [(2, (3,)), (Span(1, 2), (2, 3)), ([1, 3], (2, 4)), ([], ()), (Automatic, (2,))],
)
def test_levels_table(levels, slope_dims):
    layer = NetInitialize(ParametricRampLayer(levels, Input=(2, 3, 4)))
    assert NetExtract(layer, "Slope").shape == slope_dims
    assert Information(layer, "ArraysDimensions") == {("Slope",): slope_dims}
