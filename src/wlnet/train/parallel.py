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
"""

from __future__ import annotations

import datetime
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

import torch
import torch.distributed as dist

from ..errors import NetError, NetOptionError

__all__ = ["Group", "join", "launch"]

T = TypeVar("T")

#: How long a collective waits for the other processes before the run fails (a process that died
#: closes its connections, which fails the others at once; this bounds a hung one).
TIMEOUT = datetime.timedelta(seconds=120)
#: Why a run stops, as rank 0 tells the others (a code per reason; 0: it goes on).
REASONS = (None, "MaxTrainingRounds", "TimeGoal", "ManualStop", "TrainingStoppingCriterion",
           "TrainingProgressFunction", "WeightsDiverged")


@dataclass
class Group:
    """This process's place in a data-parallel run."""

    rank: int
    world: int
    device: torch.device
    owned: bool  # NetTrain initialized the process group (and destroys it at the end)

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
        dist.init_process_group(backend, timeout=TIMEOUT)
        owned = True
    world, rank = dist.get_world_size(), dist.get_rank()
    if world == 1:
        return None
    device = devices[rank % len(devices)] if len(devices) > 1 else devices[0]
    if device.type == "cuda" and len(devices) == 1:  # torchrun: a GPU per local process
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % max(torch.cuda.device_count(), 1))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Group(rank, world, device, owned)


def launch(devices: tuple[torch.device, ...], work: Callable[[], T]) -> T:
    """``work()`` in ``len(devices)`` processes: this one (rank 0, whose result is returned) and
    forked ones (ranks 1, 2, ...), in a process group that ``work`` finds with :func:`join`.

    Raises:
        NetError: another process failed (its error is printed by it) or stopped answering.
    """
    count = len(devices)
    backend = "nccl" if devices[0].type == "cuda" else "gloo"
    if backend == "nccl" and torch.cuda.is_initialized():
        raise NetOptionError(
            "NetTrain: TargetDevice with several GPUs starts its processes with fork, which CUDA allows only "
            "before this process has used the GPU; run the script with torchrun --nproc_per_node N instead."
        )
    directory = tempfile.mkdtemp(prefix="wlnet-parallel-")
    store = os.path.join(directory, "store")
    children = [_fork(rank, count, backend, store, work) for rank in range(1, count)]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // count))  # the processes share this machine's cores
    try:
        _initialize(0, count, backend, store)
        try:
            return work()
        except (RuntimeError, dist.DistBackendError) as error:  # a collective failed: a process is gone
            raise NetError(
                f"NetTrain: the data-parallel run stopped: another of its {count} processes failed or stopped "
                f"answering ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Its own "
                "error, if it had one, is printed above; the newest checkpoint, if any, can continue the run."
            ) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        torch.set_num_threads(threads)
        _reap(children)
        shutil.rmtree(directory, ignore_errors=True)


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
    """Wait for the forked processes to exit; kill those still there after ``patience`` seconds."""
    deadline = time.monotonic() + patience
    for pid in children:
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
