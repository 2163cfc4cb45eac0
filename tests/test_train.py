"""NetTrain: the page's examples, recovery of known slopes, update formulas, data forms, options, errors."""

import math
import os

import numpy as np
import pytest
import torch

from cases import page_chain
from wlnet import (
    All,
    Automatic,
    CrossEntropyLossLayer,
    Import,
    LinearLayer,
    LogisticSigmoid,
    MeanAbsoluteLossLayer,
    NetChain,
    NetDecoder,
    NetExtract,
    NetInitialize,
    NetTrain,
    NetTrainResults,
    Normal,
    ParametricRampLayer,
    Scaled,
    Span,
)
from wlnet.errors import NetDataError, NetError, NetOptionError, NetShapeError, NetSpecificationError, NetTrainWarning

F32 = np.float32


def test_page_examples_7_8_learn_slopes_and_leave_the_argument_alone():
    rng = np.random.default_rng(0)
    act = NetInitialize(ParametricRampLayer(Input=3))
    X, Y = rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, (10, 3))
    trained = NetTrain(act, (X, Y), MaxTrainingRounds=100, RandomSeeding=1)
    slopes = Normal(NetExtract(trained, "Slope"))
    assert len(slopes) == 3 and all(abs(s - 0.1) > 1e-3 for s in slopes)
    assert Normal(NetExtract(act, "Slope")) == [float(F32(0.1))] * 3


def test_page_examples_12_13_frozen_leaky_relu_in_a_boolean_chain():
    net = page_chain()
    results = NetTrain(net, {1: False, 2: True, 3: False, 4: True}, All, RandomSeeding=5,
                       TrainingProgressReporting=None)
    trained = results["TrainedNet"]
    assert NetExtract(trained, [2, "Slope"]) == F32(0.1)
    assert NetExtract(trained, [2, "Slope"]).tobytes() == F32(0.1).tobytes()  # bit-identical
    assert NetExtract(trained, "Input") == "Real"  # inferred from the scalar inputs
    assert isinstance(trained(2), bool)
    assert all(isinstance(v, bool) for v in trained([1, 2, 3, 4]))
    assert 10 <= results["TotalRounds"] <= 10000 and results["ReasonTrainingStopped"] == "MaxTrainingRounds"
    # Binary cross-entropy was attached: the reported loss is that of the final net on the data.
    p = np.array(trained([1, 2, 3, 4], None), dtype=np.float64)
    t = np.array([0, 1, 0, 1])
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert results["RoundLoss"] == pytest.approx(bce, rel=0.05)
    # The chain given is unchanged: still uninitialized, its input dims still unknown.
    assert NetExtract(net, [1, "Weights"]) is Automatic
    assert NetExtract(net, "Input") is Automatic
    assert net == page_chain()


def test_teacher_student_recovers_known_slopes():
    rng = np.random.default_rng(1)
    true_slopes = np.array([0.25, -0.5, 1.5, 0.05], dtype=np.float32)
    teacher = ParametricRampLayer(2, Slope=true_slopes, Input=(3, 4))
    X = rng.standard_normal((512, 3, 4)).astype(np.float32)
    Y = teacher(X)
    trained = NetTrain(ParametricRampLayer(2, Input=(3, 4)), (X, Y), MaxTrainingRounds=60, LearningRate=0.05,
                       RandomSeeding=2)
    np.testing.assert_allclose(NetExtract(trained, "Slope"), true_slopes, atol=0.02)


def test_sequences_of_different_lengths_train_in_length_buckets():
    rng = np.random.default_rng(12)
    seqs = [rng.standard_normal((length, 3)).astype(np.float32) for length in rng.integers(1, 6, 40)]
    teacher = ParametricRampLayer(2, Slope=[0.2, 0.5, 0.9], Input=("Varying", 3))
    results = NetTrain(ParametricRampLayer(2), (seqs, teacher(seqs)), All, MaxTrainingRounds=80,
                       LearningRate=0.05, BatchSize=8, ValidationSet=Scaled(0.2), RandomSeeding=1)
    trained = results["TrainedNet"]
    assert NetExtract(trained, "Input") == ("Varying", 3)
    np.testing.assert_allclose(NetExtract(trained, "Slope"), [0.2, 0.5, 0.9], atol=0.02)
    assert results["TrainingExamples"] == 32 and results["ValidationExamples"] == 8
    lengths = {len(s) for s in seqs[:32]}
    assert results["BatchesPerRound"] >= len(lengths)  # batches never mix lengths
    with pytest.raises(NetDataError, match=r"should be sequences as long as their input sequences, but each is a "
                                           r"1×3 matrix"):
        NetTrain(ParametricRampLayer(2), (seqs, [s[:1] for s in seqs]), MaxTrainingRounds=1)


