"""NetTrain: train a net on data, with Wolfram's options, defaults and results.

The package, by part:

* ``settings``: the options, checked before any data is touched;
* ``data``: the data forms, the examples as tensors, batches, the net fitted to the data;
* ``loss``: LossFunction;
* ``training``: one run from start to end, over the net's one lowering (:func:`wlnet.lower.lower`):
  its ``state_dict()`` keys are the array paths, and the trained net comes back through
  :func:`wlnet.lower.with_arrays`;
* ``loop``: the loop itself, a :class:`~wlnet.train.loop.Run` and its callbacks' hooks;
* ``callbacks``: validation, progress reporting, checkpoints, stopping criteria, time goal,
  divergence;
* ``results`` and ``properties``: :class:`NetTrainResults` and the property names;
* ``trainingnet``: :class:`TrainingNet`, the net with its loss attached ("TrainingNet").

The loop shuffles, cuts the examples into full batches (the last one padded with randomly repeated
examples, as Wolfram does), and runs forward, loss, backward and one optimizer step per batch.
Losses stay on the device until the end of each round, so a batch costs what a hand-written loop
costs.
"""

from __future__ import annotations

import os

import torch.distributed as dist

from ..errors import NetSpecificationError
from ..layers.base import Layer
from ..symbols import All
from .checkpoint import find_checkpoint
from .parallel import launch
from .properties import check_property
from .results import NetTrainResults
from .settings import parse_settings
from .training import prepare, train
from .trainingnet import TrainingNet

__all__ = ["NetTrain", "NetTrainResults", "TrainingNet"]


