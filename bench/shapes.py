"""Speed where people train: ``wlnet.nn.PReLU`` against ``torch.nn.PReLU`` on the PReLU shapes of an
ArcFace iresnet, eager and under ``torch.compile``; and a size sweep that finds where the fused path
starts paying off.

Per shape (the default). The eight PReLU input shapes of an ArcFace iresnet at batch N (``--batch``,
8 by default), float32 and bfloat16, a slope per channel; then the three of an SRResNet at batch 16,
float32, one shared slope (``SHARED_SHAPES``). A step is forward and backward with a fixed output gradient made
before timing (as ``bench/prelu.py`` does); the input and the slope want gradients. The contenders,
timed in one loop in a new shuffled order each round, medians: ``torch.nn.PReLU(C)`` and
``wlnet.nn.PReLU(C)`` eager, and ``torch.compile`` of each (``dynamic=False``, compiled once per shape
and dtype, after ``torch._dynamo.reset()``, and warmed up before timing; the first call's seconds,
compile included, are printed), wlnet's once per ``wlnet.operators.COMPILED_FORWARD`` (``decomposed``:
PyTorch's PReLU kernel forward, which inductor can fuse with its neighbours, and the fused backward
operator; ``operator``: the fused operator both ways), each called under its own setting. Alone,
as here, there is no neighbour to fuse with: ``bench/models.py`` shows what fusion gives. Ratios are
nn.PReLU / wlnet (above 1: wlnet is faster). A last contender, ``memory floor`` (:func:`memory_floor`),
moves the bytes that any step must move (read x, write y; read x and the gradient, write the input
gradient) with PyTorch's plain elementwise loops and no autograd: ``nn / floor`` is about the most
any PReLU step can gain over nn.PReLU on that shape, ``wlnet / floor`` how far wlnet's step is from it.

Sweep (``--sweep``). A level-1 training step and an inference forward (``no_grad``) at total sizes
1e3 ... 1e8 elements: (n, 64) for the two smallest, (N, 64, h, w) above. Ratio = nn.PReLU / wlnet
(target: at least 0.97 at every size). The step is timed three ways for wlnet: with
``wlnet.kernels.MIN_FUSED_TRAINING_NUMEL`` at its value, with the fused kernels forced (that constant
and ``MIN_FUSED_NUMEL``, which also gates them, set to 0) and with them off for training calls (the
constant at 10**9: the module calls PyTorch's kernel itself), so the crossover can be read off the
"always fused" column. Steps and forwards are timed in separate interleaved groups (a step's tail
lands on whatever runs next). The 1e8 row (400 MB in float32) is skipped, with a note, when the
machine has less than 12x that available.

Timing: each round times as many calls of every case of a group as make the slowest one take
about 20 ms (one call of a big case); medians of 15 rounds (sweep sizes from 5e6: 5; ``--quick``:
3 rounds, and the sweep up to 1e6). Each allocator mode runs in its own process: glibc's default
malloc, and ``WLNET_REUSE_MEMORY=1`` (``wlnet.kernels.reuse_memory()``). The CPU kernels are made
ready (``wait_ready``) before timing. Nothing here asserts a time.

    python bench/shapes.py [--batch 8] [--quick]     (about 3-5 minutes on 2 quiet cores: 48 small
                                                     compiles per mode, quick from inductor's cache)
    python bench/shapes.py --sweep [--quick]         (about 4 minutes; the 1e8 rows are most of it)
    python -m bench shapes ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # run from a checkout

import wlnet.nn  # noqa: E402
from bench.modes import MODES, forward, report_each_mode, shuffled_medians  # noqa: E402
from wlnet import kernels, operators  # noqa: E402

#: The PReLU inputs of an ArcFace iresnet (batch excluded): the stem's, then two per stage.
SHAPES = [(64, 112, 112), (64, 56, 56), (128, 56, 56), (128, 28, 28), (256, 28, 28), (256, 14, 14), (512, 14, 14),
          (512, 7, 7)]
#: The PReLU inputs of an SRResNet (SRGAN's generator, batch 16 at 24x24): the residual blocks', then
#: the two upsampling blocks'; one shared slope each (``nn.PReLU()``, as SRGAN code writes it), float32.
SHARED_SHAPES = [(16, 64, 24, 24), (16, 64, 48, 48), (16, 64, 96, 96)]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
#: Sweep sizes: nominal elements -> input shape (level 1 = 64 channels).
SWEEP = {
    "1e3": (16, 64), "3e3": (48, 64), "1e4": (2, 64, 9, 9), "3e4": (2, 64, 15, 15), "1e5": (8, 64, 14, 14),
    "1.5e5": (12, 64, 14, 14), "3e5": (6, 64, 28, 28), "1e6": (20, 64, 28, 28), "1e7": (50, 64, 56, 56),
    "1e8": (125, 64, 112, 112),
}
#: Seconds that the slowest case of a group takes per round (many calls of a small case, one of a big one).
ROUND_SECONDS = 0.02
MAX_CALLS = 5000
#: What a compiled wlnet graph holds for the forward (``wlnet.operators.COMPILED_FORWARD``): each is
#: a contender of its own (none where this checkout lacks the setting).
COMPILED_FORWARDS = ("decomposed", "operator", "inductor", "auto") if hasattr(operators, "COMPILED_FORWARD") else ()
#: A setting for the duration of a call: (module, attribute name) -> value.
Settings = dict[tuple[object, str], object]


# --- timing --------------------------------------------------------------------------------------


@contextlib.contextmanager
def constants(values: Settings | None) -> Iterator[None]:
    """Module attributes (``wlnet.kernels``' dispatch constants, ``wlnet.operators.COMPILED_FORWARD``)
    set to ``values`` for the duration (nothing if None). A compiled graph traced under a setting
    keeps being picked under it: dynamo guards on the globals it read."""
    if not values:
        yield
        return
    saved = {key: getattr(*key) for key in values}
    for (module, name), value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def compiled_forward(mode: str) -> Settings:
    return {(operators, "COMPILED_FORWARD"): mode}


def contenders() -> list[str]:
    return ["nn.PReLU", "wlnet", "compiled nn.PReLU", *(f"compiled wlnet, {mode}" for mode in COMPILED_FORWARDS),
            "memory floor"]


def step(module: torch.nn.Module, x0: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    """A training step: a fresh input leaf that wants its gradient, forward, backward with ``grad``."""
    weight = module.weight

    def call() -> None:
        weight.grad = None
        module(x0.detach().requires_grad_()).backward(grad)

    return call


def memory_floor(x0: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    """The memory a step cannot avoid moving, at PyTorch's elementwise speed and without autograd:
    the forward reads x and writes y (``x.clone()``), the backward reads x and the output gradient
    and writes the input gradient (``torch.add(grad, x)``). No PReLU step, fused or compiled, can be
    much faster: ``nn.PReLU / floor`` is about the most any of them can gain over nn.PReLU here."""

    def call() -> None:
        x0.clone()
        torch.add(grad, x0)

    return call


def batched(call: Callable[[], None], calls: int, values: Settings | None = None) -> Callable[[], None]:
    """``calls`` calls of ``call`` under ``constants(values)`` (set once, outside the calls)."""

    def run() -> None:
        with constants(values):
            for _ in range(calls):
                call()

    return run


def timed(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def medians(cases: dict[str, tuple[Callable[[], None], Settings | None]], repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each case (a call, and the constants it runs under). Each
    round times ``calls`` calls of every case, ``calls`` chosen so that the slowest case's take
    about ``ROUND_SECONDS`` (the fastest of 3 calls of each, after one more, measured first)."""
    slowest = 0.0
    for call, values in cases.values():
        single = batched(call, 1, values)
        single()
        slowest = max(slowest, min(timed(single) for _ in range(3)))
    calls = max(1, min(MAX_CALLS, int(ROUND_SECONDS / slowest)))
    found = shuffled_medians({name: batched(call, calls, values) for name, (call, values) in cases.items()},
                             repeats, 1, warm_up=1)
    return {name: seconds * 1e3 / calls for name, seconds in found.items()}


# --- per shape -----------------------------------------------------------------------------------


def measure_shape(shape: tuple[int, ...], dtype: torch.dtype, repeats: int, shared: bool = False) -> dict:
    """The contenders' step on one shape and dtype (a slope per channel, or one ``shared`` slope),
    and the compiled ones' first-call seconds."""
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=generator).to(dtype)
    grad = torch.randn(shape, generator=generator).to(dtype)
    channels = 1 if shared else shape[1]
    torch._dynamo.reset()  # a fresh static compile per case: no recompile limit, no dynamic shapes
    cases: dict[str, tuple[Callable[[], None], Settings | None]] = {
        "nn.PReLU": (step(torch.nn.PReLU(channels, dtype=dtype), x0, grad), None),
        "wlnet": (step(wlnet.nn.PReLU(channels, dtype=dtype), x0, grad), None),
        "compiled nn.PReLU": (step(torch.compile(torch.nn.PReLU(channels, dtype=dtype), dynamic=False), x0, grad),
                              None),
        "memory floor": (memory_floor(x0, grad), None),
    }
    for mode in COMPILED_FORWARDS:
        module = torch.compile(wlnet.nn.PReLU(channels, dtype=dtype), dynamic=False)
        cases[f"compiled wlnet, {mode}"] = (step(module, x0, grad), compiled_forward(mode))
    first = {}
    for name, (call, values) in cases.items():
        if name.startswith("compiled"):
            first[name] = timed(batched(call, 1, values))  # compiles the forward and the backward
    times = medians(cases, repeats)
    return {"shape": list(shape), "dtype": str(dtype).removeprefix("torch."), "ms": times, "first_s": first,
            "slopes": channels}


