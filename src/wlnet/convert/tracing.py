"""Following a PyTorch model's ``forward`` with ``torch.fx`` for :func:`wlnet.from_torch`: the tracer,
where in the user's code a node was made or tracing stopped, and the values every node takes on one
example batch.

* :class:`ModelTracer` records a node for each call of a *leaf* module (one that ``from_torch``
  converts whole or refuses whole: a module type it has a converter for, any other module of
  PyTorch or wlnet, a subclass of a converted type but nn.Sequential) and goes into every other module's
  ``forward`` (``nn.Sequential``, the user's classes), so the nodes of a nested model name their
  modules by attribute path (``layer1.0.conv1``), as the ``state_dict`` does.
* :func:`trace` turns whatever stops tracing (data-dependent control flow is fx's ``TraceError``,
  but any exception the user's code raises on fx's proxies counts) into a ``NetSpecificationError``
  that names the module whose ``forward`` stopped, its type, and the file and line of the user's
  code (:func:`user_frame`: the innermost frame outside PyTorch, wlnet and the standard library).
* :func:`interpret` runs the traced graph on a batch of zeros (in evaluation mode, without
  gradients, the modules' modes put back after), so that every node's dims are known: the converter
  reads sizes (``x.size(1)``), checks dims (a broadcasting ``+``) and finds the dims a reshape gives.
"""

from __future__ import annotations

import operator
import os
import re
import sysconfig
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from ..errors import NetShapeError, NetSpecificationError
from .common import type_text

__all__ = ["ModelTracer", "TensorValue", "in_place", "interpret", "live_nodes", "trace", "user_frame"]

def _folder(path: str | Path) -> str:
    return str(Path(path).resolve()) + os.sep


_NOT_USER = (_folder(os.path.dirname(torch.__file__)), _folder(Path(__file__).resolve().parents[1]))
_STANDARD = _folder(sysconfig.get_paths()["stdlib"])
_INSTALLED = tuple(_folder(sysconfig.get_paths()[key]) for key in ("purelib", "platlib"))  # a user's models may be
# a frame's code line is optional (none for code typed at a prompt): never take the next frame's line for it
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>\S+)\n'
                    r'(?:[ \t]+(?![ \t]*File ")(?P<code>.*))?')


@dataclass(frozen=True)
class Frame:
    """A place in the user's code."""

    file: str
    line: int
    name: str
    code: str = ""

    def __str__(self) -> str:
        code = f" (`{self.code.strip()}`)" if self.code.strip() else ""
        return f"{self.file}:{self.line}, in {self.name}{code}"


def _is_user_file(file: str) -> bool:
    """Not PyTorch's, wlnet's or the standard library's (installed packages other than those are)."""
    path = str(Path(file).resolve())
    if path.startswith(_NOT_USER):
        return False
    return not path.startswith(_STANDARD) or path.startswith(_INSTALLED)


def user_frame(frames: Iterable[Frame]) -> Frame | None:
    """The innermost of ``frames`` (outermost first) in the user's code, or None."""
    found = None
    for frame in frames:
        if _is_user_file(frame.file):
            found = frame
    return found


def frames_of_text(stack_trace: str | None) -> list[Frame]:
    """The frames of a formatted stack (fx's ``node.stack_trace``), outermost first."""
    return [Frame(m["file"], int(m["line"]), m["name"], m["code"] or "") for m in _FRAME.finditer(stack_trace or "")]


def frames_of_error(error: BaseException) -> list[Frame]:
    return [Frame(f.filename, f.lineno or 0, f.name, f.line or "") for f in traceback.extract_tb(error.__traceback__)]


def node_frame(node: fx.Node) -> Frame | None:
    """Where in the user's code ``node`` was made (fx records it with ``record_stack_traces``)."""
    return user_frame(frames_of_text(node.stack_trace))


def module_site(path: str, module: nn.Module) -> str:
    """``layer1.0.attn (nn.MultiheadAttention)``; the model itself for the path ""."""
    return f"{path} ({type_text(module)})" if path else f"the model itself ({type_text(module)})"


