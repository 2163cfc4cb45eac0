"""Information: the report and every property, on a bare layer."""

import numpy as np
import pytest

from wlnet import Automatic, Information, NetInitialize, ParametricRampLayer, Span
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
                     "dims (2,), initialized, learning-rate multiplier 1", "total elements", "8 bytes"):
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
    "ArraysTotalByteCount": None,
    "ArraysLearningRateMultipliers": {("Slope",): 1.0},
    "SharedArraysCount": 0,
    "InputPorts": {"Input": Automatic},
    "OutputPorts": {"Output": Automatic},
    "InputPortNames": ["Input"],
    "OutputPortNames": ["Output"],
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
