"""A checkpoint directory belongs to one run: the run's identity, its lock, and the checks that keep
two runs' files apart.

* **Identity.** Every run has one (:func:`new_identity`): an id, when and where it started (host and
  process id) and, for a run that continues another with other data or options, the id it came
  from. Each checkpoint records it (``"Run"``); a run continued from a checkpoint with the same data
  and options keeps it. There is no separate file: the checkpoints themselves say whose they are,
  so a directory copied or moved stays whole.
* **Lock.** While a run trains, its checkpoint place holds a lock file (``.wlnet.lock`` in a
  directory, ``.<name>.wlnet.lock`` beside a file) with the holder's process id, host and run,
  created atomically (``O_CREAT | O_EXCL``). A second run into a locked place is a NetError that
  names the place and the holder's process. A lock whose process is no longer running on this host
  (killed, crashed; the process's start time is compared too, so a reused process id is not taken
  for the holder) is taken over: silently by the run that left it (a run continued after a crash, a
  process restarted by ``torchrun --max-restarts``), with a warning by any other. A lock from another
  host cannot be checked and is never taken over: the error says which file to delete once that run
  is gone. The lock is removed when training ends, however it ends.
* **Ownership.** A run writes only into a directory that holds no checkpoints of another run, and
  ``NetTrain(directory, ...)`` refuses a directory in which several runs' checkpoints are mixed.

PyTorch Lightning leaves all three to the user (its ModelCheckpoint warns that a directory "exists
and is not empty" and overwrites); these checks make the mix-ups it allows errors instead.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
import uuid
from typing import Any

from ..errors import NetError, NetTrainWarning, warn
from ..files import read_header
from ..reading import open_regular, read_up_to

__all__ = ["RunLock", "check_one_run", "check_owner", "checkpoint_run", "lock_file", "new_identity"]

#: The lock files this process holds (by path): a lock with this process's id that is not here
#: was left by an earlier call that did not end normally.
_HELD: set[str] = set()


def new_identity(continued_from: str | None = None) -> dict[str, Any]:
    """A new run's identity: its id, start time, host and process id (and the run it continues)."""
    identity: dict[str, Any] = {
        "Id": uuid.uuid4().hex,
        "Started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "Host": socket.gethostname(),
        "Pid": os.getpid(),
    }
    if continued_from is not None:
        identity["ContinuedFrom"] = continued_from
    return identity


def describe(identity: dict[str, Any] | None) -> str:
    """A run in words: "the run started 2024-05-01T10:00:00+00:00 on host h by process 1234"."""
    if not identity:
        return "a run of an older wlnet, which did not record its identity"
    return (f"the run started {identity.get('Started', '?')} on host {identity.get('Host', '?')} "
            f"by process {identity.get('Pid', '?')}")


# -- which run a checkpoint belongs to -------------------------------------------------------------
def checkpoint_run(file: str) -> dict[str, Any] | None:
    """The run identity a checkpoint file records, read from its header alone (with the checks of
    every file wlnet reads: a FIFO or a device among the checkpoints is never opened to wait): ``{}``
    for a checkpoint of an older wlnet (none recorded), None for a file that cannot be read as one
    (the full read that continues a run checks it properly)."""
    try:
        header = read_header(file, f"NetTrain: the checkpoint {file}")
        state = json.loads(header["__metadata__"]["wlnet"])["Extra"]["Checkpoint"]
        run = state.get("Run", {})
        return run if isinstance(run, dict) and isinstance(run.get("Id", ""), str) else None
    except (ValueError, KeyError, TypeError, AttributeError):  # a NetError is a ValueError
        return None


def _rounds(files: dict[int, str], ids: dict[int, str | None], run_id: str | None) -> str:
    chosen = [round_number for round_number in sorted(files) if ids[round_number] == run_id]
    return ", ".join(str(r) for r in chosen[:8]) + (", ..." if len(chosen) > 8 else "")


