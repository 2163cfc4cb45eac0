"""ONNX export and import: a net as an ONNX model and back (see ``docs/onnx.md``).

``export_onnx(path, net, ...)`` writes a net, ``onnx_model(net, ...)`` gives the ``onnx.ModelProto``
without writing, and ``import_onnx(path_or_bytes, element)`` reads a model's net, arrays or
metadata. onnx (and onnxruntime, to choose the opset) are imported on first use:
``pip install "wlnet[onnx]"``.
"""

from .export import export_onnx, onnx_model
from .read import ELEMENTS, import_onnx

__all__ = ["ELEMENTS", "export_onnx", "import_onnx", "onnx_model"]