def run_shapes(batch: int, repeats: int) -> list[dict]:
    rows = []
    for dtype in DTYPES.values():
        for dims in SHAPES:
            rows.append(measure_shape((batch, *dims), dtype, repeats))
    for shape in SHARED_SHAPES:
        rows.append(measure_shape(shape, torch.float32, repeats, shared=True))
    return rows


# --- sweep ---------------------------------------------------------------------------------------


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (a large number where it cannot be read)."""
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 62


def measure_size(label: str, shape: tuple[int, ...], dtype: torch.dtype, repeats: int) -> dict:
    """Steps (nn.PReLU; wlnet with the constant as it is, forced to 0, forced to 10**9), then forwards."""
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=generator).to(dtype)
    grad = torch.randn(shape, generator=generator).to(dtype)
    ref, ours = torch.nn.PReLU(64, dtype=dtype), wlnet.nn.PReLU(64, dtype=dtype)
    if x0.numel() >= 5e6:
        repeats = max(3, repeats // 3)
    always: Settings = {(kernels, "MIN_FUSED_TRAINING_NUMEL"): 0, (kernels, "MIN_FUSED_NUMEL"): 0}
    never: Settings = {(kernels, "MIN_FUSED_TRAINING_NUMEL"): 10**9}
    steps = medians(
        {
            "nn.PReLU": (step(ref, x0, grad), None),
            "wlnet": (step(ours, x0, grad), None),
            "always fused": (step(ours, x0, grad), always),
            "never fused": (step(ours, x0, grad), never),
        },
        repeats,
    )
    forwards = medians({"nn.PReLU": (forward(ref, x0), None), "wlnet": (forward(ours, x0), None)}, repeats)
    return {"size": label, "shape": list(shape), "numel": x0.numel(), "dtype": str(dtype).removeprefix("torch."),
            "step_ms": steps, "forward_ms": forwards}


def run_sweep(repeats: int, sizes: list[str]) -> list[dict]:
    rows = []
    for dtype in DTYPES.values():
        for label in sizes:
            shape = SWEEP[label]
            need = 12 * torch.Size(shape).numel() * dtype.itemsize
            if need > available_bytes():
                rows.append({"size": label, "shape": list(shape), "dtype": str(dtype).removeprefix("torch."),
                             "skipped": f"needs about {need / 2**30:.1f} GiB, {available_bytes() / 2**30:.1f} free"})
                continue
            rows.append(measure_size(label, shape, dtype, repeats))
    return rows


# --- report --------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> dict:
    """Everything timed in this process's allocator mode."""
    for dtype in DTYPES.values():
        kernels.wait_ready(dtype, timeout=600)  # time the kernels, not PyTorch's kernel they start on
    ready = {name: kernels.ready(dtype) for name, dtype in DTYPES.items()}
    constants_now = {"MIN_FUSED_NUMEL": kernels.MIN_FUSED_NUMEL,
                     "MIN_FUSED_TRAINING_NUMEL": kernels.MIN_FUSED_TRAINING_NUMEL,
                     "COMPILED_FORWARD": getattr(operators, "COMPILED_FORWARD", None)}
    repeats = 3 if args.quick else 15
    if args.sweep:
        sizes = [s for s in SWEEP if float(s) <= 1e6] if args.quick else list(SWEEP)
        return {"ready": ready, "constants": constants_now, "sweep": run_sweep(repeats, sizes)}
    return {"ready": ready, "constants": constants_now, "shapes": run_shapes(args.batch, repeats)}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}"


