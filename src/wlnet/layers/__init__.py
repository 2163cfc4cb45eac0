"""Layers: one file per layer family. Each layer is an immutable value (see ``base.Layer``)."""

from .aggregation import AggregationLayer
from .base import Layer
from .combine import CatenateLayer, TotalLayer
from .convolution import ConvolutionLayer
from .dropout import DropoutLayer
from .elementwise import ElementwiseLayer
from .flatten import FlattenLayer
from .linear import LinearLayer
from .normalization import BatchNormalizationLayer
from .pooling import PoolingLayer
from .ramp import ParametricRamp, ParametricRampLayer
from .reshape import ReshapeLayer
from .softmax import SoftmaxLayer

__all__ = ["ConvolutionLayer", "DropoutLayer", "ElementwiseLayer", "FlattenLayer", "Layer", "LinearLayer",
           "BatchNormalizationLayer", "ParametricRamp",
           "ParametricRampLayer", "ReshapeLayer", "SoftmaxLayer", "AggregationLayer", "PoolingLayer",
           "CatenateLayer", "TotalLayer"]
