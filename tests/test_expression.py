"""Traced lambdas: ElementwiseLayer(lambda x: 2 * Tanh(x) + 1) as a value (an Expression)."""

import numpy as np
import pytest
import torch

from wlnet import Abs, ElementwiseLayer, Exp, LogisticSigmoid, NetError, Ramp, Tanh
from wlnet.functions import Expression, trace

FUNCTIONS = [
    lambda x: 2 * Tanh(x) + 1,
    lambda x: -x ** 2,
    lambda x: (-x) ** 2,
    lambda x: x - (x - 1),
    lambda x: x - 1 - x,
    lambda x: 1 / (1 + Exp(-x)),
    lambda x: 2 ** -x,
    lambda x: abs(x) * -2.5,
    lambda x: (x ** 2) ** 3,
    lambda x: x ** 2 ** 0.5,
    lambda x: Ramp(x) - 0.1 * Ramp(-x),
    lambda x: LogisticSigmoid(x) * x / 3,
]


@pytest.mark.parametrize("f", FUNCTIONS)
def test_traced_function_computes_prints_and_reads_back_as_the_lambda(f):
    expression = trace(f)
    assert isinstance(expression, Expression)
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    np.testing.assert_array_equal(expression(x).numpy(), f(x).numpy())
    again = eval(repr(expression), {"Tanh": Tanh, "Exp": Exp, "Ramp": Ramp, "Abs": Abs,
                                    "LogisticSigmoid": LogisticSigmoid})
    assert trace(again) == expression
    assert Expression.from_json(expression.to_json(), "test") == expression


def test_the_printed_form_uses_the_fewest_parentheses_python_needs():
    assert repr(trace(lambda x: 1 / (1 + Exp(-x)))) == "lambda x: 1 / (1 + Exp(-x))"
    assert repr(trace(lambda x: (-x) ** 2)) == "lambda x: (-x) ** 2"
    assert repr(trace(lambda x: abs(x) * -2.5)) == "lambda x: Abs(x) * -2.5"


def test_layers_with_the_same_traced_function_are_equal_and_their_repr_evaluates():
    a = ElementwiseLayer(lambda x: 2 * Tanh(x) + 1, Input=3)
    b = ElementwiseLayer(lambda y: 2 * Tanh(y) + 1, Input=3)
    assert a == b and hash(a) == hash(b)
    assert a != ElementwiseLayer(lambda x: 2 * Tanh(x) + 2, Input=3)
    assert repr(a) == "ElementwiseLayer(lambda x: 2 * Tanh(x) + 1, Input=3)"
    np.testing.assert_allclose(a([0.0, 1.0, -1.0]), [1.0, 2 * np.tanh(1.0) + 1, 1 - 2 * np.tanh(1.0)], rtol=1e-6)


def test_a_function_of_torch_calls_is_kept_as_given():
    f = lambda x: torch.tanh(x) * 2  # noqa: E731
    assert trace(f) is None
    assert ElementwiseLayer(f).function is f


def test_branching_on_the_argument_is_not_traced():
    assert trace(lambda x: x if x > 0 else -x) is None


@pytest.mark.parametrize("data, message", [
    (["Foo", "#"], "'Foo' is not a function wlnet knows"),
    (["Tanh", "#", "#"], "Tanh takes 1 argument"),
    (["Plus", 1.0, 2.0], "does not depend on its argument"),
    ({"a": 1}, "is not a part of a function"),
    (["Times", "#", float("nan")], "is not a part of a function"),
])
def test_bad_json_is_refused_with_what_is_wrong(data, message):
    with pytest.raises(NetError, match=message):
        Expression.from_json(data, "the file")
