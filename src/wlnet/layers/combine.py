"""TotalLayer and CatenateLayer: layers with several input ports, for residual connections and
branches in a NetGraph (their ``InputPorts`` option: :mod:`.multiport`)."""

from __future__ import annotations

import torch
from torch import nn

from ..arrays import floating_input
from ..errors import NetShapeError, check_options
from ..symbols import Automatic
from ..types import VARYING, TensorT, describe, unify
from .levels import level_argument, level_axis
from .multiport import MultiportLayer

__all__ = ["Catenate", "CatenateLayer", "Total", "TotalLayer"]


class TotalLayer(MultiportLayer):
    """The elementwise sum of its inputs, which all have the same dims (as the output).

    Wolfram: ``TotalLayer[]``, ``TotalLayer[InputPorts -> spec]``.

    Args:
        InputPorts: the input ports (see :mod:`wlnet.layers.multiport`): Automatic (the default:
            as many as a NetGraph connects, or as the data given has), a number ``n`` (ports
            "Input1" ... "Input<n>"), a list of names or of shapes, or a dict ``{name: shape}``.
        Output: the output's dims; they fix every input's too.

    Ports:
        Input1, Input2, ... (or the names given): arrays of one same dims.
        Output: their sum, ``Input1 + Input2 + ...``, of the same dims.

    In a NetGraph, ``([a, b], "total")`` (or ``(("a", "b"), "total")``) feeds the outputs of a and
    b to Input1 and Input2; separate connections ``(a, "total")``, ``(b, "total")`` do the same in
    the order given; ``NetPort("total", "Input2")`` names a port. Applied directly, the layer takes
    a list ``[x1, x2, ...]`` (Wolfram's ``layer[{x1, x2}]``) or a dict ``{"Input1": x1, ...}``.

    >>> TotalLayer()([[1.0, 2.0], [10.0, 20.0]]).tolist()
    [11.0, 22.0]
    >>> TotalLayer(InputPorts=3, Output=2)
    TotalLayer(InputPorts=[2, 2, 2])
    """

    def __init__(self, *, InputPorts=Automatic, Output=Automatic, **unknown):
        check_options("TotalLayer", unknown, ("InputPorts", "Output"))
        self._set_ports({}, InputPorts, Output, "TotalLayer")

    def _infer(self) -> None:
        names = (*self._input_names, "Output")
        t, origin = TensorT(None), None
        for name in names:
            given = self._ports[name]
            try:
                t = unify(t, given, "")
            except NetShapeError:
                assert origin is not None  # a port before gave ``t`` what conflicts
                raise NetShapeError(
                    f'TotalLayer: port "{name}" is {describe(given)}, but port "{origin}" is '
                    f"{describe(self._ports[origin])}; the inputs and the output of TotalLayer all have the same "
                    "dims."
                ) from None
            if origin is None and (given.dims is not None or given.leading):
                origin = name
        for name in names:
            self._ports[name] = t

    def _torch_module(self) -> Total:
        return Total(self._input_names)


