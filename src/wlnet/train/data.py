"""NetTrain's data: its forms, the examples as tensors, batches, and the net fitted to the data.

Examples are kept as groups of equal-length tensors: one group, unless the inputs are sequences
of different lengths, which are bucketed by length (as Wolfram's trainer does). A round's batches
come from :meth:`Examples.plan`: one group gives full batches, the last one filled with randomly
repeated examples, as Wolfram does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..coders import NetDecoder, NetEncoder
from ..errors import NetDataError, NetShapeError
from ..fitting import specialized
from ..inputs import as_data, encoded
from ..types import VARYING, TensorT, describe, unify

__all__ = ["Examples", "GeneratorBatches", "Ports", "TensorBatches", "examples", "fit_net", "parse_data"]

Group = tuple  # (inputs tensor, targets tensor or None, original example indices)


@dataclass(frozen=True)
class Ports:
    """The ports NetTrain feeds: the net's input and output, whether targets are needed (not when
    the output itself is the loss: ``LossFunction="Output"``), and whether they are 1-based class
    indices into the output's last dim (for ``CrossEntropyLossLayer("Index")``; given as labels
    where the output has a Class decoder)."""

    input: str
    output: str
    targets: bool = True
    index: bool = False


def parse_data(data: Any, ports: Ports, what: str = "the training data") -> dict:
    """Training data in any of NetTrain's forms as ``{port: list or array of examples}``."""
    if isinstance(data, tuple) and len(data) == 2:
        return {ports.input: data[0], ports.output: data[1]}
    if isinstance(data, dict):
        if data and all(isinstance(k, str) for k in data):
            return dict(data)
        return {ports.input: list(data.keys()), ports.output: list(data.values())}
    if isinstance(data, list) and data:
        if all(isinstance(d, dict) for d in data):
            return {key: [_value(d, key, i, what) for i, d in enumerate(data)] for key in data[0]}
        if all(isinstance(d, tuple) and len(d) == 2 for d in data):
            return {ports.input: [d[0] for d in data], ports.output: [d[1] for d in data]}
    if isinstance(data, (list, tuple, dict)) and len(data) == 0:
        raise NetDataError(f"NetTrain: {what} is empty.")
    raise NetDataError(
        f"NetTrain: {what} should be (inputs, targets), a list of (input, target) pairs, a dict "
        f'{{input: target}}, a dict of ports {{"{ports.input}": [...], "{ports.output}": [...]}}, a list of '
        f"such dicts, or a generator function, but was {type(data).__name__}."
    )


def _value(example: dict, key: str, index: int, what: str) -> Any:
    if key not in example:
        raise NetDataError(f'NetTrain: example {index + 1} of {what} has no value for port "{key}".')
    return example[key]


def examples(net: Any, data: Any, ports: Ports, what: str) -> Examples:
    """The examples of ``data`` (any form), encoded by the net's coders, as tensors."""
    values = parse_data(data, ports, what)
    missing = [p for p in (ports.input, ports.output) if p not in values]
    if missing and (ports.targets or ports.input not in values):
        raise NetDataError(f'NetTrain: {what} has no values for port "{missing[0]}"; it has {list(values)}.')
    where = f'NetTrain: {what} for port "{ports.input}"'
    x = as_data(encoded(net._coder(ports.input), values[ports.input], where), where, np.float32)
    t_in = net._input_types()[ports.input]
    if isinstance(x, list) and t_in.dims is not None and (not t_in.dims or t_in.dims[0] != VARYING):
        raise _mismatch(x, f'{what} for port "{ports.input}"',
                        f'port "{ports.input}" takes {describe(t_in)}, the same for every example')
    if not ports.targets:
        return Examples(x, None, what, ports.output)
    y = _targets(net, values[ports.output], ports, what)
    nx, ny = _count(x), _count(y)
    if nx != ny:
        raise NetDataError(
            f'NetTrain: {what} has {nx} examples for port "{ports.input}" but {ny} for port '
            f'"{ports.output}"; each port needs one value per example.'
        )
    t_out = net._output_types().get(ports.output)
    sequences_in = isinstance(x, list) or bool(t_in.dims) and t_in.dims[0] == VARYING
    if sequences_in and t_out is not None and bool(t_out.dims) and t_out.dims[0] == VARYING:
        _check_lengths(x, y, what, ports.output)
    data = Examples(x, y, what, ports.output)
    if ports.index and t_out is not None and t_out.dims and isinstance(t_out.dims[-1], int) and (
            len(data.target_dims) == len(t_out.dims) - 1):  # (other dims: fit_net's error)
        _check_indices(data, t_out.dims[-1], f'{what} for port "{ports.output}"')
    return data


