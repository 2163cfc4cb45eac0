"""Nets shared by several test files."""

from wlnet import LinearLayer, LogisticSigmoid, NetChain, NetDecoder, ParametricRampLayer


def page_chain():
    """The page's Boolean chain with a frozen leaky ReLU (examples 11-13)."""
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    return NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Output=NetDecoder("Boolean"))
