"""One NetTrain run from start to end: the net fitted to the data and initialized, the data split,
the net lowered and its optimizer set up, the loop run with its callbacks, the results made."""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import NetDataError, NetOptionError, NetShapeError, NetTrainWarning, warn
from ..initialize import NetInitialize
from ..layers.base import Layer
from ..layers.loss import CrossEntropyLossLayer
from ..lower import array_buffers, array_multipliers, array_slots, lower
from ..optimizers import Optimizer
from ..options import per_array, rules
from ..symbols import All, Scaled
from .callbacks import callbacks
from .checkpoint import Checkpoint, fingerprint, restore
from .data import Examples, GeneratorBatches, TensorBatches, examples
from .loop import Run, fit
from .loss import Losses, index_ports, loss_names, parse_loss, target_ports
from .parallel import Group, continued, join
from .ports import Ports
from .results import NetTrainResults, Record
from .settings import Settings
from .targets import fit_net
from .trainingnet import TrainingNet

__all__ = ["Prepared", "device_name", "prepare", "train"]


def train(net: Layer, data: Any, settings: Settings, resume: Checkpoint | None = None) -> NetTrainResults:
    """Train ``net`` on ``data`` (any NetTrain data form, or a generator function); or, given a
    checkpoint, continue the run that wrote it (its net, state and RandomSeeding). In a process of
    a data-parallel run (:mod:`.parallel`), train this process's share of every batch."""
    group = join(settings.devices)
    try:
        resume = continued(group, settings.checkpointing, resume)  # a restarted run: its newest checkpoint
        return _train(net, data, settings, resume, group)
    finally:
        if group is not None:
            group.close()


@dataclass
class Prepared:
    """What a run starts from: the net fitted to the data and initialized, the data, the losses."""

    net: Layer
    data: Examples  # every example; a generator's first batch
    generator: Any  # the generator function, or None
    ports: Ports
    losses: Losses
    seed: Any
    device: torch.device

    def training_net(self) -> TrainingNet:
        return TrainingNet(self.net, self.losses, self.ports)


def prepare(net: Layer, data: Any, settings: Settings, resume: Checkpoint | None = None,
            group: Group | None = None) -> Prepared:
    """The net as training starts, with its data and losses: NetTrain's work before any update.
    ``NetTrain(net, data, "TrainingNet")`` is this alone."""
    seed = settings.seed
    if resume is not None:
        net, seed = resume.net, resume.state.get("Seed", settings.seed)
    device = settings.device
    if group is not None:
        seed, device = group.value(seed), group.device  # rank 0's seed: one order of the data
    losses = parse_loss(settings.loss, net)
    outputs = tuple(net._output_types())
    # targets as class indices (or labels) where the loss is CrossEntropyLossLayer("Index")
    ports = Ports(tuple(net._input_types()), outputs, target_ports(losses, outputs), index_ports(losses))
    generator = data if callable(data) and not isinstance(data, Layer) else None
    if generator is not None:
        first = _generator_examples(net, generator, settings, ports)
    else:
        first = examples(net, data, ports, "the training data")
    fitted = fit_net(net, first, ports)
    # Missing arrays are initialized as NetInitialize(net) would, or with the RandomSeeding given.
    fitted = NetInitialize(fitted, RandomSeeding=settings.seed) if settings.seeding_given else NetInitialize(fitted)
    for loss in losses:
        probabilities = isinstance(loss.spec, CrossEntropyLossLayer) and loss.spec.kind != "Index"
        if first.has_targets and probabilities and not first.targets_within(loss.port, 0.0, 1.0):
            binary = "binary " if loss.spec.kind == "Binary" else ""
            raise NetDataError(
                f"NetTrain: {binary}cross-entropy needs targets between 0 and 1 (or True/False) for port "
                f'"{loss.port}", but some are outside.'
            )
    return Prepared(fitted, first, generator, ports, losses, seed, device)