# -- one optimizer step against the update formula computed by hand --------------------------
X1 = np.array([[-1.0], [-2.0], [-0.5], [3.0]], dtype=np.float32)
Y1 = np.array([[0.3], [0.1], [-0.4], [2.0]], dtype=np.float32)
S0 = 0.2


def one_step(method="ADAM", multiplier=None, **options):
    layer = ParametricRampLayer([], Slope=S0, Input=1,
                                **({} if multiplier is None else {"LearningRateMultipliers": multiplier}))
    trained = NetTrain(layer, (X1, Y1), Method=method, MaxTrainingRounds=1, BatchSize=4, RandomSeeding=0, **options)
    return float(NetExtract(trained, "Slope"))


def gradient(s=S0):
    x, y = X1.astype(np.float64)[:, 0], Y1.astype(np.float64)[:, 0]
    out = np.where(x > 0, x, np.float64(F32(s)) * x)
    return np.mean(2 * (out - y) * np.where(x > 0, 0, x))


def test_adam_step():
    g, lr = gradient(), 0.001
    m, v = 0.1 * g, 0.001 * g * g
    lr_t = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert one_step("ADAM") == pytest.approx(F32(S0) - lr_t * m / (math.sqrt(v) + 1e-5), abs=1e-7)


def test_sgd_step_with_the_polynomial_schedule():
    g, lr = gradient(), 0.01
    factor = math.sqrt(1 - 1 / 2)  # T = 1 step in all
    assert one_step("SGD") == pytest.approx(F32(S0) - lr * factor * g, abs=1e-7)
    plain = one_step(("SGD", {"Momentum": None, "LearningRateSchedule": None}))
    assert plain == pytest.approx(F32(S0) - lr * g, abs=1e-7)


def test_rmsprop_step():
    g, lr = gradient(), 0.001
    n, gbar = 0.05 * g * g, 0.05 * g
    assert one_step("RMSProp") == pytest.approx(F32(S0) - lr * g / math.sqrt(n - gbar**2 + 1e-6), abs=1e-7)


def test_signsgd_step():
    assert one_step("SignSGD") == pytest.approx(F32(S0) - 0.01 * np.sign(gradient()), abs=1e-7)


@pytest.mark.parametrize("multiplier", [0, 0.5, -1])
def test_learning_rate_multipliers_scale_the_step(multiplier):
    sgd = ("SGD", {"Momentum": None, "LearningRateSchedule": None})
    full = one_step(sgd)
    if multiplier == 0:  # the only array is frozen: nothing to train
        with pytest.warns(NetTrainWarning, match=r"no arrays to train"):
            assert F32(one_step(sgd, multiplier=0)) == F32(S0)
        return
    scaled = one_step(sgd, multiplier=multiplier)
    assert scaled - F32(S0) == pytest.approx(multiplier * (full - F32(S0)), abs=1e-7)


def test_l2_regularization_leaves_slopes_alone_unless_named():
    sgd = {"Momentum": None, "LearningRateSchedule": None}
    base = one_step(("SGD", sgd))
    assert one_step(("SGD", {**sgd, "L2Regularization": 1.0})) == base
    named = one_step(("SGD", {**sgd, "L2Regularization": [("Slope", 1.0)]}))
    assert named == pytest.approx(F32(S0) - 0.01 * (gradient() + 1.0 * F32(S0)), abs=1e-7)


def test_gradient_and_weight_clipping():
    sgd = {"Momentum": None, "LearningRateSchedule": None}
    clipped = one_step(("SGD", {**sgd, "GradientClipping": 0.01}))
    assert clipped == pytest.approx(F32(S0) - 0.01 * np.clip(gradient(), -0.01, 0.01), abs=1e-8)
    assert one_step(("SGD", {**sgd, "WeightClipping": 0.1})) == pytest.approx(0.1)


