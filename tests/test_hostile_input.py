"""Hostile input across the public API: every row gives a correct value or a clear NetError.

Each row is (id, a zero-argument call, the expected outcome): a value (or a predicate on the
result), or a NetError subclass and a regex its message must match. Nothing else may escape: no
TypeError, IndexError, RecursionError, torch RuntimeError or warning (pytest turns warnings into
errors). ``tests/test_errors.py`` holds the first table of errors; this one complements it.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    ElementwiseLayer,
    Export,
    ExportByteArray,
    FlattenLayer,
    Import,
    ImportByteArray,
    Information,
    LinearLayer,
    NetChain,
    NetError,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetPort,
    NetReplacePart,
    NetTrain,
    ParametricRampLayer,
    Ramp,
    Span,
    Tanh,
    from_torch,
)
from wlnet.errors import (
    NetDataError,
    NetOptionError,
    NetShapeError,
    NetSpecificationError,
)
from wlnet.lower import with_arrays

VECTOR = NetInitialize(ParametricRampLayer(Input=3))
SEQUENCES = NetInitialize(ParametricRampLayer(2, Input=("Varying", 3)))
CHAIN = NetInitialize(NetChain([LinearLayer(2), ParametricRampLayer()], Input=3))
GRAPH = NetInitialize(NetGraph({"lin": LinearLayer(2), "ramp": ParametricRampLayer()}, [("lin", "ramp")], Input=3))
LINEAR = NetInitialize(LinearLayer(2, Input=3)).to_torch()
TWO_PORTS = NetGraph([ParametricRampLayer([], Slope=0.5), ParametricRampLayer([], Slope=0.25)],
                     [(NetPort("a"), 1), (NetPort("b"), 2)], a=3, b=3)
X10 = np.linspace(-1, 1, 30, dtype=np.float32).reshape(10, 3)
QUIET = {"MaxTrainingRounds": 1, "TrainingProgressReporting": None}


@dataclass(frozen=True)
class Row:
    id: str
    call: Callable[[], Any]
    error: type | None = None  # the NetError subclass expected, or None for a value
    pattern: str = ""  # regex the message must match
    value: Any = None  # the value expected (compared exactly), or a predicate on the result
    marks: tuple = ()


def bad(id, call, error, pattern, *marks) -> Row:
    return Row(id, call, error, pattern, marks=marks)


def good(id, call, value, *marks) -> Row:
    return Row(id, call, value=value, marks=marks)


def floats(expected, dtype=torch.float32):
    """A predicate: the result is a tensor of ``dtype`` equal to ``expected``."""
    return lambda result: result.dtype == dtype and result.tolist() == expected


def same_as_float(module, x):
    """A predicate: the module gives on ``x`` what it gives on ``x`` as float32."""
    return lambda result: torch.equal(result, module(x.float()))


def ramp_module(levels=(), slope=0.5):
    return ParametricRampLayer(list(levels), Slope=slope).to_torch()


def deep_list(depth: int):
    data: Any = [1.0]
    for _ in range(depth):
        data = [data]
    return data


def deep_ragged(depth: int):
    data: Any = [1.0]
    for _ in range(depth):
        data = [[1.0], data]
    return data


def read_only(array):
    array.flags.writeable = False
    return array


def frozen_requires_grad():
    return [torch.tensor([1.0, 2.0, 3.0], requires_grad=True)] * 2


def float32_bits(bits: int) -> np.ndarray:
    return np.array([bits], dtype=np.uint32).view(np.float32)


def sparse(dense):
    return torch.tensor(dense).to_sparse()


def a_directory(tmp):
    path = os.path.join(tmp, "net.safetensors")
    os.makedirs(path, exist_ok=True)
    return path


def written(tmp, name, data: bytes):
    path = os.path.join(tmp, name)
    with open(path, "wb") as file:
        file.write(data)
    return path


_SCRATCH: dict[str, str] = {}


def scratch() -> str:
    """The running row's own empty directory (set by the ``scratch_dir`` fixture)."""
    return _SCRATCH["dir"]

