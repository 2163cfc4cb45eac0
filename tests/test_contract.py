"""The contract every layer and container keeps, checked on every row of ``cases.CASES``.

Ports, NetInitialize, repr, evaluation, the lowering (``to_torch()``, its state dict and the way
back, ``from_torch``) and gradients. Nothing here is about one row: a new layer adds rows to ``cases.py``.
"""

import re
from urllib.parse import unquote

import numpy as np
import pytest
import torch

import wlnet
from cases import CASES
from wlnet import (
    Information,
    NetDecoder,
    NetEncoder,
    NetExtract,
    NetInitialize,
    NetPort,
    NetReplacePart,
    from_torch,
)
from wlnet.errors import NetSpecificationError
from wlnet.lower import path_key, with_arrays
from wlnet.nets.graph import Graph
from wlnet.types import port_spec

NAMESPACE = {**{name: getattr(wlnet, name) for name in wlnet.__all__}, "NetPort": NetPort}
REPR_MAX_ELEMENTS = 16  # arrays larger than this are summarized in a comment, not printed


def rows(test=None, *, where=lambda case: True):
    """The table's rows (those ``where`` accepts) as parameters of ``test``, a row's known bug for it
    as a strict xfail. Use as ``@rows`` or ``@rows(where=...)``."""
    def param(case, name):
        bug = case.known_bugs.get(name)
        return pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=bug, strict=True)] if bug else [])

    def parametrize(test):
        return pytest.mark.parametrize("case", [param(c, test.__name__) for c in CASES if where(c)])(test)

    return parametrize if test is None else parametrize(test)


def dims_spec(spec):
    """A port as Information "InputPorts"/"OutputPorts" gives it, as dims: a coder's are its array's."""
    return port_spec(spec.type) if isinstance(spec, (NetEncoder, NetDecoder)) else spec


def port_dims(spec, length=None) -> tuple:
    """An example's dims from a port (Information "InputPorts"/"OutputPorts"), "Varying" as ``length``."""
    spec = dims_spec(spec)
    assert spec is not wlnet.Automatic, "every row's ports should have known dims"
    if spec == "Real":
        return ()
    dims = (spec,) if isinstance(spec, int) else tuple(spec)
    return tuple(length if d == "Varying" else d for d in dims)


def outputs_of(net, result) -> dict:
    """A net's result as {output port: value}."""
    return result if isinstance(result, dict) else {Information(net, "OutputPortNames")[0]: result}


def is_sequences(data) -> bool:
    """Whether ``data`` is a batch of sequences of different lengths."""
    return isinstance(data, list) and all(np.ndim(x) > 0 for x in data) and len({len(x) for x in data}) > 1


def module_batches(net, data) -> list:
    """The data as the lowered module takes it: [(indices, [float32 tensor per input port])]. A batch
    of sequences is split by length (``indices`` then say which sequences); any other is one batch."""
    if is_sequences(data):
        lengths = sorted({len(x) for x in data})
        return [([i for i, x in enumerate(data) if len(x) == n],
                 [torch.tensor(np.stack([x for x in data if len(x) == n]), dtype=torch.float32)])
                for n in lengths]
    ports = Information(net, "InputPortNames")
    values = data if isinstance(data, dict) else {ports[0]: data}
    inputs = []
    for port in ports:
        coder = NetExtract(net, port)
        value = coder(values[port]) if isinstance(coder, NetEncoder) else values[port]
        inputs.append(torch.tensor(np.asarray(value, dtype=np.float32)))
    return [(None, inputs)]


def forward(module, net, inputs) -> dict:
    return outputs_of(net, module(*inputs))


def positions_and_keys(net):
    positions = Information(net, "ArraysPositionList")
    return list(zip(positions, [path_key(p) for p in positions]))


@rows
def test_inferred_port_dims_are_the_output_dims(case):
    net, data = case.net(), case.example()
    outputs = outputs_of(net, net(data, None))
    ports = Information(net, "OutputPorts")
    assert list(outputs) == list(ports)
    for port, spec in ports.items():
        if is_sequences(data):
            assert len(outputs[port]) == len(data), port
            for sequence, value in zip(data, outputs[port]):
                assert np.shape(value) == port_dims(spec, len(sequence)), port
        else:
            n = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
            assert np.shape(outputs[port]) == (n, *port_dims(spec)), port


