"""Benchmark of the fused ParametricRampLayer kernels against PyTorch, as ratios measured in one run.

Run ``python bench/prelu.py`` (or ``python -m bench``) from the repository root; ``--quick`` for a
fast smoke run. Every number in a table comes from the same process, with warm-up, the variants of
a case interleaved, and the median of the repetitions; nothing here asserts a time.

Memory modes. Under glibc's default malloc, every block over 32 MiB goes back to the kernel when it
is freed, so each new output of a big tensor is faulted in and zeroed again: PyTorch and our kernels
both pay this for their outputs (PyTorch once more, for its full-size slope-gradient temporary).
Our kernels advise their fresh outputs as huge pages, which makes that about 3x cheaper;
``default-4k`` turns that off (``WLNET_HUGE_PAGES=0``). ``reuse`` keeps freed blocks for reuse
(``GLIBC_TUNABLES`` below), which is what a caching allocator such as jemalloc or tcmalloc gives;
``reuse_memory()`` gets the same from Python, with one call (``wlnet.kernels.reuse_memory()``, here
through ``WLNET_REUSE_MEMORY=1``). Each mode runs in its own subprocess.

Columns: ``ours`` and ``torch`` are median milliseconds; ``ratio`` is torch / ours (higher is
better for us); ``copy GB/s`` is a copy into an existing buffer of the input's size (memory speed);
``ours/copy`` and ``torch/copy`` are the effective bandwidths (minimal bytes: 2 per element-size
for a forward, 5 for a training step) as fractions of that copy bandwidth.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from wlnet import functional, kernels  # noqa: E402

REUSE_ENV = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
MODES = {
    "default": {},
    "default-4k": {"WLNET_HUGE_PAGES": "0"},
    "reuse": {"GLIBC_TUNABLES": REUSE_ENV},
    "reuse_memory()": {"WLNET_REUSE_MEMORY": "1"},
}
TITLES = {
    "default": "default glibc malloc",
    "default-4k": "default glibc malloc, no huge-page advice for our outputs (WLNET_HUGE_PAGES=0)",
    "reuse": f"reused memory (GLIBC_TUNABLES={REUSE_ENV})",
    "reuse_memory()": "reused memory from Python: wlnet.kernels.reuse_memory() (WLNET_REUSE_MEMORY=1)",
}

SHAPE_A = (64, 64, 56, 56)
SHAPE_B = (4096, 4096)
#: Level specs on an input of dims (64, 56, 56) (batch excluded): name -> 0-based axes of x.
LEVEL_SPECS = {
    "level 1": (1,),
    "last level (3)": (3,),
    "negative level (-2)": (2,),
    "Span(1, 2)": (1, 2),
    "list [1, 3]": (1, 3),
    "[]": (),
}


# --- timing --------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def medians(
    functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 2, device: torch.device | None = None
) -> dict[str, float]:
    """Median seconds of each function, run interleaved so that they share the machine's state.

    The order is shuffled at every repetition (with a fixed seed), so that no function always
    follows the same one: what one leaves in the cache (dirty lines of its freed output, whose
    memory the next output reuses) changed the next one's time by up to 10% on this machine.
    """
    device = device or torch.device("cpu")
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(warmup):
        for function in functions.values():
            function()
    _sync(device)
    names = list(functions)
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(names)
        for name in names:
            function = functions[name]
            _sync(device)
            start = time.perf_counter()
            function()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _step(forward: Callable[[], torch.Tensor], grad: torch.Tensor, params: list[torch.Tensor]):
    """A training step: forward and backward, gradients cleared first so nothing accumulates."""

    def run():
        for p in params:
            p.grad = None
        forward().backward(grad)

    return run


def _ours(x: torch.Tensor, slope: torch.Tensor, axes: tuple[int, ...]) -> Callable[[], torch.Tensor]:
    return lambda: functional.parametric_ramp(x, slope, axes)


def _no_grad(function: Callable[[], object]) -> Callable[[], object]:
    def run():
        with torch.no_grad():
            return function()

    return run


def _copy(x: torch.Tensor) -> Callable[[], object]:
    out = torch.empty_like(x)
    return lambda: out.copy_(x)


def _row(case, ours, torch_time, torch_name, copy, numel, itemsize, passes):
    """One table row: times, ratio, and bandwidths as fractions of the copy bandwidth."""
    copy_bw = 2 * numel * itemsize / copy
    minimal = passes * numel * itemsize
    return {
        "case": case,
        "ours_ms": ours * 1e3,
        "torch_ms": None if torch_time is None else torch_time * 1e3,
        "torch": torch_name,
        "ratio": None if torch_time is None else torch_time / ours,
        "copy_gbs": copy_bw / 1e9,
        "ours_frac": minimal / ours / copy_bw,
        "torch_frac": None if torch_time is None else minimal / torch_time / copy_bw,
    }


# --- cases ---------------------------------------------------------------------------------------


def case_a(repeats: int) -> list[dict]:
    """Target 1: training step on (64, 64, 56, 56), level 1, against torch.nn.PReLU(64)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE_A, generator=gen).requires_grad_()
    grad = torch.randn(SHAPE_A, generator=gen)
    slope = torch.full((64,), 0.25, requires_grad=True)
    prelu = torch.nn.PReLU(64)
    t = medians(
        {
            "ours": _step(_ours(x, slope, (1,)), grad, [x, slope]),
            "torch": _step(lambda: prelu(x), grad, [x, prelu.weight]),
            "copy": _copy(x),
        },
        repeats,
    )
    return [_row("A step (64,64,56,56) level 1", t["ours"], t["torch"], "nn.PReLU(64)", t["copy"], x.numel(), 4, 5)]


