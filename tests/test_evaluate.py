"""Evaluation: single example versus batch, return types, precision, batching, devices."""

import numpy as np
import pytest
import torch

from wlnet import LinearLayer, LogisticSigmoid, NetChain, NetDecoder, NetInitialize, ParametricRampLayer
from wlnet.errors import NetOptionError, NetShapeError

VECTOR = ParametricRampLayer(Slope=[0.5, 0.25, 2.0], Input=3)


def test_one_example_and_a_batch():
    one = VECTOR([-2, 4, -1])
    assert one.shape == (3,) and one.dtype == np.float32
    assert one.tolist() == [-1.0, 4.0, -2.0]
    batch = VECTOR([[-2, 4, -1], [2, -4, 1]])
    assert batch.shape == (2, 3) and batch.tolist() == [[-1.0, 4.0, -2.0], [2.0, -1.0, 1.0]]


def test_numpy_and_torch_inputs():
    x = np.array([[-2.0, 4.0, -1.0]], dtype=np.float64)
    out = VECTOR(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    tensor = torch.tensor([[-2.0, 4.0, -1.0]], requires_grad=True)
    out_t = VECTOR(tensor)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    assert out_t.tolist() == [[-1.0, 4.0, -2.0]] and not out_t.requires_grad
    ints = VECTOR(torch.tensor([-2, 4, -1]))
    assert ints.dtype == torch.float32 and ints.tolist() == [-1.0, 4.0, -2.0]


def test_real64_computes_in_double():
    out = VECTOR([-0.1, 1, 1], WorkingPrecision="Real64")
    assert out.dtype == np.float64
    assert out[0] == np.float64(np.float32(0.5)) * -0.1  # the float32 slope, times a double


def test_batch_size_does_not_change_results():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 3))
    whole = VECTOR(x)
    for size in (1, 5, 36, 100):
        np.testing.assert_array_equal(VECTOR(x, BatchSize=size), whole)


def test_scalar_port_takes_any_list_as_a_batch():
    layer = ParametricRampLayer([], Slope=0.5, Input="Real")
    single = layer(-4)
    assert isinstance(single, np.float32) and single == -2.0
    assert layer([-4, 2, -2]).tolist() == [-2.0, 2.0, -1.0]


def test_jit_inference_tries_one_example_then_a_batch():
    shared = ParametricRampLayer([], Slope=0.5)
    assert shared([[1, -2], [-4, 2]]).shape == (2, 2)  # one 2×2 example
    per_level = ParametricRampLayer(Slope=[0.5, 0.25, 2.0])
    # As one example (dims (2, 3)) the slope would need length 2, so it is a batch of two vectors.
    assert per_level([[-2, -4, -1], [2, -4, 1]]).tolist() == [[-1.0, -1.0, -2.0], [2.0, -1.0, 1.0]]
    assert per_level([-2, -4, -1]).tolist() == [-1.0, -1.0, -2.0]


def test_partially_known_dims_are_inferred_from_data():
    layer = ParametricRampLayer(2, Slope=[1.0, 0.5], Input=(None, 2))
    assert layer([[-1, -1], [-2, -2], [3, 3]]).tolist() == [[-1, -0.5], [-2, -1], [3, 3]]


def test_varying_batch_keeps_each_length_and_order():
    layer = NetInitialize(ParametricRampLayer(2, Input=("Varying", 2)))
    data = [np.full((n, 2), -float(n)) for n in (3, 1, 3, 2)]
    out = layer(data)
    assert [o.shape for o in out] == [(3, 2), (1, 2), (3, 2), (2, 2)]
    for n, o in zip((3, 1, 3, 2), out):
        np.testing.assert_allclose(o, np.full((n, 2), -0.1 * n), rtol=1e-6)
    same_length = layer(np.full((2, 4, 2), -1.0))  # a rectangular batch of sequences
    assert same_length.shape == (2, 4, 2)


