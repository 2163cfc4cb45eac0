"""BatchNormalizationLayer: the Wolfram Language's worked vectors (spec wolfram-convnets.md 15.4 and 15.5),
NetTrain's updates of the moving statistics (frozen, resumed, validated), the torch form in both modes,
PyTorch's nn.BatchNorm1d/2d/3d (from_torch, and the same numbers), ONNX, and the errors."""

import numpy as np
import pytest
import torch
from torch import nn

from wlnet import (
    All,
    Automatic,
    BatchNormalizationLayer,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    from_torch,
)
from wlnet.errors import NetDataError, NetInitializationError, NetShapeError, NetSpecificationError
from wlnet.layers.normalization import BatchNormalization

BATCH = np.array([[1.0, 2.0], [3.0, 6.0]])  # spec 15.5: mean {2, 4}, biased variance {1, 4}
MOVING = ("MovingMean", "MovingVariance")


def arrays(net, part=()):
    return {name: NetExtract(net, [*part, name]) for name in ("Scaling", "Biases", *MOVING)}


def reference(x, scaling, biases, mean, variance, epsilon=0.001, axis=1):
    """NumPy's batch normalization of a batch ``x`` with the channels at ``axis``."""
    shape = [1] * x.ndim
    shape[axis] = -1
    s, b, m, v = (np.reshape(np.asarray(a, dtype=np.float64), shape) for a in (scaling, biases, mean, variance))
    return s * (x - m) / np.sqrt(v + epsilon) + b


def batch_statistics(x, axis=1):
    """The per-channel mean and biased variance of a batch over every other axis."""
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    return x.mean(axis=axes), x.var(axis=axes)


# -- the worked vectors -----------------------------------------------------------------------------
def test_a_fresh_layer_divides_by_the_square_root_of_one_plus_epsilon():  # spec 15.4
    bn = NetInitialize(BatchNormalizationLayer(Input=2))
    assert [a.tolist() for a in arrays(bn).values()] == [[1, 1], [0, 0], [0, 0], [1, 1]]
    np.testing.assert_allclose(bn([1, 2]), [0.9995004, 1.9990008], rtol=1e-6)


def test_train_mode_evaluation_uses_the_batch_statistics_and_changes_no_net():  # spec 15.5's outputs
    bn = NetInitialize(BatchNormalizationLayer(Input=2))
    before = bn(BATCH)
    got = bn(BATCH, NetEvaluationMode="Train")
    np.testing.assert_allclose(got, [[-0.9995004, -0.9998750], [0.9995004, 0.9998750]], rtol=1e-6)
    assert [a.tolist() for a in arrays(bn).values()] == [[1, 1], [0, 0], [0, 0], [1, 1]]
    np.testing.assert_array_equal(bn(BATCH), before)  # the cached module's buffers were put back
    np.testing.assert_array_equal(bn(BATCH, NetEvaluationMode="Train"), got)
    # One example of a vector: its variance is 0, so the output is the biases (up to PyTorch's rounding of
    # the mean, which the division by sqrt(Epsilon) magnifies).
    shifted = BatchNormalizationLayer(Scaling=[2, 3], Biases=[0.5, -1], MovingMean=[0, 0], MovingVariance=[1, 1],
                                      Input=2)
    np.testing.assert_allclose(shifted([[7.0, -3.0]], NetEvaluationMode="Train"), [[0.5, -1.0]], atol=1e-4)


