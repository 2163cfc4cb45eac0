"""A convolutional net as PyTorch users write it, coming into wlnet whole: from_torch of an
nn.Sequential CNN (Conv2d, BatchNorm2d with trained running statistics, PReLU, MaxPool2d, Dropout,
AdaptiveAvgPool2d(1) + Flatten, Linear, Softmax), its ONNX export against onnxruntime, PyTorch's own
ONNX export of the model read by Import, and NetTrain continuing its training. The layers' own tests
check each layer; this checks that they meet in one net."""

import io

import numpy as np
import pytest
import torch
from torch import nn

import wlnet
from wlnet import Information, NetExtract, NetTrain, ParametricRampLayer, from_torch
from wlnet.onnx import import_onnx

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def pytorch_cnn(channels_last=False) -> nn.Module:
    """A small PReLU CNN on 3x16x16 images, trained a few steps so that its running statistics and
    slopes are not the initial ones, in evaluation mode."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.PReLU(8), nn.MaxPool2d(2, 2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.PReLU(16),
        nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.BatchNorm2d(16), nn.PReLU(),
        nn.AvgPool2d(2, 2), nn.Dropout(0.25),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 5), nn.Softmax(dim=1),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.randn(8, 3, 16, 16)
        loss = -model(x)[:, 0].log().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model


def images(n=4, seed=1) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def converted():
    model = pytorch_cnn()
    return model, from_torch(model, Input=(3, 16, 16))


def test_from_torch_computes_what_the_model_does(converted):
    model, net = converted
    x = images()
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(net(x), expected, **TOLERANCE)  # evaluation: running statistics, no dropout
    assert Information(net, "LayersCount") == 15  # AdaptiveAvgPool2d(1) + Flatten: one AggregationLayer
    assert Information(net, "OutputPorts")["Output"] == 5


def test_the_slopes_and_statistics_are_the_models(converted):
    model, net = converted
    assert NetExtract(net, 3) == ParametricRampLayer(1, Slope=model[2].weight.detach(), Input=(8, 16, 16))
    np.testing.assert_array_equal(NetExtract(net, [2, "MovingMean"]), model[1].running_mean.numpy())
    np.testing.assert_array_equal(NetExtract(net, [2, "MovingVariance"]), model[1].running_var.numpy())
    assert repr(NetExtract(net, 2)).startswith("BatchNormalizationLayer(Epsilon=1e-05, Input=(8, 16, 16)")
    assert "Momentum" not in repr(NetExtract(net, 2))  # torch's momentum 0.1 is Wolfram's default 0.9
    assert NetExtract(net, [10, "Slope"]).shape == ()  # nn.PReLU(): one shared slope


def test_channels_last_models_and_inputs_compute_the_same(converted):
    _, net = converted
    module = net.to_torch()
    x = images()
    with torch.no_grad():
        expected = module(x)
        last = module.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(last, expected, **TOLERANCE)
    torch.testing.assert_close(from_torch(pytorch_cnn(channels_last=True), Input=(3, 16, 16))(x), expected,
                               **TOLERANCE)


def test_its_onnx_export_runs_in_onnxruntime_and_imports_back(converted, tmp_path):
    _, net = converted
    path = wlnet.Export(tmp_path / "cnn.onnx", net)
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert {"Conv", "BatchNormalization", "PRelu", "MaxPool", "AveragePool", "Softmax"} <= ops
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 4):  # a symbolic batch
        x = images(n)
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        np.testing.assert_allclose(got, net(x.numpy()), **TOLERANCE)
    assert wlnet.Import(path) == net


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal")
@pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning")
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_pytorchs_own_onnx_export_of_the_model_imports(converted, dynamo):
    if dynamo:
        pytest.importorskip("onnxscript")
    model, _ = converted
    x = images()
    if dynamo:
        shapes = {"input": {0: torch.export.Dim("batch")}}
        proto = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=shapes, verbose=False).model_proto
        data = proto.SerializeToString()
    else:
        buffer = io.BytesIO()
        torch.onnx.export(model, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        data = buffer.getvalue()
    net = import_onnx(data)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.as_tensor(net(x.numpy())), expected, **TOLERANCE)
    slopes = [NetExtract(net, [i, "Slope"]) for i, layer in enumerate(Information(net, "Layers").values(), 1)
              if isinstance(layer, ParametricRampLayer)]
    assert [s.shape for s in slopes] == [(8,), (16,), ()]


def test_nettrain_goes_on_training_the_converted_net(converted):
    _, net = converted
    x = images(32, seed=2).numpy()
    labels = np.random.default_rng(0).integers(1, 6, 32)  # 1-based class indices for the Index loss
    results = NetTrain(net, (x, labels.astype(np.float32)), wlnet.All, MaxTrainingRounds=5, RandomSeeding=1,
                       TrainingProgressReporting=None)
    losses = results["RoundLossList"]
    assert losses[-1] < losses[0]
    trained = results["TrainedNet"]
    moved = NetExtract(trained, [2, "MovingMean"]) - NetExtract(net, [2, "MovingMean"])
    assert np.abs(moved).max() > 0  # the moving statistics follow the new batches
