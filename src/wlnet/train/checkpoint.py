"""NetTrain's checkpoints: the whole state of a run in a net file, and a run continued from one.

A checkpoint is a net file (:mod:`wlnet.files`; ``Import(file)`` gives the net trained so far)
whose extra tensors and data hold everything else the run needs to go on exactly as if it had
never stopped:

* ``%optimizer.<statistic>.<array path>``: the method's running statistics (ADAM's ``m`` and
  ``v``, ...), and under ``"Checkpoint"`` its step count;
* ``%module.<array path>``: the arrays at the run's precision, when it is not float32 (the net's
  own arrays are float32);
* ``%best.<array path>``: with a ValidationSet, the arrays of the best round so far (the
  "TrainedNet");
* ``%losses.batch``, ``%losses.round``, ``%losses.validation``: the loss history (float64); with
  several losses, also ``%losses.batchparts`` and ``%losses.validationparts``, each loss's own;
* ``%random.torch``: torch's random state; under ``"Checkpoint"``, the state of the generator
  that orders the data and the RandomSeeding it came from;
* under ``"Checkpoint"``: the round and batch counters, MaxTrainingRounds as resolved, the time
  trained, why the run stopped (if it did), the checkpoint files written, the callbacks' own
  state (the best validation loss, the stopping criterion's patience) and a fingerprint of the
  data and options, to warn when a run is continued with different ones.

``NetTrain(checkpoint, data, ...)`` with the same data and options as the run that wrote it
trains the rounds that were left and returns what the uninterrupted run would have returned (the
same arrays and loss history; the times differ). The Wolfram Language, given a checkpoint's net,
starts a new run (a new optimizer); this goes further.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import NetError, NetTrainWarning
from ..files import net_bytes, read_file, read_net_bytes
from ..layers.base import Layer
from ..symbols import Automatic
from ..writing import write_atomically

__all__ = ["Checkpoint", "checkpoint_file", "find_checkpoint", "json_number", "restore", "write_checkpoint"]

_NAME = re.compile(r"checkpoint-round-(\d+)\.safetensors$")
#: Reasons a run stopped that a continued run does not inherit: it was stopped from outside, or
#: by a limit the new call may raise.
_LIMITS = ("MaxTrainingRounds", "TimeGoal", "ManualStop")


def checkpoint_file(directory: str, round_number: int) -> str:
    """The checkpoint of round ``round_number`` in a checkpoint directory."""
    return os.path.join(directory, f"checkpoint-round-{round_number:05d}.safetensors")


@dataclass
class Checkpoint:
    """A checkpoint read back: its file, its net and its run state (JSON and tensors)."""

    file: str
    net: Layer
    state: dict
    tensors: dict[str, np.ndarray]

    def tensor(self, key: str) -> torch.Tensor:
        return torch.from_numpy(np.array(self.tensors[key]))

    def arrays(self, prefix: str) -> dict[str, torch.Tensor]:
        """The extra tensors ``%<prefix>.<array path>``, by array path."""
        head = f"%{prefix}."
        return {key[len(head):]: self.tensor(key) for key in self.tensors if key.startswith(head)}


# -- writing -----------------------------------------------------------------------------------------
def write_checkpoint(run: Any, file: str) -> str:
    """Write the state of ``run`` after its current round to ``file`` (atomically)."""
    record, optimizer = run.record, run.optimizer
    tensors: dict[str, torch.Tensor] = {
        f"%optimizer.{name}.{key}": value
        for name, values in optimizer.state().items()
        for key, value in zip(run.parameters, values)
    }
    if run.best_state is not None:
        tensors.update({f"%best.{key}": value for key, value in run.best_state.items()})
    state_dict = run.module.state_dict()
    if any(value.dtype != torch.float32 for value in state_dict.values()):
        tensors.update({f"%module.{key}": value for key, value in state_dict.items()})
    batch_losses = [chunk.double() for chunk in record.batch_losses]
    tensors["%losses.batch"] = torch.cat(batch_losses) if batch_losses else torch.zeros(0, dtype=torch.float64)
    tensors["%losses.round"] = torch.tensor(record.round_losses, dtype=torch.float64)
    tensors["%losses.validation"] = torch.tensor(record.validation_losses, dtype=torch.float64)
    if record.batch_parts:  # several losses: each one's, per batch and per validation
        tensors["%losses.batchparts"] = torch.cat(record.batch_parts)
    if record.validation_parts:
        tensors["%losses.validationparts"] = torch.tensor(record.validation_parts, dtype=torch.float64)
    tensors["%random.torch"] = torch.get_rng_state()
    rng = getattr(run.batches, "rng", None)
    state = {
        "Round": run.round,
        "AbsoluteBatch": run.absolute_batch,
        "Method": optimizer.method,
        "Step": optimizer.t,
        "MaxTrainingRounds": json_number(run.max_rounds) if isinstance(run.max_rounds, (int, float)) else None,
        "Elapsed": run.elapsed(),
        "Reason": run.reason,
        "Seed": run.seed,
        "DataOrder": None if rng is None else rng.bit_generator.state,
        "BatchLossCounts": [len(chunk) for chunk in batch_losses],
        "BestRound": record.best_round,
        "Files": list(record.checkpoints),
        "Callbacks": {type(c).__name__: c.state_dict() for c in run.callbacks if c.state_dict()},
        "Fingerprint": run.fingerprint,
    }
    return write_atomically(file, net_bytes(run.net_with(), tensors, {"Checkpoint": state}))


def json_number(value: float) -> Any:
    """A float as JSON holds it: itself when finite, else its text ("inf", "nan"); ``float()``
    reads either back."""
    return value if math.isfinite(value) else str(value)


def fingerprint(parts: list[Any]) -> str:
    """A short digest of the data's tensors and the options that make a run what it is."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            digest.update(part.detach().cpu().contiguous().numpy().tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:32]


