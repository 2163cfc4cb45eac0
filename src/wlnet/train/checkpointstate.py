"""Every field of a checkpoint's run state, checked when it is read.

A checkpoint's checksums prove that it is whole, not that its writer was wlnet: a file edited
with its checksums recomputed must still never make NetTrain fail with a Python error
(``ZeroDivisionError`` for ``"Step": -1``) or train on nonsense (``"Round": 10**30``). Each field
is checked for its type, its range and its agreement with the others and with the tensors beside
it; the first that fails is a NetError naming the field, its value and what was expected.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..errors import NetError, shortened

__all__ = ["check_state"]

#: The reasons a run can have stopped for (Wolfram's, and wlnet's "CheckpointingFailed").
REASONS = (None, "MaxTrainingRounds", "TimeGoal", "ManualStop", "TrainingStoppingCriterion",
           "TrainingProgressFunction", "WeightsDiverged", "CheckpointingFailed")
#: The largest count of rounds, batches or steps a checkpoint may hold (MaxTrainingRounds -> Automatic
#: is at most 10000 rounds; this leaves room for very long runs).
LIMIT = 2**53
#: The state each callback keeps (:meth:`Callback.state_dict`): field -> what it holds.
CALLBACKS = {"Validation": {"Best": "loss"}, "StoppingCriterion": {"Best": "loss", "Waited": "count"}}


class _FieldError(Exception):
    """A field that fails its check: which one, and what was expected."""

    def __init__(self, field: str, value: Any, expected: str):
        super().__init__(field)
        self.field, self.value, self.expected = field, value, expected


def _count(state: dict, field: str, low: int = 0, high: int = LIMIT) -> int:
    value = state.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _FieldError(field, value, f"a whole number from {low} to {high}")
    return value


def _loss(value: Any, field: str) -> None:
    """A loss as :func:`~wlnet.train.checkpoint.json_number` writes it: a number or "inf"/"nan"."""
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _FieldError(field, value, 'a number (or "inf")')


def _seed(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _FieldError("Seed", value, "the RandomSeeding of the run: an integer or a string")


def _data_order(value: Any) -> None:
    """The state of NumPy's PCG64 generator that orders the data (or None, for a generator function)."""
    if value is None:
        return
    expected = 'the state of NumPy\'s PCG64 generator ({"bit_generator": "PCG64", "state": {...}, ...})'
    try:
        ok = value["bit_generator"] == "PCG64" and all(
            isinstance(value["state"][k], int) and value["state"][k] >= 0 for k in ("state", "inc"))
        ok = ok and value["has_uint32"] in (0, 1) and isinstance(value["uinteger"], int)
    except (TypeError, KeyError):
        ok = False
    if not ok:
        raise _FieldError("DataOrder", value, expected)
    try:
        np.random.default_rng().bit_generator.state = value
    except (TypeError, ValueError, KeyError, OverflowError):
        raise _FieldError("DataOrder", value, expected) from None


def _callbacks(value: Any) -> None:
    if not isinstance(value, dict):
        raise _FieldError("Callbacks", value, f"a dict of the callbacks' states, with keys among {list(CALLBACKS)}")
    for name, fields in value.items():
        if name not in CALLBACKS or not isinstance(fields, dict) or not set(fields) <= set(CALLBACKS[name]):
            expected = (f"a dict with keys among {list(CALLBACKS[name])}" if name in CALLBACKS
                        else f"a callback among {list(CALLBACKS)}")
            raise _FieldError(f"Callbacks.{name}", fields, expected)
        for key, kind in CALLBACKS[name].items():
            if key not in fields:
                continue
            if kind == "loss":
                _loss(fields[key], f"Callbacks.{name}.{key}")
            elif isinstance(fields[key], bool) or not isinstance(fields[key], int) or not 0 <= fields[key] <= LIMIT:
                raise _FieldError(f"Callbacks.{name}.{key}", fields[key], "a whole number of rounds >= 0")


