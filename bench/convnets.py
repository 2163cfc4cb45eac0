"""Image nets at PyTorch's speed: a VGG-style PReLU CNN as PyTorch users write it, against the same
net in wlnet (ConvolutionLayer, BatchNormalizationLayer, ParametricRampLayer, PoolingLayer,
FlattenLayer, LinearLayer, lowered by ``net.to_torch()`` to modules on ``torch.nn.functional``, with
wlnet's fused ParametricRampLayer kernels inside), training steps and inference calls.

The net (input 3x64x64, batch 32 by default, ``--batch``): three stages of [Conv2d(c_in, c, 3,
padding=1), BatchNorm2d(c), PReLU(c), Conv2d(c, c, 3, padding=1), BatchNorm2d(c), PReLU(c),
MaxPool2d(2, 2)] with c = 32, 64, 128, then AdaptiveAvgPool2d(1), Flatten and Linear(128, 10).

Variants, all with the same weights:

* ``torch``: the ``nn.Sequential`` above.
* ``wlnet``: ``wlnet.from_torch(model.eval(), Input=(3, 64, 64)).to_torch()`` (from_torch makes the
  global mean pooling an AggregationLayer).
* ``wlnet, Wolfram-style``: the net written with wlnet's constructors, ``NetChain([ConvolutionLayer(32,
  3, PaddingSize=1), BatchNormalizationLayer(Epsilon=1e-5), ParametricRampLayer(), PoolingLayer(2, 2),
  ..., PoolingLayer(8, 8, Function="Mean"), FlattenLayer(), LinearLayer(10)], Input=(3, 64, 64))``,
  NetInitialize'd, lowered, and given the torch model's arrays (``load_state_dict``, array by array
  in order). Epsilon is PyTorch's 1e-5 (the Wolfram default is 1e-3) so that the nets agree.
* ``torch + wlnet.nn.PReLU``: ``wlnet.nn.replace_prelu(copy.deepcopy(model))``: torch's own conv
  and batch-norm modules with wlnet's fused PReLU.

Before timing, each variant's output is checked against torch's in eval mode on the benchmark's
input (max |difference| <= 1e-5; it raises otherwise) and the differences are printed.

A training step: forward, cross-entropy on fixed random labels, backward, ``SGD(lr=1e-3,
momentum=0.9)`` step (gradients set to None first), the model in ``.train()`` mode (batch
statistics; each variant updates its moving statistics its own way: wlnet's BatchNormalization with
a separate ``var_mean`` of the batch). An inference call: forward under ``torch.no_grad()``, a
separate copy of the model in ``.eval()`` mode. Configurations: eager, contiguous or channels_last
(model and input ``.to(memory_format=...)``). Steps and inference calls are timed in separate
groups; within a group the variants are timed in one loop, in a new shuffled order each round,
medians of ``--repeats`` rounds (11) after ``--warm-up`` calls of each (3: the first steps of a
fresh model are several times slower). Ratios: torch / variant (above 1: the variant is faster).

Allocator modes: glibc's default malloc and ``WLNET_REUSE_MEMORY=1``
(``wlnet.kernels.reuse_memory()``), each in its own process (``--modes default`` for the first
only). The CPU kernels are made ready (``wait_ready``) before timing. Nothing here asserts a time.
``--profile`` adds a torch.profiler table per variant (one eager contiguous training step after the
warm-up: the ops with the most self CPU time).

    python bench/convnets.py            (about 1.5 minutes on 2 quiet cores: a step is about 0.25 s)
    python bench/convnets.py --quick    (batch 2, 2 rounds, 1 warm-up call: a smoke run, about 10 s)
    python -m bench convnets ...
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # run from a checkout

import wlnet  # noqa: E402
import wlnet.nn  # noqa: E402
from bench.modes import MODES, forward, report_each_mode, shuffled_medians  # noqa: E402
from wlnet import (  # noqa: E402
    BatchNormalizationLayer,
    ConvolutionLayer,
    FlattenLayer,
    LinearLayer,
    NetChain,
    NetInitialize,
    ParametricRampLayer,
    PoolingLayer,
    kernels,
)

CONFIGS = ("eager-contiguous", "eager-channels_last")
CHANNELS = (32, 64, 128)
CLASSES = 10
SIZE = 64  # the input's height and width
TOLERANCE = 1e-5
VARIANTS = ("torch", "wlnet", "wlnet, Wolfram-style", "torch + wlnet.nn.PReLU")


# --- models --------------------------------------------------------------------------------------


def torch_model() -> nn.Sequential:
    """The VGG-style PReLU CNN as written in PyTorch (seeded), with non-trivial moving statistics."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    previous = 3
    for channels in CHANNELS:
        layers += [nn.Conv2d(previous, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.PReLU(channels),
                   nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.PReLU(channels),
                   nn.MaxPool2d(2, 2)]
        previous = channels
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, CLASSES))
    with torch.no_grad():  # moving statistics other than 0 and 1, so that eval mode checks them
        model.train()(torch.randn(8, 3, SIZE, SIZE))
    return model.eval()


