"""Port types of unknown rank with known leading dims: ``(3, ...)``, and their unification."""

from __future__ import annotations

import numpy as np
import pytest

from wlnet import Automatic, NetChain, NetInitialize, ParametricRampLayer
from wlnet.errors import NetShapeError
from wlnet.types import TensorT, describe, parse_port, port_spec, unify


def test_leading_dims_parse_print_and_describe():
    t = parse_port((Automatic, 3, ...), "Input")
    assert t == TensorT(None, (None, 3)) and t.rank is None and not t.known
    assert port_spec(t) == (Automatic, 3, ...)
    assert describe(t) == "an array of dims (n, 3, …)"
    assert repr(t) == "TensorT(dims=None, leading=(None, 3))"


@pytest.mark.parametrize(("a", "b", "expected"), [
    (TensorT(None, (3,)), TensorT((3, 4)), TensorT((3, 4))),
    (TensorT(None, (None, 4)), TensorT((2, None, 5)), TensorT((2, 4, 5))),
    (TensorT(None, (3,)), TensorT(None, (None, 4)), TensorT(None, (3, 4))),
    (TensorT(None, (3,)), TensorT(None), TensorT(None, (3,))),
    (TensorT(None, ("Varying",)), TensorT((7, 2)), TensorT((7, 2))),
])
def test_unify_fills_in_leading_dims(a, b, expected):
    assert unify(a, b, "here") == expected
    assert unify(b, a, "here") == expected


@pytest.mark.parametrize(("a", "b", "message"), [
    (TensorT(None, (3,)), TensorT((4, 2)), r"here: an array of dims \(3, …\) is inconsistent with a 4×2 matrix"),
    (TensorT(None, (None, 3)), TensorT((3,)), r"an array of dims \(n, 3, …\) is inconsistent with a length-3 vector"),
    (TensorT(None, (3,)), TensorT(()), r"inconsistent with a real number"),
    (TensorT(None, (3, 2)), TensorT(None, (3, 5)), r"\(3, 2, …\) is inconsistent with an array of dims \(3, 5, …\)"),
])
def test_unify_rejects_what_the_leading_dims_forbid(a, b, message):
    with pytest.raises(NetShapeError, match=message):
        unify(a, b, "here")


def test_leading_dims_give_the_slope_its_dims_before_the_rank_is_known():
    layer = NetInitialize(ParametricRampLayer(1, Input=(3, ...)))
    assert layer._array_dims("Slope") == (3,)
    x = np.array([[-1.0, 2.0], [3.0, -4.0], [-5.0, 6.0]], np.float32)
    np.testing.assert_allclose(layer(x), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    np.testing.assert_allclose(layer(x[:, 0]), np.where(x[:, 0] > 0, x[:, 0], 0.1 * x[:, 0]), rtol=1e-6)
    with pytest.raises(NetShapeError, match=r"an array of dims \(3, …\) is inconsistent with a length-2 vector"):
        layer(np.ones(2, np.float32))


def test_a_slope_given_alone_meets_its_neighbours_shapes():
    assert NetChain([ParametricRampLayer(2, Slope=[1, 2]), ParametricRampLayer([], Input=(5, 2, 7))])._input_types() \
        == {"Input": TensorT((5, 2, 7))}
    with pytest.raises(NetShapeError, match=r"layer 1 .* outputs an array of dims \(n, 2, …\), but layer 2 .* needs"):
        NetChain([ParametricRampLayer(2, Slope=[1, 2]), ParametricRampLayer([], Input=(5, 3))])
    with pytest.raises(NetShapeError, match=r'port "Input" and the given "Slope": an array of dims \(4, …\)'):
        ParametricRampLayer(Slope=[0.1, 0.2, 0.3], Input=(4, ...))