def print_shapes(rows: list[dict]) -> None:
    forwards = [f"compiled wlnet, {mode}" for mode in COMPILED_FORWARDS]
    print("| shape | slopes | dtype | nn.PReLU ms | wlnet ms | nn/wlnet | compiled nn ms "
          + "".join(f"| {name} ms | compiled nn / {name.removeprefix('compiled ')} " for name in forwards)
          + "| compile s (nn" + "".join(f", {mode}" for mode in COMPILED_FORWARDS) + ") "
          + "| floor ms | nn / floor | wlnet / floor | compiled nn / floor |")
    print("|---|---:|---|---:|---:|---:|---:|" + "---:|---:|" * len(forwards) + "---|---:|---:|---:|---:|")
    for row in rows:
        t = row["ms"]
        cells = "".join(f"| {t[name]:.3f} | {ratio(t['compiled nn.PReLU'], t[name])} " for name in forwards)
        print(
            f"| {tuple(row['shape'])} | {row.get('slopes', row['shape'][1])} | {row['dtype']} "
            f"| {t['nn.PReLU']:.3f} | {t['wlnet']:.3f} "
            f"| {ratio(t['nn.PReLU'], t['wlnet'])} | {t['compiled nn.PReLU']:.3f} {cells}"
            f"| {', '.join(f'{seconds:.1f}' for seconds in row['first_s'].values())} "
            + (f"| {t['memory floor']:.3f} | {ratio(t['nn.PReLU'], t['memory floor'])} "
               f"| {ratio(t['wlnet'], t['memory floor'])} | {ratio(t['compiled nn.PReLU'], t['memory floor'])} |"
               if "memory floor" in t else "| | | | |")
        )
    for dtype in DTYPES:
        picked = [row["ms"] for row in rows if row["dtype"] == dtype and row.get("slopes", 0) != 1]
        if picked:
            print(f"\n{dtype}, sum over the eight iresnet shapes: "
                  + ", ".join(f"{name} {sum(t[name] for t in picked):.2f} ms" for name in contenders()
                              if all(name in t for t in picked)))


