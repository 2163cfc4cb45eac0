"""Every bad input gets a NetError that names the layer, the port or array, and what was expected."""

import numpy as np
import pytest
import torch

from wlnet import (
    All,
    Information,
    NetError,
    NetExtract,
    NetInitialize,
    ParametricRampLayer,
    Span,
)
from wlnet.errors import (
    NetDataError,
    NetInitializationError,
    NetOptionError,
    NetShapeError,
    NetSpecificationError,
)

VECTOR = NetInitialize(ParametricRampLayer(Input=3))
SEQUENCES = NetInitialize(ParametricRampLayer(2, Input=("Varying", 3)))

# (id, call, error class, regex the message must match)
CASES = [
    ("level 0", lambda: ParametricRampLayer(0), NetSpecificationError,
     r"^ParametricRampLayer: level 0 does not exist: levels count from 1"),
    ("non-integer level", lambda: ParametricRampLayer(1.5), NetSpecificationError,
     r"^ParametricRampLayer: a level should be a nonzero integer, but 1\.5 is not an integer"),
    ("non-integer in a list", lambda: ParametricRampLayer([1, "2"]), NetSpecificationError,
     r"ParametricRampLayer: a level should be a nonzero integer, but '2' is not"),
    ("string levels", lambda: ParametricRampLayer("all"), NetSpecificationError,
     r"levels should be an integer, a Span, a list of integers or \[\], but were 'all'"),
    ("Span from 0", lambda: ParametricRampLayer(Span(0, 2)), NetSpecificationError,
     r"the start of Span\(0, 2\): level 0 does not exist"),
    ("empty Span", lambda: ParametricRampLayer(Span(3, 1)), NetSpecificationError,
     r"Span\(3, 1\) selects no levels"),
    ("level beyond rank", lambda: ParametricRampLayer(4, Input=(2, 3, 4)), NetShapeError,
     r'ParametricRampLayer \(levels 4\): level 4 is beyond the rank of port "Input": it is an '
     r"array of dims \(2, 3, 4\), of rank 3, so levels run from 1 to 3"),
    ("negative level beyond rank", lambda: ParametricRampLayer(-3, Input=(2, 3)), NetShapeError,
     r"level -3 is beyond the rank of port \"Input\""),
    ("duplicate levels", lambda: ParametricRampLayer([2, 2]), NetSpecificationError,
     r"level 2 appears twice in the levels \[2, 2\]"),
    ("duplicate after resolution", lambda: ParametricRampLayer([1, -3], Input=(2, 3, 4)),
     NetShapeError, r"levels \[1, -3\] name the same level twice"),
    ("level on Varying", lambda: ParametricRampLayer(1, Input=("Varying", 3)), NetShapeError,
     r'level 1 of port "Input" \(a sequence of length-3 vectors\) is "Varying".*'
     r'ParametricRampLayer\(2, Input=\("Varying", 3\)\)'),
    ("Span over Varying", lambda: ParametricRampLayer(Span(1, 2), Input=("Varying", 3)),
     NetShapeError, r'\(levels Span\(1, 2\)\): level 1 of port "Input"'),
    ("Slope dims vs input", lambda: ParametricRampLayer(Slope=[2, 3], Input=3), NetShapeError,
     r'inferred inconsistent dimensions for array "Slope": the input at levels 1 makes it a '
     r"length-3 vector, but the given Slope is a length-2 vector"),
    ("Slope rank vs levels", lambda: ParametricRampLayer(1, Slope=0.1), NetShapeError,
     r'array "Slope".*makes it a vector, but the given Slope is a real number'),
    ("Slope for Span", lambda: ParametricRampLayer(Span(1, 2), Slope=[1, 2], Input=(2, 3)),
     NetShapeError, r"makes it a 2×3 matrix, but the given Slope is a length-2 vector"),
    ("Slope for Span to All", lambda: ParametricRampLayer(Span(1, All), Slope=0.5), NetShapeError,
     r'\(levels Span\(1, All\)\): inferred inconsistent dimensions for array "Slope": the levels '
     r"Span\(1, All\) select at least 1 level of the input, and the Slope has one dimension per level "
     r"selected, but the given Slope is a real number"),
    ("Slope for the last levels", lambda: ParametricRampLayer(Span(-2, All), Slope=[1, 2, 3]), NetShapeError,
     r"the levels Span\(-2, All\) select 2 levels of the input, .* but the given Slope is a length-3 vector"),
    ("Slope for a span from the end", lambda: ParametricRampLayer(Span(-3, 2), Slope=np.ones((2, 2, 2))),
     NetShapeError, r"select at most 2 levels of the input, .* but the given Slope is an array of dims \(2, 2, 2\)"),
    ("Slope fixes the input, Input differs", lambda: ParametricRampLayer(Span(2, All), Slope=[1, 2], Input=(2, 3)),
     NetShapeError, r"the input at levels Span\(2, All\) makes it a length-3 vector, but the given Slope is a "
     r"length-2 vector"),
    ("ragged Slope", lambda: ParametricRampLayer(Slope=[[1, 2], [3]]), NetSpecificationError,
     r'ParametricRampLayer: "Slope" should be .* but it is ragged'),
    ("non-numeric Slope", lambda: ParametricRampLayer(Slope="a"), NetSpecificationError,
     r'"Slope" should be a real number or an array of them, but it contains strings'),
    ("scalar input with levels", lambda: ParametricRampLayer(Input="Real"), NetShapeError,
     r'port "Input" is a real number \(rank 0\), which has no level 1.*ParametricRampLayer\(\[\], '
     r'Input="Real"\)'),
    ("scalar input with a list", lambda: ParametricRampLayer([1, 2], Input="Real"), NetShapeError,
     r"has no level 1"),
    ("bad port spec", lambda: ParametricRampLayer(Input="Integer"), NetSpecificationError,
     r'the "Input" option: the port specification \'Integer\' is not known'),
    ("zero dim", lambda: ParametricRampLayer(Input=(3, 0)), NetSpecificationError,
     r'"Input" option: each dimension should be a positive integer.*dimension 2 is 0'),
    ("inner Varying", lambda: ParametricRampLayer(Input=(3, "Varying")), NetSpecificationError,
     r'only the first dimension may be "Varying"'),
    ("Input vs Output", lambda: ParametricRampLayer(Input=3, Output=4), NetShapeError,
     r'ports "Input" and "Output": a length-3 vector is inconsistent with a length-4 vector'),
    ("bad multiplier", lambda: ParametricRampLayer(LearningRateMultipliers="fast"), NetOptionError,
     r"LearningRateMultipliers should be Automatic, a finite real number or None"),
    ("unknown option", lambda: ParametricRampLayer(Slop=0.1), NetOptionError,
     r"ParametricRampLayer: unknown option Slop\. Did you mean Slope\?"),
    ("misspelt option", lambda: ParametricRampLayer(input=3), NetOptionError,
     r"unknown option input\. Did you mean Input\?"),
    ("strings as data", lambda: VECTOR([["a", "b", "c"]]), NetDataError,
     r'ParametricRampLayer \(levels 1\): the data for port "Input" should be real numbers, but '
     r"it contains strings"),
    ("None in data", lambda: VECTOR([1, None, 3]), NetDataError, r"it contains None"),
    ("booleans as data", lambda: VECTOR([True, False, True]), NetDataError,
     r"it contains True/False values"),
    ("a dict naming no port", lambda: VECTOR({"Inpt": [1, 2, 3]}), NetDataError,
     r'ParametricRampLayer \(levels 1\): the data names a port "Inpt" that is not an input port\. Did you '
     r"mean Input\? The input ports are: Input\."),
    ("a set as data", lambda: VECTOR({1, 2, 3}), NetDataError, r"should be real numbers, but it is \{"),
    ("ragged data", lambda: VECTOR([[1, 2, 3], [1, 2]]), NetDataError,
     r'port "Input" should be a length-3 vector or a batch of them, but it is ragged'),
    ("ragged sequences", lambda: SEQUENCES([[[1, 2, 3]], [[1, 2], [3, 4]]]), NetDataError,
     r'port "Input" is ragged'),
    ("empty data", lambda: VECTOR([]), NetDataError, r'port "Input" is empty.*not permitted'),
    ("empty tensor", lambda: VECTOR(torch.zeros(0, 3)), NetDataError, r"is empty \(shape \(0, 3\)\)"),
    ("wrong length", lambda: VECTOR([1, 2, 3, 4]), NetShapeError,
     r'port "Input" should be a length-3 vector or a batch of them, but it is a length-4 vector'),
    ("wrong example dims", lambda: VECTOR([[1, 2], [3, 4]]), NetShapeError,
     r"but each example is a length-2 vector"),
    ("wrong rank", lambda: VECTOR(np.zeros((2, 2, 3))), NetShapeError,
     r"but it is an array of dims \(2, 2, 3\)"),
    ("sequence of wrong width", lambda: SEQUENCES([[1, 2], [3, 4]]), NetShapeError,
     r"should be a sequence of length-3 vectors or a batch of them, but it is a 2×2 matrix"),
    ("data fits no way", lambda: ParametricRampLayer(Slope=[0.1, 0.2, 0.3])([[1, 2], [3, 4]]),
     NetShapeError, r"fits the net neither as one example nor as a batch \(as one example, "),
    ("uninitialized", lambda: ParametricRampLayer(Input=3)([1, 2, 3]), NetInitializationError,
     r'cannot evaluate the net: the array "Slope" \(dims \(3,\)\) is not initialized\. Use '
     r"NetInitialize\(net\) first"),
    ("uninitialized, dims unknown", lambda: ParametricRampLayer()([1, 2, 3]),
     NetInitializationError, r'the array "Slope" is not initialized\. Use NetInitialize'),
    ("to_torch uninitialized", lambda: ParametricRampLayer(Input=3).to_torch(),
     NetInitializationError, r"cannot lower the net to torch: .*NetInitialize"),
    ("initialize unknown dims", lambda: NetInitialize(ParametricRampLayer()),
     NetInitializationError,
     r'cannot initialize the array "Slope": its dims are the input\'s dims at levels 1, and '
     r"the input's dims are not known\. Give them with the Input option"),
    ("initialize second arg", lambda: NetInitialize(VECTOR, "x"), NetSpecificationError,
     r"NetInitialize: the second argument should be Automatic, All or None"),
    ("initialize non-net", lambda: NetInitialize(3), NetSpecificationError,
     r"NetInitialize: the first argument should be a net"),
    ("initialize Method", lambda: NetInitialize(VECTOR, Method="Kaimin"), NetOptionError,
     r"Method should be one of Kaiming, .* but was 'Kaimin'\. Did you mean Kaiming\?"),
    ("initialize sub-option", lambda: NetInitialize(VECTOR, Method=("Xavier", {"Distrib": 1})),
     NetOptionError, r"Method Xavier has no sub-option 'Distrib'\. Did you mean Distribution\?"),
    ("initialize distribution", lambda: NetInitialize(VECTOR, Method=("Kaiming", {"Distribution": "Cauchy"})),
     NetOptionError, r'"Distribution" of Method Kaiming should be "Normal" or "Uniform"'),
    ("initialize seeding", lambda: NetInitialize(VECTOR, RandomSeeding=1.5), NetOptionError,
     r"RandomSeeding should be an integer, a string, Automatic or Inherited, but was 1\.5"),
    ("initialize option", lambda: NetInitialize(VECTOR, Methd="Xavier"), NetOptionError,
     r"NetInitialize: unknown option Methd\. Did you mean Method\?"),
    ("unknown property", lambda: Information(VECTOR, "ArrayCount"), NetSpecificationError,
     r"'ArrayCount' is not a property of ParametricRampLayer \(levels 1\)\. Did you mean "
     r"ArraysCount\? The properties are: Arrays, "),
    ("extract unknown", lambda: NetExtract(VECTOR, "Slop"), NetSpecificationError,
     r"NetExtract: ParametricRampLayer \(levels 1\) has no array or port 'Slop'\. Did you mean Slope\?"),
    ("evaluation option", lambda: VECTOR([1, 2, 3], Batchsize=2), NetOptionError,
     r"unknown option Batchsize\. Did you mean BatchSize\?"),
    ("BatchSize 0", lambda: VECTOR([1, 2, 3], BatchSize=0), NetOptionError,
     r"BatchSize should be Automatic or a positive integer, but was 0"),
    ("WorkingPrecision", lambda: VECTOR([1, 2, 3], WorkingPrecision="Real16"), NetOptionError,
     r'WorkingPrecision should be "Real32", "Real64" or "Mixed"'),
    ("TargetDevice", lambda: VECTOR([1, 2, 3], TargetDevice="TPU"), NetOptionError,
     r'TargetDevice should be "CPU", "GPU" or \("GPU", n\)'),
    ("module on wrong input", lambda: VECTOR.to_torch()(torch.zeros(2, 4)), NetShapeError,
     r"an input of shape \(2, 4\) \(batch first\) has dims \(4,\) at levels 1, but the slope has "
     r"dims \(3,\)"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_net_error(call, error, pattern):
    with pytest.raises(error, match=pattern) as caught:
        call()
    assert isinstance(caught.value, NetError) and isinstance(caught.value, ValueError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_without_cuda_says_so():
    with pytest.raises(NetOptionError, match=r'TargetDevice "GPU" needs a CUDA GPU, but torch sees none'):
        VECTOR([1, 2, 3], TargetDevice="GPU")


def test_errors_leave_the_net_untouched():
    before = repr(VECTOR)
    for bad in ([1, 2], [[1, "x", 3]], []):
        with pytest.raises(NetError):
            VECTOR(bad)
    assert repr(VECTOR) == before
    np.testing.assert_allclose(VECTOR([-1, 0, 1]), [-0.1, 0, 1], atol=1e-7)
