"""A data-parallel run whose process dies continues from its newest checkpoint and ends as if it had not.

``TargetDevice=("CPU", 2)``: NetTrain starts its processes again (at most ``parallel.MAX_RESTARTS``
times), then stops with a NetError naming the cause and the checkpoint. ``torchrun --max-restarts``:
the same script, unchanged, continues from the newest checkpoint in its TrainingProgressCheckpointing
place. In both, a SIGKILL at any moment gives the arrays and losses of the run that was never killed,
bit for bit (the same processes compute the same sums in the same order).
"""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from wlnet import All, Import, Information, LinearLayer, NetChain, NetTrain, ParametricRampLayer, Scaled
from wlnet.errors import NetError
from wlnet.train import parallel

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not hasattr(os, "fork")
                                or not os.path.isdir("/proc"), reason="needs torch.distributed, fork and /proc")

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
X = np.random.default_rng(0).standard_normal((60, 4))
Y = np.tanh(X @ np.random.default_rng(1).standard_normal((4, 2)))
GIVEN = {"BatchSize": 12, "RandomSeeding": 3, "TrainingProgressReporting": None, "TargetDevice": ("CPU", 2)}
ROUNDS = 6  # of one batch from a generator, of five from the arrays


def mlp():
    return NetChain([LinearLayer(8), ParametricRampLayer(), LinearLayer(2)], Input=4)


def draw(request):
    """A generator of batches: every process gets the same batch for the same request."""
    rows = np.random.default_rng(request["AbsoluteBatch"]).integers(0, len(X), 12)
    return X[rows], Y[rows]


def killing(moments, marks: pathlib.Path):
    """``draw``, but the forked process kills itself (SIGKILL) at each AbsoluteBatch in ``moments``, once."""
    parent = os.getpid()

    def batches(request):
        mark = marks / f"killed-{request['AbsoluteBatch']}"
        if os.getpid() != parent and request["AbsoluteBatch"] in moments and not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return draw(request)

    return batches


