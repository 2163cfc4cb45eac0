"""Nets shared by several test files, and the contract table: one row per kind of layer or container.

Every row of :data:`CASES` is checked by every test of ``test_contract.py``. Adding a layer (or a
new way of building a net) means adding rows here, not tests there.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wlnet import (
    All,
    Automatic,
    ElementwiseLayer,
    Exp,
    FlattenLayer,
    Inherited,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetGraph,
    NetInitialize,
    NetPort,
    NetReplacePart,
    ParametricRampLayer,
    Ramp,
    Span,
    Tanh,
)
from wlnet.layers.aggregation import AggregationLayer
from wlnet.layers.combine import CatenateLayer, TotalLayer
from wlnet.layers.convolution import ConvolutionLayer
from wlnet.layers.dropout import DropoutLayer
from wlnet.layers.normalization import BatchNormalizationLayer
from wlnet.layers.pooling import PoolingLayer
from wlnet.layers.reshape import ReshapeLayer
from wlnet.layers.softmax import SoftmaxLayer


def page_chain():
    """The page's Boolean chain with a frozen leaky ReLU (examples 11-13)."""
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    return NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Output=NetDecoder("Boolean"))


@dataclass(frozen=True)
class Case:
    """One row of the contract table.

    ``net`` makes the net (initialized, with every port's dims known); ``data`` is example input
    for it, or a zero-argument function giving it: a batch, a dict ``{port: batch}`` for several
    input ports, or a list of sequences of different lengths for a "Varying" port. ``unlike``, if
    given, makes a net that differs from ``net`` in one thing only (its wiring, a coder, a
    multiplier), which equality must see. ``known_bugs`` maps a test of ``test_contract.py`` to the
    reason it is expected to fail on this row (a strict xfail: the test fails once the bug is fixed,
    so the entry is removed with the fix).
    """

    id: str
    net: Callable[[], Any]
    data: Any
    unlike: Callable[[], Any] | None = None
    known_bugs: Mapping[str, str] = field(default_factory=dict)

    def example(self) -> Any:
        return self.data() if callable(self.data) else self.data


def batch(*dims, n=2, seed=0):
    """A function giving a batch of ``n`` examples of ``dims``, standard normal (so no exact zeros)."""
    return lambda: np.random.default_rng(seed).standard_normal((n, *dims))


def sequences(*lengths, width=3, seed=0):
    """A function giving a batch of sequences of the given lengths, of length-``width`` vectors."""
    return lambda: [np.random.default_rng(seed + i).standard_normal((length, width))
                    for i, length in enumerate(lengths)]


def ramp(levels=None, dims=(2, 3, 4), **options):
    """A function giving the initialized ParametricRampLayer (levels left out when None) on ``dims``."""
    args = () if levels is None else (levels,)
    return lambda: NetInitialize(ParametricRampLayer(*args, Input=dims, **options))


def initialized(make):
    return lambda: NetInitialize(make())


def batch_normalization(channels, dims=None, **options):
    """A function giving a BatchNormalizationLayer on ``dims`` (``channels`` when None) whose four arrays
    differ from NetInitialize's (the moving variance positive)."""
    values = np.random.default_rng(channels).standard_normal((4, channels)).astype(np.float32)
    arrays = {"Scaling": values[0], "Biases": values[1], "MovingMean": values[2],
              "MovingVariance": np.abs(values[3]) + np.float32(0.5)}
    return lambda: BatchNormalizationLayer(**arrays, Input=channels if dims is None else dims, **options)


def frozen_chain(**options):
    return NetChain([LinearLayer(2), ParametricRampLayer(), LinearLayer(2)], Input=2, **options)


def boolean_chain():
    return NetReplacePart(page_chain(), "Input", "Real")


def exp_then_tanh(first="exp"):
    """Two elementwise layers and a ramp in a line; ``first`` says which function comes first."""
    order = ("exp", "tanh") if first == "exp" else ("tanh", "exp")
    return NetGraph({"exp": Exp, "tanh": Tanh, "ramp": ParametricRampLayer()}, [(NetPort("Input"), *order, "ramp")],
                    Input=3)


def classifier(labels):
    """A softmax classifier of 2-vectors into ``labels``, which its Class decoder gives."""
    return NetChain([LinearLayer(len(labels)), SoftmaxLayer()], Input=2, Output=NetDecoder(["Class", labels]))


def mlp():
    return NetChain([LinearLayer(3), ParametricRampLayer(), LinearLayer(2)], Input=2)


