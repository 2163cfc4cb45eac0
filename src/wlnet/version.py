"""wlnet's version, in one place (the package, net files and ONNX models report it)."""

__version__ = "0.1.0"