def test_netttrain_multiplier_rules_override_the_layers():
    net = NetChain([LinearLayer(2), ParametricRampLayer(Slope=[0.3, 0.3], LearningRateMultipliers=0)], Input=2)
    X = np.random.default_rng(3).standard_normal((16, 2))
    results = NetTrain(net, (X, -X), All, MaxTrainingRounds=2, LearningRateMultipliers={(2, "Slope"): 1, 1: None})
    assert results["ArraysLearningRateMultipliers"] == {
        (1, "Weights"): 0.0, (1, "Biases"): 0.0, (2, "Slope"): 1.0}
    trained = results["TrainedNet"]
    initialized = NetInitialize(net)
    np.testing.assert_array_equal(NetExtract(trained, [1, "Weights"]), NetExtract(initialized, [1, "Weights"]))
    assert not np.array_equal(NetExtract(trained, [2, "Slope"]), [F32(0.3)] * 2)
    spans = NetTrain(net, (X, -X), "ArraysLearningRateMultipliers", MaxTrainingRounds=1,
                     LearningRateMultipliers=[(Span(1, 2), 0.5)])
    assert set(spans.values()) == {0.5}


# -- data forms ---------------------------------------------------------------------------------
def test_every_data_form_trains_the_same_net():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 2)).astype(np.float32)
    Y = rng.standard_normal((6, 2)).astype(np.float32)
    net = ParametricRampLayer(Input=2)
    forms = [
        (X, Y),
        list(zip(X, Y)),
        {"Input": X, "Output": Y},
        [{"Input": x, "Output": y} for x, y in zip(X, Y)],
        (torch.tensor(X), torch.tensor(Y)),
    ]
    results = [NetExtract(NetTrain(net, data, MaxTrainingRounds=3, RandomSeeding=9), "Slope") for data in forms]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    rules = NetTrain(ParametricRampLayer([]), {-1.0: -0.5, -2.0: -1.0, 3.0: 3.0}, "RoundLoss", MaxTrainingRounds=2)
    assert rules > 0


def test_generator_data_is_called_with_the_batch_request():
    calls = []

    def generator(request):
        calls.append(dict(request))
        x = -np.ones((request["BatchSize"], 2))
        return (x, 0.5 * x)

    results = NetTrain(ParametricRampLayer(Input=2), generator, All, BatchSize=4, MaxTrainingRounds=3)
    assert results["TotalBatches"] == 3 and results["BatchSize"] == 4
    assert calls[1] == {"BatchSize": 4, "Round": 1, "Batch": 1, "AbsoluteBatch": 1}
    assert calls[-1]["Round"] == 3 and calls[-1]["AbsoluteBatch"] == 3


# -- options and results ---------------------------------------------------------------------------
def test_batches_rounds_and_bookkeeping():
    X = np.random.default_rng(5).standard_normal((10, 3))
    results = NetTrain(ParametricRampLayer(Input=3), (X, X), All, BatchSize=4, MaxTrainingRounds=2)
    assert results["BatchesPerRound"] == 3 and results["TotalBatches"] == 6
    assert len(results["BatchLossList"]) == 6 and len(results["RoundLossList"]) == 2
    assert results["ExamplesProcessed"] == 24 and results["TrainingExamples"] == 10
    assert results["RoundLossList"][0] == pytest.approx(np.mean(results["BatchLossList"][:3]))
    assert results["RoundLoss"] == results["RoundLossList"][-1]
    assert results["OptimizationMethod"] == "ADAM" and results["InitialLearningRate"] == 0.001
    assert results["Properties"] == results.properties and "TrainedNet" in results.properties
    assert "rounds               2 (3 batches of 4 each)" in repr(results)
    automatic = NetTrain(ParametricRampLayer(Input=3), (X, X), "BatchSize", MaxTrainingRounds=1)
    assert automatic == 10  # min(64, number of examples)


def test_validation_set_and_best_net():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 2))
    Y = np.where(X > 0, X, 0.3 * X)
    results = NetTrain(ParametricRampLayer(Input=2), (X, Y), All, MaxTrainingRounds=5, ValidationSet=Scaled(0.25))
    assert results["TrainingExamples"] == 30 and results["ValidationExamples"] == 10
    assert len(results["ValidationLossList"]) == 5
    best = results["BestValidationRound"]
    assert results["ValidationLossList"][best - 1] == min(results["ValidationLossList"])
    explicit = NetTrain(ParametricRampLayer(Input=2), (X, Y), All, MaxTrainingRounds=3, ValidationSet=(X[:5], Y[:5]))
    assert explicit["ValidationExamples"] == 5 and explicit["ValidationLoss"] == explicit["ValidationLossList"][-1]
    final = np.asarray(explicit["FinalNet"](X[:5]), dtype=np.float64)  # the last round's net, on the given set
    assert explicit["ValidationLoss"] == pytest.approx(np.mean((final - Y[:5].astype(F32)) ** 2), rel=1e-5)


