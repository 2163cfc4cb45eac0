"""The "Class" NetEncoder and NetDecoder, CrossEntropyLossLayer("Index") and ("Probabilities"), and
NetTrain with class labels (Wolfram's {"Class", labels} coders; spec wolfram-convnets.md section 10)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wlnet import (
    All,
    ExportByteArray,
    ImportByteArray,
    Information,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetInitialize,
    NetTrain,
    Tanh,
)
from wlnet.errors import NetDataError, NetOptionError, NetShapeError, NetSpecificationError
from wlnet.layers.loss import CrossEntropyLossLayer, MeanSquaredLossLayer
from wlnet.layers.softmax import SoftmaxLayer
from wlnet.serialize import json_net, net_json

ABC = NetDecoder(["Class", ["a", "b", "c"]])
P = np.array([0.05, 0.7, 0.25], dtype=np.float32)  # the spec's vector 15.7


# -- the decoder ---------------------------------------------------------------------------------

def test_decoder_conformance_vector():
    """Spec 15.7: {0.05, 0.7, 0.25} with labels a, b, c."""
    assert ABC(P) == "b"
    assert ABC(P, "Decision") == "b"
    top = ABC(P, "TopProbabilities")  # 0.05 <= 0.1 * 0.7: left out
    assert [label for label, _ in top] == ["b", "c"]
    assert [float(p) for _, p in top] == pytest.approx([0.7, 0.25])
    assert ABC(P, ("TopDecisions", 2)) == ["b", "c"]
    entropy = ABC(P, "Entropy")
    assert entropy == pytest.approx(0.74603, abs=5e-6)
    assert entropy == pytest.approx(-sum(p * math.log(p) for p in [0.05, 0.7, 0.25]), rel=1e-6)
    assert type(entropy) is np.float32  # numbers in the probabilities' precision


def test_decoder_properties_of_one_vector():
    probabilities = ABC(P, "Probabilities")
    assert list(probabilities) == ["a", "b", "c"]
    assert [type(v) for v in probabilities.values()] == [np.float32] * 3
    assert probabilities["b"] == np.float32(0.7)
    assert ABC(P, ("Probability", "c")) == np.float32(0.25)
    assert ABC(P, ["Probabilities", "a"]) == np.float32(0.05)  # Wolfram's {"Probabilities", c} too
    assert ABC(P, ("TopProbabilities", 1)) == [("b", np.float32(0.7))]
    assert [label for label, _ in ABC(P, ("TopProbabilities", 10))] == ["b", "c", "a"]  # n clipped to 3
    assert ABC(P, ("TopDecisions", 3)) == ["b", "c", "a"]
    raw = ABC(P, None)
    assert raw.dtype == np.float32 and raw.tolist() == P.tolist()


def test_decoder_on_batches_and_arrays_of_vectors():
    batch = np.array([[0.05, 0.7, 0.25], [0.6, 0.3, 0.1]], dtype=np.float32)
    assert ABC(batch) == ["b", "a"]
    assert ABC(batch, ("Probability", "a")).tolist() == pytest.approx([0.05, 0.6])
    assert ABC(batch, "Entropy").shape == (2,)
    assert ABC(batch, ("TopDecisions", 2)) == [["b", "c"], ["a", "b"]]
    assert [d["a"] for d in ABC(batch, "Probabilities")] == [np.float32(0.05), np.float32(0.6)]
    deep = NetDecoder(["Class", ["a", "b", "c"], {"InputDepth": 2}])
    assert deep.type.dims == (None, 3)
    assert deep(np.stack([batch, batch[::-1]])) == [["b", "a"], ["a", "b"]]


def test_decision_ties_go_to_the_first_class():
    """[INF] Wolfram 11.x took the last of equal maxima; wlnet takes the first (NumPy's argmax)."""
    assert ABC([0.4, 0.4, 0.2]) == "a"
    assert ABC([0.2, 0.4, 0.4]) == "b"
    assert ABC([0.4, 0.2, 0.4], ("TopDecisions", 2)) == ["a", "c"]


def test_decoder_labels_keep_their_type():
    decoder = NetDecoder(["Class", [True, 2, "x", 1.5]])
    values = [decoder(np.eye(4)[i]) for i in range(4)]
    assert values == [True, 2, "x", 1.5]
    assert [type(v) for v in values] == [bool, int, str, float]
    assert NetDecoder(["Class", np.array([3, 1, 2])])([0.0, 1.0, 0.0]) == 1  # NumPy labels as Python ints
    assert type(NetDecoder(["Class", np.array([3, 1, 2])]).labels[0]) is int


def test_decoder_errors():
    with pytest.raises(NetDataError, match=r"\(\"Probability\", 'z'\): 'z' is not one of the labels 'a', 'b', 'c'"):
        ABC(P, ("Probability", "z"))
    with pytest.raises(NetSpecificationError, match=r"'Decisions' is not a property. Did you mean Decision\?"):
        ABC(P, "Decisions")
    with pytest.raises(NetSpecificationError, match=r"n should be a positive integer, but was 0"):
        ABC(P, ("TopDecisions", 0))
    with pytest.raises(NetDataError, match=r"a vector of 3 class probabilities .* its dims are \(2,\)"):
        ABC([0.5, 0.5])
    with pytest.raises(NetSpecificationError, match="a Class decoder takes its labels only"):
        NetDecoder(["Class", ["a", "b"], "IndicatorVector"])
    with pytest.raises(NetOptionError, match='"InputDepth" should be a positive integer'):
        NetDecoder(["Class", ["a", "b"], {"InputDepth": 0}])


# -- the encoder ---------------------------------------------------------------------------------

def test_encoder_gives_1_based_indices_or_one_hot_vectors():
    index = NetEncoder(["Class", ["a", "b", "c"]])
    assert index("c").shape == () and float(index("c")) == 3.0
    assert index(["a", "c", "b"]).tolist() == [1.0, 3.0, 2.0]
    assert index([["a", "b"], ["c", "a"]]).tolist() == [[1.0, 2.0], [3.0, 1.0]]
    assert index.type.dims == ()
    one_hot = NetEncoder(("Class", ["a", "b", "c"], "IndicatorVector"))
    assert one_hot(["b", "c"]).tolist() == [[0, 1, 0], [0, 0, 1]]
    assert one_hot.type.dims == (3,)
    assert NetEncoder(["Class", ["a", "b", "c"], "UnitVector"]) == one_hot  # the 12.x name
    assert NetEncoder(["Class", ["a", "b", "c"], "Index"]) == index
    arrays = NetEncoder(["Class", ["a", "b"], {"Dimensions": (2,)}])
    assert arrays.type.dims == (2,) and arrays(["b", "a"]).tolist() == [2.0, 1.0]


def test_encoder_bypasses_indices_unless_labels_are_numbers():
    strings = NetEncoder(["Class", ["a", "b", "c"]])
    assert strings.accepts(["a", "b"]) and not strings.accepts([1, 3]) and not strings.accepts(np.array([1.0]))
    numbers = NetEncoder(["Class", [10, 20, 30]])
    assert numbers.accepts([1, 3])  # labels, not indices
    with pytest.raises(NetDataError, match="1 is not one of the labels 10, 20, 30"):
        numbers([1])
    assert numbers([30, 10]).tolist() == [3.0, 1.0]


def test_encoder_tells_booleans_integers_and_reals_apart():
    encoder = NetEncoder(["Class", [True, 2, 3.5, "x"]])
    assert encoder([True, 2, 3.5, "x"]).tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(NetDataError, match="1 is not one of the labels True, 2, 3.5, 'x'"):
        encoder([1])  # 1 == True in Python, but 1 is not the label True
    with pytest.raises(NetDataError, match="2.0 is not one of the labels"):
        encoder([2.0])
    with pytest.raises(NetDataError, match="False is not one of the labels"):
        encoder(False)


def test_encoder_errors():
    encoder = NetEncoder(["Class", ["apple", "banana"]])
    with pytest.raises(NetDataError, match=r"'appel' is not one of the labels 'apple', 'banana'. Did you mean apple\?"):
        encoder(["apple", "appel"])
    with pytest.raises(NetDataError, match="the input is empty"):
        encoder([])
    with pytest.raises(NetDataError, match="should form a regular array"):
        encoder([["apple"], ["apple", "banana"]])
    with pytest.raises(NetSpecificationError, match="needs its labels"):
        NetEncoder("Class")
    with pytest.raises(NetSpecificationError, match="the labels should be distinct, but 'a' appears twice"):
        NetEncoder(["Class", ["a", "b", "a"]])
    with pytest.raises(NetSpecificationError, match="the labels 1 and True are equal as Python dict keys"):
        NetEncoder(["Class", [1, True]])
    with pytest.raises(NetSpecificationError, match=r"a label should be a string, .* but \(1, 2\) is a tuple"):
        NetEncoder(["Class", [(1, 2), 3]])
    with pytest.raises(NetSpecificationError, match="the list of labels is empty"):
        NetEncoder(["Class", []])
    with pytest.raises(NetSpecificationError, match=r"the form 'OneHot' is not known"):
        NetEncoder(["Class", ["a"], "OneHot"])
    with pytest.raises(NetOptionError, match="'InputDepth' is not a parameter of this coder"):
        NetEncoder(["Class", ["a"], {"InputDepth": 2}])
    with pytest.raises(NetSpecificationError, match="is not a known coder"):
        NetEncoder(["Klass", ["a"]])


def test_decoder_dual_encoder():
    assert ABC.encoder() == NetEncoder(["Class", ["a", "b", "c"]])
    assert ABC.encoder("IndicatorVector") == NetEncoder(["Class", ["a", "b", "c"], "IndicatorVector"])


# -- values: repr, equality, files, ONNX, panels -------------------------------------------------

LABEL_SETS = [["a", "b", "c"], [3, 1, 2], [True, False, 7], [0.5, "half", False]]


@pytest.mark.parametrize("labels", LABEL_SETS, ids=["str", "int", "bool-int", "mixed"])
def test_repr_round_trip_and_equality(labels):
    for coder in (NetDecoder(["Class", labels]), NetEncoder(["Class", labels, "IndicatorVector"]),
                  NetEncoder(["Class", labels, {"Dimensions": (2,)}])):
        back = eval(repr(coder), {"NetEncoder": NetEncoder, "NetDecoder": NetDecoder})
        assert back == coder and back.labels == coder.labels
        assert [type(v) for v in back.labels] == [type(v) for v in labels]
    assert NetDecoder(["Class", [1, 2]]) != NetDecoder(["Class", [1.0, 2]])
    assert NetDecoder(["Class", [1, 2]]) != NetDecoder(["Class", [True, 2]])
    assert NetDecoder(["Class", [1, 2]]) != NetDecoder(["Class", [2, 1]])
    assert NetEncoder(["Class", [1, 2]]) != NetDecoder(["Class", [1, 2]])


def _classifier(labels):
    net = NetChain([LinearLayer(len(labels)), SoftmaxLayer()], Input=2, Output=NetDecoder(["Class", labels]))
    return NetInitialize(net, RandomSeeding=3)


@pytest.mark.parametrize("labels", LABEL_SETS, ids=["str", "int", "bool-int", "mixed"])
def test_description_and_file_round_trip_keep_labels_exactly(labels):
    net = _classifier(labels)
    data = net_json(net)
    assert data["Options"]["Output"]["Parameters"] == [labels]  # JSON keeps strings, ints, bools, reals apart
    described = json_net(data, "test")  # the description has no arrays
    assert described._coder("Output") == net._coder("Output") and net_json(described) == data
    back = ImportByteArray(ExportByteArray(net))
    assert back == net
    decoder = back._coder("Output")
    assert decoder.labels == tuple(labels) and [type(v) for v in decoder.labels] == [type(v) for v in labels]
    x = np.array([[1.0, -2.0], [0.5, 0.25]], dtype=np.float32)
    assert back(x) == net(x)


@pytest.mark.parametrize("labels", LABEL_SETS, ids=["str", "int", "bool-int", "mixed"])
def test_onnx_metadata_keeps_the_labels(labels):
    pytest.importorskip("onnx")
    from wlnet.onnx import import_onnx, onnx_model

    # No SoftmaxLayer here: the metadata, not the op, is under test.
    net = NetInitialize(NetChain([LinearLayer(len(labels))], Input=2, Output=NetDecoder(["Class", labels])))
    encoder = NetEncoder(["Class", labels, "IndicatorVector"])
    embedding = NetInitialize(NetChain([LinearLayer(2)], Input=encoder))
    for original in (net, embedding):
        model = onnx_model(original)
        assert import_onnx(model.SerializeToString()) == original
        for prop in model.metadata_props:  # read from the graph and the coders' metadata alone
            if prop.key == "wlnet.description":
                prop.value = "{}"
        back = import_onnx(model.SerializeToString())
        coder = back._coder("Output" if original is net else "Input")
        assert coder == original._coder("Output" if original is net else "Input")
        assert [type(v) for v in coder.labels] == [type(v) for v in labels]


def test_panel_and_information_show_the_labels():
    html = ABC._repr_html_()
    assert "Labels" in html and "3: &#x27;a&#x27;, &#x27;b&#x27;, &#x27;c&#x27;" in html
    assert "the label of the most probable class" in html
    assert "one-hot" in NetEncoder(["Class", ["a"], "IndicatorVector"])._repr_html_()
    net = _classifier(["a", "b", "c"])
    assert Information(net, "OutputPorts") == {"Output": ABC}
    assert Information(net, "TopologyHash") != Information(_classifier(["a", "b", "d"]), "TopologyHash")


def test_a_decoder_must_match_the_class_count():
    with pytest.raises(NetShapeError, match="length-3 vector.*length-2 vector|length-2 vector.*length-3 vector"):
        NetChain([LinearLayer(3), SoftmaxLayer()], Input=2, Output=NetDecoder(["Class", ["a", "b"]]))
    net = NetChain([SoftmaxLayer()], Output=NetDecoder(["Class", list("wxyz")]))  # the labels give the dims
    assert net._ports["Input"].dims == (4,)


# -- evaluation through a net --------------------------------------------------------------------

def test_a_net_with_a_class_decoder_gives_labels_and_properties():
    net = _classifier(["a", "b", "c"])
    x = np.array([[1.0, -2.0], [0.5, 0.25], [-3.0, 2.0]], dtype=np.float32)
    p = net(x, None)
    assert p.shape == (3, 3) and np.allclose(p.sum(-1), 1.0)
    expected = [["a", "b", "c"][i] for i in p.argmax(-1)]
    assert net(x) == expected and net(x[0]) == expected[0]
    assert net(x[0], "Probabilities") == dict(zip("abc", p[0]))
    assert net(x, ("Probability", "b")).tolist() == p[:, 1].tolist()
    assert net(x[0], ("TopDecisions", 2)) == [["a", "b", "c"][i] for i in np.argsort(-p[0], kind="stable")[:2]]
    assert net(x, "Entropy").tolist() == pytest.approx((-(p * np.log(p)).sum(-1)).tolist(), rel=1e-5)
    with pytest.raises(NetDataError, match="'q' is not one of the labels"):
        net(x, ("Probability", "q"))


def test_a_net_with_a_class_encoder_takes_labels_or_one_hot_vectors():
    encoder = NetEncoder(["Class", ["x", "y", False], "IndicatorVector"])
    net = NetInitialize(NetChain([LinearLayer(2), Tanh], Input=encoder))
    by_label = net(["x", False])
    assert np.array_equal(by_label, net(np.array([[1.0, 0, 0], [0, 0, 1]], dtype=np.float32)))  # bypass
    with pytest.raises(NetDataError, match=r'the data for port "Input": NetEncoder\["Class"\]: True is not one of'):
        net([True])
    numbers = NetInitialize(NetChain([LinearLayer(2)], Input=NetEncoder(["Class", ["x", 2], "IndicatorVector"])))
    with pytest.raises(NetDataError, match="1.0 is not one of the labels 'x', 2"):  # a label is a number: no bypass
        numbers([[1.0, 0.0]])


# -- the losses ----------------------------------------------------------------------------------

def test_index_cross_entropy_is_torch_nll_loss_of_log_p():
    generator = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, 4, generator=generator, dtype=torch.float64), -1)
    t = torch.tensor([1, 4, 2, 3, 3, 1])
    value = CrossEntropyLossLayer("Index").loss(p, t.double())
    assert value.item() == pytest.approx(F.nll_loss(torch.log(p), t - 1).item(), rel=1e-12)
    arrays = torch.softmax(torch.randn(2, 5, 3, generator=generator, dtype=torch.float64), -1)  # per position
    targets = torch.randint(1, 4, (2, 5), generator=generator)
    value = CrossEntropyLossLayer("Index").loss(arrays, targets.double())
    assert value.item() == pytest.approx(F.nll_loss(torch.log(arrays).movedim(-1, 1), targets - 1).item(), rel=1e-12)