def test_results_do_not_alias_the_input():
    x = np.array([[-2.0, 4.0, -1.0]], dtype=np.float32)
    out = VECTOR(x)
    out[0, 0] = 100.0
    assert x[0, 0] == -2.0


def test_every_net_takes_a_dict_of_ports():
    data = [[-2, 4, -1], [1, -1, 0]]
    np.testing.assert_array_equal(VECTOR({"Input": data}), VECTOR(data))
    np.testing.assert_array_equal(VECTOR({"Input": data}, "Output"), VECTOR(data))


def test_raw_output_argument_none_is_accepted():
    assert VECTOR([-2, 4, -1], None).tolist() == [-1.0, 4.0, -2.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_evaluation_matches_cpu():
    x = np.random.default_rng(1).standard_normal((64, 3))
    np.testing.assert_allclose(VECTOR(x, TargetDevice="GPU"), VECTOR(x), rtol=1e-6)
    cuda_in = VECTOR(torch.tensor(x, device="cuda"))
    assert cuda_in.device.type == "cuda"


def _page_chain():
    from wlnet import LinearLayer, LogisticSigmoid, NetChain, NetDecoder

    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    chain = NetChain([LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Input="Real",
                     Output=NetDecoder("Boolean"))
    return NetInitialize(chain, RandomSeeding=5)


@pytest.fixture
def training_flags():
    """The ``training`` flag of every torch module that runs while the fixture is active."""
    seen = []
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: seen.append((type(module).__name__, module.training)))
    yield seen
    handle.remove()


@pytest.mark.parametrize(("options", "training"), [({}, False), ({"NetEvaluationMode": "Test"}, False),
                                                   ({"NetEvaluationMode": "Train"}, True)])
def test_net_evaluation_mode_reaches_every_module(training_flags, options, training):
    from wlnet import NetPortGradient

    chain = _page_chain()
    x = [1.0, 2.0, -3.0]
    np.testing.assert_array_equal(chain(x, None, **options), chain(x, None))  # no layer depends on the mode yet
    training_flags.clear()
    chain(x, **options)
    chain(x, NetPortGradient("Input"), **options)
    names = {name for name, _ in training_flags}
    assert {"Linear", "ParametricRamp"} <= names  # the chain's modules and its layers' ran
    assert {flag for _, flag in training_flags} == {training}


@pytest.mark.parametrize(("mode", "message"), [
    ("Training", r"the value of NetEvaluationMode should be \"Test\" or \"Train\", but was 'Training'\. "
                 r"Did you mean Train\?"),
    ("test", r"the value of NetEvaluationMode should be \"Test\" or \"Train\", but was 'test'\. Did you mean Test\?"),
    (True, r"the value of NetEvaluationMode should be \"Test\" or \"Train\", but was True\.$"),
    (None, r"the value of NetEvaluationMode should be \"Test\" or \"Train\", but was None\.$"),
])
def test_a_bad_net_evaluation_mode_is_wolframs_invnem(mode, message):
    from wlnet.errors import NetOptionError

    with pytest.raises(NetOptionError, match=r"^ParametricRampLayer \(levels 1\): " + message) as info:
        VECTOR([1, 2, 3], NetEvaluationMode=mode)
    assert info.value.code == "invnem"


def test_a_dict_of_ports_for_a_one_port_net():
    from wlnet.errors import NetDataError

    chain = _page_chain()
    assert chain({"Input": 2.0}) is chain(2.0)
    assert chain({"Input": [1.0, 2.0]}, None).tolist() == chain([1.0, 2.0], None).tolist()
    assert chain({"Input": 2.0}, "Probability") == chain(2.0, "Probability")
    with pytest.raises(NetDataError, match=r"^NetChain: the data gives no value for the input port 'Input'; give "
                                           r"a dict with every input port: 'Input'\.$") as info:
        chain({})
    assert info.value.code == "inpmiss"
    with pytest.raises(NetDataError, match=r'^NetChain: the data names a port "Inpt" that is not an input port\. '
                                           r"Did you mean Input\? The input ports are: Input\.$"):
        chain({"Inpt": 2.0})
    with pytest.raises(NetDataError, match=r'names a port "Target" that is not an input port'):
        chain({"Input": 2.0, "Target": True})


def test_decoder_properties_have_the_types_of_raw_outputs():
    chain = _page_chain()
    raw = chain(2.0, None)
    probability = chain(2.0, "Probability")
    assert type(raw) is np.float32 and type(probability) is np.float32 and probability == raw
    entropy = chain(2.0, "Entropy")
    p = np.float64(raw)
    assert type(entropy) is np.float32 and entropy == np.float32(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
    assert chain(2.0) is bool(raw >= 0.5)
    batch = [1.0, 2.0, 3.0, 4.0]
    raws = chain(batch, None)
    probabilities = chain(batch, "Probability")
    assert isinstance(probabilities, np.ndarray) and probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities, raws)
    assert chain(batch, "Entropy").dtype == np.float32 and chain(batch, "Entropy").shape == (4,)
    assert chain(batch) == [bool(r >= 0.5) for r in raws] and all(type(d) is bool for d in chain(batch))
    double = chain(2.0, "Probability", WorkingPrecision="Real64")
    assert type(double) is np.float64 and abs(double - raw) < 1e-6
    probabilities[0] = 5.0  # a result is the caller's: it does not alias a cache
    assert chain(batch, "Probability")[0] == raws[0]


# -- net(x) on an array of a shape seen before: straight to the module ------------------------------


def test_a_repeated_array_call_gives_what_the_full_path_gives():
    net = NetInitialize(NetChain([LinearLayer(4), ParametricRampLayer()], Input=3), RandomSeeding=7)
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)):
        first = net(x)  # the full path, which remembers the shape
        assert net._cache.get(("array call", x.shape)) is not None
        second = net(x)
        assert type(second) is type(first) and second.dtype == np.float32
        np.testing.assert_array_equal(second, first)
        expected = net.to_torch()(torch.from_numpy(np.atleast_2d(x))).detach().numpy()
        np.testing.assert_allclose(second, expected.reshape(first.shape), rtol=1e-6)
    # Other layouts and types of the same shape take the full path, with the same values.
    x = rng.standard_normal((3, 5)).astype(np.float32).T
    np.testing.assert_array_equal(net(x), net(np.ascontiguousarray(x)))
    np.testing.assert_allclose(net(x.astype(np.float64)), net(np.ascontiguousarray(x)), rtol=1e-6)
    frozen = np.ascontiguousarray(x)
    frozen.flags.writeable = False
    np.testing.assert_array_equal(net(frozen), net(np.ascontiguousarray(x)))


