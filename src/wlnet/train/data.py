"""NetTrain's data: the examples as tensors by port, and their batches (the data forms are read
in :mod:`.ports`, the targets and the net fitted to them in :mod:`.targets`).

Examples are kept as groups of equal-length tensors, a dict by port for the inputs and one for
the targets: one group, unless the inputs are sequences
of different lengths, which are bucketed by length (as Wolfram's trainer does). A round's batches
come from :meth:`Examples.plan`: one group gives full batches, the last one filled with randomly
repeated examples, as Wolfram does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ..errors import NetDataError
from ..inputs import as_data, encoded
from ..types import VARYING, TensorT, describe
from .ports import Ports, parse_data
from .targets import check_indices, targets

__all__ = ["Examples", "GeneratorBatches", "TensorBatches", "examples"]

Group = tuple  # ({input port: tensor}, {target port: tensor}, original example indices)
Batch = tuple  # ({input port: tensor}, {target port: tensor}): one batch, or one chunk


def examples(net: Any, data: Any, ports: Ports, what: str) -> Examples:
    """The examples of ``data`` (any form), encoded by the net's coders, as tensors."""
    values = parse_data(data, ports, what)
    xs = {port: _inputs(net, port, values[port], what) for port in ports.inputs}
    ys = {port: targets(net, values[port], port, port in ports.index, what) for port in ports.targets}
    counts = {port: _count(value) for port, value in (*xs.items(), *ys.items())}
    if len(set(counts.values())) > 1:
        (p1, n1), (p2, n2) = next(iter(counts.items())), next((p, n) for p, n in counts.items()
                                                               if n != next(iter(counts.values())))
        raise NetDataError(
            f'NetTrain: {what} has {n1} examples for port "{p1}" but {n2} for port "{p2}"; '
            "each port needs one value per example."
        )
    ragged = [port for port, x in xs.items() if isinstance(x, list)]
    if ragged and len(xs) > 1:
        raise NetDataError(
            f'NetTrain: {what} gives sequences of different lengths for port "{ragged[0]}"; only a net with '
            "one input port trains on sequences of several lengths."
        )
    if len(xs) == 1:
        x, t_in = next(iter(xs.values())), next(iter(net._input_types().values()))
        if isinstance(x, list) or bool(t_in.dims) and t_in.dims[0] == VARYING:
            for port, y in ys.items():
                t_out = net._output_types()[port]
                if bool(t_out.dims) and t_out.dims[0] == VARYING:
                    _check_lengths(x, y, what, port)
    data = Examples(xs, ys, what)
    for port in ports.index & set(ys):
        t_out = net._output_types()[port]
        if t_out.dims and isinstance(t_out.dims[-1], int) and len(data.dims(port)) == len(t_out.dims) - 1:
            check_indices(data.targets_of(port), t_out.dims[-1], f'{what} for port "{port}"')  # (else fit_net's)
    return data


def _inputs(net: Any, port: str, values: Any, what: str) -> Any:
    where = f'NetTrain: {what} for port "{port}"'
    x = as_data(encoded(net._coder(port), values, where), where, np.float32)
    t_in = net._input_types()[port]
    if isinstance(x, list) and t_in.dims is not None and (not t_in.dims or t_in.dims[0] != VARYING):
        raise _mismatch(x, f'{what} for port "{port}"',
                        f'port "{port}" takes {describe(t_in)}, the same for every example')
    return x


def _mismatch(values: list, what: str, needed: str) -> NetDataError:
    """The error for examples of different dims where every example needs the same: it names the
    first that differs from the first example."""
    first = np.shape(values[0])
    index = next(i for i, value in enumerate(values) if np.shape(value) != first)
    return NetDataError(
        f"NetTrain: example {index + 1} of {what} is {describe(TensorT(np.shape(values[index])))}, but example 1 "
        f"is {describe(TensorT(first))}; {needed}."
    )