def wolfram_net() -> NetChain:
    """The same net written with wlnet's constructors (uninitialized)."""
    layers: list = []
    for channels in CHANNELS:
        for _ in range(2):
            layers += [ConvolutionLayer(channels, 3, PaddingSize=1), BatchNormalizationLayer(Epsilon=1e-5),
                       ParametricRampLayer()]
        layers.append(PoolingLayer(2, 2))
    final = SIZE // 2 ** len(CHANNELS)
    layers += [PoolingLayer(final, final, Function="Mean"), FlattenLayer(), LinearLayer(CLASSES)]
    return NetChain(layers, Input=(3, SIZE, SIZE))


def with_arrays_of(module: nn.Module, source: nn.Module) -> nn.Module:
    """``module`` with ``source``'s parameters and buffers, taken in order (the two have the same
    arrays in the same order under different keys), in place."""
    target = module.state_dict()
    values = list(source.state_dict().values())
    if len(values) != len(target) or any(v.shape != t.shape for v, t in zip(values, target.values())):
        raise RuntimeError("the Wolfram-style net's arrays do not match the converted net's")
    module.load_state_dict(dict(zip(target, values)))
    return module


def variants(base: nn.Sequential) -> dict[str, nn.Module]:
    """The four variants, all with ``base``'s weights (copies), in eval mode."""
    lowered = wlnet.from_torch(copy.deepcopy(base).eval(), Input=(3, SIZE, SIZE)).to_torch()
    wolfram = with_arrays_of(NetInitialize(wolfram_net()).to_torch(), lowered)
    return {
        "torch": copy.deepcopy(base),
        "wlnet": lowered,
        "wlnet, Wolfram-style": wolfram,
        "torch + wlnet.nn.PReLU": wlnet.nn.replace_prelu(copy.deepcopy(base)),
    }


def check(models: dict[str, nn.Module], x: torch.Tensor) -> dict[str, float]:
    """Max |difference| of each variant's eval-mode output from torch's on ``x``; raises above TOLERANCE."""
    with torch.no_grad():
        outputs = {name: model.eval()(x) for name, model in models.items()}
    differences = {name: float((y - outputs["torch"]).abs().max()) for name, y in outputs.items() if name != "torch"}
    bad = {name: d for name, d in differences.items() if not d <= TOLERANCE}
    if bad:
        raise RuntimeError(f"outputs differ from torch's by more than {TOLERANCE}: {bad}")
    return differences


# --- timing --------------------------------------------------------------------------------------