# -- tracing ------------------------------------------------------------------------------------
class ModelTracer(fx.Tracer):
    """An fx tracer whose leaf modules are those ``is_leaf`` picks; it remembers the innermost module
    whose ``forward`` raised, for the error."""

    record_stack_traces = True

    def __init__(self, is_leaf: Callable[[nn.Module], bool]) -> None:
        super().__init__()
        self._is_leaf = is_leaf
        self.failure: tuple[str, nn.Module] | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return self._is_leaf(m)

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failure is None:  # the innermost module: the first to see the exception
                self.failure = (self.path_of_module(m), m)
            raise


def trace(model: nn.Module, is_leaf: Callable[[nn.Module], bool], concrete_args: dict[str, Any]) -> fx.GraphModule:
    """The fx graph of ``model.forward``, or a NetSpecificationError saying where tracing stopped."""
    tracer = ModelTracer(is_leaf)
    try:
        graph = tracer.trace(model, concrete_args=concrete_args or None)
    except Exception as error:  # noqa: BLE001 - whatever the user's forward raised on fx's proxies
        path, module = tracer.failure or ("", model)
        frame = user_frame(frames_of_error(error))
        at = f" at {frame}" if frame else ""
        control = "control flow" in str(error)
        hint = (
            " from_torch follows forward with torch.fx, which records the calls on a symbolic tensor: a branch or "
            "loop on a tensor's values (if x.sum() > 0, while ...) cannot be followed. Make it depend on "
            "settings only, or move it into a module that from_torch converts whole."
            if control else
            " from_torch follows forward with torch.fx, which runs it on a symbolic tensor; use only the calls "
            "that from_torch maps (see wlnet.convert.traced)."
        )
        raise NetSpecificationError(
            f"from_torch: tracing the forward of {module_site(path, module)} stopped{at}: "
            f"{type(error).__name__}: {error}.{hint}"
        ) from None
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


# -- what the graph computes --------------------------------------------------------------------
@dataclass(frozen=True)
class TensorValue:
    """What :func:`interpret` keeps of a tensor: its dims, the batch axis first."""

    shape: tuple[int, ...]


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}
        self.failed: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except Exception:
            self.failed = n
            raise
        if isinstance(result, torch.Tensor) and n.op != "get_attr":
            self.values[n] = TensorValue(tuple(result.shape))
        else:
            self.values[n] = result
        return result


def interpret(gm: fx.GraphModule, model: nn.Module, examples: dict[str, Any], given: str) -> dict:
    """What each node of ``gm`` gives on ``examples`` (a batch, or a default, per forward argument): a
    :class:`TensorValue` for a tensor, the value itself otherwise (sizes, parameters)."""
    recorder = _Recorder(gm)
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            recorder.run(*examples.values())
    except Exception as error:  # noqa: BLE001 - the model's own error on these dims
        node = recorder.failed
        frame = node_frame(node) if node is not None else None
        at = f" (at {frame})" if frame else ""
        raise NetShapeError(
            f"from_torch: the model does not run on examples of {given}{at}: {type(error).__name__}: "
            f"{str(error).split(chr(10) + chr(10) + 'While executing')[0]}"
        ) from None
    finally:
        for m, mode in modes:
            m.training = mode
    return recorder.values


# -- in-place operations and dead code ----------------------------------------------------------
_IN_PLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv}


def in_place(node: fx.Node, model: nn.Module) -> bool:
    """Whether ``node`` changes its first argument in place (``x.relu_()``, ``F.relu(x, inplace=True)``,
    ``nn.ReLU(inplace=True)``, ``x += y`` as fx records it)."""
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.endswith("__")
    if node.op == "call_function":
        return node.target in _IN_PLACE_FUNCTIONS or node.kwargs.get("inplace") is True
    if node.op == "call_module":
        return getattr(model.get_submodule(str(node.target)), "inplace", False) is True
    return False


def follow_in_place(graph: fx.Graph, model: nn.Module) -> None:
    """Make each use of a tensor after an operation changed it in place use that operation's
    result, which is what PyTorch computes (fx records the call, not the change)."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if not in_place(node, model) or not node.args or not isinstance(node.args[0], fx.Node):
            continue
        changed = node.args[0]
        for user in list(changed.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(changed, node)


def live_nodes(graph: fx.Graph) -> set[fx.Node]:
    """The nodes that the output depends on (a result nobody uses computes nothing in a net)."""
    output = next(node for node in graph.nodes if node.op == "output")
    live, stack = set(), [output]
    while stack:
        node = stack.pop()
        if node not in live:
            live.add(node)
            stack.extend(node.all_input_nodes)
    return live
