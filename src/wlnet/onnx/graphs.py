"""Whole models from other tools read as NetGraphs: the layers' keys of a model PyTorch exported.

:func:`torch_keys` gives the layers of a model written by ``torch.onnx.export`` the module paths of
the PyTorch model (``"layer1.0.conv1"``, as its ``state_dict`` names them), so that the imported
NetGraph's layers and array paths read like the model's own (and like :func:`wlnet.from_torch`'s):

* the TorchScript-based exporter (``dynamo=False``) names each node after the modules that called it,
  ``"/layer1/layer1.0/conv1/Conv"``: each scope is the attribute's name, or the whole path of a
  ``Sequential``'s item (``"layer1.0"`` after ``"layer1"``), so the path is ``layer1.0.conv1``;
* the dynamo exporter names its nodes ``"node_Conv_12"`` but records each one's module path in its
  ``pkg.torch.onnx.name_scopes`` metadata (``['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'conv2d']``:
  the modules' paths, then the FX node's name).

A layer read from a node whose weight (its second input) is an initializer named ``"<path>.weight"``
takes that path (the dynamo exporter's optimizer folds a BatchNorm into the Conv before it and
records the BatchNorm's scope on the Conv, but keeps the Conv's weight name). A layer that is the only
one of its module, which holds no other layer, is keyed by the module's path (``"layer1.0.conv1"``);
an op of a module's own ``forward`` (the residual ``out += identity`` of ``layer1.0``, ``torch.cat``
in the model's ``forward``) by the path and its op, ``"layer1.0/Add"`` (``"Add"`` at the top),
with ``_1``, ``_2`` ... after the first where a module has several. An ``nn.Sequential`` (keys
``"0"``, ``"1"``, ...) has the positions 1, 2, ... as keys instead (its items' indices, less any
absorbed, such as an ``nn.Flatten`` before an ``nn.Linear``). Any other model keeps its node names
as keys (:func:`wlnet.onnx.read.model_net`).
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["torch_keys", "weight_input"]

_SCOPES = "pkg.torch.onnx.name_scopes"


def torch_keys(reader: Any, parts: list) -> list | None:
    """The layers' keys for a model PyTorch exported (see the module doc); None for any other model
    (a node not named by either exporter), or where the keys would not be unique."""
    nodes = {node.name: node for node in reader.graph.node}
    modules = [_module_path(reader, nodes.get(part.name)) for part in parts]
    if any(path is None for path in modules):
        return None
    paths: list[str] = [path for path in modules if path is not None]
    keys = []
    for path, part in zip(paths, parts):
        alone = path and paths.count(path) == 1 and not any(p.startswith(path + ".") for p in paths)
        keys.append(path if alone else f"{path}/{nodes[part.name].op_type}" if path else nodes[part.name].op_type)
    numbered = _numbered(keys)
    if all(key.isdigit() for key in numbered):  # an nn.Sequential's items: positions 1, 2, ...
        return list(range(1, len(numbered) + 1))
    return numbered if len(set(numbered)) == len(numbered) else None


def weight_input(name: str) -> str:
    """Why a weight that is the graph input ``name`` (without an initializer) is refused."""
    return (f'is the graph input "{name}", not a constant: wlnet reads weights given as initializers (or Constant '
            "nodes); write them as initializers (torch.onnx.export(..., export_params=True) does)")


def _module_path(reader: Any, node: Any) -> str | None:
    """The path of the module that wrote ``node`` ("" for the model's own forward), or None."""
    if node is None:
        return None
    weight = node.input[1] if len(node.input) > 1 else ""
    if weight.endswith(".weight") and weight in reader.constants:
        return weight[: -len(".weight")]
    recorded = next((p.value for p in node.metadata_props if p.key == _SCOPES), None)
    if recorded is not None:
        try:
            scopes = ast.literal_eval(recorded)
        except (ValueError, SyntaxError):
            return None
        return str(scopes[-2]) if isinstance(scopes, list) and len(scopes) >= 2 else None
    if not node.name.startswith("/"):
        return None
    path: list[str] = []
    previous = ""
    for scope in node.name.split("/")[1:-1]:  # the last is the op's own name ("Conv", "Add_1")
        path.append(scope[len(previous) + 1:] if previous and scope.startswith(previous + ".") else scope)
        previous = scope
    return ".".join(path)


def _numbered(keys: list[str]) -> list[str]:
    """The keys with ``_1``, ``_2`` ... after the first of each repeated one."""
    seen: dict[str, int] = {}
    numbered = []
    for key in keys:
        count = seen.get(key, 0)
        seen[key] = count + 1
        numbered.append(key if count == 0 else f"{key}_{count}")
    return numbered
