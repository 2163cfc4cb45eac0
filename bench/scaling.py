"""Data-parallel NetTrain: examples per second with 2 CPU processes against 1, measured in one run.

A 3-layer MLP (64 -> 256 -> 256 -> 10, ParametricRampLayers between) trains with ADAM on 16,384
examples, global batch 256 and 1024, for 4 rounds: once in one process (``TargetDevice="CPU"``) and
once in two (``TargetDevice=("CPU", 2)``, gloo). The two are interleaved in a shuffled order and repeated;
the table shows medians of examples per second, while training (NetTrain's TotalTrainingTime) and
over the whole call (starting the second process and forming the group included), and the scaling
efficiency, (2-process rate / 1-process rate) / 2: 1.0 would be perfect scaling. Torch's threads are split between the
processes (one run of 2 processes has the same cores as one of 1), so the efficiency is that of
the machine's cores, not of added hardware: on a 2-core machine it measures what the gradient
averaging costs against what the second process's core adds.

Each memory mode (glibc's default malloc; reused memory, as jemalloc or tcmalloc give) runs in its
own subprocess. Nothing here asserts a time.

    python bench/scaling.py [--quick]      (or: python -m bench scaling)
"""

from __future__ import annotations

import argparse
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

REUSE_ENV = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
MODES = {"default": {}, "reuse": {"GLIBC_TUNABLES": REUSE_ENV}}
EXAMPLES, ROUNDS = 16384, 4
BATCHES = (256, 1024)


def measure(repeats: int) -> dict:
    """Examples per second of each variant (run inside one memory mode's process)."""
    import numpy as np

    from wlnet import All, LinearLayer, NetChain, NetTrain, ParametricRampLayer

    rng = np.random.default_rng(0)
    x = rng.standard_normal((EXAMPLES, 64)).astype(np.float32)
    y = np.tanh(x @ rng.standard_normal((64, 10))).astype(np.float32)
    net = NetChain([LinearLayer(256), ParametricRampLayer(), LinearLayer(256), ParametricRampLayer(),
                    LinearLayer(10)], Input=64)
    variants = {f"{count} {batch}": (("CPU", count) if count > 1 else "CPU", batch)
                for batch in BATCHES for count in (1, 2)}

    def rate(device, batch) -> tuple[float, float]:
        """Examples per second while training (TotalTrainingTime), and over the whole call (with
        starting the processes and forming their group)."""
        start = time.perf_counter()
        results = NetTrain(net, (x, y), All, BatchSize=batch, MaxTrainingRounds=ROUNDS,
                           RandomSeeding=1, TargetDevice=device, TrainingProgressReporting=None)
        examples = EXAMPLES * ROUNDS
        return examples / results["TotalTrainingTime"], examples / (time.perf_counter() - start)

    for variant in variants.values():  # warm-up: kernels, thread pools, the first fork
        rate(*variant)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        order = list(variants)
        random.shuffle(order)
        for name in order:
            samples[name].append(rate(*variants[name]))
    return {name: [statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)]
            for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 9")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # run inside a mode's subprocess
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    import torch

    repeats = 3 if args.quick else 9
    print(f"NetTrain data-parallel scaling: 3-layer MLP, {EXAMPLES} examples, {ROUNDS} rounds, ADAM; {repeats} "
          "repetitions, interleaved in a shuffled order, medians")
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("examples per second while training (TotalTrainingTime), and over the whole NetTrain call")
    print(f"{'memory mode':<10} {'batch':>6} {'1 process':>10} {'2 processes':>12} {'efficiency':>11} "
          f"{'1 (call)':>10} {'2 (call)':>10} {'efficiency':>11}")
    for mode, extra in MODES.items():
        env = {**os.environ, **extra, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run([sys.executable, __file__, "--measure", str(repeats)], capture_output=True, text=True,
                              env=env, timeout=3600)
        if done.returncode != 0:
            print(f"{mode:<10} failed:\n{done.stderr[-2000:]}")
            continue
        rates = json.loads(done.stdout.strip().splitlines()[-1])
        for batch in BATCHES:
            (one, one_call), (two, two_call) = rates[f"1 {batch}"], rates[f"2 {batch}"]
            print(f"{mode:<10} {batch:6} {one:10,.0f} {two:12,.0f} {two / one / 2:11.2f} {one_call:10,.0f} "
                  f"{two_call:10,.0f} {two_call / one_call / 2:11.2f}")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
