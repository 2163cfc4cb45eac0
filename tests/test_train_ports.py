"""NetTrain for nets with several input and output ports: the port data forms, LossFunction per
port with Scaled weights, each loss reported on its own, ValidationSet, checkpoints and resume,
data-parallel runs; and mixed targets (True/False beside numbers) refused.

Expected losses are computed by hand in NumPy (float64 from the float32 arrays and data), and one
SGD step by PyTorch's autograd on the same computation.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    Automatic,
    CatenateLayer,
    CrossEntropyLossLayer,
    Import,
    Information,
    LinearLayer,
    LogisticSigmoid,
    MeanAbsoluteLossLayer,
    MeanSquaredLossLayer,
    NetChain,
    NetDecoder,
    NetExtract,
    NetGraph,
    NetPort,
    NetTrain,
    Scaled,
    SoftmaxLayer,
)
from wlnet.errors import NetDataError, NetError, NetOptionError

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
F32 = np.float32
W1 = F32([[0.5, -0.25, 0.125], [0.75, 0.5, -0.5]])  # hidden -> out1 (2 outputs from 3)
B1 = F32([0.1, -0.2])
W2 = F32([[0.3, -0.6, 0.9]])  # hidden -> out2 (a probability)
B2 = F32([0.05])
WH = F32([[0.2, -0.1, 0.4, 0.3], [-0.5, 0.25, 0.1, -0.2], [0.6, 0.3, -0.3, 0.1]])  # Input (4) -> hidden (3)
BH = F32([0.0, 0.1, -0.1])


def two_outputs(**options):
    """Input (4) -> "h" (3) -> "o1" -> out1 (2), and "h" -> "o2" -> LogisticSigmoid -> out2 (a probability)."""
    return NetGraph(
        {"h": LinearLayer(3, Weights=WH, Biases=BH),
         "o1": LinearLayer(2, Weights=W1, Biases=B1),
         "o2": NetChain([LinearLayer([], Weights=W2, Biases=B2), LogisticSigmoid])},
        [(NetPort("Input"), "h"), ("h", "o1", NetPort("out1")), ("h", "o2", NetPort("out2"))], Input=4, **options)


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(F32)
    return {"Input": X, "out1": rng.standard_normal((n, 2)).astype(F32),
            "out2": rng.uniform(0, 1, n).astype(F32)}


def forward(X):
    h = X.astype(np.float64) @ WH.T + BH
    return h @ W1.T + B1, 1 / (1 + np.exp(-(h @ W2[0] + B2[0])))


def losses(d):
    out1, p = forward(d["Input"])
    mse = ((out1 - d["out1"]) ** 2).mean()
    t = d["out2"].astype(np.float64)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    mae = np.abs(out1 - d["out1"]).mean()
    return mse, bce, mae


ONE_BATCH = dict(MaxTrainingRounds=1, BatchSize=8, LearningRate=1e-30, TrainingProgressReporting=None)


def test_automatic_attaches_a_loss_to_every_output_and_reports_each():
    d = data()
    mse, bce, _ = losses(d)
    results = NetTrain(two_outputs(), d, All, **ONE_BATCH)
    # One batch of the whole data: its loss is the loss of the net as given (the step comes after).
    assert results["RoundLoss"] == pytest.approx(mse + bce, rel=1e-6)
    assert results["RoundMeasurements"] == pytest.approx({"Loss": mse + bce, "out1": mse, "out2": bce}, rel=1e-6)
    assert results["BatchMeasurementsLists"] == [results["RoundMeasurements"]]
    reports = []
    NetTrain(two_outputs(), d, TrainingProgressFunction=reports.append, **ONE_BATCH)
    assert reports[0]["RoundMeasurements"] == pytest.approx(results["RoundMeasurements"], rel=1e-6)
    training = results["TrainingNet"]
    assert training.losses == [({"out1": MeanSquaredLossLayer()}, 1.0),
                               ({"out2": CrossEntropyLossLayer("Binary")}, 1.0)]
    assert training.ports == {"Inputs": ["Input"], "Targets": ["out1", "out2"]}
    assert repr(training).endswith(
        "LossFunction={'out1': MeanSquaredLossLayer(), 'out2': CrossEntropyLossLayer('Binary')})")
    out1, p = forward(d["Input"])
    t = d["out2"].astype(np.float64)
    per_example = ((out1 - d["out1"]) ** 2).mean(axis=1) - (t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(training(d), per_example, rtol=1e-5)
    assert set(Information(results["TrainedNet"], "OutputPorts")) == {"out1", "out2"}


def test_loss_rules_with_scaled_weights_give_the_weighted_sum():
    d = data()
    mse, bce, mae = losses(d)
    rules = {"out1": (MeanSquaredLossLayer(), Scaled(0.5)), "out2": Automatic}
    assert NetTrain(two_outputs(), d, "RoundMeasurements", LossFunction=rules, **ONE_BATCH) == pytest.approx(
        {"Loss": 0.5 * mse + bce, "out1": 0.5 * mse, "out2": bce}, rel=1e-6)
    listed = [{"out1": MeanAbsoluteLossLayer()}, ({"out2": CrossEntropyLossLayer("Binary")}, Scaled(2.0)),
              {"out1": MeanSquaredLossLayer()}]
    assert NetTrain(two_outputs(), d, "RoundMeasurements", LossFunction=listed, **ONE_BATCH) == pytest.approx(
        {"Loss": mae + 2 * bce + mse, "out1 1": mae, "out2": 2 * bce, "out1 2": mse}, rel=1e-6)
    # Only the ports named get a loss: no "out2" key needed, and out2's arrays are not trained.
    alone = {"Input": d["Input"], "out1": d["out1"]}
    trained = NetTrain(two_outputs(), alone, LossFunction={"out1": MeanSquaredLossLayer()}, MaxTrainingRounds=2,
                       TrainingProgressReporting=None)
    np.testing.assert_array_equal(NetExtract(trained, ["o2", 1, "Weights"]), W2)
    assert not np.array_equal(NetExtract(trained, ["o1", "Weights"]), W1)
    # A port as the loss (a scalar per example: the mean over the batch), scaled.
    _, p = forward(d["Input"])
    assert NetTrain(two_outputs(), {"Input": d["Input"]}, "RoundLoss", LossFunction={"out2": Scaled(3.0)},
                    **ONE_BATCH) == pytest.approx(3 * p.mean(), rel=1e-6)
    assert NetTrain(two_outputs(), {"Input": d["Input"]}, "RoundLoss", LossFunction="out2",
                    **ONE_BATCH) == pytest.approx(p.mean(), rel=1e-6)


def test_one_sgd_step_is_torchs_step_on_the_summed_loss():
    d = data()
    rate = 0.1
    trained = NetTrain(two_outputs(), d, LossFunction={"out1": MeanSquaredLossLayer(), "out2": (Automatic,
                                                                                                Scaled(0.5))},
                       Method=("SGD", {"Momentum": None, "LearningRateSchedule": None}), LearningRate=rate,
                       MaxTrainingRounds=1, BatchSize=8, TrainingProgressReporting=None)
    wh, bh, w1, b1, w2, b2 = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (WH, BH, W1, B1, W2,
                                                                                                 B2))
    x = torch.tensor(d["Input"], dtype=torch.float64)
    h = x @ wh.T + bh
    loss = torch.nn.functional.mse_loss(h @ w1.T + b1, torch.tensor(d["out1"], dtype=torch.float64)) + 0.5 * (
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(h @ w2.T + b2)[:, 0],
                                                 torch.tensor(d["out2"], dtype=torch.float64)))
    loss.backward()
    expected = {("h", "Weights"): wh, ("h", "Biases"): bh, ("o1", "Weights"): w1, ("o1", "Biases"): b1}
    for (layer, name), value in expected.items():
        np.testing.assert_allclose(NetExtract(trained, [layer, name]),
                                   (value - rate * value.grad).detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(NetExtract(trained, ["o2", 1, "Weights"]), (w2 - rate * w2.grad).detach().numpy(),
                               rtol=0, atol=1e-6)


def two_inputs():
    return NetGraph({"a": LinearLayer(3), "b": LinearLayer(2), "cat": CatenateLayer()},
                    [(NetPort("x1"), "a"), (NetPort("x2"), "b"), (("a", "b"), "cat")], x1=4, x2=5)


def test_the_data_forms_of_a_net_with_two_inputs():
    rng = np.random.default_rng(1)
    x1, x2, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    options = dict(MaxTrainingRounds=3, BatchSize=4, RandomSeeding=2, TrainingProgressReporting=None)
    by_port = NetTrain(two_inputs(), {"x1": x1, "x2": x2, "Output": y, "comment": "dropped"}, All, **options)
    rows = [{"x1": a, "x2": b, "Output": c} for a, b, c in zip(x1, x2, y)]
    by_example = NetTrain(two_inputs(), rows, All, **options)
    assert by_port["RoundLossList"] == by_example["RoundLossList"]
    for a, b in zip(Information(by_port["TrainedNet"], "ArraysList"), Information(by_example["TrainedNet"],
                                                                                  "ArraysList")):
        np.testing.assert_array_equal(a, b)
    assert Information(by_port["TrainedNet"], "InputPorts") == {"x1": 4, "x2": 5}

    def generator(request):
        picked = np.random.default_rng(request["AbsoluteBatch"]).integers(0, 6, request["BatchSize"])
        return {"x1": x1[picked], "x2": x2[picked], "Output": y[picked]}

    # (a round of a generator is as many batches as its first batch makes: one here)
    assert len(NetTrain(two_inputs(), generator, "BatchLossList", MaxTrainingRounds=3, BatchSize=3,
                        TrainingProgressReporting=None)) == 3
    with pytest.raises(NetDataError, match=r'has no values for port "x2"; it has \[\'x1\', \'Output\'\]\. The net '
                                           r'needs the keys "x1", "x2", "Output"'):
        NetTrain(two_inputs(), {"x1": x1, "Output": y})
    with pytest.raises(NetDataError, match=r'example 2 of the training data has no value for port "Output"'):
        NetTrain(two_inputs(), [rows[0], {"x1": x1[1], "x2": x2[1]}])
    with pytest.raises(NetDataError, match=r"only a net with one input port and one output port takes; give a dict "
                                           r"of ports instead"):
        NetTrain(two_inputs(), ([x1, x2], y))
    with pytest.raises(NetDataError, match=r'has 6 examples for port "x1" but 5 for port "x2"'):
        NetTrain(two_inputs(), {"x1": x1, "x2": x2[:5], "Output": y})


def test_loss_function_errors_name_the_ports():
    d = data()
    with pytest.raises(NetOptionError, match=r"attaches a loss layer to the net's only output, but NetGraph has the "
                                             r"outputs 'out1', 'out2'"):
        NetTrain(two_outputs(), d, LossFunction=MeanSquaredLossLayer())
    with pytest.raises(NetOptionError, match=r"names the port 'out3', but the output ports of NetGraph are 'out1', "
                                             r"'out2'"):
        NetTrain(two_outputs(), d, LossFunction={"out3": MeanSquaredLossLayer()})
    with pytest.raises(NetOptionError, match=r"rule for port 'out1' should give a loss layer"):
        NetTrain(two_outputs(), d, LossFunction={"out1": "L2"})
    with pytest.raises(NetOptionError, match=r"an output port \('out1', 'out2'\) whose value is the loss"):
        NetTrain(two_outputs(), d, LossFunction="Output")
    with pytest.raises(NetError, match=r'cross-entropy needs targets between 0 and 1 .* for port "out2"'):
        NetTrain(two_outputs(), {**d, "out2": d["out2"] + 1})


def test_class_labels_at_one_output_and_numbers_at_another():
    net = NetGraph({"h": LinearLayer(3, Weights=WH, Biases=BH), "c": [LinearLayer(2, Weights=W1, Biases=B1),
                                                                     SoftmaxLayer()],
                    "v": LinearLayer([], Weights=W2, Biases=B2)},
                   [(NetPort("Input"), "h"), ("h", "c", NetPort("class")), ("h", "v", NetPort("value"))],
                   Input=4, **{"class": NetDecoder(["Class", ["cat", "dog"]])})
    d = data()
    labels = ["cat", "dog", "dog", "cat", "dog", "cat", "cat", "dog"]
    h = d["Input"].astype(np.float64) @ WH.T + BH
    logits = h @ W1.T + B1
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    index = np.array([0 if label == "cat" else 1 for label in labels])
    ce = -np.log(p[np.arange(8), index]).mean()
    mse = ((h @ W2[0] + B2[0] - d["out2"]) ** 2).mean()
    measured = NetTrain(net, {"Input": d["Input"], "class": labels, "value": d["out2"]}, "RoundMeasurements",
                        **ONE_BATCH)
    assert measured == pytest.approx({"Loss": ce + mse, "class": ce, "value": mse}, rel=1e-6)


def test_validation_sets_in_the_port_forms():
    d, held = data(), data(seed=5)
    mse, bce, _ = losses(held)
    frozen_step = dict(MaxTrainingRounds=2, BatchSize=8, LearningRate=1e-30, TrainingProgressReporting=None)
    results = NetTrain(two_outputs(), d, All, ValidationSet=held, **frozen_step)
    for entry in results["ValidationMeasurementsLists"]:
        assert entry == pytest.approx({"Loss": mse + bce, "out1": mse, "out2": bce}, rel=1e-5)
    assert len(results["ValidationMeasurementsLists"]) == 2
    rows = [dict(zip(held, values)) for values in zip(*held.values())]
    assert NetTrain(two_outputs(), d, "ValidationLossList", ValidationSet=rows, **frozen_step) == pytest.approx(
        results["ValidationLossList"], rel=1e-6)
    split = NetTrain(two_outputs(), data(10), All, ValidationSet=Scaled(0.2), MaxTrainingRounds=2,
                     TrainingProgressReporting=None)
    assert (split["TrainingExamples"], split["ValidationExamples"]) == (8, 2)
    for entry in split["ValidationMeasurementsLists"]:
        assert entry["Loss"] == pytest.approx(entry["out1"] + entry["out2"], rel=1e-6)


def test_mixed_targets_are_refused_naming_the_port_and_the_example():
    boolean = NetChain([LinearLayer([]), LogisticSigmoid], Input=2, Output=NetDecoder("Boolean"))
    plain = NetChain([LinearLayer([])], Input=2)
    X = [[1.0, 2.0], [3.0, 4.0]]
    cases = [
        (boolean, [True, 0.5], r'example 2 of the training data for port "Output" is 0\.5, among targets of '
                               r"different kinds; every target for the port should be True/False"),
        (boolean, [1, True], r'example 1 of the training data for port "Output" is 1, among targets'),
        (boolean, [0.2, "a"], r"example 2 of the training data for port \"Output\" is 'a'"),
        (plain, [True, 0.5], r'example 1 of the training data for port "Output" is True, .* should be a number'),
        (plain, [0.2, "a"], r"example 2 of the training data for port \"Output\" is 'a'"),
    ]
    for net, targets, pattern in cases:
        with pytest.raises(NetDataError, match=pattern):
            NetTrain(net, (X, targets), MaxTrainingRounds=1, TrainingProgressReporting=None)
    with pytest.raises(NetDataError, match=r'example 2 of the validation set for port "Output" is 0\.5'):
        NetTrain(boolean, (X, [True, False]), MaxTrainingRounds=1, ValidationSet=(X, [True, 0.5]))
    multi = NetGraph({"a": [LinearLayer([]), LogisticSigmoid], "b": LinearLayer(1)},
                     [(NetPort("Input"), "a", NetPort("yes")), (NetPort("Input"), "b", NetPort("size"))],
                     Input=2, yes=NetDecoder("Boolean"))
    with pytest.raises(NetDataError, match=r'example 3 of the training data for port "yes" is 1\.0'):
        NetTrain(multi, {"Input": X * 2, "yes": [True, False, 1.0, False], "size": np.ones((4, 1))})
    for targets in ([True, False], [1, 0.5]):  # one kind: read as they are
        NetTrain(boolean, (X, targets), MaxTrainingRounds=1, TrainingProgressReporting=None)


def test_a_multiport_run_continued_from_a_checkpoint_ends_as_the_run_never_stopped(tmp_path):
    d = data(12)
    options = dict(MaxTrainingRounds=6, BatchSize=5, RandomSeeding=4, ValidationSet=Scaled(0.25),
                   TrainingProgressReporting=None, LossFunction={"out1": MeanSquaredLossLayer(), "out2": (
                       CrossEntropyLossLayer("Binary"), Scaled(0.5))})
    whole = NetTrain(two_outputs(), d, All, TrainingProgressCheckpointing=("Directory", str(tmp_path),
                                                                           {"KeepNewest": All}), **options)
    assert len(whole["CheckpointingFiles"]) == 6
    continued = NetTrain(str(tmp_path / "checkpoint-round-00003.safetensors"), d, All, **options)
    for key in ("TrainedNet", "FinalNet"):
        for a, b in zip(Information(whole[key], "ArraysList"), Information(continued[key], "ArraysList")):
            np.testing.assert_array_equal(a, b)
    for key in ("BatchLossList", "RoundLossList", "ValidationLossList", "BatchMeasurementsLists",
                "RoundMeasurementsLists", "ValidationMeasurementsLists", "BestValidationRound"):
        assert whole[key] == continued[key], key
    assert set(whole["RoundMeasurements"]) == {"Loss", "out1", "out2"}


needs_fork = pytest.mark.skipif(not torch.distributed.is_available() or not hasattr(os, "fork"),
                                reason="needs torch.distributed and fork")


def assert_same(a, b, tolerance=1e-5):
    for x, y in zip(Information(a["TrainedNet"], "ArraysList"), Information(b["TrainedNet"], "ArraysList")):
        np.testing.assert_allclose(x, y, rtol=0, atol=tolerance)
    for key in ("BatchLossList", "ValidationLossList"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=tolerance)
    for x, y in zip(a["BatchMeasurementsLists"], b["BatchMeasurementsLists"]):
        assert x == pytest.approx(y, abs=tolerance)
    assert a["TotalBatches"] == b["TotalBatches"]


@needs_fork
@pytest.mark.parametrize("loss", ["Automatic", "out1 only"])
def test_two_cpu_processes_train_a_two_output_net_as_one_does(loss):
    d = data(30, seed=3)
    options = dict(MaxTrainingRounds=3, BatchSize=10, RandomSeeding=3, ValidationSet=Scaled(0.2),
                   TrainingProgressReporting=None)
    if loss == "out1 only":  # the arrays of out2's branch get no gradient: DDP is told so
        d.pop("out2")
        options["LossFunction"] = {"out1": MeanSquaredLossLayer()}
    single = NetTrain(two_outputs(), d, All, **options)
    double = NetTrain(two_outputs(), d, All, TargetDevice=("CPU", 2), **options)
    assert double["TargetDevice"] == ("CPU", 2)
    assert_same(single, double)


SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[2])
    from wlnet import Export, NetTrain
    from test_train_ports import data, two_outputs

    trained = NetTrain(two_outputs(), data(30, seed=3), MaxTrainingRounds=3, BatchSize=10, RandomSeeding=3,
                       TrainingProgressReporting=None)
    Export(os.path.join(sys.argv[1], "rank" + os.environ["RANK"] + ".safetensors"), trained)
""")


@needs_fork
def test_a_two_output_net_under_torchrun_trains_what_one_process_does(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(tmp_path), str(pathlib.Path(__file__).resolve().parent)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [Import(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert ranks[0] == ranks[1]
    single = NetTrain(two_outputs(), data(30, seed=3), MaxTrainingRounds=3, BatchSize=10, RandomSeeding=3,
                      TrainingProgressReporting=None)
    for x, y in zip(Information(ranks[0], "ArraysList"), Information(single, "ArraysList")):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)