def branches():
    """A trunk feeding a head and an activation: one input, two outputs."""
    return NetGraph({"trunk": LinearLayer(3), "head": LinearLayer(2), "act": ParametricRampLayer()},
                    [("trunk", "head"), ("trunk", "act")], Input=2)


def two_inputs():
    return NetGraph({"a": LinearLayer(2), "b": ParametricRampLayer(), "sum": LinearLayer(1)},
                    [(NetPort("x"), "a"), (NetPort("y"), "b", "sum")], x=3, y=2)


def ports_data(*dims, names=None, n=2):
    """A function giving a dict of batches, one per input port ("Input1", ... or ``names``) of the given dims."""
    names = names or [f"Input{i}" for i in range(1, len(dims) + 1)]
    shapes = [(d,) if isinstance(d, int) else d for d in dims]
    return lambda: {name: batch(*shape, n=n, seed=i)() for i, (name, shape) in enumerate(zip(names, shapes), 1)}


def residual(swapped=False):
    """A residual block: the input plus ramp(lin(input)) (``swapped``: the summands in the other order)."""
    sources = (NetPort("Input"), "ramp") if swapped else ("ramp", NetPort("Input"))
    return NetGraph({"lin": LinearLayer(3), "ramp": ParametricRampLayer(), "add": TotalLayer()},
                    [(NetPort("Input"), "lin", "ramp"), (sources, "add")], Input=3)


