"""Whole models imported from ONNX: what ``torch.onnx.export`` writes (both exporters) and what the
Wolfram Language's ONNX export writes, read as NetGraphs (or NetChains) computing what they compute.

What is covered:

* PyTorch models with shortcuts, branches and several ports (``tests/iresnet.py``'s iresnet, an
  SRResNet-style model, two branches joined by ``torch.cat``, two inputs and two outputs, and an
  ``nn.Sequential`` chain) exported by the TorchScript exporter (opsets 9, 13, 17, with and
  without constant folding) and by the dynamo exporter (its default opset and 18, with and without
  its optimizer), each with a symbolic batch axis: the imported net computes the model's result
  on another batch size (1e-5), its layers are keyed by the module paths (``layer1.0.conv1``,
  ``layer1.0/Add``) and, unfused, hold the module's own parameters; exporting the imported net and
  importing that gives the same net.
* Models as the Wolfram Language writes them (ParametricRampLayer as ``PRelu``, ConvolutionLayer as
  ``Conv``, BatchNormalizationLayer as ``BatchNormalization`` with epsilon 0.001, PoolingLayer as
  ``MaxPool``/``AveragePool`` with count_include_pad=1, LinearLayer as ``Gemm`` (transB=1) or
  ``MatMul`` + ``Add``, FlattenLayer as ``Flatten``, SoftmaxLayer as ``Softmax``, CatenateLayer as
  ``Concat``, TotalLayer as ``Add``/``Sum``; ports ``"Input"``/``"Output"``), built with
  ``onnx.helper`` (no Wolfram tool is available) at every opset 9-18: the imported net computes
  what onnxruntime computes on the same file (1e-5).
* Weights given as graph inputs: an input that also has an initializer (IR < 4 lists every
  initializer among the inputs) is a constant, not a port; other extra inputs are ports of the
  NetGraph; an input in a weight's slot is refused, saying that weights must be initializers.
* Refusals name the op, the node, the opset and what would be needed.

Time: the dynamo exporter costs seconds a model, so each model is exported once per configuration
for the module (cached), and the dynamo configurations are a few.
"""

import io
import sys
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from wlnet import Export, Import, Information, NetChain, NetExtract, NetGraph  # noqa: E402
from wlnet.errors import NetSpecificationError  # noqa: E402
from wlnet.onnx import import_onnx  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from iresnet import randomized, small_iresnet  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("quiet_exporters"),
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal"),
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
    # the dynamo exporter asked for an opset below 18 (not done here) or converting: its own warnings
    pytest.mark.filterwarnings("ignore::UserWarning:torch.onnx"),
]

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
HAS_ONNXSCRIPT = find_spec("onnxscript") is not None


# -- PyTorch models ----------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """SRResNet's block: conv-BN-PReLU-conv-BN plus the skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """An SRResNet-style generator without its upsampling: head, residual blocks, a long skip, tail."""

    def __init__(self, channels: int = 8, blocks: int = 2) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, channels, 5, padding=2), nn.PReLU())
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x):
        h = self.head(x)
        return self.tail(h + self.bn(self.conv(self.body(h))))


class Branches(nn.Module):
    """Two branches joined by torch.cat, pooled, flattened, a Linear and a softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Conv2d(3, 4, 1)
        self.right = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        h = torch.cat([self.left(x), self.right(x)], dim=1)
        return torch.softmax(self.fc(torch.flatten(self.avg(self.pool(h)), 1)), dim=1)


class TwoPorts(nn.Module):
    """Two inputs and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 6, bias=False)
        self.norm = nn.BatchNorm1d(6)
        self.head = nn.Linear(6, 3)

    def forward(self, a, b):
        h = self.norm(torch.relu(self.a(a)) + self.b(b))
        return self.head(h), torch.sigmoid(h)


def chain() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.PReLU(4), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 6), nn.Softmax(dim=1))


#: name -> (the model, its inputs' dims after the batch axis, input names, output names)
MODELS = {
    "iresnet": (small_iresnet, [(3, 16, 16)], ["x"], ["y"]),
    "srresnet": (lambda: randomized(SRResNet()), [(3, 8, 8)], ["x"], ["y"]),
    "branches": (lambda: randomized(Branches()), [(3, 8, 8)], ["x"], ["y"]),
    "two_ports": (lambda: randomized(TwoPorts()), [(4,), (6,)], ["a", "b"], ["out", "prob"]),
    "chain": (lambda: randomized(chain()), [(3, 8, 8)], ["x"], ["y"]),
}
#: (exporter, opset (None: the exporter's default), constant folding / optimizer)
TORCHSCRIPT = [("torchscript", opset, folding) for opset in (9, 13, 17) for folding in (True, False)]
DYNAMO = [("dynamo", None, True), ("dynamo", None, False), ("dynamo", 18, True)]


