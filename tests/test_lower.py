"""The lowering contract: keys, the way back, multipliers, and the module in PyTorch's own tools."""

import urllib.parse

import numpy as np
import pytest
import torch

from wlnet import (
    Automatic,
    LinearLayer,
    NetChain,
    NetExtract,
    NetGraph,
    NetInitialize,
    NetTrain,
    ParametricRampLayer,
    Span,
)
from wlnet.errors import NetInitializationError, NetShapeError, NetSpecificationError
from wlnet.lower import array_multipliers, key_step, lower, path_key, with_arrays

MLP = NetInitialize(NetChain([LinearLayer(4), ParametricRampLayer(), LinearLayer(2)], Input=3))


@pytest.mark.parametrize(
    ("step", "written"),
    [(2, "2"), ("ramp", "ramp"), ("Slope", "Slope"), ("block.1", "block%2E1"), ("50%", "50%25"),
     ("a.%2E", "a%2E%252E"), ("forward", "%66orward"), ("train", "%74rain"), ("plan", "%70lan")],
)
def test_a_key_step_is_the_name_percent_encoded_where_it_must_be(step, written):
    assert key_step(step) == written
    assert urllib.parse.unquote(written) == str(step)  # ordinary percent-decoding gives the name back


def test_path_keys_join_steps_with_dots():
    assert path_key(("Slope",)) == "Slope"
    assert path_key((2, 1, "Slope")) == "2.1.Slope"
    assert path_key(("my.block", "Weights")) == "my%2Eblock.Weights"


def test_state_dict_keys_are_the_array_paths_and_the_values_the_arrays():
    state = MLP.to_torch().state_dict()
    assert list(state) == ["1.Weights", "1.Biases", "2.Slope", "3.Weights", "3.Biases"]
    for key, value in state.items():
        position = [int(step) if step.isdigit() else step for step in key.split(".")]
        np.testing.assert_array_equal(value.numpy(), NetExtract(MLP, position))


def test_names_that_hold_dots_or_shadow_module_attributes_lower_and_come_back():
    net = NetInitialize(NetChain({"block.1": LinearLayer(3), "forward": ParametricRampLayer()}, Input=2))
    module = net.to_torch()
    assert list(module.state_dict()) == ["block%2E1.Weights", "block%2E1.Biases", "%66orward.Slope"]
    assert module.get_submodule("%66orward").slope.shape == (3,)
    x = torch.randn(5, 2)
    torch.testing.assert_close(module(x), net(x))
    assert with_arrays(net, module.state_dict()) == net


def test_graph_layer_names_may_hold_dots_but_not_be_empty():
    graph = NetInitialize(NetGraph({"enc.0": LinearLayer(3), "act.0": ParametricRampLayer()},
                                   [("enc.0", "act.0")], Input=2))
    assert list(graph.to_torch().state_dict()) == ["enc%2E0.Weights", "enc%2E0.Biases", "act%2E0.Slope"]
    assert NetExtract(graph, ["act.0", "Slope"]).shape == (3,)
    for container in (NetChain, NetGraph):
        with pytest.raises(NetSpecificationError, match=r"a layer name cannot be empty"):
            container({"": LinearLayer(3)})


def test_load_state_dict_between_lowered_modules_and_back_to_the_net():
    source = NetInitialize(MLP, None)  # the same structure, uninitialized
    trained = NetTrain(MLP, (np.ones((8, 3)), np.zeros((8, 2))), MaxTrainingRounds=2, RandomSeeding=1)
    module = MLP.to_torch()
    module.load_state_dict(trained.to_torch().state_dict())
    back = with_arrays(source, module.state_dict())
    assert back == trained
    x = torch.randn(4, 3)
    torch.testing.assert_close(module(x), trained.to_torch()(x))


