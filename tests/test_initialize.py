"""NetInitialize: which arrays it fills, what with, and that nets stay values."""

import numpy as np

from wlnet import All, Automatic, LinearLayer, NetExtract, NetInitialize, ParametricRampLayer


def test_fills_missing_arrays_with_0_1_and_keeps_given_ones():
    given = ParametricRampLayer(Slope=[0.5, 0.7], Input=2)
    assert NetInitialize(given) is given  # nothing to do: returned unchanged
    np.testing.assert_array_equal(NetExtract(NetInitialize(given), "Slope"), np.float32([0.5, 0.7]))
    fresh = NetInitialize(ParametricRampLayer(Input=(4, 2)))
    assert NetExtract(fresh, "Slope").tolist() == [np.float32(0.1)] * 4


def test_all_reinitializes_and_none_removes():
    given = ParametricRampLayer(Slope=[0.5, 0.7], Input=2)
    again = NetInitialize(given, All)
    assert NetExtract(again, "Slope").tolist() == [np.float32(0.1)] * 2
    assert NetExtract(given, "Slope").tolist() == [0.5, np.float32(0.7)]
    removed = NetInitialize(given, None)
    assert NetExtract(removed, "Slope") is Automatic
    assert NetExtract(removed, "Input") == 2  # the dims given by the slope stay as types


def test_shared_slope_needs_no_input_dims():
    layer = NetInitialize(ParametricRampLayer([]))
    assert NetExtract(layer, "Slope").shape == ()
    assert layer([[-1.0, 2.0]]).tolist() == [[np.float32(-0.1), 2.0]]


def test_lists_are_mapped_and_options_validated():
    nets = NetInitialize([ParametricRampLayer(Input=1), ParametricRampLayer([], Input=3)],
                         Method=("Xavier", {"Distribution": "Uniform", "FactorType": "In"}),
                         RandomSeeding="seed")
    assert [NetExtract(n, "Slope").shape for n in nets] == [(1,), ()]
    layer = LinearLayer(4, Input=3)
    seeded = [NetInitialize(layer, RandomSeeding=7) for _ in range(2)]
    fresh = [NetInitialize(layer, RandomSeeding=Automatic) for _ in range(2)]
    assert seeded[0] == seeded[1] and fresh[0] != fresh[1] and seeded[0] not in fresh
    for seeding in (Automatic, 7):  # a slope is 0.1 whatever the seed
        ramp = NetInitialize(ParametricRampLayer(Input=1), RandomSeeding=seeding)
        assert NetExtract(ramp, "Slope").tolist() == [np.float32(0.1)]