@cache
def model_of(name: str) -> nn.Module:
    return MODELS[name][0]()


def examples(name: str, batch: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, *dims, generator=generator) for dims in MODELS[name][1]]


@cache
def exported(name: str, exporter: str, opset: int | None, folding: bool) -> bytes:
    """The model ``name`` exported by ``exporter`` from a batch of 2, the batch axis symbolic."""
    model, (_, _, inputs, outputs) = model_of(name), MODELS[name]
    xs = tuple(examples(name, 2))
    if exporter == "dynamo":
        batch = torch.export.Dim("batch")
        program = torch.onnx.export(model, xs, dynamo=True, dynamic_shapes=tuple({0: batch} for _ in xs),
                                    input_names=inputs, output_names=outputs, optimize=folding, verbose=False,
                                    **({} if opset is None else {"opset_version": opset}))
        return program.model_proto.SerializeToString()
    buffer = io.BytesIO()
    torch.onnx.export(model, xs, buffer, dynamo=False, opset_version=opset, do_constant_folding=folding,
                      input_names=inputs, output_names=outputs,
                      dynamic_axes={port: {0: "batch"} for port in inputs + outputs})
    return buffer.getvalue()


def results(net, name: str, xs: list[torch.Tensor]) -> list[np.ndarray]:
    """The net's outputs on ``xs``, in the model's output order."""
    _, _, inputs, outputs = MODELS[name]
    if len(inputs) == 1 and len(outputs) == 1:
        return [np.asarray(net(xs[0].numpy()))]
    got = net({port: x.numpy() for port, x in zip(inputs, xs)})
    return [np.asarray(got[port]) for port in outputs]


def configurations():
    for name in MODELS:
        for exporter, opset, folding in TORCHSCRIPT + DYNAMO:
            if exporter == "dynamo" and (opset is not None or not folding) and name not in ("iresnet", "srresnet"):
                continue  # seconds each: the exporter's variants on the two residual models only
            marks = [pytest.mark.skipif(not HAS_ONNXSCRIPT, reason="the dynamo exporter needs onnxscript")] \
                if exporter == "dynamo" else []
            label = f"{name}-{exporter}{opset or ''}-{'folded' if folding else 'unfolded'}"
            yield pytest.param(name, exporter, opset, folding, id=label, marks=marks)