def check_owner(directory: str, files: dict[int, str], identity: dict[str, Any], continuing: bool) -> None:
    """NetError when the checkpoint files of ``directory`` (by round) belong to another run than
    ``identity``'s. Files that cannot be read are left to the run (it overwrites or removes them);
    files of an older wlnet, which recorded no identity, are another run's unless this run
    continues such a checkpoint."""
    runs = {r: checkpoint_run(file) for r, file in files.items()}
    foreign = {r: run for r, run in runs.items() if run is not None and run.get("Id") != identity.get("Id")
               and not (continuing and not run)}
    if not foreign:
        return
    first = foreign[min(foreign)]
    ids = {r: (run or {}).get("Id") for r, run in runs.items()}
    origin = identity.get("ContinuedFrom")
    if origin is not None and first.get("Id") == origin:
        why = ("this run continues it with other data or options (see the warning above that names them), "
               "which makes it another run")
    elif continuing:
        why = "this run continues another run's checkpoint"
    else:
        why = "this run starts anew"
    raise NetError(
        f"NetTrain: the checkpoint directory {directory} holds the checkpoints of {describe(first)} (rounds "
        f"{_rounds(files, ids, first.get('Id'))}), and {why}; a directory holds one run's checkpoints. Give "
        f"this run a new directory, or continue that run with NetTrain({directory!r}, ...) and its own data "
        "and options."
    )


def check_one_run(directory: str, files: dict[int, str], chosen: dict[str, Any]) -> None:
    """NetError when the checkpoints of ``directory`` (by round) are of several runs: which one the
    newest round belongs to says nothing about which run the user means."""
    ids = {r: (run or {}).get("Id") if run is not None else None
           for r, run in ((r, checkpoint_run(file)) for r, file in files.items())}
    others = sorted({i for i in ids.values() if i is not None and i != chosen.get("Id")})
    if not others or not chosen.get("Id"):
        return
    parts = "; ".join(f"rounds {_rounds(files, ids, i)} of run {i[:8]}" for i in [chosen["Id"], *others])
    raise NetError(
        f"NetTrain: the checkpoint directory {directory} holds the checkpoints of {len(others) + 1} runs mixed "
        f"together ({parts}), so it is not clear which run to continue. Continue one of them from its file, "
        f"NetTrain(path_of_a_checkpoint, ...), or move each run's files into a directory of its own."
    )


# -- the lock --------------------------------------------------------------------------------------
def lock_file(kind: str, path: str) -> str:
    """The lock file of a checkpoint place: in a directory, or beside a file."""
    if kind == "Directory":
        return os.path.join(path, ".wlnet.lock")
    return os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.wlnet.lock")


_LOCK_BYTES = 1 << 16  # a lock file holds one short JSON object


def _lock_text(path: str, place: str) -> bytes:
    """The lock file ``path``'s text, read with the checks of every file wlnet reads: a FIFO or a
    device there is a NetError naming it, never waited on or read without end. OSError where a
    regular file cannot be read, FileNotFoundError where it is gone (another process released it)."""
    try:
        fd, info = open_regular(path, f"NetTrain: the lock {path} of {place}")
    except NetError:
        if not os.path.lexists(path):
            raise FileNotFoundError(path) from None
        if os.path.isfile(path):  # a regular file that cannot be read now (its writer is a moment away)
            raise OSError(path) from None
        raise
    try:
        return read_up_to(fd, min(info.st_size, _LOCK_BYTES))
    finally:
        os.close(fd)


