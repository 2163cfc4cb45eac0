"""The training loop: :func:`fit` runs rounds of batches over a :class:`Run` until something stops it.

Everything that is not the optimization step itself (validation, progress reporting,
checkpoints, stopping criteria, the time goal, divergence) is a :class:`Callback` with a few
hooks, called in the order given, as Keras' and Lightning's callbacks are:

* ``on_train_start(run)`` once, before the first round;
* ``on_batch_end(run)`` after every optimizer step (a callback may stop the run mid-round);
* ``on_round_end(run)`` after every round, once its losses are recorded; a callback that discards
  the round (divergence) makes the loop skip the remaining ones;
* ``on_train_end(run)`` once, also when the loop ends with an exception: for cleanup only.

A callback that carries state from round to round (the best validation loss, a patience count)
gives it with ``state_dict()`` and takes it back with ``load_state_dict()``, so that a run
continued from a checkpoint (:mod:`.checkpoint`) goes on exactly.

A callback stops the run with ``run.stop(reason)``; the first reason given wins and becomes
``"ReasonTrainingStopped"``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..arrays import FLOAT32_MAX
from ..lower import array_buffers, with_arrays
from ..options import computing
from ..symbols import Automatic
from .loss import Losses, batch_loss
from .results import Record

__all__ = ["Callback", "Run", "fit"]

_AUTOMATIC_SECONDS = 20.0  # MaxTrainingRounds -> Automatic: about this much training


class Callback:
    """A part of a training run with hooks the loop calls (see the module doc); each does nothing
    unless overridden."""

    def on_train_start(self, run: Run) -> None:
        """Before the first round."""

    def on_batch_end(self, run: Run) -> None:
        """After each optimizer step."""

    def on_round_end(self, run: Run) -> None:
        """After each round, its losses recorded."""

    def on_train_end(self, run: Run) -> None:
        """After the last round, or when the loop raised: release what the callback holds."""

    def state_dict(self) -> dict[str, Any]:
        """What the callback carries from round to round, as JSON data, for checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (a checkpoint's)."""


def fit(run: Run, callbacks: Sequence[Callback]) -> None:
    """Train until a callback stops the run, or Ctrl-C does (see :func:`_interruptible`)."""
    run.callbacks = list(callbacks)
    try:
        with _interruptible(run), _own_random_state(run):
            for callback in callbacks:
                callback.on_train_start(run)
            while run.reason is None:
                _round(run, callbacks)
    finally:
        for callback in callbacks:
            callback.on_train_end(run)


def _round(run: Run, callbacks: Sequence[Callback]) -> None:
    run.begin_round()
    for x, y in run.batches.round(run.round, run.absolute_batch):
        run.step(x, y)
        for callback in callbacks:
            callback.on_batch_end(run)
        if run.time_goal is not None:  # the only batch-level stop: in a data-parallel run, rank 0's clock
            run.agree()
        if run.reason is not None and run.group is None or run.reason == "TimeGoal":
            break
    run.end_round()
    for callback in callbacks:
        callback.on_round_end(run)
        if run.discarded:
            break
    run.agree()


@contextlib.contextmanager
def _own_random_state(run: Run) -> Iterator[None]:
    """For a module that draws random numbers while it trains (DropoutLayer's): PyTorch's random
    state forked for the run (the caller's is put back afterwards), which each round seeds anew
    from the RandomSeeding (:meth:`Run.begin_round`), so that runs with the same seeding draw the
    same masks, also when continued from a checkpoint."""
    if not run.random:
        yield
        return
    # The module's devices, from all its tensors: the trained parameters may be none (moving statistics only).
    tensors = (*run.module.parameters(), *run.module.buffers())
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        yield


def round_seed(seed: Any, number: int, rank: int = 0) -> int:
    """The seed of PyTorch's generator for round ``number`` of a run seeded with ``seed`` (on
    process ``rank`` of a data-parallel run, whose processes drop different elements)."""
    digest = hashlib.sha256(repr(("random layers", seed, number, rank)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@contextlib.contextmanager
def _interruptible(run: Run) -> Iterator[None]:
    """Ctrl-C (SIGINT) stops the run after the current batch, as "ManualStop" (Wolfram's); a
    second Ctrl-C raises KeyboardInterrupt at once. Only in the main thread, where Python
    delivers signals; the handler that was there before is put back afterwards.

    Python runs a signal's handler only between bytecodes, once for any number of deliveries in
    between: two presses while a long PyTorch operation runs would call the handler once, and stop
    the run as if pressed once. So the presses are counted as they come, through the signal module's
    wakeup file descriptor (each delivery writes a byte there, in C, at once), and the handler reads
    how many came: two or more in one call raise KeyboardInterrupt. Bytes of other signals are passed
    on to the wakeup descriptor that was set before (an asyncio loop's), if any."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    counter = _PressCounter()

    def handler(signum: int, frame: Any) -> None:
        presses = counter.presses()
        if run.interrupted or presses > 1:
            raise KeyboardInterrupt
        run.interrupted = True
        run.stop("ManualStop")

    previous = signal.signal(signal.SIGINT, handler)
    counter.start()
    try:
        yield
    finally:
        counter.stop()
        signal.signal(signal.SIGINT, previous)


class _PressCounter:
    """Counts the SIGINTs delivered since it was last asked, from the wakeup file descriptor."""

    def __init__(self) -> None:
        self.read = self.write = -1
        self.previous = -1

    def start(self) -> None:
        try:
            self.read, self.write = os.pipe()
            os.set_blocking(self.read, False)
            os.set_blocking(self.write, False)
            self.previous = signal.set_wakeup_fd(self.write, warn_on_full_buffer=False)
        except (OSError, ValueError):  # no pipes, or not allowed here: one press per handler call
            self.stop()

    def presses(self) -> int:
        if self.read < 0:
            return 1
        data = b""
        try:
            while chunk := os.read(self.read, 4096):
                data += chunk
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return 1
        others = bytes(b for b in data if b != signal.SIGINT)
        if others and self.previous >= 0:
            try:
                os.write(self.previous, others)
            except OSError:
                pass
        return max(1, len(data) - len(others))

    def stop(self) -> None:
        if self.write >= 0:
            try:
                current = signal.set_wakeup_fd(self.previous)
                if current != self.write:  # another one was set meanwhile: it stays
                    signal.set_wakeup_fd(current)
            except (OSError, ValueError):
                pass
        for fd in (self.read, self.write):
            if fd >= 0:
                os.close(fd)
        self.read = self.write = -1


#: How many of :meth:`Run.state`'s copies a run keeps for reuse: the divergence check's, the one
#: being made, and validation's best.
_KEPT_STATES = 3


class Run:
    """The state of one training run: the net and its lowered module, the optimizer, the batches,
    the counters, the losses, and why it stopped. Callbacks read it and act through its methods."""

    def __init__(self, net: Any, module: torch.nn.Module, parameters: dict[str, torch.nn.Parameter],
                 optimizer: Any, batches: Any, losses: Losses, record: Record, max_rounds: Any,
                 time_goal: float | None, start: float, seed: Any = None, fingerprint: Any = None,
                 group: Any = None):
        self.net, self.module, self.parameters = net, module, parameters  # parameters: the trained ones, by key
        # The arrays the forward pass updates (moving statistics): kept and restored with the parameters.
        self.buffers = array_buffers(module)
        # In a data-parallel run (train/parallel.py), the steps go through DDP's wrapper of the module.
        self.group = group
        # (DDP refuses a module without parameters to train: then only moving statistics are, see step.)
        # (An output port no loss reads leaves the arrays that only it uses without gradients: DDP must know.)
        unused = {loss.port for loss in losses} != set(net._output_names)
        self.stepped = module if group is None or not parameters else group.wrap(module, unused)
        self.mixed = False  # WorkingPrecision -> "Mixed": the steps compute under bfloat16 autocast
        self.optimizer, self.batches, self.losses, self.record = optimizer, batches, losses, record
        self.max_rounds, self.time_goal, self.start = max_rounds, time_goal, start
        self.seed, self.fingerprint = seed, fingerprint  # what a checkpoint keeps to continue the run
        # Which run this is (:mod:`.rundir`), and whether it continues one from a checkpoint.
        self.identity: dict[str, Any] | None = None
        self.continued = False
        # Whether a module draws random numbers while it trains (DropoutLayer's): then each round
        # seeds PyTorch's generator from the seed (see _own_random_state).
        self.random = any(getattr(m, "random_in_training", False) for m in module.modules())
        self.callbacks: list[Callback] = []
        self.round = self.absolute_batch = 0
        self.reason: str | None = None
        self.discarded = False
        self.interrupted = False  # Ctrl-C was pressed once
        self.round_loss = math.nan
        self.validation_loss: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None  # kept by validation: the TrainedNet
        self._batch_losses: list[torch.Tensor] = []
        self._batch_parts: list[torch.Tensor] = []  # with several losses, each batch's weighted losses
        self._batch_seconds: list[float] = []  # the first rounds' batch times, for Automatic rounds
        self._progress: dict[str, Any] | None = None
        self._state: dict[str, torch.Tensor] | None = None
        self._states: list[dict[str, torch.Tensor]] = []  # the copies state() made, for reuse (_spare_state)
        self._found: tuple[torch.Tensor, torch.Tensor] | None = None  # arrays_finite's flag and scale
        if max_rounds is not Automatic:
            optimizer.total_steps = max_rounds * batches.per_round

    # -- the loop's steps -----------------------------------------------------------------------
    def begin_round(self) -> None:
        self.round += 1
        if self.random:
            torch.manual_seed(round_seed(self.seed, self.round, 0 if self.group is None else self.group.rank))
        self._batch_losses, self._progress, self._state, self.validation_loss = [], None, None, None
        self._batch_parts = []

    def step(self, x: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> None:
        """One optimizer step on one batch (this process's share of it, in a data-parallel run)."""
        began = time.perf_counter()
        self.absolute_batch += 1
        share = 1.0
        if self.group is not None:
            x, y, share = self.group.split(x, y)
        # Each process's forward pass updates its moving statistics with its share of the batch: their
        # updates are averaged after the step, so that every process keeps the same ones.
        before = [b.clone() for b in self.buffers.values()] if self.group is not None and self.buffers else None
        with computing(self.mixed, next(iter(x.values())).device):
            loss, parts = batch_loss(self.losses, self.stepped, x, y, parts=len(self.losses) > 1)
        if self.parameters:  # (without any, the forward pass only updates moving statistics)
            self.optimizer.zero_grad()
            # DDP averages the processes' gradients; weighted by its share, each is its part of the
            # gradient of the global batch's mean loss.
            (loss if self.group is None else loss * (share * self.group.world)).backward()
            self.optimizer.step()
        if before is not None:
            self.group.merge(list(self.buffers.values()), before, share)
        # stays on the device until the round ends
        self._batch_losses.append(loss.detach() if share == 1.0 else loss.detach() * share)
        if parts is not None:
            self._batch_parts.append(parts if share == 1.0 else parts * share)
        if self.max_rounds is Automatic:
            self._batch_seconds.append(time.perf_counter() - began)

    def end_round(self) -> None:
        losses = torch.stack(self._batch_losses).double()
        if self.group is not None:
            losses = self.group.sum(losses)  # the processes' parts of each batch's mean loss
        losses = losses.cpu()
        self.record.batch_losses.append(losses)
        if self._batch_parts:
            parts = torch.stack(self._batch_parts).double()
            self.record.batch_parts.append((parts if self.group is None else self.group.sum(parts)).cpu())
        self.round_loss = float(losses.mean())
        self.record.round_losses.append(self.round_loss)
        if self.max_rounds is Automatic:
            self._resolve_automatic_rounds()
            if self.group is not None:  # rank 0's judgement (it was timed on each process)
                rounds = self.group.number(math.nan if self.max_rounds is Automatic else self.max_rounds)
                if not math.isnan(rounds):
                    self.set_max_rounds(rounds if rounds == math.inf else int(rounds))

    def agree(self) -> None:
        """In a data-parallel run, stop (or go on) as rank 0 does."""
        if self.group is not None:
            self.reason = self.group.reason(self.reason)

    def _resolve_automatic_rounds(self) -> None:
        """Automatic MaxTrainingRounds: as many rounds as take about 20 s (10 to 10000), or no
        limit when a TimeGoal is given. A round's time is judged from warm batches: the median
        batch after the first (which may wait for kernels to compile or caches to fill), so it
        waits for a second batch when the first round had one."""
        if self.time_goal is not None:
            self.set_max_rounds(math.inf)
            return
        warm = self._batch_seconds[1:]
        if not warm:
            return
        per_round = statistics.median(warm) * self.batches.per_round
        self.set_max_rounds(int(min(10000, max(10, math.ceil(_AUTOMATIC_SECONDS / max(per_round, 1e-9))))))

    def set_max_rounds(self, rounds: float) -> None:
        """MaxTrainingRounds as resolved (a number of rounds, or inf for none)."""
        self.max_rounds = rounds
        self.optimizer.total_steps = None if rounds == math.inf else int(rounds) * self.batches.per_round

    # -- what callbacks use ---------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """End the run after this batch or round; the first reason given is the one reported."""
        if self.reason is None:
            self.reason = reason

    def discard_round(self, reason: str) -> None:
        """Forget this round's losses and stop at once (the other round-end hooks are skipped)."""
        self.record.batch_losses.pop()
        if self.record.batch_parts:
            self.record.batch_parts.pop()
        self.record.round_losses.pop()
        self.round -= 1
        self.reason, self.discarded = reason, True

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def state(self) -> dict[str, torch.Tensor]:
        """A copy of the trained arrays' values at the end of this round, by array key (one copy a
        round, shared by the callbacks that keep one; none of them writes into it).

        The copy goes into an earlier round's that nothing uses any more (the divergence check
        keeps each round's until the next one's), when there is one: a copy into existing tensors
        costs a fifth of new ones for a small net, which trains for thousands of short rounds."""
        if self._state is None:
            values = [p.detach() for p in (*self.parameters.values(), *self.buffers.values())]
            spare = self._spare_state()
            if spare is not None:
                torch._foreach_copy_(list(spare.values()), values)
                self._state = spare
            else:
                self._state = dict(zip([*self.parameters, *self.buffers], torch._foreach_mul(values, 1.0)))
                self._states = [*self._states[-(_KEPT_STATES - 1):], self._state]
        return self._state

    def _spare_state(self) -> dict[str, torch.Tensor] | None:
        """One of :meth:`state`'s earlier copies that only this run refers to: no callback keeps the
        dict, and no net, view or array shares its tensors (Python references and storage uses)."""
        for state in self._states:
            # References to the dict: the list's, this loop's and getrefcount's argument; to a tensor:
            # the dict's, the generator's and the argument; to its storage: the tensor's and the
            # storage object asked.
            if sys.getrefcount(state) == 3 and all(
                sys.getrefcount(value) == 3 and torch._C._storage_Use_Count(value.untyped_storage()._cdata) == 2
                for value in state.values()
            ):
                return state
        return None

    def arrays_finite(self) -> bool:
        """Whether every trained array is finite at the end of this round, checked on :meth:`state`
        in one call: the check of mixed-precision training (GradScaler's), unscaling by 1. Trained
        in float64, an array must also fit in float32, the type the net keeps its arrays in."""
        values = list(self.state().values())
        if len({v.device for v in values}) != 1:
            finite = all(bool(torch.isfinite(v).all()) for v in values)
        else:
            if self._found is None or self._found[0].device != values[0].device:
                self._found = (torch.zeros(1, device=values[0].device), torch.ones(1, device=values[0].device))
            found, one = self._found
            found.zero_()
            torch._amp_foreach_non_finite_check_and_unscale_(values, found, one)
            finite = not found.item()
        if finite and any(v.dtype == torch.float64 for v in values):
            largest = max(float(v.abs().max()) for v in values if v.numel())
            finite = largest <= FLOAT32_MAX
        return finite

    @torch.no_grad()
    def restore(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            (self.parameters[key] if key in self.parameters else self.buffers[key]).copy_(value)

    def net_with(self, state: dict[str, torch.Tensor] | None = None) -> Any:
        """The net with the module's current arrays, or with ``state`` for the trained ones."""
        return with_arrays(self.net, {**self.module.state_dict(), **(state or {})}, rounding=True)

    def progress(self) -> dict[str, Any]:
        """This round's progress, as Wolfram's progress association (built once per round)."""
        if self._progress is None:
            elapsed, batch = self.elapsed(), self.record.batch_size
            remaining = None
            if self.max_rounds not in (Automatic, math.inf) and self.round:
                remaining = elapsed / self.round * (self.max_rounds - self.round)
            self._progress = {
                "Round": self.round,
                "AbsoluteBatch": self.absolute_batch,
                "RoundLoss": self.round_loss,
                "ValidationLoss": self.validation_loss,
                "TimeElapsed": elapsed,
                "TimeRemaining": remaining,
                "ExamplesProcessed": self.absolute_batch * batch,
                "ExamplesPerSecond": self.absolute_batch * batch / max(elapsed, 1e-9),
                "LearningRate": self.optimizer.learning_rates[0] if self.optimizer.params else None,
                "BatchSize": batch,
                "RoundMeasurements": self._round_measurements(),
            }
        return self._progress

    def _round_measurements(self) -> dict[str, float]:
        """This round's ``{"Loss": total}``, with several losses also each one's, by name."""
        names, parts = self.record.loss_names, self.record.batch_parts
        if not names or not parts:
            return {"Loss": self.round_loss}
        return {"Loss": self.round_loss, **dict(zip(names, parts[-1].mean(0).tolist()))}