def NetTrain(net, data, prop="TrainedNet", **options):
    """Train ``net`` on ``data`` and return the trained net or other properties of the run.

    Wolfram: ``NetTrain[net, data]``, ``NetTrain[net, data, prop]``, ``NetTrain[net, data, All]``.

    Args:
        net: a layer or container. It is not changed; missing arrays are initialized first
            (``RandomSeeding``), and unknown dims are inferred from the data. Or a checkpoint
            that TrainingProgressCheckpointing wrote (a file, or the directory: its newest
            readable file, a damaged newer one skipped with a warning): the run that wrote it
            continues, with its optimizer state, data order and loss history, and returns what
            it would have returned had it never stopped (given the same data and options; with
            others, or another RandomSeeding, which the run ignores as it keeps its own, a
            warning says which differ).
            This goes beyond the Wolfram Language, which starts a new run from a checkpoint's
            net.
        data: a dict of port names to equal-length lists or arrays ``{"Input": X, "Output":
            Y}``; a list of such dicts, one per example; or a generator function called with
            ``{"BatchSize": b, "Round": r, "Batch": k, "AbsoluteBatch": a}`` that returns a batch
            in either form. The keys are every input port of the net and, for every output port
            that a loss compares with targets, that output port's name (Wolfram's target ports
            are named so): ``{"x1": X1, "x2": X2, "out1": Y1, "out2": Y2}`` for a NetGraph with
            inputs x1, x2 and outputs out1, out2; other keys are dropped, a missing one is a
            NetDataError. A net with one input port and one output port also takes ``(inputs,
            targets)`` (the rule ``inputs -> targets``), a list of ``(input, target)`` pairs and
            a dict of non-string keys ``{input: target}``. Targets at a port with a
            ``NetDecoder("Boolean")`` are True/False (or numbers from 0 to 1, but not both mixed),
            at a port with a Class decoder labels (or class indices).
        prop: ``"TrainedNet"`` (default), ``"FinalNet"``, ``All`` (a :class:`NetTrainResults`),
            another property name (see ``NetTrainResults.properties``) or a list of them.
            ``"TrainingNet"`` is the net as training starts with its loss attached (a
            :class:`TrainingNet`); asked for alone, it is computed without training, as in the
            Wolfram Language. ``"TargetDevice"`` is written as the option is: ``"CPU"``,
            ``("CPU", n)``, ``"GPU"``, ``("GPU", k)``, ``("GPU", [k1, k2])``.

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
        LossFunction: Automatic (a loss for every output port, by the layer that computes it:
            ``CrossEntropyLossLayer("Index")`` after a SoftmaxLayer, binary cross-entropy after
            a LogisticSigmoid, mean squared otherwise; an output port named "Loss" is the loss
            alone); a loss layer (``MeanSquaredLossLayer()``, ``MeanAbsoluteLossLayer()``,
            ``CrossEntropyLossLayer("Binary")``) for a net with one output port; an output port's
            name, ``"Output"`` (that port's value is the loss: its mean over its elements); a dict
            of rules by output port ``{"out1": MeanSquaredLossLayer(), "out2": Automatic,
            "out3": Scaled(0.1)}`` (a loss layer, the Automatic one, or the port itself as the
            loss scaled); or a list of specs. Any spec may be paired with a weight, Wolfram's
            ``spec -> Scaled[r]``: ``(spec, Scaled(0.5))``, ``{"out1": (MeanSquaredLossLayer(),
            Scaled(0.5))}``. The total loss, which training minimizes and "RoundLossList"
            reports, is the weighted sum; with several losses each one's weighted value is also
            reported, under its output port's name, in "BatchMeasurementsLists",
            "RoundMeasurementsLists" and "ValidationMeasurementsLists" (``{"Loss": total,
            "out1": ..., "out2": ...}``; "out1 1", "out1 2" for several losses on one port).
        ValidationSet: None, data in any form above, or ``Scaled(f)`` (hold out a fraction f).
        TimeGoal: seconds of training (positive); the shorter of it and MaxTrainingRounds wins.
        TrainingStoppingCriterion: None, "Loss" (or Automatic), a dict with "Criterion",
            "Patience", "InitialPatience", "Improvement" (``("AbsoluteChange", v)`` or
            ``("RelativeChange", v)``), or a function of the progress dict returning True to stop.
        RandomSeeding: Inherited (default: NumPy's global state), Automatic, an int or a str. It
            fixes the order of the data, the initial values of missing arrays and DropoutLayer's
            masks (PyTorch's own random state is left as it was).
        WorkingPrecision: "Real32" (default) or "Real64".
        TargetDevice: "CPU" (default), "GPU" (the first GPU), ``("GPU", k)`` (the k-th, 1-based),
            or data-parallel on several devices: ``("CPU", n)`` (n processes on the CPU, beyond
            the Wolfram Language), ``("GPU", All)``, ``("GPU", [k1, k2])``; these need an
            explicit BatchSize (the global batch, split between the devices).
        TrainingProgressReporting: Automatic (a progress bar on a terminal or in a notebook,
            otherwise nothing), "ProgressIndicator" (always a bar), "Print", None, or a function
            called with the progress dict after each round.
        TrainingProgressFunction: a function called with the progress dict after each round;
            returning "StopTraining" stops training.
        TrainingProgressCheckpointing: a directory (a checkpoint file per round,
            ``checkpoint-round-00005.safetensors``), ``("Directory", path)``, or ``("File", path)``
            (one .safetensors file, overwritten), each optionally with a dict of sub-options:
            "Interval" (``k`` rounds, ``(k, "Rounds")``, ``(k, "Batches")``, ``(t, "Seconds")``,
            ``(t, "Minutes")``, ``(t, "Hours")``: Wolfram's ``Quantity[k, unit]``; a checkpoint is
            written at the end of the round that reaches the interval), "MinimumInterval" (at
            most one checkpoint per that many seconds), and, beyond the Wolfram Language, which
            files a directory keeps: "KeepNewest" (default 3; All keeps every file) and
            "KeepBest" (default True: also the checkpoint of the best round by the ValidationSet's
            loss). A directory belongs to one run: it is locked while the run trains (a second
            run into it is a NetError naming the process that trains there; the lock of a killed
            run is taken over), and a run does not write into a directory holding another run's
            checkpoints, nor continue a directory in which several runs' checkpoints are mixed.
            A checkpoint that cannot be written (a full disk) stops training after that round,
            with a warning naming the file and the cause, and returns the results with
            "ReasonTrainingStopped" "CheckpointingFailed"; the newest complete checkpoint
            continues the run.

    Ctrl-C stops training after the current batch and returns what was asked for, with
    "ReasonTrainingStopped" "ManualStop" (as the Wolfram Language does); a second Ctrl-C
    raises KeyboardInterrupt at once (also when both come during one long operation).

    Returns:
        The property asked for; the trained net by default.
    """
    settings = parse_settings(options)
    props = prop if isinstance(prop, list) else [prop]
    for p in props:
        if not (p is All and props is not prop):
            check_property(p, "NetTrain")
    resume = None
    if isinstance(net, (str, os.PathLike)):
        resume = find_checkpoint(net)
        net = resume.net
    if not isinstance(net, Layer):
        raise NetSpecificationError(
            f"NetTrain: the first argument should be a net (a layer or container) or a checkpoint, not "
            f"{type(net).__name__}."
        )
    if prop == []:
        return []
    if all(isinstance(p, str) and p == "TrainingNet" for p in props):  # computed without training
        training_net = prepare(net, data, settings, resume).training_net()
        return [training_net] * len(props) if isinstance(prop, list) else training_net
    devices = settings.devices
    if len(devices) > 1 and not dist.is_initialized():  # TargetDevice ("CPU", n), ("GPU", All), ...
        count = min(len(devices), settings.batch_size)  # no more devices than examples in a batch
        results = launch(devices[:count], lambda: train(net, data, settings, resume), settings.checkpointing)
    else:
        results = train(net, data, settings, resume)
    if isinstance(prop, list):
        return [results[p] for p in props]
    return results if prop is All else results[prop]
