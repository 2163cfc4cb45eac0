"""A real task end to end: a small PReLU convolutional net in the Wolfram style learns scikit-learn's
bundled handwritten digits (1797 images of 8x8, shipped inside the package: no download) and
classifies held-out images. Fixed seeds; no timing."""

import numpy as np
import pytest

from wlnet import (
    All,
    BatchNormalizationLayer,
    ConvolutionLayer,
    Export,
    FlattenLayer,
    Import,
    Information,
    LinearLayer,
    NetChain,
    NetDecoder,
    NetTrain,
    ParametricRampLayer,
    PoolingLayer,
    SoftmaxLayer,
)

datasets = pytest.importorskip("sklearn.datasets")


def digits():
    """Images as (n, 1, 8, 8) in [0, 1] and labels 0-9, shuffled by a fixed seed: 1347 for training,
    450 held out (a quarter, as scikit-learn's train_test_split holds out)."""
    data = datasets.load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    images = (data.images[order] / 16.0).astype(np.float32)[:, None]
    labels = [int(t) for t in data.target[order]]
    return (images[:1347], labels[:1347]), (images[1347:], labels[1347:])


def digit_net():
    return NetChain(
        [
            ConvolutionLayer(16, 3, PaddingSize=1), BatchNormalizationLayer(), ParametricRampLayer(),
            PoolingLayer(2, 2),
            ConvolutionLayer(32, 3, PaddingSize=1), BatchNormalizationLayer(), ParametricRampLayer(),
            PoolingLayer(2, 2),
            FlattenLayer(), LinearLayer(10), SoftmaxLayer(),
        ],
        Input=(1, 8, 8),
        Output=NetDecoder(["Class", list(range(10))]),
    )


@pytest.fixture(scope="module")
def trained():
    (x, y), _ = digits()
    return NetTrain(digit_net(), (x, y), All, MaxTrainingRounds=10, BatchSize=64, RandomSeeding=1234)


def test_the_net_reaches_95_percent_on_held_out_digits(trained):
    net = trained["TrainedNet"]
    _, (x, y) = digits()
    predicted = net(x)
    accuracy = np.mean([p == t for p, t in zip(predicted, y)])
    assert accuracy >= 0.95, accuracy


def test_the_loss_attached_is_cross_entropy_on_labels_and_falls(trained):
    losses = trained["RoundLossList"]
    assert losses[-1] < losses[0] / 4
    net = trained["TrainedNet"]
    _, (x, _) = digits()
    probabilities = net(x[:5], None)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert net(x[0], "Decision") == int(np.argmax(probabilities[0]))


def test_the_trained_net_keeps_moving_statistics_and_saves(trained, tmp_path):
    net = trained["TrainedNet"]
    moving = Information(net, "Arrays")
    variances = [v for k, v in moving.items() if k[-1] == "MovingVariance"]
    assert variances and not all(np.allclose(v, 1.0) for v in variances)  # NetTrain updated them
    back = Import(Export(tmp_path / "digits.safetensors", net))
    _, (x, _) = digits()
    assert back == net and back(x[:20]) == net(x[:20])