def _targets(net: Any, targets: Any, ports: Ports, what: str) -> Any:
    """The targets as numbers: True/False and class labels encoded by the output's decoder's dual
    encoder (a Class decoder's labels as indices for ``CrossEntropyLossLayer("Index")``, as one-hot
    vectors for the other losses)."""
    decoder = net._coder(ports.output)
    encoder = None
    if isinstance(decoder, NetDecoder):
        encoder = decoder.encoder() if ports.index or decoder.labels is None else decoder.encoder("IndicatorVector")
    where = f'NetTrain: {what} for port "{ports.output}"'
    targets = encoded(encoder, targets, where)
    try:
        return as_data(targets, where, np.float32)
    except NetDataError:
        if encoder is None and NetEncoder("Boolean").accepts(targets):
            raise _boolean_targets(net, what, ports.output) from None
        raise


def _check_indices(data: Examples, classes: int, what: str) -> None:
    """Class-index targets: integers from 1 to ``classes``."""
    for _, gy, _ in data.groups:
        bad = (gy != torch.round(gy)) | (gy < 1) | (gy > classes)
        if bool(bad.any()):
            value = gy[bad][0].item()
            raise NetDataError(
                f"NetTrain: {what} should be class indices, integers from 1 to {classes} "
                f'(CrossEntropyLossLayer("Index") compares the output\'s {classes} class probabilities with '
                f"them), or labels of a Class decoder on the port, but one is {value:g}."
            )


def _boolean_targets(net: Any, what: str, port: str) -> NetDataError:
    """The error for True/False targets at an output port that has no Boolean decoder to read them."""
    return NetDataError(
        f'NetTrain: {what} gives True/False targets for port "{port}", but the output port "{port}" of '
        f"{net._where} has no NetDecoder(\"Boolean\") to read them. Attach one where the net is made, as the "
        f'page\'s example does: NetChain([..., LogisticSigmoid], {port}=NetDecoder("Boolean")) (the net then '
        "gives the probability of True, learned with binary cross-entropy); or give the targets as 1 and 0."
    )


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


def fit_net(net: Any, data: Examples, ports: Ports) -> Any:
    """``net`` with unknown input and output dims specialized to the data's."""
    t_in = net._input_types()[ports.input]
    dims = TensorT(data.input_dims)
    if not t_in.known:
        try:
            net = specialized(net, ports.input, t_in, dims)
        except NetShapeError as error:
            raise NetShapeError(
                f"NetTrain: the training inputs (each {describe(dims)}) do not fit port "
                f'"{ports.input}" of {net._where}: {error}'
            ) from None
    elif _unify_or_none(t_in, dims) is None:
        raise NetShapeError(
            f'NetTrain: port "{ports.input}" of {net._where} takes {describe(t_in)}, but each '
            f"training input is {describe(dims)}."
        )
    return _fit_targets(net, data, ports) if data.has_targets else net


def _fit_targets(net: Any, data: Examples, ports: Ports) -> Any:
    t_out = net._output_types()[ports.output]
    target_t = TensorT(data.target_dims)
    if ports.index:
        return _fit_index_targets(net, data, ports, t_out, target_t)
    assert target_t.dims is not None  # data always has known dims
    sequence_out = bool(t_out.dims) and t_out.dims[0] == VARYING
    if data.ragged and sequence_out and (not target_t.dims or target_t.dims[0] != VARYING):
        raise NetDataError(
            f'NetTrain: the targets for port "{ports.output}" should be sequences as long as their '
            f"input sequences, but each is {describe(target_t)}."
        )
    merged = _unify_or_none(t_out, target_t)
    if merged is None:
        raise NetShapeError(
            f'NetTrain: the targets for port "{ports.output}" should each be {describe(t_out)}, '
            f"but each is {describe(target_t)}."
        )
    return net._evolve(ports={ports.output: merged}) if merged != t_out else net