def _process_started(pid: int) -> str | None:
    """When process ``pid`` started (in clock ticks since boot, from /proc; None where unknown)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
        return text[text.rindex(")") + 2:].split()[19]  # field 22, after the parenthesized name
    except (OSError, ValueError, IndexError):
        return None


def _running(holder: dict[str, Any]) -> bool:
    """Whether the process that holds a lock on this host is still the one running."""
    pid = holder.get("Pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True  # cannot tell: assume it runs
    started = holder.get("ProcessStarted")
    return started is None or _process_started(pid) in (None, started)


class RunLock:
    """The lock of one checkpoint place for one run (see the module doc)."""

    def __init__(self, place: str, file: str, identity: dict[str, Any]):
        self.place, self.file, self.identity = place, file, identity
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise NetError naming the place and the holder's process."""
        mine = {"Pid": os.getpid(), "Host": socket.gethostname(), "ProcessStarted": _process_started(os.getpid()),
                "Run": self.identity.get("Id"), "Since": time.time()}
        for _ in range(20):
            try:
                fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            try:
                os.write(fd, json.dumps(mine).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self.held = True
            _HELD.add(os.path.abspath(self.file))
            return
        raise NetError(f"NetTrain: the lock {self.file} of {self.place} keeps changing hands; try again.")

    def release(self) -> None:
        """Remove the lock if this run still holds it."""
        if not self.held:
            return
        self.held = False
        _HELD.discard(os.path.abspath(self.file))
        holder = self._holder()
        if holder is not None and holder.get("Pid") == os.getpid() and holder.get("Run") == self.identity.get("Id"):
            try:
                os.unlink(self.file)
            except OSError:
                pass

    def _holder(self) -> dict[str, Any] | None:
        """The lock file's contents; None when it is gone; {} while it is being written."""
        try:
            text = _lock_text(self.file, self.place)
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            holder = json.loads(text)
        except ValueError:
            return {}
        return holder if isinstance(holder, dict) else {}

    def check(self) -> None:
        """NetError if another process holds the lock (nothing is taken over)."""
        holder = self._written_holder()
        if holder:
            self._refuse_if_held(holder)

    def _written_holder(self) -> dict[str, Any] | None:
        holder = self._holder()
        waited = 0
        while holder == {} and waited < 20:  # created, not yet written: its writer is a moment away
            time.sleep(0.05)
            waited += 1
            holder = self._holder()
        return holder

    def _take_over_if_stale(self) -> None:
        """Remove a lock whose process is gone (with a warning unless it was this run's own), or
        raise NetError naming the holder."""
        holder = self._written_holder()
        if holder is None:
            return  # released meanwhile: try again
        self._refuse_if_held(holder)
        stale = f"{self.file}.stale.{os.getpid()}"
        try:
            os.rename(self.file, stale)  # of two processes taking over, one renames it
        except FileNotFoundError:
            return
        try:
            moved = json.loads(_lock_text(stale, self.place))
        except (OSError, ValueError):
            moved = None
        if moved != holder:  # another process took it over between our read and our rename: give it back
            try:
                os.link(stale, self.file)
            except OSError:
                pass
        os.unlink(stale)
        if moved == holder and holder.get("Run") != self.identity.get("Id"):
            warn(NetTrainWarning(
                f"NetTrain: {self.place} was locked by process {holder.get('Pid')}, which is no longer running (it was "
                f"killed or crashed while training into it); this run takes the lock ({self.file}) over."
            ))

    def _refuse_if_held(self, holder: dict[str, Any]) -> None:
        """NetError naming the holder of the lock, unless its process is gone from this host."""
        if holder == {}:
            raise NetError(
                f"NetTrain: {self.place} is locked by a run whose lock file {self.file} cannot be read; if no run "
                "trains into it any more, delete that file."
            )
        here = holder.get("Host") == socket.gethostname()
        pid = holder.get("Pid")
        ours = here and pid == os.getpid()
        if here and (_running(holder) and not ours or ours and os.path.abspath(self.file) in _HELD):
            raise NetError(
                f"NetTrain: {self.place} is in use: process {pid} on this host is training into it (its lock "
                f"{self.file}). Two runs in one checkpoint place would mix their files; give this run another "
                "place, or wait until that run ends."
            )
        if not here:
            raise NetError(
                f"NetTrain: {self.place} is locked by process {pid} on host {holder.get('Host')!s} (its lock "
                f"{self.file}), which this host cannot check. If that run has ended, delete the lock file."
            )
