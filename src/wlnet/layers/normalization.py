"""BatchNormalizationLayer: each channel normalized by its mean and variance, then scaled and shifted."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from ..arrays import as_array
from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import Automatic
from ..types import VARYING, TensorT, describe, parse_port, unify
from .base import Layer, _number_text, module_input, parse_multiplier

__all__ = ["BatchNormalization", "BatchNormalizationLayer"]

#: The layer's arrays: two trained by gradients (parameters), two by the layer itself (buffers).
ARRAYS = ("Scaling", "Biases", "MovingMean", "MovingVariance")
MOVING = ("MovingMean", "MovingVariance")
_OPTIONS = ("Epsilon", "Momentum", "Interleaving", *ARRAYS, "LearningRateMultipliers", "Input", "Output")
_WHERE = "BatchNormalizationLayer"


class BatchNormalizationLayer(Layer):
    """Normalizes each channel of its input by a mean and a variance, then scales and shifts it.

    Wolfram: ``BatchNormalizationLayer[]``, ``BatchNormalizationLayer["Epsilon" -> e, "Momentum" -> m,
    Interleaving -> True, "Input" -> dims]``.

    In evaluation (``net(x)``, Wolfram's ``NetEvaluationMode -> "Test"``) it computes, per channel,
    ``Scaling * (x - MovingMean) / sqrt(MovingVariance + Epsilon) + Biases``. While NetTrain trains it
    (and with ``NetEvaluationMode="Train"``) it uses the mean and the biased variance (divided by N)
    of the batch instead, taken per channel over the batch and every other dim of the input; NetTrain
    then updates the moving statistics after each batch, with the batch's values:
    ``Moving <- Moving * Momentum + batch * (1 - Momentum)`` (MXNet's rule, which the Wolfram
    Language uses, with the biased variance; PyTorch's running_var takes the unbiased one). An
    evaluation in "Train" mode leaves the net unchanged.

    Args:
        Epsilon: added to the variance before its square root (positive; 0.001, as in the Wolfram
            Language; PyTorch's default is 1e-5).
        Momentum: the fraction of the moving statistics kept at each training batch (0 to 1; 0.9;
            PyTorch's ``momentum`` is ``1 - Momentum``). 1 freezes them.
        Interleaving: False (the default): the channels are the first dim of each example
            (``(c, h, w)``, as PyTorch's NCHW without the batch); True: the last (``(h, w, c)``).
        Scaling, Biases: the length-c vectors that scale and shift the normalized channels, trained
            by gradients (NetInitialize: ones and zeros).
        MovingMean, MovingVariance: the length-c moving statistics (NetInitialize: zeros and ones),
            arrays of the net that no gradient trains: in ``to_torch()`` they are buffers.
        LearningRateMultipliers: the multiplier of the arrays; 0 (or None) freezes all four: the
            moving statistics stay as they are during NetTrain too, as the Wolfram Language documents.
        Input, Output: the ports' dims (the same).

    Ports:
        Input: an array of rank at least 1 (a vector of c channels, ``(c, L)``, ``(c, h, w)``, ...),
            its channel dim fixed; other dims may be "Varying" (``Interleaving=True`` for a sequence
            of channel vectors, ``("Varying", c)``).
        Output: an array of the input's dims.

    >>> bn = BatchNormalizationLayer(Scaling=[1, 2], Biases=[0, 1], MovingMean=[1, 1], MovingVariance=[4, 1], Input=2)
    >>> bn([[3, 2], [5, 0]]).astype(float).round(4).tolist()
    [[0.9999, 2.999], [1.9998, -0.999]]
    >>> bn([[3, 2], [5, 0]], NetEvaluationMode="Train").astype(float).round(4).tolist()  # the batch's statistics
    [[-0.9995, 2.999], [0.9995, -0.999]]
    """

    _where_text: str
    _channels: int | None

    def __init__(self, *, Epsilon=0.001, Momentum=0.9, Interleaving=False, Scaling=Automatic, Biases=Automatic,
                 MovingMean=Automatic, MovingVariance=Automatic, LearningRateMultipliers=Automatic,
                 Input=Automatic, Output=Automatic, **unknown):
        check_options(_WHERE, unknown, _OPTIONS)
        params = {"Epsilon": _epsilon(Epsilon), "Momentum": _momentum(Momentum),
                  "Interleaving": _interleaving(Interleaving)}
        given = {"Scaling": Scaling, "Biases": Biases, "MovingMean": MovingMean, "MovingVariance": MovingVariance}
        arrays = {name: _vector(name, value) for name, value in given.items()}
        ports = {
            "Input": parse_port(Input, f'{_WHERE}: the "Input" option'),
            "Output": parse_port(Output, f'{_WHERE}: the "Output" option'),
        }
        multiplier = parse_multiplier(LearningRateMultipliers, _WHERE)
        self._set_state(params, ports, arrays, dict.fromkeys(ARRAYS, multiplier))

    @property
    def _array_names(self) -> tuple[str, ...]:
        return ARRAYS

    @property
    def _where(self) -> str:
        return self._where_text

    @property
    def epsilon(self) -> float:
        return self._params["Epsilon"]

    @property
    def momentum(self) -> float:
        return self._params["Momentum"]

    @property
    def interleaving(self) -> bool:
        return self._params["Interleaving"]

    def _infer(self) -> None:
        self._where_text = where = f"{_WHERE} (Interleaving=True)" if self.interleaving else _WHERE
        t = unify(self._ports["Input"], self._ports["Output"], f'{where}: ports "Input" and "Output"')
        channels = self._array_channels(where)
        if t.dims is not None:
            if not t.dims:
                raise NetShapeError(
                    f'{where}: port "Input" is {describe(t)}, but it must be an array of rank at least 1 '
                    "(its first dim, or its last with Interleaving=True, is the channels)."
                )
            axis = len(t.dims) - 1 if self.interleaving else 0
            if t.dims[axis] == VARYING:
                raise NetShapeError(
                    f'{where}: port "Input" is {describe(t)}, whose channel dim (level {axis + 1}) is "Varying", '
                    "but the number of channels cannot be dynamic. To use a dynamic spatial dimension, try "
                    'Interleaving=True, e.g. BatchNormalizationLayer(Interleaving=True, Input=("Varying", 3)).'
                )
            if channels is not None and t.dims[axis] not in (None, channels):
                raise NetShapeError(
                    f'{where}: port "Input" is {describe(t)}, with {t.dims[axis]} channels (level {axis + 1}), '
                    f"but the arrays have {channels} elements, one per channel."
                )
            if channels is None:
                channels = t.dims[axis]
            else:
                t = TensorT(t.dims[:axis] + (channels,) + t.dims[axis + 1:])
        elif not self.interleaving:
            if channels is not None:
                t = unify(t, TensorT(None, (channels,)), f'{where}: port "Input" and the arrays')
            if t.leading:
                channels = t.leading[0]
        self._channels = channels
        self._ports["Input"] = self._ports["Output"] = t

    def _array_channels(self, where: str) -> int | None:
        """The number of channels the given arrays have (all the same), or None when none is given."""
        lengths = {name: value.shape[0] for name, value in self._arrays.items() if value is not Automatic}
        if len(set(lengths.values())) > 1:
            found = ", ".join(f"{name} {n}" for name, n in lengths.items())
            raise NetShapeError(
                f"{where}: the arrays should have one element per channel, all the same number, but have "
                f"{found} elements."
            )
        variance = self._arrays["MovingVariance"]
        if variance is not Automatic and (variance < 0).any():
            raise NetSpecificationError(
                f'{where}: "MovingVariance" is a variance, so it should have no negative values, but has '
                f"{float(variance.min()):g}."
            )
        return next(iter(lengths.values()), None)

    def _array_dims(self, name: str) -> tuple | None:
        return None if self._channels is None else (self._channels,)

    def _array_dims_hint(self, name: str) -> str:
        dim = "last" if self.interleaving else "first"
        example = "(28, 28, 16)" if self.interleaving else "(16, 28, 28)"
        return (
            f"its length is the number of channels (the {dim} dim of the input), which is not known. Give the "
            f"input's dims with the Input option, e.g. BatchNormalizationLayer(Input={example}), or of the net "
            f"that contains it."
        )

    def _torch_module(self) -> BatchNormalization:
        tensors = {name: torch.tensor(self._arrays[name]) for name in ARRAYS}
        return BatchNormalization(**tensors, epsilon=self.epsilon, momentum=self.momentum,
                                  interleaving=self.interleaving)

    def _options(self) -> dict:
        """Epsilon, Momentum and Interleaving where they are not the defaults."""
        defaults = {"Epsilon": 0.001, "Momentum": 0.9, "Interleaving": False}
        return {name: value for name, value in self._params.items() if value != defaults[name]}

    def _arguments(self) -> tuple[tuple, dict]:
        return (), {**self._options(), **self._port_arguments()}

    def _constructor(self) -> str:
        options = [f"{name}={value if isinstance(value, bool) else _number_text(value)}"
                   for name, value in self._options().items()]
        return f"BatchNormalizationLayer({', '.join([*options, *self._repr_options()])})"


# -- options ----------------------------------------------------------------------------------------
def _real(value) -> float | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _epsilon(value) -> float:
    epsilon = _real(value)
    if epsilon is None or epsilon <= 0:
        raise NetSpecificationError(f'{_WHERE}: "Epsilon" should be a positive number, but was {value!r}.')
    return epsilon


def _momentum(value) -> float:
    momentum = _real(value)
    if momentum is None or not 0 <= momentum <= 1:
        raise NetSpecificationError(
            f'{_WHERE}: "Momentum" should be a number from 0 to 1 (the fraction of the moving statistics kept '
            f"at each training batch; 1 freezes them), but was {value!r}."
        )
    return momentum


def _interleaving(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise NetSpecificationError(f"{_WHERE}: Interleaving should be True or False, but was {value!r}.")
    return bool(value)


def _vector(name: str, value):
    if value is Automatic:
        return Automatic
    if value is None:
        raise NetSpecificationError(
            f'{_WHERE}: "{name}" should be a vector, one value per channel; the layer has no form without it '
            "(for a layer that neither scales nor shifts, give Scaling as ones and Biases as zeros)."
        )
    array = as_array(value, f'{_WHERE}: "{name}"')
    if array.ndim != 1:
        raise NetSpecificationError(
            f'{_WHERE}: "{name}" should be a vector, one value per channel, but has dims {array.shape}.'
        )
    return array


# -- the torch form ---------------------------------------------------------------------------------
class BatchNormalization(nn.Module):
    """The torch form of BatchNormalizationLayer (what ``to_torch()`` returns), batch first.

    Its ``state_dict()`` keys are the Wolfram array names: the parameters ``Scaling`` and ``Biases``
    (also ``weight`` and ``bias``, as in ``nn.BatchNorm2d``) and the buffers ``MovingMean`` and
    ``MovingVariance`` (also ``running_mean`` and ``running_var``). The channels are axis 1 (the
    last axis with ``interleaving``).

    In evaluation mode (``module.eval()``, as lowered) it normalizes with the moving statistics; in
    training mode with the batch's (biased) mean and variance, and it updates the moving statistics
    in place, ``Moving <- Moving * momentum + batch * (1 - momentum)`` with the biased variance
    (``momentum`` is the layer's Momentum, the fraction kept: ``1 - momentum`` of nn.BatchNorm2d),
    except those that the dict ``buffer_multipliers`` (set by the lowering) gives the multiplier 0.
    A batch with one value per channel normalizes to ``Biases`` in training mode (its variance is
    0; up to rounding), where nn.BatchNorm2d raises an error.

    >>> module = BatchNormalization(torch.ones(2), torch.zeros(2), torch.zeros(2), torch.ones(2)).train()
    >>> module(torch.tensor([[1.0, 2.0], [3.0, 6.0]])).double().round(decimals=5).tolist()
    [[-0.9995, -0.99988], [0.9995, 0.99988]]
    >>> module.MovingMean.double().round(decimals=6).tolist(), module.MovingVariance.double().round(decimals=6).tolist()
    ([0.2, 0.4], [1.0, 1.3])
    """

    MovingMean: torch.Tensor
    MovingVariance: torch.Tensor

    def __init__(self, Scaling: torch.Tensor, Biases: torch.Tensor, MovingMean: torch.Tensor,
                 MovingVariance: torch.Tensor, epsilon: float = 0.001, momentum: float = 0.9,
                 interleaving: bool = False):
        super().__init__()
        self.Scaling = nn.Parameter(torch.as_tensor(Scaling))
        self.Biases = nn.Parameter(torch.as_tensor(Biases))
        self.register_buffer("MovingMean", torch.as_tensor(MovingMean))
        self.register_buffer("MovingVariance", torch.as_tensor(MovingVariance))
        # In a tuple: a float attribute of a module becomes a symbol under torch.compile(dynamic=True),
        # which batch_norm's eps cannot be, so dynamo would analyse the forward twice (as for nn.BatchNorm2d).
        self._numbers = (float(epsilon), float(momentum))
        self.interleaving = bool(interleaving)
        self.buffer_multipliers: dict[str, float] = {}  # buffer name -> multiplier; 0 freezes it

    @property
    def epsilon(self) -> float:
        """The layer's Epsilon, added to the variance."""
        return self._numbers[0]

    @property
    def momentum(self) -> float:
        """The layer's Momentum: the fraction of the moving statistics kept at each training batch
        (nn.BatchNorm2d's momentum is 1 - this)."""
        return self._numbers[1]

    @property
    def weight(self) -> nn.Parameter:
        return self.Scaling

    @property
    def bias(self) -> nn.Parameter:
        return self.Biases

    @property
    def running_mean(self) -> torch.Tensor:
        return self.MovingMean

    @property
    def running_var(self) -> torch.Tensor:
        return self.MovingVariance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parameters, buffers = self._parameters, self._buffers  # not getattr: Module.__getattr__ is slow
        weight: torch.Tensor = parameters["Scaling"]  # type: ignore[assignment]
        bias: torch.Tensor = parameters["Biases"]  # type: ignore[assignment]
        if x.dtype is not weight.dtype:
            x = module_input(x, weight.dtype, _WHERE, "arrays")
        channels = weight.shape[0]
        h = x.reshape(-1, channels) if self.interleaving and x.ndim > 2 else x  # channels last: rows of channels
        # (Under torch.jit.trace a size is a tensor: batch_norm checks the channels when the trace runs.)
        if h.ndim < 2 or not torch.jit.is_tracing() and h.shape[1] != channels:
            raise self._mismatch(x)
        if self.training:
            names = self._updated()
            if not names:
                y = torch.batch_norm(h, weight, bias, None, None, True, 0.0, self._numbers[0],
                                     torch.backends.cudnn.enabled)
            else:  # the batch's statistics come with the output: no second pass over the batch
                y, batch_mean, inverse_std = torch.native_batch_norm(h, weight, bias, None, None, True, 0.0,
                                                                     self._numbers[0])
                self._update(names, batch_mean, inverse_std)
        else:
            mean: torch.Tensor = buffers["MovingMean"]  # type: ignore[assignment]
            variance: torch.Tensor = buffers["MovingVariance"]  # type: ignore[assignment]
            if mean.requires_grad or variance.requires_grad:  # their gradients are asked for (NetPortGradient)
                y = _normalized(h, weight, bias, mean, variance, self._numbers[0])
            else:
                y = torch.batch_norm(h, weight, bias, mean, variance, False, 0.0, self._numbers[0],
                                     torch.backends.cudnn.enabled)
        return y if h is x else y.reshape(x.shape)

    def _updated(self) -> list[str]:
        """The moving statistics that a training batch updates: those not frozen (by a multiplier 0 or
        Momentum 1)."""
        if self._numbers[1] == 1:
            return []
        frozen = self.buffer_multipliers
        return [name for name in MOVING if frozen.get(name, 1.0) != 0]

    def _update(self, names: list[str], mean: torch.Tensor, inverse_std: torch.Tensor) -> None:
        """The update of the moving statistics ``names`` by a batch's mean and inverse standard deviation
        (as batch_norm saves them for its backward pass): its biased variance is ``inverse_std**-2 - eps``,
        as MXNet recovers it on the CPU."""
        m, epsilon = self._numbers[1], self._numbers[0]
        with torch.no_grad():
            variance = (inverse_std.detach().pow(-2) - epsilon).clamp_(min=0)
            batch = {"MovingMean": mean.detach(), "MovingVariance": variance}
            for name in names:
                moving: torch.Tensor = self._buffers[name]  # type: ignore[assignment]
                moving.mul_(m).add_(batch[name].to(moving.dtype), alpha=1 - m)

    def _mismatch(self, x: torch.Tensor) -> NetShapeError:
        channels = self._parameters["Scaling"].shape[0]  # type: ignore[union-attr]
        if x.ndim < 2:
            return NetShapeError(
                f"{_WHERE}: the input should be a batch of arrays of rank at least 1 (batch first), but has "
                f"shape {tuple(x.shape)}."
            )
        axis = "last" if self.interleaving else "1"
        return NetShapeError(
            f"{_WHERE}: an input of shape {tuple(x.shape)} (batch first) has {x.shape[-1 if self.interleaving else 1]} "
            f"channels (axis {axis}), but the arrays have {channels}."
        )

    def extra_repr(self) -> str:
        return (f"channels={self.Scaling.shape[0]}, epsilon={self.epsilon:g}, momentum={self.momentum:g}, "
                f"interleaving={self.interleaving}")


def _normalized(h, weight, bias, mean, variance, epsilon: float) -> torch.Tensor:
    """The evaluation-mode formula as plain ops, differentiable in the moving statistics too."""
    scale = weight * torch.rsqrt(variance + epsilon)
    shape = (1, -1) + (1,) * (h.ndim - 2)
    return (h - mean.reshape(shape)) * scale.reshape(shape) + bias.reshape(shape)