def _fit_index_targets(net: Any, data: Examples, ports: Ports, t_out: TensorT, target_t: TensorT) -> Any:
    """The net with its output fitted to class-index targets: the output's dims less the last
    (the classes), whose count the indices may not pass."""
    port = ports.output
    if t_out.dims == ():
        raise NetShapeError(
            f'NetTrain: CrossEntropyLossLayer("Index") needs class probabilities at port "{port}" (a vector, '
            "or an array of vectors with the classes last), but the port gives a real number."
        )
    expected = TensorT(None) if t_out.dims is None else TensorT(t_out.dims[:-1])
    merged = _unify_or_none(expected, target_t)
    if merged is None:
        wanted = "a class index" if expected.dims == () else f"{describe(expected)} of class indices"
        raise NetShapeError(
            f'NetTrain: the targets for port "{port}" should each be {wanted} (an integer from 1 to the number '
            f'of classes, for CrossEntropyLossLayer("Index")), but each is {describe(target_t)}.'
        )
    if t_out.dims is None:
        return net
    classes = t_out.dims[-1]
    if isinstance(classes, int):
        _check_indices(data, classes, f'the targets for port "{port}"')
    if merged == expected or merged.dims is None:
        return net
    return net._evolve(ports={port: TensorT((*merged.dims, classes))})


def _unify_or_none(a: TensorT, b: TensorT) -> TensorT | None:
    try:
        return unify(a, b, "")
    except NetShapeError:
        return None


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


