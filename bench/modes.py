"""What the benchmarks share: a child run in each allocator mode, each in its own process (default
glibc malloc, and ``WLNET_REUSE_MEMORY=1``), and medians of cases timed in a shuffled order."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
MODES = (("default malloc", {}), ("WLNET_REUSE_MEMORY=1", {"WLNET_REUSE_MEMORY": "1"}))


def in_each_mode(script: str, *arguments: str) -> None:
    """``python script --child *arguments`` once per mode, with ``src`` on the path."""
    for mode, extra in MODES:
        print(mode, flush=True)
        env = {**os.environ, **extra, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, script, "--child", *arguments], env=env, check=True)


def child_result(script: str, mode_env: dict[str, str], argv: list[str]) -> dict | None:
    """The JSON that ``python script --child *argv`` prints last, run with ``mode_env`` and ``src`` on
    the path; None (the failure printed) when the child fails."""
    import json

    env = {**os.environ, **mode_env, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, script, "--child", *argv], capture_output=True, text=True, env=env,
                          timeout=7200)
    if done.returncode != 0:
        print(f"failed:\n```\n{done.stderr[-3000:]}\n```")
        return None
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as the benchmarks print them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def report_each_mode(script: str, modes: tuple, argv: list[str] | None, header: str,
                     show: Callable[[dict], None]) -> None:
    """The parent side of a benchmark: ``header`` with the load average before, then per mode of
    ``modes`` the result of ``python script --child`` (with this call's arguments) given to ``show``,
    then the load average after and the time it all took."""
    forwarded = [arg for arg in (argv if argv is not None else sys.argv[1:]) if arg != "--child"]
    print(f"{header}; load average before: {load_average()}")
    start = time.perf_counter()
    for mode, extra in modes:
        print(f"\n### {mode}\n")
        found = child_result(script, extra, forwarded)
        if found is not None:
            show(found)
    print(f"\nload average after: {load_average()}; {time.perf_counter() - start:.0f} s in all")


def forward(module: Callable[[object], object], x0: object) -> Callable[[], None]:
    """A call of ``module`` on ``x0`` without gradients (an inference forward), for the timing loops."""
    import torch

    def call() -> None:
        with torch.no_grad():
            module(x0)

    return call


def shuffled_medians(cases: dict[str, Callable[[], object]], repeats: int, number: int,
                     warm_up: int = 1) -> dict[str, float]:
    """Median seconds per call of each case: after ``warm_up`` calls of each, ``repeats`` rounds
    that time ``number`` calls of every case, the cases in a new shuffled order each round (so a
    drift in the machine's load hits all alike)."""
    for call in cases.values():
        for _ in range(warm_up):
            call()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name in random.sample(list(cases), len(cases)):
            call = cases[name]
            start = time.perf_counter()
            for _ in range(number):
                call()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}
