"""TrainingProgressCheckpointing: the option's forms, and the callback that writes the checkpoints.

Wolfram's forms, with Python spellings (``Quantity[n, "unit"]`` is the tuple ``(n, "unit")``):

* ``dir`` or ``("Directory", dir)``: a checkpoint after every round, in ``dir``
  (``checkpoint-round-00005.safetensors``); ``("File", path)``: one file, overwritten;
* ``(..., {sub-options})``: ``"Interval"``: ``k`` or ``(k, "Rounds")``, ``(k, "Batches")``,
  ``(t, "Seconds")``, ``(t, "Minutes")``, ``(t, "Hours")``; ``"MinimumInterval"``: at most one
  checkpoint per ``t`` seconds (a number, or ``(t, "Minutes")``...).

Checkpoints are written at the end of a round, as only there can a run continue exactly: an
interval of batches or of time writes one at the end of the first round that reaches it.

wlnet adds how many files a directory keeps (the Wolfram Language keeps every one; PyTorch
Lightning's ModelCheckpoint keeps ``save_top_k`` best files and the last): ``"KeepNewest"``: ``n``
(default 3) or ``All``, the newest checkpoints kept; ``"KeepBest"``: True (default) also keeps the
checkpoint of the best round by the ValidationSet's loss (the "TrainedNet"), when one was
written at that round. Older files of the run are deleted once the newer one is written, so the
newest complete checkpoint is always there to continue from; so are files of later rounds than
the one written (a run continued from an older checkpoint of its own starts its history anew from
there, so that the newest file is always the one to continue). "CheckpointingFiles" lists the
files kept.

A checkpoint that cannot be written (a full disk, a quota, a directory removed) stops training
after that round: NetTrain returns what it has trained, with ``"ReasonTrainingStopped"`` ->
``"CheckpointingFailed"`` and a warning that names the file, the cause and the newest complete
checkpoint, which continues the run once the disk has room. (PyTorch Lightning raises; returning
keeps the net trained in memory, which an exception would lose.)
"""

from __future__ import annotations

import math
import numbers
import os
import re
import tempfile
import time
from typing import Any, NamedTuple

from ..errors import NetError, NetOptionError, NetTrainWarning, check_options, warn
from ..symbols import All
from .checkpoint import checkpoint_file, checkpoint_files, write_checkpoint
from .loop import Callback, Run
from .rundir import RunLock, check_owner, lock_file, new_identity

__all__ = ["CheckpointSpec", "Checkpointing", "parse_checkpointing"]

SUBOPTIONS = ("Interval", "MinimumInterval", "KeepNewest", "KeepBest")
_SECONDS = {"Seconds": 1.0, "Minutes": 60.0, "Hours": 3600.0}
_FORMS = ('None, a directory, ("Directory", path), ("File", path), or either with a dict of sub-options '
          '{"Interval": k or (k, "Rounds"|"Batches"|"Seconds"|"Minutes"|"Hours"), "MinimumInterval": seconds, '
          '"KeepNewest": n or All, "KeepBest": True/False}')


class CheckpointSpec(NamedTuple):
    """A TrainingProgressCheckpointing setting, parsed."""

    kind: str  # "Directory" or "File"
    path: str
    interval: float  # in ``unit``: a whole number of rounds or batches, or seconds
    unit: str = "Rounds"  # "Rounds", "Batches" or "Seconds"
    minimum: float = 0.0  # seconds between two checkpoints at least
    keep: int | None = 3  # the newest files a directory keeps; None: all
    best: bool = True  # a directory also keeps the best validation round's file