def case_sum(repeats: int) -> list[dict]:
    """A step that ends in ``y.sum().backward()`` (an expanded, stride-0 output gradient) against
    one with a dense gradient, and against the same step with the gradient made dense first (what
    the backward did before it read expanded gradients in place: ``ANY_GRAD_LAYOUT`` off)."""
    from wlnet.kernels import cpu

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE_A, generator=gen).requires_grad_()
    grad = torch.randn(SHAPE_A, generator=gen)
    slope = torch.full((64,), 0.25, requires_grad=True)
    prelu = torch.nn.PReLU(64)

    def summed(forward, params):
        def run():
            for p in params:
                p.grad = None
            forward().sum().backward()

        return run

    def densified():
        cpu.ANY_GRAD_LAYOUT = False
        try:
            summed(_ours(x, slope, (1,)), [x, slope])()
        finally:
            cpu.ANY_GRAD_LAYOUT = True

    t = medians(
        {
            "dense": _step(_ours(x, slope, (1,)), grad, [x, slope]),
            "sum": summed(_ours(x, slope, (1,)), [x, slope]),
            "sum densified": densified,
            "torch sum": summed(lambda: prelu(x), [x, prelu.weight]),
            "copy": _copy(x),
        },
        repeats,
    )
    name = "A step (64,64,56,56) level 1, y.sum().backward()"
    return [
        _row(name, t["sum"], t["torch sum"], "nn.PReLU(64), sum", t["copy"], x.numel(), 4, 5),
        _row(name, t["sum"], t["sum densified"], "ours, gradient made dense", t["copy"], x.numel(), 4, 5),
        _row(name, t["sum"], t["dense"], "ours, dense gradient", t["copy"], x.numel(), 4, 5),
    ]


