"""Devices and precisions: WorkingPrecision -> "Mixed" (bfloat16 autocast) and the GPU path.

The GPU tests run where torch sees CUDA and are skipped elsewhere (CI has no GPU).
"""

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    FlattenLayer,
    Information,
    LinearLayer,
    NetChain,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    Scaled,
)
from wlnet.errors import NetOptionError

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_two_gpus = pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                                    reason="needs two CUDA GPUs")


def data(n=256):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 16))
    return X, np.tanh(X @ rng.standard_normal((16, 4)))


def mlp():
    return NetChain([LinearLayer(64), ParametricRampLayer(), LinearLayer(4)], Input=16)


def arrays_close(a, b, tolerance):
    for x, y in zip(Information(a, "ArraysList"), Information(b, "ArraysList")):
        np.testing.assert_allclose(x, y, rtol=0, atol=tolerance)


def test_mixed_precision_trains_in_bfloat16_and_keeps_float32_arrays():
    options = {"MaxTrainingRounds": 30, "RandomSeeding": 1, "BatchSize": 32}
    full = NetTrain(mlp(), data(), All, **options)
    mixed = NetTrain(mlp(), data(), All, WorkingPrecision="Mixed", ValidationSet=Scaled(0.1), **options)
    assert all(a.dtype == np.float32 for a in Information(mixed["TrainedNet"], "ArraysList"))
    assert mixed["RoundLossList"][-1] < 0.2 * mixed["RoundLossList"][0]  # it learns as Real32 does
    assert abs(mixed["RoundLossList"][-1] - full["RoundLossList"][-1]) < 0.05
    X = data()[0][:8]
    exact = mixed["TrainedNet"](X)
    rounded = mixed["TrainedNet"](X, WorkingPrecision="Mixed")
    assert rounded.dtype == np.float32 and not np.array_equal(rounded, exact)  # computed in bfloat16
    np.testing.assert_allclose(rounded, exact, atol=0.05)


def test_mixed_precision_evaluates_sequences_of_several_lengths():
    net = NetInitialize(NetChain([ParametricRampLayer(2), FlattenLayer(-1)], Input=("Varying", 3, 2)))
    result = net([np.ones((2, 3, 2)), -np.ones((4, 3, 2))], WorkingPrecision="Mixed")
    assert [r.shape for r in result] == [(2, 6), (4, 6)] and all(r.dtype == np.float32 for r in result)
    np.testing.assert_allclose(result[1], -0.1, rtol=1e-2)


def test_a_gpu_needs_one():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(NetOptionError, match='TargetDevice "GPU" needs a CUDA GPU'):
        NetTrain(mlp(), data(), TargetDevice="GPU")
    with pytest.raises(NetOptionError, match='TargetDevice "GPU" needs a CUDA GPU'):
        NetInitialize(mlp())(data()[0], TargetDevice="GPU")


@needs_gpu
def test_evaluation_on_the_gpu_is_evaluation_on_the_cpu():
    net = NetInitialize(mlp())
    X = data()[0]
    np.testing.assert_allclose(net(X, TargetDevice="GPU"), net(X), atol=1e-4)
    on_gpu = net(torch.as_tensor(X, dtype=torch.float32, device="cuda"))
    assert on_gpu.device.type == "cuda"


@needs_gpu
@pytest.mark.parametrize("precision", ["Real32", "Mixed"])
def test_training_on_the_gpu_is_training_on_the_cpu(precision):
    options = {"MaxTrainingRounds": 10, "RandomSeeding": 1, "BatchSize": 32, "WorkingPrecision": precision}
    cpu = NetTrain(mlp(), data(), All, **options)
    gpu = NetTrain(mlp(), data(), All, TargetDevice="GPU", **options)
    assert gpu["TargetDevice"] == "GPU"
    arrays_close(gpu["TrainedNet"], cpu["TrainedNet"], 1e-3 if precision == "Real32" else 5e-2)


@needs_two_gpus
def test_two_gpus_train_what_one_does():
    options = {"MaxTrainingRounds": 5, "RandomSeeding": 1, "BatchSize": 32}
    one = NetTrain(mlp(), data(), All, TargetDevice="GPU", **options)
    two = NetTrain(mlp(), data(), All, TargetDevice=("GPU", All), **options)
    arrays_close(two["TrainedNet"], one["TrainedNet"], 1e-4)
