"""Applying a net to data: ``net(data)``. Single example or batch, just-in-time shape inference.

Rules (Wolfram's, for a net with one input port of rank r):

* data of rank r is one example, data of rank r + 1 a batch; a scalar port takes any list as a
  batch; a list of sequences of different lengths is a batch of sequences (port ``("Varying", ...)``)
  and gives a list of arrays, one per sequence, unpadded;
* when the port's dims are not all known, the data is first tried as one example and then as a
  batch, and the net is specialized to the first that type-checks;
* the result is a NumPy array (float32, or float64 with ``WorkingPrecision="Real64"``), a NumPy
  scalar for one scalar output, or a torch tensor on the input's device when given a torch tensor.

The computation itself is the net's lowered torch module (``net.to_torch()``'s form), run under
``torch.no_grad()``.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import (
    NetDataError,
    NetError,
    NetOptionError,
    NetShapeError,
    add_context,
    check_options,
    non_numeric_text,
)
from .symbols import Automatic
from .types import VARYING, TensorT, describe, unify

__all__ = ["apply_net"]

_OPTIONS = ("BatchSize", "WorkingPrecision", "TargetDevice")
_PRECISIONS = {"Real32": torch.float32, "Real64": torch.float64}
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
# Automatic BatchSize runs the whole batch at once, in chunks of at most this many input
# elements (256 MiB of float32), so a huge batch never needs more than a bounded working set.
_AUTOMATIC_CHUNK_ELEMENTS = 1 << 26


def apply_net(net, data, *args, **options):
    """Apply ``net`` to ``data``: one example or a batch.

    Wolfram: ``net[data, opts]``.

    Args:
        data: a number, nested lists, a NumPy array or a torch tensor.
        BatchSize: ``Automatic`` or a positive int: how many examples are computed at once
            (results do not depend on it).
        WorkingPrecision: ``"Real32"`` (default) or ``"Real64"``.
        TargetDevice: ``"CPU"`` (default) or ``"GPU"`` (CUDA; an error when torch sees none).
    """
    ((out_port, _),) = net._output_types().items()
    decoder = net._coder(out_port)
    prop = "Decision"
    if args:
        if len(args) > 1 or not (args[0] is None or decoder is not None and isinstance(args[0], str)):
            raise NetOptionError(
                f"{net._where}: unexpected extra argument {args[0]!r}; options are given by name "
                f"({', '.join(_OPTIONS)})"
                + (", and the second argument may be None (raw output) or a decoder property."
                   if decoder is not None else ", and the second argument may be None.")
            )
        prop = args[0]
    batch_size, dtype, device = _parse_options(net._where, options)
    net._require_initialized("evaluate the net")
    ((port, port_type),) = net._input_types().items()
    where = f'{net._where}: the data for port "{port}"'
    encoder = net._coder(port)
    if encoder is not None and encoder.accepts(data):
        data = encoder(data)
    x = _as_data(data, where, _NUMPY_DTYPES[dtype])
    net, batched = _fit(net, port, port_type, x, where)
    if isinstance(x, list):
        return _run_ragged(net, x, batch_size, dtype, device)
    out_device = x.device if isinstance(x, torch.Tensor) else None
    tensor = x if isinstance(x, torch.Tensor) else torch.from_numpy(x)
    if not batched:
        tensor = tensor.unsqueeze(0)
    result = _run(net, tensor, batch_size, dtype, device)
    if not batched:
        result = result[0]
    if decoder is not None and prop is not None:
        return decoder(result.cpu().numpy(), prop)
    if out_device is not None:
        return result.to(out_device)
    return result.numpy()[()]


def _parse_options(where: str, options: dict):
    if not options:
        return Automatic, torch.float32, torch.device("cpu")
    check_options(where, options, _OPTIONS)
    batch_size = options.get("BatchSize", Automatic)
    if batch_size is not Automatic and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise NetOptionError(
            f"{where}: the value of BatchSize should be Automatic or a positive integer, "
            f"but was {batch_size!r}."
        )
    precision = options.get("WorkingPrecision", "Real32")
    if precision not in _PRECISIONS:
        raise NetOptionError(
            f'{where}: the value of WorkingPrecision should be "Real32" or "Real64", '
            f"but was {precision!r}."
        )
    return batch_size, _PRECISIONS[precision], target_device(options.get("TargetDevice", "CPU"), where)


def target_device(spec, where: str) -> torch.device:
    """The torch device for a TargetDevice value: "CPU", "GPU" / "CUDA", or ("GPU", n) 1-based."""
    index = 1
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] in ("GPU", "CUDA"):
        spec, index = spec
    if spec == "CPU":
        return torch.device("cpu")
    if spec in ("GPU", "CUDA") and isinstance(index, int) and index >= 1:
        if not torch.cuda.is_available():
            raise NetOptionError(
                f'{where}: TargetDevice "GPU" needs a CUDA GPU, but torch sees none on this machine '
                f'(torch {torch.__version__}). Use TargetDevice="CPU".'
            )
        if index > torch.cuda.device_count():
            raise NetOptionError(
                f"{where}: TargetDevice asks for GPU {index}, but there are only "
                f"{torch.cuda.device_count()}."
            )
        return torch.device("cuda", index - 1)
    raise NetOptionError(
        f'{where}: the value of TargetDevice should be "CPU", "GPU" or ("GPU", n), but was {spec!r}.'
    )


def _not_numeric(where: str, what: str) -> NetDataError:
    return NetDataError(f"{where} should be real numbers, but {what}.")


def _as_data(data, where: str, dtype=np.float32):
    """``data`` as a NumPy array or torch tensor, or a list of arrays for sequences of several lengths."""
    if isinstance(data, torch.Tensor):
        if data.dtype == torch.bool or data.is_complex():
            raise _not_numeric(where, f"it is a tensor of {data.dtype}")
        if data.numel() == 0:
            raise NetDataError(
                f"{where} is empty (shape {tuple(data.shape)}); empty inputs are not permitted."
            )
        return data
    if data is None or isinstance(data, (bool, str, bytes, dict, set)):
        raise _not_numeric(where, f"it is {data!r}")
    try:
        array = np.asarray(data)
    except ValueError:
        return _ragged(data, where, dtype)
    if array.dtype.kind not in "iuf":
        raise _not_numeric(where, non_numeric_text(array))
    if array.size == 0:
        raise NetDataError(f"{where} is empty (dims {array.shape}); empty inputs are not permitted.")
    return array.astype(dtype, copy=False)


def _ragged(data, where: str, dtype) -> list[np.ndarray]:
    """A batch of sequences of different lengths, or NetDataError for any other ragged data."""
    ragged = NetDataError(
        f"{where} is ragged: its sublists have different lengths. Only a batch of sequences "
        '(a port such as ("Varying", n)) may have examples of different lengths.'
    )
    if not isinstance(data, (list, tuple)):
        raise ragged
    examples = []
    for item in data:
        try:
            example = _as_data(item, where, dtype)
        except NetDataError as error:
            if "ragged" in str(error):
                raise ragged from None
            raise
        if isinstance(example, torch.Tensor):
            example = example.detach().cpu().numpy()
        examples.append(example)
    first = examples[0]
    if first.ndim == 0 or any(e.ndim != first.ndim or e.shape[1:] != first.shape[1:] for e in examples):
        raise ragged
    return examples


def _fit(net, port: str, t: TensorT, x, where: str):
    """The net to run (specialized to the data's dims if needed) and whether ``x`` is a batch."""
    ragged = isinstance(x, list)
    shape = None if ragged else tuple(x.shape)
    if t.dims is not None:
        if ragged:
            batched, dims = True, (VARYING, *x[0].shape[1:])
        elif len(shape) == t.rank:
            batched, dims = False, shape
        elif len(shape) == t.rank + 1:
            batched, dims = True, shape[1:]
        else:
            raise NetShapeError(
                f"{where} should be {describe(t)} or a batch of them, but it is "
                f"{describe(TensorT(shape))}."
            )
        if ragged and t.dims[0] != VARYING:
            raise NetDataError(
                f"{where} should be {describe(t)} or a batch of them, but it is ragged: its "
                "sublists have different lengths."
            )
        data_type = TensorT(dims)
        try:
            unify(t, data_type, where)
        except NetShapeError:
            raise NetShapeError(
                f"{where} should be {describe(t)} or a batch of them, but "
                f"{'each example' if batched else 'it'} is {describe(data_type)}."
            ) from None
        return _specialized(net, port, t, data_type) if not t.known else net, batched
    attempts = [(True, (VARYING, *x[0].shape[1:]))] if ragged else [(False, shape)]
    if not ragged and len(shape) >= 1:
        attempts.append((True, shape[1:]))
    failures = []
    for batched, dims in attempts:
        try:
            return _specialized(net, port, t, TensorT(dims)), batched
        except NetError as error:
            reason = str(error).removeprefix(f"{net._where}: ").rstrip(".")
            failures.append(f"as {'a batch' if batched else 'one example'}, {reason}")
    raise NetShapeError(
        f"{where} fits the net neither as one example nor as a batch ("
        + "; ".join(failures) + ")"
    )


def _specialized(net, port: str, t: TensorT, data_type: TensorT):
    """``net`` with its input port narrowed to ``data_type``, cached on ``net``."""
    key = ("input", port, data_type)
    cached = net._cache.get(key)
    if cached is None:
        cached = net._cache[key] = net._with_input_type(port, unify(t, data_type, port))
    return cached


def _run(net, x: torch.Tensor, batch_size, dtype, device) -> torch.Tensor:
    module = net._lowered(dtype, device)
    if x.dtype != dtype or x.device != device:
        x = x.to(device=device, dtype=dtype)
    n = x.shape[0]
    if batch_size is Automatic:
        per_example = max(1, x[0].numel())
        batch_size = max(1, _AUTOMATIC_CHUNK_ELEMENTS // per_example)
    try:
        with torch.no_grad():
            if n <= batch_size:
                return module(x)
            return torch.cat([module(x[i:i + batch_size]) for i in range(0, n, batch_size)])
    except NetError:
        raise
    except RuntimeError as error:
        context = f"while evaluating {net._where} on an input of shape {tuple(x.shape)}"
        raise add_context(error, context) from None


def _run_ragged(net, examples: list[np.ndarray], batch_size, dtype, device) -> list[np.ndarray]:
    """Run sequences of different lengths, grouped by length, and give them back in order."""
    by_length: dict[int, list[int]] = {}
    for i, example in enumerate(examples):
        by_length.setdefault(example.shape[0], []).append(i)
    results: list = [None] * len(examples)
    for indices in by_length.values():
        stacked = torch.from_numpy(np.stack([examples[i] for i in indices]))
        out = _run(net, stacked, batch_size, dtype, device).cpu().numpy()
        for row, i in enumerate(indices):
            results[i] = out[row]
    return results
