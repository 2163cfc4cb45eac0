"""A training step against ``torch.compile`` of the one-line ``where``: the strongest peer on the CPU.

For each level spec (float32) and for level 1 in float64 and bfloat16, on (64, 64, 56, 56): a step
(forward, backward with a dense gradient) of ``wlnet.functional.parametric_ramp`` against the same
step of ``torch.compile(lambda x, s: torch.where(x > 0, x, x * s_view))`` (inductor, compiled
once per case before timing; the compile time is printed, short when inductor's cache holds it).
Interleaved, medians of 11 repetitions; ratio = compiled / ours (above 1: ours is faster). Two
memory modes, each in its own subprocess: glibc's default, and memory reuse
(``wlnet.kernels.reuse_memory()``).

    python bench/compiled.py           (about 5 minutes: each case compiles for about 15 s)
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

SHAPE = (64, 64, 56, 56)
#: name -> (0-based axes of x, the slope's dims)
SPECS = {
    "level 1": ((1,), (64,)),
    "last level (3)": ((3,), (56,)),
    "Span(1, 2)": ((1, 2), (64, 56)),
    "list [1, 3]": ((1, 3), (64, 56)),
    "[]": ((), ()),
}
MODES = {"default": {}, "reuse_memory()": {"WLNET_REUSE_MEMORY": "1"}}


def measure() -> list[dict]:
    """Each case's milliseconds, ours and compiled (inside one memory mode's process)."""
    import torch

    cases = [(name, torch.float32) for name in SPECS] + [("level 1", torch.float64), ("level 1", torch.bfloat16)]
    return [measure_case(name, dtype) for name, dtype in cases]


def measure_case(name: str, dtype) -> dict:
    import torch

    from wlnet import functional, kernels

    axes, dims = SPECS[name]
    x0 = torch.randn(SHAPE).to(dtype)
    slope = torch.full(dims, 0.25, dtype=dtype, requires_grad=True)
    view = [1] * len(SHAPE)
    for axis, size in zip(axes, dims):
        view[axis] = size
    compiled = torch.compile(lambda x, s: torch.where(x > 0, x, x * s.reshape(view)))

    def ours() -> None:
        x = x0.detach().requires_grad_()
        y = functional.parametric_ramp(x, slope, axes)
        y.backward(torch.ones_like(y))

    def theirs() -> None:
        x = x0.detach().requires_grad_()
        y = compiled(x, slope)
        y.backward(torch.ones_like(y))

    start = time.perf_counter()
    theirs()
    compile_seconds = time.perf_counter() - start
    ours()
    kernels.wait_ready(dtype, timeout=600)  # time the kernels, not the path they start on
    ours()
    samples: dict[str, list[float]] = {"ours": [], "compiled": []}
    for _ in range(11):
        for key, call in random.sample([("ours", ours), ("compiled", theirs)], 2):
            start = time.perf_counter()
            call()
            samples[key].append((time.perf_counter() - start) * 1e3)
    return {"case": f"{name}, {str(dtype).removeprefix('torch.')}", "compile": compile_seconds,
            **{key: statistics.median(values) for key, values in samples.items()}}


def main() -> None:
    if "--measure" in sys.argv:
        print(json.dumps(measure()))
        return
    import torch

    print(f"Step of (64, 64, 56, 56) against torch.compile of the where formulation; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    for mode, extra in MODES.items():
        env = {**os.environ, **extra, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run([sys.executable, __file__, "--measure"], capture_output=True, text=True, env=env,
                              timeout=3600)
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-2000:]}")
            continue
        print(f"\n### {mode}\n\n| case | ours ms | compiled ms | ratio compiled/ours | compile s |")
        print("|---|---:|---:|---:|---:|")
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            print(f"| {row['case']} | {row['ours']:.2f} | {row['compiled']:.2f} | {row['compiled'] / row['ours']:.2f} "
                  f"| {row['compile']:.1f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
