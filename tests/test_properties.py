"""Property-based tests (hypothesis): evaluation and shape inference against NumPy, NetExtract and
NetReplacePart round trips, save/load round trips, and a fuzz of Import on mutated net files.

Bounded: each test has a small ``max_examples`` and no deadline, so the file runs in seconds.
"""

import hashlib
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netfiles import joined, split
from wlnet import (
    All,
    Automatic,
    ExportByteArray,
    ImportByteArray,
    Information,
    LinearLayer,
    NetChain,
    NetError,
    NetExtract,
    NetInitialize,
    NetReplacePart,
    ParametricRampLayer,
    Span,
)
from wlnet.errors import NetShapeError, NetSpecificationError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dims_st = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
level_st = st.integers(-5, 5).filter(lambda n: n != 0)


def span_of(start, stop):
    return Span(start, All if stop is None else stop)


levels_st = st.one_of(
    level_st,
    st.builds(span_of, level_st, st.one_of(st.none(), level_st)),
    st.lists(level_st, max_size=3, unique=True),
)


def reference_axes(levels, rank):
    """The 0-based axes NumPy indexing selects for ``levels`` on an example of ``rank``, or None
    when the combination is invalid: the oracle, written independently of wlnet."""
    def axis(level):
        a = level - 1 if level > 0 else rank + level
        return a if 0 <= a < rank else None

    if isinstance(levels, Span):
        start = axis(levels.start)
        stop = rank - 1 if not isinstance(levels.stop, int) else axis(levels.stop)
        if start is None or stop is None or start > stop:
            return None
        return list(range(start, stop + 1))
    if isinstance(levels, list):
        axes = [axis(level) for level in levels]
        if None in axes or len(set(axes)) != len(axes):
            return None
        return sorted(axes)
    a = axis(levels)
    return None if a is None else [a]


def empty_for_any_rank(levels) -> bool:
    """A Span between two levels counted from the same end, start after stop: wrong whatever the
    input (a NetSpecificationError at construction); other invalid levels depend on the rank."""
    return (isinstance(levels, Span) and isinstance(levels.stop, int)
            and (levels.start > 0) == (levels.stop > 0) and levels.start > levels.stop)


# -- (a) evaluation against NumPy ------------------------------------------------------------
@FAST
@given(levels=levels_st, dims=dims_st, batch=st.integers(1, 3), data=st.data())
def test_evaluation_matches_numpy(levels, dims, batch, data):
    axes = reference_axes(levels, len(dims))
    if axes is None:
        with pytest.raises(NetSpecificationError if empty_for_any_rank(levels) else NetShapeError):
            ParametricRampLayer(levels, Input=dims)
        return
    slope_dims = tuple(dims[a] for a in axes)
    elements = st.floats(-4, 4, width=32, allow_subnormal=False)
    slope = data.draw(st.lists(elements, min_size=int(np.prod(slope_dims, dtype=int)),
                               max_size=int(np.prod(slope_dims, dtype=int))))
    slope = np.array(slope, dtype=np.float32).reshape(slope_dims)
    x = np.array(data.draw(st.lists(elements, min_size=batch * int(np.prod(dims)),
                                    max_size=batch * int(np.prod(dims)))), dtype=np.float32)
    x = x.reshape((batch, *dims))
    net = ParametricRampLayer(levels, Slope=slope, Input=dims)
    view = [1] * (len(dims) + 1)
    for axis, size in zip(axes, slope_dims):
        view[axis + 1] = size
    expected = np.where(x > 0, x, slope.reshape(view) * x)
    np.testing.assert_array_equal(net(x), expected)


# -- (d) shape inference against NumPy ---------------------------------------------------------
@FAST
@given(levels=levels_st, dims=dims_st)
def test_arrays_dimensions_are_the_input_dims_at_the_levels(levels, dims):
    axes = reference_axes(levels, len(dims))
    if axes is None:
        with pytest.raises(NetSpecificationError if empty_for_any_rank(levels) else NetShapeError):
            NetInitialize(ParametricRampLayer(levels, Input=dims))
        return
    net = NetInitialize(ParametricRampLayer(levels, Input=dims))
    expected = np.zeros(dims)[tuple(slice(None) if a in axes else 0 for a in range(len(dims)))].shape
    assert Information(net, "ArraysDimensions") == {("Slope",): expected}


# -- (b) NetExtract / NetReplacePart round trips ------------------------------------------------
nets_st = st.sampled_from([
    NetInitialize(ParametricRampLayer(Input=(2, 3))),
    NetInitialize(ParametricRampLayer(Span(1, 2), Input=(2, 3))),
    NetInitialize(NetChain([LinearLayer(3), ParametricRampLayer([-1]), LinearLayer(2)], Input=4)),
    NetInitialize(LinearLayer((2, 2), Input=3)),
])
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@FAST
@given(net=nets_st, data=st.data())
def test_replacing_an_array_by_its_value_or_a_random_one(net, data):
    positions = Information(net, "ArraysPositionList")
    position = list(data.draw(st.sampled_from(positions)))
    old = NetExtract(net, position)
    assert NetReplacePart(net, position, old) == net
    assert NetReplacePart(net, position, old.copy()) == net
    values = data.draw(st.lists(finite32, min_size=old.size, max_size=old.size))
    new = np.array(values, dtype=np.float32).reshape(old.shape)
    replaced = NetReplacePart(net, position, new)
    back = NetExtract(replaced, position)
    assert back.tobytes() == new.tobytes()  # bit for bit, -0.0 and subnormals included
    others = [p for p in positions if list(p) != position]
    for other in others:
        assert NetExtract(replaced, list(other)).tobytes() == NetExtract(net, list(other)).tobytes()