def _check_lengths(x: list, y: Any, what: str, port: str) -> None:
    """Sequence targets (of a "Varying" output) as long as their input sequences."""
    for index, (sequence, target) in enumerate(zip(x, y)):
        length = np.shape(target)[0] if np.ndim(target) else None
        if length != len(sequence):
            raise NetDataError(
                f'NetTrain: example {index + 1} of {what}: its target for port "{port}" is a sequence of '
                f"length {length}, but its input is a sequence of length {len(sequence)}; each target "
                "sequence should be as long as its input."
            )


def _count(x: Any) -> int:
    if isinstance(x, list):
        return len(x)
    return int(x.shape[0]) if x.ndim > 0 else 1


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if x.ndim == 0:
        x = x.reshape(1)
    return torch.from_numpy(np.ascontiguousarray(x))


def _rows(tensors: dict, index: Any) -> dict:
    return {port: t.index_select(0, index) for port, t in tensors.items()}


class Examples:
    """Training examples as groups of equal-length tensors, by port (see the module doc).

    ``xs`` maps each input port to its examples (an array, or a list of sequences of different
    lengths for a net with one input port), ``ys`` each target port to its targets (empty when no
    loss needs targets)."""

    def __init__(self, xs: dict | None, ys: dict | None, what: str = "", groups: list | None = None):
        if groups is not None:
            self.groups = groups
            return
        assert xs is not None and ys is not None
        first = next(iter(xs.values()))
        if isinstance(first, list):  # sequences of different lengths: one group per length
            self.groups = _length_groups(first, ys, what, next(iter(xs)))
            return
        for port, y in ys.items():
            if isinstance(y, list):
                raise _mismatch(y, f'{what} for port "{port}"', "the targets should all have the same dims")
        gx = {port: _as_tensor(x) for port, x in xs.items()}
        gy = {port: _as_tensor(y) for port, y in ys.items()}
        self.groups = [(gx, gy, np.arange(next(iter(gx.values())).shape[0]))]

    @property
    def n(self) -> int:
        return sum(len(g[2]) for g in self.groups)

    @property
    def ragged(self) -> bool:
        return len(self.groups) > 1

    @property
    def has_targets(self) -> bool:
        return bool(self.groups[0][1])

    def dims(self, port: str) -> tuple:
        """The dims of one example at ``port`` (an input or target port); "Varying" first for
        sequences of several lengths, and for targets as long as their sequences."""
        gx, gy, _ = self.groups[0]
        dims = tuple((gx[port] if port in gx else gy[port]).shape[1:])
        if not self.ragged:
            return dims
        length = next(iter(gx.values())).shape[1]
        if port in gx or dims and dims[0] == length:
            return (VARYING, *dims[1:])
        return dims

    def targets_of(self, port: str) -> list[torch.Tensor]:
        """The targets for ``port``, a tensor per group."""
        return [g[1][port] for g in self.groups]

    def targets_within(self, port: str, low: float, high: float) -> bool:
        return all(bool(((y >= low) & (y <= high)).all()) for y in self.targets_of(port))

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor, group by group (inputs, then targets): what the run's fingerprint reads."""
        return [t for gx, gy, _ in self.groups for t in (*gx.values(), *gy.values())]

    def to(self, device: torch.device, dtype: torch.dtype) -> Examples:
        def moved(tensors: dict) -> dict:
            return {port: t.to(device=device, dtype=dtype) for port, t in tensors.items()}

        return Examples(None, None, groups=[(moved(gx), moved(gy), ids) for gx, gy, ids in self.groups])

    def subset(self, ids: Any) -> Examples:
        """The examples with the given original indices (for a held-out validation fraction)."""
        wanted = {int(i) for i in ids}
        groups = []
        for gx, gy, gids in self.groups:
            rows = [r for r, i in enumerate(gids) if int(i) in wanted]
            if rows:
                index = torch.as_tensor(rows)
                groups.append((_rows(gx, index), _rows(gy, index), gids[rows]))
        return Examples(None, None, groups=groups)

    def batches_per_round(self, batch: int) -> int:
        return sum(math.ceil(len(g[2]) / batch) for g in self.groups)

    def plan(self, rng: np.random.Generator, batch: int) -> list:
        """This round's batches as (group, row indices); see the module doc."""
        return self._length_batches(rng, batch) if self.ragged else self._full_batches(rng, batch)

    def _device(self, group: int = 0) -> torch.device:
        return next(iter(self.groups[group][0].values())).device

    def _full_batches(self, rng: np.random.Generator, batch: int) -> list:
        n = len(self.groups[0][2])
        per_round = math.ceil(n / batch)
        order = rng.permutation(n)
        if per_round * batch > n:
            order = np.concatenate([order, rng.integers(0, n, per_round * batch - n)])
            rng.shuffle(order)
        index = torch.from_numpy(order.reshape(per_round, batch)).to(self._device())
        return [(0, index[b]) for b in range(per_round)]

    def _length_batches(self, rng: np.random.Generator, batch: int) -> list:
        """Batches within each length, in shuffled order."""
        steps = []
        for g, (_, _, ids) in enumerate(self.groups):
            order = torch.from_numpy(rng.permutation(len(ids))).to(self._device(g))
            steps += [(g, order[i:i + batch]) for i in range(0, len(ids), batch)]
        return [steps[i] for i in rng.permutation(len(steps))]

    def batch(self, step: tuple | None) -> Batch:
        if step is None:
            gx, gy, _ = self.groups[0]
            return gx, gy
        g, index = step
        gx, gy, _ = self.groups[g]
        return _rows(gx, index), _rows(gy, index)

    def chunks(self, size: int) -> Iterator[Batch]:
        for gx, gy, ids in self.groups:
            for i in range(0, len(ids), size):
                yield ({port: t[i:i + size] for port, t in gx.items()},
                       {port: t[i:i + size] for port, t in gy.items()})