def test_array_calls_that_decode_or_specialize_are_not_remembered():
    boolean = NetInitialize(NetChain([LinearLayer([]), LogisticSigmoid], Input=2, Output=NetDecoder("Boolean")))
    x = np.array([[1.0, -1.0], [-3.0, 2.0]], np.float32)
    assert boolean(x) == boolean(x) and all(type(v) is bool for v in boolean(x))
    assert not any(key[0] == "array call" for key in boolean._cache._entries)
    open_rank = NetInitialize(ParametricRampLayer([], Slope=0.5))  # each shape specializes the net
    np.testing.assert_array_equal(open_rank(x), open_rank(x))
    np.testing.assert_array_equal(open_rank(x), np.where(x > 0, x, 0.5 * x))
    assert not any(key[0] == "array call" for key in open_rank._cache._entries)


def test_a_remembered_shape_still_checks_the_option_and_argument_forms():
    net = NetInitialize(ParametricRampLayer(1, Input=(2,)))
    x = np.array([[-1.0, 1.0]], np.float32)
    net(x)
    with pytest.raises(NetOptionError, match="NetEvaluationMode"):
        net(x, NetEvaluationMode="Tes")
    with pytest.raises(NetShapeError, match=r'the data for port "Input" should be a length-2 vector'):
        net(np.ones((1, 3), np.float32))
