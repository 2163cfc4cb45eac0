"""wlnet's fused PReLU for PyTorch models: a drop-in for ``torch.nn.PReLU``.

Change one import, or make one call::

    from wlnet.nn import PReLU            # instead of torch.nn.PReLU
    wlnet.nn.replace_prelu(model)         # every nn.PReLU of a model, in place

:class:`PReLU` has ``torch.nn.PReLU``'s signature, parameter (``weight``, so checkpoints load both
ways) and results, and computes with the operator ``torch.ops.wlnet.parametric_ramp``
(:mod:`wlnet.operators`): the fused kernels on large inputs, PyTorch's own kernel on small ones, and
it survives ``copy.deepcopy``, pickling, ``torch.compile``, ``torch.export``, ``torch.func``,
``torch.jit.trace``, autocast, DDP and ONNX export. ``levels=`` gives it wlnet's level
specifications (a slope per element of any chosen dims), which ``torch.nn.PReLU`` lacks.

>>> import torch
>>> prelu = PReLU()
>>> prelu(torch.tensor([-2.0, 3.0])).tolist()
[-0.5, 3.0]
>>> list(prelu.state_dict())
['weight']
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.levels import levels_text, ramp_levels
from ..layers.ramp import RampModule
from . import functional

__all__ = ["PReLU", "functional", "replace_prelu"]


class PReLU(RampModule):
    """``torch.nn.PReLU`` on wlnet's fused kernels: f(x) = x for x > 0, weight * x otherwise.

    Args:
        num_parameters: the number of slopes: 1 (one slope shared by every element) or the number
            of channels (dim 1 of the input, as in ``torch.nn.PReLU``). With ``levels``, the
            slope's dims: an int, or a tuple of ints, one per level.
        init: the slopes' initial value (0.25).
        device, dtype: the parameter's, as in ``torch.nn.PReLU``.
        levels: wlnet's level specification (ParametricRampLayer's: 1-based dims of one example,
            the batch axis not counted; an int, negative from the last; a ``Span``; a list; ``[]``
            for one shared slope): the slope then has the input's dims at those levels. None
            (the default) is ``torch.nn.PReLU``'s rule, under which level 1 is the channel dim.

    The parameter is ``weight`` (its ``state_dict`` key), so checkpoints of ``torch.nn.PReLU``
    load into it and its checkpoints into ``torch.nn.PReLU``. It takes every input
    ``torch.nn.PReLU`` takes, 0-d and 1-d included, and refuses what it refuses.

    >>> PReLU(3, init=0.5)(torch.tensor([[-2.0, -4.0, 6.0]])).tolist()
    [[-1.0, -2.0, 6.0]]
    >>> PReLU((3, 2), levels=[1, 2])(-torch.ones(1, 3, 2)).shape
    torch.Size([1, 3, 2])
    """

    _slope_name = "weight"

    def __init__(
        self, num_parameters: int | Sequence[int] = 1, init: float = 0.25, device=None, dtype=None, *, levels=None
    ) -> None:
        super().__init__()
        shape = (num_parameters,) if isinstance(num_parameters, int) else tuple(num_parameters)
        if levels is None and len(shape) != 1:
            raise ValueError(
                f"PReLU: num_parameters={num_parameters!r} has {len(shape)} dims; without levels= it is a number "
                "(1, or the number of channels). Give levels= for a slope of several dims, e.g. "
                "PReLU((64, 56), levels=[1, 3])."
            )
        self.num_parameters = num_parameters
        self.init = init
        self.levels = None if levels is None else ramp_levels(levels)
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every slope back to ``init`` (as ``torch.nn.PReLU.reset_parameters``)."""
        torch.nn.init.constant_(self.weight, self.init)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.levels is None:
            return functional.prelu(input, self._parameters["weight"])  # type: ignore[arg-type]
        return super().forward(input)

    def extra_repr(self) -> str:
        if self.levels is None:
            return f"num_parameters={self.num_parameters}"
        return f"num_parameters={self.num_parameters}, levels={levels_text(self.levels)}"


def replace_prelu(model: nn.Module) -> nn.Module:
    """Swap every ``torch.nn.PReLU`` inside ``model`` for a :class:`PReLU`, in place, and return it.

    Each new module holds the very ``weight`` parameter of the one it replaces (so its values,
    device, dtype, ``requires_grad`` and an optimizer that already holds it are kept) and sits
    under the same name, so ``state_dict`` keys do not change. Only modules whose type is exactly
    ``torch.nn.PReLU`` are swapped (a subclass may compute something else); hooks registered on a
    swapped module are not carried over. A ``model`` that is itself an ``nn.PReLU`` cannot be
    swapped in place: its replacement is returned.

    >>> model = nn.Sequential(nn.Linear(4, 4), nn.PReLU(4))
    >>> type(replace_prelu(model)[1]).__name__
    'PReLU'
    """
    if type(model) is nn.PReLU:
        return _replacement(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.PReLU:
                setattr(parent, name, _replacement(child))
    return model


def _replacement(old: nn.PReLU) -> PReLU:
    new = PReLU(old.num_parameters, old.init, device="meta")
    new.weight = old.weight  # the same Parameter
    new.train(old.training)
    return new
