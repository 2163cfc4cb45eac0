"""Data-parallel NetTrain on ``torch.distributed``: several processes train one net.

Every process holds all the data and draws the same global order of batches (the same seed), as
a single-process run does; each trains on its share of every global batch (the rows of rank r
are the r-th of ``world`` near-equal slices) through ``DistributedDataParallel``, which averages
the gradients. Each process's loss is weighted by its share of the batch, so the averaged
gradient is that of the global batch's mean loss, and the batch losses are summed across
processes: the run is the single-process run, up to the order of floating-point sums. The
optimizer then takes the same step everywhere, so every process ends with the same net.

Decisions are rank 0's: why and when the run stops (its time goal, its Ctrl-C, its progress
function), and how many rounds ``MaxTrainingRounds -> Automatic`` means; the other processes
follow after each batch. Rank 0 alone reports progress and writes checkpoints.

The processes come from ``torchrun`` (the environment it sets: ``RANK``, ``WORLD_SIZE``, ...;
NetTrain joins that group, or one the user initialized), or from ``TargetDevice -> ("CPU", n)`` /
``("GPU", All)``: NetTrain forks n - 1 processes that train beside it (this process is rank 0
and returns the results) and meet through a file store, with gloo on CPUs and NCCL on GPUs.

Restarts. A process of a data-parallel run can die (killed, out of memory, or gloo's own
``terminate called without an active exception`` on a busy machine); the run then continues from
its newest checkpoint, which continues exactly (:mod:`.checkpoint`), so the restarted run ends
with the arrays the uninterrupted one would have (bit for bit: same processes, same sums):

* under ``torchrun --max-restarts N``, torchrun starts every process again, and NetTrain, in the
  same unchanged script, sees ``TORCHELASTIC_RESTART_COUNT > 0`` and continues from the newest
  checkpoint in its TrainingProgressCheckpointing place (rank 0 chooses it and names it to the
  others), with a log line (logger ``"wlnet"``); without a checkpoint yet, it trains from the
  start. Each start of the process group uses its own keys in torchrun's store (which outlives
  the processes, and which an earlier start's keys would otherwise answer with dead addresses:
  ``Gloo connectFullMesh failed ... Connection refused``), as does each NetTrain of a script;
* with ``TargetDevice -> ("CPU", n)``, NetTrain itself starts the processes again when one of
  them dies (by a signal or with an exit code), at most :data:`MAX_RESTARTS` times, each time
  from the newest checkpoint; then a NetError names the cause and the checkpoint that continues
  the run. A process that stops answering (a hang) is not restarted: its collective fails after
  :data:`TIMEOUT`, with a NetError. Rank 0 is NetTrain's own process: if it dies, nothing is left
  to restart it (torchrun restarts every rank).

CPU cost (``bench/ddp_overhead.py``): what a second process adds is DDP's gradient all-reduce over
gloo, the same for NetTrain as for a plain DistributedDataParallel loop of the same model and
batches (NetTrain adds no collective per batch: the losses are summed once a round, the stop
decision is broadcast once a round, or per batch only with a TimeGoal); plus, once per process,
DDP's constructor importing ``torch._dynamo`` (about a CPU second), which a short run notices.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import signal
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from ..errors import NetError, NetOptionError
from .checkpoint import Checkpoint, checkpoint_files, find_checkpoint

__all__ = ["Group", "continued", "join", "launch"]

logger = logging.getLogger("wlnet")

T = TypeVar("T")

#: How long a collective waits for the other processes before the run fails (a process that died
#: closes its connections, which fails the others at once; this bounds a hung one).
TIMEOUT = datetime.timedelta(seconds=120)
#: Why a run stops, as rank 0 tells the others (a code per reason; 0: it goes on).
REASONS = (None, "MaxTrainingRounds", "TimeGoal", "ManualStop", "TrainingStoppingCriterion",
           "TrainingProgressFunction", "WeightsDiverged", "CheckpointingFailed")
#: How many times ``TargetDevice -> ("CPU", n)`` starts its processes again after one died (torchrun
#: has its own count, ``--max-restarts``).
MAX_RESTARTS = 3
#: How long rank 0, its collective failed, waits for a forked process's exit to learn why.
_DEATH_PATIENCE = 5.0

_starts = 0  # the process groups NetTrain started from torchrun's environment in this process
_attempt: int | None = None  # launch's start of its processes (0, 1, ...), inherited by the forked ones


@dataclass
class Group:
    """This process's place in a data-parallel run."""

    rank: int
    world: int
    device: torch.device
    owned: bool  # NetTrain initialized the process group (and destroys it at the end)
    restart: int = 0  # how many times the run's processes were started again before this start

    def split(self, xs: dict[str, torch.Tensor], ys: dict[str, torch.Tensor]) -> tuple[dict, dict, float]:
        """This process's rows of a global batch (its inputs and targets, by port) and their share
        of it. A process whose slice is empty (a batch smaller than the group) trains on one row
        with weight 0, as DDP needs every process to take part in every step."""
        n = next(iter(xs.values())).shape[0]
        start, stop = n * self.rank // self.world, n * (self.rank + 1) // self.world
        share = (stop - start) / n
        if start == stop:
            start, stop = 0, 1
        return ({port: x[start:stop] for port, x in xs.items()}, {port: y[start:stop] for port, y in ys.items()},
                share)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (on this process's device)."""
        moved = tensor.to(self.device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.to(tensor.device)

    def reason(self, reason: str | None) -> str | None:
        """Rank 0's reason to stop (or None), the same in every process."""
        code = torch.tensor([REASONS.index(reason) if reason in REASONS else 0], device=self.device)
        dist.broadcast(code, src=0)
        return REASONS[int(code.item())]

    def number(self, value: float) -> float:
        """Rank 0's ``value`` (NaN for none), the same in every process."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def value(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable one), the same in every process."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def text(self, value: str) -> str:
        """Rank 0's ``value``, the same in every process (as bytes: nothing is unpickled)."""
        data = value.encode()
        size = torch.tensor([len(data)], dtype=torch.int64, device=self.device)
        dist.broadcast(size, src=0)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.rank == 0 and data:
            buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        buffer = buffer.to(self.device)
        dist.broadcast(buffer, src=0)
        return bytes(buffer.cpu().tolist()).decode()

    @torch.no_grad()
    def merge(self, tensors: list[torch.Tensor], before: list[torch.Tensor], share: float) -> None:
        """Every process's change of ``tensors`` since ``before`` (the same values in every process),
        weighted by its share of the batch and summed, in every process: the moving statistics that
        each process's forward pass updated with its rows of the batch become the same everywhere
        (the moving mean as the whole batch's mean would have moved it; the moving variance by the
        mean of the shares' variances, each process having normalized with its own rows' statistics,
        as DDP does without SyncBatchNorm). An unchanged (frozen) tensor stays exactly as it was."""
        changes = torch.cat([(t - b).reshape(-1) for t, b in zip(tensors, before)]) * share
        total = self.sum(changes)
        for t, b, change in zip(tensors, before, total.split([t.numel() for t in tensors])):
            t.copy_(b + change.view_as(t))

    def wrap(self, module: torch.nn.Module, unused: bool = False) -> torch.nn.Module:
        """``module`` in DistributedDataParallel, which averages the gradients; ``unused``: some
        parameters may get no gradient (they feed only an output no loss reads)."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True,
                                                         find_unused_parameters=unused)

    def close(self) -> None:
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


def join(devices: tuple[torch.device, ...]) -> Group | None:
    """The group this NetTrain trains in: the process group already initialized (by the user, or
    by :func:`launch`), or the one torchrun's environment describes; None for a single process."""
    owned = False
    if not dist.is_initialized():
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world <= 1 or "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
            return None
        backend = "nccl" if devices[0].type == "cuda" else "gloo"
        dist.init_process_group(backend, store=_torchrun_store(), rank=int(os.environ["RANK"]), world_size=world,
                                timeout=TIMEOUT)
        owned = True
    world, rank = dist.get_world_size(), dist.get_rank()
    if world == 1:
        return None
    restart = _attempt if _attempt is not None else _whole(os.environ.get("TORCHELASTIC_RESTART_COUNT"))
    device = devices[rank % len(devices)] if len(devices) > 1 else devices[0]
    if device.type == "cuda" and len(devices) == 1:  # torchrun: a GPU per local process
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % max(torch.cuda.device_count(), 1))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Group(rank, world, device, owned, restart)


def _whole(text: str | None) -> int:
    """A count from the environment: 0 when absent or not a small whole number."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else 0


def _torchrun_store() -> dist.Store:
    """The store of a process group started from torchrun's environment, under keys of its own.

    ``env://`` (MASTER_ADDR, MASTER_PORT) reaches the store of torchrun's agent, which lives as
    long as torchrun, across ``--max-restarts``; ``init_process_group`` keys every start alike, so
    a restarted rank could read an address the previous start's rank 0 published there and fail
    (``Gloo connectFullMesh failed ... Connection refused``), and a script's second NetTrain could
    read the first's. The keys here are per restart (``TORCHELASTIC_RESTART_COUNT``) and per
    NetTrain of this process (the same count in every rank of one script)."""
    global _starts
    _starts += 1
    store, _, _ = next(dist.rendezvous("env://", timeout=TIMEOUT))
    restart = _whole(os.environ.get("TORCHELASTIC_RESTART_COUNT"))
    return dist.PrefixStore(f"wlnet/restart-{restart}/group-{_starts}/", store)


def newest(checkpointing: Any) -> Checkpoint | None:
    """The newest readable checkpoint in a TrainingProgressCheckpointing place (its parsed
    setting, or None), or None: no place, nothing there yet, or nothing readable."""
    if checkpointing is None:
        return None
    kind, path = checkpointing.kind, checkpointing.path
    if not (checkpoint_files(path) if kind == "Directory" else os.path.isfile(path)):
        return None
    try:
        return find_checkpoint(path)
    except NetError as error:
        logger.warning("%s", error)
        return None


def continued(group: Group | None, checkpointing: Any, resume: Checkpoint | None) -> Checkpoint | None:
    """What a process of a restarted data-parallel run continues from: the newest checkpoint in
    its TrainingProgressCheckpointing place, as rank 0 finds it (and names it to the others);
    ``resume`` (what NetTrain was given) on the first start, or when no checkpoint is there yet."""
    if group is None or group.restart == 0:
        return resume
    where = f"NetTrain: restart {group.restart} of the data-parallel run"
    found = newest(checkpointing) if group.rank == 0 else None
    file = group.text("" if found is None else found.file)
    if not file:
        if group.rank == 0:
            how = "from the checkpoint it was given" if resume is not None else "from the start"
            why = ("it writes no checkpoints (TrainingProgressCheckpointing)" if checkpointing is None else
                   f"{checkpointing.path} has no checkpoint yet")
            logger.warning("%s: training again %s, as %s.", where, how, why)
        return resume
    checkpoint = found if found is not None else find_checkpoint(file)
    if group.rank == 0:
        logger.warning("%s: continuing from the checkpoint %s (round %s).", where, file, checkpoint.state.get("Round"))
    return checkpoint


def launch(devices: tuple[torch.device, ...], work: Callable[[], T], checkpointing: Any = None) -> T:
    """``work()`` in ``len(devices)`` processes: this one (rank 0, whose result is returned) and
    forked ones (ranks 1, 2, ...), in a process group that ``work`` finds with :func:`join`. When a
    forked process dies, all of them start again, at most :data:`MAX_RESTARTS` times; ``work``
    then continues from the newest checkpoint in ``checkpointing`` (:func:`continued`), and this
    process's random states are put back as they were, so that a start with no checkpoint yet
    trains what the first did.

    Raises:
        NetError: a process still died after the restarts (naming why, and the checkpoint that
            continues the run), or another process failed while this one's collective waited
            (its error is printed by it), or stopped answering.
    """
    global _attempt
    count = len(devices)
    backend = "nccl" if devices[0].type == "cuda" else "gloo"
    if backend == "nccl" and torch.cuda.is_initialized():
        raise NetOptionError(
            "NetTrain: TargetDevice with several GPUs starts its processes with fork, which CUDA allows only "
            "before this process has used the GPU; run the script with torchrun --nproc_per_node N instead."
        )
    states = np.random.get_state(), torch.get_rng_state()
    cause = ""
    try:
        for attempt in range(MAX_RESTARTS + 1):
            if attempt:
                np.random.set_state(states[0])
                torch.set_rng_state(states[1])
            _attempt = attempt
            try:
                return _start(devices, backend, work)
            except _DiedError as died:
                cause = died.cause
                if attempt < MAX_RESTARTS:
                    logger.warning("NetTrain: in the data-parallel run, %s; starting its %d processes again "
                                   "(restart %d of at most %d).", cause, count, attempt + 1, MAX_RESTARTS)
    finally:
        _attempt = None
    found = newest(checkpointing)
    if found is not None:
        then = (f"the newest checkpoint, {found.file} (round {found.state.get('Round')}), continues the run: "
                f"NetTrain({found.file!r}, data, ...)")
    elif checkpointing is None:
        then = "it wrote no checkpoints: with TrainingProgressCheckpointing, a run continues from its newest one"
    else:
        then = f"it wrote no checkpoint yet in {checkpointing.path}"
    raise NetError(
        f"NetTrain: the data-parallel run stopped: another of its {count} processes failed or stopped answering: "
        f"{cause}, also after {MAX_RESTARTS} restarts. Its own error, if it had one, is printed above; {then}."
    )


class _DiedError(Exception):
    """A forked process of a data-parallel run died (``cause`` says which and how)."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


def _start(devices: tuple[torch.device, ...], backend: str, work: Callable[[], T]) -> T:
    """One start of :func:`launch`'s processes: ``work()`` here and in the forked ones.

    Raises:
        _DiedError: a forked process died (a collective here failed, and that process has exited).
        NetError: a collective here failed, and no forked process has exited.
    """
    count = len(devices)
    directory = tempfile.mkdtemp(prefix="wlnet-parallel-")
    store = os.path.join(directory, "store")
    children = [_fork(rank, count, backend, store, work) for rank in range(1, count)]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // count))  # the processes share this machine's cores
    patience = 2.0  # after a failure here, the others wait for this process in vain: kill them soon
    try:
        try:
            _initialize(0, count, backend, store)
            result = work()
            patience = 30.0  # the others end their own work
            return result
        except (RuntimeError, dist.DistBackendError) as error:  # a collective failed: a process is gone
            died = _death(children)
            if died is not None:
                patience = 0.0  # the others of a failed start are killed at once
                raise _DiedError(died) from None
            raise NetError(
                f"NetTrain: the data-parallel run stopped: another of its {count} processes failed or stopped "
                f"answering ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Its own "
                "error, if it had one, is printed above; the newest checkpoint, if any, can continue the run."
            ) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        torch.set_num_threads(threads)
        _reap(children, patience)
        shutil.rmtree(directory, ignore_errors=True)


def _death(children: list[int]) -> str | None:
    """How the first forked process to die did ("process 2 of 3 was killed by signal SIGKILL"), waiting
    up to :data:`_DEATH_PATIENCE` seconds for one to exit; None when none did. A process killed by a
    signal is named before one that exited with an error, which may only have followed it."""
    deadline = time.monotonic() + _DEATH_PATIENCE
    exits: dict[int, int] = {}
    while not exits and time.monotonic() < deadline:
        time.sleep(0.01)
        for rank, pid in enumerate(children, 1):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                exits[rank] = os.waitstatus_to_exitcode(status)
    if not exits:
        return None
    for reaped in exits:
        children[reaped - 1] = 0
    rank, code = min(exits.items(), key=lambda item: (item[1] >= 0, item[0]))
    if code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    return f"process {rank + 1} of {len(children) + 1} (rank {rank}) {how}"


def _initialize(rank: int, count: int, backend: str, store: str) -> None:
    dist.init_process_group(backend, store=dist.FileStore(store, count), rank=rank, world_size=count,
                            timeout=TIMEOUT)


def _fork(rank: int, count: int, backend: str, store: str, work: Callable[[], Any]) -> int:
    """A forked process that runs ``work`` as ``rank`` and exits (never returning to the caller)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a threaded process (Python 3.12+)
        pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is rank 0's to handle; it tells the others
        torch.set_num_threads(1)  # torch's thread pool does not survive fork; one thread per process
        _initialize(rank, count, backend, store)
        work()
        code = 0
    except BaseException:  # noqa: BLE001 - a forked process reports any failure and exits
        traceback.print_exc()
    finally:
        try:
            if dist.is_initialized():
                dist.destroy_process_group()
        finally:
            os._exit(code)
    return pid  # not reached


def _reap(children: list[int], patience: float = 30.0) -> None:
    """Wait for the forked processes to exit; kill those still there after ``patience`` seconds.
    (A 0 in ``children`` is one already reaped.)"""
    deadline = time.monotonic() + patience
    for pid in children:
        if not pid:
            continue
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
