"""NetTrain's overhead over a hand-written PyTorch loop, measured in one run.

Same model (the net's own lowering), same data, same batch size, the same optimizer update (ADAM),
same number of epochs. Cases: a 3-layer MLP with a ParametricRampLayer on 10^5 examples (batch 64),
and the documentation page's 4-example Boolean net. Two loops: the plain one (``torch.optim.Adam``,
batches by fancy indexing) and the best one (``Adam(fused=True)``, batches by ``index_select``),
which issue 12 asks NetTrain to match (ratio <= 1.0). Prints medians of interleaved repeats and the
ratios NetTrain / loop. Then the MLP's ``to_torch()`` module against the same model built from
``nn.Linear`` and ``nn.PReLU`` (a training step with ADAM, and a forward, on a batch of 64), in a
shuffled interleaved order.

    python bench/nettrain.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from wlnet import LinearLayer, LogisticSigmoid, NetChain, NetDecoder, NetInitialize, NetTrain, ParametricRampLayer


def hand_written(net, x, y, epochs, batch, loss_fn, fused=False):
    """The loop a PyTorch user writes: shuffle, full batches, forward, loss, backward, Adam step;
    with ``fused``, the best such loop: ``Adam(fused=True)`` and batches by ``index_select``."""
    module = net.to_torch().train()
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-3, eps=1e-5,
                                 fused=fused)
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    n = x.shape[0]
    per_round = -(-n // batch)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n)
        if per_round * batch > n:
            order = torch.cat([order, torch.randint(0, n, (per_round * batch - n,))])
        for b in range(per_round):
            index = order[b * batch : (b + 1) * batch]
            if fused:
                loss = loss_fn(module(x.index_select(0, index)), y.index_select(0, index))
            else:
                loss = loss_fn(module(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def ours(net, x, y, epochs, batch):
    start = time.perf_counter()
    NetTrain(net, (x, y), MaxTrainingRounds=epochs, BatchSize=batch, TrainingProgressReporting=None, RandomSeeding=1)
    return time.perf_counter() - start


def measure(name, net, x, y, epochs, batch, loss_fn, repeats):
    net = NetInitialize(net)
    ours(net, x, y, 1, batch)  # warm-up all three
    hand_written(net, x, y, 1, batch, loss_fn)
    hand_written(net, x, y, 1, batch, loss_fn, fused=True)
    a, b, c = [], [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit all alike
        a.append(ours(net, x, y, epochs, batch))
        b.append(hand_written(net, x, y, epochs, batch, loss_fn))
        c.append(hand_written(net, x, y, epochs, batch, loss_fn, fused=True))
    t_ours, t_hand, t_best = statistics.median(a), statistics.median(b), statistics.median(c)
    print(f"{name:<44} {t_ours * 1e3:10.1f} {t_hand * 1e3:10.1f} {t_ours / t_hand:8.3f} {t_best * 1e3:10.1f} "
          f"{t_ours / t_best:8.3f}")
    return t_ours / t_best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer examples and repeats (a smoke run)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 20_000 if args.quick else 100_000
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average: {os.getloadavg()[0]:.2f}; ratio = NetTrain / the loop (below 1: NetTrain is faster); "
          "best = Adam(fused=True) and index_select")
    print(f"{'case':<44} {'NetTrain ms':>10} {'hand ms':>10} {'ratio':>8} {'best ms':>10} {'ratio':>8}")
    x = rng.standard_normal((n, 32)).astype(np.float32)
    y = rng.standard_normal((n, 8)).astype(np.float32)
    mlp = NetChain(
        [LinearLayer(128), ParametricRampLayer(), LinearLayer(128), ParametricRampLayer(), LinearLayer(8)], Input=32
    )
    measure(f"3-layer MLP, {n} examples, batch 64, 1 round", mlp, x, y, 1, 64, torch.nn.functional.mse_loss, repeats)
    steps_mlp = mlp
    leaky = ParametricRampLayer([], Slope=0.1, LearningRateMultipliers=0, Input=3)
    page = NetChain(
        [LinearLayer(3), leaky, LinearLayer([]), LogisticSigmoid], Input="Real", Output=NetDecoder("Boolean")
    )
    xs, ys = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 0.0, 1.0])
    measure(
        "page Boolean net, 4 examples, 2000 rounds",
        page,
        xs,
        ys,
        2000,
        4,
        torch.nn.functional.binary_cross_entropy,
        repeats,
    )
    module_steps(steps_mlp, 11 if args.quick else 31)


def torch_twin(net) -> torch.nn.Module:
    """The MLP built from nn.Linear and nn.PReLU, with the net's own values."""
    module = net.to_torch()
    layers: list[torch.nn.Module] = []
    for part in module.children():
        if hasattr(part, "slope"):
            prelu = torch.nn.PReLU(part.slope.numel())
            prelu.weight.data.copy_(part.slope.detach().reshape(-1))
            layers.append(prelu)
        else:
            weight, bias = part.Weights.detach(), part.Biases.detach()
            linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
            linear.weight.data.copy_(weight)
            linear.bias.data.copy_(bias)
            layers.append(linear)
    return torch.nn.Sequential(*layers)


def module_steps(net, repeats: int, calls: int = 200) -> None:
    """A training step and a forward of the to_torch() MLP against its nn.Linear/nn.PReLU twin."""
    import random

    net = NetInitialize(net, RandomSeeding=1)
    ours, twin = net.to_torch(), torch_twin(net)
    x, target = torch.randn(64, 32), torch.randn(64, 8)
    np.testing.assert_allclose(ours(x).detach(), twin(x).detach(), rtol=1e-5, atol=1e-6)  # the same model

    def stepper(module):
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-4, fused=True)

        def step():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(module(x), target).backward()
            optimizer.step()
        return step

    def forward(module):
        def call():
            with torch.no_grad():
                module(x)
        return call

    cases = {("step", "ours"): stepper(ours), ("step", "torch"): stepper(twin),
             ("forward", "ours"): forward(ours), ("forward", "torch"): forward(twin)}
    times: dict = {key: [] for key in cases}
    for fn in cases.values():
        fn()
    for _ in range(repeats):
        order = list(cases)
        random.shuffle(order)
        for key in order:
            start = time.perf_counter()
            for _ in range(calls):
                cases[key]()
            times[key].append((time.perf_counter() - start) / calls)
    print(f"\nto_torch() MLP (32 -> 128 -> 128 -> 8, batch 64) against nn.Linear + nn.PReLU; medians of {repeats} "
          f"shuffled repetitions of {calls} calls; ratio = ours / torch (below 1: ours is faster)")
    for kind in ("step", "forward"):
        a, b = statistics.median(times[(kind, "ours")]), statistics.median(times[(kind, "torch")])
        print(f"  {kind:<8} ours {a * 1e6:8.1f} us   torch {b * 1e6:8.1f} us   ratio {a / b:6.3f}")


if __name__ == "__main__":
    main()