def test_stopping_criterion_time_goal_and_progress_function():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((32, 2))
    net = ParametricRampLayer(Input=2)
    stopped = NetTrain(net, (X, X), All, MaxTrainingRounds=500, ValidationSet=(X, X), LearningRate=0.1,
                       TrainingStoppingCriterion={"Criterion": "Loss", "Patience": 1,
                                                  "Improvement": ("AbsoluteChange", 1e-3)})
    assert stopped["ReasonTrainingStopped"] == "TrainingStoppingCriterion" and stopped["TotalRounds"] < 500
    timed = NetTrain(net, (X, X), All, TimeGoal=0.3)  # how long it took is for bench/, not for a test
    rounds, per_round = timed["TotalRounds"], timed["BatchesPerRound"]
    assert timed["ReasonTrainingStopped"] == "TimeGoal" and rounds >= 1
    assert len(timed["RoundLossList"]) == rounds and timed["RoundLoss"] == timed["RoundLossList"][-1]
    assert timed["TotalBatches"] == len(timed["BatchLossList"])
    assert (rounds - 1) * per_round < timed["TotalBatches"] <= rounds * per_round  # the last round may stop early
    seen = []

    def progress(p):
        seen.append(p["Round"])
        return "StopTraining" if p["Round"] == 3 else None

    manual = NetTrain(net, (X, X), All, MaxTrainingRounds=10, TrainingProgressFunction=progress)
    assert seen == [1, 2, 3] and manual["ReasonTrainingStopped"] == "TrainingProgressFunction"
    with pytest.warns(NetTrainWarning, match=r"checked on the training loss"):
        NetTrain(net, (X, X), MaxTrainingRounds=2, TrainingStoppingCriterion="Loss")


def test_progress_reporting_forms(capsys):
    X = np.ones((4, 2))
    NetTrain(ParametricRampLayer(Input=2), (X, X), MaxTrainingRounds=2, TrainingProgressReporting="Print")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NetTrain round 1: loss ") and "examples/s" in lines[0] and len(lines) == 2
    reports = []
    NetTrain(ParametricRampLayer(Input=2), (X, X), MaxTrainingRounds=2, TrainingProgressReporting=reports.append)
    assert [r["Round"] for r in reports] == [1, 2] and {"RoundLoss", "ExamplesPerSecond"} <= set(reports[0])
    NetTrain(ParametricRampLayer(Input=2), (X, X), MaxTrainingRounds=2, TrainingProgressReporting="ProgressIndicator")
    assert "NetTrain" in capsys.readouterr().err  # the progress bar


def test_checkpointing_writes_loadable_nets(tmp_path):
    X = np.ones((4, 2))
    files = NetTrain(ParametricRampLayer(Input=2), (X, -X), "CheckpointingFiles", MaxTrainingRounds=4,
                     TrainingProgressCheckpointing=("Directory", str(tmp_path), {"Interval": 2}))
    assert [os.path.basename(f) for f in files] == [
        "checkpoint-round-00002.safetensors", "checkpoint-round-00004.safetensors"]
    assert NetExtract(Import(files[-1]), "Slope").shape == (2,)


def test_reproducible_with_a_seed_and_real64():
    X = np.random.default_rng(8).standard_normal((20, 3))
    a = NetTrain(ParametricRampLayer(Input=3), (X, X), MaxTrainingRounds=3, RandomSeeding=11)
    b = NetTrain(ParametricRampLayer(Input=3), (X, X), MaxTrainingRounds=3, RandomSeeding=11)
    np.testing.assert_array_equal(NetExtract(a, "Slope"), NetExtract(b, "Slope"))
    double = NetTrain(ParametricRampLayer(Input=3), (X, X), MaxTrainingRounds=3, RandomSeeding=11,
                      WorkingPrecision="Real64")
    np.testing.assert_allclose(NetExtract(double, "Slope"), NetExtract(a, "Slope"), atol=1e-5)
    assert NetExtract(double, "Slope").dtype == np.float32