def test_with_arrays_accepts_numpy_lists_and_automatic_and_checks_every_key():
    layer = ParametricRampLayer(Span(1, 2), Input=(2, 3, 4))
    initialized = with_arrays(layer, {"Slope": np.full((2, 3), 0.5)})
    slope = NetExtract(initialized, "Slope")
    assert slope.dtype == np.float32 and not slope.flags.writeable
    assert with_arrays(initialized, {"Slope": Automatic}) == layer
    half = with_arrays(MLP, {"2.Slope": torch.tensor([1.0, 2, 3, 4], dtype=torch.float64)}, partial=True)
    assert NetExtract(half, [2, "Slope"]).tolist() == [1, 2, 3, 4]
    assert NetExtract(half, [1, "Weights"]) is NetExtract(MLP, [1, "Weights"])  # untouched arrays are shared
    state = MLP.to_torch().state_dict()
    with pytest.raises(NetSpecificationError, match=r"NetChain: no value is given for the array '3\.Biases'"):
        with_arrays(MLP, {k: v for k, v in state.items() if k != "3.Biases"})
    with pytest.raises(NetSpecificationError, match=r"'2\.slope' is not an array of the net\. Did you mean 2\.Slope\?"):
        with_arrays(MLP, {**state, "2.slope": state["2.Slope"]})
    with pytest.raises(NetShapeError, match=r'"2\.Slope" has dims \(4,\), but the value given has dims \(3,\)'):
        with_arrays(MLP, {**state, "2.Slope": torch.ones(3)})
    with pytest.raises(NetSpecificationError, match=r'the value for the array "2\.Slope" should be a real number'):
        with_arrays(MLP, {**state, "2.Slope": "fast"})


def test_lowering_needs_every_array_and_checks_the_contract():
    with pytest.raises(NetInitializationError, match=r'cannot lower the net to torch: the array "Weights" of layer 1'):
        lower(NetChain([LinearLayer(2), ParametricRampLayer()], Input=3))

    class Misnamed(ParametricRampLayer):
        def _torch_module(self):
            module = torch.nn.Module()
            module.slope = torch.nn.Parameter(torch.zeros(3))
            return module

    with pytest.raises(RuntimeError, match=r"state_dict keys \['slope'\] are not the array paths \['Slope'\]"):
        lower(Misnamed(Slope=[1, 2, 3]))


def test_multipliers_are_decided_in_one_place():
    net = NetChain([LinearLayer(2, LearningRateMultipliers=0.5), ParametricRampLayer(LearningRateMultipliers=0),
                    LinearLayer(1)], Input=2)
    assert array_multipliers(net) == {(1, "Weights"): 0.5, (1, "Biases"): 0.5, (2, "Slope"): 0.0,
                                      (3, "Weights"): 1.0, (3, "Biases"): 1.0}
    ruled = array_multipliers(net, {(1, "Biases"): 2, 3: None})  # rules first, then the layer's own, then 1
    assert ruled == {(1, "Weights"): 0.5, (1, "Biases"): 2.0, (2, "Slope"): 0.0, (3, "Weights"): 0.0,
                     (3, "Biases"): 0.0}
    module = lower(NetInitialize(net), ruled)
    assert {k: (p.requires_grad, p.lr_multiplier) for k, p in module.named_parameters()} == {
        "1.Weights": (True, 0.5), "1.Biases": (True, 2.0), "2.Slope": (False, 0.0),
        "3.Weights": (False, 0.0), "3.Biases": (False, 0.0)}


BIG = NetInitialize(ParametricRampLayer([1, 3], Input=(16, 8, 32)))  # 2 x 4096 elements: the fused kernels


# Dynamo's own handling of autograd.Function warns inside torch; that is not ours to fix.
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
def test_torch_compile_gives_the_eager_values_and_gradients():
    module = BIG.to_torch()
    compiled = torch.compile(BIG.to_torch(), backend="eager")
    x = torch.randn(20, 16, 8, 32)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = module(xa), compiled(xb)
    torch.testing.assert_close(b, a, rtol=0, atol=0)
    a.square().sum().backward()
    b.square().sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=0, atol=0)
    torch.testing.assert_close(compiled.get_parameter("Slope").grad, module.Slope.grad)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.jit._trace")  # deprecated, still used
def test_torch_jit_trace_and_export_replay_the_module():
    module = BIG.to_torch().eval()
    x, other = torch.randn(20, 16, 8, 32), torch.randn(20, 16, 8, 32)
    traced = torch.jit.trace(module, x)
    torch.testing.assert_close(traced(other), module(other), rtol=0, atol=0)
    exported = torch.export.export(module, (x,))
    torch.testing.assert_close(exported.module()(other), module(other), rtol=0, atol=0)
    chain = MLP.to_torch().eval()
    small = torch.randn(5, 3)
    torch.testing.assert_close(torch.jit.trace(chain, small)(small + 1), chain(small + 1))


def test_with_arrays_rounds_computed_values_too_small_for_float32_only_when_asked():
    net = ParametricRampLayer([], Slope=0.5)
    with pytest.raises(NetSpecificationError, match="too small for float32"):
        with_arrays(net, {"Slope": torch.tensor(1e-50, dtype=torch.float64)})
    rounded = with_arrays(net, {"Slope": torch.tensor(1e-50, dtype=torch.float64)}, rounding=True)
    assert NetExtract(rounded, "Slope") == 0.0
