"""PyTorch's own ONNX exporters on wlnet's modules: ``torch.onnx.export`` with the TorchScript-based
exporter (``dynamo=False``) and with ``dynamo=True`` writes ``torch.ops.wlnet.parametric_ramp`` as
one ``PRelu`` node, onnxruntime runs the file as the module runs, and wlnet's ``import_onnx`` reads
it back as the net it came from.

What is covered:

* every row of the contract table (``tests/cases.py``) whose net has a ParametricRampLayer and one
  input port (every level form, "Real" and "Varying" inputs, chains and graphs around it) x both
  exporters: exported from a small example (where the eager module would run PyTorch's own kernel)
  with a symbolic batch (and length, for a "Varying" input); a PRelu per ParametricRampLayer and no
  Greater/Less/Where/Mul; onnxruntime on one example and on a batch of >= 40000 elements (the fused
  kernels' range) equals the module (1e-5); the imported net computes what the original net does;
* the export does not depend on the example's size (a big example writes the same graph), and a
  trace or torch.export of a small input records the operator, not the eager small-input path;
* ``wlnet.nn.PReLU`` (1 and C parameters, and ``levels=``) in torch models, Conv2d ones included
  (export and onnxruntime only: wlnet does not read Conv);
* what the exporters write without constant folding (``do_constant_folding=False``,
  ``optimize=False``, opsets 7 and 8, ``torch.nn.PReLU``'s Unsqueeze) imports, and a slope that
  is not a constant is refused saying why.

Subset: the dynamo exporter costs about 1-2 s a model on the project's 2-core machine, so the
exporter options and the big-example check run on a few level forms, not on every row; the whole
file takes about a minute there.
"""

import io
import math
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from torch import nn

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import wlnet.nn  # noqa: E402
from cases import CASES  # noqa: E402
from test_contract import is_sequences, module_batches, outputs_of  # noqa: E402
from wlnet import All, Information, NetInitialize, ParametricRampLayer, Span  # noqa: E402
from wlnet.errors import NetSpecificationError  # noqa: E402
from wlnet.kernels import MIN_FUSED_NUMEL  # noqa: E402
from wlnet.layers.ramp import ParametricRamp  # noqa: E402
from wlnet.onnx import import_onnx  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("quiet_exporters"),
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning"),
    # The TorchScript exporter's own logging setup, deprecated inside torch (2.13).
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning:torch.onnx._internal"),
    # torch.export's own pytree code, inside the dynamo exporter (torch 2.13).
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

DYNAMO = pytest.param("dynamo", marks=pytest.mark.skipif(find_spec("onnxscript") is None,
                                                         reason="the dynamo exporter needs onnxscript"))
EXPORTERS = ["torchscript", DYNAMO]
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
BIG = 40_000  # elements: the fused kernels' range
ELEMENTWISE_PRELU = {"Greater", "Less", "Where", "Mul"}  # what a PReLU decomposed into torch ops writes
# (No TracerWarning filter: the TorchScript exporter traces wlnet.nn.PReLU without one, and
# pyproject's filterwarnings = ["error"] would fail a test that gave any.)


def export(module, example: torch.Tensor, exporter: str, output_names: list[str], varying=False, **options):
    """``module`` exported by ``exporter`` from ``example``, its batch axis symbolic (and its second
    axis too when ``varying``), as an ``onnx.ModelProto``."""
    if exporter == "dynamo":
        shapes = torch.export.ShapesCollection()  # also for Graph.forward(*args)
        dims = {0: torch.export.Dim("batch")}
        if varying:
            dims[1] = torch.export.Dim("length")
        shapes[example] = dims
        program = torch.onnx.export(module, (example,), dynamo=True, dynamic_shapes=shapes, verbose=False,
                                    **options)
        return program.model_proto
    axes = {0: "batch", 1: "length"} if varying else {0: "batch"}
    buffer = io.BytesIO()
    torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=["Input"], output_names=output_names,
                      dynamic_axes={"Input": axes, **{name: {0: "batch"} for name in output_names}}, **options)
    return onnx.load_from_string(buffer.getvalue())


def ops_of(model) -> list[str]:
    return [node.op_type for node in model.graph.node]


def runtime_outputs(model, x: torch.Tensor) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


def eager_outputs(module, x: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        result = module(x)
    values = result.values() if isinstance(result, dict) else result if isinstance(result, tuple) else [result]
    return [v.numpy() for v in values]


def assert_runs_as_eager(model, module, inputs: list[torch.Tensor]) -> None:
    for x in inputs:
        got, want = runtime_outputs(model, x), eager_outputs(module, x)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **TOLERANCE, err_msg=f"input of shape {tuple(x.shape)}")