def parse_checkpointing(value: Any) -> CheckpointSpec | None:
    """TrainingProgressCheckpointing as a :class:`CheckpointSpec`, or None (see the module doc)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return CheckpointSpec("Directory", os.fspath(value), 1)
    if not (isinstance(value, tuple) and len(value) in (2, 3) and value[0] in ("Directory", "File")
            and isinstance(value[1], (str, os.PathLike))):
        raise NetOptionError(f"NetTrain: TrainingProgressCheckpointing should be {_FORMS}, but was {value!r}.")
    kind, path = value[0], os.fspath(value[1])
    subs = value[2] if len(value) == 3 else {}
    if not isinstance(subs, dict):
        raise NetOptionError(
            f"NetTrain: the sub-options of TrainingProgressCheckpointing should be a dict, such as "
            f'{{"Interval": 5}}, but were {subs!r}.'
        )
    check_options("NetTrain: TrainingProgressCheckpointing", subs, SUBOPTIONS)
    if kind == "File":
        if not path.lower().endswith(".safetensors"):
            raise NetOptionError(
                f"NetTrain: the checkpoint file {path!r} should end in .safetensors: checkpoints are "
                "wlnet net files (Import reads them)."
            )
        if "KeepNewest" in subs or "KeepBest" in subs:
            raise NetOptionError(
                'NetTrain: "KeepNewest" and "KeepBest" choose which files a ("Directory", path) keeps; a '
                '("File", path) is one file, overwritten by each checkpoint.'
            )
    interval, unit = _interval(subs.get("Interval", 1))
    minimum = _seconds(subs.get("MinimumInterval", 0), "MinimumInterval", zero=True)
    keep = subs.get("KeepNewest", 3)
    if keep is not All and (isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or keep < 1):
        raise NetOptionError(
            f'NetTrain: the checkpointing "KeepNewest" should be a positive number of files or All, but was {keep!r}.'
        )
    best = subs.get("KeepBest", True)
    if not isinstance(best, bool):
        raise NetOptionError(f'NetTrain: the checkpointing "KeepBest" should be True or False, but was {best!r}.')
    return CheckpointSpec(kind, path, interval, unit, minimum, None if keep is All else int(keep), best)  # type: ignore[arg-type]


def _interval(value: Any) -> tuple[float, str]:
    """"Interval": rounds, ``(k, "Rounds"|"Batches")`` or a time."""
    if isinstance(value, tuple) and len(value) == 2 and value[1] in ("Rounds", "Batches"):
        count, unit = value
    elif isinstance(value, tuple) and len(value) == 2 and value[1] in _SECONDS:
        return _seconds(value, "Interval"), "Seconds"
    else:
        count, unit = value, "Rounds"
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise NetOptionError(
            f'NetTrain: the checkpointing "Interval" should be a positive number of rounds k, (k, "Rounds"), '
            f'(k, "Batches") or a time (t, "Seconds"|"Minutes"|"Hours"), but was {value!r}.'
        )
    return int(count), unit


def _seconds(value: Any, name: str, zero: bool = False) -> float:
    """A time in seconds: a number of seconds, or ``(t, "Seconds"|"Minutes"|"Hours")``."""
    amount, scale = (value[0], _SECONDS.get(value[1])) if isinstance(value, tuple) and len(value) == 2 else (
        value, 1.0)
    if (scale is None or isinstance(amount, bool) or not isinstance(amount, numbers.Real)
            or not math.isfinite(amount) or amount < 0 or amount == 0 and not zero):
        raise NetOptionError(
            f'NetTrain: the checkpointing "{name}" should be a {"non-negative" if zero else "positive"} number of '
            f'seconds or (t, "Seconds"|"Minutes"|"Hours"), but was {value!r}.'
        )
    return float(amount) * scale


class Checkpointing(Callback):
    """TrainingProgressCheckpointing (see the module doc): a net file that also holds what the run
    needs to continue exactly (:mod:`.checkpoint`), written under a temporary name, synced and
    renamed, so a crash mid-write never leaves a truncated checkpoint. Before the first round the
    place is checked (writable, a file target not a directory), the temporary files a killed run
    left are removed, the place is locked for this run and a directory holding another run's
    checkpoints is refused (:mod:`.rundir`). It acts last at a round's end, once the other callbacks
    have updated what they carry."""

    def __init__(self, spec: CheckpointSpec):
        self.spec = spec
        self.lock: RunLock | None = None
        self.last_batch = 0
        self.last_time = self.last_written = -math.inf

    # -- before the first round ----------------------------------------------------------------
    def check_place(self, run: Run) -> None:
        """The place can be written and holds no other run's checkpoints (NetError otherwise)."""
        kind, path = self.spec.kind, self.spec.path
        if kind == "File" and os.path.lexists(path) and not os.path.isfile(path):
            what = "a directory" if os.path.isdir(path) else "not a regular file"
            raise NetOptionError(
                f"NetTrain: the checkpoint file {path} is {what}; give a file name ending in .safetensors, or "
                f'("Directory", {path!r}) for a checkpoint file per round in that directory.'
            )
        directory = path if kind == "Directory" else os.path.dirname(os.path.abspath(path))
        name = None if kind == "Directory" else os.path.basename(path)
        try:
            os.makedirs(directory, exist_ok=True)
            for stale in os.listdir(directory):  # what a run killed while writing left behind
                if _is_temporary(stale, name):
                    os.unlink(os.path.join(directory, stale))
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            raise NetOptionError(
                f"NetTrain: checkpoints cannot be written to {path} ({error.strerror or error}); "
                "give TrainingProgressCheckpointing a place that can be written."
            ) from None
        if run.identity is None:
            run.identity = new_identity()
        if self.lock is None or not self.lock.held:  # a run training there is named first
            RunLock(path, lock_file(kind, path), run.identity).check()
        if kind == "Directory":
            check_owner(path, checkpoint_files(path), run.identity, run.continued)

    def on_train_start(self, run: Run) -> None:
        self.check_place(run)
        assert run.identity is not None
        self.lock = RunLock(self.spec.path, lock_file(self.spec.kind, self.spec.path), run.identity)
        self.lock.acquire()
        try:
            self.check_place(run)  # again, now that no other run can write there
        except BaseException:
            self.lock.release()
            raise
        self.last_batch, self.last_time = run.absolute_batch, time.perf_counter()

    def on_train_end(self, run: Run) -> None:
        if self.lock is not None:
            self.lock.release()

    # -- at a round's end ----------------------------------------------------------------------
    def on_round_end(self, run: Run) -> None:
        if self._due(run):
            self._write(run)
        self.last_batch = run.absolute_batch

    def _due(self, run: Run) -> bool:
        spec, now = self.spec, time.perf_counter()
        if spec.unit == "Rounds":
            due = run.round % spec.interval == 0
        elif spec.unit == "Batches":
            due = run.absolute_batch // spec.interval > self.last_batch // spec.interval
        else:
            due = now - self.last_time >= spec.interval
        return due and now - self.last_written >= spec.minimum

    def _write(self, run: Run) -> None:
        spec, record = self.spec, run.record
        directory = spec.kind == "Directory"
        file = checkpoint_file(spec.path, run.round) if directory else spec.path
        files = checkpoint_files(spec.path) if directory else {}
        kept = self._kept({**{r: f for r, f in files.items() if r < run.round}, run.round: file}, run)
        previous = list(record.checkpoints)
        # What the checkpoint records as the run's files is what is kept once it is written.
        record.checkpoints = [f for r, f in sorted(kept.items()) if r != run.round] if directory else []
        try:
            write_checkpoint(run, file)
        except (OSError, NetError) as error:
            cause = error if isinstance(error, OSError) else error.__cause__
            if not isinstance(cause, OSError):
                raise
            record.checkpoints = previous
            self._failed(run, file, cause, previous)
            return
        record.checkpoints.append(file)
        self.last_time = self.last_written = time.perf_counter()
        for r, old in files.items():
            if r not in kept:
                try:
                    os.unlink(old)
                except OSError:
                    pass  # (removed meanwhile, or not ours to remove: left as it is)

    def _kept(self, candidates: dict[int, str], run: Run) -> dict[int, str]:
        """The checkpoints (by round) a directory keeps: the newest ``keep`` and the best round's.
        Files of later rounds than this one (a run continued from an older checkpoint of its own)
        are not among them: the directory holds one history, whose newest file continues it."""
        rounds = sorted(candidates)
        chosen = set(rounds if self.spec.keep is None else rounds[-self.spec.keep:])
        if self.spec.best and run.record.best_round in candidates:
            chosen.add(run.record.best_round)
        return {r: candidates[r] for r in sorted(chosen)}

    def _failed(self, run: Run, file: str, cause: OSError, previous: list[str]) -> None:
        """Stop the run (its results are returned) with a warning naming the file and the cause."""
        hints = {28: "the disk is full", 122: "the disk quota is used up"}
        why = cause.strerror or str(cause)
        if cause.errno in hints:
            why += f": {hints[cause.errno]}"
        newest = (f"The newest complete checkpoint, {previous[-1]}, continues the run: "
                  f"NetTrain({self.spec.path!r}, data, ...) with the same data and options, once checkpoints can "
                  "be written there again." if previous else "No checkpoint of this run was written before.")
        warn(NetTrainWarning(
            f"NetTrain: the checkpoint of round {run.round} could not be written to {file} ({why}). Training "
            f'stopped after that round, and NetTrain returns what it trained, with "ReasonTrainingStopped" -> '
            f'"CheckpointingFailed". {newest}'
        ))
        run.reason = "CheckpointingFailed"  # (also after the last round: the checkpoint is what failed)


_TEMPORARY = re.compile(r"\.checkpoint-round-\d+\.safetensors\..+\.tmp")


def _is_temporary(name: str, file: str | None) -> bool:
    """Whether ``name`` is a temporary file of a checkpoint (of ``file``, or of any round)."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    return name.startswith(f".{file}.") if file is not None else bool(_TEMPORARY.fullmatch(name))
