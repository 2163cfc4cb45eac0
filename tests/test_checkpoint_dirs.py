"""Checkpoint directories: one run per directory (identity, lock, refusals), the checkpointing
sub-options (interval, how many files are kept), a full disk, a file target that is a directory,
every field of an edited checkpoint checked, the damaged-checkpoint warning, RandomSeeding on
continuing, and two quick Ctrl-C presses. Subprocesses run with timeouts, so that nothing hangs."""

import errno
import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from safetensors.numpy import load, save

from wlnet import All, Import, Information, LinearLayer, NetChain, NetTrain, ParametricRampLayer, Scaled
from wlnet.errors import NetError, NetOptionError, NetTrainWarning
from wlnet.train import checkpoint as checkpoint_module
from wlnet.train.checkpointing import parse_checkpointing

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    return X, np.tanh(X @ rng.standard_normal((3, 2)))


def net():
    return NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3)


OPTIONS = {"BatchSize": 16, "RandomSeeding": 5, "Method": "ADAM"}


def names(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".safetensors"))


def arrays_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(Information(a, "ArraysList"), Information(b, "ArraysList")))


# -- one run per directory ---------------------------------------------------------------------------
TRAINER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from wlnet import LinearLayer, NetTrain
    X = np.random.default_rng(0).standard_normal((40, 3))
    NetTrain(LinearLayer(2, Input=3), (X, X[:, :2]), BatchSize=16, MaxTrainingRounds=100000, RandomSeeding=5,
             TrainingProgressCheckpointing=sys.argv[1], TrainingProgressFunction=lambda progress: time.sleep(0.1))
