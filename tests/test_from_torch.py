"""from_torch against the PyTorch modules it converts: outputs, gradients, multipliers, errors."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from wlnet import (
    ElementwiseLayer,
    FlattenLayer,
    Information,
    LinearLayer,
    NetChain,
    NetExtract,
    NetInitialize,
    ParametricRampLayer,
    Ramp,
    Tanh,
    from_torch,
)
from wlnet.convert import ACTIVATIONS
from wlnet.errors import NetOptionError, NetShapeError, NetSpecificationError
from wlnet.lower import with_arrays

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def prelu(num_parameters: int, seed: int = 0) -> nn.PReLU:
    """An nn.PReLU with random slopes, some negative, none 0.25."""
    module = nn.PReLU(num_parameters)
    with torch.no_grad():
        module.weight.copy_(torch.randn(num_parameters, generator=torch.Generator().manual_seed(seed)))
    return module


def random(*shape, seed=1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("num_parameters", "dims"), [(1, (3, 5)), (1, (3,)), (3, (3, 5)), (3, (3,))])
def test_prelu_computes_and_differentiates_as_pytorch(num_parameters, dims):
    module = prelu(num_parameters)
    net = from_torch(module, Input=dims)
    slope = NetExtract(net, "Slope")
    assert slope.shape == (() if num_parameters == 1 else (num_parameters,))
    np.testing.assert_array_equal(slope.reshape(-1), module.weight.detach().numpy())
    x = random(4, *dims)
    expected = module(x)
    torch.testing.assert_close(torch.as_tensor(net(x.numpy())), expected.detach(), **TOLERANCE)
    torch.testing.assert_close(net(x), expected.detach(), **TOLERANCE)  # a tensor in, a tensor out

    lowered = net.to_torch()
    x_torch, x_wlnet = x.clone().requires_grad_(), x.clone().requires_grad_()
    weights = random(4, *dims, seed=2)  # a loss that weighs every output differently
    (module(x_torch) * weights).sum().backward()
    out = lowered(x_wlnet)
    torch.testing.assert_close(out, expected, **TOLERANCE)
    (out * weights).sum().backward()
    torch.testing.assert_close(x_wlnet.grad, x_torch.grad, **TOLERANCE)
    assert list(lowered.state_dict()) == ["Slope"]
    torch.testing.assert_close(lowered.Slope.grad.reshape(-1), module.weight.grad, **TOLERANCE)


def test_prelu_levels_are_pytorchs_channel_dim():
    assert repr(from_torch(prelu(3))).startswith("ParametricRampLayer(1, Input=(3, ...), Slope=")
    assert repr(from_torch(prelu(1))).startswith("ParametricRampLayer([], Slope=")


def test_leaky_relu_is_a_frozen_shared_slope():
    net = from_torch(nn.LeakyReLU(0.2), Input=(2, 3))
    assert net == ParametricRampLayer([], Slope=0.2, LearningRateMultipliers=0, Input=(2, 3))
    x = random(5, 2, 3)
    torch.testing.assert_close(net(x), nn.LeakyReLU(0.2)(x), **TOLERANCE)
    assert not net.to_torch().Slope.requires_grad


@pytest.mark.parametrize("cls", list(ACTIVATIONS), ids=lambda cls: cls.__name__)
def test_activations_compute_as_pytorch(cls):
    module = cls()
    net = from_torch(module, Input=(2, 3))
    assert isinstance(net, ElementwiseLayer)
    x = random(4, 2, 3) * 3
    torch.testing.assert_close(net(x), module(x), **TOLERANCE)


def test_the_page_functions_are_the_symbols():
    assert from_torch(nn.ReLU()) == ElementwiseLayer(Ramp)
    assert from_torch(nn.Tanh()) == ElementwiseLayer(Tanh)


@pytest.mark.parametrize("module", [nn.ELU(alpha=0.5), nn.GELU(approximate="tanh"), nn.Softplus(beta=2),
                                    nn.Hardtanh(0, 1)], ids=repr)
def test_activations_with_other_settings_have_no_equivalent(module):
    with pytest.raises(NetSpecificationError, match=rf"from_torch: nn\.{type(module).__name__} has no wlnet "
                                                    r"equivalent: \w+=.*, but ElementwiseLayer"):
        from_torch(module)


def mlp(final: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 5), prelu(5), nn.Linear(5, 4), prelu(1, seed=3),
                         nn.Linear(4, 4), final, nn.Linear(4, 2), nn.Flatten())


@pytest.mark.parametrize("final", [nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.3)], ids=repr)
def test_an_mlp_computes_and_differentiates_as_pytorch(final):
    module = mlp(final)
    net = from_torch(module, Input=(2, 3))
    assert isinstance(net, NetChain) and Information(net, "OutputPorts") == {"Output": 2}
    x = random(7, 2, 3)
    expected = module(x)
    torch.testing.assert_close(net(x), expected.detach(), **TOLERANCE)
    lowered = net.to_torch()
    x_torch, x_wlnet = x.clone().requires_grad_(), x.clone().requires_grad_()
    module(x_torch).square().sum().backward()
    lowered(x_wlnet).square().sum().backward()
    torch.testing.assert_close(x_wlnet.grad, x_torch.grad, **TOLERANCE)
    trainable = [p for p in lowered.parameters() if p.requires_grad]  # LeakyReLU's slope is frozen
    assert len(trainable) == len(list(module.parameters()))
    for mine, theirs in zip(trainable, module.parameters()):
        torch.testing.assert_close(mine.grad.reshape(theirs.shape), theirs.grad, **TOLERANCE)


def test_a_nested_sequential_is_a_nested_chain():
    module = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Tanh(), nn.Linear(4, 2)))
    net = from_torch(module)
    assert isinstance(NetExtract(net, 2), NetChain)
    assert Information(net, "InputPorts") == {"Input": 3}  # nn.Linear takes vectors of in_features
    x = random(5, 3)
    torch.testing.assert_close(net(x), module(x), **TOLERANCE)


def test_named_parts_keep_their_names():
    module = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 2)), ("act", nn.ReLU())]))
    net = from_torch(module)
    np.testing.assert_array_equal(NetExtract(net, ["fc", "Weights"]), module.fc.weight.detach().numpy())
    assert list(net.to_torch().state_dict()) == ["fc.Weights", "fc.Biases"]


@pytest.mark.parametrize(("start", "end", "n"), [(1, -1, ()), (1, 2, (1,)), (1, 3, (2,)), (-2, -1, (-1,)),
                                                 (-3, -1, (-2,))])
def test_flatten_maps_to_flatten_layer(start, end, n):
    module = nn.Flatten(start, end)
    net = from_torch(module, Input=(2, 3, 4))
    assert net == FlattenLayer(*n, Input=(2, 3, 4))
    x = random(5, 2, 3, 4)
    torch.testing.assert_close(net(x), module(x))


def test_a_flatten_of_one_dim_and_identity_are_dropped():
    module = nn.Sequential(nn.Identity(), nn.Flatten(1, 1), nn.Linear(3, 2), nn.Identity())
    net = from_torch(module, Input=3)
    assert Information(net, "LayersCount") == 1
    x = random(4, 3)
    torch.testing.assert_close(net(x), module(x), **TOLERANCE)


@pytest.mark.parametrize("module", [nn.Identity(), nn.Sequential(nn.Identity(), nn.Flatten(1, 1))], ids=repr)
def test_a_module_that_computes_nothing_is_an_error(module):
    with pytest.raises(NetSpecificationError, match="computes nothing|has no module that computes something"):
        from_torch(module)


@pytest.mark.parametrize(("start", "end", "message"), [
    (0, -1, "include the batch axis"), (3, 2, r"start_dim 3 comes after end_dim 2"),
])
def test_flatten_without_equivalent_is_an_error(start, end, message):
    with pytest.raises(NetSpecificationError, match=rf"from_torch: nn\.Flatten has no wlnet equivalent: .*{message}"):
        from_torch(nn.Flatten(start, end))


def test_an_unsupported_module_names_its_type_and_position():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.ConvTranspose2d(1, 1, 1))
    pattern = (r"^from_torch: the module at position 3 \(nn\.ConvTranspose2d\) has no wlnet equivalent; supported: "
               r"nn\.PReLU, nn\.LeakyReLU, .*nn\.Linear, nn\.Flatten, nn\.Sequential")
    with pytest.raises(NetSpecificationError, match=pattern):
        from_torch(module)
    nested = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.LayerNorm(4), nn.ReLU()))
    with pytest.raises(NetSpecificationError, match=r"position \(2, 1\) \(nn\.LayerNorm\)"):
        from_torch(nested)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(3, 4)), ("norm", nn.GroupNorm(2, 4))]))
    with pytest.raises(NetSpecificationError, match=r"position 'norm' \(nn\.GroupNorm\)"):
        from_torch(named)


def test_a_subclass_is_refused_with_the_reason():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(NetSpecificationError, match=r"Doubled has no wlnet equivalent \(it is a subclass of ReLU"):
        from_torch(Doubled())


def test_a_net_graph_is_refused_with_the_way_to_its_arrays():
    from wlnet import NetGraph

    graph = NetInitialize(NetGraph({"a": LinearLayer(2), "b": Tanh}, [("a", "b")], Input=3))
    with pytest.raises(NetSpecificationError, match=r"torch form of a NetGraph.*with_arrays"):
        from_torch(graph.to_torch())


def test_not_a_module_is_an_error():
    with pytest.raises(NetSpecificationError, match="should be a torch.nn.Module, not str"):
        from_torch("ReLU")


@pytest.mark.parametrize("spec", ["foo", (0,), -1, (3, "Varying")], ids=repr)
def test_a_malformed_input_is_an_error(spec):
    with pytest.raises(NetSpecificationError, match=r'^from_torch: the "Input" option'):
        from_torch(nn.ReLU(), Input=spec)


def test_an_input_the_arrays_contradict_is_a_shape_error():
    with pytest.raises(NetShapeError, match=r"from_torch: Input=4 is a length-4 vector, but the converted net "
                                            r"\(LinearLayer .*\) takes a length-3 vector"):
        from_torch(nn.Linear(3, 2), Input=4)
    with pytest.raises(NetShapeError, match=r"from_torch: Input=5 is a length-5 vector, but the converted net .* "
                                            r"takes an array of dims \(3, …\)"):
        from_torch(prelu(3), Input=5)
    # nn.Linear maps the last dim, LinearLayer a whole example: only vectors convert.
    with pytest.raises(NetShapeError, match=r"takes a length-3 vector"):
        from_torch(nn.Linear(3, 2), Input=(2, 3))


def test_a_chain_whose_parts_do_not_fit_is_a_shape_error():
    with pytest.raises(NetShapeError, match=r"^from_torch: nn\.Sequential: NetChain: layer 1 .* outputs a "
                                            r"length-4 vector, but layer 2 .* needs a length-5 vector"):
        from_torch(nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)))


def test_unknown_options_are_refused():
    with pytest.raises(NetOptionError, match="unknown option input. Did you mean Input?"):
        from_torch(nn.ReLU(), input=3)


def test_requires_grad_false_freezes_the_layer():
    module = prelu(3)
    module.weight.requires_grad_(False)
    net = from_torch(module)
    assert Information(net, "ArraysLearningRateMultipliers") == {("Slope",): 0.0}
    linear = nn.Linear(3, 2).requires_grad_(False)
    assert set(Information(from_torch(linear), "ArraysLearningRateMultipliers").values()) == {0.0}


def test_a_layer_half_frozen_is_an_error():
    module = nn.Linear(3, 2)
    module.weight.requires_grad_(False)
    with pytest.raises(NetSpecificationError, match=r"nn\.Linear has no wlnet equivalent: its parameters have "
                                                    r"different learning-rate multipliers \(weight 0, bias 1"):
        from_torch(module)


def test_arrays_become_float32_copies():
    module = nn.Linear(3, 2).double()
    net = from_torch(module)
    weights = NetExtract(net, "Weights")
    assert weights.dtype == np.float32 and not weights.flags.writeable
    np.testing.assert_array_equal(weights, module.weight.detach().numpy().astype(np.float32))
    with torch.no_grad():
        module.weight.zero_()
    assert np.any(NetExtract(net, "Weights") != 0)  # a copy: the module's later changes stay its own


def test_without_input_the_arrays_fix_the_dims():
    net = from_torch(nn.Sequential(nn.Linear(3, 4), prelu(4)))
    assert Information(net, "InputPorts") == {"Input": 3}
    assert Information(net, "OutputPorts") == {"Output": 4}
    assert NetInitialize(net) is net  # already initialized


def test_trained_in_pytorch_and_back():
    net = NetChain({"lin": LinearLayer(3), "act": ParametricRampLayer(), "out": LinearLayer(2)}, Input=4)
    net = NetInitialize(net)
    module = net.to_torch()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        module(random(8, 4)).square().sum().backward()
        optimizer.step()
    back = from_torch(module, Input=4)
    assert back == with_arrays(net, module.state_dict()) and back != net
    x = random(5, 4, seed=4)
    torch.testing.assert_close(back(x), module(x).detach(), **TOLERANCE)


def test_multipliers_survive_the_round_trip():
    net = NetInitialize(NetChain([LinearLayer(3, LearningRateMultipliers=0.5), ParametricRampLayer()], Input=2))
    back = from_torch(net.to_torch(), Input=2)
    assert Information(back, "ArraysLearningRateMultipliers") == Information(net, "ArraysLearningRateMultipliers")
    assert back == net