def test_probabilities_cross_entropy_is_minus_sum_t_log_p():
    generator = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(4, 3, generator=generator, dtype=torch.float64), -1)
    t = torch.softmax(torch.randn(4, 3, generator=generator, dtype=torch.float64), -1)
    value = CrossEntropyLossLayer("Probabilities").loss(p, t)
    assert value.item() == pytest.approx((-(t * torch.log(p)).sum(-1)).mean().item(), rel=1e-12)
    one_hot = F.one_hot(torch.tensor([2, 0, 1, 1]), 3).double()  # equal to "Index" on the same classes
    index = CrossEntropyLossLayer("Index").loss(p, torch.tensor([3.0, 1.0, 2.0, 2.0], dtype=torch.float64))
    assert CrossEntropyLossLayer("Probabilities").loss(p, one_hot).item() == pytest.approx(index.item(), rel=1e-12)


def test_cross_entropy_logs_are_clamped_at_minus_100():
    p = torch.tensor([[0.0, 1.0]], requires_grad=True)
    loss = CrossEntropyLossLayer("Index").loss(p, torch.tensor([1.0]))
    loss.backward()
    assert loss.item() == 100.0 and torch.isfinite(p.grad).all()
    q = torch.tensor([[0.0, 1.0]], requires_grad=True)
    loss = CrossEntropyLossLayer("Probabilities").loss(q, torch.tensor([[0.5, 0.5]]))
    loss.backward()
    assert loss.item() == pytest.approx(50.0) and torch.isfinite(q.grad).all()
    assert repr(CrossEntropyLossLayer("Index")) == "CrossEntropyLossLayer('Index')"
    with pytest.raises(NetSpecificationError, match="the form 'Indices' is not available.*Did you mean Index"):
        CrossEntropyLossLayer("Indices")