def _check_fields(state: dict, tensors: dict[str, np.ndarray]) -> None:
    rounds = _count(state, "Round")
    batches = _count(state, "AbsoluteBatch")
    if not isinstance(state.get("Method"), str):
        raise _FieldError("Method", state.get("Method"), 'the name of the method, such as "ADAM"')
    _count(state, "Step", 0, batches)
    limit = state.get("MaxTrainingRounds")
    finite = isinstance(limit, int) and not isinstance(limit, bool) and rounds <= limit <= LIMIT and limit >= 1
    if not (limit is None or finite or limit == "inf"):
        raise _FieldError("MaxTrainingRounds", limit,
                          f'None, "inf" or a whole number of rounds from {max(rounds, 1)} (Round)')
    elapsed = state.get("Elapsed")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < math.inf:
        raise _FieldError("Elapsed", elapsed, "the seconds trained: a number >= 0")
    if state.get("Reason") not in REASONS:
        raise _FieldError("Reason", state.get("Reason"), f"None or one of {list(REASONS[1:])}")
    _seed(state.get("Seed"))
    _data_order(state.get("DataOrder"))
    counts = state.get("BatchLossCounts")
    if (not isinstance(counts, list) or len(counts) != rounds
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts) or sum(counts) > batches):
        raise _FieldError("BatchLossCounts", counts, f"a list of {rounds} (Round) counts of batches, in all at most "
                                              f"{batches} (AbsoluteBatch)")
    best = state.get("BestRound")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int) or not 1 <= best <= rounds):
        raise _FieldError("BestRound", best, f"None or a round from 1 to {rounds} (Round)")
    files = state.get("Files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise _FieldError("Files", files, "a list of file names")
    _callbacks(state.get("Callbacks"))
    prints = state.get("Fingerprint")
    if not (isinstance(prints, str) or isinstance(prints, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in prints.items())):
        raise _FieldError("Fingerprint", prints, "a dict of texts, by part of the run")
    run = state.get("Run")
    if run is not None and not (isinstance(run, dict) and isinstance(run.get("Id"), str)):
        raise _FieldError("Run", run, 'None or the run\'s identity, a dict with its "Id"')
    _check_tensors(state, tensors, rounds, sum(counts))


def _check_tensors(state: dict, tensors: dict[str, np.ndarray], rounds: int, batches: int) -> None:
    """The tensors beside the state: the loss history as long as the counters say, torch's random
    state a byte vector."""
    lengths = {"%losses.batch": batches, "%losses.round": rounds}
    for key, length in lengths.items():
        value = tensors.get(key)
        if value is None or value.dtype != np.float64 or value.shape != (length,):
            raise _FieldError(key, None if value is None else f"{value.dtype} of shape {value.shape}",
                       f"a float64 vector of length {length}")
    validation = tensors.get("%losses.validation")
    if validation is None or validation.dtype != np.float64 or validation.ndim != 1 or len(validation) > rounds:
        found = None if validation is None else f"{validation.dtype} of shape {validation.shape}"
        raise _FieldError("%losses.validation", found, f"a float64 vector of at most {rounds} losses")
    random = tensors.get("%random.torch")
    if random is None or random.dtype != np.uint8 or random.ndim != 1:
        raise _FieldError("%random.torch", None if random is None else f"{random.dtype} {random.shape}",
                   "torch's random state, a vector of bytes")


#: The tensors of a checkpoint, in words, for the messages.
_WORDS = {"%losses.batch": "the batch loss history (%losses.batch)",
          "%losses.round": "the round loss history (%losses.round)",
          "%losses.validation": "the validation loss history (%losses.validation)",
          "%random.torch": "the saved random-number state (%random.torch)"}


def check_state(state: dict, tensors: dict[str, np.ndarray], where: str) -> None:
    """NetError (starting with ``where``) for the first field of a checkpoint's state, or tensor
    beside it, that is not what wlnet writes."""
    try:
        _check_fields(state, tensors)
    except _FieldError as bad:
        what = _WORDS.get(bad.field, f'the field "{bad.field}"')
        raise NetError(
            f"{where}: {what} of the run state is {shortened(repr(bad.value), 120)}, but should be {bad.expected}: "
            "the checkpoint was edited or written by something other than wlnet."
        ) from None
