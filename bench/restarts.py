"""Data-parallel restarts, many times: SIGKILL a rank at a random moment, check the run ends bit-identical.

Two forms, each against its own uninterrupted run (the same processes compute the same sums):

* ``TargetDevice=("CPU", 2)``: a thread of this process kills the forked rank 1 at a random moment
  of a checkpointed run (8 rounds of 5 batches: after a random round's checkpoint appeared, a random
  part of a round later); NetTrain starts its processes again from the newest checkpoint;
* ``torchrun --nproc_per_node 2 --max-restarts 3``: this process kills rank 0 or rank 1 (chosen at
  random) of the script's run at a random moment; torchrun starts both again and the unchanged
  script continues from its newest checkpoint.

A kill that lands after the run ended (or before the training began) restarts nothing and is
counted apart. Prints, per form, how many runs ended identical to the uninterrupted one, how many
restarted, and any that differed or failed. Not a timing benchmark; it loads the machine while it
runs.

    python bench/restarts.py [--forked N] [--torchrun M]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    from wlnet import All, Export, LinearLayer, NetChain, NetTrain, ParametricRampLayer
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 16)).astype(np.float32)
    Y = np.tanh(X @ rng.standard_normal((16, 4))).astype(np.float32)
    net = NetChain([LinearLayer(64), ParametricRampLayer(), LinearLayer(64), ParametricRampLayer(), LinearLayer(4)],
                   Input=16)
    place = {"TrainingProgressCheckpointing": sys.argv[2]} if len(sys.argv) > 2 else {}
    results = NetTrain(net, (X, Y), All, BatchSize=48, MaxTrainingRounds=40, RandomSeeding=5,
                       TrainingProgressReporting=None, **place)
    if os.environ["RANK"] == "0":
        Export(sys.argv[1], results["TrainedNet"])
        np.save(sys.argv[1] + ".npy", np.asarray(results["BatchLossList"]))
""")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            text = Path(f"/proc/{entry}/stat").read_text(errors="replace")
        except OSError:
            continue
        if entry.isdigit() and int(text[text.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


def same(a, b) -> bool:
    import numpy as np

    from wlnet import Information

    arrays = zip(Information(a["TrainedNet"], "ArraysList"), Information(b["TrainedNet"], "ArraysList"))
    return all(np.array_equal(x, y) for x, y in arrays) and np.array_equal(a["BatchLossList"], b["BatchLossList"])


def forked(repeats: int) -> None:
    import logging

    import numpy as np

    from wlnet import All, LinearLayer, NetChain, NetTrain, ParametricRampLayer
    from wlnet.train.checkpoint import checkpoint_files

    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 16)).astype(np.float32)
    y = np.tanh(x @ rng.standard_normal((16, 4))).astype(np.float32)
    net = NetChain([LinearLayer(64), ParametricRampLayer(), LinearLayer(64), ParametricRampLayer(), LinearLayer(4)],
                   Input=16)
    rounds = 8
    given = {"BatchSize": 48, "MaxTrainingRounds": rounds, "RandomSeeding": 5, "TrainingProgressReporting": None,
             "TargetDevice": ("CPU", 2)}
    reference = NetTrain(net, (x, y), All, **given)  # (the first also imports what DDP needs)
    began = time.perf_counter()
    reference = NetTrain(net, (x, y), All, **given)
    took = time.perf_counter() - began
    logging.getLogger("wlnet").setLevel(logging.ERROR)  # the restart lines, once per run
    counts = {"identical": 0, "restarted": 0, "differed": 0, "failed": 0}
    for _ in range(repeats):
        kills: list[int] = []

        def kill(place: str, after: int, delay: float, kills: list[int] = kills) -> None:
            """Kill the forked rank ``delay`` seconds after round ``after``'s checkpoint appeared."""
            deadline = time.monotonic() + 60
            while after and max(checkpoint_files(place), default=0) < after and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(delay)
            for pid in children_of(os.getpid()):
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)

        with tempfile.TemporaryDirectory() as place:
            moment = (place, random.randrange(rounds), random.uniform(0, took / rounds))
            killer = threading.Thread(target=kill, args=moment, daemon=True)
            killer.start()
            try:
                results = NetTrain(net, (x, y), All, TrainingProgressCheckpointing=place, **given)
            except Exception as error:  # noqa: BLE001 - counted and shown
                counts["failed"] += 1
                print(f"  failed: {type(error).__name__}: {error}")
                continue
            finally:
                killer.join()
        counts["restarted"] += bool(kills)
        if same(results, reference):
            counts["identical"] += 1
        else:
            counts["differed"] += 1
    print(f'TargetDevice=("CPU", 2), {repeats} runs ({took:.1f} s each uninterrupted), a forked rank killed at a '
          f"random moment: {counts}")


def torchrun(repeats: int) -> None:
    import numpy as np

    from wlnet import Import

    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "train.py"
        script.write_text(SCRIPT)
        env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
        base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "--max-restarts", "3", "--monitor-interval", "0.1", str(script)]
        began = time.perf_counter()
        subprocess.run([*base, f"{work}/reference.safetensors"], env=env, check=True, capture_output=True, timeout=600)
        took = time.perf_counter() - began
        reference = Import(f"{work}/reference.safetensors"), np.load(f"{work}/reference.safetensors.npy")
        counts = {"identical": 0, "restarted": 0, "differed": 0, "failed": 0}
        for run in range(repeats):
            out = f"{work}/run{run}.safetensors"
            agent = subprocess.Popen([*base, out, f"{work}/checkpoints{run}"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            time.sleep(random.uniform(0.3 * took, 0.9 * took))  # after the imports, during training (mostly)
            workers = children_of(agent.pid)
            if workers:
                os.kill(random.choice(workers), signal.SIGKILL)
            _, stderr = agent.communicate(timeout=600)
            counts["restarted"] += "restart 1 of the data-parallel run" in stderr
            if agent.returncode != 0:
                counts["failed"] += 1
                print(f"  failed:\n{stderr[-1500:]}")
            elif Import(out) == reference[0] and np.array_equal(np.load(out + ".npy"), reference[1]):
                counts["identical"] += 1
            else:
                counts["differed"] += 1
    print(f"torchrun --nproc_per_node 2 --max-restarts 3, {repeats} runs ({took:.1f} s each uninterrupted), rank 0 "
          f"or 1 killed at a random moment: {counts}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forked", type=int, default=20)
    parser.add_argument("--torchrun", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.forked:
        forked(args.forked)
    if args.torchrun:
        torchrun(args.torchrun)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