# -- NetTrain with class labels ------------------------------------------------------------------

def _labelled(n=20, seed=0):
    """Three separable clusters of 2-vectors, labelled "a", "b", "c"."""
    rng = np.random.default_rng(seed)
    centers = {"a": (-2.0, 0.0), "b": (2.0, 0.0), "c": (0.0, 3.0)}
    x = np.concatenate([np.array(c) + 0.3 * rng.standard_normal((n, 2)) for c in centers.values()])
    return x.astype(np.float32), [label for label in centers for _ in range(n)]


def test_nettrain_learns_labels_through_the_class_decoder():
    x, y = _labelled()
    net = NetChain([LinearLayer(3), SoftmaxLayer()], Input=2, Output=NetDecoder(["Class", ["a", "b", "c"]]))
    results = NetTrain(net, (x, y), All, MaxTrainingRounds=100, LearningRate=0.05, RandomSeeding=1234,
                       TrainingProgressReporting=None)
    assert results["TrainingNet"].losses == [(CrossEntropyLossLayer("Index"), 1.0)]  # Automatic after a softmax
    trained = results["TrainedNet"]
    assert trained(x) == y  # 100% on the training data
    assert trained(x[0]) == "a" and trained(x[0], "Probabilities")["a"] > 0.9
    assert results["RoundLossList"][-1] < results["RoundLossList"][0]


