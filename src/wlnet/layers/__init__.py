"""Layers: one file per layer family. Each layer is an immutable value (see ``base.Layer``)."""

from .base import Layer
from .ramp import ParametricRamp, ParametricRampLayer

__all__ = ["Layer", "ParametricRamp", "ParametricRampLayer"]