ROWS = [
    # -- 1. lowered modules on integer, True/False and complex input -------------------------
    good("ramp module, int input", lambda: ramp_module()(torch.tensor([[-2, -1, 3]])),
         floats([[-1.0, -0.5, 3.0]])),
    good("ramp module, bool input", lambda: ramp_module()(torch.tensor([[True, False]])), floats([[1.0, 0.0]])),
    good("ramp module, uint8 input", lambda: ramp_module()(torch.tensor([[0, 7]], dtype=torch.uint8)),
         floats([[0.0, 7.0]])),
    good("ramp module in float64, int input", lambda: ramp_module().double()(torch.tensor([[-2, 3]])),
         floats([[-1.0, 3.0]], torch.float64)),
    good("ramp module, float64 input keeps float64", lambda: ramp_module()(torch.tensor([[-2.0, 3.0]],
         dtype=torch.float64)), floats([[-1.0, 3.0]], torch.float64)),
    good("ramp module with levels, int input",
         lambda: ParametricRampLayer(1, Slope=[0.5, 0.25]).to_torch()(torch.tensor([[-4, -4]])),
         floats([[-2.0, -1.0]])),
    bad("ramp module, complex input", lambda: ramp_module()(torch.tensor([[1j]])), NetDataError,
        r"ParametricRampLayer \(levels \[\]\): the input should be real numbers, but it is a tensor of "
        r"torch\.complex64"),
    good("linear module, int input", lambda: LINEAR(torch.tensor([[1, 2, 3]])),
         same_as_float(LINEAR, torch.tensor([[1, 2, 3]]))),
    bad("linear module, float64 input into float32", lambda: LINEAR(torch.zeros(1, 3,
        dtype=torch.float64)), NetDataError,
        r"LinearLayer: the input is a tensor of torch\.float64, but the weights are torch\.float32; convert"),
    bad("linear module, complex input", lambda: LINEAR(torch.zeros(1, 3, dtype=torch.complex64)),
        NetDataError, r"LinearLayer: the input should be real numbers, but it is a tensor of torch\.complex64"),
    good("elementwise Ramp module, int input", lambda: ElementwiseLayer(Ramp).to_torch()(torch.tensor([[1, -2]])),
         floats([[1.0, 0.0]])),
    good("elementwise Tanh module, bool input",
         lambda: ElementwiseLayer(Tanh).to_torch()(torch.tensor([[False]])), floats([[0.0]])),
    bad("elementwise module, complex input", lambda: ElementwiseLayer(Tanh).to_torch()(torch.tensor([[1j]])),
        NetDataError, r"ElementwiseLayer \(Tanh\): the input should be real numbers"),
    good("flatten module keeps an int input's type (it only reshapes)",
         lambda: FlattenLayer().to_torch()(torch.tensor([[[1, 2], [3, 4]]])),
         lambda r: r.dtype == torch.int64 and r.tolist() == [[1, 2, 3, 4]]),
    good("chain module, int input", lambda: CHAIN.to_torch()(torch.tensor([[1, -2, 3]])),
         same_as_float(CHAIN.to_torch(), torch.tensor([[1, -2, 3]]))),
    good("graph module, int input", lambda: GRAPH.to_torch()(torch.tensor([[1, -2, 3]])),
         same_as_float(GRAPH.to_torch(), torch.tensor([[1, -2, 3]]))),
    # -- 2. values that would change silently ------------------------------------------------
    bad("Slope beyond float32", lambda: ParametricRampLayer(Slope=1e300), NetSpecificationError,
        r'ParametricRampLayer: "Slope": the value 1e\+300 is beyond the range of float32 .* become inf'),
    bad("Slope below -float32 max", lambda: ParametricRampLayer(Slope=[0.1, -1e39]), NetSpecificationError,
        r"the value -1e\+39 at position \[2\] is beyond the range of float32 .* become -inf"),
    bad("Slope that underflows to 0", lambda: ParametricRampLayer(Slope=1e-50), NetSpecificationError,
        r"the value 1e-50 is too small for float32 .* would become 0\. Give 0 if 0 is meant"),
    bad("Slope NaN", lambda: ParametricRampLayer(Slope=float("nan")), NetSpecificationError,
        r'"Slope" should be finite real numbers, but the value is nan'),
    bad("Slope inf in a matrix", lambda: ParametricRampLayer(Span(1, 2), Slope=[[0.1, 0.2], [0.3, np.inf]]),
        NetSpecificationError, r"but the value at position \[2, 2\] is inf"),
    good("Slope subnormal in float32 is kept", lambda: NetExtract(ParametricRampLayer(Slope=1e-40), "Slope"),
         lambda a: a == np.float32(1e-40) and a != 0),
    good("Slope in float32 is kept bit for bit",
         lambda: NetExtract(ParametricRampLayer(Slope=float32_bits(0x3DCCCCCD)), "Slope").view(np.uint32).tolist(),
         [0x3DCCCCCD]),
    good("Slope as an object array of numbers",
         lambda: NetExtract(ParametricRampLayer(Slope=np.array([1, 0.5], dtype=object)), "Slope").tolist(),
         [1.0, 0.5]),
    bad("Slope a huge int", lambda: ParametricRampLayer(Slope=[10**400]), NetSpecificationError,
        r"contains the integer 10000000\.\.\.0000 \(401 digits\), too large for a float"),
    bad("Slope an int beyond float32", lambda: ParametricRampLayer(Slope=[2**200]), NetSpecificationError,
        r"beyond the range of float32"),
    bad("Slope a float64 tensor beyond float32", lambda: ParametricRampLayer(Slope=torch.tensor([1e300],
        dtype=torch.float64)), NetSpecificationError, r"the value 1e\+300 at position \[1\] is beyond"),
    bad("Slope a meta tensor", lambda: ParametricRampLayer(Slope=torch.zeros(3, device="meta")),
        NetSpecificationError, r'"Slope" should be .* but it is a meta tensor, which has dims but no values'),
    bad("Slope a sparse tensor", lambda: ParametricRampLayer(Slope=sparse([0.1, 0.0])), NetSpecificationError,
        r"it is a tensor of layout torch\.sparse_coo; convert it with \.to_dense\(\) first"),
    bad("Weights inf", lambda: LinearLayer(2, Weights=[[1, np.inf]]), NetSpecificationError,
        r'LinearLayer: "Weights" should be finite real numbers, but the value at position \[1, 2\] is inf'),
    bad("Biases NaN", lambda: LinearLayer(2, Biases=[1, np.nan]), NetSpecificationError,
        r'LinearLayer: "Biases" should be finite .* position \[2\] is nan'),
    bad("Weights underflow", lambda: LinearLayer(1, Weights=[[1e-60]]), NetSpecificationError,
        r'LinearLayer: "Weights": the value 1e-60 at position \[1, 1\] is too small for float32'),
    bad("NetReplacePart Slope beyond float32", lambda: NetReplacePart(VECTOR, "Slope", [1, 2, 1e300]),
        NetSpecificationError, r'NetReplacePart: the new "Slope" of ParametricRampLayer \(levels 1\): the value '
        r"1e\+300 at position \[3\] is beyond"),
    bad("NetReplacePart rules with NaN", lambda: NetReplacePart(CHAIN, {(2, "Slope"): [0.1, np.nan]}),
        NetSpecificationError, r'the new "Slope" .* should be finite real numbers, but the value at position \[2\]'),
    bad("with_arrays NaN tensor", lambda: with_arrays(VECTOR, {"Slope": torch.tensor([1.0, np.nan, 2.0])}),
        NetSpecificationError, r'the value for the array "Slope" should be finite .* position \[2\] is nan'),
    bad("with_arrays meta tensor", lambda: with_arrays(VECTOR, {"Slope": torch.zeros(3, device="meta")}),
        NetSpecificationError, r'the value for the array "Slope" .* meta tensor'),
    bad("L2Regularization -1", lambda: NetTrain(VECTOR, (X10, X10), Method=("ADAM", {"L2Regularization": -1}),
        **QUIET), NetOptionError, r'"L2Regularization" of Method ADAM should be None or a non-negative number, '
        r"but was -1"),
    bad("L2Regularization NaN in rules", lambda: NetTrain(CHAIN, (X10, X10[:, :2]),
        Method=("SGD", {"L2Regularization": {1: float("nan")}}), **QUIET), NetOptionError,
        r"non-negative number in its rules, but was nan"),
    bad("GradientClipping 0", lambda: NetTrain(VECTOR, (X10, X10), Method=("ADAM", {"GradientClipping": 0}),
        **QUIET), NetOptionError, r'"GradientClipping" of Method ADAM should be None or a positive number'),
    bad("WeightClipping -1 in rules", lambda: NetTrain(VECTOR, (X10, X10),
        Method=("SGD", {"WeightClipping": [("Slope", -1)]}), **QUIET), NetOptionError,
        r'"WeightClipping" of Method SGD should be None or a positive number .* in its rules, but was -1'),
    bad("LearningRate sub-option inf", lambda: NetTrain(VECTOR, (X10, X10),
        Method=("ADAM", {"LearningRate": float("inf")}), **QUIET), NetOptionError,
        r'"LearningRate" of Method ADAM should be None or a positive number, but was inf'),
    bad("LearningRate sub-option as rules", lambda: NetTrain(VECTOR, (X10, X10),
        Method=("ADAM", {"LearningRate": {"Slope": 0.1}}), **QUIET), NetOptionError,
        r"per-array learning rates are given with LearningRateMultipliers"),
    bad("LearningRate 0", lambda: NetTrain(VECTOR, (X10, X10), LearningRate=0, **QUIET), NetOptionError,
        r"LearningRate should be Automatic or a positive number, but was 0"),
    bad("Epsilon inf", lambda: NetTrain(VECTOR, (X10, X10), Method=("ADAM", {"Epsilon": float("inf")}), **QUIET),
        NetOptionError, r'"Epsilon" of Method ADAM should be a positive finite number, but was inf'),
    bad("NetInitialize Random Weights inf", lambda: NetInitialize(LinearLayer(2, Input=3),
        Method=("Random", {"Weights": float("inf")})), NetOptionError,
        r'"Weights" of Method Random should be a standard deviation \(a finite non-negative number\), but was inf'),
    bad("NetInitialize Identity Distribution NaN", lambda: NetInitialize(LinearLayer(2, Input=3),
        Method=("Identity", {"Distribution": float("nan")})), NetOptionError, r'"Distribution" of Method Identity'),
    bad("NetInitialize Random Biases a string", lambda: NetInitialize(LinearLayer(2, Input=3),
        Method=("Random", {"Biases": "x"})), NetOptionError, r"non-negative number\) or None, but was 'x'"),
    bad("NetInitialize Random Weights beyond float32", lambda: NetInitialize(LinearLayer(2, Input=3),
        Method=("Random", {"Weights": 1e300})), NetOptionError,
        r'gives the array "Weights" values beyond the range of float32'),
    good("NetInitialize Random Biases draws the biases", lambda: NetExtract(NetInitialize(LinearLayer(2, Input=3),
         Method=("Random", {"Biases": 1.0})), "Biases"), lambda b: b.shape == (2,) and np.all(b != 0)),
    # -- 3. Information and data of every odd kind ---------------------------------------------
    bad("Information with {}", lambda: Information(VECTOR, {}), NetSpecificationError,
        r'Information: the property should be a name such as "ArraysCount" or a list of names, not dict \{\}'),
    bad("Information with a set", lambda: Information(VECTOR, {"ArraysCount"}), NetSpecificationError,
        r"not set \{'ArraysCount'\}"),
    bad("Information with ['x']", lambda: Information(VECTOR, ["x"]), NetSpecificationError,
        r"'x' is not a property of ParametricRampLayer"),
    bad("Information with a nested list", lambda: Information(VECTOR, [["ArraysCount"]]), NetSpecificationError,
        r"a list of properties should hold property names \(strings\), but it holds list \['ArraysCount'\]"),
    bad("Information with a number", lambda: Information(VECTOR, 3), NetSpecificationError, r"not int 3"),
    good("Information with []", lambda: Information(VECTOR, []), []),
    bad("data nested 10,000 deep", lambda: VECTOR(deep_list(10_000)), NetDataError,
        r'port "Input" is nested more than 1000 levels deep; data may have at most 32 levels'),
    bad("ragged data nested 10,000 deep", lambda: SEQUENCES(deep_ragged(10_000)), NetDataError,
        r'port "Input" is ragged'),
    bad("meta tensor data", lambda: VECTOR(torch.zeros(3, device="meta")), NetDataError,
        r'port "Input" should be real numbers, but it is a meta tensor'),
    bad("sparse tensor data", lambda: VECTOR(sparse([1.0, 0.0, 2.0])), NetDataError,
        r"it is a tensor of layout torch\.sparse_coo"),
    bad("complex tensor data", lambda: VECTOR(torch.zeros(3, dtype=torch.complex64)), NetDataError,
        r"it is a tensor of torch\.complex64"),
    bad("complex NumPy data", lambda: VECTOR(np.zeros(3, dtype=complex)), NetDataError,
        r"it contains complex numbers"),
    bad("object array with an object", lambda: VECTOR(np.array([1, 2, object()], dtype=object)), NetDataError,
        r"it contains <object object"),
    good("object array of numbers", lambda: VECTOR(np.array([1, -10, 3], dtype=object)).tolist(),
         lambda r: np.allclose(r, [1, -1, 3])),
    bad("a string", lambda: VECTOR("abc"), NetDataError, r"should be real numbers, but it is 'abc'"),
    bad("bytes", lambda: VECTOR(b"\x00\x01\x02"), NetDataError, r"but it is b'\\x00"),
    bad("None", lambda: VECTOR(None), NetDataError, r"should be real numbers, but it is None"),
    bad("a generator", lambda: VECTOR(i for i in range(3)), NetDataError, r"it contains <generator"),
    bad("datetimes", lambda: VECTOR(np.array(["2020-01-01"] * 3, dtype="datetime64[D]")), NetDataError,
        r"it has values of type datetime64"),
    bad("a dict with an int key", lambda: VECTOR({1: [1, 2, 3]}), NetDataError,
        r'the data names a port "1" that is not an input port'),
    bad("a list for a net with two input ports", lambda: TWO_PORTS([1, 2, 3]), NetDataError,
        r"the net has input ports 'a', 'b', so the data should be a dict \{port: data\}, not list"),
    good("read-only NumPy data (no torch warning)", lambda: VECTOR(read_only(np.array([-10.0, 0, 1],
         dtype=np.float32))).tolist(), lambda r: np.allclose(r, [-1, 0, 1])),
    good("reversed NumPy data", lambda: VECTOR(np.arange(3.0)[::-1] - 1).tolist(),
         lambda r: np.allclose(r, [1, 0, -0.1])),
    bad("tensors that need detach", lambda: VECTOR(frozen_requires_grad()), NetDataError,
        r"it cannot be read as numbers \(Can't call numpy\(\) on Tensor that requires grad"),
    bad("values beyond Real32", lambda: VECTOR([1e300, 1, 2]), NetDataError,
        r'has the value 1e\+300 at position \[1\], beyond the range of float32 .* WorkingPrecision="Real64"'),
    good("values beyond Real32 in Real64", lambda: VECTOR([1e300, -1, 2], WorkingPrecision="Real64").tolist(),
         lambda r: r[0] == 1e300 and np.isclose(r[1], -0.1)),
    bad("a huge int in data", lambda: VECTOR([10**400, 1, 2]), NetDataError, r"too large for a float"),
    bad("a float64 tensor beyond Real32", lambda: VECTOR(torch.tensor([1.0, -5e38, 2.0], dtype=torch.float64)),
        NetDataError, r"has the value -5e\+38 at position \[2\], beyond the range of float32"),
    good("an infinity in a float64 tensor stays one", lambda: VECTOR(torch.tensor([1.0, -np.inf, 2.0],
         dtype=torch.float64)).tolist(), lambda r: r[1] == -np.inf),
    # -- 4. odd positions ----------------------------------------------------------------------
    bad("NetExtract a float position", lambda: NetExtract(CHAIN, 1.0), NetSpecificationError,
        r"NetExtract: 1\.0 \(float\) is not a position: a step is an integer \(1-based"),
    bad("NetExtract True", lambda: NetExtract(CHAIN, [True, "Slope"]), NetSpecificationError,
        r"in the specification \[True, 'Slope'\], True \(True/False\) is not a position"),
    bad("NetExtract None", lambda: NetExtract(CHAIN, None), NetSpecificationError, r"None \(NoneType\)"),
    bad("NetExtract 0", lambda: NetExtract(CHAIN, 0), NetSpecificationError,
        r"NetChain: 0 is not a part; parts are numbered 1 to 2"),
    bad("NetExtract -3", lambda: NetExtract(CHAIN, [-3, "Slope"]), NetSpecificationError, r"-3 is not a part"),
    bad("NetExtract a path past an array", lambda: NetExtract(CHAIN, [2, "Slope", 1]), NetSpecificationError,
        r"has no parts, so the path \[2, 'Slope', 1\] cannot go on after 'Slope'"),
    good("NetExtract a NumPy int position", lambda: NetExtract(CHAIN, [np.int64(2), "Slope"]).tolist(),
         [np.float32(0.1)] * 2),
    good("NetExtract All", lambda: NetExtract(CHAIN, All), lambda r: len(r) == 2),
    bad("NetReplacePart []", lambda: NetReplacePart(CHAIN, [], [1, 2]), NetSpecificationError,
        r"NetReplacePart: the specification \[\] names nothing"),
    bad("NetReplacePart ()", lambda: NetReplacePart(CHAIN, (), [1, 2]), NetSpecificationError,
        r"the specification \(\) names nothing"),
    bad("NetReplacePart a float position", lambda: NetReplacePart(CHAIN, [2.0, "Slope"], [1, 2]),
        NetSpecificationError, r"2\.0 \(float\) is not a position"),
    bad("NetReplacePart a rule of length 3", lambda: NetReplacePart(CHAIN, [((2, "Slope"), [1, 2], 3)]),
        NetSpecificationError, r"a list of rules should hold \(spec, value\) pairs, but it holds .* of length 3"),
    bad("NetReplacePart position 0", lambda: NetReplacePart(CHAIN, [0, "Slope"], [1, 2]), NetSpecificationError,
        r"0 is not a part"),
    bad("NetReplacePart -3", lambda: NetReplacePart(CHAIN, [-3, "Slope"], [1, 2]), NetSpecificationError,
        r"-3 is not a part"),
    # -- 5. training data ---------------------------------------------------------------------------
    good("BatchSize beyond the data is capped", lambda: NetTrain(VECTOR, (X10, X10), All, BatchSize=10**7,
         **QUIET)["BatchSize"], 10),
    bad("pairs with targets of different shapes name the example",
        lambda: NetTrain(VECTOR, [([1, 2, 3], [1, 2, 3]), ([1, 2, 3], [1, 2]), ([1, 2, 3], [1, 2, 3])], **QUIET),
        NetDataError, r"example 2"),
    bad("pairs with inputs of different shapes name the example",
        lambda: NetTrain(VECTOR, [([1, 2, 3], [1, 2, 3]), ([1, 2], [1, 2, 3])], **QUIET),
        NetDataError, r"example 2"),
    bad("Varying targets of other lengths than their sequences",
        lambda: NetTrain(SEQUENCES, [(np.ones((2, 3)), np.ones((3, 3))), (np.ones((4, 3)), np.ones((4, 3)))],
                         **QUIET),
        NetDataError, r"example 1 of the training data: its target for port \"Output\" is a sequence of length 3, "
                      r"but its input is a sequence of length 2"),
    # -- files, ONNX, from_torch ----------------------------------------------------------------
    bad("Export to a directory", lambda: Export(scratch(), VECTOR), NetSpecificationError,
        r"Export: the format of .* cannot be told from its extension"),
    bad("Export onto a directory named .safetensors", lambda: Export(a_directory(scratch()), VECTOR), NetError,
        r"directory"),
    bad("Import a directory", lambda: Import(a_directory(scratch())), NetError,
        r"the file cannot be read \(Is a directory\)"),
    bad("Import a missing file", lambda: Import(os.path.join(scratch(), "missing.safetensors")), NetError,
        r"missing\.safetensors: the file cannot be read \(No such file or directory\)"),
    bad("Import a text file", lambda: Import(written(scratch(), "text.safetensors", b"just some text, not a net")),
        NetError, r"text\.safetensors: the file is truncated: .* It is not a whole wlnet net file"),
    bad("Import an unknown extension", lambda: Import(os.path.join(scratch(), "net.txt")), NetSpecificationError,
        r"cannot be told from its extension; use \.safetensors"),
    bad("Import an ONNX file that is not ONNX", lambda: Import(written(scratch(), "junk.onnx", b"\xff\x00 junk")),
        NetError, r'cannot read ".*junk\.onnx" as an ONNX model'),
    bad("ImportByteArray of junk", lambda: ImportByteArray(b"\x00\x01"), NetError,
        r"ImportByteArray: the file is empty or truncated \(2 bytes\)"),
    bad("ImportByteArray of a str", lambda: ImportByteArray("abc"), NetError, r"bytes"),
    bad("ImportByteArray of None", lambda: ImportByteArray(None), NetError, r"bytes"),
    bad("ExportByteArray of a list", lambda: ExportByteArray([1, 2]), NetError, r"net"),
    bad("from_torch of a ConvTranspose2d", lambda: from_torch(torch.nn.ConvTranspose2d(1, 1, 3)),
        NetSpecificationError, r"from_torch: nn\.ConvTranspose2d has no wlnet equivalent; supported: nn\.PReLU"),
    bad("from_torch of a Sequential with a ConvTranspose2d",
        lambda: from_torch(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.ConvTranspose2d(1, 1, 3))),
        NetSpecificationError, r"the module at position 2 \(nn\.ConvTranspose2d\) has no wlnet equivalent"),
    bad("from_torch of a number", lambda: from_torch(3), NetSpecificationError,
        r"the argument should be a torch\.nn\.Module, not int"),
    # -- levels, ports, option names -----------------------------------------------------------
    bad("levels None", lambda: ParametricRampLayer(None), NetSpecificationError,
        r"levels should be an integer, a Span, a list of integers or \[\], but were None"),
    bad("levels nested", lambda: ParametricRampLayer([[1]]), NetSpecificationError, r"but \[1\] is not an integer"),
    bad("levels True", lambda: ParametricRampLayer(True), NetSpecificationError, r"but True is not an integer"),
    bad("Span of a float", lambda: ParametricRampLayer(Span(1.5, 2)), NetSpecificationError,
        r"the start of Span\(1\.5, 2\): a level should be a nonzero integer"),
    bad("a level beyond any rank", lambda: ParametricRampLayer(10**30, Input=3), NetShapeError,
        r"level 1000000000000000000000000000000 is beyond the rank"),
    bad("Input a float", lambda: ParametricRampLayer(Input=3.0), NetSpecificationError,
        r"each dimension should be a positive integer, .* but dimension 1 is 3\.0"),
    bad("Input True", lambda: ParametricRampLayer(Input=True), NetSpecificationError, r"dimension 1 is True"),
    bad("Input negative", lambda: ParametricRampLayer(Input=-3), NetSpecificationError, r"dimension 1 is -3"),
    bad("LinearLayer option typo", lambda: LinearLayer(3, Weigths=1), NetOptionError,
        r"LinearLayer: unknown option Weigths\. Did you mean Weights\?"),
    bad("NetChain option typo", lambda: NetChain([VECTOR], Inputs=3), NetOptionError,
        r"NetChain: unknown option Inputs\. Did you mean Input\?"),
    bad("NetTrain option typo", lambda: NetTrain(VECTOR, (X10, X10), MaxTrainingRound=1), NetOptionError,
        r"NetTrain: unknown option MaxTrainingRound\. Did you mean MaxTrainingRounds\?"),
    bad("NetTrain Method in the wrong case", lambda: NetTrain(VECTOR, (X10, X10), Method="Adam"), NetOptionError,
        r"but was 'Adam'\. Did you mean ADAM\?"),
    bad("NetTrain sub-option typo", lambda: NetTrain(VECTOR, (X10, X10), Method=("ADAM", {"Beta": 0.9})),
        NetOptionError, r"Method ADAM has no sub-option 'Beta'\. Did you mean Beta2\?"),
    bad("ElementwiseLayer name typo", lambda: ElementwiseLayer("Relu"), NetSpecificationError,
        r"'Relu' is not a known function\. Did you mean ReLU\?"),
]


@pytest.fixture(autouse=True)
def scratch_dir(tmp_path):
    _SCRATCH["dir"] = str(tmp_path)
    yield
    _SCRATCH.clear()


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS])
def test_hostile_input(row):
    if row.error is None:
        result = row.call()
        if callable(row.value):
            assert row.value(result), result
        else:
            assert result == row.value
        return
    with pytest.raises(row.error, match=row.pattern) as caught:
        row.call()
    assert isinstance(caught.value, NetError)


def test_the_table_is_large_and_its_ids_unique():
    assert len(ROWS) >= 60
    assert len({row.id for row in ROWS}) == len(ROWS)