def test_loss_functions():
    X = np.random.default_rng(9).standard_normal((8, 2))
    identity = ParametricRampLayer(Slope=[1.0, 1.0])
    mae = NetTrain(identity, (X, X + 1), "RoundLoss", MaxTrainingRounds=1,
                   LossFunction=MeanAbsoluteLossLayer(), LearningRate=1e-12)
    assert mae == pytest.approx(1.0, abs=1e-3)
    weighted = NetTrain(identity, (X, X + 1), "RoundLoss", MaxTrainingRounds=1,
                        LossFunction=[(MeanAbsoluteLossLayer(), Scaled(2.0))], LearningRate=1e-12)
    assert weighted == pytest.approx(2.0, abs=1e-3)
    as_loss = NetTrain(ParametricRampLayer([], Input=2), {"Input": np.abs(X)}, "RoundLoss", MaxTrainingRounds=1,
                       LossFunction="Output", LearningRate=1e-12)
    # Wolfram sums a non-scalar loss port over each example's elements (SummationLayer), then averages
    assert as_loss == pytest.approx(np.abs(X).sum(axis=1).mean(), rel=1e-5)
    with pytest.raises(NetDataError, match=r"binary cross-entropy needs targets between 0 and 1"):
        NetTrain(page_chain(), ([1, 2], [2, 3]), MaxTrainingRounds=1)
    assert CrossEntropyLossLayer() == CrossEntropyLossLayer("Binary") != MeanAbsoluteLossLayer()
    with pytest.raises(TypeError, match="unhashable type"):
        hash(MeanAbsoluteLossLayer())


def test_binary_cross_entropy_is_the_numpy_formula():
    rng = np.random.default_rng(10)
    X, t = rng.standard_normal((8, 2)), rng.uniform(0, 1, 8)
    w, b = np.array([[0.75, -1.5]], dtype=F32), F32(0.25)
    net = NetChain([ParametricRampLayer([], Slope=0.5, Input=2), LinearLayer([], Weights=w, Biases=[b]),
                    LogisticSigmoid])
    h = X.astype(F32).astype(np.float64)
    h = np.where(h > 0, h, 0.5 * h) @ w[0].astype(np.float64) + b
    p = 1 / (1 + np.exp(-h))
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    options = {"MaxTrainingRounds": 1, "BatchSize": 8, "LearningRate": 1e-12}
    given = NetTrain(net, (X, t), "RoundLoss", LossFunction=CrossEntropyLossLayer("Binary"), **options)
    assert given == pytest.approx(bce, rel=1e-5)
    automatic = NetTrain(net, (X, t), "RoundLoss", **options)  # attached after a LogisticSigmoid
    assert automatic == pytest.approx(bce, rel=1e-5)  # (the batch is shuffled: float32 sums may differ)
    with pytest.raises(NetSpecificationError, match=r"CrossEntropyLossLayer: the form 'Multi' is not available"):
        CrossEntropyLossLayer("Multi")


def test_divergence_stops_with_a_warning():
    X = np.full((8, 2), -1e20)
    with pytest.warns(NetTrainWarning, match=r"diverged"):
        results = NetTrain(ParametricRampLayer(Input=2), (X, -X), All, MaxTrainingRounds=5,
                           Method=("SGD", {"Momentum": None}), LearningRate=1e10)
    assert results["ReasonTrainingStopped"] == "WeightsDiverged"
    assert np.isfinite(NetExtract(results["TrainedNet"], "Slope")).all()


@pytest.mark.parametrize("precision", ["Real32", "Real64"])
def test_arrays_that_overflow_while_the_loss_is_finite_are_caught(precision):
    # The round's loss is taken before the step, and is finite; the step itself makes the slope
    # infinite in float32, and in float64 too large for the float32 arrays of a net (the run used
    # to end in an error when the trained net was made; now it stops and keeps the last good net).
    net = ParametricRampLayer(Input=2)
    X, Y = -np.ones((4, 2)), np.zeros((4, 2))
    rate = 1e40 if precision == "Real32" else 1e300
    with pytest.warns(NetTrainWarning, match=r"diverged .* in round 1"):
        results = NetTrain(net, (X, Y), All, MaxTrainingRounds=3, Method=("SGD", {"Momentum": None}),
                           LearningRate=rate, WorkingPrecision=precision, RandomSeeding=1)
    assert results["ReasonTrainingStopped"] == "WeightsDiverged" and results["TotalRounds"] == 0
    np.testing.assert_array_equal(NetExtract(results["TrainedNet"], "Slope"), np.float32([0.1, 0.1]))