@rows
def test_initialize_is_deterministic_and_keeps_an_initialized_net(case):
    net = case.net()
    bare = NetInitialize(net, None)
    assert all(value is wlnet.Automatic for value in Information(bare, "ArraysList"))
    assert NetInitialize(bare) == NetInitialize(NetInitialize(case.net(), None))  # two nets, built apart
    assert NetInitialize(net) is net


@rows
def test_repr_evaluates_to_an_equal_net(case):
    net = case.net()
    again = eval(repr(net), NAMESPACE)
    if all(np.size(a) <= REPR_MAX_ELEMENTS for a in Information(net, "ArraysList")):
        assert again == net and hash(again) == hash(net)
        assert repr(again) == repr(net)
    else:  # the arrays left out are named in the comment, which `again` (without them) lacks
        assert NetInitialize(again, None) == NetInitialize(net, None)
        assert repr(again).partition("  # ")[0] == repr(net).partition("  # ")[0]


@rows(where=lambda case: case.unlike is not None)
def test_a_net_that_differs_is_not_equal(case):
    assert case.net() != case.unlike()


@rows
def test_topology_hash_sees_everything_but_the_arrays_values(case):
    net = case.net()
    digest = Information(net, "TopologyHash")
    assert re.fullmatch("[0-9a-z]{1,13}", digest)  # a 64-bit hash in base 36, as Wolfram's
    assert Information(NetInitialize(net, None), "TopologyHash") == digest  # uninitialized
    other = with_arrays(net, {key: value + 1 for key, value in net.to_torch().state_dict().items()})
    assert other != net or not Information(net, "ArraysCount")  # other values
    assert Information(other, "TopologyHash") == digest
    assert Information(eval(repr(net), NAMESPACE), "TopologyHash") == digest
    if case.unlike is not None:
        assert Information(case.unlike(), "TopologyHash") != digest


@rows
def test_to_torch_computes_what_evaluation_does(case):
    net, data = case.net(), case.example()
    expected = outputs_of(net, net(data, None))
    module = net.to_torch()
    for indices, inputs in module_batches(net, data):
        with torch.no_grad():
            got = forward(module, net, inputs)
        for port, value in expected.items():
            want = np.stack([value[i] for i in indices]) if indices is not None else value
            torch.testing.assert_close(got[port], torch.as_tensor(want), msg=port)


@rows
def test_state_dict_keys_are_array_paths_and_values_the_arrays(case):
    net = case.net()
    state = net.to_torch().state_dict()
    assert list(state) == [key for _, key in positions_and_keys(net)]
    for position, key in positions_and_keys(net):
        assert [unquote(step) for step in key.split(".")] == [str(step) for step in position]
        array = NetExtract(net, [*position])
        value = state[key].numpy()
        assert value.dtype == array.dtype == np.float32 and value.shape == array.shape
        assert value.tobytes() == array.tobytes(), key


@rows
def test_with_arrays_takes_the_state_dict_back(case):
    net = case.net()
    state = net.to_torch().state_dict()
    assert with_arrays(net, state) == net
    perturbed = {key: value * 2 + 0.5 for key, value in state.items()}
    back = with_arrays(net, perturbed)
    assert (back == net) == (not state)
    for position, key in positions_and_keys(net):
        np.testing.assert_array_equal(NetExtract(back, [*position]), perturbed[key].numpy())


@rows
def test_backward_reaches_exactly_the_trainable_arrays(case):
    net = case.net()
    module = net.to_torch()
    _, inputs = module_batches(net, case.example())[0]
    inputs = [x.requires_grad_() for x in inputs]
    sum(value.sum() for value in forward(module, net, inputs).values()).backward()
    multipliers = Information(net, "ArraysLearningRateMultipliers")
    parameters = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    for position, key in positions_and_keys(net):
        if key in buffers:  # an array no gradient trains (moving statistics): a buffer, never a parameter
            assert key not in parameters and not buffers[key].requires_grad and buffers[key].grad is None, key
            continue
        trainable = multipliers[position] != 0
        assert parameters[key].requires_grad == trainable, key
        assert (parameters[key].grad is not None) == trainable, key