# -- reading -----------------------------------------------------------------------------------------
def find_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The checkpoint at ``path``: that file, or the newest readable one in that directory (a
    damaged newer one is skipped with a warning naming it).

    Raises:
        NetError: no checkpoint there, or (a file) one that is damaged or is not a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return _read(path)
    rounds = sorted(((int(m.group(1)), name) for name in os.listdir(path) if (m := _NAME.fullmatch(name))),
                    reverse=True)
    for _, name in rounds:
        file = os.path.join(path, name)
        try:
            return _read(file)
        except NetError as error:
            warnings.warn(NetTrainWarning(f"NetTrain: skipping the checkpoint {file}: {error}"), stacklevel=4)
    raise NetError(
        f"NetTrain: the directory {path} has no readable checkpoint (checkpoint-round-NNNNN.safetensors files"
        f"{', all damaged' if rounds else ''}); start the run from a net instead."
    )


def _read(file: str) -> Checkpoint:
    where = f"NetTrain: the checkpoint {file}"
    contents = read_net_bytes(read_file(file, where), where)
    state = contents.extra.get("Checkpoint")
    if not isinstance(state, dict) or "Round" not in state:
        raise NetError(f"{where} is a net file, not a checkpoint; NetTrain(Import(path), ...) trains that net anew.")
    return Checkpoint(file, contents.net, state, contents.extra_tensors)


# -- continuing ---------------------------------------------------------------------------------------
@torch.no_grad()
def restore(run: Any, checkpoint: Checkpoint) -> None:
    """Put ``run`` (set up anew from the same data and options) in the state the checkpoint saved."""
    state = checkpoint.state
    try:
        _restore_arrays(run, checkpoint)
        optimizer = {name: [checkpoint.tensor(f"%optimizer.{name}.{key}") for key in run.parameters]
                     for name in run.optimizer.state()}
        run.optimizer.load_state(optimizer, int(state["Step"]))
        _restore_record(run, checkpoint)
        run.round, run.absolute_batch = int(state["Round"]), int(state["AbsoluteBatch"])
        if state["Reason"] not in _LIMITS:
            run.reason = state["Reason"]
        if state["MaxTrainingRounds"] is not None and run.max_rounds is Automatic:  # as resolved then
            run.set_max_rounds(float(state["MaxTrainingRounds"]))
        run.start -= float(state["Elapsed"])
        rng = getattr(run.batches, "rng", None)
        if rng is not None and state["DataOrder"] is not None:
            rng.bit_generator.state = state["DataOrder"]
        torch.set_rng_state(checkpoint.tensor("%random.torch"))
        for callback in run.callbacks:
            callback.load_state_dict(state["Callbacks"].get(type(callback).__name__, {}))
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise NetError(
            f"NetTrain: the checkpoint {checkpoint.file} does not fit this run ({type(error).__name__}: {error}); "
            "continue it with the data and options of the run that wrote it."
        ) from None
    if state.get("Fingerprint") != run.fingerprint:
        warnings.warn(NetTrainWarning(
            f"NetTrain: the data or options differ from those of the run that wrote the checkpoint "
            f"{checkpoint.file}; training goes on from it, but not as that run would have."
        ), stacklevel=4)


def _restore_arrays(run: Any, checkpoint: Checkpoint) -> None:
    exact = checkpoint.arrays("module")
    if exact:
        for key, value in run.module.state_dict().items():
            value.copy_(exact[key])
    best = checkpoint.arrays("best")
    if best:
        run.best_state = {key: value.to(run.module.state_dict()[key]) for key, value in best.items()}


def _restore_record(run: Any, checkpoint: Checkpoint) -> None:
    state, record = checkpoint.state, run.record
    batch = checkpoint.tensor("%losses.batch")
    record.batch_losses = list(torch.split(batch, [int(n) for n in state["BatchLossCounts"]]))
    record.round_losses = checkpoint.tensor("%losses.round").tolist()
    record.validation_losses = checkpoint.tensor("%losses.validation").tolist()
    if "%losses.batchparts" in checkpoint.tensors:
        parts = checkpoint.tensor("%losses.batchparts")
        record.batch_parts = list(torch.split(parts, [int(n) for n in state["BatchLossCounts"]]))
    if "%losses.validationparts" in checkpoint.tensors:
        record.validation_parts = checkpoint.tensor("%losses.validationparts").tolist()
    record.best_round = state["BestRound"]
    record.checkpoints = [*state["Files"], checkpoint.file]
    if record.round_losses:
        run.round_loss = record.round_losses[-1]
