"""``python -m wlnet tour``: the ParametricRampLayer page's examples, run one by one.

Each step shows the Wolfram Language input, the same in wlnet, and the result. Training steps set
MaxTrainingRounds (the Wolfram page leaves it Automatic, a time budget) and RandomSeeding (the
order of the examples), so that the tour prints the same on every run and every machine.

Results are shown as the Wolfram Language shows them: a float32 number by its shortest form
(``0.1``, not ``0.10000000149011612``, the float64 value of the float32 nearest 0.1), in lists too.
Run in a notebook (an IPython kernel), the tour also shows the trained Boolean net rendered.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlnet.train.callbacks import in_kernel


@dataclass(frozen=True)
class Example:
    """One step of the tour."""

    caption: str
    wolfram: str  # the Wolfram Language input
    python: str  # wlnet statements; the last line's value is shown
    note: str = ""  # what the result means, printed after it
    display: str = ""  # a name whose value a notebook shows rendered (IPython.display.display)
    needs: str = ""  # a module the example needs (scikit-learn's digits: pip install "wlnet[tour]")


EXAMPLES = [
    Example("Create a ParametricRampLayer",
            "ParametricRampLayer[]",
            "ParametricRampLayer()"),
    Example("Create a ParametricRampLayer with a specified slope",
            'prelu = ParametricRampLayer[{}, "Slope" -> 0.25]',
            "prelu = ParametricRampLayer([], Slope=0.25)\nprelu"),
    Example("Apply the layer to an input (one 2x3 example: the dims are inferred just in time)",
            "prelu[{{10, 10, 10}, {-10, -10, -10}}]",
            "prelu([[10, 10, 10], [-10, -10, -10]])"),
    Example("Initialize a layer that takes a vector of length 3, with a slope per dimension",
            'act = NetInitialize@ParametricRampLayer["Input" -> 3]',
            "act = NetInitialize(ParametricRampLayer(Input=3))\nact"),
    Example("Its slope",
            'Normal@NetExtract[act, "Slope"]',
            'Normal(NetExtract(act, "Slope"))'),
    Example("Apply the layer to a batch of two vectors",
            "act[{{-3, -2, -1}, {0, 1, 2}}]",
            "act([[-3, -2, -1], [0, 1, 2]])"),
    Example("Learn the slopes on some data (mean squared loss; act itself is unchanged)",
            "trained = NetTrain[act, RandomReal[{-1, 1}, {10, 3}] -> RandomReal[{-1, 1}, {10, 3}]]",
            "rng = np.random.default_rng(1234)\n"
            "trained = NetTrain(act, (rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, (10, 3))),\n"
            "                   MaxTrainingRounds=1000, RandomSeeding=1)\n"
            "trained"),
    Example("The learned slopes",
            'Normal@NetExtract[trained, "Slope"]',
            'Normal(NetExtract(trained, "Slope"))'),
    Example("A length-3 vector with one slope shared by every element",
            'Normal@NetExtract[NetInitialize@ParametricRampLayer[{}, "Input" -> 3], "Slope"]',
            'Normal(NetExtract(NetInitialize(ParametricRampLayer([], Input=3)), "Slope"))'),
    Example("A sequence of length-3 vectors: the slope is on level 2",
            'act = NetInitialize@ParametricRampLayer[2, "Input" -> {"Varying", 3}]',
            'act = NetInitialize(ParametricRampLayer(2, Input=("Varying", 3)))\nNormal(NetExtract(act, "Slope"))'),
    Example("Sequences of different lengths in one batch",
            "act[{{{-1, 1, -1}}, {{1, 2, 3}, {-4, -5, -6}}}]",
            "act([[[-1, 1, -1]], [[1, 2, 3], [-4, -5, -6]]])"),
    Example("A leaky ReLU with a fixed slope of 0.1",
            'leakyRelu = ParametricRampLayer[{}, "Slope" -> 0.1, LearningRateMultipliers -> 0, "Input" -> 3]',
            "leakyRelu = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)\n"
            'Information(leakyRelu, "ArraysLearningRateMultipliers")'),
    Example("Train a network with this nonlinearity (binary cross-entropy is attached automatically)",
            "trained = NetTrain[NetChain[{LinearLayer[3], leakyRelu, LinearLayer[{}], LogisticSigmoid}, "
            '"Output" -> NetDecoder["Boolean"]], {1 -> False, 2 -> True, 3 -> False, 4 -> True}]',
            "trained = NetTrain(NetChain([LinearLayer(3), leakyRelu, LinearLayer([]), LogisticSigmoid], "
            'Output=NetDecoder("Boolean")),\n'
            "                   {1: False, 2: True, 3: False, 4: True}, MaxTrainingRounds=2000, RandomSeeding=1)\n"
            "[trained(x) for x in (1, 2, 3, 4)]",
            note="Each answer is the Boolean decoder's reading of the net's output p, the probability the net "
                 "gives that x is labelled True (as 2 and 4 are in the training data): True when p >= 0.5, "
                 "False below. The labels alternate with x (1 and 3 False, 2 and 4 True), which a net this "
                 "small fits only partly in 2000 rounds: compare each answer with its label.",
            display="trained"),
    Example("The probabilities behind those answers",
            'trained[{1, 2, 3, 4}, "Probability"]',
            'trained([1, 2, 3, 4], "Probability")',
            note="These are the net's raw outputs: trained([1, 2, 3, 4], None) gives the same float32 numbers."),
    Example("The leaky ReLU still has the same slope value after training",
            "NetExtract[trained, {2, \"Slope\"}]",
            'NetExtract(trained, [2, "Slope"])'),
    Example("A layer already initialized with given slopes",
            'prelu = ParametricRampLayer["Slope" -> {0.1, 0.2, 0.3}, LearningRateMultipliers -> 0, "Input" -> 3]',
            "prelu = ParametricRampLayer(Slope=[0.1, 0.2, 0.3], LearningRateMultipliers=0, Input=3)\n"
            "prelu([[-1, -1, -1], [1, 1, 1]])"),
    Example("A unique fixed slope",
            'ParametricRampLayer[{}, "Slope" -> 0.1][{{-1, -1, -1}, {1, 1, 1}}]',
            "ParametricRampLayer([], Slope=0.1)([[-1, -1, -1], [1, 1, 1]])"),
    Example("The levels of the page, on an input of dims (2, 3, 4): slope dims",
            "ParametricRampLayer[levels, \"Input\" -> {2, 3, 4}]",
            "{str(levels): NetExtract(NetInitialize(ParametricRampLayer(levels, Input=(2, 3, 4))), 'Slope').shape\n"
            " for levels in (2, Span(1, 2), [1, 3], [], Automatic)}"),
    Example("A report on a layer",
            "Information[NetInitialize@ParametricRampLayer[\"Input\" -> {2, 3, 4}]]",
            "Information(NetInitialize(ParametricRampLayer(Input=(2, 3, 4))))"),
    Example("The layer as a plain torch module",
            "(no Wolfram counterpart)",
            "NetInitialize(ParametricRampLayer(Input=(64, 8, 8))).to_torch()"),
    Example("Save the trained Boolean net (one safetensors file, no code in it) and load it back",
            'Export["boolean-net.wlnet", trained]; Import["boolean-net.wlnet"] === trained',
            'path = Export(os.path.join(tempfile.mkdtemp(), "boolean-net.safetensors"), trained)\n'
            "loaded = Import(path)\n"
            "loaded == trained, [loaded(x) for x in (1, 2, 3, 4)]"),
    Example("An image net: ParametricRampLayer's default level 1 is the channel dimension of {c, h, w}, "
            "so each of the 16 channels learns its own slope (PyTorch's nn.PReLU(16))",
            'net = NetChain[{ConvolutionLayer[16, 3, PaddingSize -> 1], BatchNormalizationLayer[], '
            "ParametricRampLayer[], PoolingLayer[2, 2], ConvolutionLayer[32, 3, PaddingSize -> 1], "
            "BatchNormalizationLayer[], ParametricRampLayer[], PoolingLayer[2, 2], FlattenLayer[], LinearLayer[10], "
            'SoftmaxLayer[]}, "Input" -> {1, 8, 8}, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]',
            "cnn = NetChain([ConvolutionLayer(16, 3, PaddingSize=1), BatchNormalizationLayer(),\n"
            "                ParametricRampLayer(), PoolingLayer(2, 2),\n"
            "                ConvolutionLayer(32, 3, PaddingSize=1), BatchNormalizationLayer(),\n"
            "                ParametricRampLayer(), PoolingLayer(2, 2),\n"
            "                FlattenLayer(), LinearLayer(10), SoftmaxLayer()],\n"
            '               Input=(1, 8, 8), Output=NetDecoder(["Class", list(range(10))]))\n'
            'NetExtract(NetInitialize(cnn), [3, "Slope"]).shape',
            needs="sklearn"),
    Example("Train it on 1347 of scikit-learn's bundled 8x8 handwritten digits (CrossEntropyLossLayer[\"Index\"] is "
            "attached after the SoftmaxLayer, the labels are encoded by the Class decoder's dual encoder), and "
            "measure it on the 450 it has not seen",
            "results = NetTrain[net, trainingDigits, All, MaxTrainingRounds -> 8]; "
            "trained = results[\"TrainedNet\"]; Mean@Boole@Thread[trained[testImages] == testLabels]",
            "digits = importlib.import_module('sklearn.datasets').load_digits()\n"
            "order = np.random.default_rng(0).permutation(len(digits.target))\n"
            "images, labels = (digits.images[order] / 16)[:, None], digits.target[order].tolist()\n"
            "results = NetTrain(cnn, (images[:1347], labels[:1347]), All, MaxTrainingRounds=8, RandomSeeding=1,\n"
            "                   TrainingProgressReporting=None)\n"
            "reader = results[\"TrainedNet\"]\n"
            "float(np.mean([p == t for p, t in zip(reader(images[1347:]), labels[1347:])]))",
            note="The share of held-out digits classified right; in a notebook the results panel shows the loss plot.",
            display="results", needs="sklearn"),
    Example("The trained net reads images as labels; its probabilities for one",
            'trained[testImages[[;; 8]]]; trained[testImages[[1]], "TopProbabilities"]',
            "reader(images[1347:1355]), labels[1347:1355], reader(images[1347], (\"TopProbabilities\", 2))",
            display="reader", needs="sklearn"),
]


def run(out: Callable[[str], Any] = print) -> None:
    """Run every example, printing its inputs and result (and, in a notebook, showing the nets an
    example names rendered)."""
    import wlnet

    display = _notebook_display()
    namespace = {name: getattr(wlnet, name) for name in wlnet.__all__}
    namespace.update(np=np, os=os, tempfile=tempfile, importlib=importlib)
    with np.printoptions(floatmode="unique", suppress=True):  # each float32 by its shortest form
        for number, example in enumerate(EXAMPLES, 1):
            out(f"\n[{number}] {example.caption}")
            out(f"  Wolfram: {example.wolfram}")
            if example.needs and importlib.util.find_spec(example.needs) is None:
                out(f"  skipped: it needs {example.needs}: pip install scikit-learn (or wlnet[tour])")
                continue
            lines = example.python.split("\n")
            for line in lines:
                out(f"  wlnet  : {line}")
            *statements, last = _split_last(lines)
            exec("\n".join(statements), namespace)  # noqa: S102 - the tour's own fixed code
            value = eval(last, namespace)  # noqa: S307
            out("  result : " + show(value).replace("\n", "\n           "))
            if example.note:
                out("  meaning: " + example.note)
            if example.display and display is not None:
                display(namespace[example.display])


def show(value: Any) -> str:
    """``value`` as the tour prints it: floats as their float32's shortest form (``0.1``), in
    lists, tuples and dicts too; arrays as NumPy prints them; nets by their repr."""
    from .layers.base import Layer

    if isinstance(value, Layer):
        return repr(value)
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return str(value)
    if isinstance(value, (list, tuple, dict)):
        return _inner(value)
    return _number(value) if isinstance(value, (float, np.floating, np.ndarray)) else str(value)


def _inner(value: Any) -> str:
    """A value inside a list, tuple or dict: strings quoted, arrays as nested lists of numbers."""
    if isinstance(value, np.ndarray):
        return _inner(list(value)) if value.ndim > 0 else _number(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inner(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_inner(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_inner(k)}: {_inner(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (float, np.floating)):
        return _number(value)
    return repr(value) if isinstance(value, str) else show(value)


def _number(value: Any) -> str:
    """A real number by its shortest form; a float that holds a float32 exactly (as Normal gives
    them) by the float32's: ``0.10000000149011612`` is ``0.1``."""
    if isinstance(value, np.ndarray):
        value = value[()]
    if isinstance(value, (np.floating, np.bool_)):
        return str(value)
    single = np.float32(value)
    return str(single) if float(single) == value else repr(value)


def _notebook_display() -> Callable[[Any], Any] | None:
    """IPython's ``display`` when the tour runs in a notebook (an IPython kernel), else None. A
    kernel has IPython already; outside one it is never imported (it need not be installed)."""
    if not in_kernel():
        return None
    display: Callable[[Any], Any] = importlib.import_module("IPython.display").display
    return display


def _split_last(lines: list[str]) -> list[str]:
    """Statements and the final expression (which may span several lines of one expression)."""
    for start in range(len(lines)):
        candidate = "\n".join(lines[start:])
        try:
            compile(candidate, "<tour>", "eval")
        except SyntaxError:
            continue
        return [*lines[:start], candidate]
    raise ValueError("the tour example has no final expression")
