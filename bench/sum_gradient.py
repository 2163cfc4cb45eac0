"""A training step that ends in ``y.sum().backward()`` against one with a dense output gradient.

Issue 12, item 3: the step with the expanded one-value gradient of a sum as fast as the dense one.
The ramp's level-1 module and ``nn.PReLU(64)`` on (64, 64, 56, 56) float32; ``y.backward(g)``
against ``y.sum().backward()``, and ``y.sum()`` alone (its own pass over ``y``, which a dense step
does not make); interleaved in a shuffled order, medians of 9 repetitions of 3 steps, each
allocator mode in its own process. Nothing here asserts a time.

    python bench/sum_gradient.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout
from bench.modes import in_each_mode, shuffled_medians  # noqa: E402

SHAPE = (64, 64, 56, 56)


def child() -> None:
    import torch

    from wlnet import kernels
    from wlnet.layers.ramp import ParametricRamp

    kernels.wait_ready(torch.float32)
    x0, grad = torch.randn(SHAPE), torch.randn(SHAPE)
    y0 = torch.randn(SHAPE)

    def dense(module):
        return lambda: module(x0.detach().requires_grad_()).backward(grad)

    def summed(module):
        return lambda: module(x0.detach().requires_grad_()).sum().backward()

    ours, prelu = ParametricRamp(torch.full((64,), 0.25), 1), torch.nn.PReLU(64)
    cases = {"ours dense": dense(ours), "ours sum": summed(ours), "PReLU dense": dense(prelu),
             "PReLU sum": summed(prelu), "y.sum() alone": lambda: y0.sum()}
    ms = {name: s * 1e3 for name, s in shuffled_medians(cases, 9, 3).items()}
    for name, value in ms.items():
        print(f"  {name:<14} {value:7.2f} ms")
    print(f"  ours sum / dense {ms['ours sum'] / ms['ours dense']:.2f}; "
          f"(sum - y.sum()) / dense {(ms['ours sum'] - ms['y.sum() alone']) / ms['ours dense']:.2f}", flush=True)


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} before")
    in_each_mode(__file__)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
