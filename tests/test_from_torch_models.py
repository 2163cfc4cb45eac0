"""from_torch of whole PyTorch models (a forward of their own) through torch.fx: the iresnet end to end
(evaluation, arrays, NetTrain, ONNX out and back), residual and branching models, the function forms,
and the errors that name the module, its type and the line of forward."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from iresnet import randomized, small_iresnet
from wlnet import (
    CatenateLayer,
    Export,
    FlattenLayer,
    Import,
    Information,
    NetChain,
    NetExtract,
    NetGraph,
    NetTrain,
    ReshapeLayer,
    TotalLayer,
    from_torch,
)
from wlnet.errors import NetShapeError, NetSpecificationError
from wlnet.lower import key_step, with_arrays

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> str:
    """``test_from_torch_models.py:<n>``, the line of this file that ends with the comment ``marker``."""
    (n,) = [i for i, text in enumerate(SOURCE, 1) if text.rstrip().endswith(f"# {marker}")]
    return re.escape(f"test_from_torch_models.py:{n}")


def random(*shape, seed=1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def same(net, model, *inputs):
    """The net computes what the model does in evaluation mode on these batches."""
    with torch.no_grad():
        expected = model.eval()(*inputs)
    ports = net._input_names
    got = net(inputs[0]) if len(inputs) == 1 else net(dict(zip(ports, inputs)))
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(torch.as_tensor(got), expected, **TOLERANCE)
    else:
        expected = dict(expected) if isinstance(expected, dict) else {
            f"Output{i}": e for i, e in enumerate(expected, 1)}
        assert sorted(got) == sorted(expected)
        for name in expected:
            torch.testing.assert_close(torch.as_tensor(got[name]), expected[name], **TOLERANCE)


# -- the iresnet end to end ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def iresnet():
    model = small_iresnet()
    return model, from_torch(model, Input=(3, 16, 16))


def test_iresnet_computes_as_the_model(iresnet):
    model, net = iresnet
    assert isinstance(net, NetGraph)
    same(net, model, random(5, 3, 16, 16))


def test_iresnet_layers_are_keyed_by_module_paths(iresnet):
    model, net = iresnet
    keys = [key for key, _ in net._params["layers"]]
    modules = [name for name, module in model.named_modules() if not list(module.children())]
    assert set(modules) <= set(keys)
    assert keys[:5] == ["conv1", "bn1", "prelu", "layer1.0.bn1", "layer1.0.conv1"]
    # a function's layer is keyed within the module whose forward calls it, as Import keys ONNX ops
    assert {"layer1.0/add", "layer2.0/add", "layer2.1/add", "layer3.0/add", "layer4.0/add", "flatten"} <= set(keys)
    assert isinstance(NetExtract(net, "flatten"), FlattenLayer)
    assert isinstance(NetExtract(net, "layer2.1/add"), TotalLayer)


def test_iresnet_arrays_are_the_state_dict(iresnet):
    model, net = iresnet
    names = {"weight": ("Weights", "Scaling", "Slope"), "bias": ("Biases",), "running_mean": ("MovingMean",),
             "running_var": ("MovingVariance",)}
    positions = Information(net, "ArraysPositionList")
    assert ("layer1.0.conv1", "Weights") in positions
    assert ("layer1.0.downsample.1", "MovingVariance") in positions
    found = 0
    for key, value in model.state_dict().items():
        path, _, name = key.rpartition(".")
        if name == "num_batches_tracked":
            continue
        (array,) = [a for a in names[name] if (path, a) in positions]
        np.testing.assert_array_equal(NetExtract(net, [path, array]).reshape(value.shape), value.numpy())
        found += 1
    assert found == len(positions)


def test_iresnet_trains(iresnet):
    model, net = iresnet
    x, y = random(6, 3, 16, 16, seed=2).numpy(), random(6, 32, seed=3).numpy()
    losses = NetTrain(net, (x, y), "RoundLossList", MaxTrainingRounds=2, BatchSize=3, RandomSeeding=1)
    assert len(losses) == 2 and all(np.isfinite(losses))
    trained = NetTrain(net, (x, y), MaxTrainingRounds=2, BatchSize=3, RandomSeeding=1)
    assert isinstance(trained, NetGraph) and np.all(np.isfinite(trained(x)))
    assert not np.allclose(NetExtract(trained, ["layer1.0.conv1", "Weights"]),
                           NetExtract(net, ["layer1.0.conv1", "Weights"]))


def test_iresnet_exports_to_onnx_and_comes_back(iresnet, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model, net = iresnet
    path = str(tmp_path / "f.onnx")
    Export(path, net)
    x = random(4, 3, 16, 16, seed=4)
    expected = model(x).detach()
    session = ort.InferenceSession(path)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, expected.numpy(), **TOLERANCE)
    back = Import(path)
    torch.testing.assert_close(torch.as_tensor(back(x)), expected, **TOLERANCE)


def test_iresnet_to_torch_evaluates_like_the_model(iresnet):
    model, net = iresnet
    module = net.to_torch().eval()
    x = random(3, 3, 16, 16, seed=5)
    torch.testing.assert_close(module(x), model(x), **TOLERANCE)
    keys = list(module.state_dict())
    assert "layer1%2E0%2Econv1.Weights" in keys and "layer1%2E0%2Edownsample%2E1.MovingMean" in keys
    assert key_step("layer1.0.conv1") == "layer1%2E0%2Econv1"
    # with_arrays takes the net's own keys (not the model's "layer1.0.conv1.weight")
    zeroed = with_arrays(net, {"layer1%2E0%2Econv1.Weights": np.zeros((4, 4, 3, 3))}, partial=True)
    assert not NetExtract(zeroed, ["layer1.0.conv1", "Weights"]).any()
    with pytest.raises(NetSpecificationError, match="is not an array of the net"):
        with_arrays(net, {"layer1.0.conv1.weight": np.zeros((4, 4, 3, 3))}, partial=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_model_on_the_gpu_is_followed_there():
    model = small_iresnet().cuda()
    net = from_torch(model, Input=(3, 16, 16))
    x = random(3, 3, 16, 16, seed=6)
    with torch.no_grad():
        expected = model(x.cuda()).cpu()
    torch.testing.assert_close(torch.as_tensor(net(x)), expected, rtol=1e-4, atol=1e-4)  # TF32 convolutions


# -- residual blocks, branches, several ports ---------------------------------------------------
class ResidualBlock(nn.Module):
    """SRResNet's block: conv-BN-PReLU-conv-BN plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.PReLU())
        self.blocks = nn.Sequential(ResidualBlock(6), ResidualBlock(6))
        self.tail = nn.Conv2d(6, 6, 3, padding=1)
        self.out = nn.Conv2d(6, 3, 5, padding=2)

    def forward(self, x):
        h = self.head(x)
        return self.out(h + self.tail(self.blocks(h)))


