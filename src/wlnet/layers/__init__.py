"""Layers: one file per layer family. Each layer is an immutable value (see ``base.Layer``)."""

from .aggregation import AggregationLayer
from .base import Layer
from .combine import CatenateLayer, TotalLayer
from .dropout import DropoutLayer
from .elementwise import ElementwiseLayer
from .flatten import FlattenLayer
from .linear import LinearLayer
from .pooling import PoolingLayer
from .ramp import ParametricRamp, ParametricRampLayer
from .reshape import ReshapeLayer
from .softmax import SoftmaxLayer

__all__ = ["DropoutLayer", "ElementwiseLayer", "FlattenLayer", "Layer", "LinearLayer", "ParametricRamp",
           "ParametricRampLayer", "ReshapeLayer", "SoftmaxLayer",
           "CatenateLayer", "TotalLayer", "AggregationLayer", "PoolingLayer"]