# -- (c) save/load round trips --------------------------------------------------------------------
@st.composite
def saved_nets(draw):
    kind = draw(st.sampled_from(["ramp", "linear", "chain"]))
    dims = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple))
    if kind == "ramp":
        levels = draw(levels_st)
        if reference_axes(levels, len(dims)) is None:
            levels = []
        net = ParametricRampLayer(levels, Input=dims, LearningRateMultipliers=draw(st.sampled_from([1, 0, 0.5])))
    elif kind == "linear":
        net = LinearLayer(draw(st.integers(1, 3)), Input=dims, Biases=draw(st.sampled_from([None, Automatic])))
    else:
        net = NetChain([LinearLayer(draw(st.integers(1, 3))), ParametricRampLayer()], Input=dims)
    if draw(st.booleans()):
        net = NetInitialize(net, RandomSeeding=draw(st.integers(0, 2**31)))
    return net


@FAST
@given(net=saved_nets())
def test_save_and_load_give_an_equal_net(net):
    back = ImportByteArray(ExportByteArray(net))
    assert back == net
    assert repr(back) == repr(net)


# -- (e) a fuzz of Import on mutated net files ---------------------------------------------------
FUZZ_NETS = [
    NetInitialize(NetChain([LinearLayer(2), ParametricRampLayer()], Input=3)),
    NetChain([LinearLayer(2), ParametricRampLayer(Span(1, 1))], Input=3),
    NetInitialize(ParametricRampLayer([], Slope=0.5)),
]
FILES = [ExportByteArray(net) for net in FUZZ_NETS]



json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def mutate(value, path: list[int], replacement):
    """``value`` (JSON) with the node that ``path`` leads to replaced (each step chooses a child)."""
    if not path or not isinstance(value, (list, dict)) or not value:
        return replacement
    keys = list(range(len(value))) if isinstance(value, list) else list(value)
    key = keys[path[0] % len(keys)]
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[key] = mutate(value[key], path[1:], replacement)
    return copy


def only_net_errors(data: bytes, original) -> None:
    try:
        back = ImportByteArray(data)
    except NetError:
        return
    assert isinstance(back, type(original))


FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@FUZZ
@given(which=st.integers(0, len(FILES) - 1), path=st.lists(st.integers(0, 50), max_size=6), value=json_values)
def test_a_mutated_description_with_its_checksum_gives_a_net_error(which, path, value):
    header, body = split(FILES[which])
    description = json.loads(header["__metadata__"]["wlnet"])
    text = json.dumps(mutate(description, path, value))
    header["__metadata__"].update({"wlnet": text, "wlnet.sha256": hashlib.sha256(text.encode()).hexdigest()})
    only_net_errors(joined(header, body), FUZZ_NETS[which])


@FUZZ
@given(which=st.integers(0, len(FILES) - 1), path=st.lists(st.integers(0, 50), max_size=4), value=json_values)
def test_a_mutated_safetensors_header_gives_a_net_error(which, path, value):
    header, body = split(FILES[which])
    only_net_errors(joined(mutate(header, path, value), body), FUZZ_NETS[which])


@FUZZ
@given(which=st.integers(0, len(FILES) - 1), values=st.lists(st.floats(width=32), min_size=1, max_size=8),
       start=st.integers(0, 100))
def test_arrays_rewritten_with_their_checksums_load_or_give_a_net_error(which, values, start):
    """Array bytes replaced by any float32 (NaN, inf included) with the checksums made to match:
    the file is well formed, so it loads, or the values are refused (non-finite) with a NetError."""
    header, body = split(FILES[which])
    if not body:
        return
    body = bytearray(body)
    patch = np.array(values, dtype=np.float32).tobytes()
    offset = (start * 4) % len(body)
    body[offset:offset + len(patch)] = patch[:len(body) - offset]
    description = json.loads(header["__metadata__"]["wlnet"])
    for entry in description["Arrays"]:
        begin, end = header[entry["Key"]]["data_offsets"]
        entry["SHA256"] = hashlib.sha256(bytes(body[begin:end])).hexdigest()
    text = json.dumps(description)
    header["__metadata__"].update({"wlnet": text, "wlnet.sha256": hashlib.sha256(text.encode()).hexdigest()})
    try:
        back = ImportByteArray(joined(header, bytes(body)))
    except NetError as error:
        assert "finite" in str(error)
        return
    assert isinstance(back, type(FUZZ_NETS[which]))


@FUZZ
@given(which=st.integers(0, len(FILES) - 1), junk=st.binary(max_size=64), where=st.integers(0, 10**6))
def test_spliced_bytes_give_a_net_error(which, junk, where):
    data = FILES[which]
    cut = where % (len(data) + 1)
    only_net_errors(data[:cut] + junk + data[cut:], FUZZ_NETS[which])
