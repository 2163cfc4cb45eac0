"""Data given to a net, as numbers: :func:`encoded` and :func:`as_data`, which evaluation and NetTrain share.

Numbers, nested lists, NumPy arrays and torch tensors are accepted; what is not real numbers, is
empty, ragged (other than a batch of sequences of different lengths), nested too deeply or beyond
the working precision's range is a :class:`~wlnet.errors.NetDataError` that says where and why.
"""

from __future__ import annotations

import numpy as np
import torch

from .arrays import real_numbers, tensor_problem
from .errors import NetDataError

__all__ = ["as_data", "encoded", "in_order_data"]


def encoded(encoder, value, where: str):
    """``value`` encoded by a port's ``encoder`` (None: the port has none), unless it is already
    encoded (numbers bypass an encoder); the encoder's errors ("'x' is not one of the labels ...")
    say ``where`` the data is."""
    if encoder is None or not encoder.accepts(value):
        return value
    try:
        return encoder(value)
    except NetDataError as error:
        raise NetDataError(f"{where}: {error}") from None


def _not_numeric(where: str, what: str) -> NetDataError:
    return NetDataError(f"{where} should be real numbers, but {what}.")


# Data nested deeper than this is refused before NumPy sees it (NumPy allows 32 or 64 dims).
_MAX_NESTING = 32


def as_data(data, where: str, dtype=np.float32):
    """``data`` as a NumPy array or torch tensor, or a list of arrays for sequences of several lengths.

    A NumPy array comes back in ``dtype``, writable and with non-negative strides (a read-only
    or reversed array is copied, so torch can share it without a warning); values beyond
    ``dtype``'s range are a NetDataError rather than infinities. A torch tensor comes back as it
    is (it is converted when it runs), after the same check of its range when it will be narrowed.
    """
    if isinstance(data, torch.Tensor):
        problem = tensor_problem(data)
        if problem is not None:
            raise _not_numeric(where, problem)
        if data.numel() == 0:
            raise NetDataError(
                f"{where} is empty (shape {tuple(data.shape)}); empty inputs are not permitted."
            )
        if data.is_floating_point() and data.element_size() > np.dtype(dtype).itemsize:  # it will be narrowed
            values = data.detach()
            if bool(((values.abs() > float(np.finfo(dtype).max)) & torch.isfinite(values)).any()):
                raise _beyond_range(values.cpu().numpy(), where, dtype)
        return data
    return _array_data(data, where, dtype, ragged=True)


def _array_data(data, where: str, dtype, ragged: bool):
    """Data other than a tensor as an array of ``dtype``; when ``ragged``, a list of sequences of
    different lengths gives a list of arrays."""
    if data is None or isinstance(data, (bool, str, bytes, dict, set)):
        raise _not_numeric(where, f"it is {data!r:.80}")
    try:
        array = np.asarray(data)
    except ValueError:
        depth = _nesting(data)
        if depth > _MAX_NESTING:
            raise NetDataError(
                f"{where} is nested {'more than 1000' if depth > 1000 else depth} levels deep; data may "
                f"have at most {_MAX_NESTING} levels (the batch and one example's dims)."
            ) from None
        if not ragged:
            raise _ragged_error(where) from None
        return _ragged(data, where, dtype)
    except (TypeError, RuntimeError) as error:  # e.g. a list of tensors that need .detach()
        raise _not_numeric(where, f"it cannot be read as numbers ({error})") from None
    array = real_numbers(array, lambda why: _not_numeric(where, why))
    if array.size == 0:
        raise NetDataError(f"{where} is empty (dims {array.shape}); empty inputs are not permitted.")
    try:
        with np.errstate(over="raise"):
            array = array.astype(dtype, copy=False)
    except FloatingPointError:
        raise _beyond_range(array, where, dtype) from None
    if not array.flags.writeable or any(stride < 0 for stride in array.strides):
        array = array.copy()
    return array


def _nesting(data) -> int:
    """How deeply the first elements of nested lists go (counted up to 1001), without recursion."""
    depth = 0
    while isinstance(data, (list, tuple)) and len(data) > 0 and depth <= 1000:
        data, depth = data[0], depth + 1
    return depth


def _beyond_range(array: np.ndarray, where: str, dtype) -> NetDataError:
    limit = np.finfo(dtype).max
    with np.errstate(invalid="ignore"):
        index = np.unravel_index(int(np.argmax((np.abs(array) > limit) & np.isfinite(array))), array.shape)
    at = f" at position [{', '.join(str(int(i) + 1) for i in index)}]" if index else ""
    return NetDataError(
        f"{where} has the value {array[index].item()!r}{at}, beyond the range of {np.dtype(dtype).name} "
        f"(largest magnitude {float(limit):.4g}), where it would become infinite. Evaluate with "
        'WorkingPrecision="Real64", or scale the data.'
    )


def _ragged_error(where: str) -> NetDataError:
    return NetDataError(
        f"{where} is ragged: its sublists have different lengths. Only a batch of sequences "
        '(a port such as ("Varying", n)) may have examples of different lengths.'
    )


def _ragged(data, where: str, dtype) -> list[np.ndarray]:
    """A batch of sequences of different lengths, or NetDataError for any other ragged data."""
    if not isinstance(data, (list, tuple)):
        raise _ragged_error(where)
    examples = []
    for item in data:
        if isinstance(item, torch.Tensor):
            example = as_data(item, where, dtype).detach().cpu().numpy().astype(dtype, copy=False)
        else:
            example = _array_data(item, where, dtype, ragged=False)
        examples.append(example)
    first = examples[0]
    if first.ndim == 0 or any(e.ndim != first.ndim or e.shape[1:] != first.shape[1:] for e in examples):
        raise _ragged_error(where)
    return examples


def in_order_data(net, data):
    """``(net, data)`` for a layer whose input ports take their sources in order (TotalLayer,
    CatenateLayer): a list of arrays (one per port, Wolfram's ``layer[{x1, x2}]``) as a dict by
    port; and, for a layer whose number of ports is not fixed yet (InputPorts Automatic), the
    layer with as many ports as the list, or the dict's "Input<i>" keys, give (cached on it)."""
    names = net._input_names
    if isinstance(data, (list, tuple)):
        if not data:
            raise NetDataError(f"{net._where}: the list of inputs is empty; give one array per input port.")
        if names and len(data) != len(names):
            raise NetDataError(
                f"{net._where}: the layer has {len(names)} input ports ({', '.join(map(repr, names))}), but the list "
                f"gives {len(data)} arrays; give one per port, in order."
            )
        net = net if names else _with_input_count(net, len(data))
        return net, dict(zip(net._input_names, data))
    if names:
        return net, data
    given = [key for key in data if isinstance(key, str)] if isinstance(data, dict) else []  # not NetPortGradients
    numbers = [int(key[5:]) for key in given if key[:5] == "Input" and key[5:].isdigit()]
    if not given or len(numbers) != len(given) or 0 in numbers:
        what = f"a dict with the keys {', '.join(map(repr, data))}" if isinstance(data, dict) else type(data).__name__
        raise NetDataError(
            f"{net._where}: the number of input ports is not fixed yet (InputPorts Automatic), so the data should "
            f'be a list of arrays [x1, x2, ...], one per port, or a dict {{"Input1": x1, "Input2": x2, ...}}, not '
            f"{what}."
        )
    return _with_input_count(net, max(numbers)), data


def _with_input_count(net, n: int):
    key = ("input ports", n)
    fitted = net._cache.get(key)
    if fitted is None:
        fitted = net._with_input_count(n)
        net._cache[key] = fitted
    return fitted
