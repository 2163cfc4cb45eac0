"""Every level spec's training step against level 1's, per dtype, in both allocator modes.

Issue 12, item 5: every level spec within 1.3x of level 1 in float64, as in float32. A step is the
forward and the backward (input and slope gradients, a dense output gradient) of the ramp's torch
module on (64, 64, 56, 56); the specs of a dtype are interleaved in a shuffled order, medians of 9
repetitions of 3 steps. Each allocator mode runs in its own process: the default glibc malloc,
and ``WLNET_REUSE_MEMORY=1`` (:func:`wlnet.kernels.reuse_memory`). Nothing here asserts a time.

    python bench/levels.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout
from bench.modes import in_each_mode, shuffled_medians  # noqa: E402

SHAPE = (64, 64, 56, 56)
DTYPES = ("float32", "float64", "bfloat16")


def measure(dtype_name: str) -> dict[str, float]:
    """Median milliseconds per step of every level spec, in one dtype."""
    import torch

    from wlnet import Span, kernels
    from wlnet.layers.ramp import ParametricRamp

    dtype = getattr(torch, dtype_name)
    kernels.wait_ready(dtype)
    specs = {"1": (1, (64,)), "2": (2, (56,)), "3 (last)": (3, (56,)), "Span(1, 2)": (Span(1, 2), (64, 56)),
             "[1, 3]": ([1, 3], (64, 56)), "[]": ([], ())}
    x0 = torch.randn(SHAPE, dtype=dtype)
    grad = torch.randn(SHAPE, dtype=dtype)

    def step(module):
        def call():
            x = x0.detach().requires_grad_()
            module(x).backward(grad)
        return call

    calls = {name: step(ParametricRamp(torch.full(dims, 0.25, dtype=dtype), levels))
             for name, (levels, dims) in specs.items()}
    return {name: s * 1e3 for name, s in shuffled_medians(calls, 9, 3).items()}


def child() -> None:
    for dtype in DTYPES:
        times = measure(dtype)
        base = times["1"]
        cells = "  ".join(f"{name} {ms:6.2f} ms {ms / base:4.2f}x" for name, ms in times.items())
        print(f"  {dtype:<9} {cells}", flush=True)


def main() -> None:
    print(f"step of each level spec on {SHAPE}, and its time over level 1's; load average "
          f"{os.getloadavg()[0]:.2f} before")
    in_each_mode(__file__)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
