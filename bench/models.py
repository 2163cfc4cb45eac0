"""Speed where people train: whole training steps of two PReLU networks, ``torch.nn.PReLU`` against
``wlnet.nn.PReLU`` (``wlnet.nn.replace_prelu``), and against no PReLU at all.

Models, written here from their architectures' descriptions:

* ``iresnet18``: the face-recognition ResNet of ArcFace (insightface's iresnet), input 3x112x112.
  Stem conv3x3 64 + BN + PReLU(64); IBasicBlock = BN -> conv3x3 -> BN -> PReLU(C) -> conv3x3
  (stride s) -> BN, plus a conv1x1 + BN shortcut where the shape changes; stages of 64, 128, 256
  and 512 channels, stride 2 at the start of each, [2, 2, 2, 2] blocks; then BN -> dropout (p=0, as
  insightface's default) -> flatten -> Linear(512*7*7, 512) -> BatchNorm1d (the embedding), and a
  Linear(512, 1000) head under a cross-entropy loss. Batch 8 (``--batch``). Its nine PReLUs see
  the eight shapes of ``bench/shapes.py``.
* ``srresnet``: SRResNet (SRGAN's generator), 3x24x24 low resolution -> 3x96x96. conv9x9 64 +
  PReLU; 16 residual blocks conv3x3-BN-PReLU-conv3x3-BN + skip; conv3x3-BN + global skip; two
  upsampling blocks conv3x3 256 -> PixelShuffle(2) -> PReLU; conv9x9 3; MSE loss. Its PReLUs have
  one shared slope each (``nn.PReLU()``, as SRGAN's implementations write it). Batch 16
  (``--sr-batch``).

A step: forward, loss, backward, ``SGD(lr=1e-3, momentum=0.9, weight_decay=5e-4)`` (gradients set to
None first). Configurations: eager or ``torch.compile(model, dynamic=False)`` (the model; loss and
optimizer eager), contiguous or channels_last (model and input ``.to(memory_format=...)``). In each,
three variants from the same initial weights (deep copies): ``nn.PReLU`` (the model as written),
``wlnet`` (``wlnet.nn.replace_prelu``) and ``no PReLU`` (every ``nn.PReLU`` replaced by
``nn.Identity``: what deleting PReLU's time entirely would give); compiled, wlnet twice, once per
``wlnet.operators.COMPILED_FORWARD`` (``decomposed``: PyTorch's PReLU kernel forward, which inductor
fuses into the batch norm before it, and the fused backward operator; ``operator``: the fused
operator both ways), each compiled and called under its own setting. Each variant's first step is its
warm-up (it compiles, when compiled: its seconds are printed); then the three are timed in one
loop, in a new shuffled order each round, medians of ``--repeats`` steps (7; a step takes about a
second on 2 cores). Columns: ``nn/wlnet`` = t_nn / t_wlnet (above 1: wlnet is faster); ``PReLU share`` =
(t_nn - t_none) / t_nn, what nn.PReLU costs of the step; ``share of ideal`` = (t_nn - t_wlnet) /
(t_nn - t_none), how much of that cost wlnet removes (1: all of it; noisy where the share is small;
negative where wlnet is slower).

Then a torch.profiler run of two eager contiguous steps per model and variant (after one warm-up
step): the share of the step spent in PReLU ops (``aten::prelu`` with ``aten::_prelu_kernel``, and
the autograd node around ``aten::_prelu_kernel_backward``, whose slope-gradient reduction runs
there; ``wlnet::parametric_ramp`` and ``wlnet::parametric_ramp_backward`` with the autograd wrappers
around them), the inclusive CPU time of the outermost such events over the profiled steps' wall time.

Allocator modes: glibc's default malloc (the default), and ``WLNET_REUSE_MEMORY=1``
(``wlnet.kernels.reuse_memory()``) too with ``--modes both``; each mode in its own process. The CPU
kernels are made ready (``wait_ready``) before timing. Nothing here asserts a time.

    python bench/models.py            (about 10 minutes on 2 quiet cores with inductor's cache cold:
                                       16 compiles and 112 steps of each model; about 6 with it warm)
    python bench/models.py --quick    (batch 2, 2 timed steps: a smoke run; about 1 minute with
                                       --configs eager-contiguous,eager-channels_last)
    python -m bench models ...
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # run from a checkout

import wlnet.nn  # noqa: E402
from bench.modes import MODES, report_each_mode, shuffled_medians  # noqa: E402
from bench.shapes import COMPILED_FORWARDS, Settings, compiled_forward, constants  # noqa: E402
from wlnet import kernels, operators  # noqa: E402

CONFIGS = ("eager-contiguous", "eager-channels_last", "compiled-contiguous", "compiled-channels_last")


# --- models --------------------------------------------------------------------------------------


def conv3x3(inplanes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride) -> BN, plus the shortcut; no activation after."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes, eps=1e-5)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """ArcFace's iresnet backbone (112x112 input, 512-d embedding) with a classification head."""

    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        blocks: list[nn.Module] = []
        inplanes = 64
        for planes, count in zip((64, 128, 256, 512), layers):
            for index in range(count):
                blocks.append(IBasicBlock(inplanes, planes, 2 if index == 0 else 1))
                inplanes = planes
        self.layers = nn.Sequential(*blocks)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=0.0)
        self.fc = nn.Linear(512 * 7 * 7, 512)
        self.features = nn.BatchNorm1d(512, eps=1e-5)
        self.head = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.prelu(self.bn1(self.conv1(x))))
        embedding = self.features(self.fc(torch.flatten(self.dropout(self.bn2(x)), 1)))
        return self.head(embedding)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.PReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRGAN's generator: 4x super-resolution."""

    def __init__(self, blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        upsampling: list[nn.Module] = []
        for _ in range(2):
            upsampling += [nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*upsampling, nn.Conv2d(channels, 3, 9, padding=4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head(x)
        return self.upsample(head + self.tail(self.body(head)))


def problem(name: str, batch: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, Callable]:
    """A model, an input batch, a target and a loss function."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "iresnet18":
        x = torch.randn(batch, 3, 112, 112, generator=generator)
        return IResNet(), x, torch.randint(0, 1000, (batch,), generator=generator), nn.functional.cross_entropy
    x = torch.rand(batch, 3, 24, 24, generator=generator)
    return SRResNet(), x, torch.rand(batch, 3, 96, 96, generator=generator), nn.functional.mse_loss


def without_prelu(model: nn.Module) -> nn.Module:
    """``model`` with every ``nn.PReLU`` replaced by ``nn.Identity``, in place."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.PReLU:
                setattr(parent, name, nn.Identity())
    return model


def wlnet_settings(compiled: bool) -> dict[str, Settings | None]:
    """The wlnet variants: eager, one; compiled, one per ``wlnet.operators.COMPILED_FORWARD``, each
    compiled and called under its setting."""
    if compiled and COMPILED_FORWARDS:
        return {f"wlnet, {mode} forward": compiled_forward(mode) for mode in COMPILED_FORWARDS}
    return {"wlnet": None}


def variants(base: nn.Module, compiled: bool = False) -> dict[str, tuple[nn.Module, Settings | None]]:
    """The variants, deep copies of ``base`` (the same initial weights), and the settings they run under."""
    found: dict[str, tuple[nn.Module, Settings | None]] = {"nn.PReLU": (copy.deepcopy(base), None)}
    for name, settings in wlnet_settings(compiled).items():
        found[name] = (wlnet.nn.replace_prelu(copy.deepcopy(base)), settings)
    found["no PReLU"] = (without_prelu(copy.deepcopy(base)), None)
    return found


# --- timing --------------------------------------------------------------------------------------


def training_step(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, loss_fn: Callable, settings: Settings | None = None
) -> Callable[[], None]:
    """Forward, loss, backward and an SGD update of ``model`` (``model`` may be compiled), under
    ``settings``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

    def call() -> None:
        with constants(settings):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), target).backward()
            optimizer.step()

    return call


def measure_config(name: str, config: str, batch: int, repeats: int) -> dict:
    """The variants' step in one configuration: median seconds, and the first call's seconds."""
    compiled, layout = config.split("-")
    base, x, target, loss_fn = problem(name, batch)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    base.train().to(memory_format=memory_format)
    x = x.to(memory_format=memory_format)
    torch._dynamo.reset()  # each configuration compiles afresh (no recompile limit across them)
    steps = {}
    first = {}
    for variant, (model, settings) in variants(base, compiled == "compiled").items():
        if compiled == "compiled":
            model = torch.compile(model, dynamic=False)
        steps[variant] = training_step(model, x, target, loss_fn, settings)
        start = time.perf_counter()
        steps[variant]()  # compiles, when compiled
        first[variant] = time.perf_counter() - start
    # The first call was the warm-up (it compiles, makes the momentum buffers, fills the allocator):
    # a whole step is seconds here, and the median shrugs off a slow first round.
    times = shuffled_medians(steps, repeats, 1, warm_up=0)
    return {"model": name, "config": config, "s": times, "first_s": first}


# --- profile -------------------------------------------------------------------------------------

#: What names PReLU's work, lower-cased: the forward ops and their autograd wrappers, and the autograd
#: nodes of their backward (which include nn.PReLU's slope-gradient reduction): ``aten::prelu``,
#: ``aten::_prelu_kernel``, ``PreluKernelBackward0``; ``wlnet::parametric_ramp`` and its backward,
#: wlnet's autograd function (``_Ramp``, ``_RampBackward``) or generated node.
PRELU_KEYS = ("prelu", "ramp")


def is_prelu_event(event_name: str) -> bool:
    lowered = event_name.lower()
    return any(key in lowered for key in PRELU_KEYS)


def prelu_time(events) -> tuple[float, dict[str, float]]:
    """Microseconds in the outermost PReLU events (their inclusive CPU time), and per event name."""
    total, by_name = 0.0, {}
    for event in events:
        if not is_prelu_event(event.name):
            continue
        parent = event.cpu_parent
        while parent is not None and not is_prelu_event(parent.name):
            parent = parent.cpu_parent
        if parent is None:
            total += event.cpu_time_total
            by_name[event.name] = by_name.get(event.name, 0.0) + event.cpu_time_total
    return total, by_name


def profile_share(name: str, batch: int, steps: int) -> list[dict]:
    """Share of eager contiguous steps spent in PReLU ops, per variant (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    base, x, target, loss_fn = problem(name, batch)
    base.train()
    rows = []
    for variant in ("nn.PReLU", "wlnet"):
        step = training_step(variants(base)[variant][0], x, target, loss_fn)
        step()  # the warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            wall = (time.perf_counter() - start) * 1e6
        total, by_name = prelu_time(prof.events())
        rows.append({"model": name, "variant": variant, "share": total / wall, "prelu_ms": total / steps / 1e3,
                     "step_ms": wall / steps / 1e3,
                     "events": {key: value / steps / 1e3 for key, value in sorted(by_name.items())}})
    return rows


# --- report --------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> dict:
    kernels.wait_ready(torch.float32, timeout=600)  # time the kernels, not PyTorch's kernel they start on
    batches = {"iresnet18": args.batch, "srresnet": args.sr_batch}
    repeats = 2 if args.quick else args.repeats
    rows = [
        measure_config(name, config, batches[name], repeats)
        for name in args.models.split(",")
        for config in args.configs.split(",")
    ]
    profiles = [] if args.no_profile else [
        row for name in args.models.split(",") for row in profile_share(name, batches[name], 1 if args.quick else 2)
    ]
    return {"ready": kernels.ready(torch.float32), "rows": rows, "profiles": profiles,
            "compiled_forward": getattr(operators, "COMPILED_FORWARD", None)}


def print_rows(rows: list[dict]) -> None:
    print("| model | configuration | wlnet variant | nn.PReLU ms | wlnet ms | no PReLU ms | nn/wlnet | PReLU share "
          "| share of ideal | first call s (nn, wlnet, none) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        t, first = row["s"], row["first_s"]
        nn_s, none = t["nn.PReLU"], t["no PReLU"]
        for variant in (name for name in t if name.startswith("wlnet")):
            ours = t[variant]
            ideal = f"{(nn_s - ours) / (nn_s - none):.2f}" if nn_s > none else "n/a (no PReLU not faster)"
            print(
                f"| {row['model']} | {row['config']} | {variant} | {nn_s * 1e3:.1f} | {ours * 1e3:.1f} "
                f"| {none * 1e3:.1f} | {nn_s / ours:.3f} | {(nn_s - none) / nn_s:.3f} | {ideal} "
                f"| {first['nn.PReLU']:.1f}, {first[variant]:.1f}, {first['no PReLU']:.1f} |"
            )


def print_profiles(rows: list[dict]) -> None:
    if not rows:
        return
    print("\nProfiled (torch.profiler), eager contiguous: PReLU's share of the step\n")
    print("| model | variant | step ms (profiled) | PReLU ms | share | outermost PReLU events, ms per step |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        events = "; ".join(f"{name.removeprefix('autograd::engine::evaluate_function: ')} {ms:.2f}"
                           for name, ms in row["events"].items())
        print(f"| {row['model']} | {row['variant']} | {row['step_ms']:.1f} | {row['prelu_ms']:.2f} "
              f"| {row['share']:.3f} | {events} |")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="iresnet18's batch (default 8; --quick: 2)")
    parser.add_argument("--sr-batch", type=int, default=None, help="srresnet's batch (default 16; --quick: 2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per variant (default 7)")
    parser.add_argument("--models", default="iresnet18,srresnet", help="comma-separated: iresnet18, srresnet")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of: {', '.join(CONFIGS)}")
    parser.add_argument("--modes", choices=("default", "both"), default="default",
                        help="allocator modes: glibc's default only, or also WLNET_REUSE_MEMORY=1")
    parser.add_argument("--no-profile", action="store_true", help="skip the torch.profiler share")
    parser.add_argument("--quick", action="store_true", help="batch 2, 2 timed steps: a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch = args.batch or (2 if args.quick else 8)
    args.sr_batch = args.sr_batch or (2 if args.quick else 16)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    header = (f"Training steps, nn.PReLU vs wlnet.nn.PReLU vs no PReLU{' (--quick)' if args.quick else ''}: "
              f"iresnet18 batch {args.batch}, srresnet batch {args.sr_batch}, float32, SGD(momentum 0.9, weight "
              f"decay 5e-4); torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
              f"medians of {2 if args.quick else args.repeats} steps")

    def show(found: dict) -> None:
        if not found["ready"]:
            print("(the fused CPU kernels were not ready: wlnet ran PyTorch's kernel)\n")
        print(f"(wlnet.operators.COMPILED_FORWARD as it is: {found['compiled_forward']!r})\n")
        print_rows(found["rows"])
        print_profiles(found["profiles"])

    report_each_mode(__file__, MODES if args.modes == "both" else MODES[:1], argv, header, show)

if __name__ == "__main__":
    main()