@rows
def test_gradcheck_float64(case):
    net = case.net()
    module = net.to_torch().double()
    _, inputs = module_batches(net, case.example())[0]
    inputs = [x[:2].double() for x in inputs]
    inputs = [torch.where(x == 0, 0.1, x + 0.1 * torch.sign(x)).requires_grad_() for x in inputs]  # off kinks
    state = {key: value.double().requires_grad_() for key, value in module.state_dict().items()}
    keys = list(state)

    def f(*args):
        arrays = dict(zip(keys, args[len(inputs):]))
        result = torch.func.functional_call(module, arrays, tuple(args[:len(inputs)]))
        return tuple(outputs_of(net, result).values())

    assert torch.autograd.gradcheck(f, (*inputs, *state.values()))


@rows
def test_arrays_count_is_the_state_dict_length(case):
    net = case.net()
    assert Information(net, "ArraysCount") == len(net.to_torch().state_dict())


def same_outputs(a, b) -> bool:
    """Whether two results (arrays, lists of sequences, decoded values, dicts of them) are equal bit for bit."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_outputs(a[k], b[k]) for k in a)
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return len(a) == len(b) and all(same_outputs(x, y) for x, y in zip(a, b))
    return np.asarray(a).tobytes() == np.asarray(b).tobytes() and np.shape(a) == np.shape(b)


@rows
@pytest.mark.parametrize("initialized", [True, False], ids=["initialized", "uninitialized"])
def test_export_import_gives_back_an_equal_net(case, initialized, tmp_path):
    net = case.net() if initialized else NetInitialize(case.net(), None)
    path = wlnet.Export(tmp_path / "net.safetensors", net)
    back = wlnet.Import(path)
    assert back == net and hash(back) == hash(net) and repr(back) == repr(net)
    assert wlnet.Import(path, "UninitializedNet") == NetInitialize(net, None)
    assert wlnet.ImportByteArray(wlnet.ExportByteArray(net)) == net
    for got, want in zip(wlnet.Import(path, "ArrayList"), Information(net, "ArraysList")):
        assert (got is None) == (want is wlnet.Automatic)
        assert got is None or (got.dtype == want.dtype and got.tobytes() == want.tobytes())
    if initialized:
        data = case.example()
        for precision in ("Real32", "Real64"):
            assert same_outputs(back(data, WorkingPrecision=precision), net(data, WorkingPrecision=precision))


def without_coders(net):
    """``net`` with every NetEncoder and NetDecoder replaced by its port's dims (what ``to_torch()`` keeps)."""
    ports = {**Information(net, "InputPorts"), **Information(net, "OutputPorts")}
    for port, spec in ports.items():
        if isinstance(spec, (NetEncoder, NetDecoder)):
            net = NetReplacePart(net, port, dims_spec(spec))
    return net


@rows
def test_from_torch_of_to_torch_gives_the_net_back(case):
    net, data = case.net(), case.example()
    module = net.to_torch()
    if any(isinstance(m, Graph) for m in module.modules()):
        with pytest.raises(NetSpecificationError, match="torch form of a NetGraph"):
            from_torch(module)
        return
    ports = Information(net, "InputPorts")
    if len(ports) == 1:
        (spec,) = ports.values()
        back = from_torch(module, Input=dims_spec(spec))
    else:  # a layer of several input ports (TotalLayer, CatenateLayer): Input= is one port's, so port by port
        back = from_torch(module)
        for port, spec in ports.items():
            back = NetReplacePart(back, port, dims_spec(spec))
    assert back == without_coders(net)  # same layers, dims, bit-identical arrays and multipliers
    again = back.to_torch()
    for _, inputs in module_batches(net, data):
        with torch.no_grad():
            want = forward(module, net, inputs)
            got = forward(again, back, inputs)
            direct = outputs_of(back, back(inputs[0] if len(inputs) == 1 else dict(zip(ports, inputs))))
        for port, value in want.items():
            torch.testing.assert_close(got[port], value, msg=port)
            torch.testing.assert_close(direct[port], value, msg=port)
