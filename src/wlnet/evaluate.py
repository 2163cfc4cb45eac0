"""Applying a net to data: ``net(data)``. The one front end of every net, whatever its ports.

Rules (Wolfram's):

* a net with one input port takes its data directly; any net takes a dict ``{port: data}`` with a
  value for every input port (a net with several input ports takes only that);
* for a port of rank r, data of rank r is one example and data of rank r + 1 a batch; a scalar
  port takes any list as a batch; a list of sequences of different lengths is a batch of sequences
  (port ``("Varying", ...)``) and gives a list of arrays, one per sequence, unpadded; every port
  of one call gets one example, or batches of one length;
* when a port's dims are not all known, the data is first tried as one example and then as a
  batch, and the net is specialized to the first that type-checks;
* return types, one convention for every result (raw outputs, decoder properties, gradients):

  - numbers are NumPy values in the working precision (float32, or float64 with
    ``WorkingPrecision="Real64"``): one example gives an array of the port's dims, or a NumPy
    scalar (``np.float32``) for a scalar port; a batch gives one array with the batch first; a
    batch of sequences of different lengths gives a list of arrays. Given a torch tensor, raw
    outputs and gradients are torch tensors on the input's device instead;
  - an output port with a NetDecoder gives its decoded values: a ``"Decision"`` is a Python
    value (a ``bool``, a Class label; a list of them for a batch), as the Wolfram Language gives
    True/False or the label; numeric properties (``"Probability"``, ``"Entropy"``) are
    numbers as above (``np.float32`` for one example, a float32 array for a batch), never
    Python floats, so that ``net(x, None)`` and ``net(x, "Probability")`` have one type;
  - a net with several output ports gives a dict ``{port: result}``;
* ``NetEvaluationMode="Train"`` runs the lowered module in training mode (``module.train()``:
  DropoutLayer drops, BatchNormalizationLayer normalizes with the batch's statistics; its moving
  statistics are put back after the call, so evaluating never changes a net); ``"Test"`` (the
  default) in evaluation mode;
* ``net(data, NetPortGradient("Input"))`` gives gradients instead of outputs; see
  :mod:`wlnet.gradients`.

The computation itself is the net's one lowering (:func:`wlnet.lower.lower`, what ``to_torch()``
gives), run under ``torch.no_grad()``. This module knows nets only through the net protocol of
:mod:`wlnet.layers.base`; it imports no layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .cache import EvaluationCache
from .errors import (
    NetDataError,
    NetError,
    NetOptionError,
    add_context,
    check_options,
    closest,
)
from .fitting import fit_ports
from .gradients import NetPortGradient, Target, imposed_gradients, port_gradients, targets
from .inputs import as_data, encoded, in_order_data
from .lower import buffers_kept, lower
from .options import NUMPY_DTYPES, computing, positive_int, precision, target_device
from .symbols import All, Automatic

__all__ = ["EvaluationCache", "apply_net", "as_data", "evaluation_module"]

_OPTIONS = ("BatchSize", "WorkingPrecision", "TargetDevice", "NetEvaluationMode")
_MODES = ("Test", "Train")
# Automatic BatchSize runs the whole batch at once, in chunks of at most this many input
# elements (256 MiB of float32), so a huge batch never needs more than a bounded working set.
_AUTOMATIC_CHUNK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class _Request:
    """What the second argument of ``net(data, arg)`` asks for."""

    select: str | None = None  # one output port
    prop: Any = "Decision"  # the decoders' property: a name, or a name with an argument ("TopDecisions", 2)
    raw: bool = False  # None: outputs without decoding
    gradients: tuple[Target, ...] | None = None  # NetPortGradient: gradients instead of outputs
    single: bool = False  # one NetPortGradient (not All, not a list): its value alone


@dataclass(frozen=True)
class _Settings:
    """The evaluation options, parsed."""

    batch_size: Any  # Automatic or a positive int
    dtype: torch.dtype
    device: torch.device
    training: bool = False  # NetEvaluationMode -> "Train"
    mixed: bool = False  # WorkingPrecision -> "Mixed"
    chunk_elements: int = _AUTOMATIC_CHUNK_ELEMENTS


def apply_net(net, data, *args, **options):
    """Apply ``net`` to ``data``: one example or a batch.

    Wolfram: ``net[data]``, ``net[data, prop]``, ``net[data, opts]``, ``net[<|port -> data, ...|>]``,
    ``net[data, NetPortGradient[port]]``.

    Args:
        data: a number, nested lists, a NumPy array or a torch tensor; or a dict ``{port: data}``
            (any net; it must give every input port), which may also impose gradients at output
            ports, ``{NetPortGradient("Output"): gradient}``, for a gradient request.
        *args: at most one: ``None`` (raw outputs, without decoders), an output port's name (its
            value alone), a decoder property such as ``"Probability"``, or a
            :class:`~wlnet.gradients.NetPortGradient` (or a list of them) for gradients.
        BatchSize: ``Automatic`` or a positive int: how many examples are computed at once
            (results do not depend on it).
        WorkingPrecision: ``"Real32"`` (default), ``"Real64"``, or ``"Mixed"`` (computed in
            bfloat16 under autocast, results in float32).
        TargetDevice: ``"CPU"`` (default) or ``"GPU"`` (CUDA; an error when torch sees none).
        NetEvaluationMode: ``"Test"`` (default) or ``"Train"`` (training behaviour).

    Returns:
        See the module doc for the types: NumPy arrays and scalars for numbers, ``bool`` for
        decisions, torch tensors for torch inputs, dicts for several ports or gradients.

    >>> from wlnet import NetChain, LinearLayer, LogisticSigmoid, NetDecoder
    >>> net = NetChain([LinearLayer([], Weights=[[1.0]], Biases=[0.0]), LogisticSigmoid],
    ...                Input="Real", Output=NetDecoder("Boolean"))
    >>> net(0.5), net(0.5, "Probability"), net(0.5, None)
    (True, np.float32(0.62245935), np.float32(0.62245935))
    >>> net([-1.0, 1.0]), net([-1.0, 1.0], "Probability")
    ([False, True], array([0.26894143, 0.7310586 ], dtype=float32))
    """
    plain = not args and not options and type(data) is np.ndarray  # net(x): the common call
    if plain:
        known = _known_array_call(net, data)
        if known is not None:
            return known
    net, data = in_order_data(net, data) if net._ports_in_order else (net, data)  # see in_order_data
    request = _request(net, args)
    settings = _parse_options(net._where, options)
    net._require_initialized("evaluate the net")
    values, imposed = _bind(net, data, request)
    examples = {port: _prepared(net, port, value, settings.dtype) for port, value in values.items()}
    fitted, batched = fit_ports(net, examples)
    with computing(settings.mixed, settings.device):  # "Mixed": bfloat16, results float32
        if request.gradients is not None:
            return _gradients(fitted, examples, imposed, batched, settings, request)
        result = _apply_fitted(fitted, examples, batched, settings, request)
    if plain and fitted is net and _plain_ports(net):  # (plain: no options, so "Test" and Real32)
        # The next such call goes straight through: whether it is a batch, and the module.
        net._cache[("array call", data.shape)] = (batched, evaluation_module(net, settings.dtype, settings.device))
    return result


def _plain_ports(net) -> bool:
    """Whether ``net`` has one input and one output port, neither with a coder."""
    ports = (*net._input_names, *net._output_names)
    return len(ports) == 2 and all(net._coder(port) is None for port in ports)


def _known_array_call(net, data: np.ndarray):
    """``net(data)`` for a float32 array of a shape this net has evaluated before, without the
    checks that call passed: its dims fit, batch or not; nothing to encode or decode; one chunk.
    None when that is not so (the full path then runs, and may remember the shape)."""
    known = net._cache.get(("array call", data.shape))
    if known is None or data.dtype != np.float32 or data.size > _AUTOMATIC_CHUNK_ELEMENTS:
        return None
    flags = data.flags
    if not (flags.c_contiguous and flags.writeable):
        return None
    batched, module = known
    x = torch.from_numpy(data if batched else data[None])
    try:  # no torch.no_grad() needed: neither the module's parameters nor x want a gradient
        y = module(x)
    except NetError:
        raise
    except RuntimeError as error:
        raise _evaluation_error(net, {net._input_names[0]: x}, error) from None
    return (y if batched else y[0]).numpy()[()]


def _apply_fitted(net, examples: dict, batched: bool, settings: _Settings, request: _Request):
    if any(isinstance(x, list) for x in examples.values()):
        return _run_ragged(net, examples, settings, request)
    tensors = {}
    for port, x in examples.items():
        tensor = x if isinstance(x, torch.Tensor) else torch.from_numpy(x)
        tensors[port] = tensor if batched else tensor.unsqueeze(0)
    outputs = _run(net, tensors, settings)
    if not batched:
        outputs = {name: value[0] for name, value in outputs.items()}
    devices = [x.device for x in examples.values() if isinstance(x, torch.Tensor)]
    return _finish(net, outputs, request, devices[0] if devices else None)


def _gradients(net, examples: dict, imposed: dict, batched: bool, settings: _Settings, request: _Request):
    """The gradients the request asks for (see :mod:`wlnet.gradients`)."""
    assert request.gradients is not None
    dtype = NUMPY_DTYPES[settings.dtype]
    given = {port: as_data(value, f'{net._where}: the gradient imposed at output port "{port}"', dtype)
             for port, value in imposed.items()}
    results = port_gradients(net, examples, given, batched, request.gradients, settings)
    return next(iter(results.values())) if request.single else results


def _is_gradient_request(choice) -> bool:
    return isinstance(choice, NetPortGradient) or (
        isinstance(choice, list) and len(choice) > 0 and all(isinstance(c, NetPortGradient) for c in choice)
    )


def _request(net, args: tuple) -> _Request:
    if not args:
        return _Request()
    outputs = net._output_names
    decoders = any(net._coder(name) is not None for name in outputs)
    choice = args[0]
    if len(args) == 1 and choice is None:
        return _Request(raw=True)
    if len(args) == 1 and _is_gradient_request(choice):
        specs = [choice] if isinstance(choice, NetPortGradient) else choice
        single = isinstance(choice, NetPortGradient) and choice.spec is not All
        return _Request(gradients=targets(net, specs), single=single)
    if len(args) == 1 and isinstance(choice, str) and choice in outputs:
        return _Request(select=choice)
    if len(args) == 1 and isinstance(choice, (str, tuple)) and decoders:  # ("Probability", "cat") too
        return _Request(prop=choice)
    accepted = ["None (raw output, without decoders)"]
    if len(outputs) > 1:
        accepted.append(f"an output port ({', '.join(map(repr, outputs))})")
    if decoders:
        accepted.append("a decoder property")
    accepted.append('NetPortGradient("port") (gradients)')
    raise NetOptionError(
        f"{net._where}: unexpected extra argument {choice!r}; options are given by name "
        f"({', '.join(_OPTIONS)}), and the second argument may be {', '.join(accepted[:-1])} or {accepted[-1]}."
    )


_CPU = torch.device("cpu")


def _parse_options(where: str, options: dict) -> _Settings:
    if not options:
        return _Settings(Automatic, torch.float32, _CPU)
    check_options(where, options, _OPTIONS)
    return _Settings(
        batch_size=positive_int(where, "BatchSize", options.get("BatchSize", Automatic)),
        dtype=precision(where, options.get("WorkingPrecision", "Real32")),
        device=target_device(options.get("TargetDevice", "CPU"), where),
        training=_training(where, options.get("NetEvaluationMode", "Test")),
        mixed=options.get("WorkingPrecision") == "Mixed",
    )


def _training(where: str, mode) -> bool:
    """Whether NetEvaluationMode ``mode`` is "Train"; NetOptionError (Wolfram's invnem) unless it is
    "Test" or "Train"."""
    if isinstance(mode, str) and mode in _MODES:
        return mode == "Train"
    hint = closest(mode, _MODES) if isinstance(mode, str) else ""
    error = NetOptionError(
        f'{where}: the value of NetEvaluationMode should be "Test" or "Train", but was {mode!r:.80}.{hint}'
    )
    error.code = "invnem"
    raise error


def _bind(net, data, request: _Request) -> tuple[dict, dict]:
    """The data of each input port, ``{port: data}`` in port order, and the gradients imposed at
    output ports, ``{port: gradient}``."""
    names = net._input_names
    if not isinstance(data, dict):
        if len(names) == 1:
            return {names[0]: data}, {}
        raise NetDataError(
            f"{net._where}: the net has input ports {', '.join(map(repr, names))}, so the data should be a "
            f"dict {{port: data}}, not {type(data).__name__}."
        )
    given = {k: v for k, v in data.items() if isinstance(k, NetPortGradient)}
    imposed = imposed_gradients(net, given, asked=request.gradients is not None)
    data = {k: v for k, v in data.items() if not isinstance(k, NetPortGradient)}
    for port in data:
        if port not in names:
            raise NetDataError(
                f'{net._where}: the data names a port "{port}" that is not an input port.'
                f"{closest(str(port), names)} The input ports are: {', '.join(names)}."
            )
    missing = [name for name in names if name not in data]
    if missing:
        error = NetDataError(
            f"{net._where}: the data gives no value for the input port{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; give a dict with every input port: "
            f"{', '.join(map(repr, names))}."
        )
        error.code = "inpmiss"
        raise error
    return {name: data[name] for name in names}, imposed


def _prepared(net, port: str, value, dtype: torch.dtype):
    """One port's data, encoded if the port has an encoder, as numbers (see :func:`as_data`)."""
    where = f'{net._where}: the data for port "{port}"'
    return as_data(encoded(net._coder(port), value, where), where, NUMPY_DTYPES[dtype])


def _finish(net, outputs: dict, request: _Request, device: torch.device | None):
    """The values to return for the outputs of one example or one batch."""
    names = [request.select] if request.select is not None else list(outputs)
    results = {}
    for name in names:
        value = outputs[name]
        decoder = net._coder(name)
        if decoder is not None and not request.raw:
            results[name] = decoder(value.cpu().numpy(), request.prop)
        elif device is not None:
            results[name] = value.to(device)
        else:
            results[name] = value.cpu().numpy()[()]
    return results[names[0]] if len(names) == 1 else results


def evaluation_module(net, dtype: torch.dtype, device: torch.device, training: bool = False) -> torch.nn.Module:
    """The net's lowered module in ``dtype`` on ``device``, for evaluation (cached on the net): in
    evaluation mode, or in training mode with ``training`` (NetEvaluationMode -> "Train")."""
    key = ("module", dtype, str(device), training)
    module = net._cache.get(key)
    if module is None:
        module = lower(net).to(device=device, dtype=dtype).train(training)
        module.requires_grad_(False)
        net._cache[key] = module
    return module


def _run(net, tensors: dict, settings: _Settings) -> dict:
    """The outputs ``{port: tensor}`` for batches ``{port: tensor}``, computed in chunks."""
    dtype = settings.dtype
    module = evaluation_module(net, dtype, settings.device, settings.training)
    inputs = [t.to(device=settings.device, dtype=dtype) for t in tensors.values()]
    n = inputs[0].shape[0]
    batch_size = settings.batch_size
    if batch_size is Automatic:
        per_example = max(1, sum(t[0].numel() for t in inputs))
        batch_size = max(1, settings.chunk_elements // per_example)
    try:
        with torch.no_grad(), buffers_kept(module, settings.training):  # "Train" mode changes no net
            outputs = _chunked(module, inputs, n, batch_size, net._output_names)
        # Under "Mixed" precision's autocast the outputs may be bfloat16: results are in ``dtype``.
        return {name: value if value.dtype == dtype else value.to(dtype) for name, value in outputs.items()}
    except NetError:
        raise
    except RuntimeError as error:
        raise _evaluation_error(net, tensors, error) from None


def _evaluation_error(net, tensors: dict, error: RuntimeError) -> BaseException:
    """A RuntimeError of torch while the net ran on ``{port: tensor}``, with the net and the shapes."""
    if len(tensors) == 1:
        context = f"while evaluating {net._where} on an input of shape {tuple(next(iter(tensors.values())).shape)}"
    else:
        shapes = ", ".join(f'"{p}": {tuple(t.shape)}' for p, t in tensors.items())
        context = f"while evaluating {net._where} on inputs of shapes {shapes}"
    return add_context(error, context)


def _chunked(module, inputs: list, n: int, batch_size: int, outputs: list) -> dict:
    """The module's outputs on ``n`` examples, ``batch_size`` at a time, each chunk written into
    outputs allocated once: at most one chunk's outputs exist besides them (concatenating the
    chunks at the end would need the outputs twice)."""
    results: dict = {}
    for i in range(0, n, batch_size):
        piece = module(*[t[i:i + batch_size] for t in inputs])
        piece = piece if isinstance(piece, dict) else {outputs[0]: piece}
        if i == 0 and batch_size >= n:
            return piece  # one chunk: its outputs are the results
        for name in outputs:
            value = piece[name]
            if i == 0:
                results[name] = value.new_empty((n, *value.shape[1:]))
            results[name][i:i + value.shape[0]] = value
        del piece, value  # before the next chunk is computed
    return results


def _run_ragged(net, examples: dict, settings: _Settings, request: _Request):
    """Run sequences of different lengths (one input port), grouped by length, in order."""
    ((port, sequences),) = examples.items()
    by_length: dict[int, list[int]] = {}
    for i, example in enumerate(sequences):
        by_length.setdefault(example.shape[0], []).append(i)
    results: list[Any] = [None] * len(sequences)
    for indices in by_length.values():
        stacked = torch.from_numpy(np.stack([sequences[i] for i in indices]))
        outputs = _run(net, {port: stacked}, settings)
        for row, i in enumerate(indices):
            results[i] = _finish(net, {name: value[row] for name, value in outputs.items()}, request, None)
    if isinstance(results[0], dict):
        return {name: [result[name] for result in results] for name in results[0]}
    return results