def test_nettrain_loss_is_the_index_cross_entropy_of_the_labels():
    x, y = _labelled(n=4)
    net = _classifier(["a", "b", "c"])
    indices = torch.tensor([{"a": 0, "b": 1, "c": 2}[label] for label in y])
    p = torch.from_numpy(net(x, None))
    expected = F.nll_loss(torch.log(p), indices).item()
    options = {"MaxTrainingRounds": 1, "BatchSize": len(y), "LearningRate": 1e-12, "TrainingProgressReporting": None}
    assert NetTrain(net, (x, y), "RoundLoss", **options) == pytest.approx(expected, rel=1e-5)
    as_indices = [int(i) + 1 for i in indices]  # the encoder's bypass: 1-based indices work too
    assert NetTrain(net, (x, as_indices), "RoundLoss", **options) == pytest.approx(expected, rel=1e-5)
    training_net = NetTrain(net, (x, y), "TrainingNet", **options)
    per_example = -np.log(p.numpy()[np.arange(len(y)), indices.numpy()])
    assert training_net((x, y)) == pytest.approx(per_example, rel=1e-5)


def test_nettrain_without_a_decoder_takes_class_indices():
    x, y = _labelled()
    indices = [{"a": 1, "b": 2, "c": 3}[label] for label in y]
    net = NetChain([LinearLayer(3), SoftmaxLayer()], Input=2)
    trained = NetTrain(net, (x, indices), MaxTrainingRounds=100, LearningRate=0.05, RandomSeeding=7,
                       TrainingProgressReporting=None)
    assert (trained(x).argmax(-1) + 1).tolist() == indices


