"""Training survives faults: a run killed by SIGKILL and continued from its checkpoints ends as the
run that was never killed; Ctrl-C stops after the batch; checkpoints' places are checked first.

The killed runs are real subprocesses, killed at a random moment (possibly while writing a
checkpoint) once they have written a few.
"""

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from wlnet import All, Export, Information, LinearLayer, NetChain, NetTrain, ParametricRampLayer, Scaled
from wlnet.errors import NetError, NetOptionError, NetTrainWarning
from wlnet.train.loop import Run

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
ROUNDS = 24

SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from wlnet import LinearLayer, NetChain, NetTrain, ParametricRampLayer, Scaled

    config = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.tanh(X @ rng.standard_normal((3, 2)))
    options = config["options"]
    if options.pop("validation", False):
        options["ValidationSet"] = Scaled(0.25)
    net = NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3)
    # Slow rounds (the function changes nothing that is trained), so that the kill lands mid-run.
    NetTrain(net, (X, Y), TrainingProgressCheckpointing=config["directory"],
             TrainingProgressFunction=lambda progress: time.sleep(0.04), **options)
""")


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    return X, np.tanh(X @ rng.standard_normal((3, 2)))


def options(method, validation):
    return {"Method": method, "MaxTrainingRounds": ROUNDS, "BatchSize": 16, "RandomSeeding": 5,
            "validation": validation}


def train_options(config):
    given = dict(config)
    return {**{k: v for k, v in given.items() if k != "validation"},
            **({"ValidationSet": Scaled(0.25)} if given["validation"] else {})}


def uninterrupted(config):
    return NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3), data(), All,
                    **train_options(config))


def start_killable(directory, config):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    argument = json.dumps({"directory": str(directory), "options": config})
    return subprocess.Popen([sys.executable, "-c", SCRIPT, argument], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def checkpoints(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".safetensors")) if directory.exists() else []


def newest_round(directory):
    return max((int(name[17:22]) for name in checkpoints(directory) if name.startswith("checkpoint-round-")), default=0)


def kill_after_some_checkpoints(process, directory, wanted, delay):
    deadline = time.monotonic() + 120
    # (the directory keeps the newest 3 checkpoints and the best: wait for round ``wanted``'s)
    while newest_round(directory) < wanted and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return process.returncode


def assert_same_run(resumed, reference):
    for a, b in zip(Information(resumed["TrainedNet"], "ArraysList"), Information(reference["TrainedNet"],
                                                                                 "ArraysList")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    for a, b in zip(Information(resumed["FinalNet"], "ArraysList"), Information(reference["FinalNet"], "ArraysList")):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert resumed["RoundLossList"] == pytest.approx(reference["RoundLossList"], abs=1e-6)
    assert resumed["BatchLossList"] == pytest.approx(reference["BatchLossList"], abs=1e-6)
    assert resumed["ValidationLossList"] == pytest.approx(reference["ValidationLossList"], abs=1e-6)
    assert resumed["TotalRounds"] == reference["TotalRounds"] == ROUNDS
    assert resumed["ReasonTrainingStopped"] == reference["ReasonTrainingStopped"]


@pytest.mark.parametrize("method", ["ADAM", "SGD"])
@pytest.mark.parametrize("validation", [False, True], ids=["no-validation", "validation"])
def test_a_run_killed_by_sigkill_and_continued_ends_as_the_run_never_killed(method, validation, tmp_path):
    chooser = random.Random(f"{method}{validation}{time.time_ns()}")
    config = options(method, validation)
    directory = tmp_path / "checkpoints"
    process = start_killable(directory, config)
    returncode = kill_after_some_checkpoints(process, directory, chooser.randint(1, 8), chooser.uniform(0, 0.08))
    written = checkpoints(directory)
    assert returncode == -signal.SIGKILL and 1 <= len(written) < ROUNDS, (returncode, written)
    resumed = NetTrain(str(directory), data(), All, TrainingProgressCheckpointing=str(directory),
                       **train_options(config))  # with no warning (pytest makes warnings errors)
    reference = uninterrupted(config)
    assert_same_run(resumed, reference)
    assert not [name for name in os.listdir(directory) if name.endswith(".tmp")]  # a killed write's leftovers
    kept = sorted({ROUNDS - 2, ROUNDS - 1, ROUNDS} | ({reference["BestValidationRound"]} if validation else set()))
    assert [os.path.basename(f) for f in resumed["CheckpointingFiles"]] == checkpoints(directory) == [
        f"checkpoint-round-{r:05d}.safetensors" for r in kept]


def test_a_damaged_newest_checkpoint_is_skipped_with_a_warning_naming_it(tmp_path):
    config = options("ADAM", True)
    directory = tmp_path / "run"
    reference = NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3), data(), All,
                         TrainingProgressCheckpointing=str(directory), **train_options(config))
    for name in checkpoints(directory)[6:]:
        os.unlink(directory / name)
    newest = directory / checkpoints(directory)[-1]
    newest.write_bytes(newest.read_bytes()[:-100])  # truncated, as by a failing disk
    with pytest.warns(NetTrainWarning, match=f"skipping the checkpoint {newest}.*truncated"):
        resumed = NetTrain(directory, data(), All, TrainingProgressCheckpointing=str(directory),
                           **train_options(config))
    assert_same_run(resumed, reference)


def test_continuing_a_finished_run_trains_nothing_and_returns_its_results(tmp_path):
    config = options("SGD", False)
    reference = NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3), data(), All,
                         TrainingProgressCheckpointing=("File", str(tmp_path / "run.safetensors")),
                         **train_options(config))
    again = NetTrain(tmp_path / "run.safetensors", data(), All, **train_options(config))
    assert_same_run(again, reference)
    more = NetTrain(tmp_path / "run.safetensors", data(), All, **{**train_options(config), "MaxTrainingRounds": 30})
    assert more["TotalRounds"] == 30 and more["RoundLossList"][:ROUNDS] == reference["RoundLossList"]


def test_continuing_with_other_data_warns_and_bad_checkpoints_are_refused(tmp_path):
    config = options("ADAM", False)
    file = tmp_path / "run.safetensors"
    NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3), data(),
             TrainingProgressCheckpointing=("File", str(file)), **{**train_options(config), "MaxTrainingRounds": 2})
    X, Y = data()
    with pytest.warns(NetTrainWarning, match="data or options differ"):
        NetTrain(file, (X * 2, Y), **{**train_options(config), "MaxTrainingRounds": 3})
    with pytest.raises(NetError, match="does not fit this run"):
        NetTrain(file, data(), **{**train_options(config), "Method": "SGD"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(NetError, match="has no readable checkpoint"):
        NetTrain(tmp_path / "empty", data())
    plain = tmp_path / "net.safetensors"
    Export(plain, NetChain([LinearLayer(2)], Input=3))
    with pytest.raises(NetError, match="is a net file, not a checkpoint"):
        NetTrain(plain, data())


# -- Ctrl-C -----------------------------------------------------------------------------------------
def interrupting_generator(presses, at_batch=3):
    X, Y = data()

    def generator(request):
        if request["AbsoluteBatch"] == at_batch:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
        return (X[:8], Y[:8])

    return generator


def test_ctrl_c_stops_after_the_current_batch_as_manual_stop():
    handler = signal.getsignal(signal.SIGINT)
    results = NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3),
                       interrupting_generator(1), All, BatchSize=8, MaxTrainingRounds=50, RandomSeeding=1)
    assert results["ReasonTrainingStopped"] == "ManualStop"
    assert results["TotalBatches"] == 3  # the batch under way when Ctrl-C came was finished
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_second_ctrl_c_aborts_at_once():
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3),
                 interrupting_generator(2), BatchSize=8, MaxTrainingRounds=50, RandomSeeding=1)
    assert signal.getsignal(signal.SIGINT) is handler


# -- the checkpoint place ----------------------------------------------------------------------------
def test_an_unwritable_checkpoint_place_is_reported_before_the_first_round(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    rounds = []
    with pytest.raises(NetOptionError, match="checkpoints cannot be written to .*a-file/run"):
        NetTrain(LinearLayer(2, Input=3), data(), MaxTrainingRounds=3,
                 TrainingProgressCheckpointing=str(blocker / "run"),
                 TrainingProgressFunction=lambda progress: rounds.append(progress["Round"]))
    assert rounds == []


def test_a_killed_runs_temporary_files_are_removed(tmp_path):
    stale = [tmp_path / ".checkpoint-round-00004.safetensors.x1y2.tmp", tmp_path / ".other.tmp"]
    for file in stale:
        file.write_bytes(b"half")
    NetTrain(LinearLayer(2, Input=3), data(), MaxTrainingRounds=1,
             TrainingProgressCheckpointing=str(tmp_path))
    assert not stale[0].exists() and stale[1].exists()  # only the checkpoints' own temporary files


# -- Automatic rounds ---------------------------------------------------------------------------------
def test_automatic_rounds_are_judged_on_warm_batches():
    def resolved(seconds, per_round=2, time_goal=None):
        run = types.SimpleNamespace(time_goal=time_goal, _batch_seconds=seconds, batches=types.SimpleNamespace(
            per_round=per_round), optimizer=types.SimpleNamespace(total_steps=None), max_rounds=All)
        run.set_max_rounds = lambda rounds: Run.set_max_rounds(run, rounds)
        Run._resolve_automatic_rounds(run)
        return run.max_rounds

    assert resolved([12.0, 0.01, 0.01]) == 1000  # the first batch waited for a compile: not counted
    assert resolved([12.0]) is All  # no warm batch yet: judged after the next round
    assert resolved([0.001, 0.001, 0.001]) == 10000 and resolved([5.0, 5.0]) == 10
    assert resolved([1.0, 1.0], time_goal=3.0) == float("inf")


def test_automatic_rounds_of_a_one_batch_round_resolve_after_the_second_round():
    results = NetTrain(LinearLayer(2, Input=3), (np.ones((4, 3)), np.ones((4, 2))), All, TimeGoal=0.3)
    assert results["ReasonTrainingStopped"] == "TimeGoal" and results["TotalRounds"] >= 2


def test_checkpoints_of_a_shared_directory_are_found_by_round(tmp_path):
    config = options("ADAM", False)
    NetTrain(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3), data(),
             TrainingProgressCheckpointing=("Directory", str(tmp_path), {"Interval": 5}), **train_options(config))
    assert checkpoints(tmp_path) == [f"checkpoint-round-{r:05d}.safetensors" for r in (10, 15, 20)]  # the newest 3
    shutil.copy(tmp_path / "checkpoint-round-00010.safetensors", tmp_path / "notes.safetensors")
    resumed = NetTrain(tmp_path, data(), All, **train_options(config))
    assert resumed["TotalRounds"] == ROUNDS and len(resumed["RoundLossList"]) == ROUNDS