def test_one_training_step_moves_the_statistics_as_mxnet_does():  # spec 15.5's moving statistics
    chain = NetInitialize(NetChain([LinearLayer(2, Weights=np.eye(2), Biases=[0, 0]), BatchNormalizationLayer()],
                                   Input=2))
    frozen = {1: 0, (2, "Scaling"): 0, (2, "Biases"): 0}  # only the moving statistics change
    trained = NetTrain(chain, (BATCH, BATCH), MaxTrainingRounds=1, BatchSize=2, LearningRateMultipliers=frozen)
    np.testing.assert_allclose(NetExtract(trained, [2, "MovingMean"]), [0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(NetExtract(trained, [2, "MovingVariance"]), [1.0, 1.3], rtol=1e-6)  # biased: /N
    assert NetExtract(trained, [2, "Scaling"]).tolist() == [1, 1]
    # Three steps on the same batch: Moving <- Moving * 0.9 + batch * 0.1 each time.
    results = NetTrain(chain, (BATCH, BATCH), All, MaxTrainingRounds=3, BatchSize=2, LearningRateMultipliers=frozen)
    mean, variance = np.zeros(2), np.ones(2)
    for _ in range(3):
        mean, variance = mean * 0.9 + np.array([2, 4]) * 0.1, variance * 0.9 + np.array([1, 4]) * 0.1
    for net in (results["TrainedNet"], results["FinalNet"]):
        np.testing.assert_allclose(NetExtract(net, [2, "MovingMean"]), mean, rtol=1e-6)
        np.testing.assert_allclose(NetExtract(net, [2, "MovingVariance"]), variance, rtol=1e-6)


# -- NetTrain -----------------------------------------------------------------------------------------
def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * 2 + 1
    return X, np.tanh(X @ rng.standard_normal((3, 2)))


def bn_chain(**options):
    return NetChain([LinearLayer(4), BatchNormalizationLayer(**options), ParametricRampLayer(), LinearLayer(2)],
                    Input=3)


def test_learning_rate_multiplier_0_freezes_all_four_arrays_and_momentum_1_the_statistics():
    net = NetInitialize(bn_chain(LearningRateMultipliers=0, Scaling=[1, 2, 3, 4], MovingVariance=[1, 2, 3, 4]))
    trained = NetTrain(net, data(), MaxTrainingRounds=2, BatchSize=8, RandomSeeding=1)
    assert NetExtract(trained, [1, "Weights"]).tolist() != NetExtract(net, [1, "Weights"]).tolist()
    for name, value in arrays(net, [2]).items():
        np.testing.assert_array_equal(NetExtract(trained, [2, name]), value, err_msg=name)
    still = NetInitialize(bn_chain(Momentum=1))
    trained = NetTrain(still, data(), MaxTrainingRounds=2, BatchSize=8, RandomSeeding=1)
    assert NetExtract(trained, [2, "MovingMean"]).tolist() == [0] * 4
    assert NetExtract(trained, [2, "MovingVariance"]).tolist() == [1] * 4
    assert NetExtract(trained, [2, "Scaling"]).tolist() != [1] * 4  # trained by its gradient
    # NetTrain's own multiplier for the layer freezes its statistics too.
    trained = NetTrain(net, data(), MaxTrainingRounds=1, BatchSize=8, LearningRateMultipliers={2: 0, 4: 1})
    np.testing.assert_array_equal(NetExtract(trained, [2, "MovingMean"]), NetExtract(net, [2, "MovingMean"]))


def test_validation_batches_leave_the_statistics_alone():
    net = NetInitialize(bn_chain())
    frozen = {1: 0, 3: 0, 4: 0, (2, "Scaling"): 0, (2, "Biases"): 0}
    options = {"MaxTrainingRounds": 3, "BatchSize": 8, "RandomSeeding": 2, "LearningRateMultipliers": frozen}
    plain = NetTrain(net, data(), **options)
    validated = NetTrain(net, data(), All, ValidationSet=data(10, seed=1), **options)
    assert len(validated["ValidationLossList"]) == 3
    for name in MOVING:
        np.testing.assert_array_equal(NetExtract(validated["FinalNet"], [2, name]), NetExtract(plain, [2, name]))


def test_a_resumed_run_keeps_the_moving_statistics(tmp_path):
    net = bn_chain()
    options = {"BatchSize": 16, "RandomSeeding": 5, "Method": "ADAM"}
    whole = NetTrain(net, data(), All, MaxTrainingRounds=4, **options)
    file = tmp_path / "run.safetensors"
    NetTrain(net, data(), MaxTrainingRounds=2, TrainingProgressCheckpointing=("File", str(file)), **options)
    resumed = NetTrain(file, data(), All, MaxTrainingRounds=4, **options)
    assert NetExtract(whole["TrainedNet"], [2, "MovingMean"]).tolist() != [0] * 4
    for a, b in zip(Information(resumed["TrainedNet"], "ArraysList"), Information(whole["TrainedNet"], "ArraysList")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_the_trained_net_normalizes_with_its_moving_statistics():
    trained = NetTrain(bn_chain(), data(), MaxTrainingRounds=3, BatchSize=8, RandomSeeding=3)
    X = data(5, seed=7)[0]
    hidden = NetExtract(trained, 1)(X)
    want = reference(hidden.astype(np.float64), *arrays(trained, [2]).values())
    np.testing.assert_allclose(NetExtract(trained, 2)(hidden), want, rtol=1e-5, atol=1e-6)


# -- the layer's computation --------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [(3,), (3, 5), (3, 4, 5), (3, 2, 3, 2)], ids=str)
def test_statistics_per_channel_over_the_batch_and_every_other_dim(dims):
    rng = np.random.default_rng(len(dims))
    values = rng.standard_normal((4, 3)).astype(np.float32)
    values[3] = np.abs(values[3]) + 0.5
    bn = BatchNormalizationLayer(Scaling=values[0], Biases=values[1], MovingMean=values[2], MovingVariance=values[3],
                                 Input=dims)
    x = rng.standard_normal((5, *dims)) * 3 + 1
    np.testing.assert_allclose(bn(x), reference(x, *values), rtol=1e-5, atol=1e-5)
    mean, variance = batch_statistics(x)
    np.testing.assert_allclose(bn(x, NetEvaluationMode="Train"), reference(x, values[0], values[1], mean, variance),
                               rtol=1e-4, atol=1e-4)
    # Interleaving=True: the channels last, the same numbers.
    last = BatchNormalizationLayer(Interleaving=True, Scaling=values[0], Biases=values[1], MovingMean=values[2],
                                   MovingVariance=values[3], Input=(*dims[1:], 3))
    moved = np.moveaxis(x, 1, -1)
    np.testing.assert_allclose(last(moved), np.moveaxis(bn(x), 1, -1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(last(moved, NetEvaluationMode="Train"),
                               np.moveaxis(bn(x, NetEvaluationMode="Train"), 1, -1), rtol=1e-5, atol=1e-5)


def test_the_torch_module_in_both_modes():
    module = NetInitialize(BatchNormalizationLayer(Input=(2, 3))).to_torch()
    assert not module.training and list(module.state_dict()) == ["Scaling", "Biases", *MOVING]
    assert [k for k, _ in module.named_buffers()] == list(MOVING)
    assert module.weight is module.Scaling and module.running_var is module.MovingVariance
    x = torch.tensor(np.random.default_rng(0).standard_normal((4, 2, 3)), dtype=torch.float32)
    module.train()
    y = module(x)
    mean, variance = batch_statistics(x.double().numpy())
    np.testing.assert_allclose(y.detach().numpy(), reference(x.numpy(), [1, 1], [0, 0], mean, variance), atol=1e-5)
    np.testing.assert_allclose(module.MovingMean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(module.MovingVariance.numpy(), 0.9 + 0.1 * variance, rtol=1e-5)
    module.buffer_multipliers = {"MovingMean": 0.0, "MovingVariance": 1.0}  # as the lowering sets a multiplier 0
    saved = module.MovingMean.clone()
    module(x)
    assert torch.equal(module.MovingMean, saved)
    np.testing.assert_allclose(module.MovingVariance.numpy(), (0.9 + 0.1 * variance) * 0.9 + 0.1 * variance, rtol=1e-5)
    # Frozen by the layer's multiplier: the lowering tells the module.
    frozen = NetInitialize(BatchNormalizationLayer(LearningRateMultipliers=0, Input=2)).to_torch().train()
    frozen(torch.randn(4, 2))
    assert frozen.buffer_multipliers == {"MovingMean": 0.0, "MovingVariance": 0.0}
    assert frozen.MovingMean.tolist() == [0, 0] and frozen.MovingVariance.tolist() == [1, 1]


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inductor's import
def test_a_compiled_module_trains_as_the_eager_one():
    net = NetInitialize(NetChain([LinearLayer(4), BatchNormalizationLayer(), ParametricRampLayer()], Input=3))
    eager, compiled_module = net.to_torch().train(), net.to_torch().train()
    compiled = torch.compile(compiled_module, fullgraph=True)
    for seed in (1, 2):
        x = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(compiled(x), eager(x))
    for name in MOVING:
        torch.testing.assert_close(compiled_module.get_buffer(f"2.{name}"), eager.get_buffer(f"2.{name}"))
    assert compiled_module.get_buffer("2.MovingMean").abs().sum() > 0


# -- PyTorch's BatchNorm ------------------------------------------------------------------------------
def torch_batch_norm(cls, channels, **options):
    module = cls(channels, **options)
    generator = torch.Generator().manual_seed(channels)
    with torch.no_grad():
        for tensor in (module.running_mean, module.running_var, module.weight, module.bias):
            if tensor is not None:
                tensor.copy_(torch.rand(channels, generator=generator) + 0.5)
    return module


@pytest.mark.parametrize(("cls", "dims"), [(nn.BatchNorm1d, (3,)), (nn.BatchNorm1d, (3, 7)),
                                           (nn.BatchNorm2d, (3, 4, 5)), (nn.BatchNorm3d, (3, 2, 3, 4))],
                         ids=["1d-vector", "1d", "2d", "3d"])
def test_from_torch_of_nn_batch_norm_computes_what_it_does(cls, dims):
    module = torch_batch_norm(cls, 3, eps=1e-5, momentum=0.2).eval()
    layer = from_torch(module)
    assert (layer.epsilon, layer.momentum) == (1e-5, 0.8)
    np.testing.assert_array_equal(NetExtract(layer, "MovingVariance"), module.running_var.numpy())
    x = torch.randn(6, *dims, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(torch.as_tensor(layer(x)), module(x))
        module.train()
        torch.testing.assert_close(torch.as_tensor(layer(x, NetEvaluationMode="Train")), module(x), rtol=1e-5,
                                   atol=1e-5)
    # The moving mean moves as PyTorch's running mean; the variance by the biased batch variance, not the unbiased.
    ours = layer.to_torch().train()
    before = ours.MovingVariance.clone()
    module = torch_batch_norm(cls, 3, eps=1e-5, momentum=0.2).train()
    with torch.no_grad():
        ours(x), module(x)
    torch.testing.assert_close(ours.MovingMean, module.running_mean)
    n = x.numel() // 3
    unbiased = (module.running_var - 0.8 * before) / 0.2
    torch.testing.assert_close((ours.MovingVariance - 0.8 * before) / 0.2, unbiased * (n - 1) / n)
    if cls is not nn.BatchNorm1d:  # its examples' rank is known
        assert Information(layer, "InputPorts")["Input"] == (3, *[Automatic] * (len(dims) - 1))
        with pytest.raises(NetShapeError, match=r"takes an array of dims \(3, n, n"):
            from_torch(module, Input=dims[:-1])


def test_from_torch_of_other_batch_norms():
    bare = from_torch(nn.BatchNorm2d(3, affine=False))
    assert NetExtract(bare, "Scaling").tolist() == [1, 1, 1] and NetExtract(bare, "Biases").tolist() == [0, 0, 0]
    assert Information(bare, "ArraysLearningRateMultipliers")[("Scaling",)] == 1
    frozen = nn.BatchNorm1d(2)
    frozen.requires_grad_(False)
    assert from_torch(frozen) == BatchNormalizationLayer(Epsilon=1e-5, Scaling=[1, 1], Biases=[0, 0], MovingMean=[0, 0],
                                                         MovingVariance=[1, 1], LearningRateMultipliers=0)
    with pytest.raises(NetSpecificationError, match="momentum=None"):
        from_torch(nn.BatchNorm2d(3, momentum=None))
    with pytest.raises(NetSpecificationError, match="track_running_stats=False"):
        from_torch(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=False)))
    # wlnet's own form, trained in PyTorch: the layer with the new statistics.
    net = NetInitialize(BatchNormalizationLayer(Interleaving=True, Epsilon=0.01, Momentum=0.5, Input=(4, 2)))
    module = net.to_torch().train()
    module(torch.randn(3, 4, 2))
    back = from_torch(module, Input=(4, 2))
    assert (back.interleaving, back.epsilon, back.momentum) == (True, 0.01, 0.5)
    np.testing.assert_array_equal(NetExtract(back, "MovingMean"), module.MovingMean.numpy())


# -- ONNX ---------------------------------------------------------------------------------------------
def test_onnx_export_writes_epsilon_and_reads_onnx_defaults():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from wlnet.onnx import import_onnx, onnx_model

    net = BatchNormalizationLayer(Interleaving=True, Scaling=[1, 2], Biases=[0, 1], MovingMean=[0, 1],
                                  MovingVariance=[1, 2], Input=(3, 2))
    model = onnx_model(net)
    assert [n.op_type for n in model.graph.node] == ["Transpose", "BatchNormalization", "Transpose"]
    (node,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert {a.name: round(a.f, 6) for a in node.attribute} == {"epsilon": 0.001, "momentum": 0.9}
    # A model another tool wrote: no epsilon (ONNX's 1e-5), images of 2 channels.
    inits = [numpy_helper.from_array(np.array(v, np.float32), name) for name, v in
             [("s", [1, 2]), ("b", [0, 1]), ("m", [0, 1]), ("v", [1, 2])]]
    graph = helper.make_graph([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3, 3])], inits)
    other = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    back = NetExtract(import_onnx(other.SerializeToString()), 1)
    assert (back.epsilon, back.momentum) == (1e-5, 0.9)
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32)
    session = ort.InferenceSession(other.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(back(x), session.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    node = other.graph.node[0]
    node.attribute.append(helper.make_attribute("training_mode", 1))
    with pytest.raises(NetSpecificationError, match="training_mode=1"):
        import_onnx(other.SerializeToString())


# -- errors -------------------------------------------------------------------------------------------
def test_errors_name_the_layer_the_port_and_the_dims():
    with pytest.raises(NetShapeError, match=r'BatchNormalizationLayer: port "Input" is a real number, but it must be '
                                            r"an array of rank at least 1"):
        BatchNormalizationLayer(Input="Real")
    with pytest.raises(NetShapeError, match=r"the number of channels cannot be dynamic.*Interleaving=True"):
        BatchNormalizationLayer(Input=("Varying", 3))
    assert Information(BatchNormalizationLayer(Interleaving=True, Input=("Varying", 3)), "InputPorts") == {
        "Input": ("Varying", 3)}
    with pytest.raises(NetShapeError, match=r"is a 3×4 matrix, with 3 channels \(level 1\), but the arrays have 2"):
        BatchNormalizationLayer(Scaling=[1, 2], Input=(3, 4))
    with pytest.raises(NetShapeError, match="have Scaling 2, Biases 3 elements"):
        BatchNormalizationLayer(Scaling=[1, 2], Biases=[1, 2, 3])
    with pytest.raises(NetShapeError, match=r"layer 2 \(BatchNormalizationLayer\) needs an array of dims \(2, …\)"):
        NetChain([LinearLayer(3), BatchNormalizationLayer(MovingMean=[0, 0])], Input=2)
    with pytest.raises(NetSpecificationError, match='"MovingVariance" is a variance'):
        BatchNormalizationLayer(MovingVariance=[1, -1])
    with pytest.raises(NetSpecificationError, match='"Epsilon" should be a positive number'):
        BatchNormalizationLayer(Epsilon=0)
    with pytest.raises(NetSpecificationError, match='"Momentum" should be a number from 0 to 1'):
        BatchNormalizationLayer(Momentum=1.5)
    with pytest.raises(NetSpecificationError, match='"Biases" should be a vector'):
        BatchNormalizationLayer(Biases=None)
    with pytest.raises(NetInitializationError, match=r"the number of channels \(the last dim of the input\)"):
        NetInitialize(BatchNormalizationLayer(Interleaving=True))
    module = NetInitialize(BatchNormalizationLayer(Input=(2, 3))).to_torch()
    with pytest.raises(NetShapeError, match=r"an input of shape \(4, 3, 3\) \(batch first\) has 3 channels"):
        module(torch.zeros(4, 3, 3))
    with pytest.raises(NetDataError, match="convert the input"):
        module(torch.zeros(4, 2, 3, dtype=torch.float64))
    assert module(torch.zeros(4, 2, 3, dtype=torch.int64)).dtype == torch.float32
    assert isinstance(module, BatchNormalization)
