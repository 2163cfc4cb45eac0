"""Suite-wide settings.

The fused CPU kernels load in a background thread by default, and calls run PyTorch's PReLU kernel
until they are ready. Tests that check the kernels need them at once, so the suite (and the
subprocesses it starts, which inherit the environment) compiles them at the first call, as before;
``tests/test_kernel_paths.py`` checks the background path in subprocesses that unset this.
"""

import logging
import os

import pytest

os.environ.setdefault("WLNET_COMPILE_IN_BACKGROUND", "0")


@pytest.fixture
def fused(monkeypatch):
    """Every size through the fused kernels, as big tensors go in normal use (the dispatch
    constants that keep small inputs on PyTorch's kernel at 0), the float32 CPU kernels loaded."""
    import torch

    from wlnet import kernels

    for name in ("MIN_FUSED_NUMEL", "MIN_FUSED_TRAINING_NUMEL", "TORCH_FORWARD_BYTES"):
        monkeypatch.setattr(kernels, name, 0)
    kernels.wait_ready(torch.float32)


@pytest.fixture(scope="module")
def quiet_exporters():
    """torch.onnx's logger at ERROR for a module: the dynamo exporter logs a warning per torchvision
    op it skips (torchvision not installed). Used by the modules that run PyTorch's ONNX exporters."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)
