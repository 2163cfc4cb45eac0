"""Step latency over 300 steps: median and 99th percentile, ours against ``nn.PReLU``, per allocator mode.

Issue 12, item 6: p99 at most 2x the median over 300 steps in the default allocator mode. A step
is the forward and backward (dense output gradient) on (64, 64, 56, 56) float32, level 1; each
mode runs in its own process (default glibc malloc; ``WLNET_REUSE_MEMORY=1``), ours and PReLU in
alternating steps after 20 warm-up steps each. Prints p50, p90, p99 and max in milliseconds, and
the number of steps over 2x the median. Nothing here asserts a time.

    python bench/latency.py [--steps N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout
from bench.modes import in_each_mode  # noqa: E402


def child(steps: int) -> None:
    import numpy as np
    import torch

    from wlnet import kernels
    from wlnet.layers.ramp import ParametricRamp

    kernels.wait_ready(torch.float32)
    shape = (64, 64, 56, 56)
    x0, grad = torch.randn(shape), torch.randn(shape)
    modules = {"ours": ParametricRamp(torch.full((64,), 0.25), 1), "nn.PReLU": torch.nn.PReLU(64)}
    times: dict[str, list[float]] = {name: [] for name in modules}

    def step(module) -> float:
        start = time.perf_counter()
        x = x0.detach().requires_grad_()
        module(x).backward(grad)
        return time.perf_counter() - start

    for _ in range(20):
        for module in modules.values():
            step(module)
    for _ in range(steps):
        for name, module in modules.items():
            times[name].append(step(module) * 1e3)
    for name, values in times.items():
        a = np.array(values)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        print(f"  {name:<9} p50 {p50:7.2f}  p90 {p90:7.2f}  p99 {p99:7.2f}  max {a.max():7.2f} ms  "
              f"p99/p50 {p99 / p50:5.2f}  steps over 2x p50: {int((a > 2 * p50).sum())}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    print(f"{args.steps} steps each; load average {os.getloadavg()[0]:.2f} before")
    in_each_mode(__file__, str(args.steps))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(int(sys.argv[sys.argv.index("--child") + 1]))
    else:
        main()