def other_batches(example: torch.Tensor, varying: bool) -> list[torch.Tensor]:
    """One example and a batch of at least BIG elements, of the example's dims (other lengths, for
    sequences)."""
    dims = list(example.shape[1:])
    one = [1, *dims]
    if varying:
        one[1], dims[0] = dims[0] + 2, 3
    big = [-(-BIG // math.prod(dims)), *dims]
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(one, generator=generator), torch.randn(big, generator=generator)]


def prelu_count(net) -> int:
    return sum(isinstance(layer, ParametricRampLayer) for layer in Information(net, "LayersList"))


# -- the contract table's rows ------------------------------------------------------------------------
ROWS = [case for case in CASES
        if prelu_count(case.net()) and len(Information(case.net(), "InputPortNames")) == 1]


def export_example(net, data) -> tuple[torch.Tensor, bool]:
    """The batch the module is exported from: the example's largest batch (of equal lengths)."""
    batches = module_batches(net, data)
    _, (example,) = max(batches, key=lambda b: len(b[0]) if b[0] is not None else 0)
    assert example.shape[0] >= 2, "torch.export specializes a batch of 1"
    return example, is_sequences(data)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("case", ROWS, ids=[c.id for c in ROWS])
def test_a_row_exports_as_prelu_runs_and_imports(case, exporter):
    net, data = case.net(), case.example()
    module = net.to_torch().eval()
    example, varying = export_example(net, data)
    model = export(module, example, exporter, Information(net, "OutputPortNames"), varying)

    assert ops_of(model).count("PRelu") == prelu_count(net)
    assert not ELEMENTWISE_PRELU & set(ops_of(model)), ops_of(model)
    assert_runs_as_eager(model, module, other_batches(example, varying))

    imported = import_onnx(model.SerializeToString())
    got = outputs_of(imported, imported(data))
    want = outputs_of(net, net(data, None))
    assert len(got) == len(want)
    for g, w in zip(got.values(), want.values()):
        if varying:
            for g_sequence, w_sequence in zip(g, w):
                np.testing.assert_allclose(g_sequence, w_sequence, **TOLERANCE)
        else:
            np.testing.assert_allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64), **TOLERANCE)


# -- the example's size ---------------------------------------------------------------------------------
LEVELS = {"level-2": 2, "list-1-3": [1, 3], "span-2-all": Span(2, All)}


def ramp_module(levels, dims=(2, 3, 4), seed=0):
    module = NetInitialize(ParametricRampLayer(levels, Input=dims)).to_torch().eval()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        module.Slope.copy_(torch.empty_like(module.Slope).uniform_(-1, 1, generator=generator))
    return module


