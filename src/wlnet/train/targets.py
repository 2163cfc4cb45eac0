"""NetTrain's targets as numbers, their checks, and the net fitted to the data's dims.

Targets go through the output's decoder's dual encoder, as in the Wolfram Language: a Boolean
decoder's True/False become 1 and 0, a Class decoder's labels become class indices (for
``CrossEntropyLossLayer("Index")``) or one-hot vectors (for the other losses). Numbers bypass the
encoder, but the targets of one port are one or the other: True/False mixed with numbers (``[True,
0.5]``, ``[1, True]``) or with anything else is a NetDataError naming the example.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..coders import NetDecoder, NetEncoder
from ..errors import NetDataError, NetShapeError
from ..fitting import specialized
from ..inputs import as_data, encoded
from ..types import VARYING, TensorT, describe, unify

__all__ = ["boolean_targets", "check_indices", "fit_net", "targets"]


def targets(net: Any, values: Any, port: str, index: bool, what: str) -> Any:
    """The targets for output ``port`` as numbers (see the module doc)."""
    decoder = net._coder(port)
    encoder = None
    if isinstance(decoder, NetDecoder):
        encoder = decoder.encoder() if index or decoder.labels is None else decoder.encoder("IndicatorVector")
    where = f'NetTrain: {what} for port "{port}"'
    boolean = isinstance(decoder, NetDecoder) and decoder.kind == "Boolean"
    listed = isinstance(values, (list, tuple)) or isinstance(values, np.ndarray) and values.dtype == object
    if listed and (decoder is None or boolean):  # (a Class decoder's labels may be anything)
        _check_kinds(values, port, what, boolean)
    values = encoded(encoder, values, where)
    try:
        return as_data(values, where, np.float32)
    except NetDataError:
        if encoder is None and NetEncoder("Boolean").accepts(values):
            raise boolean_targets(net, what, port) from None
        raise


def _kind(value: Any) -> str:
    """"boolean", "number" or "other" for one target element."""
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.number)):
        return "number"
    return "other"


def _kinds(example: Any) -> set[str]:
    """The kinds of the elements of one example (nested lists walked without recursion)."""
    found: set[str] = set()
    stack = [example]
    while stack and len(found) < 3:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            stack.extend(item.reshape(-1).tolist() if item.dtype == object else [item.dtype.type(0)])
        elif isinstance(item, torch.Tensor):
            found.add("boolean" if item.dtype == torch.bool else "number")
        else:
            found.add(_kind(item))
    return found


def _check_kinds(values: Any, port: str, what: str, boolean: bool) -> None:
    """NetDataError for targets of several kinds (True/False, numbers, anything else), naming the
    first example that is not of the kind the port reads: True/False at a Boolean decoder's port
    (or numbers, but not both), numbers elsewhere."""
    kinds = [_kinds(example) for example in values]
    every = set().union(*kinds) if kinds else set()
    if len(every) <= 1:
        return
    if "other" in every:
        offending = next(i for i, k in enumerate(kinds) if "other" in k)
    elif boolean:
        offending = next(i for i, k in enumerate(kinds) if k != {"boolean"})
    else:
        offending = next(i for i, k in enumerate(kinds) if "boolean" in k)
    expected = ("True/False (the port has a NetDecoder(\"Boolean\"); probabilities from 0 to 1 are read too, but "
                "not mixed with True/False)") if boolean else (
        "a number (the port has no NetDecoder(\"Boolean\") to read True/False)")
    raise NetDataError(
        f'NetTrain: example {offending + 1} of {what} for port "{port}" is {values[offending]!r:.60}, among targets '
        f"of different kinds; every target for the port should be {expected}."
    )


def boolean_targets(net: Any, what: str, port: str) -> NetDataError:
    """The error for True/False targets at an output port that has no Boolean decoder to read them."""
    return NetDataError(
        f'NetTrain: {what} gives True/False targets for port "{port}", but the output port "{port}" of '
        f"{net._where} has no NetDecoder(\"Boolean\") to read them. Attach one where the net is made, as the "
        f'page\'s example does: NetChain([..., LogisticSigmoid], {port}=NetDecoder("Boolean")) (the net then '
        "gives the probability of True, learned with binary cross-entropy); or give the targets as 1 and 0."
    )


def check_indices(values: list[torch.Tensor], classes: int, what: str) -> None:
    """Class-index targets: integers from 1 to ``classes``."""
    for gy in values:
        bad = (gy != torch.round(gy)) | (gy < 1) | (gy > classes)
        if bool(bad.any()):
            value = gy[bad][0].item()
            raise NetDataError(
                f"NetTrain: {what} should be class indices, integers from 1 to {classes} "
                f'(CrossEntropyLossLayer("Index") compares the output\'s {classes} class probabilities with '
                f"them), or labels of a Class decoder on the port, but one is {value:g}."
            )


# -- the net fitted to the data ------------------------------------------------------------------------
def fit_net(net: Any, data: Any, ports: Any) -> Any:
    """``net`` with unknown input and output dims specialized to the data's (an :class:`Examples`)."""
    for port in ports.inputs:
        net = _fit_input(net, port, TensorT(data.dims(port)))
    if data.has_targets:
        for port in ports.targets:
            net = _fit_targets(net, data, port, port in ports.index)
    return net


def _fit_input(net: Any, port: str, dims: TensorT) -> Any:
    t_in = net._input_types()[port]
    if not t_in.known:
        try:
            return specialized(net, port, t_in, dims)
        except NetShapeError as error:
            raise NetShapeError(
                f"NetTrain: the training inputs (each {describe(dims)}) do not fit port "
                f'"{port}" of {net._where}: {error}'
            ) from None
    if _unify_or_none(t_in, dims) is None:
        raise NetShapeError(
            f'NetTrain: port "{port}" of {net._where} takes {describe(t_in)}, but each '
            f"training input is {describe(dims)}."
        )
    return net


def _fit_targets(net: Any, data: Any, port: str, index: bool) -> Any:
    t_out = net._output_types()[port]
    target_t = TensorT(data.dims(port))
    if index:
        return _fit_index_targets(net, data, port, t_out, target_t)
    assert target_t.dims is not None  # data always has known dims
    sequence_out = bool(t_out.dims) and t_out.dims[0] == VARYING
    if data.ragged and sequence_out and (not target_t.dims or target_t.dims[0] != VARYING):
        raise NetDataError(
            f'NetTrain: the targets for port "{port}" should be sequences as long as their '
            f"input sequences, but each is {describe(target_t)}."
        )
    merged = _unify_or_none(t_out, target_t)
    if merged is None:
        raise NetShapeError(
            f'NetTrain: the targets for port "{port}" should each be {describe(t_out)}, '
            f"but each is {describe(target_t)}."
        )
    return net._evolve(ports={port: merged}) if merged != t_out else net


def _fit_index_targets(net: Any, data: Any, port: str, t_out: TensorT, target_t: TensorT) -> Any:
    """The net with its output fitted to class-index targets: the output's dims less the last
    (the classes), whose count the indices may not pass."""
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
        check_indices(data.targets_of(port), classes, f'the targets for port "{port}"')
    if merged == expected or merged.dims is None:
        return net
    return net._evolve(ports={port: TensorT((*merged.dims, classes))})


def _unify_or_none(a: TensorT, b: TensorT) -> TensorT | None:
    try:
        return unify(a, b, "")
    except NetShapeError:
        return None