def _train(net: Layer, data: Any, settings: Settings, resume: Checkpoint | None, group: Group | None
           ) -> NetTrainResults:
    prepared = prepare(net, data, settings, resume, group)
    fitted, ports, seed, device, generator = (prepared.net, prepared.ports, prepared.seed, prepared.device,
                                              prepared.generator)
    rng = np.random.default_rng(np.frombuffer(repr(seed).encode(), dtype=np.uint8))
    training, validation = _split(fitted, prepared.data, settings, ports, rng)

    start = time.perf_counter()
    multipliers = array_multipliers(fitted, settings.multipliers)
    module = lower(fitted, multipliers).to(device=device, dtype=settings.dtype).train()
    optimizer, parameters = _optimizer(fitted, module, multipliers, settings)
    # A BatchSize beyond the data is the data: a batch never repeats an example to fill itself up.
    batch = min(settings.batch_size if isinstance(settings.batch_size, int) else 64, training.n)
    training = training.to(device, settings.dtype)
    if generator is None:
        batches: Any = TensorBatches(training, batch, rng)
    else:
        make = lambda value: examples(fitted, value, ports, "the generator's batch")  # noqa: E731
        batches = GeneratorBatches(generator, make, batch, training.batches_per_round(batch),
                                   device, settings.dtype)
    record = Record(batch, batches.per_round, training.n, 0 if validation is None else validation.n, multipliers,
                    settings.method, device_name(device, settings.devices, group), settings.learning_rate,
                    prepared.training_net(), loss_names(prepared.losses) if len(prepared.losses) > 1 else [])
    # Moving statistics that their layers update (no gradient does) are something to train too.
    buffers = array_buffers(module)
    updated = any(multipliers[slot.position] != 0 for slot in array_slots(fitted) if slot.key in buffers)
    if not parameters and not updated:
        warn(NetTrainWarning(
            f"NetTrain: {fitted._where} has no arrays to train (none, or all frozen by "
            "LearningRateMultipliers); it is returned unchanged."
        ))
        record.reason = "NoTrainableArrays"
        return record.results(net, net, time.perf_counter() - start)
    if validation is not None:
        validation = validation.to(device, settings.dtype)
    run = Run(fitted, module, parameters, optimizer, batches, prepared.losses, record, settings.max_rounds,
              settings.time_goal, start, seed,
              _fingerprint(training, validation, settings, batch, settings.seed if settings.seeding_given else seed),
              group)
    run.mixed = settings.mixed
    run.callbacks = callbacks(settings, validation, batch, reporting=group is None or group.rank == 0)
    if resume is not None:
        restore(run, resume)
    fit(run, run.callbacks)
    record.reason, record.rounds = run.reason, run.round
    record.final_lr = optimizer.learning_rates[0] if optimizer.params else None
    final = run.net_with()
    trained = final if run.best_state is None else run.net_with(run.best_state)
    return record.results(trained, final, time.perf_counter() - start)


def device_name(device: torch.device, devices: tuple[torch.device, ...], group: Group | None) -> Any:
    """The devices a run trains on, as TargetDevice writes them: "CPU", ("CPU", n) for n processes,
    "GPU" (the first GPU), ("GPU", k) (GPU k, 1-based), ("GPU", [k1, k2, ...]) for several, or
    ("GPU", All) for a GPU per process started by torchrun."""
    world = 1 if group is None else group.world
    if device.type != "cuda":
        return "CPU" if world == 1 else ("CPU", world)
    if world == 1:
        index = device.index or 0
        return "GPU" if index == 0 else ("GPU", index + 1)
    if len(devices) > 1:
        return ("GPU", [(d.index or 0) + 1 for d in devices[:world]])
    return ("GPU", All)


