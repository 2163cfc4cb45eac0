"""``python -m wlnet tour``: the ParametricRampLayer page's examples, run one by one.

Each step shows the Wolfram Language input, the same in wlnet, and the result. Training steps set
MaxTrainingRounds (the Wolfram page leaves it Automatic, a time budget) and RandomSeeding (the
order of the examples), so that the tour prints the same on every run and every machine.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

# (caption, Wolfram Language input, wlnet statements; the last line's value is shown)
EXAMPLES = [
    ("Create a ParametricRampLayer",
     "ParametricRampLayer[]",
     "ParametricRampLayer()"),
    ("Create a ParametricRampLayer with a specified slope",
     'prelu = ParametricRampLayer[{}, "Slope" -> 0.25]',
     "prelu = ParametricRampLayer([], Slope=0.25)\nprelu"),
    ("Apply the layer to an input (one 2x3 example: the dims are inferred just in time)",
     "prelu[{{10, 10, 10}, {-10, -10, -10}}]",
     "prelu([[10, 10, 10], [-10, -10, -10]])"),
    ("Initialize a layer that takes a vector of length 3, with a slope per dimension",
     'act = NetInitialize@ParametricRampLayer["Input" -> 3]',
     "act = NetInitialize(ParametricRampLayer(Input=3))\nact"),
    ("Its slope",
     'Normal@NetExtract[act, "Slope"]',
     'Normal(NetExtract(act, "Slope"))'),
    ("Apply the layer to a batch of two vectors",
     "act[{{-3, -2, -1}, {0, 1, 2}}]",
     "act([[-3, -2, -1], [0, 1, 2]])"),
    ("Learn the slopes on some data (mean squared loss; act itself is unchanged)",
     "trained = NetTrain[act, RandomReal[{-1, 1}, {10, 3}] -> RandomReal[{-1, 1}, {10, 3}]]",
     "rng = np.random.default_rng(1234)\n"
     "trained = NetTrain(act, (rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, (10, 3))), MaxTrainingRounds=1000,\n"
     "                   RandomSeeding=1)\n"
     "trained"),
    ("The learned slopes",
     'Normal@NetExtract[trained, "Slope"]',
     'Normal(NetExtract(trained, "Slope"))'),
    ("A length-3 vector with one slope shared by every element",
     'Normal@NetExtract[NetInitialize@ParametricRampLayer[{}, "Input" -> 3], "Slope"]',
     'Normal(NetExtract(NetInitialize(ParametricRampLayer([], Input=3)), "Slope"))'),
    ("A sequence of length-3 vectors: the slope is on level 2",
     'act = NetInitialize@ParametricRampLayer[2, "Input" -> {"Varying", 3}]',
     'act = NetInitialize(ParametricRampLayer(2, Input=("Varying", 3)))\nNormal(NetExtract(act, "Slope"))'),
    ("Sequences of different lengths in one batch",
     "act[{{{-1, 1, -1}}, {{1, 2, 3}, {-4, -5, -6}}}]",
     "act([[[-1, 1, -1]], [[1, 2, 3], [-4, -5, -6]]])"),
    ("A leaky ReLU with a fixed slope of 0.1",
     'leakyRelu = ParametricRampLayer[{}, "Slope" -> 0.1, LearningRateMultipliers -> 0, "Input" -> 3]',
     "leakyRelu = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)\n"
     'Information(leakyRelu, "ArraysLearningRateMultipliers")'),
    ("Train a network with this nonlinearity (binary cross-entropy is attached automatically)",
     "trained = NetTrain[NetChain[{LinearLayer[3], leakyRelu, LinearLayer[{}], LogisticSigmoid}, "
     '"Output" -> NetDecoder["Boolean"]], {1 -> False, 2 -> True, 3 -> False, 4 -> True}]',
     "trained = NetTrain(NetChain([LinearLayer(3), leakyRelu, LinearLayer([]), LogisticSigmoid], "
     'Output=NetDecoder("Boolean")),\n'
     "                   {1: False, 2: True, 3: False, 4: True}, MaxTrainingRounds=2000, RandomSeeding=1)\n"
     "[trained(x) for x in (1, 2, 3, 4)]"),
    ("The leaky ReLU still has the same slope value after training",
     "NetExtract[trained, {2, \"Slope\"}]",
     'NetExtract(trained, [2, "Slope"])'),
    ("A layer already initialized with given slopes",
     'prelu = ParametricRampLayer["Slope" -> {0.1, 0.2, 0.3}, LearningRateMultipliers -> 0, "Input" -> 3]',
     "prelu = ParametricRampLayer(Slope=[0.1, 0.2, 0.3], LearningRateMultipliers=0, Input=3)\n"
     "prelu([[-1, -1, -1], [1, 1, 1]])"),
    ("A unique fixed slope",
     'ParametricRampLayer[{}, "Slope" -> 0.1][{{-1, -1, -1}, {1, 1, 1}}]',
     "ParametricRampLayer([], Slope=0.1)([[-1, -1, -1], [1, 1, 1]])"),
    ("The levels of the page, on an input of dims (2, 3, 4): slope dims",
     "ParametricRampLayer[levels, \"Input\" -> {2, 3, 4}]",
     "{str(levels): NetExtract(NetInitialize(ParametricRampLayer(levels, Input=(2, 3, 4))), 'Slope').shape\n"
     " for levels in (2, Span(1, 2), [1, 3], [], Automatic)}"),
    ("A report on a layer",
     "Information[NetInitialize@ParametricRampLayer[\"Input\" -> {2, 3, 4}]]",
     "Information(NetInitialize(ParametricRampLayer(Input=(2, 3, 4))))"),
    ("The layer as a plain torch module",
     "(no Wolfram counterpart)",
     "NetInitialize(ParametricRampLayer(Input=(64, 8, 8))).to_torch()"),
    ("Save the trained Boolean net (one safetensors file, no code in it) and load it back",
     'Export["boolean-net.wlnet", trained]; Import["boolean-net.wlnet"] === trained',
     'path = Export(os.path.join(tempfile.mkdtemp(), "boolean-net.safetensors"), trained)\n'
     "loaded = Import(path)\n"
     "loaded == trained, [loaded(x) for x in (1, 2, 3, 4)]"),
]


def run(out=print) -> None:
    """Run every example, printing its inputs and result."""
    import wlnet

    namespace = {name: getattr(wlnet, name) for name in wlnet.__all__}
    namespace.update(np=np, os=os, tempfile=tempfile)
    with np.printoptions(precision=6, suppress=True):
        for number, (caption, wolfram, python) in enumerate(EXAMPLES, 1):
            out(f"\n[{number}] {caption}")
            out(f"  Wolfram: {wolfram}")
            lines = python.split("\n")
            for line in lines:
                out(f"  wlnet  : {line}")
            *statements, last = _split_last(lines)
            exec("\n".join(statements), namespace)  # noqa: S102 - the tour's own fixed code
            value = eval(last, namespace)  # noqa: S307
            text = str(value) if not isinstance(value, wlnet.ParametricRampLayer) else repr(value)
            out("  result : " + text.replace("\n", "\n           "))


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
