"""SoftmaxLayer, DropoutLayer, ReshapeLayer and FlattenLayer's groups of levels: values against NumPy
and PyTorch, shape inference both ways, NetTrain's reproducible dropout masks, from_torch, errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from wlnet import (
    All,
    Automatic,
    DropoutLayer,
    FlattenLayer,
    Information,
    Inherited,
    LinearLayer,
    NetChain,
    NetInitialize,
    NetTrain,
    ReshapeLayer,
    SoftmaxLayer,
    Span,
    from_torch,
)
from wlnet.errors import NetOptionError, NetShapeError, NetSpecificationError
from wlnet.layers.dropout import Dropout
from wlnet.layers.flatten import Flatten
from wlnet.layers.reshape import Reshape
from wlnet.layers.softmax import Softmax

RNG = np.random.default_rng(3)


def ports(layer):
    return Information(layer, "InputPorts")["Input"], Information(layer, "OutputPorts")["Output"]


def numpy_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# -- SoftmaxLayer ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("level", "axis"), [(-1, 3), (1, 1), (2, 2), (3, 3), (-3, 1), (-2, 2)])
def test_softmax_normalizes_over_its_level(level, axis):
    x = RNG.standard_normal((4, 3, 2, 5))
    got = SoftmaxLayer(level, Input=(3, 2, 5))(x)
    np.testing.assert_allclose(got, numpy_softmax(x, axis), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-6)


def test_softmax_of_a_vector_is_exp_normalized_and_stable():
    np.testing.assert_allclose(SoftmaxLayer()([1.0, 2.0, 3.0]), np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-6)
    big = SoftmaxLayer()([1000.0, 1000.0, -1000.0])  # max-subtraction: no overflow
    np.testing.assert_allclose(big, [0.5, 0.5, 0.0])
    assert SoftmaxLayer()(np.array([1, 1])).dtype == np.float32  # integers in, reals out


def test_softmax_over_a_varying_level_normalizes_each_sequence():
    layer = SoftmaxLayer(1, Input=("Varying", 2))
    sequences = [RNG.standard_normal((n, 2)) for n in (1, 3, 4)]
    for x, y in zip(sequences, layer(sequences)):
        np.testing.assert_allclose(y, numpy_softmax(x, 0), rtol=1e-6, atol=1e-7)
    inner = SoftmaxLayer(Input=("Varying", 2))(sequences)
    for x, y in zip(sequences, inner):
        np.testing.assert_allclose(y, numpy_softmax(x, 1), rtol=1e-6, atol=1e-7)


def test_softmax_ports_and_repr():
    assert ports(SoftmaxLayer(2, Output=(3, 4))) == ((3, 4), (3, 4))
    assert repr(SoftmaxLayer()) == "SoftmaxLayer()  # Input: dims unknown"
    assert repr(SoftmaxLayer(-2, Input=(2, 3))) == "SoftmaxLayer(-2, Input=(2, 3))"
    assert SoftmaxLayer(-1) == SoftmaxLayer() != SoftmaxLayer(1)


def test_softmax_errors():
    with pytest.raises(NetShapeError, match=r'SoftmaxLayer \(level 3\): port "Input" is a 2×3 matrix, of rank 2, '
                                            r"which has no level 3: its levels run from 1 to 2"):
        SoftmaxLayer(3, Input=(2, 3))
    with pytest.raises(NetShapeError, match=r'port "Input" is a real number, which has no level to normalize over'):
        SoftmaxLayer(Input="Real")
    with pytest.raises(NetShapeError, match=r"SoftmaxLayer \(level -3\)"):
        NetChain([LinearLayer((2, 2)), SoftmaxLayer(-3)], Input=2)
    for bad in (0, 1.5, "a", True):
        with pytest.raises(NetSpecificationError, match="the level should be a nonzero integer"):
            SoftmaxLayer(bad)
    with pytest.raises(NetShapeError, match=r"examples of rank 1, which have no level 2"):
        Softmax(2)(torch.zeros(3, 4))


def test_from_torch_softmax():
    x = torch.randn(2, 3, 4)
    for dim in (1, 2, -1, -2):
        module = nn.Softmax(dim=dim)
        net = from_torch(module, Input=(3, 4))
        assert net == SoftmaxLayer(dim, Input=(3, 4))
        torch.testing.assert_close(torch.as_tensor(net(x)), module(x))
    with pytest.raises(NetSpecificationError, match=r"nn.Softmax\(dim=0\) normalizes over the batch axis"):
        from_torch(nn.Softmax(dim=0))
    with pytest.raises(NetSpecificationError, match=r"nn.Softmax\(dim=None\) picks its dim"):
        from_torch(nn.Softmax())


# -- DropoutLayer ------------------------------------------------------------------------------------
def test_dropout_is_the_identity_in_evaluation():
    x = RNG.standard_normal((3, 2, 4))
    for layer in (DropoutLayer(0.3, Input=(2, 4)), DropoutLayer(Method="AlphaDropout", Input=(2, 4))):
        np.testing.assert_array_equal(layer(x), x.astype(np.float32))
        module = layer.to_torch()
        assert not module.training
        torch.testing.assert_close(module(torch.as_tensor(x)), torch.as_tensor(x))


def test_dropout_in_training_keeps_survivors_scaled():
    p = 0.25
    y = np.asarray(DropoutLayer(p, Input=4000)(np.ones(4000), NetEvaluationMode="Train"))
    assert set(np.unique(y)) == {0.0, np.float32(1 / (1 - p))}
    assert abs((y == 0).mean() - p) < 0.03


def test_alpha_dropout_is_wolframs_formula():
    p, alpha, lam = 0.2, 1.6732632423543772, 1.0507009873554805
    x = torch.randn(20000, dtype=torch.float64)
    y = Dropout(p, "AlphaDropout").train()(x)
    c = math.sqrt((1 - p) / (1 + alpha ** 2 * lam ** 2 * p))
    kept = torch.isclose(y, c * (x / (1 - p) + alpha * lam * (1 / (1 - p) - 1)))  # m = 1/(1-p)
    dropped = torch.isclose(y, torch.full_like(y, c * alpha * lam * -1))  # m = 0
    assert bool((kept | dropped).all()) and abs(float(dropped.double().mean()) - p) < 0.02


def test_netTrain_dropout_masks_follow_random_seeding():
    x = RNG.standard_normal((48, 3))
    y = x @ RNG.standard_normal((3, 2))
    net = NetInitialize(NetChain([LinearLayer(16), DropoutLayer(0.5), LinearLayer(2)], Input=3))
    state = torch.random.get_rng_state()

    def train(seed, torch_seed):
        torch.manual_seed(torch_seed)  # PyTorch's own state plays no part
        return NetTrain(net, (x, y), MaxTrainingRounds=3, BatchSize=16, RandomSeeding=seed)

    first = train(7, 0)
    assert train(7, 1) == first  # bit-identical arrays
    assert train(8, 0) != first
    no_dropout = NetChain([LinearLayer(16), DropoutLayer(0), LinearLayer(2)], Input=3)
    without = NetTrain(NetInitialize(no_dropout), (x, y), MaxTrainingRounds=3, BatchSize=16, RandomSeeding=7)
    assert Information(without, "ArraysList")[0].tobytes() != Information(first, "ArraysList")[0].tobytes()
    torch.random.set_rng_state(state)


def test_a_run_with_dropout_continued_from_a_checkpoint_draws_the_same_masks(tmp_path):
    x = RNG.standard_normal((32, 3))
    y = x @ RNG.standard_normal((3, 2))
    net = NetChain([LinearLayer(8), DropoutLayer(0.5), LinearLayer(2)], Input=3)
    options = {"MaxTrainingRounds": 6, "BatchSize": 8, "RandomSeeding": 3}
    reference = NetTrain(net, (x, y), All, TrainingProgressCheckpointing=str(tmp_path), **options)
    for name in sorted(p.name for p in tmp_path.iterdir())[3:]:
        (tmp_path / name).unlink()  # as if the run had stopped after round 3
    resumed = NetTrain(tmp_path, (x, y), All, **options)
    assert resumed["RoundLossList"] == reference["RoundLossList"]
    assert resumed["TrainedNet"] == reference["TrainedNet"]


def test_netTrain_leaves_pytorchs_random_state_alone():
    x = RNG.standard_normal((8, 2))
    net = NetInitialize(NetChain([LinearLayer(4), DropoutLayer(), LinearLayer(1)], Input=2))
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    NetTrain(net, (x, x[:, :1]), MaxTrainingRounds=2)
    torch.testing.assert_close(torch.rand(3), expected)


def test_dropout_repr_and_errors():
    assert repr(DropoutLayer(Input=3)) == "DropoutLayer(Input=3)"
    text = "DropoutLayer(0.3, Method='AlphaDropout', Input=3)"
    assert repr(DropoutLayer(0.3, Method="AlphaDropout", Input=3)) == text
    assert DropoutLayer(0.5) == DropoutLayer() != DropoutLayer(0.5, Method="AlphaDropout")
    for p in (1, 1.5, -0.1, math.nan, True, "0.5"):
        with pytest.raises(NetSpecificationError, match=r"dropout probability should be a number between 0 and 1"):
            DropoutLayer(p)
    with pytest.raises(NetOptionError, match=r'Method should be "Dropout" or "AlphaDropout", but was \'Alpha\''):
        DropoutLayer(Method="Alpha")


def test_from_torch_dropout():
    assert from_torch(nn.Dropout(0.2), Input=3) == DropoutLayer(0.2, Input=3)
    assert from_torch(nn.AlphaDropout(0.1)) == DropoutLayer(0.1, Method="AlphaDropout")
    assert from_torch(DropoutLayer(0.3, Method="AlphaDropout").to_torch()) == DropoutLayer(0.3, Method="AlphaDropout")
    for module in (nn.Dropout1d(), nn.Dropout2d(), nn.Dropout3d(), nn.FeatureAlphaDropout()):
        with pytest.raises(NetSpecificationError, match=r"drops whole channels.*replace it with nn.Identity\(\)"):
            from_torch(module)


# -- ReshapeLayer ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dims", "in_dims", "out_dims"), [
    ((3, 4), (2, 6), (3, 4)),
    ((Inherited, Automatic), (2, 3, 4), (2, 12)),
    ((Automatic, 2), (3, 4), (6, 2)),
    ((All, 1), (2, 3), (2, 3, 1)),
    ((6, All), (2, 3, 4), (6, 4)),
    ((All, 2, 3), (4, 6), (4, 2, 3)),
    ((Inherited, 3, 2, All), (2, 6, 5), (2, 3, 2, 5)),
    ((2, All), (2, 1, 3), (2, 1, 3)),
    ((Inherited, 3, Automatic), (2, 6, 2), (2, 3, 4)),
    ((), 1, "Real"),
    ((1, 1), "Real", (1, 1)),
])
def test_reshape_keeps_row_major_order(dims, in_dims, out_dims):
    layer = ReshapeLayer(dims, Input=in_dims)
    assert ports(layer)[1] == (out_dims if not isinstance(out_dims, tuple) or len(out_dims) > 1 else out_dims[0])
    shape = () if in_dims == "Real" else (in_dims,) if isinstance(in_dims, int) else in_dims
    x = RNG.standard_normal((3, *shape))
    out = () if out_dims == "Real" else out_dims
    np.testing.assert_array_equal(layer(x), x.reshape(3, *out).astype(np.float32))


def test_reshape_infers_shapes_both_ways():
    assert ports(ReshapeLayer((3, 4))) == (Automatic, (3, 4))
    assert ports(ReshapeLayer((Inherited, Automatic), Output=(2, 12))) == ((2, ...), (2, 12))
    assert ports(ReshapeLayer((Inherited, All), Output=(2, 3, 4))) == ((2, 3, 4), (2, 3, 4))
    assert ports(ReshapeLayer((2, All), Output=(2, 3, 4))) == (Automatic, (2, 3, 4))  # (2, 3, 4) or (2, 12) ...
    assert ports(ReshapeLayer((3, 4), Input=(2, Automatic))) == ((2, 6), (3, 4))
    assert ports(ReshapeLayer((All, 1), Output=(2, 3, 1))) == ((2, 3), (2, 3, 1))
    chain = NetChain([LinearLayer(6), ReshapeLayer((2, 3)), SoftmaxLayer()], Input=4)
    assert Information(chain, "OutputPorts")["Output"] == (2, 3)


def test_reshape_of_sequences_keeps_the_varying_level():
    layer = ReshapeLayer((Inherited, 2, 3), Input=("Varying", 6))
    assert ports(layer) == (("Varying", 6), ("Varying", 2, 3))
    sequences = [RNG.standard_normal((n, 6)) for n in (2, 5)]
    for x, y in zip(sequences, layer(sequences)):
        np.testing.assert_array_equal(y, x.reshape(len(x), 2, 3).astype(np.float32))
    assert ports(ReshapeLayer((Inherited, Automatic), Input=("Varying", 2, 3)))[1] == ("Varying", 6)


def test_reshape_errors():
    with pytest.raises(NetShapeError, match=r'ReshapeLayer \(3, 5\): port "Input" is a 2×6 matrix \(12 elements\), but '
                                            r'port "Output" is a 3×5 matrix \(15 elements\)'):
        ReshapeLayer((3, 5), Input=(2, 6))
    with pytest.raises(NetShapeError, match=r"cannot be reshaped to \(Automatic, 5\): 12 is not a multiple of 5"):
        ReshapeLayer((Automatic, 5), Input=(2, 6))
    with pytest.raises(NetShapeError, match=r'first level is "Varying".*must be Inherited'):
        ReshapeLayer((2, 6), Input=("Varying", 12))
    with pytest.raises(NetShapeError, match=r"entry 3 is Inherited, which copies level 3 of port \"Input\""):
        ReshapeLayer((2, 3, Inherited), Input=(2, 3))
    with pytest.raises(NetSpecificationError, match=r"2 entries that are Automatic or All; at most one"):
        ReshapeLayer((Automatic, All))
    with pytest.raises(NetShapeError, match=r"the entries before All, \(2,\), cover no leading levels of port "
                                            r'"Input", which is a 4×3 matrix'):
        ReshapeLayer((2, All), Input=(4, 3))
    with pytest.raises(NetShapeError, match=r"the entries after All, \(4,\), cover no trailing levels"):
        ReshapeLayer((All, 4), Input=(4, 3))
    with pytest.raises(NetSpecificationError, match=r"Inherited after All"):
        ReshapeLayer((All, Inherited))
    with pytest.raises(NetSpecificationError, match=r"entry 1 of the dims \(0,\) should be a positive integer"):
        ReshapeLayer((0,))
    with pytest.raises(NetShapeError, match=r"reshapes to a 3×4 matrix, but port \"Output\" is a 4×3 matrix"):
        ReshapeLayer((3, 4), Input=(2, 6), Output=(4, 3))
    with pytest.raises(NetShapeError, match=r"cannot be reshaped to \(3, 4\)"):
        Reshape((3, 4))(torch.zeros(2, 5))


def test_reshape_repr_round_trips():
    for layer in (ReshapeLayer((3, 4), Input=(2, 6)), ReshapeLayer((Inherited, Automatic)), ReshapeLayer(()),
                  ReshapeLayer((All, 1), Input=3)):
        names = {"ReshapeLayer": ReshapeLayer, "Inherited": Inherited, "Automatic": Automatic, "All": All}
        assert eval(repr(layer).split("  #")[0], names) == layer


def test_from_torch_unflatten():
    module = nn.Sequential(nn.Linear(3, 12), nn.Unflatten(1, (3, 2, 2)))
    net = from_torch(module, Input=3)
    x = torch.randn(5, 3)
    torch.testing.assert_close(torch.as_tensor(net(x)), module(x))
    y = torch.randn(5, 2, 6, 4)
    for unflatten in (nn.Unflatten(2, (3, 2)), nn.Unflatten(-1, (2, 2)), nn.Unflatten(1, (1, 2))):
        torch.testing.assert_close(torch.as_tensor(from_torch(unflatten, Input=(2, 6, 4))(y)), unflatten(y))
    assert from_torch(nn.Unflatten(2, (2, -1))) == ReshapeLayer((Inherited, 2, Automatic), Input=(Automatic, Automatic))
    with pytest.raises(NetSpecificationError, match=r"nn.Unflatten\(dim=-2, unflattened_size=\(2, 3\)\) unflattens a "
                                                    r"dim counted from the last"):
        from_torch(nn.Unflatten(-2, (2, 3)))
    with pytest.raises(NetShapeError):  # with a -1 the unflattened dim must be the last: Input fixes the rank
        from_torch(nn.Unflatten(1, (2, -1)), Input=(6, 2))
    assert from_torch(ReshapeLayer((Inherited, 2, 3)).to_torch()) == ReshapeLayer((Inherited, 2, 3))


# -- FlattenLayer's groups of levels and Span ---------------------------------------------------------
@pytest.mark.parametrize(("groups", "order", "out"), [
    ([[1], [2, 3]], (0, 1, 2, 3), (2, 12, 5)),
    ([[2, 3]], (1, 2, 0, 3), (12, 2, 5)),
    ([[3, 2]], (2, 1, 0, 3), (12, 2, 5)),
    ([[2], [1]], (1, 0, 2, 3), (3, 2, 4, 5)),
    ([[1, 2], [3, 4]], (0, 1, 2, 3), (6, 20)),
    ([[4, 1], [2]], (3, 0, 1, 2), (10, 3, 4)),
])
def test_groups_of_levels_are_flatten_with_levels_in_wolframs_order(groups, order, out):
    x = RNG.standard_normal((2, 2, 3, 4, 5))
    layer = FlattenLayer(groups, Input=(2, 3, 4, 5))
    assert ports(layer)[1] == out
    expected = x.transpose(0, *(a + 1 for a in order)).reshape(2, *out)
    np.testing.assert_array_equal(layer(x), expected.astype(np.float32))
    torch.testing.assert_close(Flatten(layer.level)(torch.as_tensor(x)), torch.as_tensor(expected))


@pytest.mark.parametrize(("span", "dims", "out"), [
    (Span(2, -2), (2, 3, 4, 5), (2, 12, 5)), (Span(-3, -2), (2, 3, 4, 5), (2, 12, 5)),
    (Span(2, All), (2, 3, 4), (2, 12)), (Span(1, 2), (2, 3, 4), (6, 4)), (Span(2, -2), (2, 3, 4), (2, 3, 4)),
])
def test_a_span_merges_a_run_of_levels_on_any_rank(span, dims, out):
    layer = FlattenLayer(span, Input=dims)
    assert ports(layer)[1] == out
    x = RNG.standard_normal((3, *dims))
    np.testing.assert_array_equal(layer(x), x.reshape(3, *out).astype(np.float32))


def test_groups_infer_the_input_from_the_output():
    assert ports(FlattenLayer([[1], [2, 3]], Output=(2, 12, 5)))[0] == (2, Automatic, Automatic, 5)
    assert ports(FlattenLayer([[2, 3]], Input=(2, Automatic, 4), Output=(12, 2)))[0] == (2, 3, 4)
    assert ports(FlattenLayer(Span(2, 3), Output=(2, 12)))[0] == (2, Automatic, Automatic)


def test_groups_repr_and_errors():
    layer = FlattenLayer([[1], [2, 3]], Input=(2, 3, 4))
    assert repr(layer) == "FlattenLayer([[1], [2, 3]], Input=(2, 3, 4))"
    assert eval(repr(layer), {"FlattenLayer": FlattenLayer}) == layer
    assert repr(FlattenLayer(Span(2, -2))) == "FlattenLayer(Span(2, -2))  # Input: dims unknown"
    with pytest.raises(NetShapeError, match=r"FlattenLayer\(\[\[1\], \[2, 4\]\]\) groups levels up to 4 and needs an "
                                            r"array of rank >= 4"):
        FlattenLayer([[1], [2, 4]], Input=(2, 3, 4))
    with pytest.raises(NetShapeError, match=r'"Varying".*cannot be merged'):
        FlattenLayer([[1, 2]], Input=("Varying", 3))
    with pytest.raises(NetSpecificationError, match=r"Span\(3, 2\) selects no levels"):
        FlattenLayer(Span(3, 2))
    with pytest.raises(NetShapeError, match=r"FlattenLayer\(Span\(2, -2\)\) merges levels 2 to -2 and needs an array "
                                            r"of rank >= 3"):
        FlattenLayer(Span(2, -2), Input=4)


@pytest.mark.parametrize(("start", "end"), [(2, 3), (2, 4), (3, 4), (2, -2), (-3, -2), (1, 3), (-3, -1), (3, -1)])
def test_from_torch_flatten_at_any_levels(start, end):
    module = nn.Flatten(start, end)
    x = torch.randn(2, 2, 3, 4, 5)
    net = from_torch(module, Input=(2, 3, 4, 5))
    torch.testing.assert_close(torch.as_tensor(net(x)), module(x))
    assert from_torch(net.to_torch()) == from_torch(module)