def test_nothing_to_train_returns_the_net_with_a_warning():
    frozen = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=2)
    with pytest.warns(NetTrainWarning, match=r"has no arrays to train"):
        assert NetTrain(frozen, (np.ones((2, 2)), np.ones((2, 2)))) is frozen


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((4, 2)))), NetDataError,
         r'has 3 examples for port "Input" but 4 for port "Output"'),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 3)))), NetShapeError,
         r'the targets for port "Output" should each be a length-2 vector, but each is a length-3 vector'),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 3)), np.ones((3, 3)))), NetShapeError,
         r'port "Input" of ParametricRampLayer \(levels 1\) takes a length-2 vector'),
        (lambda: NetTrain(ParametricRampLayer(Input=2), ([], [])), NetDataError, r"is empty"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), "data"), NetDataError, r"should be \(inputs, targets\)"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), "RoundLos"),
         NetSpecificationError, r"'RoundLos' is not a property of a training run\. Did you mean RoundLoss\?"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), BatchSize=0),
         NetOptionError, r"BatchSize should be Automatic or a positive integer, but was 0"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), TimeGoal=-1),
         NetOptionError, r"TimeGoal should be a positive number of seconds, but was -1"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), LearningRate="fast"),
         NetOptionError, r"LearningRate should be Automatic or a positive number, but was 'fast'"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), Method="Adam"),
         NetOptionError, r"Method should be one of ADAM, .* Did you mean ADAM\?"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))),
                          Method=("ADAM", {"Beta1": 1.5})), NetOptionError, r'"Beta1" of Method ADAM should be'),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), MaxRounds=3),
         NetOptionError, r"unknown option MaxRounds\. Did you mean MaxTrainingRounds\?"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))),
                          LearningRateMultipliers={7: 0}), NetOptionError, r"rule for 7 matches no array"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))),
                          LearningRateMultipliers="x"), NetOptionError, r"LearningRateMultipliers should be numbers"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))),
                          ValidationSet=Scaled(1.5)), NetOptionError, r"Scaled\(f\) needs 0 < f < 1"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), LossFunction="L2"),
         NetOptionError, r"LossFunction should be Automatic, a loss layer"),
        (lambda: NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))),
                          TrainingProgressReporting="Panels"), NetOptionError, r"TrainingProgressReporting should be"),
        (lambda: NetTrain(3, ([1], [1])), NetSpecificationError, r"the first argument should be a net"),
    ],
    ids=["lengths", "target dims", "input dims", "empty", "not data", "property", "BatchSize", "TimeGoal",
         "LearningRate", "Method", "Beta1", "option", "rule", "multiplier", "Scaled", "loss", "reporting", "net"],
)
def test_training_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert issubclass(error, NetError)


def test_gpu_target_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(NetOptionError, match=r"needs a CUDA GPU"):
        NetTrain(ParametricRampLayer(Input=2), (np.ones((3, 2)), np.ones((3, 2))), TargetDevice="GPU")


def test_results_properties_and_plot():
    X = np.random.default_rng(10).standard_normal((8, 2))
    results = NetTrain(ParametricRampLayer(Input=2), (X, X), All, MaxTrainingRounds=3, ValidationSet=(X, X))
    assert isinstance(results, NetTrainResults)
    figure = results["LossEvolutionPlot"]
    axes = figure.axes[0]
    assert axes.get_yscale() == "log" and [line.get_label() for line in axes.lines] == [
        "training loss", "validation loss"]
    assert results["FinalRoundLoss"] == results["RoundLoss"]  # a legacy alias
    assert NetTrain(ParametricRampLayer(Input=2), (X, X), ["TotalRounds", "BatchSize"], MaxTrainingRounds=2) == [2, 8]
    assert NetTrain(ParametricRampLayer(Input=2), (X, X), []) == []
    with pytest.raises(NetSpecificationError, match=r"'Nope' is not a property"):
        results["Nope"]


