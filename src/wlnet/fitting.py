"""Data fitted to a net's input ports: whether each port's data is one example or a batch, and the
net specialized to the data's dims where its ports leave them open (Wolfram's just-in-time shape
inference). Evaluation (:mod:`wlnet.evaluate`) and NetTrain's data reading use it; like evaluation,
it knows nets only through the net protocol and imports no layer.
"""

from __future__ import annotations

from .errors import NetDataError, NetError, NetShapeError
from .types import VARYING, TensorT, describe, unify

__all__ = ["fit_ports", "specialized"]


def fit_ports(net, examples: dict):
    """The net specialized to every port's data, and whether the data is a batch (the same for
    every port, with batches of one length)."""
    for port, x in examples.items():
        if isinstance(x, list) and len(examples) > 1:
            raise NetDataError(
                f'{net._where}: the data for port "{port}" is a batch of sequences of different lengths; '
                "a net with several ports takes such batches only one length at a time."
            )
    batched = {}
    for port, x in examples.items():
        net, batched[port] = _fit(net, port, net._ports[port], x, f'{net._where}: the data for port "{port}"')
    if len(examples) > 1:
        _check_ports_agree(net, examples, batched)
    return net, next(iter(batched.values()))


def _check_ports_agree(net, examples: dict, batched: dict) -> None:
    if len(set(batched.values())) > 1:
        one = next(p for p in batched if not batched[p])
        many = next(p for p in batched if batched[p])
        raise NetDataError(
            f'{net._where}: the data for port "{one}" is one example, but the data for port "{many}" is '
            "a batch; give every port one example, or every port a batch of the same length."
        )
    sizes = {port: x.shape[0] for port, x in examples.items()}
    if next(iter(batched.values())) and len(set(sizes.values())) > 1:
        raise NetDataError(
            f"{net._where}: the batches for the input ports have different lengths ("
            + ", ".join(f'"{p}": {n}' for p, n in sizes.items()) + "); they should be equal."
        )


def _fit(net, port: str, t: TensorT, x, where: str):
    """The net to run (specialized to the data's dims if needed) and whether ``x`` is a batch."""
    if t.dims is None:
        return _fit_unknown_rank(net, port, t, x, where)
    ragged = isinstance(x, list)
    if ragged:
        if t.dims[0] != VARYING:
            raise NetDataError(
                f"{where} should be {describe(t)} or a batch of them, but it is ragged: its "
                "sublists have different lengths."
            )
        batched, dims = True, (VARYING, *x[0].shape[1:])
    else:
        batched, dims = _batched_dims(t, tuple(x.shape), where)
    data_type = TensorT(dims)
    try:
        unify(t, data_type, where)
    except NetShapeError:
        raise NetShapeError(
            f"{where} should be {describe(t)} or a batch of them, but "
            f"{'each example' if batched else 'it'} is {describe(data_type)}."
        ) from None
    return specialized(net, port, t, data_type) if not t.known else net, batched


def _batched_dims(t: TensorT, shape: tuple, where: str) -> tuple[bool, tuple]:
    """Whether data of ``shape`` is a batch for a port of type ``t`` (of known rank), and the dims of
    one example."""
    assert t.rank is not None
    if len(shape) == t.rank:
        return False, shape
    if len(shape) == t.rank + 1:
        return True, shape[1:]
    raise NetShapeError(
        f"{where} should be {describe(t)} or a batch of them, but it is {describe(TensorT(shape))}."
    )


def _fit_unknown_rank(net, port: str, t: TensorT, x, where: str):
    """Try the data as one example, then as a batch; the first that type-checks wins."""
    if isinstance(x, list):
        attempts = [(True, (VARYING, *x[0].shape[1:]))]
    else:
        shape = tuple(x.shape)
        attempts = [(False, shape)] + ([(True, shape[1:])] if shape else [])
    failures = []
    for batched, dims in attempts:
        try:
            return specialized(net, port, t, TensorT(dims)), batched
        except NetError as error:
            reason = str(error).removeprefix(f"{net._where}: ").rstrip(".")
            failures.append(f"as {'a batch' if batched else 'one example'}, {reason}")
    raise NetShapeError(
        f"{where} fits the net neither as one example nor as a batch ("
        + "; ".join(failures) + ")"
    )


def specialized(net, port: str, t: TensorT, data_type: TensorT):
    """``net`` with its input port narrowed to ``data_type``, cached on ``net``."""
    key = ("input", port, data_type)
    cached = net._cache.get(key)
    if cached is None:
        cached = net._with_input_type(port, unify(t, data_type, port))
        net._cache[key] = cached
    return cached
