"""Information: the report and every property, on a bare layer, the page's chain and a graph; Quantity."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from cases import branches, page_chain
from wlnet import (
    All,
    Automatic,
    ElementwiseLayer,
    Information,
    LinearLayer,
    LogisticSigmoid,
    NetChain,
    NetDecoder,
    NetEncoder,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetPort,
    NetReplacePart,
    NetTrain,
    ParametricRampLayer,
    Quantity,
    Span,
    Tanh,
)
from wlnet.errors import NetSpecificationError
from wlnet.information import PROPERTIES

NET = NetInitialize(ParametricRampLayer(Input=(2, 3, 4)))


def test_properties_of_an_initialized_layer():
    assert Information(NET, "ArraysCount") == 1
    assert Information(NET, "ArraysPositionList") == [("Slope",)]
    assert Information(NET, "ArraysDimensions") == {("Slope",): (2,)}
    assert Information(NET, "ArraysElementCounts") == {("Slope",): 2}
    assert Information(NET, "ArraysTotalElementCount") == 2
    assert Information(NET, "ArraysByteCounts") == {("Slope",): 8}
    assert Information(NET, "ArraysTotalByteCount") == 8
    assert Information(NET, "ArraysLearningRateMultipliers") == {("Slope",): 1.0}
    arrays = Information(NET, "Arrays")
    assert list(arrays) == [("Slope",)] and arrays[("Slope",)].tolist() == [np.float32(0.1)] * 2
    assert Information(NET, "InputPorts") == {"Input": (2, 3, 4)}
    assert Information(NET, "OutputPorts") == {"Output": (2, 3, 4)}
    assert Information(NET, "InputPortNames") == ["Input"]
    assert Information(NET, "OutputPortNames") == ["Output"]
    assert Information(NET, "Layers") == {(): NET}
    assert Information(NET, "LayersCount") == 1
    assert Information(NET, "LayerTypeCounts") == {"ParametricRampLayer": 1}
    assert Information(NET, "Properties") == list(PROPERTIES)
    assert Information(NET, ["ArraysCount", "LayersCount"]) == [1, 1]


def test_unknown_dims_and_missing_arrays():
    layer = ParametricRampLayer(Span(1, 2))
    assert Information(layer, "Arrays") == {("Slope",): Automatic}
    assert Information(layer, "ArraysDimensions") == {("Slope",): None}
    assert Information(layer, "ArraysTotalElementCount") is None
    assert Information(layer, "InputPorts") == {"Input": Automatic}
    frozen = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input="Real")
    assert Information(frozen, "ArraysLearningRateMultipliers") == {("Slope",): 0.0}
    assert Information(frozen, "InputPorts") == {"Input": "Real"}
    assert Information(frozen, "ArraysDimensions") == {("Slope",): ()}


def test_report_is_a_readable_table_and_html():
    report = Information(NET)
    text = str(report)
    assert text.splitlines()[0] == "Information: ParametricRampLayer"
    for expected in ("ParametricRampLayer (levels 1)", "an array of dims (2, 3, 4)",
                     "dims (2,), initialized, learning-rate multiplier 1", "total elements",
                     "total size            8 B"):
        assert expected in text
    assert report["ArraysCount"] == 1
    html = report._repr_html_()
    assert html.startswith("<table>") and "ParametricRampLayer (levels 1)" in html
    uninitialized = str(Information(ParametricRampLayer()))
    assert "dims unknown, uninitialized" in uninitialized and "total size            unknown" in uninitialized


# Every property of an uninitialized ParametricRampLayer(), in the order of "Properties": unknown dims
# and counts are None, the missing array is Automatic.
UNINITIALIZED = {
    "Arrays": {("Slope",): Automatic},
    "ArraysList": [Automatic],
    "ArraysCount": 1,
    "ArraysPositionList": [("Slope",)],
    "ArraysDimensions": {("Slope",): None},
    "ArraysElementCounts": {("Slope",): None},
    "ArraysTotalElementCount": None,
    "ArraysByteCounts": {("Slope",): None},
    "ArraysSizes": {("Slope",): None},
    "ArraysTotalByteCount": None,
    "ArraysTotalSize": None,
    "ArraysLearningRateMultipliers": {("Slope",): 1.0},
    "SharedArraysCount": 0,
    "InputPorts": {"Input": Automatic},
    "OutputPorts": {"Output": Automatic},
    "InputPortNames": ["Input"],
    "OutputPortNames": ["Output"],
    "RecurrentStatesCount": 0,
    "RecurrentStatesPositionList": [],
    "TopologyHash": "1t5bt04hw2h7h",
    "Layers": {(): ParametricRampLayer()},
    "LayersList": [ParametricRampLayer()],
    "LayersCount": 1,
    "LayerTypeCounts": {"ParametricRampLayer": 1},
    "LayersGraph": {(): []},
    "SummaryGraphic": NetSpecificationError,  # graphics of NetChain and NetGraph only (test_display.py)
    "FullSummaryGraphic": NetSpecificationError,
    "InputForm": "ParametricRampLayer(1)  # Slope: uninitialized, dims unknown; Input: dims unknown",
}
UNINITIALIZED["Properties"] = list(UNINITIALIZED) + ["Properties"]


def test_the_expected_values_cover_every_property():
    assert list(UNINITIALIZED) == list(PROPERTIES)


@pytest.mark.parametrize("prop", list(PROPERTIES))
def test_every_property_of_an_uninitialized_layer(prop):
    if UNINITIALIZED[prop] is NetSpecificationError:
        with pytest.raises(NetSpecificationError, match=f'"{prop}" is for NetChain and NetGraph'):
            Information(ParametricRampLayer(), prop)
        return
    value = Information(ParametricRampLayer(), prop)  # no other property may fail on an incomplete net
    assert value == UNINITIALIZED[prop]
    assert type(value) is type(UNINITIALIZED[prop])


# -- ArraysSizes and ArraysTotalSize: Wolfram's 1000-based byte quantities --------------------------------


def test_sizes_of_a_bare_layer_initialized_or_not():
    assert Information(NET, "ArraysSizes") == {("Slope",): Quantity(8, "Bytes")}
    assert Information(NET, "ArraysTotalSize") == Quantity(8, "Bytes")
    bare = ParametricRampLayer(Input=(2, 3, 4))  # dims known, no values yet: the size is known too
    assert Information(bare, "ArraysSizes") == {("Slope",): Quantity(8, "Bytes")}
    shared = ParametricRampLayer([], Slope=0.25)
    assert Information(shared, "ArraysTotalSize") == Quantity(4, "Bytes")
    assert type(Information(shared, "ArraysTotalSize").magnitude) is int


def test_sizes_of_the_page_chain_before_and_after_its_input_is_known():
    net = page_chain()  # the input is not known until NetTrain sees the data: layer 1's weights neither
    assert Information(net, "ArraysSizes") == {
        (1, "Weights"): None, (1, "Biases"): Quantity(12, "Bytes"), (2, "Slope"): Quantity(4, "Bytes"),
        (3, "Weights"): Quantity(12, "Bytes"), (3, "Biases"): Quantity(4, "Bytes"),
    }
    assert Information(net, "ArraysTotalSize") is None
    real = NetInitialize(NetReplacePart(net, "Input", "Real"))
    assert Information(real, "ArraysTotalSize") == Quantity(44, "Bytes")
    assert Information(real, "ArraysTotalByteCount") == 44


def test_sizes_of_a_graph():
    net = NetInitialize(branches())
    assert Information(net, "ArraysSizes") == {
        ("trunk", "Weights"): Quantity(24, "Bytes"), ("trunk", "Biases"): Quantity(12, "Bytes"),
        ("head", "Weights"): Quantity(24, "Bytes"), ("head", "Biases"): Quantity(8, "Bytes"),
        ("act", "Slope"): Quantity(12, "Bytes"),
    }
    assert Information(net, "ArraysTotalSize") == Quantity(80, "Bytes")


@pytest.mark.parametrize(("n", "m", "size"), [
    (83, 2, Quantity(996, "Bytes")),  # 249 elements
    (125, 1, Quantity(1.0, "Kilobytes")),  # 250 elements: 1000 bytes
    (100, 7, Quantity(3.2, "Kilobytes")),
    (250, 999, Quantity(1.0, "Megabytes")),
    (1000, 1234, Quantity(4.94, "Megabytes")),
    (50_000, 4_999, Quantity(1.0, "Gigabytes")),  # never allocated: the net is not initialized
])
def test_the_unit_changes_at_each_power_of_1000(n, m, size):
    net = LinearLayer(n, Input=m)
    assert Information(net, "ArraysTotalSize") == size
    assert Information(net, "ArraysTotalSize").bytes == Information(net, "ArraysTotalByteCount")


def test_quantity_is_a_value_printed_as_wolfram_prints_it():
    size = Quantity(2.4, "Kilobytes")
    assert repr(size) == 'Quantity(2.4, "Kilobytes")' and eval(repr(size)) == size
    assert str(size) == "2.4 kB" and float(size) == 2.4 and size.bytes == 2400
    assert [str(Quantity.from_bytes(n)) for n in (0, 8, 999, 1000, 12_000, 1_234_567, 5 * 10**9)] == [
        "0 B", "8 B", "999 B", "1. kB", "12. kB", "1.23457 MB", "5. GB"]
    assert str(Quantity(2.5e6, "Gigabytes")) == "2.5×10^6 GB"
    assert Quantity(8, "Bytes") == Quantity(8, "Bytes") and hash(Quantity(8, "Bytes")) == hash(Quantity(8, "Bytes"))
    assert Quantity(2.4, "Kilobytes") != Quantity(2400, "Bytes")  # as SameQ: compare .bytes for the amount
    assert Quantity(2.4, "Kilobytes").bytes == Quantity(2400, "Bytes").bytes
    assert len({Quantity(1.0, "Kilobytes"), Quantity(1.0, "Kilobytes"), Quantity(1.0, "Megabytes")}) == 2
    assert pickle.loads(pickle.dumps(size)) == size
    with pytest.raises(AttributeError, match="immutable"):
        size.magnitude = 3  # type: ignore[misc]


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: Quantity(2, "Kilobyte"), r"'Kilobyte' is not a unit wlnet knows\. Did you mean Kilobytes\?"),
    (lambda: Quantity(2, "Kibibytes"), r"The units are: Bytes, Kilobytes, Megabytes, Gigabytes"),
    (lambda: Quantity("2", "Bytes"), r"magnitude should be a finite real number, but was '2'"),
    (lambda: Quantity(float("nan"), "Bytes"), r"finite real number, but was nan"),
    (lambda: Quantity.from_bytes(-1), r"count should be a whole number >= 0, not -1"),
])
def test_a_bad_quantity_is_a_clear_error(call, pattern):
    with pytest.raises(NetSpecificationError, match=pattern):
        call()


def test_the_report_gives_the_total_size_as_wolfram_and_in_bytes():
    text = str(Information(NetInitialize(NetChain([LinearLayer(300), LinearLayer(10)], Input=100))))
    assert "total size            133.24 kB (133,240 bytes)" in text


# -- InputPorts and OutputPorts: a coder is shown as itself -------------------------------------------------


def test_ports_with_a_decoder_or_an_encoder_show_it():
    net = page_chain()
    assert Information(net, "OutputPorts") == {"Output": NetDecoder("Boolean")}
    assert Information(net, "InputPorts") == {"Input": Automatic}
    assert Information(net, "OutputPorts")["Output"] == NetExtract(net, "Output")
    encoded = NetChain([LinearLayer(2), Tanh], Input=NetEncoder("Boolean"))
    assert Information(encoded, "InputPorts") == {"Input": NetEncoder("Boolean")}
    assert Information(encoded, "OutputPorts") == {"Output": 2}
    graph = NetGraph(NetReplacePart(net, "Input", "Real"))
    assert Information(graph, "InputPorts") == {"Input": "Real"}
    assert Information(graph, "OutputPorts") == {"Output": NetDecoder("Boolean")}


def test_the_report_says_which_port_has_a_coder():
    report = Information(NetReplacePart(page_chain(), "Input", "Real"))
    assert "output port 'Output'  a real number, decoded by NetDecoder('Boolean')" in str(report)
    assert "a real number, decoded by NetDecoder(&#x27;Boolean&#x27;)" in report._repr_html_()
    encoded = str(Information(NetChain([LinearLayer(2), Tanh], Input=NetEncoder("Boolean"))))
    assert "input port 'Input'    a real number, encoded by NetEncoder('Boolean')" in encoded


def test_a_slope_given_alone_fixes_the_input_ports_dims():
    net = ParametricRampLayer(Span(2, All), Slope=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert Information(net, "InputPorts") == {"Input": (Automatic, 3, 2)}
    assert Information(net, "OutputPorts") == {"Output": (Automatic, 3, 2)}
    whole = ParametricRampLayer(Span(1, All), Slope=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert Information(whole, "InputPorts") == {"Input": (3, 2)}
    # A level's count does not depend on the input's rank: any rank from 1 up fits, so the rank stays
    # unknown, but levels counted from the first fix the leading dims, written (2, ...).
    assert Information(ParametricRampLayer(Slope=[0.1, 0.2]), "InputPorts") == {"Input": (2, ...)}
    assert Information(ParametricRampLayer([1, 3], Slope=[[1, 2]]), "InputPorts") == {"Input": (1, Automatic, 2, ...)}
    assert Information(ParametricRampLayer(-1, Slope=[0.1, 0.2]), "InputPorts") == {"Input": Automatic}
    report = str(Information(ParametricRampLayer(2, Slope=[0.1, 0.2])))
    assert "input port 'Input'    an array of dims (n, 2, …)" in report


# -- RecurrentStates and the MXNet properties --------------------------------------------------------------


@pytest.mark.parametrize("net", [NET, page_chain(), branches()], ids=["layer", "chain", "graph"])
def test_no_recurrent_states(net):
    assert Information(net, ["RecurrentStatesCount", "RecurrentStatesPositionList"]) == [0, []]


@pytest.mark.parametrize("prop", ["MXNetNodeGraph", "MXNetNodeGraphPlot"])
def test_the_mxnet_properties_point_to_torch_and_onnx(prop):
    assert prop not in Information(NET, "Properties")
    with pytest.raises(NetSpecificationError, match=rf"Information: '{prop}' is the graph of MXNet operations "
                       r"that Wolfram runs; wlnet runs nets as PyTorch modules instead: net\.to_torch\(\).*ONNX"):
        Information(page_chain(), prop)


# -- TopologyHash -------------------------------------------------------------------------------------------

# Golden values: a change of the hashed description shows here (and changes every saved hash).
GOLDEN = {
    "bare layer": (ParametricRampLayer, "1t5bt04hw2h7h"),
    "layer with dims": (lambda: ParametricRampLayer(Input=(2, 3, 4)), "yw3ykk2ccek1"),
    "page chain": (page_chain, "1vxqyhwjr6n8m"),
    "page chain, input Real": (lambda: NetReplacePart(page_chain(), "Input", "Real"), "1p1nx4fugs9ql"),
    "graph": (branches, "yv4kcdkq0bij"),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_topology_hash_golden_values(name):
    make, digest = GOLDEN[name]
    assert Information(make(), "TopologyHash") == digest


def test_topology_hash_ignores_values_and_initialization():
    net = NetReplacePart(page_chain(), "Input", "Real")
    trained = NetTrain(net, {1: False, 2: True, 3: False, 4: True}, MaxTrainingRounds=3, RandomSeeding=1)
    assert NetExtract(trained, [1, "Weights"]) is not Automatic  # trained: arrays that net has not
    hashes = {Information(n, "TopologyHash") for n in (net, NetInitialize(net), trained, NetInitialize(trained, None))}
    assert hashes == {GOLDEN["page chain, input Real"][1]}
    slopes = [ParametricRampLayer(Slope=[0.1, 0.2]), ParametricRampLayer(Slope=[5, 6])]
    assert len({Information(n, "TopologyHash") for n in slopes}) == 1


def test_topology_hash_is_that_of_equal_nets_however_built():
    given_on_chain = NetChain([LinearLayer(2), ParametricRampLayer()], Input=3)
    given_on_layer = NetChain([LinearLayer(2, Input=3), ParametricRampLayer()])
    assert given_on_chain == given_on_layer
    assert Information(given_on_chain, "TopologyHash") == Information(given_on_layer, "TopologyHash")


def _graph(first="a", edges=None):
    layers = {first: LinearLayer(2), "b": ParametricRampLayer()}
    return NetGraph(layers, edges or [(first, "b")], Input=3)


# Pairs of nets that differ in one thing each: every one must change the hash.
DIFFERENT = {
    "layer": (lambda: NetChain([LinearLayer(3), Tanh], Input=2),
              lambda: NetChain([LinearLayer(3), LogisticSigmoid], Input=2)),
    "size": (lambda: LinearLayer(3, Input=2), lambda: LinearLayer(4, Input=2)),
    "levels": (lambda: ParametricRampLayer(1, Input=(2, 2)), lambda: ParametricRampLayer(2, Input=(2, 2))),
    "port dims": (lambda: ParametricRampLayer(Input=(2, 3)), lambda: ParametricRampLayer(Input=(2, 4))),
    "varying": (lambda: ParametricRampLayer(2, Input=(4, 3)), lambda: ParametricRampLayer(2, Input=("Varying", 3))),
    "slope dims": (lambda: ParametricRampLayer(Slope=[1, 2]), lambda: ParametricRampLayer(Slope=[1, 2, 3])),
    "multiplier": (lambda: ParametricRampLayer(Input=3),
                   lambda: ParametricRampLayer(Input=3, LearningRateMultipliers=0)),
    "decoder": (lambda: NetReplacePart(page_chain(), "Output", "Real"), page_chain),
    "layer name": (lambda: NetChain({"a": LinearLayer(2)}, Input=3), lambda: NetChain({"b": LinearLayer(2)}, Input=3)),
    "graph name": (_graph, lambda: _graph("c")),
    "connection": (_graph, lambda: _graph(edges=[(NetPort("Input"), "b", "a")])),
    "formula": (lambda: ElementwiseLayer(lambda x: 2 * Tanh(x), Input=2),
                lambda: ElementwiseLayer(lambda x: 3 * Tanh(x), Input=2)),
}


@pytest.mark.parametrize("what", list(DIFFERENT))
def test_topology_hash_sees_each_difference(what):
    one, other = (make() for make in DIFFERENT[what])
    assert Information(one, "TopologyHash") != Information(other, "TopologyHash")


def test_topology_hash_is_the_same_in_another_process():
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from cases import branches, page_chain\n"
        "from wlnet import Information, NetChain, LinearLayer, Tanh\n"
        "nets = [page_chain(), branches(), NetChain({'x': LinearLayer(2), 'y': Tanh}, Input=3)]\n"
        "print(' '.join(Information(n, 'TopologyHash') for n in nets))\n"
    )
    here = " ".join(Information(n, "TopologyHash") for n in
                    [page_chain(), branches(), NetChain({"x": LinearLayer(2), "y": Tanh}, Input=3)])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for seed in ("0", "4242"):  # str and dict hashing differ between these processes
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.path.join(root, "src")}
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.split() == here.split()


def test_topology_hash_of_python_code_is_a_clear_error():
    net = NetChain([LinearLayer(2), ElementwiseLayer(lambda x: x.sin())], Input=3)
    with pytest.raises(NetSpecificationError, match=r'Information: cannot compute "TopologyHash", which hashes '
                       r"the description that a net file stores: .*the function <lambda> is Python code"):
        Information(net, "TopologyHash")
