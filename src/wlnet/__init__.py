"""wlnet: the Wolfram Language's ParametricRampLayer and its net framework, on PyTorch.

Public names are the Wolfram Language's; options are keyword arguments with Wolfram spelling;
levels and positions are 1-based.

>>> from wlnet import ParametricRampLayer, NetInitialize, NetExtract, Normal
>>> act = NetInitialize(ParametricRampLayer(Input=3))
>>> Normal(act([[-3, -2, -1], [0, 1, 2]])) == [[-0.30000001192092896, -0.20000000298023224,
...     -0.10000000149011612], [0.0, 1.0, 2.0]]
True
"""

from .coders import NetDecoder, NetEncoder
from .convert import from_torch
from .errors import NetError
from .extract import NetExtract, NetReplacePart, Normal
from .files import Export, ExportByteArray, Import, ImportByteArray
from .functions import Abs, Cos, Exp, Log, LogisticSigmoid, Ramp, Sin, Sqrt, Tanh
from .gradients import NetPortGradient
from .information import Information
from .initialize import NetInitialize
from .kernels.memory import from_environment as _reuse_memory_if_asked
from .layers import ElementwiseLayer, FlattenLayer, LinearLayer, ParametricRampLayer
from .layers.aggregation import AggregationLayer
from .layers.combine import CatenateLayer, TotalLayer
from .layers.convolution import ConvolutionLayer
from .layers.dropout import DropoutLayer
from .layers.loss import CrossEntropyLossLayer, MeanAbsoluteLossLayer, MeanSquaredLossLayer
from .layers.normalization import BatchNormalizationLayer
from .layers.pooling import PoolingLayer
from .layers.reshape import ReshapeLayer
from .layers.softmax import SoftmaxLayer
from .nets import NetChain, NetGraph, NetPort
from .symbols import All, Automatic, Inherited, Quantity, Scaled, Span
from .train import NetTrain, NetTrainResults
from .version import __version__ as __version__

_reuse_memory_if_asked()  # WLNET_REUSE_MEMORY=1

__all__ = [
    "NetTrainResults",
    "NetTrain",
    "Scaled",
    "MeanSquaredLossLayer",
    "MeanAbsoluteLossLayer",
    "CrossEntropyLossLayer",
    "ConvolutionLayer",
    "DropoutLayer",
    "BatchNormalizationLayer",
    "Abs",
    "All",
    "Automatic",
    "Cos",
    "ElementwiseLayer",
    "Exp",
    "Export",
    "ExportByteArray",
    "Import",
    "ImportByteArray",
    "FlattenLayer",
    "from_torch",
    "Inherited",
    "Information",
    "LinearLayer",
    "Log",
    "LogisticSigmoid",
    "NetChain",
    "NetDecoder",
    "NetEncoder",
    "NetError",
    "NetExtract",
    "NetGraph",
    "NetInitialize",
    "NetPort",
    "NetPortGradient",
    "NetReplacePart",
    "Normal",
    "ParametricRampLayer",
    "Quantity",
    "Ramp",
    "ReshapeLayer",
    "Sin",
    "SoftmaxLayer",
    "AggregationLayer",
    "PoolingLayer",
    "Span",
    "Sqrt",
    "Tanh",
    "TotalLayer",
    "CatenateLayer",
]