def test_nettrain_with_probabilities_loss_takes_labels_as_one_hot_vectors():
    x, y = _labelled(n=4)
    net = _classifier(["a", "b", "c"])
    options = {"MaxTrainingRounds": 1, "BatchSize": len(y), "LearningRate": 1e-12, "TrainingProgressReporting": None}
    index = NetTrain(net, (x, y), "RoundLoss", **options)
    probabilities = NetTrain(net, (x, y), "RoundLoss", LossFunction=CrossEntropyLossLayer("Probabilities"), **options)
    assert probabilities == pytest.approx(index, rel=1e-5)
    one_hot = np.eye(3, dtype=np.float32)[[{"a": 0, "b": 1, "c": 2}[label] for label in y]]
    given = NetTrain(net, (x, one_hot), "RoundLoss", LossFunction=CrossEntropyLossLayer("Probabilities"), **options)
    assert given == pytest.approx(index, rel=1e-5)


def test_nettrain_class_target_errors():
    x, y = _labelled(n=2)
    net = NetChain([LinearLayer(3), SoftmaxLayer()], Input=2, Output=NetDecoder(["Class", ["a", "b", "c"]]))
    options = {"MaxTrainingRounds": 1, "TrainingProgressReporting": None}
    with pytest.raises(NetDataError, match=r'for port "Output": NetEncoder\["Class"\]: \'zz\' is not one of the'):
        NetTrain(net, (x, [*y[:-1], "zz"]), **options)
    with pytest.raises(NetDataError, match=r'port "Output" should be class indices, integers from 1 to 3 .* one is 4'):
        NetTrain(net, (x, [1] * (len(y) - 1) + [4]), **options)
    with pytest.raises(NetDataError, match=r"integers from 1 to 3 .* one is 0.5"):
        NetTrain(NetChain([LinearLayer(3), SoftmaxLayer()], Input=2), (x, [1] * (len(y) - 1) + [0.5]), **options)
    with pytest.raises(NetShapeError, match=r'for port "Output" should each be a class index .* length-3 vector'):
        NetTrain(NetChain([LinearLayer(3), SoftmaxLayer()], Input=2), (x, np.eye(3)[[0] * len(y)]), **options)
    with pytest.raises(NetOptionError, match=r'CrossEntropyLossLayer\("Index"\) compares the output with class'):
        NetTrain(net, (x, y), LossFunction=[CrossEntropyLossLayer("Index"), MeanSquaredLossLayer()], **options)
    with pytest.raises(NetShapeError, match=r"needs class probabilities at port \"Output\".*gives a real number"):
        NetTrain(NetChain([LinearLayer([]), LogisticSigmoid], Input=2), (x, [1] * len(y)),
                 LossFunction=CrossEntropyLossLayer("Index"), **options)
