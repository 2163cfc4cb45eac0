"""Data-parallel CPU cost: NetTrain under ``torchrun --nproc_per_node 2`` against a plain DDP loop.

The same model (an MLP 64 -> 256 -> 256 -> 10 with PReLU / ParametricRampLayer between), the same
data (16,384 examples), global batch 256, ADAM, mean squared loss, 3 rounds, trained four ways:
wlnet's NetTrain and a plain PyTorch loop (``DistributedDataParallel`` over gloo, each process
gathering its own rows of every global batch from a shared permutation, as a DistributedSampler
does; the round's loss all-reduced once at its end), each in 1 process and under ``torchrun
--nproc_per_node 2``. Every process measures its own CPU seconds (all its threads, gloo's too) over
the training call (NetTrain; the plain loop from its init_process_group on: the group's forming
and the model's set-up included in both, the imports and the data in neither: ``torch._dynamo``,
which DistributedDataParallel's constructor imports, is imported first and its cost printed apart),
and the sum over the processes is divided by the examples trained: CPU seconds per example. Every
process has one thread (``OMP_NUM_THREADS=1``, what torchrun sets): a 1-process run with two threads
on a shared 2-core machine spins against the other users' load and varies tenfold.

Printed: per variant the median over the repetitions, the ratio 2 processes / 1 process for wlnet
and for the plain loop, and wlnet's ratio over the plain loop's (the issue's measure: 1.0 means
data-parallel costs wlnet no more CPU than it costs a plain loop; the goal is <= 1.15); also wlnet
x2 over the plain loop x2 directly, and the wall seconds. The runs are interleaved in a shuffled
order, each in its own processes; both allocator modes (glibc's default malloc and
``WLNET_REUSE_MEMORY=1``); the load average before and after. The machine is shared: run it when
``uptime`` shows a low load. Nothing here asserts a time.

    python bench/ddp_overhead.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.modes import MODES, SRC, load_average  # noqa: E402

EXAMPLES, BATCH, ROUNDS = 16384, 256, 3
VARIANTS = ("wlnet 1", "wlnet 2", "plain 1", "plain 2")


def data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((EXAMPLES, 64)).astype(np.float32)
    return x, np.tanh(x @ rng.standard_normal((64, 10))).astype(np.float32)


def worker(kind: str, out: str) -> None:
    """One process of a run: train, and write this process's CPU and wall seconds of training."""
    import torch

    x, y = data()
    rank = int(os.environ.get("RANK", "0"))
    began = time.process_time()
    import torch._dynamo  # noqa: F401  (DistributedDataParallel's constructor imports it: seconds, once)

    dynamo = time.process_time() - began
    if kind == "wlnet":
        import wlnet  # noqa: F401

        seconds = _wlnet(x, y)
    else:
        seconds = _plain(torch, x, y)
    with open(os.path.join(out, f"{rank}.json"), "w") as handle:
        json.dump([*seconds, dynamo], handle)


def _wlnet(x, y) -> list[float]:
    from wlnet import LinearLayer, NetChain, NetTrain, ParametricRampLayer

    net = NetChain([LinearLayer(256), ParametricRampLayer(), LinearLayer(256), ParametricRampLayer(),
                    LinearLayer(10)], Input=64)
    began = (time.process_time(), time.perf_counter())
    NetTrain(net, (x, y), BatchSize=BATCH, MaxTrainingRounds=ROUNDS, RandomSeeding=1, TrainingProgressReporting=None)
    return [time.process_time() - began[0], time.perf_counter() - began[1]]


def _plain(torch, x, y) -> list[float]:
    import torch.distributed as dist

    began = (time.process_time(), time.perf_counter())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.PReLU(256), torch.nn.Linear(256, 256),
                                torch.nn.PReLU(256), torch.nn.Linear(256, 10))
    stepped = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(1)
    for _ in range(ROUNDS):
        order = torch.randperm(EXAMPLES, generator=generator)
        losses = []
        for start in range(0, EXAMPLES - BATCH + 1, BATCH):
            rows = order[start:start + BATCH][rank * BATCH // world:(rank + 1) * BATCH // world]
            loss = torch.nn.functional.mse_loss(stepped(xs[rows]), ys[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        total = torch.stack(losses).sum()
        if world > 1:
            dist.all_reduce(total)
    seconds = [time.process_time() - began[0], time.perf_counter() - began[1]]
    if world > 1:
        del stepped  # DDP's reducer before its process group: the other order hangs now and then at exit
        dist.destroy_process_group()
    return seconds


def run(variant: str, mode_env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds per example (summed over the processes) and wall seconds of one run."""
    kind, count = variant.split()
    env = {**os.environ, **mode_env, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as out:
        if count == "1":
            command = [sys.executable, __file__, "--worker", kind, out]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", count,
                       __file__, "--worker", kind, out]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        found = [json.loads(path.read_text()) for path in Path(out).glob("*.json")]
    assert len(found) == int(count), found
    RUN_IMPORTS.append(statistics.mean(f[2] for f in found))
    return sum(f[0] for f in found) / (EXAMPLES * ROUNDS), max(f[1] for f in found)


RUN_IMPORTS: list[float] = []  # each run's CPU seconds of importing torch._dynamo, per process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one allocator mode, 3 repetitions")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return
    repeats = 3 if args.quick else args.repeats
    modes = MODES[:1] if args.quick else MODES
    print(f"data-parallel CPU per example: MLP 64-256-256-10, {EXAMPLES} examples, batch {BATCH}, {ROUNDS} rounds, "
          f"ADAM; {repeats} repetitions interleaved in a shuffled order, medians; "
          f"{os.cpu_count()} cores; load average before: {load_average()}")
    for mode, extra in modes:
        samples: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        for _ in range(repeats):
            order = list(VARIANTS)
            random.shuffle(order)
            for variant in order:
                try:
                    samples[variant].append(run(variant, extra))
                except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:  # shown, not timed
                    print(f"{variant}: {type(error).__name__} (a hung or failed run, not timed)")
        cpu = {v: statistics.median(s[0] for s in samples[v]) for v in VARIANTS}
        wall = {v: statistics.median(s[1] for s in samples[v]) for v in VARIANTS}
        print(f"\n### {mode}\n")
        print(f"{'variant':<10} {'CPU us/example':>15} {'wall s':>8}   all CPU us/example")
        for v in VARIANTS:
            print(f"{v:<10} {cpu[v] * 1e6:15.2f} {wall[v]:8.2f}   "
                  + " ".join(f"{s[0] * 1e6:.2f}" for s in samples[v]))
        wlnet, plain = cpu["wlnet 2"] / cpu["wlnet 1"], cpu["plain 2"] / cpu["plain 1"]
        print(f"2 processes / 1: wlnet {wlnet:.2f}, plain DDP {plain:.2f}; wlnet's over plain's: "
              f"{wlnet / plain:.2f} (goal <= 1.15); wlnet x2 / plain x2: {cpu['wlnet 2'] / cpu['plain 2']:.2f}")
        extra = {kind: (cpu[f"{kind} 2"] - cpu[f"{kind} 1"]) * 1e6 for kind in ("wlnet", "plain")}
        print(f"what 2 processes add, CPU us/example: wlnet {extra['wlnet']:.2f}, plain DDP {extra['plain']:.2f} "
              f"(ratio {extra['wlnet'] / extra['plain']:.2f})")
    print(f"\nimporting torch._dynamo (which DistributedDataParallel's constructor does, outside the times above): "
          f"{statistics.median(RUN_IMPORTS):.2f} CPU s per process, median")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