def _length_groups(x: list, ys: dict, what: str, port_in: str) -> list:
    ids_by_length: dict[int, list[int]] = {}
    for i, example in enumerate(x):
        ids_by_length.setdefault(example.shape[0], []).append(i)
    listed = {port: y if isinstance(y, list) else list(y) for port, y in ys.items()}
    groups = []
    for ids in ids_by_length.values():
        gx = {port_in: torch.from_numpy(np.stack([x[i] for i in ids]))}
        gy = {}
        for port, y in listed.items():
            try:
                gy[port] = torch.from_numpy(np.stack([np.asarray(y[i], np.float32) for i in ids]))
            except ValueError:
                raise NetDataError(
                    f'NetTrain: the targets in {what} for port "{port}" should match their '
                    "sequences' lengths, but some do not."
                ) from None
        groups.append((gx, gy, np.asarray(ids)))
    return groups


class TensorBatches:
    """A round's batches drawn from examples already on the device (see :meth:`Examples.plan`)."""

    def __init__(self, data: Examples, batch: int, rng: np.random.Generator):
        self.data, self.batch, self.rng = data, batch, rng
        self.per_round = data.batches_per_round(batch)

    def round(self, round_number: int, absolute_batch: int) -> Iterator[Batch]:
        for step in self.data.plan(self.rng, self.batch):
            yield self.data.batch(step)


class GeneratorBatches:
    """A round's batches from the user's generator function, called once per batch with
    ``{"BatchSize", "Round", "Batch", "AbsoluteBatch"}`` (1-based counts), as Wolfram does."""

    def __init__(self, generator: Callable, make: Callable[[Any], Examples], batch: int, per_round: int,
                 device: torch.device, dtype: torch.dtype):
        self.generator, self.make, self.batch, self.per_round = generator, make, batch, per_round
        self.device, self.dtype = device, dtype

    def round(self, round_number: int, absolute_batch: int) -> Iterator[Batch]:
        for b in range(self.per_round):
            request = {"BatchSize": self.batch, "Round": round_number, "Batch": b + 1,
                       "AbsoluteBatch": absolute_batch + b + 1}
            yield self.make(self.generator(request)).to(self.device, self.dtype).batch(None)
