"""The ramp's torch module against ``torch.nn.PReLU`` at small and mid sizes: forward and step, level 1.

Below about 1e5 elements a call is mostly per-call cost, so these cases show the module's own
overhead and the path the dispatch picks for each size. The two steps of a size are interleaved in
a shuffled order, then the two forwards; medians of 15 repetitions, each timing enough calls for
about 2e6 elements.
Ratios are PReLU / ours (above 1: ours is faster). Nothing here asserts a time.

Then the Wolfram-style evaluation ``net(x)`` of a NumPy array against the net's torch module with
the conversions a user writes (``module(torch.from_numpy(x)).numpy()``), ratio net(x) / that.

    python bench/sizes.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # run from a checkout

from bench.modes import forward, shuffled_medians  # noqa: E402
from wlnet import kernels  # noqa: E402
from wlnet.layers.ramp import ParametricRamp  # noqa: E402

SHAPES = [(16, 64), (64, 256), (8, 64, 14, 14), (32, 64, 14, 14), (64, 64, 28, 28)]


def step(module: torch.nn.Module, x0: torch.Tensor) -> Callable[[], None]:
    def call() -> None:
        x = x0.detach().requires_grad_()
        y = module(x)
        y.backward(torch.ones_like(y))

    return call


def measure(shape: tuple) -> dict[str, float]:
    """Median microseconds per call of each variant on an input of ``shape``."""
    channels = shape[1]
    ours, ref = ParametricRamp(torch.full((channels,), 0.25), 1), torch.nn.PReLU(channels)
    x0 = torch.randn(*shape)
    calls = max(1, int(2e6 // x0.numel()))
    # Each comparison interleaved on its own: a step's tail (its threads spinning down, the cache it
    # filled) would land on whichever forward comes next, and made the forward ratios swing 0.8-1.1.
    steps = medians({"step ours": step(ours, x0), "step torch": step(ref, x0)}, calls)
    return {**steps, **medians({"forward ours": forward(ours, x0), "forward torch": forward(ref, x0)}, calls)}


def medians(cases: dict[str, Callable[[], object]], calls: int) -> dict[str, float]:
    """Median microseconds per call of each case: 15 shuffled rounds of ``calls`` calls, after 3
    warm-up calls of each."""
    return {name: s * 1e6 for name, s in shuffled_medians(cases, 15, calls, warm_up=3).items()}


def wolfram_call(shape: tuple) -> tuple[float, float]:
    """Median microseconds of ``net(x)`` on a NumPy array, and of the module with the conversions."""
    import numpy as np

    from wlnet import NetInitialize, ParametricRampLayer

    net = NetInitialize(ParametricRampLayer(1, Input=shape[1:]))
    module = net.to_torch()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(net(x), module(torch.from_numpy(x)).detach().numpy())

    def by_torch() -> None:
        with torch.no_grad():
            module(torch.from_numpy(x)).numpy()

    times = medians({"net": lambda: net(x), "torch": by_torch}, max(1, int(2e6 // x.size)))
    return times["net"], times["torch"]


def main() -> None:
    kernels.COMPILE_IN_BACKGROUND = False  # time the kernels, not the torch path they start on
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average before: "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'shape':<18} {'elements':>9} {'step ours':>10} {'torch':>9} {'ratio':>6} {'fwd ours':>9} {'torch':>8} "
          f"{'ratio':>6}   (microseconds)")
    for shape in SHAPES:
        m = measure(shape)
        print(f"{str(shape):<18} {torch.Size(shape).numel():>9} {m['step ours']:10.1f} {m['step torch']:9.1f} "
              f"{m['step torch'] / m['step ours']:6.2f} {m['forward ours']:9.1f} {m['forward torch']:8.1f} "
              f"{m['forward torch'] / m['forward ours']:6.2f}")
    print("\nnet(x) on a NumPy array against module(torch.from_numpy(x)).numpy(), microseconds; "
          "ratio = net(x) / module (target <= 1.3)")
    for shape in SHAPES:
        ours, module = wolfram_call(shape)
        print(f"{str(shape):<18} {ours:10.1f} {module:10.1f} {ours / module:6.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