class CatenateLayer(MultiportLayer):
    """Its inputs joined along one level.

    Wolfram: ``CatenateLayer[]`` (= ``CatenateLayer[1]``), ``CatenateLayer[n]``,
    ``CatenateLayer[n, InputPorts -> spec]``.

    Args:
        level: the level joined along (1-based, the batch axis not counted; negative counts from
            the last level), counted on the input of lowest rank. Inputs of a lower rank are
            replicated over the leading dims of the highest-rank input first (a vector of length
            4 beside a 2x3 matrix, at level 1, becomes a 2x4 matrix: the output is 2x7). The dims
            off the level must agree; a "Varying" level cannot be joined along.
        InputPorts: the input ports, as for :class:`TotalLayer`.
        Output: the output's dims.

    Ports:
        Input1, Input2, ... (or the names given): arrays of compatible dims.
        Output: the inputs joined along the level, whose size is the sum of theirs.

    >>> CatenateLayer()([[1.0, 2.0], [3.0, 4.0, 5.0]]).tolist()
    [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> from wlnet import Information
    >>> Information(CatenateLayer(2, InputPorts=[(2, 3), (2, 4)]), "OutputPorts")
    {'Output': (2, 7)}
    >>> Information(CatenateLayer(InputPorts=[(2, 3), 4]), "OutputPorts")
    {'Output': (2, 7)}
    """

    def __init__(self, level=1, *, InputPorts=Automatic, Output=Automatic, **unknown):
        parsed = _parse_level(level)
        where = _where(parsed)
        check_options(where, unknown, ("InputPorts", "Output"))
        self._set_ports({"level": parsed}, InputPorts, Output, where)

    @property
    def level(self) -> int:
        """The level joined along (1-based; negative counts from the last level)."""
        return self._params["level"]

    @property
    def _where(self) -> str:
        return _where(self.level)

    def _level_arguments(self) -> tuple:
        return () if self.level == 1 else (self.level,)

    def _infer(self) -> None:
        names = self._input_names
        types = [self._ports[name] for name in names]
        if not names or any(t.dims is None for t in types):
            return  # the ranks tell nothing yet (an Output of rank below |level| is caught later)
        ranks = [len(t.dims) for t in types]  # type: ignore[arg-type]
        low, high = min(ranks), max(ranks)
        lowest = names[ranks.index(low)]
        axis = level_axis(self.level, low)
        if axis is None:
            raise NetShapeError(
                f'{self._where}: port "{lowest}" is {describe(self._ports[lowest])} (rank {low}), which has no '
                f"level {self.level}; the level counts on the input of lowest rank."
            )
        axis += high - low
        out = self._unify_output(high)
        columns = [self._column(j, axis, names, out) for j in range(high)]
        for name, rank in zip(names, ranks):
            self._ports[name] = TensorT(tuple(column[name] for column in columns[high - rank:]))
        self._ports["Output"] = TensorT(tuple(column["Output"] for column in columns))

    def _unify_output(self, rank: int) -> TensorT:
        out = self._ports["Output"]
        try:
            return unify(out, TensorT((None,) * rank), "")
        except NetShapeError:
            raise NetShapeError(
                f'{self._where}: port "Output" is {describe(out)}, but the inputs (of highest rank {rank}) '
                f"catenate to an array of rank {rank}."
            ) from None

    def _column(self, j: int, axis: int, names: tuple, out: TensorT) -> dict:
        """The dims at axis ``j`` (of the highest rank) of each input that has it, and of the output."""
        assert out.dims is not None
        high = len(out.dims)
        dims = {}
        for name in names:
            own = self._ports[name].dims
            assert own is not None
            if j >= high - len(own):
                dims[name] = own[j - high + len(own)]
        if j == axis:
            return self._level_sizes(dims, out.dims[j])
        merged, origin = out.dims[j], "Output"
        for name, d in dims.items():
            try:
                merged = unify(TensorT((merged,)), TensorT((d,)), "").dims[0]  # type: ignore[index]
            except NetShapeError:
                other = describe(out) if origin == "Output" else describe(self._ports[origin])
                level = j + 1 - high + self._rank(name)
                raise NetShapeError(
                    f'{self._where}: port "{name}" is {describe(self._ports[name])}, but port "{origin}" is {other}; '
                    f'off the catenated level the dims must agree (they differ at level {level} of "{name}").'
                ) from None
            if d is not None and origin == "Output" and out.dims[j] is None:
                origin = name
        return {**dict.fromkeys(dims, merged), "Output": merged}

    def _rank(self, name: str) -> int:
        dims = self._ports[name].dims
        return 0 if dims is None else len(dims)

    def _level_sizes(self, dims: dict, total) -> dict:
        """The sizes along the catenated level: the output's is the sum of the inputs'; a single
        unknown one follows from the others."""
        varying = next((name for name, d in dims.items() if d == VARYING), None)
        if varying is not None:
            raise NetShapeError(
                f'{self._where}: port "{varying}" is {describe(self._ports[varying])}, whose catenated level is '
                '"Varying" (its length differs between examples); a "Varying" level cannot be catenated. '
                "Catenate at another level."
            )
        sizes = {**dims, "Output": None if total == VARYING else total}
        unknown = [name for name, d in sizes.items() if d is None]
        if len(unknown) == 1:
            name = unknown[0]
            known = sum(d for n, d in sizes.items() if n not in (name, "Output"))
            value = known if name == "Output" else total - known
            if value < 1:
                raise NetShapeError(
                    f'{self._where}: port "Output" has size {total} at the catenated level, but the other inputs '
                    f"already have {known} there together, leaving nothing for port \"{name}\"."
                )
            sizes[name] = value
        elif not unknown and sum(dims.values()) != sizes["Output"]:
            raise NetShapeError(
                f'{self._where}: port "Output" has size {total} at the catenated level, but the inputs have sizes '
                f"{', '.join(f'{n}: {d}' for n, d in dims.items())} there, {sum(dims.values())} together."
            )
        return sizes

    def _torch_module(self) -> Catenate:
        return Catenate(self.level, self._input_names)


