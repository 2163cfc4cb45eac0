"""NetTrain: train a net on data, with Wolfram's options, defaults and results.

The loop is plain PyTorch over the net's one lowering (``net.to_torch()``): shuffle, cut into
full batches (the last one padded with randomly repeated examples, as Wolfram does), forward,
loss, backward, one optimizer step per batch. Losses stay on the device until the end of each
round, so a batch costs what a hand-written loop costs.
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
import sys
import time
import warnings

import numpy as np
import torch

from .coders import NetDecoder
from .errors import (
    NetDataError,
    NetOptionError,
    NetShapeError,
    NetSpecificationError,
    NetTrainWarning,
    check_options,
    closest,
)
from .evaluate import as_data as _as_data, specialized as _specialized
from .lower import array_slots, path_key, with_arrays
from .options import target_device
from .functions import LogisticSigmoid
from .initialize import NetInitialize, parse_seeding
from .layers.base import Layer
from .layers.elementwise import ElementwiseLayer
from .layers.loss import CrossEntropyLossLayer, LossLayer, MeanSquaredLossLayer
from .optimizers import Optimizer, parse_method
from .symbols import All, Automatic, Inherited, Scaled, Span
from .types import VARYING, TensorT, describe, unify

__all__ = ["NetTrain", "NetTrainResults"]

_OPTIONS = (
    "BatchSize",
    "MaxTrainingRounds",
    "Method",
    "LearningRate",
    "LearningRateMultipliers",
    "LossFunction",
    "ValidationSet",
    "TimeGoal",
    "TrainingStoppingCriterion",
    "RandomSeeding",
    "WorkingPrecision",
    "TargetDevice",
    "TrainingProgressReporting",
    "TrainingProgressFunction",
    "TrainingProgressCheckpointing",
)
_PRECISIONS = {"Real32": torch.float32, "Real64": torch.float64}
PROPERTIES = (
    "TrainedNet",
    "FinalNet",
    "BatchLossList",
    "RoundLossList",
    "ValidationLossList",
    "RoundLoss",
    "ValidationLoss",
    "LossEvolutionPlot",
    "TotalTrainingTime",
    "MeanExamplesPerSecond",
    "MeanBatchesPerSecond",
    "TotalRounds",
    "TotalBatches",
    "BatchSize",
    "BatchesPerRound",
    "ExamplesProcessed",
    "TrainingExamples",
    "ValidationExamples",
    "BestValidationRound",
    "ReasonTrainingStopped",
    "InitialLearningRate",
    "FinalLearningRate",
    "OptimizationMethod",
    "ArraysLearningRateMultipliers",
    "CheckpointingFiles",
    "TargetDevice",
    "Properties",
)
_ALIASES = {
    "LossPlot": "LossEvolutionPlot",
    "FinalRoundLoss": "RoundLoss",
    "FinalValidationLoss": "ValidationLoss",
    "MeanInputsPerSecond": "MeanExamplesPerSecond",
    "TotalInputs": "ExamplesProcessed",
}
_AUTOMATIC_SECONDS = 20.0  # Automatic MaxTrainingRounds: about this much training


def NetTrain(net, data, prop="TrainedNet", **options):
    """Train ``net`` on ``data`` and return the trained net or other properties of the run.

    Wolfram: ``NetTrain[net, data]``, ``NetTrain[net, data, prop]``, ``NetTrain[net, data, All]``.

    Args:
        net: a layer or container. It is not changed; missing arrays are initialized first
            (``RandomSeeding``), and unknown dims are inferred from the data.
        data: ``(inputs, targets)`` (the rule ``inputs -> targets``); a list of ``(input,
            target)`` pairs; a dict of non-string keys ``{input: target}``; a dict of port names
            to equal-length lists ``{"Input": X, "Output": Y}``; a list of such dicts; or a
            generator function called with ``{"BatchSize": b, "Round": r, "Batch": k,
            "AbsoluteBatch": a}`` that returns a batch in any of these forms.
        prop: ``"TrainedNet"`` (default), ``"FinalNet"``, ``All`` (a :class:`NetTrainResults`),
            another property name (see ``NetTrainResults.properties``) or a list of them.

    Options (Wolfram's, with their defaults):
        BatchSize: Automatic = min(64, number of examples).
        MaxTrainingRounds: Automatic = about 20 seconds of training, 10 to 10000 rounds.
        Method: "ADAM" (Beta1 0.9, Beta2 0.999, Epsilon 1e-5), "SGD" (Momentum 0.93,
            LearningRateSchedule "Polynomial"), "RMSProp", "SignSGD", or (name, {sub-options}),
            with the common sub-options "L2Regularization", "GradientClipping", "WeightClipping",
            "LearningRateSchedule" (each number may also be per-array rules). Following He et al.
            2015, an L2Regularization number leaves arrays named "Slope" alone; a rule that
            names them applies to them.
        LearningRate: Automatic = the method's default (ADAM 0.001, SGD 0.01, RMSProp 0.001,
            SignSGD 0.01).
        LearningRateMultipliers: a number, or rules ``[(part, value), ...]`` / ``{part: value}``
            where part is a layer position or name, ``Span(m, n)``, a path ``(2, "Slope")`` or
            ``All``; the first matching rule wins; arrays no rule matches keep the multiplier
            set on their layer (default 1). 0 or None freezes an array; negative values ascend.
        LossFunction: Automatic (binary cross-entropy after a LogisticSigmoid, mean squared
            otherwise), a loss layer (``MeanSquaredLossLayer()``, ``MeanAbsoluteLossLayer()``,
            ``CrossEntropyLossLayer("Binary")``), ``"Output"`` (the net's output is the loss),
            or a list of specs, each optionally paired with a weight: ``(spec, Scaled(0.5))``.
        ValidationSet: None, data in any form above, or ``Scaled(f)`` (hold out a fraction f).
        TimeGoal: seconds of training (positive); the shorter of it and MaxTrainingRounds wins.
        TrainingStoppingCriterion: None, "Loss" (or Automatic), a dict with "Criterion",
            "Patience", "InitialPatience", "Improvement" (``("AbsoluteChange", v)`` or
            ``("RelativeChange", v)``), or a function of the progress dict returning True to stop.
        RandomSeeding: Inherited (default: NumPy's global state), Automatic, an int or a str.
        WorkingPrecision: "Real32" (default) or "Real64".
        TargetDevice: "CPU" (default) or "GPU".
        TrainingProgressReporting: Automatic (a progress bar on a terminal or in a notebook,
            otherwise nothing), "ProgressIndicator" (always a bar), "Print", None, or a function
            called with the progress dict after each round.
        TrainingProgressFunction: a function called with the progress dict after each round;
            returning "StopTraining" stops training.
        TrainingProgressCheckpointing: a directory (a checkpoint file per round), or
            ``("Directory", path, {"Interval": k})`` / ``("File", path)``.

    Returns:
        The property asked for; the trained net by default.
    """
    check_options("NetTrain", options, _OPTIONS)
    props = _check_properties(prop)
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"NetTrain: the first argument should be a net (a layer or container), not {type(net).__name__}."
        )
    if prop == []:
        return []
    results = _Training(net, data, options).run()
    if isinstance(prop, list):
        return [results[p] for p in props]
    return results if prop is All else results[prop]


def _check_properties(prop):
    props = prop if isinstance(prop, list) else [prop]
    for p in props:
        if p is All and not isinstance(prop, list):
            continue
        if not isinstance(p, str) or (p not in PROPERTIES and p not in _ALIASES):
            raise NetSpecificationError(
                f"NetTrain: {p!r} is not a property of a training run."
                f"{closest(str(p), PROPERTIES) if isinstance(p, str) else ''} "
                f"The properties are: {', '.join(PROPERTIES)}, or All."
            )
    return props


# -- options ----------------------------------------------------------------------------------
def _positive_int(options, name, default=Automatic):
    value = options.get(name, default)
    if value is Automatic:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NetOptionError(
            f"NetTrain: the value of {name} should be Automatic or a positive integer, but was {value!r}."
        )
    return int(value)


def _positive_real(options, name):
    value = options.get(name, Automatic)
    if value is Automatic or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise NetOptionError(
            f"NetTrain: the value of {name} should be a positive number of seconds, but was {value!r}."
        )
    return float(value)


def _learning_rate(options, default):
    value = options.get("LearningRate", Automatic)
    if value is Automatic:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise NetOptionError(
            f"NetTrain: the value of LearningRate should be Automatic or a positive number, but was {value!r}."
        )
    return float(value)


# -- part rules (LearningRateMultipliers, L2Regularization, clipping) ---------------------------
def _rules(value, option: str):
    """``value`` as a list of (spec, value) rules, or None when it is a plain number / Automatic."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        for rule in value:
            if not (isinstance(rule, tuple) and len(rule) == 2):
                raise NetOptionError(
                    f"NetTrain: {option} should be a number or a list of (part, value) rules, but contains {rule!r}."
                )
        return value
    return None


def _matches(spec, position: tuple) -> bool:
    """Whether a part spec (key, name, Span, path or All) covers the array at ``position``."""
    if spec is All or spec == "_":
        return True
    steps = list(spec) if isinstance(spec, (tuple, list)) else [spec]
    if len(steps) > len(position):
        return False
    for step, key in zip(steps, position):
        if isinstance(step, Span):
            if not (isinstance(key, int) and step.start <= key <= (math.inf if step.stop is All else step.stop)):
                return False
        elif step is not All and step != key:
            return False
    return True


def _number(value, option: str, allow_none: bool):
    if value is None and allow_none:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise NetOptionError(
            f"NetTrain: the values of {option} should be numbers"
            f"{' or None' if allow_none else ''}, but one is {value!r}."
        )
    return float(value)


def _resolve(value, positions: list[tuple], option: str, default, allow_none=True):
    """One value per array position: the first matching rule, else ``default(position)``."""
    rules = _rules(value, option)
    if rules is None:
        if value is Automatic or (value is None and not allow_none):
            return [default(p) for p in positions]
        number = _number(value, option, allow_none)
        return [number for _ in positions]
    for spec, _ in rules:
        if not any(_matches(spec, p) for p in positions):
            raise NetOptionError(
                f"NetTrain: the {option} rule for {spec!r} matches no array of the net; the arrays "
                f"are at {', '.join(map(repr, positions))}."
            )
    resolved = []
    for p in positions:
        for spec, v in rules:
            if _matches(spec, p):
                resolved.append(_number(v, option, allow_none))
                break
        else:
            resolved.append(default(p))
    return resolved


# -- data -------------------------------------------------------------------------------------
def _pairs_to_ports(inputs, targets, in_port, out_port):
    return {in_port: inputs, out_port: targets}


def parse_data(data, in_port: str, out_port: str, what: str = "the training data") -> dict:
    """Training data in any of NetTrain's forms as {port: list or array of examples}."""
    if isinstance(data, tuple) and len(data) == 2:
        return _pairs_to_ports(data[0], data[1], in_port, out_port)
    if isinstance(data, dict):
        if data and all(isinstance(k, str) for k in data):
            return dict(data)
        return _pairs_to_ports(list(data.keys()), list(data.values()), in_port, out_port)
    if isinstance(data, list) and data:
        if all(isinstance(d, dict) for d in data):
            keys = list(data[0])
            return {k: [d[k] if k in d else _missing(k, i, what) for i, d in enumerate(data)] for k in keys}
        if all(isinstance(d, tuple) and len(d) == 2 for d in data):
            return _pairs_to_ports([d[0] for d in data], [d[1] for d in data], in_port, out_port)
    if isinstance(data, (list, tuple, dict)) and len(data) == 0:
        raise NetDataError(f"NetTrain: {what} is empty.")
    raise NetDataError(
        f"NetTrain: {what} should be (inputs, targets), a list of (input, target) pairs, a dict "
        f'{{input: target}}, a dict of ports {{"{in_port}": [...], "{out_port}": [...]}}, a list of '
        f"such dicts, or a generator function, but was {type(data).__name__}."
    )


def _missing(key, index, what):
    raise NetDataError(f'NetTrain: example {index + 1} of {what} has no value for port "{key}".')


class _Training:
    """One run of NetTrain: prepares net, data, loss and optimizer, then loops."""

    def __init__(self, net: Layer, data, options: dict):
        self.options = options
        self.batch_size = _positive_int(options, "BatchSize")
        self.max_rounds = _positive_int(options, "MaxTrainingRounds")
        self.time_goal = _positive_real(options, "TimeGoal")
        method, settings = parse_method(options.get("Method", "ADAM"))
        self.method, self.settings = method, settings
        self.base_lr = _learning_rate(options, settings["LearningRate"] or settings["DefaultLearningRate"])
        precision = options.get("WorkingPrecision", "Real32")
        if precision not in _PRECISIONS:
            raise NetOptionError(
                f'NetTrain: the value of WorkingPrecision should be "Real32" or "Real64", but was {precision!r}.'
            )
        self.dtype = _PRECISIONS[precision]
        self.device = target_device(options.get("TargetDevice", "CPU"), "NetTrain")
        seeding = options.get("RandomSeeding", Inherited)
        seed = parse_seeding(seeding, "NetTrain")
        if seed is Inherited:
            seed = int(np.random.randint(0, 2**31 - 1))
        self.seed = seed
        self.rng = np.random.default_rng(np.frombuffer(repr(seed).encode(), dtype=np.uint8))
        self.reporting = _parse_reporting(options.get("TrainingProgressReporting", Automatic))
        self.progress_function = options.get("TrainingProgressFunction")
        if self.progress_function is not None and not callable(self.progress_function):
            raise NetOptionError("NetTrain: TrainingProgressFunction should be None or a function.")
        self.checkpointing = _parse_checkpointing(options.get("TrainingProgressCheckpointing"))
        self.stopping = _parse_stopping(options.get("TrainingStoppingCriterion"))
        if self.stopping is not None and options.get("ValidationSet") is None:
            warnings.warn(
                NetTrainWarning(
                    "NetTrain: TrainingStoppingCriterion is checked on the training loss, as there is no ValidationSet."
                ),
                stacklevel=3,
            )
        self.original = net
        self.data = data
        if len(net._input_types()) != 1 or len(net._output_types()) != 1:
            raise NetSpecificationError(
                "NetTrain: training nets with several input or output ports is not supported yet; "
                f"{net._where} has inputs {list(net._input_types())} and outputs {list(net._output_types())}."
            )
        self.in_port = next(iter(net._input_types()))
        self.out_port = next(iter(net._output_types()))

    # -- preparation ---------------------------------------------------------------------------
    def _examples(self, net, data, what):
        ports = parse_data(data, self.in_port, self.out_port, what)
        missing = [p for p in (self.in_port, self.out_port) if p not in ports]
        if missing and not (self.loss_is_output and self.in_port in ports):
            raise NetDataError(f'NetTrain: {what} has no values for port "{missing[0]}"; it has {list(ports)}.')
        inputs = ports[self.in_port]
        encoder = net._coder(self.in_port)
        if encoder is not None and encoder.accepts(inputs):
            inputs = encoder(inputs)
        x = _as_data(inputs, f'NetTrain: {what} for port "{self.in_port}"', np.float32)
        y = None
        if not self.loss_is_output:
            targets = ports[self.out_port]
            decoder = net._coder(self.out_port)
            if isinstance(decoder, NetDecoder):
                enc = decoder.encoder()
                if enc.accepts(targets):
                    targets = enc(targets)
            y = _as_data(targets, f'NetTrain: {what} for port "{self.out_port}"', np.float32)
            nx, ny = _count(x), _count(y)
            if nx != ny:
                raise NetDataError(
                    f'NetTrain: {what} has {nx} examples for port "{self.in_port}" but {ny} for port '
                    f'"{self.out_port}"; each port needs one value per example.'
                )
        return _Data(x, y, what, self.out_port)

    def _fit_net(self, net, data: _Data):
        """Specialize unknown input and output dims to the data."""
        t_in = net._input_types()[self.in_port]
        dims = data.input_dims
        if not t_in.known:
            try:
                net = _specialized(net, self.in_port, t_in, TensorT(dims))
            except NetShapeError as error:
                raise NetShapeError(
                    f"NetTrain: the training inputs (each {describe(TensorT(dims))}) do not fit port "
                    f'"{self.in_port}" of {net._where}: {error}'
                ) from None
        elif unify_or_none(t_in, TensorT(dims)) is None:
            raise NetShapeError(
                f'NetTrain: port "{self.in_port}" of {net._where} takes {describe(t_in)}, but each '
                f"training input is {describe(TensorT(dims))}."
            )
        if data.has_targets:
            t_out = net._output_types()[self.out_port]
            target_t = TensorT(data.target_dims)
            sequence_out = bool(t_out.dims) and t_out.dims[0] == VARYING
            if data.ragged and sequence_out and (not target_t.dims or target_t.dims[0] != VARYING):
                raise NetDataError(
                    f'NetTrain: the targets for port "{self.out_port}" should be sequences as long as their '
                    f"input sequences, but each is {describe(target_t)}."
                )
            merged = unify_or_none(t_out, target_t)
            if merged is None:
                raise NetShapeError(
                    f'NetTrain: the targets for port "{self.out_port}" should each be {describe(t_out)}, '
                    f"but each is {describe(target_t)}."
                )
            if merged != t_out:
                net = net._evolve(ports={self.out_port: merged})
        return net

    def _loss(self, net):
        spec = self.options.get("LossFunction", Automatic)
        if spec is Automatic:
            last = net._leaf_layers()[-1][1]
            if isinstance(last, ElementwiseLayer) and last.function is LogisticSigmoid:
                return [(CrossEntropyLossLayer("Binary"), 1.0)]
            return [(MeanSquaredLossLayer(), 1.0)]
        specs = spec if isinstance(spec, list) else [spec]
        parsed = []
        for item in specs:
            weight = 1.0
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Scaled):
                item, weight = item[0], item[1].value
                if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
                    raise NetOptionError(f"NetTrain: a LossFunction weight should be a number, not {weight!r}.")
            if isinstance(item, LossLayer) or item == self.out_port:
                parsed.append((item, float(weight)))
            else:
                raise NetOptionError(
                    f"NetTrain: LossFunction should be Automatic, a loss layer (MeanSquaredLossLayer(), "
                    f'CrossEntropyLossLayer("Binary"), ...), the output port "{self.out_port}", or a list '
                    f"of them with weights (spec, Scaled(w)), but was {item!r}."
                )
        return parsed

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> NetTrainResults:
        net = self.original
        spec = self.options.get("LossFunction", Automatic)
        self.loss_is_output = spec == self.out_port
        generator = self.data if callable(self.data) and not isinstance(self.data, Layer) else None
        if generator is not None:
            if not net._input_types()[self.in_port].known:
                raise NetShapeError(
                    f"NetTrain: a generator function cannot be used with {net._where}, whose input dims "
                    "are not known; give them with the Input option."
                )
            data = self._examples(
                net,
                generator(
                    {
                        "BatchSize": self.batch_size if self.batch_size is not Automatic else 64,
                        "Round": 1,
                        "Batch": 1,
                        "AbsoluteBatch": 1,
                    }
                ),
                "the generator's batch",
            )
        else:
            data = self._examples(net, self.data, "the training data")
        net = self._fit_net(net, data)
        # Missing arrays are initialized as NetInitialize(net) would, or with the RandomSeeding given.
        seeding = self.options.get("RandomSeeding")
        net = NetInitialize(net) if seeding is None else NetInitialize(net, RandomSeeding=self.seed)
        self.losses = self._loss(net)
        if data.has_targets and any(isinstance(loss, CrossEntropyLossLayer) for loss, _ in self.losses):
            if not data.targets_within(0.0, 1.0):
                raise NetDataError(
                    f"NetTrain: binary cross-entropy needs targets between 0 and 1 (or True/False) for port "
                    f'"{self.out_port}", but some are outside.'
                )
        validation = self._validation(net, data)
        if validation == "split":
            fraction = self.options["ValidationSet"].value
            order = self.rng.permutation(data.n)
            cut = len(order) - int(round(len(order) * fraction))
            data, validation = data.subset(order[:cut]), data.subset(order[cut:])
        return self._loop(net, data, validation, generator)

    def _validation(self, net, data):
        spec = self.options.get("ValidationSet")
        if spec is None:
            return None
        if isinstance(spec, Scaled):
            f = spec.value
            n = data.n
            if not (isinstance(f, numbers.Real) and 0 < f < 1) or n - int(round(n * f)) < 1 or int(round(n * f)) < 1:
                raise NetOptionError(
                    f"NetTrain: ValidationSet -> Scaled(f) needs 0 < f < 1 leaving at least one training "
                    f"and one validation example of the {n}, but f was {f!r}."
                )
            return "split"
        return self._examples(net, spec, "the validation set")

    def _loop(self, net, data: _Data, validation, generator) -> NetTrainResults:
        start = time.perf_counter()
        module = net.to_torch().to(device=self.device, dtype=self.dtype).train()
        by_key = dict(module.named_parameters())
        entries = [(slot.position, slot.layer, by_key[slot.key]) for slot in array_slots(net)]
        positions = [e[0] for e in entries]
        own = {p: leaf._multiplier(p[-1]) for p, leaf, _ in entries}  # set on the layers
        multipliers = _resolve(
            self.options.get("LearningRateMultipliers", Automatic),
            positions,
            "LearningRateMultipliers",
            own.__getitem__,
        )
        l2 = _resolve(self.settings["L2Regularization"], positions, "L2Regularization", lambda p: 0.0, allow_none=True)
        if _rules(self.settings["L2Regularization"], "L2Regularization") is None:
            l2 = [0.0 if p[-1] == "Slope" else v for p, v in zip(positions, l2)]  # He et al. 2015
        grad_clip = _clip_values(self.settings["GradientClipping"], positions, "GradientClipping")
        weight_clip = _clip_values(self.settings["WeightClipping"], positions, "WeightClipping")
        params, lrs, l2s, gcs, wcs = [], [], [], [], []
        for (_, _, param), m, l2v, gc, wc in zip(entries, multipliers, l2, grad_clip, weight_clip):
            param.requires_grad_(m != 0)
            if m != 0:
                params.append(param)
                lrs.append(self.base_lr * m)
                l2s.append(l2v)
                gcs.append(gc)
                wcs.append(wc)
        by_position = dict(zip(positions, multipliers))
        trainable = bool(params)
        optimizer = Optimizer(self.method, self.settings, params, lrs, l2s, gcs, wcs)
        device, dtype = self.device, self.dtype
        data = data.to(device, dtype)
        n = data.n
        batch = self.batch_size if self.batch_size is not Automatic else min(64, n)
        per_round = data.batches_per_round(batch)
        record = _Record(batch, per_round, n, validation, by_position, self.method, str(device), self.base_lr)
        if not trainable:
            warnings.warn(
                NetTrainWarning(
                    f"NetTrain: {net._where} has no arrays to train (none, or all frozen by "
                    "LearningRateMultipliers); it is returned unchanged."
                ),
                stacklevel=3,
            )
            record.reason = "NoTrainableArrays"
            return record.results(self.original, self.original, time.perf_counter() - start)
        max_rounds = self.max_rounds
        if max_rounds is not Automatic:
            optimizer.total_steps = max_rounds * per_round
        bar = _progress_bar(self.reporting, max_rounds)
        best_state = last_good = _snapshot(params)
        best_loss = math.inf
        patience = 0
        reason = None
        absolute_batch = 0
        round_number = 0
        checkpoints = []
        while reason is None:
            round_number += 1
            plan = data.plan(self.rng, batch) if generator is None else range(per_round)
            round_losses = []
            for b, step in enumerate(plan):
                absolute_batch += 1
                if generator is None:
                    xb, yb = data.batch(step)
                else:
                    xb, yb = self._examples(
                        net,
                        generator(
                            {"BatchSize": batch, "Round": round_number, "Batch": b + 1, "AbsoluteBatch": absolute_batch}
                        ),
                        "the generator's batch",
                    ).to(device, dtype).batch(None)
                loss = self._batch_loss(module, xb, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                round_losses.append(loss.detach())
                if self.time_goal is not None and time.perf_counter() - start >= self.time_goal:
                    reason = "TimeGoal"
                    break
            losses = torch.stack(round_losses).double().cpu()
            record.batch_losses.append(losses)
            round_loss = float(losses.mean())
            record.round_losses.append(round_loss)
            if max_rounds is Automatic and round_number == 1:
                elapsed = time.perf_counter() - start
                max_rounds = (
                    math.inf
                    if self.time_goal is not None
                    else int(min(10000, max(10, math.ceil(_AUTOMATIC_SECONDS / max(elapsed, 1e-9)))))
                )
                optimizer.total_steps = None if max_rounds == math.inf else max_rounds * per_round
                if bar is not None:
                    bar.total = None if max_rounds == math.inf else max_rounds
            if not math.isfinite(round_loss) or not all(bool(torch.isfinite(p).all()) for p in params):
                _restore(params, last_good)
                warnings.warn(
                    NetTrainWarning(
                        f"NetTrain: the arrays of {net._where} diverged (became NaN or infinite) in round "
                        f"{round_number}; training stopped and the net from the last finite round is returned. "
                        "A smaller LearningRate may help."
                    ),
                    stacklevel=3,
                )
                reason = "WeightsDiverged"
                record.batch_losses.pop()
                record.round_losses.pop()
                round_number -= 1
                break
            last_good = _snapshot(params)
            val_loss = None
            if validation is not None:
                val_loss = self._validation_loss(module, validation, batch)
                record.validation_losses.append(val_loss)
                if val_loss < best_loss:
                    best_loss, best_state = val_loss, last_good
                    record.best_round = round_number
            measure = val_loss if val_loss is not None else round_loss
            progress = record.progress(
                round_number, absolute_batch, round_loss, val_loss, time.perf_counter() - start, max_rounds, optimizer
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(_postfix(progress), refresh=False)
            elif self.reporting == "Print":
                print(_print_line(progress), flush=True)
            elif callable(self.reporting):
                self.reporting(progress)
            if self.checkpointing is not None and round_number % self.checkpointing[2] == 0:
                checkpoints.append(self._checkpoint(net, entries, round_number))
            if self.progress_function is not None and self.progress_function(progress) == "StopTraining":
                reason = reason or "TrainingProgressFunction"
            if self.stopping is not None and reason is None:
                stop, patience = self.stopping(progress, measure, record, patience)
                if stop:
                    reason = "TrainingStoppingCriterion"
            if reason is None and round_number >= max_rounds:
                reason = "MaxTrainingRounds"
            if reason is None and self.time_goal is not None and time.perf_counter() - start >= self.time_goal:
                reason = "TimeGoal"
        if bar is not None:
            bar.close()
        record.reason = reason
        record.rounds = round_number
        record.batches = absolute_batch if reason != "WeightsDiverged" else round_number * per_round
        record.final_lr = optimizer.learning_rates[0] if params else self.base_lr
        record.checkpoints = checkpoints
        final = _write_back(net, entries, [p.detach() for p in _current(entries)])
        trained = final
        if validation is not None and best_state is not None and record.best_round is not None:
            trained = _write_back(net, entries, _full_state(entries, params, best_state))
        return record.results(trained, final, time.perf_counter() - start)

    def _batch_loss(self, module, xb, yb):
        out = module(xb)
        total = None
        for loss, weight in self.losses:
            value = out.mean() if isinstance(loss, str) else loss.loss(out, yb)
            value = value * weight if weight != 1.0 else value
            total = value if total is None else total + value
        return total

    @torch.no_grad()
    @torch.no_grad()
    def _validation_loss(self, module, validation: _Data, batch) -> float:
        """The mean loss per example over the validation set, in chunks."""
        module.eval()
        total, count = 0.0, 0
        for xb, yb in validation.to(self.device, self.dtype).chunks(max(batch, 256)):
            total += float(self._batch_loss(module, xb, yb)) * xb.shape[0]
            count += xb.shape[0]
        module.train()
        return total / count

    def _checkpoint(self, net, entries, round_number) -> str:
        kind, path, _ = self.checkpointing
        snapshot = _write_back(net, entries, [p.detach() for p in _current(entries)])
        if kind == "Directory":
            os.makedirs(path, exist_ok=True)
            file = os.path.join(path, f"checkpoint-round-{round_number:05d}.wlnet")
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            file = path
        tmp = file + ".tmp"
        with open(tmp, "wb") as handle:
            pickle.dump(snapshot, handle)
        os.replace(tmp, file)  # a crash mid-write never leaves a truncated checkpoint
        return file


class _Data:
    """Training examples as groups of equal-length tensors: one group, unless the inputs are
    sequences of different lengths, which are bucketed by length (as Wolfram's trainer does)."""

    def __init__(self, x, y, what: str = "", out_port: str = "Output", groups=None):
        if groups is not None:
            self.groups = groups
            return
        if isinstance(x, list):  # sequences of different lengths: one group per length
            ids_by_length: dict[int, list[int]] = {}
            for i, example in enumerate(x):
                ids_by_length.setdefault(example.shape[0], []).append(i)
            targets = None if y is None else (y if isinstance(y, list) else list(y))
            self.groups = []
            for ids in ids_by_length.values():
                gx = torch.from_numpy(np.stack([x[i] for i in ids]))
                gy = None
                if targets is not None:
                    try:
                        gy = torch.from_numpy(np.stack([np.asarray(targets[i], np.float32) for i in ids]))
                    except ValueError:
                        raise NetDataError(
                            f'NetTrain: the targets in {what} for port "{out_port}" should match their '
                            "sequences' lengths, but some do not."
                        ) from None
                self.groups.append((gx, gy, np.asarray(ids)))
        else:
            if isinstance(y, list):
                raise NetDataError(f'NetTrain: the targets in {what} for port "{out_port}" are ragged.')
            gx = _as_tensor(x)
            self.groups = [(gx, None if y is None else _as_tensor(y), np.arange(gx.shape[0]))]

    @property
    def n(self) -> int:
        return sum(g[0].shape[0] for g in self.groups)

    @property
    def ragged(self) -> bool:
        return len(self.groups) > 1

    @property
    def has_targets(self) -> bool:
        return self.groups[0][1] is not None

    @property
    def input_dims(self) -> tuple:
        dims = tuple(self.groups[0][0].shape[1:])
        return (VARYING, *dims[1:]) if self.ragged else dims

    @property
    def target_dims(self) -> tuple:
        dims = tuple(self.groups[0][1].shape[1:])
        if self.ragged and dims and dims[0] == self.groups[0][0].shape[1]:
            return (VARYING, *dims[1:])  # targets as long as their sequences
        return dims

    def targets_within(self, low: float, high: float) -> bool:
        return all(bool(((g[1] >= low) & (g[1] <= high)).all()) for g in self.groups)

    def to(self, device, dtype) -> _Data:
        moved = [(gx.to(device=device, dtype=dtype), None if gy is None else gy.to(device=device, dtype=dtype), ids)
                 for gx, gy, ids in self.groups]
        return _Data(None, None, groups=moved)

    def subset(self, ids) -> _Data:
        """The examples with the given original indices (for a held-out validation fraction)."""
        wanted = set(int(i) for i in ids)
        groups = []
        for gx, gy, gids in self.groups:
            rows = [r for r, i in enumerate(gids) if int(i) in wanted]
            if rows:
                index = torch.as_tensor(rows)
                groups.append((gx[index], None if gy is None else gy[index], gids[rows]))
        return _Data(None, None, groups=groups)

    def batches_per_round(self, batch: int) -> int:
        return sum(math.ceil(g[0].shape[0] / batch) for g in self.groups)

    def plan(self, rng: np.random.Generator, batch: int) -> list:
        """This round's batches as (group, row indices). One group: full batches, the last one
        filled with randomly repeated examples, as Wolfram does; several: batches within each
        length, in shuffled order."""
        if not self.ragged:
            n = self.groups[0][0].shape[0]
            per_round = math.ceil(n / batch)
            order = rng.permutation(n)
            if per_round * batch > n:
                order = np.concatenate([order, rng.integers(0, n, per_round * batch - n)])
                rng.shuffle(order)
            index = torch.from_numpy(order.reshape(per_round, batch)).to(self.groups[0][0].device)
            return [(0, index[b]) for b in range(per_round)]
        steps = []
        for g, (gx, _, _) in enumerate(self.groups):
            order = torch.from_numpy(rng.permutation(gx.shape[0])).to(gx.device)
            steps += [(g, order[i:i + batch]) for i in range(0, gx.shape[0], batch)]
        return [steps[i] for i in rng.permutation(len(steps))]

    def batch(self, step):
        if step is None:
            gx, gy, _ = self.groups[0]
            return gx, gy
        g, index = step
        gx, gy, _ = self.groups[g]
        return gx.index_select(0, index), None if gy is None else gy.index_select(0, index)

    def chunks(self, size: int):
        for gx, gy, _ in self.groups:
            for i in range(0, gx.shape[0], size):
                yield gx[i:i + size], None if gy is None else gy[i:i + size]


def unify_or_none(a: TensorT, b: TensorT):
    try:
        return unify(a, b, "")
    except NetShapeError:
        return None


def _count(x) -> int:
    if isinstance(x, list):
        return len(x)
    return int(x.shape[0]) if x.ndim > 0 else 1


def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x.detach()
    if x.ndim == 0:
        x = x.reshape(1)
    return torch.from_numpy(np.ascontiguousarray(x))


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _restore(params, state):
    with torch.no_grad():
        for p, s in zip(params, state):
            p.copy_(s)


def _current(entries):
    return [param for _, _, param in entries]


def _full_state(entries, params, state):
    """Values for every array: the snapshot for trained ones, the current value for frozen ones."""
    trained = {id(p): s for p, s in zip(params, state)}
    return [trained.get(id(param), param.detach()) for _, _, param in entries]


def _write_back(net, entries, values):
    """``net`` with its arrays replaced by ``values`` (in the order of ``entries``), as float32."""
    return with_arrays(net, {path_key(position): value for (position, _, _), value in zip(entries, values)})


def _clip_values(value, positions, option):
    if value is None:
        return [None] * len(positions)
    values = _resolve(value, positions, option, lambda p: 0.0, allow_none=True)
    for v in values:
        if v < 0:
            raise NetOptionError(f"NetTrain: {option} should be a positive number, but was {v!r}.")
    return [v if v > 0 else None for v in values]


def _parse_reporting(value):
    if value is Automatic:
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        return "ProgressIndicator" if interactive else None
    if value in (None, "Print", "ProgressIndicator", "Panel") or callable(value):
        return "ProgressIndicator" if value == "Panel" else value
    raise NetOptionError(
        f'NetTrain: TrainingProgressReporting should be Automatic, "ProgressIndicator", "Print", None '
        f"or a function, but was {value!r}."
    )


def _progress_bar(reporting, max_rounds):
    if reporting != "ProgressIndicator":
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=None if max_rounds is Automatic else max_rounds,
        unit="round",
        desc="NetTrain",
        leave=True,
        dynamic_ncols=True,
    )


def _postfix(progress) -> str:
    parts = [f"loss {progress['RoundLoss']:.4g}"]
    if progress["ValidationLoss"] is not None:
        parts.append(f"validation {progress['ValidationLoss']:.4g}")
    parts.append(f"{progress['ExamplesPerSecond']:,.0f} examples/s")
    if progress["TimeRemaining"] is not None:
        parts.append(f"{progress['TimeRemaining']:.1f} s left")
    return ", ".join(parts)


def _print_line(progress) -> str:
    return f"NetTrain round {progress['Round']}: " + _postfix(progress)


def _parse_checkpointing(value):
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return ("Directory", os.fspath(value), 1)
    if isinstance(value, tuple) and value and value[0] in ("Directory", "File") and len(value) >= 2:
        interval = 1
        if len(value) == 3:
            interval = value[2].get("Interval", 1) if isinstance(value[2], dict) else None
        if not isinstance(interval, int) or interval < 1:
            raise NetOptionError("NetTrain: the checkpointing Interval should be a positive number of rounds.")
        return (value[0], os.fspath(value[1]), interval)
    raise NetOptionError(
        "NetTrain: TrainingProgressCheckpointing should be None, a directory, "
        f'("Directory", path, {{"Interval": k}}) or ("File", path), but was {value!r}.'
    )


def _parse_stopping(value):
    """A function (progress, measure, record, patience) -> (stop, patience), or None."""
    if value is None:
        return None
    if callable(value):
        return lambda progress, measure, record, patience: (bool(value(progress)), patience)
    if value is Automatic or value == "Loss":
        value = {"Criterion": "Loss"}
    if not isinstance(value, dict):
        raise NetOptionError(
            f'NetTrain: TrainingStoppingCriterion should be None, "Loss", a dict or a function, but was {value!r}.'
        )
    check_options(
        "NetTrain: TrainingStoppingCriterion", value, ("Criterion", "Patience", "InitialPatience", "Improvement")
    )
    criterion = value.get("Criterion", "Loss")
    patience_limit = value.get("Patience", 0)
    initial = value.get("InitialPatience", 0)
    improvement = value.get("Improvement", ("AbsoluteChange", 0.0))
    if not (
        isinstance(improvement, tuple)
        and len(improvement) == 2
        and improvement[0] in ("AbsoluteChange", "RelativeChange")
    ):
        raise NetOptionError(
            'NetTrain: the "Improvement" of TrainingStoppingCriterion should be ("AbsoluteChange", v) '
            f'or ("RelativeChange", v), but was {improvement!r}.'
        )
    for name, number in (("Patience", patience_limit), ("InitialPatience", initial)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise NetOptionError(f'NetTrain: the "{name}" of TrainingStoppingCriterion should be a count of rounds.')
    if callable(criterion):
        return lambda progress, measure, record, patience: (bool(criterion(progress)), patience)
    if criterion != "Loss":
        raise NetOptionError(
            f'NetTrain: the stopping "Criterion" {criterion!r} is not known; use "Loss" or a function.'
        )
    kind, amount = improvement
    best = {"value": math.inf}

    def check(progress, measure, record, patience):
        previous = best["value"]
        needed = amount if kind == "AbsoluteChange" else abs(previous) * amount
        if previous - measure > needed or previous == math.inf:
            best["value"] = min(previous, measure)
            return False, 0
        if progress["Round"] <= initial:
            return False, patience
        patience += 1
        return patience > patience_limit, patience

    return check


class _Record:
    """What a run records, turned into a NetTrainResults at the end."""

    def __init__(self, batch, per_round, n, validation, multipliers, method, device, initial_lr):
        self.multipliers = multipliers
        self.method = method
        self.device = device
        self.initial_lr = initial_lr
        self.batch = batch
        self.per_round = per_round
        self.examples = n
        self.validation_examples = 0 if validation is None else validation.n
        self.batch_losses = []
        self.round_losses = []
        self.validation_losses = []
        self.best_round = None
        self.reason = None
        self.rounds = 0
        self.batches = 0
        self.checkpoints = []
        self.final_lr = None

    def progress(self, round_number, absolute_batch, round_loss, val_loss, elapsed, max_rounds, optimizer):
        remaining = None
        if max_rounds not in (Automatic, math.inf) and round_number:
            remaining = elapsed / round_number * (max_rounds - round_number)
        return {
            "Round": round_number,
            "AbsoluteBatch": absolute_batch,
            "RoundLoss": round_loss,
            "ValidationLoss": val_loss,
            "TimeElapsed": elapsed,
            "TimeRemaining": remaining,
            "ExamplesProcessed": absolute_batch * self.batch,
            "ExamplesPerSecond": absolute_batch * self.batch / max(elapsed, 1e-9),
            "LearningRate": optimizer.learning_rates[0] if optimizer.params else None,
            "BatchSize": self.batch,
        }

    def results(self, trained, final, total_time) -> NetTrainResults:
        batch_losses = [float(v) for chunk in self.batch_losses for v in chunk]
        values = {
            "TrainedNet": trained,
            "FinalNet": final,
            "BatchLossList": batch_losses,
            "RoundLossList": list(self.round_losses),
            "ValidationLossList": list(self.validation_losses),
            "RoundLoss": self.round_losses[-1] if self.round_losses else None,
            "ValidationLoss": self.validation_losses[-1] if self.validation_losses else None,
            "TotalTrainingTime": total_time,
            "MeanExamplesPerSecond": len(batch_losses) * self.batch / max(total_time, 1e-9),
            "MeanBatchesPerSecond": len(batch_losses) / max(total_time, 1e-9),
            "TotalRounds": self.rounds,
            "TotalBatches": len(batch_losses),
            "BatchSize": self.batch,
            "BatchesPerRound": self.per_round,
            "ExamplesProcessed": len(batch_losses) * self.batch,
            "TrainingExamples": self.examples,
            "ValidationExamples": self.validation_examples,
            "BestValidationRound": self.best_round,
            "ReasonTrainingStopped": self.reason,
            "InitialLearningRate": self.initial_lr,
            "FinalLearningRate": self.final_lr,
            "OptimizationMethod": self.method,
            "ArraysLearningRateMultipliers": self.multipliers,
            "CheckpointingFiles": list(self.checkpoints),
            "TargetDevice": self.device,
        }
        return NetTrainResults(values)


class NetTrainResults:
    """The results of a training run: ``results["RoundLossList"]``, ``results["TrainedNet"]``, ...

    Wolfram: ``NetTrainResultsObject``. ``results.properties`` lists what can be read.
    """

    def __init__(self, values: dict):
        self._values = values

    @property
    def properties(self) -> list[str]:
        return list(PROPERTIES)

    def __getitem__(self, prop):
        if isinstance(prop, list):
            return [self[p] for p in prop]
        prop = _ALIASES.get(prop, prop)
        if prop == "Properties":
            return self.properties
        if prop == "LossEvolutionPlot":
            return self._plot()
        if prop not in self._values:
            raise NetSpecificationError(
                f"NetTrainResults: {prop!r} is not a property.{closest(str(prop), PROPERTIES)} "
                f"The properties are: {', '.join(PROPERTIES)}."
            )
        return self._values[prop]

    def _plot(self):
        """Training (and validation) loss against round, on a log scale, as a matplotlib Figure."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise NetSpecificationError(
                'NetTrainResults: "LossEvolutionPlot" needs matplotlib (pip install matplotlib).'
            ) from None
        figure = Figure(figsize=(6, 3.5))
        axes = figure.add_subplot()
        rounds = range(1, len(self._values["RoundLossList"]) + 1)
        axes.plot(rounds, self._values["RoundLossList"], label="training loss")
        if self._values["ValidationLossList"]:
            axes.plot(
                range(1, len(self._values["ValidationLossList"]) + 1),
                self._values["ValidationLossList"],
                label="validation loss",
            )
        if all(v > 0 for v in self._values["RoundLossList"]):
            axes.set_yscale("log")
        axes.set_xlabel("round")
        axes.set_ylabel("loss")
        axes.legend()
        figure.tight_layout()
        return figure

    def __repr__(self) -> str:
        v = self._values
        lines = [
            "NetTrainResults",
            f"  rounds               {v['TotalRounds']} ({v['BatchesPerRound']} batches of {v['BatchSize']} each)",
            f"  stopped because      {v['ReasonTrainingStopped']}",
            f"  final round loss     {_g(v['RoundLoss'])}",
        ]
        if v["ValidationLossList"]:
            lines.append(f"  validation loss      {_g(v['ValidationLoss'])} (best round {v['BestValidationRound']})")
        lines += [
            f"  method               {v['OptimizationMethod']}, initial learning rate {_g(v['InitialLearningRate'])}",
            f"  training time        {v['TotalTrainingTime']:.3g} s, {v['MeanExamplesPerSecond']:,.0f} examples/s",
        ]
        return "\n".join(lines)


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"