""")


def trainer_data():
    X = np.random.default_rng(0).standard_normal((40, 3))
    return X, X[:, :2]


def test_a_second_run_into_a_directory_in_use_is_refused_naming_the_process(tmp_path):
    directory = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", TRAINER, str(directory)], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not names(directory) if directory.exists() else True:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        assert (directory / ".wlnet.lock").exists()
        X, Y = trainer_data()
        rounds = []
        with pytest.raises(NetError, match=rf"{re.escape(str(directory))} is in use: process {process.pid} "):
            NetTrain(LinearLayer(2, Input=3), (X, Y), BatchSize=16, MaxTrainingRounds=3, RandomSeeding=5,
                     TrainingProgressCheckpointing=str(directory),
                     TrainingProgressFunction=lambda progress: rounds.append(progress["Round"]))
        assert rounds == []  # refused before the first round
        # ... and continuing that very run while it trains is refused by the lock too
        with pytest.raises(NetError, match=f"is in use: process {process.pid} "):
            NetTrain(str(directory), (X, Y), BatchSize=16, RandomSeeding=5,
                     TrainingProgressCheckpointing=str(directory))
    finally:
        process.kill()
        process.communicate(timeout=60)
    # The killed run left its lock. A new run may not write into its directory (its checkpoints are
    # another run's); that run itself continues there, taking its own stale lock over without a warning.
    with pytest.raises(NetError, match=rf"holds the checkpoints of the run started \S+ on host \S+ by process "
                                       rf"{process.pid} .*this run starts anew.*new directory"):
        NetTrain(LinearLayer(2, Input=3), trainer_data(), BatchSize=16, MaxTrainingRounds=3,
                 TrainingProgressCheckpointing=str(directory))
    newest = max(int(name[17:22]) for name in names(directory))
    results = NetTrain(str(directory), trainer_data(), All, BatchSize=16, MaxTrainingRounds=newest + 2,
                       TrainingProgressCheckpointing=str(directory))
    assert results["TotalRounds"] == newest + 2
    assert not (directory / ".wlnet.lock").exists()


def dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          timeout=60)
    return int(done.stdout)


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    pid = dead_pid()
    lock = tmp_path / ".wlnet.lock"
    lock.write_text(json.dumps({"Pid": pid, "Host": socket.gethostname(), "Run": "another"}))
    with pytest.warns(NetTrainWarning, match=f"was locked by process {pid}, which is no longer running"):
        files = NetTrain(net(), data(), "CheckpointingFiles", MaxTrainingRounds=2, TrainingProgressCheckpointing=str(
            tmp_path), **OPTIONS)
    assert [os.path.basename(f) for f in files] == names(tmp_path) and not lock.exists()


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    lock = tmp_path / ".wlnet.lock"
    lock.write_text(json.dumps({"Pid": 4242, "Host": "elsewhere.example", "Run": "another"}))
    with pytest.raises(NetError, match="locked by process 4242 on host elsewhere.example .*delete the lock file"):
        NetTrain(net(), data(), MaxTrainingRounds=2, TrainingProgressCheckpointing=str(tmp_path), **OPTIONS)
    assert lock.exists()


def test_a_directory_of_one_run_continued_with_another_runs_settings_is_refused(tmp_path):
    NetTrain(net(), data(), MaxTrainingRounds=2, TrainingProgressCheckpointing=str(tmp_path), **OPTIONS)
    before = {name: (tmp_path / name).read_bytes() for name in names(tmp_path)}
    with pytest.raises(NetError, match=r"holds the checkpoints of the run started .*continues it with other data or "
                                       r"options.*new directory"):
        NetTrain(tmp_path, data(), MaxTrainingRounds=4, TrainingProgressCheckpointing=str(tmp_path),
                 **{**OPTIONS, "LearningRate": 0.01})
    assert {name: (tmp_path / name).read_bytes() for name in names(tmp_path)} == before
    # Into a directory of its own, it trains, saying what differs.
    with pytest.warns(NetTrainWarning, match=r"differ .*: LearningRate \(0.001 then, 0.01 now\)"):
        NetTrain(tmp_path, data(), MaxTrainingRounds=4, TrainingProgressCheckpointing=str(tmp_path / "other"),
                 **{**OPTIONS, "LearningRate": 0.01})


def test_a_directory_holding_two_runs_mixed_is_refused(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    NetTrain(net(), data(), MaxTrainingRounds=3, TrainingProgressCheckpointing=str(first), **OPTIONS)
    NetTrain(net(), data(), MaxTrainingRounds=4, TrainingProgressCheckpointing=str(second), **OPTIONS)
    for name in ("checkpoint-round-00002.safetensors", "checkpoint-round-00004.safetensors"):  # as two runs did
        (first / name).write_bytes((second / name).read_bytes())
    with pytest.raises(NetError, match=r"holds the checkpoints of 2 runs mixed together \(rounds 2, 4 of run .*"
                                       r"rounds 1, 3 of run"):
        NetTrain(first, data(), **OPTIONS)
    NetTrain(first / "checkpoint-round-00003.safetensors", data(), MaxTrainingRounds=3, **OPTIONS)  # the way out


# -- RandomSeeding ------------------------------------------------------------------------------------
def test_continuing_with_another_random_seeding_warns_and_keeps_the_runs(tmp_path):
    file = tmp_path / "run.safetensors"
    options = {**OPTIONS, "ValidationSet": Scaled(0.25)}
    NetTrain(net(), data(), MaxTrainingRounds=2, TrainingProgressCheckpointing=("File", str(file)), **options)
    kept = NetTrain(file, data(), MaxTrainingRounds=4, **options)
    with pytest.warns(NetTrainWarning, match=r"RandomSeeding is 6 here but was 5; the continued run keeps the "
                                             rf"seeding 5 .*{re.escape(str(file))}"):
        other = NetTrain(file, data(), MaxTrainingRounds=4, **{**options, "RandomSeeding": 6})
    assert arrays_equal(other, kept)
    NetTrain(file, data(), MaxTrainingRounds=4, **{k: v for k, v in options.items() if k != "RandomSeeding"})


# -- a full disk -----------------------------------------------------------------------------------------
def test_a_full_disk_stops_training_and_returns_the_results_with_the_reason(tmp_path, monkeypatch):
    real = checkpoint_module.write_atomically

    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(path, data, *args, **kwargs):
        if os.path.basename(path) != "checkpoint-round-00003.safetensors":
            return real(path, data, *args, **kwargs)
        with monkeypatch.context() as patch:  # the disk fills up while round 3's checkpoint is written
            patch.setattr(os, "write", no_space)
            patch.setattr(os, "fsync", no_space)
            return real(path, data, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "write_atomically", write)
    third = tmp_path / "checkpoint-round-00003.safetensors"
    second = tmp_path / "checkpoint-round-00002.safetensors"
    with pytest.warns(NetTrainWarning, match=rf"round 3 could not be written to {re.escape(str(third))} \(No space "
                                             rf"left on device: the disk is full\).*\"CheckpointingFailed\".*newest "
                                             rf"complete checkpoint, {re.escape(str(second))}, continues the run"):
        results = NetTrain(net(), data(), All, MaxTrainingRounds=6, TrainingProgressCheckpointing=str(tmp_path),
                           **OPTIONS)
    assert results["ReasonTrainingStopped"] == "CheckpointingFailed" and results["TotalRounds"] == 3
    assert [os.path.basename(f) for f in results["CheckpointingFiles"]] == names(tmp_path) == [
        "checkpoint-round-00001.safetensors", "checkpoint-round-00002.safetensors"]
    assert sorted(os.listdir(tmp_path)) == names(tmp_path)  # no temporary file, no lock left
    monkeypatch.setattr(checkpoint_module, "write_atomically", real)  # room again: the run goes on from round 2
    resumed = NetTrain(tmp_path, data(), All, MaxTrainingRounds=6, TrainingProgressCheckpointing=str(tmp_path),
                       **OPTIONS)
    reference = NetTrain(net(), data(), All, MaxTrainingRounds=6, **OPTIONS)
    assert resumed["RoundLossList"] == reference["RoundLossList"] and arrays_equal(resumed["TrainedNet"],
                                                                                    reference["TrainedNet"])


# -- the checkpoint place, the sub-options -------------------------------------------------------------------
def test_a_file_target_that_is_a_directory_is_refused_before_the_first_round(tmp_path):
    target = tmp_path / "run.safetensors"
    target.mkdir()
    rounds = []
    with pytest.raises(NetOptionError, match=f"the checkpoint file {re.escape(str(target))} is a directory"):
        NetTrain(net(), data(), MaxTrainingRounds=3, TrainingProgressCheckpointing=("File", str(target)),
                 TrainingProgressFunction=lambda progress: rounds.append(progress["Round"]), **OPTIONS)
    assert rounds == []


def test_a_directory_keeps_the_newest_checkpoints_and_the_best(tmp_path):
    X, Y = data()
    # The validation targets are the opposite of the training ones: the first round is the best.
    options = {**OPTIONS, "ValidationSet": (X[:8], -Y[:8]), "LearningRate": 0.05}
    results = NetTrain(net(), data(), All, MaxTrainingRounds=6, **options,
                       TrainingProgressCheckpointing=("Directory", str(tmp_path), {"KeepNewest": 2}))
    assert results["BestValidationRound"] == 1
    assert names(tmp_path) == [f"checkpoint-round-{r:05d}.safetensors" for r in (1, 5, 6)]
    assert [os.path.basename(f) for f in results["CheckpointingFiles"]] == names(tmp_path)
    assert arrays_equal(Import(tmp_path / "checkpoint-round-00001.safetensors"), results["TrainedNet"])
    everything = NetTrain(net(), data(), "CheckpointingFiles", MaxTrainingRounds=6, **options,
                          TrainingProgressCheckpointing=("Directory", str(tmp_path / "all"), {"KeepNewest": All}))
    assert len(everything) == len(names(tmp_path / "all")) == 6
    default = NetTrain(net(), data(), "CheckpointingFiles", MaxTrainingRounds=6, **OPTIONS,
                       TrainingProgressCheckpointing=str(tmp_path / "default"))
    assert names(tmp_path / "default") == [os.path.basename(f) for f in default] == [
        f"checkpoint-round-{r:05d}.safetensors" for r in (4, 5, 6)]


def test_an_interval_of_batches_writes_at_the_end_of_the_round_that_reaches_it(tmp_path):
    # 40 examples in batches of 16: 3 batches a round; every 4 batches is rounds 2 (6), 3 (9), 4 (12), 6 (18)
    NetTrain(net(), data(), MaxTrainingRounds=6, **OPTIONS,
             TrainingProgressCheckpointing=("Directory", str(tmp_path), {"Interval": (4, "Batches"),
                                                                          "KeepNewest": All}))
    assert names(tmp_path) == [f"checkpoint-round-{r:05d}.safetensors" for r in (2, 3, 4, 6)]
    NetTrain(net(), data(), MaxTrainingRounds=6, **OPTIONS,
             TrainingProgressCheckpointing=("Directory", str(tmp_path / "time"), {"Interval": (1, "Hours")}))
    assert names(tmp_path / "time") == []  # the first hour has not passed
    NetTrain(net(), data(), MaxTrainingRounds=3, **OPTIONS,
             TrainingProgressCheckpointing=("Directory", str(tmp_path / "min"), {"MinimumInterval": (1, "Hours")}))
    assert names(tmp_path / "min") == ["checkpoint-round-00001.safetensors"]  # then none within the hour


@pytest.mark.parametrize("value, message", [
    (("Directory", "d", {"Interval": 0}), '"Interval" should be a positive number of rounds'),
    (("Directory", "d", {"Interval": (2, "Fortnights")}), '"Interval" should be'),
    (("Directory", "d", {"Interval": (float("nan"), "Seconds")}), '"Interval" should be a positive number of seconds'),
    (("Directory", "d", {"MinimumInterval": -1}), '"MinimumInterval" should be a non-negative number'),
    (("Directory", "d", {"KeepNewest": 0}), '"KeepNewest" should be a positive number of files or All'),
    (("Directory", "d", {"KeepBest": "yes"}), '"KeepBest" should be True or False'),
    (("Directory", "d", {"Keep": 3}), "unknown option Keep"),
    (("File", "f.safetensors", {"KeepNewest": 2}), 'a \\("File", path\\) is one file'),
    (("Directory", "d", {}, "extra"), "TrainingProgressCheckpointing should be"),
])
def test_checkpointing_sub_options_are_checked(value, message):
    with pytest.raises(NetOptionError, match=message):
        parse_checkpointing(value)


def test_checkpointing_forms():
    spec = parse_checkpointing(("Directory", "d", {"Interval": (2, "Minutes"), "MinimumInterval": 30}))
    assert (spec.interval, spec.unit, spec.minimum, spec.keep, spec.best) == (120.0, "Seconds", 30.0, 3, True)
    assert parse_checkpointing("d")[:3] == ("Directory", "d", 1)
    assert parse_checkpointing(("Directory", "d", {"Interval": (5, "Rounds")}))[:4] == ("Directory", "d", 5, "Rounds")


# -- an edited checkpoint ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written(tmp_path_factory):
    file = tmp_path_factory.mktemp("edited") / "run.safetensors"
    NetTrain(net(), data(), MaxTrainingRounds=3, TrainingProgressCheckpointing=("File", str(file)),
             ValidationSet=Scaled(0.25), TrainingStoppingCriterion={"Patience": 5}, **OPTIONS)
    return file


def edited(file, out, change=None, tensors=None):
    """``file`` with its run state changed by ``change`` (and tensors by ``tensors``), its checksums
    recomputed, as a hand who knows the format would."""
    raw = file.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    metadata = json.loads(json.loads(raw[8:8 + size])["__metadata__"]["wlnet"])
    arrays = load(raw)
    if change is not None:
        change(metadata["Extra"]["Checkpoint"])
    if tensors is not None:
        tensors(arrays)
        for entry in metadata["ExtraTensors"]:
            entry["SHA256"] = hashlib.sha256(np.ascontiguousarray(arrays[entry["Key"]]).tobytes()).hexdigest()
    text = json.dumps(metadata)
    out.write_bytes(save(arrays, metadata={"wlnet": text, "wlnet.sha256": hashlib.sha256(text.encode()).hexdigest()}))
    return out


def setter(field, value):
    def change(state):
        if value is KeyError:
            del state[field]
        else:
            state[field] = value
    return change


@pytest.mark.parametrize("field, value, message", [
    ("Round", 10**30, r'"Round" of the run state is 1000000000000000000000000000000, but should be a whole number'),
    ("Round", -1, '"Round"'),
    ("Round", 2, '"BatchLossCounts"'),  # no longer agrees with the loss history
    ("AbsoluteBatch", 1.5, '"AbsoluteBatch"'),
    ("Step", -1, r'"Step" of the run state is -1, but should be a whole number from 0 to \d+'),
    ("Step", "3", '"Step"'),
    ("Method", None, '"Method"'),
    ("MaxTrainingRounds", 0, '"MaxTrainingRounds"'),
    ("MaxTrainingRounds", "lots", '"MaxTrainingRounds"'),
    ("Elapsed", -5.0, '"Elapsed"'),
    ("Elapsed", "nan", '"Elapsed"'),
    ("Reason", "Bored", r'"Reason" of the run state is .Bored., but should be None or one of'),
    ("Seed", [1], '"Seed"'),
    ("DataOrder", {"bit_generator": "PCG64"}, '"DataOrder"'),
    ("DataOrder", "shuffled", '"DataOrder"'),
    ("BatchLossCounts", [3, 3, -3], '"BatchLossCounts"'),
    ("BatchLossCounts", KeyError, '"BatchLossCounts" of the run state is None'),
    ("BestRound", 7, r'"BestRound" of the run state is 7, but should be None or a round from 1 to 3'),
    ("Files", "run.safetensors", '"Files"'),
    ("Callbacks", [], r'"Callbacks" of the run state is \[\], but should be a dict'),
    ("Callbacks", {"Validation": []}, '"Callbacks.Validation"'),
    ("Callbacks", {"Validation": {"Best": "low"}}, '"Callbacks.Validation.Best"'),
    ("Callbacks", {"StoppingCriterion": {"Waited": -2}}, '"Callbacks.StoppingCriterion.Waited"'),
    ("Callbacks", {"Mystery": {}}, '"Callbacks.Mystery"'),
    ("Fingerprint", 7, '"Fingerprint"'),
    ("Run", {"Id": 3}, '"Run"'),
])
def test_every_field_of_an_edited_checkpoint_is_checked(written, tmp_path, field, value, message):
    file = edited(written, tmp_path / "edited.safetensors", setter(field, value))
    with pytest.raises(NetError, match=f"NetTrain: the checkpoint {re.escape(str(file))}: .*{message}"):
        NetTrain(file, data(), ValidationSet=Scaled(0.25), TrainingStoppingCriterion={"Patience": 5}, **OPTIONS)


@pytest.mark.parametrize("key, value, words", [
    ("%random.torch", np.zeros(5056, np.float32), "the saved random-number state"),
    ("%losses.round", np.zeros(2), "the round loss history"),
    ("%losses.batch", np.zeros(9, np.float32), "the batch loss history"),
])
def test_the_tensors_beside_the_state_are_checked(written, tmp_path, key, value, words):
    def change(arrays):
        arrays[key] = value

    file = edited(written, tmp_path / "edited.safetensors", tensors=change)
    with pytest.raises(NetError, match=f"{words} \\({re.escape(key)}\\) of the run state"):
        NetTrain(file, data(), ValidationSet=Scaled(0.25), TrainingStoppingCriterion={"Patience": 5}, **OPTIONS)


def test_an_unedited_checkpoint_passes_the_checks(written):
    NetTrain(written, data(), ValidationSet=Scaled(0.25), TrainingStoppingCriterion={"Patience": 5}, **OPTIONS)


# -- the damaged-checkpoint warning ---------------------------------------------------------------------------
def test_the_damaged_checkpoint_warning_says_what_is_damaged_and_which_checkpoint_is_used(tmp_path):
    NetTrain(net(), data(), MaxTrainingRounds=3, TrainingProgressCheckpointing=str(tmp_path), **OPTIONS)
    newest = tmp_path / "checkpoint-round-00003.safetensors"
    raw = newest.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    arrays = load(raw)
    arrays["%random.torch"] = arrays["%random.torch"].copy()
    arrays["%random.torch"][100] ^= 1  # one bit of the saved random state flipped; the checksum is not
    newest.write_bytes(save(arrays, metadata=json.loads(raw[8:8 + size])["__metadata__"]))
    with pytest.warns(NetTrainWarning) as caught:
        NetTrain(tmp_path, data(), MaxTrainingRounds=3, **OPTIONS)
    (warning,) = [str(w.message) for w in caught]
    assert warning.count("NetTrain:") == 1 and "%random" not in warning, warning
    assert warning.startswith(f"NetTrain: skipping the checkpoint {newest}, which is damaged (the values of its "
                              "random-number state do not match their checksum"), warning
    older = tmp_path / "checkpoint-round-00002.safetensors"
    assert warning.endswith(f"the run continues from the older checkpoint {older} (round 2)."), warning


# -- two Ctrl-C ------------------------------------------------------------------------------------------------
PRESSED = textwrap.dedent("""
    import hashlib, time
    import numpy as np
    from wlnet import LinearLayer, NetTrain

    began = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"x", b"y", 20000)
    iterations = int(20000 * 3.0 / max(time.perf_counter() - began, 1e-6))  # about 3 s of C code
    X = np.ones((8, 3))

    def generator(request):
        if request["AbsoluteBatch"] == 3:
            print("busy", flush=True)
            # C code that runs no Python signal handler: both presses come while it runs, and Python
            # calls the handler once for them.
            hashlib.pbkdf2_hmac("sha256", b"x", b"y", iterations)
        return (X, X[:, :2])

    NetTrain(LinearLayer(2, Input=3), generator, BatchSize=8, MaxTrainingRounds=10**6, RandomSeeding=1)
    print("returned", flush=True)