class Total(nn.Module):
    """The torch form of TotalLayer: ``forward(x1, x2, ...)`` is ``x1 + x2 + ...`` (of one shape),
    one tensor per input port of the layer (``ports``, their names; any number when empty); it has
    no parameters. Integer or True/False inputs are added as the floating inputs' type (torch's
    default one when none is floating).

    >>> Total()(torch.ones(2, 3), torch.ones(2, 3)).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """

    def __init__(self, ports: tuple[str, ...] = ()):
        super().__init__()
        self.ports = tuple(ports)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        xs = _floating(_counted(inputs, self.ports, "TotalLayer"), "TotalLayer")
        result = xs[0]
        for x in xs[1:]:
            result = result + x
        return result

    def extra_repr(self) -> str:
        return f"ports={list(self.ports)}" if self.ports else ""


class Catenate(nn.Module):
    """The torch form of CatenateLayer, batch first: ``torch.cat`` of its inputs at the level
    (axis ``level`` of the batch for ``level > 0``, the same negative axis otherwise, counted on
    the input of lowest rank), lower-rank inputs first expanded over the highest-rank one's
    leading dims; one tensor per input port of the layer (``ports``, their names; any number when
    empty); no parameters.

    >>> Catenate(1)(torch.zeros(5, 2, 3), torch.ones(5, 4)).shape
    torch.Size([5, 2, 7])
    """

    def __init__(self, level: int = 1, ports: tuple[str, ...] = ()):
        super().__init__()
        self.level = level
        self.ports = tuple(ports)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        where = _where(self.level)
        xs = _floating(_counted(inputs, self.ports, where), where)
        ranks = [x.ndim - 1 for x in xs]
        low, high = min(ranks), max(ranks)
        axis = level_axis(self.level, low)
        if axis is None:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise NetShapeError(
                f"{where}: inputs of shapes {shapes} (batch first) have examples of lowest rank {low}, which have "
                f"no level {self.level}."
            )
        if low != high:
            top = xs[ranks.index(high)]
            xs = [x if r == high else _replicated(x, top, high - r) for x, r in zip(xs, ranks)]
        return torch.cat(xs, dim=axis + 1 + high - low)  # + 1: the batch axis

    def extra_repr(self) -> str:
        return f"level={self.level}" + (f", ports={list(self.ports)}" if self.ports else "")


def _replicated(x: torch.Tensor, top: torch.Tensor, lead: int) -> torch.Tensor:
    """``x`` repeated over the ``lead`` dims of ``top`` after its batch axis (a view)."""
    shape = (x.shape[0], *top.shape[1:1 + lead], *x.shape[1:])
    return x.reshape(x.shape[0], *(1,) * lead, *x.shape[1:]).expand(shape)


def _counted(inputs: tuple, ports: tuple, where: str) -> tuple:
    if not inputs or ports and len(inputs) != len(ports):
        plural = "s" if len(ports) != 1 else ""
        wanted = f"{len(ports)} input{plural} ({', '.join(ports)})" if ports else "at least one input"
        raise TypeError(f"{where}: forward takes {wanted} (one tensor per input port), but {len(inputs)} were given.")
    return inputs


def _floating(xs: tuple, where: str) -> list:
    if all(x.is_floating_point() for x in xs):
        return list(xs)
    dtype = next((x.dtype for x in xs if x.is_floating_point()), torch.get_default_dtype())
    return [floating_input(x, dtype, where) for x in xs]


def _parse_level(level) -> int:
    return level_argument(
        level, "CatenateLayer",
        "the level should be a nonzero integer (1-based, 1 the default; negative counts from the last level)",
    )


def _where(level: int) -> str:
    return "CatenateLayer" if level == 1 else f"CatenateLayer (level {level})"
