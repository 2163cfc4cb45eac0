"""A training step against ``torch.compile`` of the one-line ``where``: the strongest peer on the CPU.

For each level spec in float32, float64 and bfloat16, on (64, 64, 56, 56): a step (forward, then
backward with a fixed dense output gradient made before timing, as ``bench/prelu.py`` does) of
``wlnet.functional.parametric_ramp`` against the same step of
``torch.compile(lambda x, s: torch.where(x > 0, x, x * s_view))`` (inductor, compiled once per case
before timing; the compile time is printed, short when inductor's cache holds it). Interleaved,
shuffled, medians of 21 repetitions; ratio = compiled / ours (above 1: ours is faster). Two memory
modes, each in its own subprocess: glibc's default, and memory reuse (``wlnet.kernels.reuse_memory()``).

Each row also gives both steps' bandwidth as a fraction of this machine's copy bandwidth (a
``copy_`` of the input into a kept buffer, timed in the same interleaved loop), counting the bytes a
step cannot avoid: 5 per element-size (forward: read x, write y; backward: read x and the output
gradient, write the input gradient). Our big outputs are written with non-temporal stores, which
skip the read of each line that the copy's plain stores make, so ours can exceed 1 there. The
bound is tighter: ``5 reads`` is five passes at the read bandwidth of ``x.sum()`` (timed in the same
loop), faster than any step that must make three reads and two writes; ``bound`` = compiled / that
is the most any step could lead by. Where it is below 2, no kernel can lead by 2x; ``ours/5 reads``
says how near that our step is, and ``2x ahead?`` gives each row's verdict.

    python bench/compiled.py   (about 10 minutes the first time, each case compiling for about 15 s;
                               about a minute once inductor's cache holds them)
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
REPEATS = 21
MODES = {"default": {}, "reuse_memory()": {"WLNET_REUSE_MEMORY": "1"}}


def measure() -> list[dict]:
    """Each case's milliseconds, ours and compiled (inside one memory mode's process)."""
    import torch

    return [measure_case(name, dtype) for dtype in (torch.float32, torch.float64, torch.bfloat16) for name in SPECS]


def measure_case(name: str, dtype) -> dict:
    import torch

    from wlnet import functional, kernels

    axes, dims = SPECS[name]
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(SHAPE, generator=generator).to(dtype)
    grad = torch.randn(SHAPE, generator=generator).to(dtype)
    kept = torch.empty_like(x0)
    slope = torch.full(dims, 0.25, dtype=dtype, requires_grad=True)
    view = [1] * len(SHAPE)
    for axis, size in zip(axes, dims):
        view[axis] = size
    # A fresh, static compile per case: the cases share one lambda's code object, so without the
    # reset dynamo would recompile it with dynamic shapes and, past its recompile limit (8), run eager.
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, s: torch.where(x > 0, x, x * s.reshape(view)), dynamic=False)

    def ours() -> None:
        slope.grad = None
        functional.parametric_ramp(x0.detach().requires_grad_(), slope, axes).backward(grad)

    def theirs() -> None:
        slope.grad = None
        compiled(x0.detach().requires_grad_(), slope).backward(grad)

    def copy() -> None:
        kept.copy_(x0)

    def read() -> None:
        x0.sum()

    start = time.perf_counter()
    theirs()
    compile_seconds = time.perf_counter() - start
    ours()
    kernels.wait_ready(dtype, timeout=600)  # time the kernels, not the path they start on
    ours()
    samples: dict[str, list[float]] = {"ours": [], "compiled": [], "copy": [], "read": []}
    for _ in range(REPEATS):
        for key, call in random.sample([("ours", ours), ("compiled", theirs), ("copy", copy), ("read", read)], 4):
            start = time.perf_counter()
            call()
            samples[key].append((time.perf_counter() - start) * 1e3)
    return {
        "case": f"{name}, {str(dtype).removeprefix('torch.')}",
        "compile": compile_seconds,
        **{key: statistics.median(values) for key, values in samples.items()},
    }


def fraction_of_copy(step_ms: float, copy_ms: float) -> float:
    """A step's bandwidth (5 passes over the input's bytes) over the copy's (2 passes)."""
    return (5 / step_ms) / (2 / copy_ms)


def verdict(ratio: float, bound: float) -> str:
    """Whether a row is 2x ahead of the compiled step, and when not, whether any step could be."""
    if ratio >= 2:
        return "yes"
    return "no: bound under 2, no step can" if bound < 2 else "no"


def main() -> None:
    if "--measure" in sys.argv:
        print(json.dumps(measure()))
        return
    import torch

    print(
        f"Step of (64, 64, 56, 56) against torch.compile of the where formulation; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}"
    )
    for mode, extra in MODES.items():
        env = {**os.environ, **extra, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(
            [sys.executable, __file__, "--measure"], capture_output=True, text=True, env=env, timeout=3600
        )
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-2000:]}")
            continue
        print(
            f"\n### {mode}\n\n| case | ours ms | compiled ms | ratio compiled/ours | ours/copy | compiled/copy "
            "| 5 reads ms | bound | ours/5 reads | 2x ahead? | compile s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            reads = 5 * row["read"]  # the five-pass yardstick, ms
            ratio, bound = row["compiled"] / row["ours"], row["compiled"] / reads
            print(
                f"| {row['case']} | {row['ours']:.2f} | {row['compiled']:.2f} | {ratio:.2f} "
                f"| {fraction_of_copy(row['ours'], row['copy']):.2f} "
                f"| {fraction_of_copy(row['compiled'], row['copy']):.2f} | {reads:.2f} "
                f"| {bound:.2f} | {row['ours'] / reads:.2f} | {verdict(ratio, bound)} | {row['compile']:.1f} |"
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
