"""Time to the first training step of a fresh process: wlnet's ParametricRampLayer against nn.PReLU.

Run ``python bench/first_call.py`` from the repository root (``--repeats N``, ``--dtypes``).
Every measurement is a fresh Python process that imports torch (and wlnet), makes a
(64, 64, 56, 56) input, runs one training step (forward, backward with a dense output gradient)
and reports the seconds from its first line to the end of that step; then it runs a few more
steps and reports the last one's time. Variants:

* ``prelu``: ``torch.nn.PReLU(64)``;
* ``cold``: wlnet, level 1, with an empty ``NUMBA_CACHE_DIR`` (a fresh install);
* ``warm``: wlnet, level 1, with a cache that holds every kernel of the dtype.

The variants run interleaved, in a shuffled order, and the table gives medians and the
difference to ``prelu``. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import time
started = time.perf_counter()
import sys
import torch
dtype = getattr(torch, sys.argv[2])
shape = (64, 64, 56, 56)
gen = torch.Generator().manual_seed(0)
x = torch.randn(shape, generator=gen).to(dtype).requires_grad_()
grad = torch.randn(shape, generator=gen).to(dtype)
if sys.argv[1] == "prelu":
    layer = torch.nn.PReLU(64).to(dtype)
    forward, params = (lambda: layer(x)), [x, layer.weight]
else:
    from wlnet.functional import parametric_ramp
    slope = torch.full((64,), 0.25, dtype=dtype, requires_grad=True)
    forward, params = (lambda: parametric_ramp(x, slope, (1,))), [x, slope]

def step():
    for p in params:
        p.grad = None
    forward().backward(grad)

step()
first = time.perf_counter() - started
ready = None
if sys.argv[1] != "prelu":
    from wlnet import kernels
    ready = kernels.ready(dtype) if hasattr(kernels, "ready") else True
    if hasattr(kernels, "wait_ready"):
        kernels.wait_ready(dtype, timeout=600)
for _ in range(3):
    start = time.perf_counter()
    step()
    later = time.perf_counter() - start
import json
print(json.dumps({"first": first, "later": later, "ready_after_first": ready}))
"""


def child(variant: str, dtype: str, cache: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NUMBA_CACHE_DIR": cache}
    env.pop("WLNET_COMPILE_IN_BACKGROUND", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, dtype], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} {dtype} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(dtypes: list[str], repeats: int) -> list[dict]:
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="wlnet-first-call-"))
    try:
        for dtype in dtypes:
            warm = str(scratch / f"warm-{dtype}")
            child("warm", dtype, warm)  # fills the cache (it waits for the kernels before its later steps)
            times: dict[str, list[dict]] = {"prelu": [], "cold": [], "warm": []}
            order = list(times)
            shuffle = random.Random(0).shuffle
            for repeat in range(repeats):
                shuffle(order)
                for variant in order:
                    cache = str(scratch / f"cold-{dtype}-{repeat}") if variant == "cold" else warm
                    times[variant].append(child(variant, dtype, cache))
                    if variant == "cold":
                        shutil.rmtree(cache, ignore_errors=True)
            prelu = statistics.median(t["first"] for t in times["prelu"])
            for variant, found in times.items():
                first = statistics.median(t["first"] for t in found)
                rows.append(
                    {
                        "dtype": dtype,
                        "variant": variant,
                        "first_s": first,
                        "over_prelu_s": first - prelu,
                        "later_ms": 1e3 * statistics.median(t["later"] for t in found),
                        "ready_after_first": [t["ready_after_first"] for t in found],
                    }
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", default="float32,bfloat16,float64")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    print(f"# load average before: {os.getloadavg()}")
    rows = measure(args.dtypes.split(","), args.repeats)
    print(f"# load average after: {os.getloadavg()}")
    print("| dtype | variant | first step s (from start) | over nn.PReLU s | a later step ms | ready after 1st |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        ready = "" if r["variant"] == "prelu" else ", ".join(map(str, r["ready_after_first"]))
        print(
            f"| {r['dtype']} | {r['variant']} | {r['first_s']:.2f} | {r['over_prelu_s']:+.2f} | "
            f"{r['later_ms']:.1f} | {ready} |"
        )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