def _fingerprint(training: Examples, validation: Examples | None, settings: Settings, batch: int, seed: Any
                 ) -> dict[str, str]:
    """What must be the same for a run continued from a checkpoint to be the run that wrote it, by
    part (``seed``: the RandomSeeding given, else the run's)."""
    method = sorted((k, v) for k, v in settings.method_settings.items() if not callable(v))
    return fingerprint({
        "TrainingData": training.tensors(), "ValidationSet": [] if validation is None else validation.tensors(),
        "Method": (settings.method, method), "LearningRate": settings.learning_rate, "BatchSize": batch,
        "WorkingPrecision": (settings.dtype, settings.mixed), "RandomSeeding": seed,
    })


def _generator_examples(net: Layer, generator: Any, settings: Settings, ports: Ports) -> Examples:
    """The generator's first batch, from which the net's dims and the batches per round come."""
    unknown = [port for port in ports.inputs if not net._input_types()[port].known]
    if unknown:
        raise NetShapeError(
            f'NetTrain: a generator function cannot be used with {net._where}, whose input dims (port "{unknown[0]}") '
            "are not known; give them with the Input option."
        )
    batch = settings.batch_size if isinstance(settings.batch_size, int) else 64
    request = {"BatchSize": batch, "Round": 1, "Batch": 1, "AbsoluteBatch": 1}
    return examples(net, generator(request), ports, "the generator's batch")


def _split(net: Layer, data: Examples, settings: Settings, ports: Ports, rng: np.random.Generator):
    """The training examples and the validation examples (None without a ValidationSet)."""
    spec = settings.validation
    if spec is None:
        return data, None
    if not isinstance(spec, Scaled):
        return data, examples(net, spec, ports, "the validation set")
    f, n = spec.value, data.n
    fraction = float(f) if isinstance(f, numbers.Real) else 0.0
    held = int(round(n * fraction))
    if not 0 < fraction < 1 or n - held < 1 or held < 1:
        raise NetOptionError(
            f"NetTrain: ValidationSet -> Scaled(f) needs 0 < f < 1 leaving at least one training "
            f"and one validation example of the {n}, but f was {f!r}."
        )
    order = rng.permutation(n)
    return data.subset(order[:n - held]), data.subset(order[n - held:])


def _optimizer(net: Layer, module: torch.nn.Module, multipliers: dict[tuple, float], settings: Settings):
    """The optimizer over the arrays whose multiplier is not 0, each with its own learning rate,
    L2 regularization and clipping; and those arrays' parameters, by key."""
    slots = array_slots(net)
    positions = [slot.position for slot in slots]
    method = settings.method_settings
    l2 = per_array(method["L2Regularization"], positions, "L2Regularization", lambda p: 0.0)
    if rules(method["L2Regularization"], "L2Regularization") is None:
        l2 = [0.0 if p[-1] == "Slope" else v for p, v in zip(positions, l2)]  # He et al. 2015
    grad_clip = _clip_values(method["GradientClipping"], positions, "GradientClipping")
    weight_clip = _clip_values(method["WeightClipping"], positions, "WeightClipping")
    named = dict(module.named_parameters())
    # (Arrays no gradient trains, the moving statistics, are buffers: their layer updates them.)
    chosen = [i for i, slot in enumerate(slots) if multipliers[slot.position] != 0 and slot.key in named]
    parameters = {slots[i].key: named[slots[i].key] for i in chosen}
    optimizer = Optimizer(
        settings.method,
        method,
        list(parameters.values()),
        [settings.learning_rate * multipliers[slots[i].position] for i in chosen],
        [l2[i] for i in chosen],
        [grad_clip[i] for i in chosen],
        [weight_clip[i] for i in chosen],
    )
    return optimizer, parameters


def _clip_values(value: Any, positions: list[tuple], option: str) -> list[float | None]:
    if value is None:
        return [None] * len(positions)
    values = per_array(value, positions, option, lambda p: 0.0, allow_none=True)
    for v in values:
        if v < 0:
            raise NetOptionError(f"NetTrain: {option} should be a positive number, but was {v!r}.")
    return [v if v > 0 else None for v in values]