@pytest.mark.parametrize(("name", "exporter", "opset", "folding"), list(configurations()))
def test_a_torch_model_imports_and_computes_the_same(name, exporter, opset, folding):
    net = import_onnx(exported(name, exporter, opset, folding))
    assert isinstance(net, NetChain if name == "chain" else NetGraph)
    xs = examples(name, 5, seed=1)  # another batch size than the export's: the batch axis is symbolic
    with torch.no_grad():
        expected = model_of(name)(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(results(net, name, xs), expected):
        np.testing.assert_allclose(got, want.numpy(), **TOLERANCE)


KEYS = {  # the layers keyed by the module paths, whichever exporter (fused layers aside)
    "iresnet": {"conv1", "prelu", "layer1.0.bn1", "layer1.0.conv1", "layer1.0.prelu", "layer1.0.downsample.0",
                "layer1.0/Add", "layer2.1/Add", "layer4.0.conv2", "fc"},
    "srresnet": {"head.0", "head.1", "body.0.conv1", "body.0.prelu", "body.0/Add", "body.1/Add", "Add", "tail"},
    "branches": {"left", "right.0", "right.2", "Concat", "pool", "avg", "fc", "Softmax"},
    "two_ports": {"a", "b", "Add", "norm", "head", "Sigmoid"},
}


@pytest.mark.parametrize("exporter", ["torchscript", pytest.param("dynamo", marks=pytest.mark.skipif(
    not HAS_ONNXSCRIPT, reason="the dynamo exporter needs onnxscript"))])
@pytest.mark.parametrize("name", list(KEYS))
def test_the_layers_are_keyed_by_the_module_paths(name, exporter):
    net = import_onnx(exported(name, exporter, 17 if exporter == "torchscript" else None, True))
    keys = {key for (key, *_) in Information(net, "Layers")}
    assert KEYS[name] <= keys


def test_unfused_layers_hold_the_modules_parameters():
    net = import_onnx(exported("iresnet", "torchscript", 17, False))
    model = model_of("iresnet")
    parameters = {name: value.detach().numpy() for name, value in model.state_dict().items()}
    for key, array, name in [("layer1.0.conv1", "Weights", "layer1.0.conv1.weight"),
                             ("layer2.1.prelu", "Slope", "layer2.1.prelu.weight"),
                             ("features", "MovingVariance", "features.running_var"), ("fc", "Weights", "fc.weight")]:
        np.testing.assert_array_equal(NetExtract(net, [key, array]), parameters[name])


def test_a_sequential_is_a_chain_of_positions():
    net = import_onnx(exported("chain", "torchscript", 17, False))
    assert isinstance(net, NetChain)
    # the nn.Flatten before the nn.Linear is absorbed (LinearLayer flattens): six layers
    assert [key for (key, *_) in Information(net, "Layers")] == list(range(1, 7))


@pytest.mark.parametrize(("name", "exporter"), [("iresnet", "torchscript"), ("two_ports", "torchscript"),
                                                ("branches", "torchscript"), pytest.param("srresnet", "dynamo",
                                                marks=pytest.mark.skipif(not HAS_ONNXSCRIPT, reason="onnxscript"))])
def test_export_of_the_imported_net_imports_as_the_same_net(name, exporter, tmp_path):
    net = import_onnx(exported(name, exporter, 17 if exporter == "torchscript" else None, True))
    path = Export(tmp_path / "again.onnx", net)
    assert Import(path) == net
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = examples(name, 3, seed=2)
    outputs = session.run(None, {port.name: x.numpy() for port, x in zip(session.get_inputs(), xs)})
    for got, want in zip(outputs, results(net, name, xs)):
        np.testing.assert_allclose(got, want, **TOLERANCE)


def test_a_batchnormalization_with_unused_training_outputs_is_its_inference_form():
    """Older dynamo exporters write BatchNorm with the running statistics' outputs (unused)."""
    rng = np.random.default_rng(3)
    arrays = [numpy_helper.from_array(v.astype(np.float32), name) for v, name in (
        (1 + 0.1 * rng.standard_normal(3), "s"), (0.1 * rng.standard_normal(3), "b"),
        (0.1 * rng.standard_normal(3), "m"), (0.5 + rng.random(3), "v"))]

    def model(outputs):
        node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], outputs, name="bn", epsilon=1e-5)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])], arrays)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    session = ort.InferenceSession(model(["y"]).SerializeToString(), providers=["CPUExecutionProvider"])
    net = import_onnx(model(["y", "mean", "var", "saved_mean", "saved_var"]).SerializeToString())
    np.testing.assert_allclose(net(x), session.run(None, {"x": x})[0], **TOLERANCE)