def training_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    """Forward, cross-entropy, backward and an SGD update of ``model`` (in training mode)."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def call() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), target).backward()
        optimizer.step()

    return call


def problem(config: str, batch: int) -> tuple[dict[str, nn.Module], torch.Tensor, torch.Tensor]:
    """The variants (in the configuration's memory format), an input batch and labels."""
    generator = torch.Generator().manual_seed(1)
    layout = config.split("-")[1]
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(batch, 3, SIZE, SIZE, generator=generator).to(memory_format=memory_format)
    target = torch.randint(0, CLASSES, (batch,), generator=generator)
    # (torch's stubs lack Module.to's memory_format)
    models = {name: model.to(memory_format=memory_format)  # type: ignore[call-overload]
              for name, model in variants(torch_model()).items()}
    return models, x, target


def measure_config(config: str, batch: int, repeats: int, warm_up: int) -> dict:
    """Median seconds per training step and per inference call of each variant in one configuration."""
    models, x, target = problem(config, batch)
    differences = check(models, x)
    inference = {name: copy.deepcopy(model).eval() for name, model in models.items()}
    steps: dict[str, Callable[[], object]] = {name: training_step(model, x, target) for name, model in models.items()}
    calls: dict[str, Callable[[], object]] = {name: forward(model, x) for name, model in inference.items()}
    return {
        "config": config,
        "differences": differences,
        "step_s": shuffled_medians(steps, repeats, 1, warm_up=warm_up),
        "inference_s": shuffled_medians(calls, repeats, 1, warm_up=warm_up),
    }


def profile_tables(batch: int, warm_up: int) -> dict[str, str]:
    """torch.profiler's table of the ops with the most self CPU time, one eager contiguous training
    step of each variant (after ``warm_up`` steps)."""
    from torch.profiler import ProfilerActivity, profile

    models, x, target = problem("eager-contiguous", batch)
    tables = {}
    for name, model in models.items():
        step = training_step(model, x, target)
        for _ in range(warm_up):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        tables[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    return tables


# --- report --------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> dict:
    kernels.wait_ready(torch.float32, timeout=600)  # time the kernels, not PyTorch's kernel they start on
    rows = [measure_config(config, args.batch, args.repeats, args.warm_up) for config in args.configs.split(",")]
    tables = profile_tables(args.batch, args.warm_up) if args.profile else {}
    return {"ready": kernels.ready(torch.float32), "rows": rows, "profiles": tables}


def print_rows(rows: list[dict]) -> None:
    others = VARIANTS[1:]
    print("| configuration | what | " + " | ".join(f"{name} ms" for name in VARIANTS) + " | "
          + " | ".join(f"torch/{name}" for name in others) + " |")
    print("|---|---|" + "---:|" * (len(VARIANTS) + len(others)))
    for row in rows:
        for what, key in (("training step", "step_s"), ("inference", "inference_s")):
            t = row[key]
            print(f"| {row['config']} | {what} | " + " | ".join(f"{t[name] * 1e3:.1f}" for name in VARIANTS) + " | "
                  + " | ".join(f"{t['torch'] / t[name]:.3f}" for name in others) + " |")
    print("\nmax |output - torch's output|, eval mode: " + "; ".join(
        f"{row['config']}: " + ", ".join(f"{name} {d:.1e}" for name, d in row["differences"].items())
        for row in rows))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="the batch size (default 32; --quick: 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per variant (default 11; --quick: 2)")
    parser.add_argument("--warm-up", type=int, default=None,
                        help="untimed calls of each variant first (default 3; --quick: 1)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of: {', '.join(CONFIGS)}")
    parser.add_argument("--modes", choices=("default", "both"), default="both",
                        help="allocator modes: glibc's default only, or also WLNET_REUSE_MEMORY=1 (the default)")
    parser.add_argument("--profile", action="store_true", help="also a torch.profiler table per variant")
    parser.add_argument("--quick", action="store_true", help="batch 2, 2 rounds, 1 warm-up call: a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch = args.batch or (2 if args.quick else 32)
    args.repeats = args.repeats or (2 if args.quick else 11)
    args.warm_up = args.warm_up if args.warm_up is not None else (1 if args.quick else 3)
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    header = (f"VGG-style PReLU CNN, torch against wlnet{' (--quick)' if args.quick else ''}: input 3x{SIZE}x{SIZE}, "
              f"batch {args.batch}, float32, eager; training step = forward, cross-entropy, backward, SGD(momentum "
              f"0.9); torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; medians of "
              f"{args.repeats} rounds after {args.warm_up} warm-up calls")

    def show(found: dict) -> None:
        if not found["ready"]:
            print("(the fused CPU kernels were not ready: wlnet ran PyTorch's kernel)\n")
        print_rows(found["rows"])
        for name, table in found["profiles"].items():
            print(f"\nProfiled training step, eager contiguous, {name}:\n```\n{table}```")

    report_each_mode(__file__, MODES if args.modes == "both" else MODES[:1], argv, header, show)

if __name__ == "__main__":
    main()