def children():
    """The process ids of this process's children (the forked ranks), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                text = handle.read().decode(errors="replace")
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == os.getpid():
            found.append(int(entry))
    return found


def assert_identical(a, b):
    for x, y in zip(Information(a["TrainedNet"], "ArraysList"), Information(b["TrainedNet"], "ArraysList"),
                    strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a["BatchLossList"], b["BatchLossList"])
    np.testing.assert_array_equal(a["ValidationLossList"], b["ValidationLossList"])
    assert a["TotalBatches"] == b["TotalBatches"]


@pytest.fixture(scope="module")
def uninterrupted():
    return NetTrain(mlp(), draw, All, MaxTrainingRounds=ROUNDS, **GIVEN)


@pytest.mark.parametrize("moments", [(1,), (4,), (ROUNDS,), (2, 5)],
                         ids=["before-any-checkpoint", "mid-run", "last-batch", "twice"])
def test_a_killed_process_restarts_from_the_newest_checkpoint(moments, uninterrupted, tmp_path, caplog):
    place = tmp_path / "checkpoints"
    with caplog.at_level("WARNING", logger="wlnet"):
        results = NetTrain(mlp(), killing(moments, tmp_path), All, MaxTrainingRounds=ROUNDS,
                           TrainingProgressCheckpointing=str(place), **GIVEN)
    assert_identical(results, uninterrupted)
    assert sorted(p.name for p in tmp_path.glob("killed-*")) == sorted(f"killed-{m}" for m in moments)
    said = caplog.text
    assert said.count("(rank 1) was killed by signal SIGKILL; starting its 2 processes again") == len(moments)
    if moments == (1,):
        assert "training again from the start" in said
    else:
        assert f"continuing from the checkpoint {place / f'checkpoint-round-{moments[-1] - 1:05d}.safetensors'}" in said
    assert len(list(place.glob("checkpoint-round-*.safetensors"))) >= 1


def test_a_process_killed_from_outside_at_a_round_end_with_validation(tmp_path):
    """Arrays as data (five batches a round, the order drawn from the checkpointed generator), a
    validation set, ADAM; the forked process is killed by rank 0's progress function after round 2."""
    given = {**GIVEN, "Method": "ADAM", "ValidationSet": Scaled(0.2), "MaxTrainingRounds": 4}
    reference = NetTrain(mlp(), (X, Y), All, **given)
    killed = []

    def progress(state):
        if state["Round"] == 2 and not killed:
            killed.extend(children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    results = NetTrain(mlp(), (X, Y), All, TrainingProgressFunction=progress,
                       TrainingProgressCheckpointing=str(tmp_path), **given)
    assert len(killed) == 1
    assert_identical(results, reference)
    assert results["TotalBatches"] == 16


@pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpoints", "none"])
def test_a_process_that_keeps_dying_ends_in_an_error_naming_the_cause_and_the_checkpoint(checkpointing, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setattr(parallel, "MAX_RESTARTS", 2)
    parent = os.getpid()

    def batches(request):
        if os.getpid() != parent and request["AbsoluteBatch"] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return draw(request)

    place = {"TrainingProgressCheckpointing": str(tmp_path)} if checkpointing else {}
    newest = tmp_path / "checkpoint-round-00002.safetensors"
    then = (rf"the newest checkpoint, {newest} \(round 2\), continues the run: NetTrain\('{newest}', data" if
            checkpointing else "it wrote no checkpoints: with TrainingProgressCheckpointing")
    with pytest.raises(NetError, match=r"another of its 2 processes failed or stopped answering: process 2 of 2 "
                                       rf"\(rank 1\) was killed by signal SIGKILL, also after 2 restarts\..*{then}"):
        NetTrain(mlp(), batches, MaxTrainingRounds=4, **place, **GIVEN)
    if checkpointing:
        assert sorted(os.listdir(tmp_path)) == ["checkpoint-round-00001.safetensors", newest.name]
        continued = NetTrain(newest, draw, All, MaxTrainingRounds=4, **GIVEN)  # the error's advice
        assert_identical(continued, NetTrain(mlp(), draw, All, MaxTrainingRounds=4, **GIVEN))


SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from wlnet import All, Export, LinearLayer, NetChain, NetTrain, ParametricRampLayer

    out = sys.argv[1]
    rank, restart = int(os.environ["RANK"]), int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    X = np.random.default_rng(0).standard_normal((60, 4))
    Y = np.tanh(X @ np.random.default_rng(1).standard_normal((4, 2)))
    victim = None  # (rank, start of the processes) killed at the fourth batch

    def draw(request):
        if (rank, restart) == victim and request["AbsoluteBatch"] == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        rows = np.random.default_rng(request["AbsoluteBatch"]).integers(0, len(X), 12)
        return X[rows], Y[rows]

    net = NetChain([LinearLayer(8), ParametricRampLayer(), LinearLayer(2)], Input=4)
    given = dict(BatchSize=12, MaxTrainingRounds=6, RandomSeeding=3, TrainingProgressReporting=None)
    runs = {"reference": NetTrain(net, draw, All, **given)}
    for name, victim in (("first", (1, 0)), ("second", (0, 1))):
        if rank == 0:  # the other rank reaches the next process group's store first
            time.sleep(1)
        runs[name] = NetTrain(net, draw, All, TrainingProgressCheckpointing=os.path.join(out, name), **given)
    if rank == 0:
        for name, r in runs.items():
            Export(os.path.join(out, name + ".safetensors"), r["TrainedNet"])
            np.save(os.path.join(out, name + ".npy"), np.asarray(r["BatchLossList"]))
""")


def test_the_same_script_under_torchrun_restarts_from_the_newest_checkpoint(tmp_path):
    """torchrun (--max-restarts 2) starts both processes again after rank 1 dies in the first
    checkpointed NetTrain, and again after rank 0 dies in the second; each NetTrain of the script
    continues from its own newest checkpoint (the first, finished, from its last), and returns what
    the uninterrupted reference does. torchrun keeps its store across restarts: before the fix, a
    restarted rank (and a script's second NetTrain) read the address an earlier group's rank 0 had
    published there and failed ("Gloo connectFullMesh failed ... Connection refused")."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "--max-restarts", "2", "--monitor-interval", "0.1", str(script), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stderr
    for restart, name, round_number in ((1, "first", 3), (2, "first", 6), (2, "second", 3)):
        newest = tmp_path / name / f"checkpoint-round-{round_number:05d}.safetensors"
        assert f"restart {restart} of the data-parallel run: continuing from the checkpoint {newest} " \
               f"(round {round_number})" in said
    reference = Import(tmp_path / "reference.safetensors")
    for name in ("first", "second"):
        assert Import(tmp_path / f"{name}.safetensors") == reference
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), np.load(tmp_path / "reference.npy"))