# -- models as the Wolfram Language writes them -----------------------------------------------------------------
class WolframModel:
    """A model built with onnx.helper following the Wolfram Language's layer -> op mapping
    (docs/onnx.md; /work/shared/spec/wolfram-convnets.md §13): layers' nodes named by the layers' keys,
    arrays as initializers named "<key>.<array>"."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.arrays: list = []

    def array(self, name: str, value) -> str:
        self.arrays.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def random(self, *dims, scale=0.3):
        return scale * self.rng.standard_normal(dims)

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def conv(self, name, x, c_in, c_out, k=3, stride=1):
        w = self.array(f"{name}.Weights", self.random(c_out, c_in, k, k))
        b = self.array(f"{name}.Biases", self.random(c_out))
        return self.node("Conv", [x, w, b], name, kernel_shape=[k, k], strides=[stride] * 2, dilations=[1, 1], group=1,
                         pads=[k // 2] * 4)

    def batch_normalization(self, name, x, c):
        arrays = [self.array(f"{name}.Scaling", 1 + self.random(c, scale=0.1)),
                  self.array(f"{name}.Biases", self.random(c, scale=0.1)),
                  self.array(f"{name}.MovingMean", self.random(c, scale=0.1)),
                  self.array(f"{name}.MovingVariance", 0.5 + self.rng.random(c))]
        return self.node("BatchNormalization", [x, *arrays], name, epsilon=0.001, momentum=0.9)

    def ramp(self, name, x, c):
        return self.node("PRelu", [x, self.array(f"{name}.Slope", 0.1 + 0.3 * self.rng.random((c, 1, 1)))], name)

    def model(self, inputs: dict, outputs: dict, opset: int, ir_version: int | None = None):
        def info(name, dims):
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

        graph = helper.make_graph(self.nodes, "net", [info(k, v) for k, v in inputs.items()],
                                  [info(k, v) for k, v in outputs.items()], self.arrays)
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="Wolfram Language")
        model.ir_version = ir_version or helper.find_min_ir_version_for(opsets)
        return model


def residual_block(opset: int, **options):
    """A NetGraph of a residual conv-BN-PReLU-conv-BN block, its TotalLayer an Add."""
    m = WolframModel()
    x = m.ramp("ramp", m.batch_normalization("bn1", m.conv("conv1", "Input", 4, 4), 4), 4)
    m.node("Add", ["Input", m.batch_normalization("bn2", m.conv("conv2", x, 4, 4), 4)], "Output")
    m.nodes[-1].name = "total"
    return m.model({"Input": (4, 6, 6)}, {"Output": (4, 6, 6)}, opset, **options)


def classifier(opset: int, linear: str = "Gemm", **options):
    """A NetChain: Conv, PRelu, MaxPool, AveragePool (count_include_pad=1), Flatten, a LinearLayer
    (Gemm with transB=1, or MatMul + Add), Softmax."""
    m = WolframModel(1)
    x = m.ramp("ramp", m.conv("conv", "Input", 1, 3), 3)
    x = m.node("MaxPool", [x], "max", kernel_shape=[2, 2], strides=[2, 2], pads=[0] * 4)
    x = m.node("AveragePool", [x], "mean", kernel_shape=[3, 3], strides=[1, 1], pads=[1] * 4, count_include_pad=1)
    x = m.node("Flatten", [x], "flatten", axis=1)
    weights, biases = m.random(5, 3 * 4 * 4), m.random(5)
    if linear == "Gemm":
        arrays = [m.array("linear.Weights", weights), m.array("linear.Biases", biases)]
        x = m.node("Gemm", [x, *arrays], "linear", transB=1)
    else:
        x = m.node("MatMul", [x, m.array("linear.Weights", weights.T)], "linear")
        x = m.node("Add", [x, m.array("linear.Biases", biases)], "linear_biases")
    m.node("Softmax", [x], "Output", axis=1)
    m.nodes[-1].name = "softmax"
    return m.model({"Input": (1, 8, 8)}, {"Output": (5,)}, opset, **options)


def branches(opset: int):
    """A NetGraph of two inputs: three branches, a CatenateLayer (Concat) and a TotalLayer of three (Sum)."""
    m = WolframModel(2)
    a, b = m.conv("a", "Input1", 2, 3), m.conv("b", "Input2", 2, 3)
    c = m.batch_normalization("c", m.conv("c_conv", "Input1", 2, 3), 3)
    joined = m.node("Concat", [a, b], "cat", axis=1)
    total = m.node("Sum", [a, b, c], "total")
    m.node("Concat", [joined, m.ramp("ramp", total, 3)], "Output", axis=1)
    m.nodes[-1].name = "cat2"
    return m.model({"Input1": (2, 5, 5), "Input2": (2, 5, 5)}, {"Output": (9, 5, 5)}, opset)


def runtime(model, inputs: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def compare(model, kind: type, inputs: dict) -> object:
    onnx.checker.check_model(model)
    net = import_onnx(model.SerializeToString())
    assert isinstance(net, kind)
    (expected,) = runtime(model, inputs)
    got = net(next(iter(inputs.values()))) if len(inputs) == 1 else net(inputs)
    np.testing.assert_allclose(got, expected, **TOLERANCE)
    return net


@pytest.mark.parametrize("opset", range(9, 19))
def test_a_wolfram_residual_block_imports_as_a_netgraph(opset):
    x = np.random.default_rng(opset).standard_normal((3, 4, 6, 6)).astype(np.float32)
    net = compare(residual_block(opset), NetGraph, {"Input": x})
    assert {key for (key, *_) in Information(net, "Layers")} == {"conv1", "bn1", "ramp", "conv2", "bn2", "total"}
    assert NetExtract(net, "bn1").epsilon == 0.001
    assert NetExtract(net, ["ramp", "Slope"]).shape == (4,)


@pytest.mark.parametrize("linear", ["Gemm", "MatMul"])
@pytest.mark.parametrize("opset", range(9, 19))
def test_a_wolfram_classifier_imports_as_a_netchain(opset, linear):
    x = np.random.default_rng(opset).standard_normal((4, 1, 8, 8)).astype(np.float32)
    compare(classifier(opset, linear), NetChain, {"Input": x})


@pytest.mark.parametrize("opset", range(9, 19))
def test_a_wolfram_graph_of_two_inputs_with_catenate_and_total(opset):
    rng = np.random.default_rng(opset)
    inputs = {name: rng.standard_normal((2, 2, 5, 5)).astype(np.float32) for name in ("Input1", "Input2")}
    net = compare(branches(opset), NetGraph, inputs)
    assert Information(net, "InputPortNames") == ["Input1", "Input2"]


# -- weights as graph inputs -----------------------------------------------------------------------------------
def with_initializers_as_inputs(model):
    """The model with every initializer listed among the graph's inputs too (IR < 4 requires it; old
    exporters wrote it at any IR)."""
    for tensor in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return model


@pytest.mark.parametrize(("opset", "ir_version"), [(8, 3), (9, 3), (13, None)])
def test_initializers_listed_as_inputs_are_constants(opset, ir_version):
    if opset == 8:  # BatchNormalization-7's spatial, PRelu-7: the residual block reads at opset 8 too
        model = with_initializers_as_inputs(residual_block(opset, ir_version=ir_version))
        x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    else:
        model = with_initializers_as_inputs(classifier(opset, ir_version=ir_version))
        x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    net = import_onnx(model.SerializeToString())
    assert Information(net, "InputPortNames") == ["Input"]
    (expected,) = runtime(model, {"Input": x})
    np.testing.assert_allclose(net(x), expected, **TOLERANCE)


def test_inputs_without_initializers_are_ports():
    model = branches(13)
    net = import_onnx(model.SerializeToString())
    assert Information(net, "InputPortNames") == ["Input1", "Input2"]


@pytest.mark.parametrize(("op", "slot", "what"), [("conv1", 1, "W"), ("bn1", 1, "scale"), ("bn2", 4, "input_var")])
def test_a_weight_given_as_a_graph_input_is_refused(op, slot, what):
    model = residual_block(13)
    node = next(n for n in model.graph.node if n.name == op)
    name = node.input[slot]
    kept = [t for t in model.graph.initializer if t.name != name]
    dropped = next(t for t in model.graph.initializer if t.name == name)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dropped.dims)))
    op_type = node.op_type
    pattern = (rf'"{op}" \({op_type}, opset 13\).*its {what} is the graph input "{name}", not a constant: '
               r"wlnet reads weights given as initializers")
    with pytest.raises(NetSpecificationError, match=pattern):
        import_onnx(model.SerializeToString())


def test_a_gemm_weight_given_as_a_graph_input_is_refused():
    model = classifier(13)
    kept = [t for t in model.graph.initializer if t.name != "linear.Weights"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.input.append(helper.make_tensor_value_info("linear.Weights", TensorProto.FLOAT, [5, 48]))
    with pytest.raises(NetSpecificationError, match=r'"linear" \(Gemm, opset 13\).*its B is the graph input '
                                                    r'"linear.Weights", not a constant'):
        import_onnx(model.SerializeToString())


# -- refusals ------------------------------------------------------------------------------------------------------
def test_refusals_name_the_op_the_node_the_opset_and_what_is_needed():
    model = residual_block(17)
    next(n for n in model.graph.node if n.name == "bn1").attribute.append(helper.make_attribute("training_mode", 1))
    with pytest.raises(NetSpecificationError, match=r'^Import: the ONNX node "bn1" \(BatchNormalization, opset 17\) '
                                                    r"has no wlnet equivalent: training_mode=1 .* wlnet reads the "
                                                    r"inference form \(training_mode=0\)[^;]*\.$"):
        import_onnx(model.SerializeToString())


def test_a_refusal_of_an_unnamed_node_says_which_node():
    model = classifier(13)
    softmax = model.graph.node[-1]
    softmax.name = ""
    softmax.op_type = "Hardmax"
    with pytest.raises(NetSpecificationError, match=r'the ONNX node 7 \(Hardmax, opset 13, unnamed, writing '
                                                    r'"Output"\) has no wlnet equivalent; wlnet reads PRelu'):
        import_onnx(model.SerializeToString())