def print_sweep(rows: list[dict]) -> None:
    print("| size | shape | dtype | step nn.PReLU ms | step wlnet ms | step nn/wlnet | nn/always fused "
          "| nn/never fused | >= 0.97? | fwd nn.PReLU ms | fwd wlnet ms | fwd nn/wlnet | >= 0.97? |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['size']} | {tuple(row['shape'])} | {row['dtype']} | skipped: {row['skipped']} "
                  "| | | | | | | | | |")
            continue
        s, f = row["step_ms"], row["forward_ms"]
        step_ratio, fwd_ratio = s["nn.PReLU"] / s["wlnet"], f["nn.PReLU"] / f["wlnet"]
        print(
            f"| {row['size']} | {tuple(row['shape'])} | {row['dtype']} | {s['nn.PReLU']:.4f} | {s['wlnet']:.4f} "
            f"| {step_ratio:.2f} | {ratio(s['nn.PReLU'], s['always fused'])} "
            f"| {ratio(s['nn.PReLU'], s['never fused'])} | {'yes' if step_ratio >= 0.97 else 'NO'} "
            f"| {f['nn.PReLU']:.4f} | {f['wlnet']:.4f} | {fwd_ratio:.2f} | {'yes' if fwd_ratio >= 0.97 else 'NO'} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="the iresnet's batch size N (default 8)")
    parser.add_argument("--sweep", action="store_true", help="the size sweep instead of the iresnet shapes")
    parser.add_argument("--quick", action="store_true", help="3 repetitions (and the sweep up to 1e6): a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    what = "size sweep, level 1" if args.sweep else f"ArcFace iresnet PReLU shapes, batch {args.batch}"
    header = (f"wlnet.nn.PReLU against torch.nn.PReLU, {what}{' (--quick)' if args.quick else ''}; torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")

    def show(found: dict) -> None:
        print(f"(kernels ready: {found['ready']}; {found['constants']})\n")
        (print_sweep if args.sweep else print_shapes)(found["sweep" if args.sweep else "shapes"])

    report_each_mode(__file__, MODES, argv, header, show)

if __name__ == "__main__":
    main()