class Examples:
    """Training examples as groups of equal-length tensors (see the module doc)."""

    def __init__(self, x: Any, y: Any, what: str = "", out_port: str = "Output", groups: list | None = None):
        if groups is not None:
            self.groups = groups
        elif isinstance(x, list):  # sequences of different lengths: one group per length
            self.groups = _length_groups(x, y, what, out_port)
        else:
            if isinstance(y, list):
                raise _mismatch(y, f'{what} for port "{out_port}"', "the targets should all have the same dims")
            gx = _as_tensor(x)
            self.groups = [(gx, None if y is None else _as_tensor(y), np.arange(gx.shape[0]))]

    @property
    def n(self) -> int:
        return sum(g[0].shape[0] for g in self.groups)

    @property
    def ragged(self) -> bool:
        return len(self.groups) > 1

    @property
    def has_targets(self) -> bool:
        return self.groups[0][1] is not None

    @property
    def input_dims(self) -> tuple:
        dims = tuple(self.groups[0][0].shape[1:])
        return (VARYING, *dims[1:]) if self.ragged else dims

    @property
    def target_dims(self) -> tuple:
        dims = tuple(self.groups[0][1].shape[1:])
        if self.ragged and dims and dims[0] == self.groups[0][0].shape[1]:
            return (VARYING, *dims[1:])  # targets as long as their sequences
        return dims

    def targets_within(self, low: float, high: float) -> bool:
        return all(bool(((g[1] >= low) & (g[1] <= high)).all()) for g in self.groups)

    def to(self, device: torch.device, dtype: torch.dtype) -> Examples:
        moved = [(gx.to(device=device, dtype=dtype), None if gy is None else gy.to(device=device, dtype=dtype), ids)
                 for gx, gy, ids in self.groups]
        return Examples(None, None, groups=moved)

    def subset(self, ids: Any) -> Examples:
        """The examples with the given original indices (for a held-out validation fraction)."""
        wanted = {int(i) for i in ids}
        groups = []
        for gx, gy, gids in self.groups:
            rows = [r for r, i in enumerate(gids) if int(i) in wanted]
            if rows:
                index = torch.as_tensor(rows)
                groups.append((gx[index], None if gy is None else gy[index], gids[rows]))
        return Examples(None, None, groups=groups)

    def batches_per_round(self, batch: int) -> int:
        return sum(math.ceil(g[0].shape[0] / batch) for g in self.groups)

    def plan(self, rng: np.random.Generator, batch: int) -> list:
        """This round's batches as (group, row indices); see the module doc."""
        return self._length_batches(rng, batch) if self.ragged else self._full_batches(rng, batch)

    def _full_batches(self, rng: np.random.Generator, batch: int) -> list:
        n = self.groups[0][0].shape[0]
        per_round = math.ceil(n / batch)
        order = rng.permutation(n)
        if per_round * batch > n:
            order = np.concatenate([order, rng.integers(0, n, per_round * batch - n)])
            rng.shuffle(order)
        index = torch.from_numpy(order.reshape(per_round, batch)).to(self.groups[0][0].device)
        return [(0, index[b]) for b in range(per_round)]

    def _length_batches(self, rng: np.random.Generator, batch: int) -> list:
        """Batches within each length, in shuffled order."""
        steps = []
        for g, (gx, _, _) in enumerate(self.groups):
            order = torch.from_numpy(rng.permutation(gx.shape[0])).to(gx.device)
            steps += [(g, order[i:i + batch]) for i in range(0, gx.shape[0], batch)]
        return [steps[i] for i in rng.permutation(len(steps))]

    def batch(self, step: tuple | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if step is None:
            gx, gy, _ = self.groups[0]
            return gx, gy
        g, index = step
        gx, gy, _ = self.groups[g]
        return gx.index_select(0, index), None if gy is None else gy.index_select(0, index)

    def chunks(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for gx, gy, _ in self.groups:
            for i in range(0, gx.shape[0], size):
                yield gx[i:i + size], None if gy is None else gy[i:i + size]


def _length_groups(x: list, y: Any, what: str, out_port: str) -> list:
    ids_by_length: dict[int, list[int]] = {}
    for i, example in enumerate(x):
        ids_by_length.setdefault(example.shape[0], []).append(i)
    targets = None if y is None else (y if isinstance(y, list) else list(y))
    groups = []
    for ids in ids_by_length.values():
        gx = torch.from_numpy(np.stack([x[i] for i in ids]))
        gy = None
        if targets is not None:
            try:
                gy = torch.from_numpy(np.stack([np.asarray(targets[i], np.float32) for i in ids]))
            except ValueError:
                raise NetDataError(
                    f'NetTrain: the targets in {what} for port "{out_port}" should match their '
                    "sequences' lengths, but some do not."
                ) from None
        groups.append((gx, gy, np.asarray(ids)))
    return groups


class TensorBatches:
    """A round's batches drawn from examples already on the device (see :meth:`Examples.plan`)."""

    def __init__(self, data: Examples, batch: int, rng: np.random.Generator):
        self.data, self.batch, self.rng = data, batch, rng
        self.per_round = data.batches_per_round(batch)

    def round(self, round_number: int, absolute_batch: int) -> Iterator[tuple[torch.Tensor, Any]]:
        for step in self.data.plan(self.rng, self.batch):
            yield self.data.batch(step)


class GeneratorBatches:
    """A round's batches from the user's generator function, called once per batch with
    ``{"BatchSize", "Round", "Batch", "AbsoluteBatch"}`` (1-based counts), as Wolfram does."""

    def __init__(self, generator: Callable, make: Callable[[Any], Examples], batch: int, per_round: int,
                 device: torch.device, dtype: torch.dtype):
        self.generator, self.make, self.batch, self.per_round = generator, make, batch, per_round
        self.device, self.dtype = device, dtype

    def round(self, round_number: int, absolute_batch: int) -> Iterator[tuple[torch.Tensor, Any]]:
        for b in range(self.per_round):
            request = {"BatchSize": self.batch, "Round": round_number, "Batch": b + 1,
                       "AbsoluteBatch": absolute_batch + b + 1}
            yield self.make(self.generator(request)).to(self.device, self.dtype).batch(None)