""")


@pytest.mark.parametrize("attempt", range(3))
def test_two_ctrl_c_in_quick_succession_raise_keyboard_interrupt(attempt):
    process = subprocess.Popen([sys.executable, "-c", PRESSED], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline() == "busy\n", process.stderr.read()[-2000:]
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)
    assert process.returncode != 0 and "KeyboardInterrupt" in err and "returned" not in out, (process.returncode, out,
                                                                                              err[-2000:])


FIFO_AMONG_CHECKPOINTS = textwrap.dedent("""
    import sys
    import numpy as np
    from wlnet import LinearLayer, NetTrain
    X = np.random.default_rng(0).standard_normal((40, 3))
    results = NetTrain(LinearLayer(2, Input=3), (X, X[:, :2]), "TotalRounds", BatchSize=16, MaxTrainingRounds=1,
                       RandomSeeding=5, TrainingProgressCheckpointing=sys.argv[1], TrainingProgressReporting=None)
    print("rounds", results)
""")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX's")
def test_a_fifo_among_the_checkpoints_does_not_make_the_ownership_check_wait(tmp_path):
    # which run a directory's checkpoints belong to is read from their headers: with the checks of every
    # file wlnet reads, so a FIFO named as a checkpoint is passed over rather than opened to wait for a writer
    os.mkfifo(tmp_path / "checkpoint-round-00007.safetensors")
    done = subprocess.run([sys.executable, "-c", FIFO_AMONG_CHECKPOINTS, str(tmp_path)], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rounds 1" in done.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX's")
def test_a_fifo_as_the_lock_file_is_an_error_not_a_wait(tmp_path):
    os.mkfifo(tmp_path / ".wlnet.lock")
    done = subprocess.run([sys.executable, "-c", FIFO_AMONG_CHECKPOINTS, str(tmp_path)], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert re.search(r"NetError: NetTrain: the lock .*\.wlnet\.lock of .*: the file cannot be read \(it is a FIFO",
                     done.stderr), done.stderr[-2000:]