def _never_called(progress):
    raise AssertionError("NetTrain trained, but \"TrainingNet\" alone is computed without training")


def test_training_net_is_the_page_chain_with_binary_cross_entropy_before_any_update():
    from wlnet.train import TrainingNet

    data = {1: False, 2: True, 3: False, 4: True}
    training_net = NetTrain(page_chain(), data, "TrainingNet", RandomSeeding=5, TrainingProgressFunction=_never_called)
    assert isinstance(training_net, TrainingNet)
    assert training_net.losses == [(CrossEntropyLossLayer("Binary"), 1.0)]
    assert training_net.ports == {"Input": "Input", "Target": "Output"}
    assert NetExtract(training_net.net, "Input") == "Real"  # fitted to the data, initialized, not trained
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    fitted = NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Input="Real",
                      Output=NetDecoder("Boolean"))
    assert training_net.net == NetInitialize(fitted, RandomSeeding=5)  # as NetTrain initializes it
    results = NetTrain(page_chain(), data, All, RandomSeeding=5, MaxTrainingRounds=3)
    assert results["TrainingNet"] == training_net and results["TrainedNet"] != training_net.net
    assert "TrainingNet" in results.properties and "TrainingNet" in results["Properties"]
    assert NetTrain(page_chain(), data, ["TrainingNet", "TrainingNet"], RandomSeeding=5) == [training_net] * 2
    # One loss per example: binary cross-entropy of the net's probability against the target.
    p = np.asarray(training_net.net([1, 2, 3, 4], None), dtype=np.float64)
    t = np.array([0.0, 1.0, 0.0, 1.0])
    losses = training_net(data)
    assert losses.dtype == np.float32 and losses.shape == (4,)
    np.testing.assert_allclose(losses, -(t * np.log(p) + (1 - t) * np.log(1 - p)), rtol=1e-6)
    np.testing.assert_array_equal(training_net(([1, 2, 3, 4], [False, True, False, True])), losses)


def test_training_net_with_other_losses():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (10, 3)), rng.uniform(-1, 1, (10, 3))
    act = NetInitialize(ParametricRampLayer(Input=3))
    mse = NetTrain(act, (X, Y), "TrainingNet")
    assert repr(mse) == ("TrainingNet(ParametricRampLayer(1, Input=3, Slope=[0.1, 0.1, 0.1]), "
                         "LossFunction=MeanSquaredLossLayer())")
    out = np.where(X > 0, X, F32(0.1) * X).astype(np.float32)
    np.testing.assert_allclose(mse((X, Y)), ((out - Y.astype(np.float32)) ** 2).mean(axis=1), rtol=1e-5)
    weighted = NetTrain(act, (X, Y), "TrainingNet",
                        LossFunction=[(MeanAbsoluteLossLayer(), Scaled(2.0)), ("Output", Scaled(0.5))])
    assert repr(weighted).endswith("LossFunction=[(MeanAbsoluteLossLayer(), Scaled(2.0)), ('Output', Scaled(0.5))])")
    expected = 2 * np.abs(out - Y.astype(np.float32)).mean(axis=1) + 0.5 * out.sum(axis=1)
    np.testing.assert_allclose(weighted((X, Y)), expected, rtol=1e-5)
    own = NetTrain(act, {"Input": X}, "TrainingNet", LossFunction="Output")
    assert own.ports == {"Input": "Input", "Target": None} and own.losses == [("Output", 1.0)]
    np.testing.assert_allclose(own({"Input": X}), out.sum(axis=1), rtol=1e-5)
    assert own != mse and own == NetTrain(act, {"Input": X}, "TrainingNet", LossFunction="Output")


def test_target_device_is_written_as_the_option_is():
    from wlnet.train.parallel import Group
    from wlnet.train.training import device_name

    X = np.ones((4, 2))
    assert NetTrain(ParametricRampLayer(Input=2), (X, X), "TargetDevice", MaxTrainingRounds=1) == "CPU"
    cpu, gpu0, gpu1 = torch.device("cpu"), torch.device("cuda", 0), torch.device("cuda", 1)
    assert device_name(gpu0, (gpu0,), None) == "GPU"
    assert device_name(gpu1, (gpu1,), None) == ("GPU", 2)
    assert device_name(cpu, (cpu, cpu), Group(0, 2, cpu, False)) == ("CPU", 2)
    assert device_name(gpu0, (gpu0, gpu1), Group(0, 2, gpu0, False)) == ("GPU", [1, 2])
    assert device_name(gpu1, (gpu0,), Group(1, 4, gpu1, False)) == ("GPU", All)  # torchrun: a GPU per process