CASES = [
    # ParametricRampLayer: every form of the levels, on an input of dims (2, 3, 4).
    Case("ramp-default", ramp(), batch(2, 3, 4)),
    Case("ramp-level-2", ramp(2), batch(2, 3, 4)),
    Case("ramp-level--1", ramp(-1), batch(2, 3, 4)),
    Case("ramp-span-1-2", ramp(Span(1, 2)), batch(2, 3, 4)),
    Case("ramp-span-2-all", ramp(Span(2, All)), batch(2, 3, 4)),
    Case("ramp-list-1-3", ramp([1, 3]), batch(2, 3, 4)),
    Case("ramp-shared", ramp([]), batch(2, 3, 4)),
    Case("ramp-varying", ramp(2, ("Varying", 3)), sequences(1, 4, 2, 4)),
    Case("ramp-real", ramp([], "Real"), batch(n=3)),
    Case("ramp-frozen", lambda: ParametricRampLayer(Slope=[0.5, 0.25], LearningRateMultipliers=0, Input=(2, 3)),
         batch(2, 3)),
    Case("ramp-slope-fixes-input", lambda: ParametricRampLayer(Span(1, All), Slope=[[0.5, 0.25, 0], [1, 2, -1]]),
         batch(2, 3), unlike=lambda: ParametricRampLayer(Span(1, All), Slope=[[0.5, 0.25], [1, 2], [0, -1]])),
    # LinearLayer.
    Case("linear-vector", initialized(lambda: LinearLayer(3, Input=2)), batch(2)),
    Case("linear-tuple", initialized(lambda: LinearLayer((2, 2), Input=3)), batch(3)),
    Case("linear-real", initialized(lambda: LinearLayer([], Input=(2, 2))), batch(2, 2)),
    Case("linear-no-biases", initialized(lambda: LinearLayer(2, Biases=None, Input=3)), batch(3)),
    Case("linear-multiplier", initialized(lambda: LinearLayer(2, LearningRateMultipliers=1 / 3, Input=3)), batch(3)),
    Case("linear-frozen", initialized(lambda: LinearLayer(2, LearningRateMultipliers=0, Input=3)), batch(3)),
    # ElementwiseLayer: no arrays.
    Case("elementwise-ramp", lambda: ElementwiseLayer(Ramp, Input=(2, 3)), batch(2, 3)),
    Case("elementwise-tanh", lambda: ElementwiseLayer(Tanh, Input=(2, 3)), batch(2, 3)),
    Case("elementwise-sigmoid", lambda: ElementwiseLayer(LogisticSigmoid, Input=4), batch(4)),
    Case("elementwise-elu", lambda: ElementwiseLayer("ELU", Input=(2, 3)), batch(2, 3)),
    Case("elementwise-lambda", lambda: ElementwiseLayer(lambda x: 2 * Tanh(x) - Exp(-x ** 2) / 3, Input=(2, 3)),
         batch(2, 3), unlike=lambda: ElementwiseLayer(lambda x: 2 * Tanh(x) - Exp(-x ** 2) / 4, Input=(2, 3))),
    # FlattenLayer: no arrays; every form of n, and a sequence whose later levels are merged.
    Case("flatten-all", lambda: FlattenLayer(Input=(2, 3, 4)), batch(2, 3, 4),
         unlike=lambda: FlattenLayer(2, Input=(2, 3, 4))),
    Case("flatten-first-2", lambda: FlattenLayer(1, Input=(2, 3, 4)), batch(2, 3, 4)),
    Case("flatten-last-2", lambda: FlattenLayer(-1, Input=(2, 3, 4)), batch(2, 3, 4)),
    Case("flatten-varying", lambda: FlattenLayer(-1, Input=("Varying", 2, 3)),
         lambda: [x.reshape(len(x), 2, 3) for x in sequences(1, 4, 2, 4, width=6)()]),
    Case("flatten-output-given", lambda: FlattenLayer(1, Input=(Automatic, 3, 4), Output=(6, 4)), batch(2, 3, 4)),
    # SoftmaxLayer (issue 20's shape layers): no arrays; the default last level, a channel level, sequences.
    Case("softmax-vector", lambda: SoftmaxLayer(Input=4), batch(4)),
    Case("softmax-level-1", lambda: SoftmaxLayer(1, Input=(3, 2, 2)), batch(3, 2, 2),
         unlike=lambda: SoftmaxLayer(-3, Input=(3, 2, 2))),
    Case("softmax-varying", lambda: SoftmaxLayer(Input=("Varying", 3)), sequences(1, 4, 2, 4)),
    Case("softmax-over-varying", lambda: SoftmaxLayer(1, Input=("Varying", 3)), sequences(1, 4, 2, 4)),
    # DropoutLayer: the identity in evaluation, any rank, sequences.
    Case("dropout", lambda: DropoutLayer(0.3, Input=(2, 3)), batch(2, 3), unlike=lambda: DropoutLayer(Input=(2, 3))),
    Case("dropout-alpha", lambda: DropoutLayer(Method="AlphaDropout", Input=4), batch(4),
         unlike=lambda: DropoutLayer(Input=4)),
    Case("dropout-varying", lambda: DropoutLayer(0.1, Input=("Varying", 3)), sequences(1, 4, 2, 4)),
    # ReshapeLayer: given dims, Inherited with Automatic, All, a real number, sequences.
    Case("reshape", lambda: ReshapeLayer((3, 4), Input=(2, 6)), batch(2, 6),
         unlike=lambda: ReshapeLayer((4, 3), Input=(2, 6))),
    Case("reshape-inherited-automatic", lambda: ReshapeLayer((Inherited, Automatic), Input=(2, 3, 2)), batch(2, 3, 2)),
    Case("reshape-all", lambda: ReshapeLayer((All, 1), Input=(2, 3)), batch(2, 3)),
    Case("reshape-real", lambda: ReshapeLayer((), Input=1), batch(1)),
    Case("reshape-varying", lambda: ReshapeLayer((Inherited, 2, 3), Input=("Varying", 6)),
         sequences(1, 4, 2, 4, width=6)),
    # FlattenLayer's groups of levels (a run in the middle; a transpose) and Span (levels counted from the last).
    Case("flatten-groups", lambda: FlattenLayer([[1], [2, 3]], Input=(2, 3, 2, 2)), batch(2, 3, 2, 2)),
    Case("flatten-groups-transpose", lambda: FlattenLayer([[2, 3]], Input=(2, 3, 2)), batch(2, 3, 2),
         unlike=lambda: FlattenLayer([[3, 2]], Input=(2, 3, 2))),
    Case("flatten-span", lambda: FlattenLayer(Span(2, -2), Input=(2, 3, 2, 2)), batch(2, 3, 2, 2)),
    # NetChain.
    Case("chain-mlp", initialized(mlp), batch(2, n=3)),
    Case("chain-named", initialized(lambda: NetChain(
        {"lin": LinearLayer(3), "act": ParametricRampLayer(), "out": LinearLayer([])}, Input=2)), batch(2)),
    Case("chain-frozen", initialized(lambda: frozen_chain(LearningRateMultipliers=0)), batch(2),
         unlike=initialized(frozen_chain)),
    Case("chain-boolean-decoder", initialized(boolean_chain), [-1.5, 0.5, 2.0],
         unlike=initialized(lambda: NetReplacePart(boolean_chain(), "Output", "Real"))),
    Case("chain-boolean-encoder", initialized(lambda: NetChain([LinearLayer(2), Tanh], Input=NetEncoder("Boolean"))),
         [True, False, True]),
    Case("chain-dotted-name", initialized(lambda: NetChain(
        {"block.1": LinearLayer(3), "act": ParametricRampLayer()}, Input=2)), batch(2)),
    Case("chain-reserved-names", initialized(lambda: NetChain(
        {"forward": LinearLayer(3), "50%": ParametricRampLayer([])}, Input=2)), batch(2)),
    Case("chain-varying", initialized(lambda: NetChain([Tanh, ParametricRampLayer(2)], Input=("Varying", 3))),
         sequences(2, 3, 2)),
    Case("chain-flatten-linear", initialized(lambda: NetChain([FlattenLayer(), LinearLayer(2)], Input=(2, 3))),
         batch(2, 3)),
    Case("chain-flatten-varying", initialized(lambda: NetChain(
        [FlattenLayer(-1), ParametricRampLayer(2), Tanh], Input=("Varying", 2, 3))),
        lambda: [x.reshape(len(x), 2, 3) for x in sequences(2, 3, 2, width=6)()]),
    Case("chain-of-graph", initialized(lambda: NetChain(
        [NetGraph({"a": LinearLayer(3), "b": Tanh}, [("a", "b")]), ParametricRampLayer(), LinearLayer(2)],
        Input=2)), batch(2)),
    # NetGraph.
    Case("graph-branches", initialized(branches), batch(2, n=3)),
    Case("graph-line", initialized(exp_then_tanh), batch(3), unlike=initialized(lambda: exp_then_tanh("tanh"))),
    Case("graph-two-inputs", initialized(two_inputs),
         lambda: {"x": batch(3, seed=1)(), "y": batch(2, seed=2)()}),
    Case("graph-boolean-decoder", initialized(lambda: NetGraph(NetReplacePart(page_chain(), "Input", "Real"))),
         [-1.5, 0.5, 2.0]),
    Case("graph-of-chain", initialized(lambda: NetGraph(
        {"pre": NetChain([LinearLayer(3), ParametricRampLayer()]), "out": LinearLayer(2)},
        [("pre", "out")], Input=2)), batch(2)),
    Case("graph-of-graph", initialized(lambda: NetGraph(
        {"inner": branches(), "sum": LinearLayer(1)},
        [(NetPort("inner", "Output1"), NetPort("sum", "Input")), (NetPort("inner", "Output2"), NetPort("z"))])),
        batch(2)),
    # BatchNormalizationLayer (issue 20): moving statistics away from NetInitialize's 0s and 1s, so that
    # evaluation uses them; a vector, {c, h, w}, {c, L}, channels last, sequences, frozen, in a chain.
    Case("bn-vector", batch_normalization(3), batch(3, n=3)),
    Case("bn-image", batch_normalization(3, dims=(3, 4, 5)), batch(3, 4, 5)),
    Case("bn-sequence", batch_normalization(2, dims=(2, 5)), batch(2, 5),
         unlike=batch_normalization(2, dims=(2, 5), Epsilon=1e-5)),
    Case("bn-interleaving", batch_normalization(3, dims=(4, 5, 3), Interleaving=True), batch(4, 5, 3),
         unlike=batch_normalization(3, dims=(4, 5, 3), Interleaving=True, Momentum=0.99)),
    Case("bn-varying", batch_normalization(3, dims=("Varying", 3), Interleaving=True), sequences(1, 4, 2, 4)),
    Case("bn-frozen", batch_normalization(2, dims=(2, 3), LearningRateMultipliers=0), batch(2, 3),
         unlike=batch_normalization(2, dims=(2, 3))),
    Case("bn-chain", initialized(lambda: NetChain([LinearLayer(4), BatchNormalizationLayer(), ParametricRampLayer()],
                                                  Input=3)), batch(3, n=3)),
    # ConvolutionLayer (issue 20): 1-, 2- and 3-d kernels, stride with padding and dilation, asymmetric and
    # "Same" padding, groups, no biases, channels last (also on sequences), frozen, and a small PReLU CNN.
    # (Weights of at most 16 elements, so that repr prints them.)
    Case("conv-1d", initialized(lambda: ConvolutionLayer(3, 2, Input=(2, 5))), batch(2, 5)),
    Case("conv-2d", initialized(lambda: ConvolutionLayer(2, 2, Input=(2, 4, 4))), batch(2, 4, 4),
         unlike=initialized(lambda: ConvolutionLayer(2, 2, Stride=2, Input=(2, 4, 4)))),
    Case("conv-3d", initialized(lambda: ConvolutionLayer(1, (2, 2, 2), Input=(2, 3, 3, 3))), batch(2, 3, 3, 3)),
    Case("conv-stride-padding-dilation", initialized(lambda: ConvolutionLayer(
        1, (3, 2), Stride=(2, 1), PaddingSize=(2, 1), Dilation=(2, 1), Input=(2, 7, 5))), batch(2, 7, 5),
        unlike=initialized(lambda: ConvolutionLayer(1, (3, 2), Stride=(2, 1), PaddingSize=(2, 1), Input=(2, 7, 5)))),
    Case("conv-asymmetric-padding", initialized(lambda: ConvolutionLayer(
        2, 2, PaddingSize=((1, 2), (2, 1)), Input=(2, 3, 4))), batch(2, 3, 4),
        unlike=initialized(lambda: ConvolutionLayer(2, 2, PaddingSize=((2, 1), (1, 2)), Input=(2, 3, 4)))),
    Case("conv-same", initialized(lambda: ConvolutionLayer(1, 3, Stride=2, PaddingSize="Same", Input=(1, 6, 5))),
         batch(1, 6, 5)),
    Case("conv-groups", initialized(lambda: ConvolutionLayer(4, (2, 1), ChannelGroups=2, Input=(4, 3, 3))),
         batch(4, 3, 3), unlike=initialized(lambda: ConvolutionLayer(4, (2, 1), ChannelGroups=4, Input=(4, 3, 3)))),
    Case("conv-no-biases", initialized(lambda: ConvolutionLayer(2, 2, Biases=None, Input=(2, 3, 3))), batch(2, 3, 3)),
    Case("conv-interleaving", initialized(lambda: ConvolutionLayer(2, 2, Interleaving=True, Input=(4, 3, 2))),
         batch(4, 3, 2), unlike=initialized(lambda: ConvolutionLayer(2, 2, Input=(4, 3, 2)))),
    Case("conv-varying", initialized(lambda: ConvolutionLayer(
        2, 2, PaddingSize="Same", Interleaving=True, Input=("Varying", 3))), sequences(1, 4, 3, 4)),
    Case("conv-frozen", initialized(lambda: ConvolutionLayer(2, 2, LearningRateMultipliers=0, Input=(2, 3, 3))),
         batch(2, 3, 3), unlike=initialized(lambda: ConvolutionLayer(2, 2, Input=(2, 3, 3)))),
    Case("conv-chain", initialized(lambda: NetChain(
        [ConvolutionLayer(4, 3, PaddingSize=1), ParametricRampLayer(), FlattenLayer(), LinearLayer(3)],
        Input=(2, 6, 6))), batch(2, 6, 6)),
    # AggregationLayer (issue 20): no arrays; the default (global pooling of (c, h, w)), a level, a negative level,
    # a list, a span, All (a real number out), over a sequence.
    Case("aggregation-mean", lambda: AggregationLayer("Mean", Input=(3, 4, 5)), batch(3, 4, 5),
         unlike=lambda: AggregationLayer("Max", Input=(3, 4, 5))),
    Case("aggregation-max-level-1", lambda: AggregationLayer("Max", 1, Input=(3, 4)), batch(3, 4),
         unlike=lambda: AggregationLayer("Max", -1, Input=(3, 4))),
    Case("aggregation-min-last", lambda: AggregationLayer("Min", -1, Input=(2, 3, 4)), batch(2, 3, 4)),
    Case("aggregation-total-list", lambda: AggregationLayer("Total", [1, 3], Input=(2, 3, 4)), batch(2, 3, 4)),
    Case("aggregation-times-span", lambda: AggregationLayer("Times", Span(1, 2), Input=(2, 3, 2)), batch(2, 3, 2)),
    Case("aggregation-all", lambda: AggregationLayer("Mean", All, Input=(2, 3)), batch(2, 3)),
    Case("aggregation-varying", lambda: AggregationLayer("Mean", 1, Input=("Varying", 3)), sequences(1, 4, 2, 4)),
    # PoolingLayer (issue 20): no arrays; Max, Mean and Total, 1-, 2- and 3-d, stride, symmetric padding (over half
    # the kernel too), asymmetric and "Same" padding, channels last (also on sequences), and a PReLU CNN's tail.
    Case("pooling-max-2d", lambda: PoolingLayer(2, 2, Input=(2, 4, 5)), batch(2, 4, 5),
         unlike=lambda: PoolingLayer(2, Input=(2, 4, 5))),
    Case("pooling-mean-1d-padding", lambda: PoolingLayer(3, 2, Function="Mean", PaddingSize=1, Input=(2, 7)),
         batch(2, 7), unlike=lambda: PoolingLayer(3, 2, Function="Total", PaddingSize=1, Input=(2, 7))),
    Case("pooling-total-3d", lambda: PoolingLayer((2, 2, 1), Function="Total", Input=(2, 3, 3, 2)), batch(2, 3, 3, 2)),
    Case("pooling-max-wide-padding", lambda: PoolingLayer(3, PaddingSize=(2, 1), Input=(1, 4, 4)), batch(1, 4, 4)),
    Case("pooling-max-asymmetric", lambda: PoolingLayer(2, PaddingSize=((1, 0), (0, 1)), Input=(2, 3, 3)),
         batch(2, 3, 3), unlike=lambda: PoolingLayer(2, PaddingSize=((0, 1), (1, 0)), Input=(2, 3, 3))),
    Case("pooling-mean-same", lambda: PoolingLayer(3, 2, Function="Mean", PaddingSize="Same", Input=(2, 6, 5)),
         batch(2, 6, 5)),
    Case("pooling-interleaving", lambda: PoolingLayer((2, 2), Function="Mean", Interleaving=True, Input=(4, 3, 2)),
         batch(4, 3, 2), unlike=lambda: PoolingLayer((2, 2), Function="Mean", Input=(4, 3, 2))),
    Case("pooling-varying", lambda: PoolingLayer(3, PaddingSize=1, Interleaving=True, Input=("Varying", 3)),
         sequences(2, 4, 3, 4)),
    Case("pooling-chain", initialized(lambda: NetChain(
        [ParametricRampLayer(), PoolingLayer(2, 2), AggregationLayer("Mean")], Input=(3, 4, 4))), batch(3, 4, 4)),
    # Class coders (issue 20): a classifier whose Class decoder gives labels; a one-hot Class encoder (labels of
    # every kind: strings, integers, booleans) feeding a LinearLayer, as an embedding of the classes.
    Case("chain-class-decoder", initialized(lambda: classifier(["cat", "dog", "fox"])), batch(2, n=3),
         unlike=initialized(lambda: classifier(["cat", "dog", 3]))),
    Case("chain-class-encoder", initialized(lambda: NetChain(
        [LinearLayer(2), Tanh], Input=NetEncoder(["Class", ["x", 2, False], "IndicatorVector"]))), ["x", False, 2, "x"],
         unlike=initialized(lambda: NetChain(
             [LinearLayer(2), Tanh], Input=NetEncoder(["Class", ["x", 2, True], "IndicatorVector"])))),
    # TotalLayer and CatenateLayer (issue 20): several input ports, alone (data a dict by port) and in graphs: a
    # residual block (the ramp's output plus the block's input), and two branches catenated.
    Case("total-two-ports", lambda: TotalLayer(InputPorts=[(2, 3), (2, 3)]), ports_data((2, 3), (2, 3)),
         unlike=lambda: TotalLayer(InputPorts=[(2, 3), (2, 3), (2, 3)])),
    Case("total-named-three", lambda: TotalLayer(InputPorts={"a": 3, "b": 3, "c": 3}),
         ports_data(3, 3, 3, names=("a", "b", "c"))),
    Case("catenate-level-1", lambda: CatenateLayer(InputPorts=[(2, 3), (4, 3)]), ports_data((2, 3), (4, 3)),
         unlike=lambda: CatenateLayer(InputPorts=[(4, 3), (2, 3)])),
    Case("catenate-level-2", lambda: CatenateLayer(2, InputPorts=[(2, 3), (2, 4)]), ports_data((2, 3), (2, 4))),
    Case("catenate-level--1", lambda: CatenateLayer(-1, InputPorts=[(2, 3, 1), (2, 3, 2), (2, 3, 1)]),
         ports_data((2, 3, 1), (2, 3, 2), (2, 3, 1))),
    Case("graph-residual", initialized(residual), batch(3), unlike=initialized(lambda: residual(swapped=True))),
    Case("graph-catenate-branches", initialized(lambda: NetGraph(
        {"a": LinearLayer(3), "b": ParametricRampLayer(), "cat": CatenateLayer(), "out": LinearLayer(2)},
        [(NetPort("Input"), "a"), (NetPort("Input"), "b"), (("a", "b"), "cat", "out")], Input=2)), batch(2)),
]
