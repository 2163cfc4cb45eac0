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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import NetError, NetTrainWarning, shortened, warn
from ..files import net_bytes, read_file, read_net_bytes
from ..layers.base import Layer
from ..symbols import Automatic
from ..writing import write_atomically
from .checkpointstate import check_state

__all__ = ["Checkpoint", "checkpoint_file", "checkpoint_files", "find_checkpoint", "json_number", "restore",
           "write_checkpoint"]

_NAME = re.compile(r"checkpoint-round-(\d+)\.safetensors$")
#: Reasons a run stopped that a continued run does not inherit: it was stopped from outside, or
#: by a limit the new call may raise.
_LIMITS = ("MaxTrainingRounds", "TimeGoal", "ManualStop")


def checkpoint_file(directory: str, round_number: int) -> str:
    """The checkpoint of round ``round_number`` in a checkpoint directory."""
    return os.path.join(directory, f"checkpoint-round-{round_number:05d}.safetensors")


def checkpoint_files(directory: str) -> dict[int, str]:
    """The checkpoint files of a directory, by round (none when it does not exist)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    return {int(m.group(1)): os.path.join(directory, name) for name in names if (m := _NAME.fullmatch(name))}


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
        "Run": run.identity,
    }
    return write_atomically(file, net_bytes(run.net_with(), tensors, {"Checkpoint": state}))


def json_number(value: float) -> Any:
    """A float as JSON holds it: itself when finite, else its text ("inf", "nan"); ``float()``
    reads either back."""
    return value if math.isfinite(value) else str(value)


def fingerprint(parts: dict[str, Any]) -> dict[str, str]:
    """What makes a run what it is, part by part, so that a continued run can say which part
    differs: a short digest of each list of tensors (the data), the text of each option's value."""
    prints = {}
    for name, part in parts.items():
        if isinstance(part, list):
            digest = hashlib.sha256()
            for tensor in part:
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            prints[name] = digest.hexdigest()[:32]
        else:
            prints[name] = repr(part)
    return prints


# -- reading -----------------------------------------------------------------------------------------
def find_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The checkpoint at ``path``: that file, or the newest readable one in that directory (a
    damaged newer one is skipped with a warning naming it, what is damaged, and the older
    checkpoint used instead).

    Raises:
        NetError: no checkpoint there, or (a file) one that is damaged or is not a checkpoint; a
            directory whose checkpoints are of several runs (:func:`.rundir.check_one_run`).
    """
    from .rundir import check_one_run

    path = os.fspath(path)
    if not os.path.isdir(path):
        return _read(path)
    files = checkpoint_files(path)
    skipped: list[tuple[str, str]] = []
    for round_number in sorted(files, reverse=True):
        try:
            checkpoint = _read(files[round_number])
        except NetError as error:
            skipped.append((files[round_number], _reason(error, files[round_number])))
            continue
        check_one_run(path, files, checkpoint.state.get("Run") or {})
        for file, reason in skipped:
            warn(NetTrainWarning(
                f"NetTrain: skipping the checkpoint {file}, which is damaged ({reason}); the run continues from the "
                f"older checkpoint {checkpoint.file} (round {checkpoint.state['Round']})."
            ))
        return checkpoint
    damaged = "".join(f"\n  {file}: {reason}" for file, reason in skipped)
    raise NetError(
        f"NetTrain: the directory {path} has no readable checkpoint (checkpoint-round-NNNNN.safetensors files"
        f"{', all damaged:' if skipped else ''}){damaged}{chr(10) if skipped else ' '}Start the run from a net "
        "instead."
    )


#: What a checkpoint's own tensors hold, in words: the warning names them so, not by their keys.
_TENSOR_WORDS = {"random": "random-number state", "optimizer": "optimizer state", "losses": "loss history",
                 "best": "best round's arrays", "module": "arrays at the run's working precision"}


def _reason(error: NetError, file: str) -> str:
    """Why a checkpoint could not be read, without the "NetTrain: the checkpoint F:" the warning
    already says, and with its own tensors ("%random.torch") named in words."""
    text = str(error).removeprefix(f"NetTrain: the checkpoint {file}: ").rstrip(".")

    def words(match: re.Match) -> str:
        return f"its {_TENSOR_WORDS.get(match.group(2), 'training state')}"

    return re.sub(r"""the (array|tensor) ["']%(\w+)[^"']*["']""", words, text)


def _read(file: str) -> Checkpoint:
    where = f"NetTrain: the checkpoint {file}"
    contents = read_net_bytes(read_file(file, where), where)
    state = contents.extra.get("Checkpoint")
    if not isinstance(state, dict) or "Round" not in state:
        raise NetError(f"{where} is a net file, not a checkpoint; NetTrain(Import(path), ...) trains that net anew.")
    check_state(state, contents.extra_tensors, where)
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
    _continue_run(run, checkpoint)


def _continue_run(run: Any, checkpoint: Checkpoint) -> None:
    """The continued run's identity: that of the run that wrote the checkpoint, or, with other data
    or options, a new run's that records where it came from (which may not write into the first
    run's directory: checked here, before the warning that says what differs). A RandomSeeding
    other than the checkpoint's is ignored, with a warning: the run keeps its own."""
    from .rundir import new_identity

    state = checkpoint.state
    differences = _differences(state.get("Fingerprint"), run.fingerprint)
    changed = [name for name in differences if name != "RandomSeeding"]
    identity = state.get("Run") or None
    run.continued = True
    run.identity = identity if identity and not changed else new_identity(identity["Id"] if identity else None)
    for callback in run.callbacks:
        if hasattr(callback, "check_place"):
            callback.check_place(run)
    if changed:
        warn(NetTrainWarning(
            f"NetTrain: the data or options differ from those of the run that wrote the checkpoint "
            f"{checkpoint.file}: {', '.join(differences[name] for name in changed)}. Training goes on from it, but "
            "not as that run would have."
        ))
    if "RandomSeeding" in differences:
        seed = state["Seed"]
        warn(NetTrainWarning(
            f"NetTrain: {differences['RandomSeeding']}; the continued run keeps the seeding {seed!r} of the run that "
            f"wrote the checkpoint {checkpoint.file} (the order of its data and DropoutLayer's masks come from it). "
            f"To train with another seeding, start a new run from its net: NetTrain(Import({checkpoint.file!r}), "
            "..., RandomSeeding=...)."
        ))


#: The parts of a run's fingerprint (training.py), in words.
_PARTS = {"TrainingData": "the training data", "ValidationSet": "the validation set"}


def _differences(recorded: Any, now: dict[str, str]) -> dict[str, str]:
    """The parts of the fingerprint that differ, each described in words."""
    if not isinstance(recorded, dict):  # an older wlnet's single digest
        return {"Fingerprint": "the checkpoint, written by an older wlnet, recorded them as one digest, "
                               "which differs"}
    found = {}
    for name, value in now.items():
        if name not in recorded or recorded[name] == value:
            continue
        if name in _PARTS:
            found[name] = _PARTS[name]
        elif name == "RandomSeeding":
            found[name] = f"RandomSeeding is {shortened(value, 40)} here but was {shortened(recorded[name], 40)}"
        else:
            found[name] = f"{name} ({shortened(recorded[name], 60)} then, {shortened(value, 60)} now)"
    return found


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
