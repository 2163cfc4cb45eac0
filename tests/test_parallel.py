"""Data-parallel NetTrain: two CPU processes (gloo) train the net one process trains.

Both forms: ``TargetDevice=("CPU", 2)`` (NetTrain forks the second process) and the same script
under ``torchrun --nproc_per_node 2``. Also: continuing a distributed run's checkpoint with
another number of processes, and a process that dies mid-run.
"""

import os
import pathlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    BatchNormalizationLayer,
    Import,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetTrain,
    ParametricRampLayer,
    Scaled,
)
from wlnet.errors import NetError, NetOptionError

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not hasattr(os, "fork"),
                                reason="needs torch.distributed and fork")

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
STEPS = 20  # 4 rounds of 5 batches of 12 (5 rounds of 4 with a fifth of the data held out)


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    return X, np.tanh(X @ rng.standard_normal((4, 2)))


def mlp():
    return NetChain([LinearLayer(8), ParametricRampLayer(), LinearLayer(8), ParametricRampLayer(), LinearLayer(2)],
                    Input=4)


def options(method, validation, **more):
    rounds = 4 if validation is None else 5
    given = {"Method": method, "BatchSize": 12, "MaxTrainingRounds": rounds, "RandomSeeding": 3, **more}
    if validation:
        given["ValidationSet"] = data() if validation == "set" else Scaled(0.2)
    return given


def assert_same(a, b, tolerance=1e-5):
    for x, y in zip(Information(a["TrainedNet"], "ArraysList"), Information(b["TrainedNet"], "ArraysList")):
        np.testing.assert_allclose(x, y, rtol=0, atol=tolerance)
    np.testing.assert_allclose(a["BatchLossList"], b["BatchLossList"], rtol=0, atol=tolerance)
    np.testing.assert_allclose(a["ValidationLossList"], b["ValidationLossList"], rtol=0, atol=tolerance)
    assert a["TotalBatches"] == b["TotalBatches"]


@pytest.mark.parametrize("method", ["SGD", "ADAM"])
@pytest.mark.parametrize("validation", [None, "scaled"], ids=["no-validation", "validation"])
def test_two_cpu_processes_train_what_one_does(method, validation):
    single = NetTrain(mlp(), data(), All, **options(method, validation))
    double = NetTrain(mlp(), data(), All, TargetDevice=("CPU", 2), **options(method, validation))
    assert single["TotalBatches"] == STEPS
    assert (single["TargetDevice"], double["TargetDevice"]) == ("CPU", ("CPU", 2))
    assert_same(double, single)


def test_an_odd_split_and_a_batch_smaller_than_the_processes():
    single = NetTrain(mlp(), data(), All, **options("ADAM", None, BatchSize=7))
    assert_same(NetTrain(mlp(), data(), All, TargetDevice=("CPU", 2), **options("ADAM", None, BatchSize=7)), single)
    one = NetTrain(mlp(), data(), All, **options("SGD", None, BatchSize=1, MaxTrainingRounds=1))
    assert_same(NetTrain(mlp(), data(), All, TargetDevice=("CPU", 3), **options("SGD", None, BatchSize=1,
                                                                                MaxTrainingRounds=1)), one)


def test_moving_statistics_are_merged_over_the_processes():
    """A BatchNormalizationLayer's moving statistics: each process updates them with its rows of the batch
    (and normalizes with their statistics, as DDP does without SyncBatchNorm), and the updates are averaged
    by share after each step, so that every process keeps the same ones. The other arrays frozen, the moving
    mean moves as in one process; the moving variance by the mean of the shares' variances, at most the
    whole batch's."""
    net = NetChain([LinearLayer(8), BatchNormalizationLayer(), ParametricRampLayer(), LinearLayer(2)], Input=4)
    frozen = {1: 0, 3: 0, 4: 0, (2, "Scaling"): 0, (2, "Biases"): 0}
    given = {"BatchSize": 12, "MaxTrainingRounds": 2, "RandomSeeding": 3, "LearningRateMultipliers": frozen}
    single = NetTrain(net, data(), **given)
    double = NetTrain(net, data(), TargetDevice=("CPU", 2), **given)
    np.testing.assert_allclose(NetExtract(double, [2, "MovingMean"]), NetExtract(single, [2, "MovingMean"]),
                               rtol=0, atol=1e-6)
    variances = NetExtract(double, [2, "MovingVariance"]), NetExtract(single, [2, "MovingVariance"])
    assert (variances[0] <= variances[1] + 1e-6).all() and (variances[0] > 0.5).all()
    trained = NetTrain(net, data(), TargetDevice=("CPU", 2), **{**given, "LearningRateMultipliers": 1})
    assert np.isfinite(NetExtract(trained, [2, "MovingVariance"])).all()
    assert NetExtract(trained, [1, "Weights"]).tolist() != NetExtract(single, [1, "Weights"]).tolist()


SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    from wlnet import Export, LinearLayer, NetChain, NetTrain, ParametricRampLayer, Scaled

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    Y = np.tanh(X @ rng.standard_normal((4, 2)))
    net = NetChain([LinearLayer(8), ParametricRampLayer(), LinearLayer(8), ParametricRampLayer(), LinearLayer(2)],
                   Input=4)
    validation = {"ValidationSet": Scaled(0.2), "MaxTrainingRounds": 5} if sys.argv[3] == "scaled" else {
        "MaxTrainingRounds": 4}
    trained = NetTrain(net, (X, Y), Method=sys.argv[2], BatchSize=12, RandomSeeding=3, **validation)
    Export(os.path.join(sys.argv[1], "rank" + os.environ["RANK"] + ".safetensors"), trained)
""")


@pytest.mark.parametrize("method", ["SGD", "ADAM"])
@pytest.mark.parametrize("validation", [None, "scaled"], ids=["no-validation", "validation"])
def test_the_same_script_under_torchrun_trains_what_one_process_does(method, validation, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(tmp_path), method, str(validation)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [Import(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert ranks[0] == ranks[1]  # every process returns the same trained net
    single = NetTrain(mlp(), data(), **options(method, validation))
    for x, y in zip(Information(ranks[0], "ArraysList"), Information(single, "ArraysList")):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)


def test_a_distributed_run_continues_with_another_number_of_processes(tmp_path):
    reference = NetTrain(mlp(), data(), All, **options("ADAM", "scaled"))
    first = tmp_path / "two"
    NetTrain(mlp(), data(), TargetDevice=("CPU", 2), TrainingProgressCheckpointing=str(first),
             **options("ADAM", "scaled", MaxTrainingRounds=2))
    assert sorted(os.listdir(first)) == ["checkpoint-round-00001.safetensors", "checkpoint-round-00002.safetensors"]
    alone = NetTrain(first, data(), All, **options("ADAM", "scaled"))  # two processes, then one
    assert_same(alone, reference)
    second = tmp_path / "one"
    NetTrain(mlp(), data(), TrainingProgressCheckpointing=str(second), **options("ADAM", "scaled", MaxTrainingRounds=1))
    together = NetTrain(second, data(), All, TargetDevice=("CPU", 2), **options("ADAM", "scaled"))  # one, then two
    assert_same(together, reference)


def test_a_process_that_dies_stops_the_run_with_a_clear_error_and_keeps_the_checkpoints(tmp_path):
    parent = os.getpid()
    X, Y = data()

    def batches(request):  # a generator: every process draws its global batch from it
        if os.getpid() != parent and request["AbsoluteBatch"] == 3:
            os._exit(7)  # the second process dies mid-run
        rows = np.random.default_rng(request["AbsoluteBatch"]).integers(0, len(X), 12)
        return (X[rows], Y[rows])

    began = time.monotonic()
    with pytest.raises(NetError, match="another of its 2 processes failed or stopped answering"):
        NetTrain(mlp(), batches, BatchSize=12, MaxTrainingRounds=4, TargetDevice=("CPU", 2),
                 TrainingProgressCheckpointing=str(tmp_path), RandomSeeding=3)
    assert time.monotonic() - began < 60
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-round-00001.safetensors", "checkpoint-round-00002.safetensors"]
    assert Information(Import(tmp_path / "checkpoint-round-00001.safetensors"), "ArraysCount") == 8


def test_devices_need_an_explicit_batch_size_and_valid_counts():
    with pytest.raises(NetOptionError, match="training on 2 devices needs an explicit BatchSize"):
        NetTrain(mlp(), data(), TargetDevice=("CPU", 2))
    with pytest.raises(NetOptionError, match=r'TargetDevice \("CPU", n\) takes a positive number of processes'):
        NetTrain(mlp(), data(), TargetDevice=("CPU", 0), BatchSize=4)
    if not torch.cuda.is_available():
        with pytest.raises(NetOptionError, match="needs a CUDA GPU"):
            NetTrain(mlp(), data(), TargetDevice=("GPU", All), BatchSize=4)


def test_only_rank_0_reports_progress(tmp_path):
    log = tmp_path / "progress"

    def progress(state):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {state['Round']}\n")

    NetTrain(mlp(), data(), TargetDevice=("CPU", 2), TrainingProgressFunction=progress, **options("SGD", None))
    lines = log.read_text().split()
    assert lines == [word for r in range(1, 5) for word in (str(os.getpid()), str(r))]