def test_srresnet_blocks():
    model = randomized(SRResNet())
    net = from_torch(model, Input=(3, 8, 8))
    same(net, model, random(3, 3, 8, 8))
    keys = [key for key, _ in net._params["layers"]]
    assert keys[:3] == ["head.0", "head.1", "blocks.0.body.0"]
    assert sum(isinstance(NetExtract(net, k), TotalLayer) for k in keys) == 3
    # a Sequential of blocks with their own forward is traced too (no longer refused)
    blocks = from_torch(model.blocks, Input=(6, 4, 4))
    assert [key for key, _ in blocks._params["layers"]][:2] == ["0.body.0", "0.body.1"]
    same(blocks, model.blocks, random(2, 6, 4, 4))


class TwoBranches(nn.Module):
    """Two inputs, two branches catenated, two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Conv2d(3, 4, 3, padding=1)
        self.right = nn.Conv2d(2, 5, 3, padding=1)
        self.fc = nn.Linear(9 * 4 * 4, 6)

    def forward(self, image, mask):
        joined = torch.cat([F.relu(self.left(image)), torch.sigmoid(self.right(mask))], dim=1)
        pooled = F.max_pool2d(joined, 2)
        return self.fc(pooled.view(pooled.size(0), -1)), joined


def test_two_inputs_two_outputs_and_a_catenation():
    model = TwoBranches()
    net = from_torch(model, Input={"image": (3, 8, 8), "mask": (2, 8, 8)})
    assert Information(net, "InputPorts") == {"image": (3, 8, 8), "mask": (2, 8, 8)}
    assert Information(net, "OutputPorts") == {"Output1": 6, "Output2": (9, 8, 8)}
    assert NetExtract(net, "cat") == CatenateLayer(1, InputPorts=[(4, 8, 8), (5, 8, 8)])
    same(net, model, random(3, 3, 8, 8), random(3, 2, 8, 8, seed=2))
    module = net.to_torch()
    got = module(random(3, 3, 8, 8), random(3, 2, 8, 8, seed=2))
    expected = model(random(3, 3, 8, 8), random(3, 2, 8, 8, seed=2))
    torch.testing.assert_close(got["Output1"], expected[0], **TOLERANCE)


class DictOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, scale=None):
        h = self.fc(x)
        return {"logits": h, "probabilities": F.softmax(h, dim=1)}


def test_a_dict_gives_named_outputs_and_defaults_stay():
    model = DictOutput()
    net = from_torch(model, Input=4)
    assert Information(net, "InputPorts") == {"Input": 4}
    assert list(Information(net, "OutputPorts")) == ["logits", "probabilities"]
    same(net, model, random(5, 4))


# -- the function and method forms --------------------------------------------------------------
class Functions(nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.slope = nn.Parameter(torch.tensor([0.1, -0.2, 0.3, 0.4]))

    def forward(self, x):
        x = self.conv(x)
        forms = {
            "relu": lambda: F.relu(x), "torch.relu": lambda: torch.relu(x), "method": lambda: x.relu().sigmoid(),
            "sigmoid": lambda: torch.sigmoid(x), "tanh": lambda: torch.tanh(x) + x.tanh(),
            "gelu": lambda: F.gelu(x),
            "silu": lambda: F.silu(x), "elu": lambda: F.elu(x), "leaky": lambda: F.leaky_relu(x, 0.2),
            "prelu": lambda: F.prelu(x, self.slope), "softmax": lambda: F.softmax(x, dim=1),
            "tensor_softmax": lambda: x.softmax(-1), "dropout": lambda: F.dropout(x, 0.3, training=self.training),
            "adaptive": lambda: F.adaptive_avg_pool2d(x, 1), "max_pool": lambda: F.max_pool2d(x, 2, 1),
            "avg_pool": lambda: F.avg_pool2d(x, 3, stride=2, padding=1), "torch_add": lambda: torch.add(x, x.relu()),
            "method_add": lambda: x.add(F.relu(x)), "flatten": lambda: torch.flatten(x, 1),
            "method_flatten": lambda: x.flatten(2), "view": lambda: x.view(x.size(0), -1),
            "reshape": lambda: x.reshape(x.shape[0], 4, -1), "view_minus_one": lambda: x.view(-1, 4 * 6 * 6),
            "torch_reshape": lambda: torch.reshape(x, (x.size(0), 2, 2, 36)).contiguous(),
            "in_place": lambda: x.relu_() + x,
        }
        return forms[self.form]()


FORMS = ["relu", "torch.relu", "method", "sigmoid", "tanh", "gelu", "silu", "elu", "leaky", "prelu",
         "softmax", "tensor_softmax", "dropout", "adaptive", "max_pool", "avg_pool", "torch_add", "method_add",
         "flatten", "method_flatten", "view", "reshape", "view_minus_one", "torch_reshape", "in_place"]


@pytest.mark.parametrize("form", FORMS)
def test_function_forms_compute_as_pytorch(form):
    model = Functions(form).eval()
    net = from_torch(model, Input=(3, 6, 6))
    same(net, model, random(4, 3, 6, 6))


def test_function_forms_give_the_module_layers():
    def layer(form, key):
        return NetExtract(from_torch(Functions(form).eval(), Input=(3, 6, 6)), key)

    assert layer("prelu", ["slope", "Slope"]).tolist() == pytest.approx([0.1, -0.2, 0.3, 0.4])
    assert repr(layer("leaky", "leaky_relu")).startswith("ParametricRampLayer([], Input=(4, 6, 6), Slope=0.2")
    assert isinstance(layer("view", "view"), FlattenLayer)
    assert layer("reshape", "reshape") == ReshapeLayer((4, 36), Input=(4, 6, 6))
    assert isinstance(layer("adaptive", "adaptive_avg_pool2d"), NetChain)


class InPlaceModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv1(x)
        self.relu(x)  # changes x in place: what follows sees the ramp
        return x + self.relu(self.conv2(x))


def test_in_place_modules_and_a_module_called_twice():
    model = InPlaceModule()
    net = from_torch(model, Input=(3, 5, 5))
    same(net, model, random(2, 3, 5, 5))
    assert {"relu", "relu_1", "add"} <= {key for key, _ in net._params["layers"]}


class Classifier(nn.Module):
    def __init__(self, flatten: str) -> None:
        super().__init__()
        self.flatten = flatten
        self.conv = nn.Conv2d(3, 4, 3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.avgpool(self.conv(x))
        x = torch.flatten(x, 1) if self.flatten == "flatten" else x.view(x.size(0), -1)
        return self.fc(x)


@pytest.mark.parametrize("flatten", ["flatten", "view"])
def test_global_pooling_then_flatten_is_one_aggregation(flatten):
    from wlnet import AggregationLayer

    model = Classifier(flatten)
    net = from_torch(model, Input=(3, 6, 6))
    assert [key for key, _ in net._params["layers"]] == ["conv", "avgpool", "fc"]
    assert NetExtract(net, "avgpool") == AggregationLayer("Mean", Input=(4, 4, 4))
    same(net, model, random(3, 3, 6, 6))


def test_a_sequential_of_supported_modules_stays_a_chain():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    net = from_torch(model, Input=(3, 6, 6))
    assert isinstance(net, NetChain)


# -- errors -------------------------------------------------------------------------------------
class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent branch
            return self.conv(x)
        return x


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.attn = nn.MultiheadAttention(3, 1)

    def forward(self, x):
        x = self.conv1(x)
        return self.attn(x, x, x)  # a module without a converter


class Stage(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(block)

    def forward(self, x):
        return self.layer1(x)


class Expression(nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        h = self.conv(x)
        if self.form == "constant":
            return h + 1.0  # a constant added
        if self.form == "broadcast":
            return h + h.mean(dim=1, keepdim=True)  # an unsupported function
        if self.form == "batch":
            return h.view(4, -1)  # a fixed batch size
        if self.form == "split":
            return h.view(-1, 3)  # examples split
        if self.form == "cat0":
            return torch.cat([h, h])  # along the batch axis
        return self.conv(h)  # the same module twice


def test_data_dependent_control_flow_names_the_module_and_line():
    with pytest.raises(NetSpecificationError, match=rf"tracing the forward of layer1\.0 \(.*Branching\) stopped at "
                                                    rf".*{line_of('data-dependent branch')}.*control flow"):
        from_torch(Stage(Branching()), Input=(3, 4, 4))


def test_a_module_without_converter_names_its_path_type_and_line():
    with pytest.raises(NetSpecificationError, match=rf"layer1\.0\.attn \(nn\.MultiheadAttention\), called at .*"
                                                    rf"{line_of('a module without a converter')}.*has no wlnet "
                                                    "equivalent"):
        from_torch(Stage(Attention()), Input=(3, 4, 4))


@pytest.mark.parametrize(("form", "marker", "message"), [
    ("constant", "a constant added", r"the operator \+ in the forward of layer1\.0 \(.*Expression\) at .*{line}.*an "
                                     "operand is 1.0, not a tensor"),
    ("broadcast", "an unsupported function", r"Tensor\.mean in the forward of layer1\.0 .*{line}.* has no wlnet "
                                             "equivalent: from_torch maps"),
    ("batch", "a fixed batch size", r"Tensor\.view .*{line}.*its first size is 4, a fixed batch size"),
    ("split", "examples split", r"Tensor\.view .*{line}.*do not make one example of dims \(3, 4, 4\)"),
    ("cat0", "along the batch axis", r"torch\.cat .*{line}.*dim 0, the batch axis"),
    ("twice", "the same module twice", r"layer1\.0\.conv \(nn\.Conv2d\), called at .*{line}.*called more than once"),
])
def test_calls_without_equivalent_name_the_call_module_and_line(form, marker, message):
    with pytest.raises(NetSpecificationError, match=message.format(line=line_of(marker))):
        from_torch(Stage(Expression(form)), Input=(3, 4, 4))


class Doubled(nn.ReLU):
    def forward(self, x):
        return 2 * super().forward(x)


class Stack(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


def test_subclasses():
    with pytest.raises(NetSpecificationError, match=r"layer1\.0 \(.*Doubled\), called at .*has no wlnet equivalent; "
                                                    r"it is a subclass of ReLU"):
        from_torch(Stage(Doubled()), Input=3)
    model = Stack(nn.Linear(3, 3), nn.Tanh())
    net = from_torch(model, Input=3)
    assert [key for key, _ in net._params["layers"]] == ["0", "1", "add"]
    same(net, model, random(4, 3))


class Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x, y):
        h = self.bn(self.fc(x))
        return h, torch.tanh(h)


def test_the_model_is_left_as_it_was_and_an_unused_argument_is_refused():
    model = Unused().train()
    with pytest.raises(NetSpecificationError, match=r"does not use its argument 'y'"):
        from_torch(model, Input={"x": 3, "y": 2})
    assert model.training and model.bn.training and not model.bn.running_mean.any()
    assert int(model.bn.num_batches_tracked) == 0


def test_input_errors():
    with pytest.raises(NetSpecificationError, match=r"the dims of one example are needed"):
        from_torch(SRResNet())
    with pytest.raises(NetSpecificationError, match=r"takes the arguments image, mask; give the dims of each"):
        from_torch(TwoBranches(), Input=(3, 8, 8))
    with pytest.raises(NetSpecificationError, match=r"has no argument 'x'; its arguments are image, mask"):
        from_torch(TwoBranches(), Input={"x": 3})
    with pytest.raises(NetShapeError, match=r"does not run on examples of Input=\(4, 8, 8\)"):
        from_torch(SRResNet(), Input=(4, 8, 8))


def test_a_frame_without_its_code_line_does_not_take_the_next_frames():
    from wlnet.convert.tracing import frames_of_text

    stack = ('  File "<stdin>", line 8, in forward\n'
             '  File "/site/torch/fx/proxy.py", line 117, in call_module\n    return self.create_proxy(...)\n')
    frames = frames_of_text(stack)
    assert [(f.file, f.line, f.code) for f in frames] == [
        ("<stdin>", 8, ""), ("/site/torch/fx/proxy.py", 117, "return self.create_proxy(...)")]
