"""The ADAM update against a NumPy transcription of MXNet's rule, on both of its code paths
(torch's fused kernel, used when it applies, and the ``_foreach`` one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wlnet.optimizers import Optimizer, parse_method


def numpy_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-5, l2=0.0, clip=None):
    """MXNet's ADAM in float64: ``w <- w - lr sqrt(1 - b2^t)/(1 - b1^t) m / (sqrt(v) + eps)``."""
    w = w.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g + l2 * w
        if clip is not None:
            g = np.clip(g, -clip, clip)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def run_optimizer(weights, grads, lrs, fused, l2=None, clip=None):
    params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in weights]
    method, settings = parse_method("ADAM")
    n = len(params)
    optimizer = Optimizer(method, settings, params, lrs, l2 or [None] * n, clip or [None] * n, [None] * n)
    assert (optimizer._fused_groups is not None) == hasattr(torch, "_fused_adam_")
    if not fused:
        optimizer._fused_groups = None
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g, dtype=torch.float32)
        optimizer.step()
    return [p.detach().numpy() for p in params], optimizer


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "foreach"])
def test_adam_follows_the_mxnet_rule_with_per_array_rates_l2_and_clipping(fused):
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(3, 4)), rng.normal(size=5), rng.normal(size=2)]
    grads = [[rng.normal(size=w.shape) * 10 ** rng.uniform(-6, 1) for w in weights] for _ in range(7)]
    lrs = [1e-2, -3e-3, 1e-2]  # a negative rate is gradient ascent; two arrays share a rate
    l2, clip = [None, 0.5, None], [None, None, 0.1]
    got, optimizer = run_optimizer(weights, grads, lrs, fused, l2, clip)
    for i, w in enumerate(weights):
        expected = numpy_adam(w, [g[i] for g in grads], lrs[i], l2=l2[i] or 0.0, clip=clip[i])
        np.testing.assert_allclose(got[i], expected, rtol=2e-6, atol=2e-7)
    assert optimizer.t == 7


def test_the_fused_and_foreach_adam_paths_agree_to_rounding():
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=(8, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)]
    grads = [[rng.normal(size=w.shape) for w in weights] for _ in range(20)]
    fused, _ = run_optimizer(weights, grads, [1e-3, 5e-4], fused=True)
    foreach, _ = run_optimizer(weights, grads, [1e-3, 5e-4], fused=False)
    for a, b in zip(fused, foreach):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert not np.array_equal(a, weights[0] if a.shape == weights[0].shape else weights[1])