def graph_content(model) -> tuple:
    """What a model computes: its ops and its initializers' values."""
    arrays = sorted((tuple(t.dims), numpy_helper.to_array(t).tobytes()) for t in model.graph.initializer)
    return ops_of(model), arrays


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("levels", list(LEVELS.values()), ids=list(LEVELS))
def test_a_big_example_writes_the_same_graph(levels, exporter):
    module = ramp_module(levels)
    small, big = torch.randn(2, 2, 3, 4), torch.randn(-(-BIG // 24), 2, 3, 4)
    from_big = export(module, big, exporter, ["Output"])
    assert graph_content(from_big) == graph_content(export(module, small, exporter, ["Output"]))
    assert_runs_as_eager(from_big, module, [small, big])


@pytest.mark.filterwarnings("ignore:`torch.jit.trace(_method)?` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("module", [ramp_module([1, 3]), wlnet.nn.PReLU(3), wlnet.nn.PReLU()],
                         ids=["ramp", "prelu-channels", "prelu-shared"])
def test_traces_of_a_small_input_record_the_operator(module):
    """A trace and torch.export run the operator, not the module's eager small-input path (which
    would record torch.prelu or aten._prelu_kernel, tied to the example's size)."""
    x = torch.randn(2, 2, 3, 4) if isinstance(module, ParametricRamp) else torch.randn(2, 3, 4)
    assert x.numel() < MIN_FUSED_NUMEL
    traced = str(torch.jit.trace(module, x).inlined_graph)
    assert "wlnet::parametric_ramp" in traced and "prelu" not in traced
    exported = torch.export.export(module, (x,), strict=False)
    targets = [str(node.target) for node in exported.graph.nodes if node.op == "call_function"]
    assert "wlnet.parametric_ramp.default" in targets and not any("prelu" in t for t in targets), targets


# -- wlnet.nn.PReLU in torch models -------------------------------------------------------------------------
def conv(prelu):
    return nn.Sequential(nn.Conv2d(3, 8, 3), prelu, nn.Flatten(), nn.Linear(8 * 6 * 6, 4)), (3, 8, 8)


MODELS = {
    # name: (make (model, example dims), whether wlnet can import it)
    "conv-prelu-channels": (lambda: conv(wlnet.nn.PReLU(8)), True),
    "conv-prelu-shared": (lambda: conv(wlnet.nn.PReLU()), True),
    "mlp-prelu-channels": (lambda: (nn.Sequential(nn.Linear(5, 8), wlnet.nn.PReLU(8), nn.Linear(8, 3)), (5,)), True),
    "prelu-levels": (lambda: (nn.Sequential(wlnet.nn.PReLU((3, 4), levels=[1, 3]), nn.Flatten(), nn.Linear(36, 2)),
                              (3, 3, 4)), True),
}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_a_model_with_wlnet_prelu_exports_as_prelu(name, exporter):
    make, importable = MODELS[name]
    torch.manual_seed(0)
    model, dims = make()
    model.eval()
    prelus = [m for m in model.modules() if isinstance(m, wlnet.nn.PReLU)]
    with torch.no_grad():
        for prelu in prelus:
            prelu.weight.uniform_(-1, 1)
    onnx_model = export(model, torch.randn(2, *dims), exporter, ["Output"])

    assert ops_of(onnx_model).count("PRelu") == len(prelus)
    assert not ELEMENTWISE_PRELU & set(ops_of(onnx_model)), ops_of(onnx_model)
    assert_runs_as_eager(onnx_model, model, other_batches(torch.randn(2, *dims), False))
    if importable:
        net = import_onnx(onnx_model.SerializeToString())
        x = torch.randn(5, *dims)
        np.testing.assert_allclose(net(x.numpy()), eager_outputs(model, x)[0], **TOLERANCE)


# -- what the exporters write without constant folding --------------------------------------------------
@pytest.mark.parametrize(("exporter", "options"), [
    ("torchscript", {"do_constant_folding": False}),
    # Before opset 9 initializers must be graph inputs too (torch warns when it is not asked for).
    ("torchscript", {"opset_version": 7, "keep_initializers_as_inputs": True}),
    ("torchscript", {"opset_version": 8, "keep_initializers_as_inputs": True}),
    pytest.param("dynamo", {"optimize": False}, marks=DYNAMO.marks),
], ids=["torchscript-no-folding", "torchscript-opset-7", "torchscript-opset-8", "dynamo-no-optimize"])
@pytest.mark.parametrize("levels", [[1, 3], []], ids=["list-1-3", "shared"])
def test_an_unfolded_slope_imports(levels, exporter, options):
    module = ramp_module(levels)
    model = export(module, torch.randn(2, 2, 3, 4), exporter, ["Output"], **options)
    assert {"Reshape"} <= set(ops_of(model)) and "PRelu" in ops_of(model)  # the slope's reshape is left in
    x = torch.randn(5, 2, 3, 4)
    assert_runs_as_eager(model, module, [x])
    net = import_onnx(model.SerializeToString())
    np.testing.assert_allclose(net(x.numpy()), eager_outputs(module, x)[0], **TOLERANCE)


def test_torch_prelu_unfolded_imports():
    """torch.nn.PReLU's own symbolic: an Unsqueeze of the weight, left in without constant folding."""
    module = nn.PReLU(2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([0.5, -0.25]))
    x = torch.randn(3, 2, 3, 4)
    model = export(module, x, "torchscript", ["Output"], do_constant_folding=False)
    assert "Unsqueeze" in ops_of(model)
    net = import_onnx(model.SerializeToString())
    assert Information(net, "LayersList") == [ParametricRampLayer(1, Slope=[0.5, -0.25], Input=(2, 3, 4))]
    np.testing.assert_allclose(net(x.numpy()), eager_outputs(module, x)[0], **TOLERANCE)


def test_a_slope_exported_as_an_input_is_refused():
    model = export(ramp_module(2), torch.randn(2, 2, 3, 4), "torchscript", ["Output"], export_params=False)
    with pytest.raises(NetSpecificationError, match=r"PRelu.*slope is the graph input .*export_params=True"):
        import_onnx(model.SerializeToString())


def test_a_slope_that_does_not_broadcast_is_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4])
    slope = numpy_helper.from_array(np.ones((5, 1), dtype=np.float32), "slope")
    graph = helper.make_graph([helper.make_node("PRelu", ["x", "slope"], ["y"], name="p")], "g", [x], [y], [slope])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(NetSpecificationError, match=r'"p" \(PRelu.*slope \(dims \(5, 1\)\) does not broadcast'):
        import_onnx(model.SerializeToString())