def _eager_candidates(x: torch.Tensor, w: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Eager formulations of a slope on the last axis (not all exact at 0; speed only)."""
    relu = torch.nn.functional.relu
    return {
        "nn.PReLU (weight on dim 1 = last)": lambda: torch.nn.functional.prelu(x, w),
        "where(x > 0, x, w * x)": lambda: torch.where(x > 0, x, w * x),
        "relu(x) - w * relu(-x)": lambda: relu(x) - w * relu(-x),
    }


def case_b(repeats: int) -> list[dict]:
    """Target 1: training step on (4096, 4096), slope on the last level, against the fastest
    eager formulation (picked by measuring them all first)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(SHAPE_B, generator=gen).requires_grad_()
    grad = torch.randn(SHAPE_B, generator=gen)
    slope = torch.full((SHAPE_B[1],), 0.25, requires_grad=True)
    w = torch.full((SHAPE_B[1],), 0.25, requires_grad=True)
    candidates = {name: _step(f, grad, [x, w]) for name, f in _eager_candidates(x, w).items()}
    trial = medians(candidates, max(2, repeats // 4), warmup=1)
    fastest = min(trial, key=trial.get)
    t = medians(
        {"ours": _step(_ours(x, slope, (1,)), grad, [x, slope]), "torch": candidates[fastest], "copy": _copy(x)},
        repeats,
    )
    return [_row("B step (4096,4096) last level", t["ours"], t["torch"], fastest, t["copy"], x.numel(), 4, 5)]


def case_levels(repeats: int) -> list[dict]:
    """Target 2: every level spec, training step on the same (64, 64, 56, 56) input."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(SHAPE_A, generator=gen).requires_grad_()
    grad = torch.randn(SHAPE_A, generator=gen)
    functions = {"copy": _copy(x)}
    for name, axes in LEVEL_SPECS.items():
        slope = torch.full([SHAPE_A[a] for a in axes], 0.25, requires_grad=True)
        functions[name] = _step(_ours(x, slope, axes), grad, [x, slope])
    t = medians(functions, repeats)
    base = t["level 1"]
    rows = []
    for name in LEVEL_SPECS:
        row = _row(f"step {name}", t[name], None, "", t["copy"], x.numel(), 4, 5)
        row["vs_level1"] = t[name] / base
        rows.append(row)
    return rows


def case_forward(repeats: int, dtype: torch.dtype) -> list[dict]:
    """Target 3: inference forward for every level spec against torch.nn.PReLU(64)'s forward."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(SHAPE_A, generator=gen).to(dtype)
    prelu = torch.nn.PReLU(64, dtype=dtype)
    functions = {"torch": _no_grad(lambda: prelu(x)), "copy": _copy(x)}
    for name, axes in LEVEL_SPECS.items():
        slope = torch.full([SHAPE_A[a] for a in axes], 0.25, dtype=dtype)
        functions[name] = _no_grad(_ours(x, slope, axes))
    t = medians(functions, repeats)
    short = str(dtype).removeprefix("torch.")
    return [
        _row(f"forward {short} {name}", t[name], t["torch"], "nn.PReLU(64) fwd", t["copy"], x.numel(), x.itemsize, 2)
        for name in LEVEL_SPECS
    ]


#: Batch sizes of (N, 64, 56, 56) for the forward-by-size rows: float32 outputs of 3.1, 12.3 and
#: 49 MiB (bfloat16: half), on both sides of the streaming threshold (half the last-level cache).
SIZE_BATCHES = (4, 16, 64)
SIZE_SPECS = {"level 1": (1,), "Span(1, 2)": (1, 2), "last level (3)": (3,)}


def case_forward_sizes(repeats: int) -> list[dict]:
    """The forward by output size: where PyTorch's kernel, plain-store lines and streaming lines
    each take over (see ``STREAM_MIN_BYTES`` in ``wlnet.kernels.cpu``)."""
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for batch in SIZE_BATCHES:
            gen = torch.Generator().manual_seed(7)
            x = torch.randn((batch, *SHAPE_A[1:]), generator=gen).to(dtype)
            prelu = torch.nn.PReLU(64, dtype=dtype)
            functions = {"torch": _no_grad(lambda: prelu(x)), "copy": _copy(x)}  # noqa: B023
            for name, axes in SIZE_SPECS.items():
                slope = torch.full([SHAPE_A[a] for a in axes], 0.25, dtype=dtype)
                functions[name] = _no_grad(_ours(x, slope, axes))
            t = medians(functions, repeats * max(1, 64 // batch))
            short = str(dtype).removeprefix("torch.")
            mib = x.numel() * x.itemsize / 2**20
            rows += [
                _row(
                    f"forward {short} {name}, N={batch} ({mib:.1f} MiB)", t[name], t["torch"], "nn.PReLU(64) fwd",
                    t["copy"], x.numel(), x.itemsize, 2,
                )  # fmt: skip
                for name in SIZE_SPECS
            ]
    return rows


def case_small(repeats: int) -> list[dict]:
    """A small step (an MLP's batch of 64 x 128): below MIN_FUSED_NUMEL, PyTorch's own kernel."""
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(64, 128, generator=gen).requires_grad_()
    grad = torch.randn(64, 128, generator=gen)
    slope = torch.full((128,), 0.25, requires_grad=True)
    prelu = torch.nn.PReLU(128)
    t = medians(
        {
            "ours": _step(_ours(x, slope, (1,)), grad, [x, slope]),
            "torch": _step(lambda: prelu(x), grad, [x, prelu.weight]),
            "copy": _copy(x),
        },
        repeats * 20,
        warmup=20,
    )
    return [_row("small step (64,128) level 1", t["ours"], t["torch"], "nn.PReLU(128)", t["copy"], x.numel(), 4, 5)]


def case_overhead(repeats: int) -> list[dict]:
    """Target 5: a layer evaluated on a 3-vector given as a Python list."""
    try:
        from wlnet import ParametricRampLayer

        layer = ParametricRampLayer([], Slope=0.25)
        data = [1.0, -2.0, 3.0]
        layer(data)
    except Exception as error:  # the layer API may not exist yet in a partial checkout
        print(f"# per-call overhead skipped: ParametricRampLayer unavailable ({error!r})", file=sys.stderr)
        return []
    prelu = torch.nn.PReLU()
    t = medians({"ours": lambda: layer(data), "torch": lambda: prelu(torch.tensor(data))}, repeats * 200, warmup=50)
    return [
        {
            "case": "per call: ParametricRampLayer([], Slope=0.25)(3-list) vs nn.PReLU()(torch.tensor(list))",
            "ours_us": t["ours"] * 1e6,
            "torch_us": t["torch"] * 1e6,
            "slowdown": t["ours"] / t["torch"],
        }
    ]


def case_cuda(repeats: int) -> list[dict]:
    """On a GPU: forward and step against nn.PReLU, as fractions of the device's copy bandwidth."""
    if not torch.cuda.is_available():
        return []
    device = torch.device("cuda")
    rows = []
    for label, shape, axes, channels in [
        ("A", SHAPE_A, (1,), 64),
        ("B", SHAPE_B, (1,), SHAPE_B[1]),
    ]:
        for dtype in (torch.float32, torch.bfloat16):
            gen = torch.Generator().manual_seed(4)
            x = torch.randn(shape, generator=gen).to(device, dtype).requires_grad_()
            grad = torch.randn(shape, generator=gen).to(device, dtype)
            slope = torch.full((channels,), 0.25, device=device, dtype=dtype, requires_grad=True)
            prelu = torch.nn.PReLU(channels, device=device, dtype=dtype)
            t = medians(
                {
                    "ours_fwd": _no_grad(_ours(x, slope, axes)),
                    "torch_fwd": _no_grad(lambda: prelu(x)),  # noqa: B023 - used within the iteration
                    "ours_step": _step(_ours(x, slope, axes), grad, [x, slope]),
                    "torch_step": _step(lambda: prelu(x), grad, [x, prelu.weight]),  # noqa: B023
                    "copy": _copy(x),
                },
                repeats,
                device=device,
            )
            short = str(dtype).removeprefix("torch.")
            for kind, passes in (("fwd", 2), ("step", 5)):
                rows.append(
                    _row(
                        f"CUDA {label} {kind} {short}",
                        t[f"ours_{kind}"],
                        t[f"torch_{kind}"],
                        "nn.PReLU",
                        t["copy"],
                        x.numel(),
                        x.itemsize,
                        passes,
                    )
                )
    return rows


# --- memory --------------------------------------------------------------------------------------


def _proc_status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _summed_step(forward: Callable[[], torch.Tensor], params: list[torch.Tensor]):
    def run():
        for p in params:
            p.grad = None
        forward().sum().backward()

    return run


def memory_probe(variant: str) -> dict:
    """Peak extra resident memory of one training step, in a fresh process (run as a subprocess)."""
    label, shape, axes = {"A": ("A", SHAPE_A, (1,)), "B": ("B", SHAPE_B, (1,))}[variant[0]]
    ours = "ours" in variant
    summed = variant.endswith("sum")
    if variant.endswith("densified"):  # the gradient of a sum made dense first, as before
        from wlnet.kernels import cpu

        cpu.ANY_GRAD_LAYOUT = False
        summed = True
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(shape, generator=gen).requires_grad_()
    grad = torch.randn(shape, generator=gen)
    channels = shape[axes[0]]
    if ours:
        slope = torch.full((channels,), 0.25, requires_grad=True)
        forward, params = _ours(x, slope, axes), [x, slope]
        kernels.wait_ready(x.dtype, timeout=600)
    else:
        prelu = torch.nn.PReLU(channels)
        forward, params = (lambda: prelu(x)), [x, prelu.weight]
    step = _summed_step(forward, params) if summed else _step(forward, grad, params)
    # A first step pays one-time costs (about 38 MiB appears at the first big backward, whatever
    # the operation); the steady state of a training loop is the second step.
    step()
    x.grad = None
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the high-water mark to the current resident size
    # The output pool keeps the first step's freed outputs resident for the second: they are the
    # step's working memory, not memory it already had, so they count as extra (and are reported).
    from wlnet.kernels import pool

    idle = pool.kept_bytes(idle=True)
    before = _proc_status()["VmRSS"] - idle
    step()
    peak = _proc_status()["VmHWM"]
    size = x.numel() * x.itemsize
    return {"variant": variant, "extra_over_input": (peak - before) / size, "pooled_over_input": idle / size}


def memory_table() -> list[dict]:
    rows = []
    cases = (
        ("A", "A step (64,64,56,56) level 1"),
        ("A", "A step (64,64,56,56) level 1, y.sum().backward()"),
        ("B", "B step (4096,4096) last level"),
    )
    for case, name in cases:
        found = {}
        whos = ("ours-sum", "torch-sum", "ours-densified") if "sum" in name else ("ours", "torch")
        for who in whos:
            done = subprocess.run(
                [sys.executable, __file__, "--memory-probe", f"{case}-{who}"],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )
            if done.returncode != 0:
                print(f"# memory probe {case}-{who} failed: {done.stderr[-500:]}", file=sys.stderr)
                found[who] = None
            else:
                found[who] = json.loads(done.stdout.strip().splitlines()[-1])["extra_over_input"]
        tail = "-sum" if "sum" in name else ""
        rows.append(
            {
                "case": name,
                "ours": found[f"ours{tail}"],
                "torch": found[f"torch{tail}"],
                "before": found.get("ours-densified"),
            }
        )
    return rows


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = "not installed"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return (
        f"{model}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numba {numba_version}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, GPU: {gpu}"
    )


def run_mode(quick: bool) -> dict:
    """All timing cases in this process's memory mode."""
    repeats = 3 if quick else 21
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        kernels.wait_ready(dtype, timeout=600)  # loaded in the background: time the kernels, not PyTorch's
    if not kernels.available()["cpu"]:
        print("# the fused CPU kernels are unavailable: 'ours' is the reference formulation", file=sys.stderr)
    rows = case_a(repeats) + case_sum(repeats) + case_b(repeats) + case_levels(repeats) + case_small(repeats)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        rows += case_forward(repeats, dtype)
    rows += case_forward_sizes(repeats)
    return {"rows": rows, "overhead": case_overhead(repeats), "cuda": case_cuda(repeats)}


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def print_tables(results: dict[str, dict], memory: list[dict]) -> None:
    print(f"Machine: {machine()}\n")
    for mode, result in results.items():
        title = TITLES[mode]
        print(f"### CPU, {title}\n")
        print("| case | ours ms | torch ms | torch variant | ratio torch/ours | copy GB/s | ours/copy | torch/copy |")
        print("|---|---:|---:|---|---:|---:|---:|---:|")
        for r in result["rows"]:
            name = r["case"] + (f" ({r['vs_level1']:.2f}x level 1)" if "vs_level1" in r else "")
            print(
                f"| {name} | {r['ours_ms']:.3f} | {_fmt(r['torch_ms'], '.3f')} | {r['torch']} | "
                f"{_fmt(r['ratio'], '.2f')} | {r['copy_gbs']:.1f} | {r['ours_frac']:.2f} | "
                f"{_fmt(r['torch_frac'], '.2f')} |"
            )
        for r in result["overhead"]:
            print(
                f"\n{r['case']}: ours {r['ours_us']:.1f} us, torch {r['torch_us']:.1f} us, "
                f"ours/torch {r['slowdown']:.2f}x"
            )
        if result["cuda"]:
            print("\n| GPU case | ours ms | torch ms | ratio | copy GB/s | ours/copy | torch/copy |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for r in result["cuda"]:
                print(
                    f"| {r['case']} | {r['ours_ms']:.3f} | {r['torch_ms']:.3f} | {r['ratio']:.2f} | "
                    f"{r['copy_gbs']:.0f} | {r['ours_frac']:.2f} | {r['torch_frac']:.2f} |"
                )
        print()
    if memory:
        print("### Peak extra memory of one training step (resident, default malloc), in input sizes\n")
        print("| case | ours | torch.nn.PReLU | ours, gradient made dense (before) |")
        print("|---|---:|---:|---:|")
        for r in memory:
            found = " | ".join(_fmt(r[key], ".2f") for key in ("ours", "torch", "before"))
            print(f"| {r['case']} | {found} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument(
        "--modes", default="default,default-4k,reuse,reuse_memory()",
        help="comma-separated: default, default-4k, reuse, reuse_memory()"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe)))
        return
    if args.child:
        print(json.dumps(run_mode(args.quick)))
        return

    results = {}
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--child"] + (["--quick"] if args.quick else [])
        env = {**os.environ, **MODES[mode], "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            raise SystemExit(f"benchmark in mode {mode} failed")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    print_tables(results, [] if args.no_memory else memory_table())


if __name__ == "__main__":
    main()
