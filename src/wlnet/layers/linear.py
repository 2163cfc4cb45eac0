"""LinearLayer: W . flatten(x) + b, with the output reshaped to the requested dims."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..arrays import as_array
from ..errors import NetShapeError, NetSpecificationError, check_options
from ..symbols import Automatic
from ..types import VARYING, TensorT, as_int, check_size, describe, parse_port, port_spec, unify
from .base import Layer, module_input, parse_multiplier

__all__ = ["Linear", "LinearLayer"]

_OPTIONS = ("Weights", "Biases", "LearningRateMultipliers", "Input", "Output")


class LinearLayer(Layer):
    """A trainable affine layer: W . x + b, its input flattened.

    Wolfram: ``LinearLayer[n]``, ``LinearLayer[{n1, n2, ...}]``, ``LinearLayer[{}]``, ``LinearLayer[]``.

    Args:
        size: ``n`` (a length-n vector out), a tuple of dims, ``[]`` (a single real number out)
            or ``Automatic`` (inferred from the next layer or the Weights).
        Weights: the (n_out, n_in) matrix, n_in the product of the input dims and n_out that of
            the output dims; ``Automatic`` until NetInitialize (Method "Kaiming" by default).
        Biases: the length-n_out vector (zeros at initialization), or ``None`` for no biases.
        LearningRateMultipliers: the arrays' learning-rate multiplier; 0 freezes them.
        Input, Output: the ports' dims.

    Ports:
        Input: an array of fixed dims (a "Real" is one number).
        Output: an array of the given dims.

    >>> LinearLayer(2, Weights=[[1, 0], [0, 2]], Biases=[0, 1])([3, 4]).tolist()
    [3.0, 9.0]
    """

    def __init__(self, size=Automatic, *, Weights=Automatic, Biases=Automatic, LearningRateMultipliers=Automatic,
                 Input=Automatic, Output=Automatic, **unknown):
        check_options("LinearLayer", unknown, _OPTIONS)
        out = _parse_size(size)
        weights = Automatic if Weights is Automatic else as_array(Weights, 'LinearLayer: "Weights"')
        if isinstance(weights, np.ndarray) and weights.ndim != 2:
            raise NetSpecificationError(
                f'LinearLayer: "Weights" should be a matrix (n_out, n_in), but has dims {weights.shape}.'
            )
        has_biases = Biases is not None
        biases = Automatic if Biases is Automatic or Biases is None else as_array(Biases, 'LinearLayer: "Biases"')
        if isinstance(biases, np.ndarray) and biases.ndim != 1:
            raise NetSpecificationError(f'LinearLayer: "Biases" should be a vector, but has dims {biases.shape}.')
        ports = {
            "Input": parse_port(Input, 'LinearLayer: the "Input" option'),
            "Output": unify(
                out,
                parse_port(Output, 'LinearLayer: the "Output" option'),
                "LinearLayer: the size and the Output option",
            ),
        }
        arrays = {"Weights": weights, **({"Biases": biases} if has_biases else {})}
        multiplier = parse_multiplier(LearningRateMultipliers, "LinearLayer")
        self._set_state({"biases": has_biases}, ports, arrays, {name: multiplier for name in arrays})

    @property
    def _array_names(self) -> tuple[str, ...]:
        return ("Weights", "Biases") if self._params["biases"] else ("Weights",)

    @property
    def _where(self) -> str:
        out = self._ports["Output"]
        return f"LinearLayer ({'output ' + describe(out) if out.dims is not None else 'output size inferred'})"

    def _infer(self) -> None:
        where = self._where
        t_in, t_out = self._ports["Input"], self._ports["Output"]
        if t_in.varying:
            raise NetShapeError(
                f'{where}: port "Input" is {describe(t_in)}, but LinearLayer needs fixed dims; '
                "its weights depend on every input dimension."
            )
        weights, biases = self._arrays["Weights"], self._arrays.get("Biases", Automatic)
        n_out = _size(t_out)
        if weights is not Automatic:
            if n_out is not None and weights.shape[0] != n_out:
                raise NetShapeError(
                    f'{where}: inferred inconsistent dimensions for array "Weights": the output '
                    f"has {n_out} elements, so Weights needs {n_out} rows, but has {weights.shape[0]}."
                )
            n_in = _size(t_in)
            if n_in is not None and weights.shape[1] != n_in:
                raise NetShapeError(
                    f'{where}: inferred inconsistent dimensions for array "Weights": port "Input" '
                    f"is {describe(t_in)} ({n_in} elements), so Weights needs {n_in} columns, "
                    f"but has {weights.shape[1]}."
                )
            if t_out.dims is None:
                t_out = TensorT((int(weights.shape[0]),))
        if biases is not Automatic:
            expected = n_out if n_out is not None else (weights.shape[0] if weights is not Automatic else None)
            if expected is not None and biases.shape[0] != expected:
                raise NetShapeError(
                    f'{where}: inferred inconsistent dimensions for array "Biases": it should have '
                    f"{expected} elements (one per output element), but has {biases.shape[0]}."
                )
            if t_out.dims is None:
                t_out = TensorT((int(biases.shape[0]),))
        self._ports["Output"] = t_out

    def _array_dims(self, name: str) -> tuple | None:
        n_in, n_out = _size(self._ports["Input"]), _size(self._ports["Output"])
        given = self._arrays.get(name, Automatic)
        if given is not Automatic:
            return given.shape
        if name == "Biases":
            return None if n_out is None else (n_out,)
        return None if n_in is None or n_out is None else (n_out, n_in)

    def _array_dims_hint(self, name: str) -> str:
        missing = [p for p in ("Input", "Output") if _size(self._ports[p]) is None]
        return (
            f"its dims depend on the dims of port{'s' if len(missing) > 1 else ''} "
            f"{' and '.join(repr(p) for p in missing)}, which are not known. Give them with the "
            "Input option of the layer, or of the net that contains it."
        )

    def _torch_module(self) -> Linear:
        biases = self._arrays.get("Biases")
        dims = self._ports["Output"].dims
        assert dims is not None  # an initialized LinearLayer knows its output dims
        return Linear(
            torch.tensor(self._arrays["Weights"]),
            None if biases is None else torch.tensor(biases),
            tuple(dims),
        )

    def _arguments(self) -> tuple[tuple, dict]:
        options = self._port_arguments()
        out = port_spec(self._ports["Output"])
        if out is not Automatic:
            options["Output"] = out
        if not self._params["biases"]:
            options["Biases"] = None
        return (), options

    def _constructor(self) -> str:
        out = port_spec(self._ports["Output"])
        size = "[]" if out == "Real" else ("" if out is Automatic else repr(out))
        options = self._repr_options()
        if not self._params["biases"]:
            options.append("Biases=None")
        return f"LinearLayer({', '.join(p for p in [size, *options] if p)})"


class Linear(nn.Module):
    """The torch form of LinearLayer: flattens each example, applies W . x + b, reshapes.

    Its parameters are ``Weights`` (n_out, n_in) and, unless the layer has none, ``Biases``
    (n_out): the Wolfram array names, which are the ``state_dict()`` keys (see
    :mod:`wlnet.lower`); ``weight`` and ``bias`` name the same parameters, as in ``nn.Linear``.

    An integer or True/False input is computed in the weights' floating type; a floating input
    of another type than the weights' (float64 into a float32 module) is a NetDataError that says
    how to convert one of them, where ``nn.Linear`` raises a RuntimeError; a complex input too.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, out_dims: tuple):
        super().__init__()
        self.Weights = nn.Parameter(torch.as_tensor(weight))
        if bias is not None:
            self.Biases = nn.Parameter(torch.as_tensor(bias))
        self.out_dims = out_dims
        self._vector_out = len(out_dims) == 1

    @property
    def weight(self) -> nn.Parameter:
        """The weights (the same parameter as ``Weights``)."""
        return self.Weights

    @property
    def bias(self) -> nn.Parameter | None:
        """The biases (the same parameter as ``Biases``), or None when the layer has none."""
        return self._parameters.get("Biases")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parameters = self._parameters  # not self.Weights: Module.__getattr__ costs 0.4 us a call
        weight: torch.Tensor = parameters["Weights"]  # type: ignore[assignment]
        dtype = weight.dtype
        if x.dtype == dtype and x.ndim == 2 and self._vector_out:  # vectors in and out: no reshapes
            return nn.functional.linear(x, weight, parameters.get("Biases"))
        x = module_input(x, dtype, "LinearLayer")
        y = nn.functional.linear(x.reshape(x.shape[0], -1), self.weight, self.bias)
        return y.reshape((x.shape[0], *self.out_dims))

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out_dims={self.out_dims}, bias={self.bias is not None}"


def _size(t: TensorT) -> int | None:
    """Number of elements of one example of ``t``, or None while unknown."""
    if t.dims is None or None in t.dims or VARYING in t.dims:  # the rank or a size not known, or a varying one
        return None
    return math.prod(t.dims)  # exact: NumPy's int64 product would wrap around for huge dims


def _parse_size(size) -> TensorT:
    if size is Automatic:
        return TensorT(None)
    if isinstance(size, (list, tuple)) and len(size) == 0:
        return TensorT(())
    dims = size if isinstance(size, (list, tuple)) else (size,)
    parsed = []
    for d in dims:
        value = as_int(d)
        if value is None or value < 1:
            raise NetSpecificationError(
                f"LinearLayer: the output size should be a positive integer, a tuple of them, or [] "
                f"for a single number, but was {size!r}."
            )
        parsed.append(check_size(value, "LinearLayer", "the output size"))
    check_size(math.prod(parsed), "LinearLayer", f"the number of elements of the output size {tuple(parsed)}")
    return TensorT(tuple(parsed))