@pytest.mark.parametrize("data", [
    {1: False, 2: True, 3: False, 4: True},
    ([1, 2, 3, 4], [False, True, False, True]),
    [(1, False), (2, True)],
    {"Input": [1, 2], "Output": [False, True]},
], ids=["dict", "rule", "pairs", "ports"])
def test_boolean_targets_without_a_boolean_decoder_say_how_to_add_one(data):
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    chain = NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid])  # the page's, without a decoder
    with pytest.raises(NetDataError, match=(
            r'^NetTrain: the training data gives True/False targets for port "Output", but the output port "Output" '
            r'of NetChain has no NetDecoder\("Boolean"\) to read them\. Attach one where the net is made, as the '
            r"page's example does: NetChain\(\[\.\.\., LogisticSigmoid\], Output=NetDecoder\(\"Boolean\"\)\) "
            r"\(the net then gives the probability of True, learned with binary cross-entropy\); or give the "
            r"targets as 1 and 0\.$")):
        NetTrain(chain, data, MaxTrainingRounds=1)
    with pytest.raises(NetDataError, match=r'the validation set gives True/False targets for port "Output"'):
        NetTrain(chain, ([1.0, 2.0], [0.0, 1.0]), MaxTrainingRounds=1, ValidationSet=data)


def _bare_run(parameters):
    """A Run with only what state() needs: the trained parameters (and no buffers)."""
    from wlnet.train.loop import Run

    run = Run.__new__(Run)
    run.parameters, run.buffers, run._state, run._states = parameters, {}, None, []
    return run


def test_state_copies_are_reused_only_when_nothing_holds_them():
    weights = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    run = _bare_run({"1.Weights": weights})

    def next_round(value):
        run._state = None  # what begin_round does
        with torch.no_grad():
            weights.fill_(value)
        return run.state()

    first = run.state()
    kept = next_round(3.0)  # the first copy is still held: a new one
    assert kept is not first and first["1.Weights"].tolist() == [1.0, 2.0]
    first_id = id(first)
    del first
    reused = next_round(4.0)  # nothing holds the first copy any more: it takes this round's values
    assert id(reused) == first_id and reused["1.Weights"].tolist() == [4.0, 4.0]
    assert kept["1.Weights"].tolist() == [3.0, 3.0]
    # A tensor, a view or a NumPy array of a copy keeps that copy out of reuse.
    for holder in (lambda s: s["1.Weights"], lambda s: s["1.Weights"][:1], lambda s: s["1.Weights"].numpy()):
        held = holder(kept)
        values = [float(v) for v in held]
        kept = reused = None
        for value in (5.0, 6.0, 7.0):
            reused = next_round(value)
        assert [float(v) for v in held] == values
        kept, held = reused, None


def test_reused_state_copies_give_the_same_trained_nets(monkeypatch):
    # Validation keeps the best round's arrays and the divergence check the last round's: with the
    # copies reused, the trained and final nets are those of a run that copies afresh every round.
    from wlnet.train.loop import Run

    rng = np.random.default_rng(8)
    X = rng.standard_normal((24, 2))
    Y = np.where(X > 0, X, 0.3 * X) + 0.1 * rng.standard_normal((24, 2))
    options = dict(MaxTrainingRounds=40, BatchSize=8, ValidationSet=(X[:6], Y[:6]), LearningRate=0.05,
                   RandomSeeding=3, TrainingProgressReporting=None)
    reused = NetTrain(ParametricRampLayer(Input=2), (X, Y), All, **options)
    monkeypatch.setattr(Run, "_spare_state", lambda self: None)
    fresh = NetTrain(ParametricRampLayer(Input=2), (X, Y), All, **options)
    assert reused["BestValidationRound"] == fresh["BestValidationRound"] < 40
    for key in ("TrainedNet", "FinalNet"):
        np.testing.assert_array_equal(NetExtract(reused[key], "Slope"), NetExtract(fresh[key], "Slope"))
    assert not np.array_equal(NetExtract(reused["TrainedNet"], "Slope"), NetExtract(reused["FinalNet"], "Slope"))
