"""A hostile environment: bad settings, a broken Numba, threads, forks, many shapes.

Nothing here may fail an evaluation: a bad ``WLNET_*`` value gives one warning and the default,
kernels that cannot start give one log line and PyTorch's ops, results stay the reference's.
Numba's settings are read once per process, so those cases run in subprocesses (with timeouts).
No timings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from wlnet import NetInitialize, ParametricRampLayer
from wlnet.evaluate import EvaluationCache
from wlnet.kernels import cpu, settings
from wlnet.kernels.layout import PLAN_CACHE_SIZE, _plan, plan_for

needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")

def _script(body: str) -> str:
    return textwrap.dedent(
        """
        import numpy as np, torch
        from wlnet import NetInitialize, ParametricRampLayer
        from wlnet.functional import parametric_ramp, parametric_ramp_reference

        SLOPE = np.linspace(-0.5, 0.5, 16, dtype=np.float32)
        NET = NetInitialize(ParametricRampLayer(1, Slope=SLOPE, Input=(16, 32, 32)))

        def data(seed):
            x = torch.randn(8, 16, 32, 32, generator=torch.Generator().manual_seed(seed))
            x.view(-1)[::7] = 0.0
            return x

        def reference(x):
            return parametric_ramp_reference(x, torch.from_numpy(SLOPE), (1,))

        def check(seed=0):
            # Evaluation (forward) and a training step's gradients, both against the reference.
            x = data(seed)
            assert torch.equal(torch.from_numpy(NET(x.numpy())), reference(x))
            slope = torch.from_numpy(SLOPE).requires_grad_()
            grad = torch.randn_like(x)
            parametric_ramp(x, slope, (1,)).backward(grad)
            expected = torch.from_numpy(SLOPE).requires_grad_()
            reference_y = parametric_ramp_reference(x, expected, (1,))
            reference_y.backward(grad)
            torch.testing.assert_close(slope.grad, expected.grad, rtol=1e-4, atol=1e-4)
            return NET(x.numpy())
        """
    ) + textwrap.dedent(body)


def _python(body: str, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", _script(body)], capture_output=True, text=True, timeout=timeout, env=environment
    )


def _fallback_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "kernel is unavailable on cpu" in line]


# --- WLNET_* variables ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e9", "abc", "", "-5", "12 MiB"])
def test_bad_stream_min_bytes_warns_once_and_uses_the_default(monkeypatch, value):
    monkeypatch.setattr(settings, "_warned", set())
    environ = {"WLNET_STREAM_MIN_BYTES": value}
    with pytest.warns(settings.SettingWarning, match=r"WLNET_STREAM_MIN_BYTES=.*is not a whole number of bytes"):
        assert settings.whole_bytes("WLNET_STREAM_MIN_BYTES", 7, environ) == 7
    assert settings.whole_bytes("WLNET_STREAM_MIN_BYTES", 7, environ) == 7  # no second warning
    assert settings.whole_bytes("WLNET_STREAM_MIN_BYTES", 7, {"WLNET_STREAM_MIN_BYTES": " 4096 "}) == 4096


def test_bad_huge_pages_warns_once_and_uses_the_default(monkeypatch):
    monkeypatch.setattr(settings, "_warned", set())
    monkeypatch.setattr(cpu, "HUGE_PAGES", None)
    monkeypatch.setenv("WLNET_HUGE_PAGES", "junk")
    with pytest.warns(settings.SettingWarning, match=r"WLNET_HUGE_PAGES='junk' is not one of 1, true.*default, 1"):
        assert cpu._huge_pages() is True
    assert cpu._huge_pages() is True  # read once
    for word, on in [("0", False), ("off", False), ("No", False), ("1", True), ("TRUE", True)]:
        assert settings.flag("WLNET_HUGE_PAGES", True, {"WLNET_HUGE_PAGES": word}) is on


def test_stream_min_bytes_is_read_at_first_use(monkeypatch):
    monkeypatch.setattr(settings, "_warned", set())
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", None)
    monkeypatch.setenv("WLNET_STREAM_MIN_BYTES", "abc")
    with pytest.warns(settings.SettingWarning, match="WLNET_STREAM_MIN_BYTES='abc'"):
        assert cpu._stream_min_bytes() == settings.last_level_cache() // 2
    monkeypatch.setattr(cpu, "STREAM_MIN_BYTES", None)
    monkeypatch.setenv("WLNET_STREAM_MIN_BYTES", "12345")
    assert cpu._stream_min_bytes() == 12345


# --- Numba settings that break the kernels -------------------------------------------------------

BROKEN = {
    "threads-0": {"NUMBA_NUM_THREADS": "0"},
    "layer-junk": {"NUMBA_THREADING_LAYER": "junk"},
}


@needs_numba
@pytest.mark.parametrize("case", [*BROKEN, "damaged-cache"])
def test_broken_numba_falls_back_with_one_line(tmp_path, case):
    """Each evaluates twice (forward and gradients) with values equal to the reference, and says
    once why the kernels are off and what to do."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path), **BROKEN.get(case, {})}
    damage = ""
    if case == "damaged-cache":  # an index file of garbage where Numba looks first
        damage = textwrap.dedent(
            """
            import os
            from wlnet.kernels import cpu
            index = cpu._forward_scalar._cache._cache_file._index_path
            os.makedirs(os.path.dirname(index), exist_ok=True)
            open(index, "wb").write(b"garbage, not a pickle")
            """
        )
    done = _python(damage + "\ncheck(0); check(1); print('ok')\n", env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok" in done.stdout
    lines = _fallback_lines(done.stderr)
    assert len(lines) == 1, done.stderr[-3000:]
    hint = {
        "damaged-cache": "the kernel cache may be damaged: delete",
        "threads-0": "NUMBA_NUM_THREADS must be a whole number > 0",
        # the variable, its value and the values it takes (it used to say to delete a warm cache)
        "layer-junk": "NUMBA_THREADING_LAYER='junk' is not a layer Numba knows: set it to one of default, safe, "
                      "threadsafe, forksafe, tbb, omp, workqueue, or unset it",
    }[case]
    assert hint in lines[0]
    assert ("delete" in lines[0]) == (case == "damaged-cache")
    assert "Traceback" not in done.stderr


# --- where the compiled kernels are cached -------------------------------------------------------


@needs_numba
def test_cache_goes_to_the_user_directory_when_the_package_is_read_only(monkeypatch, tmp_path):
    from numba.core import caching

    package = os.path.dirname(cpu.__file__)
    writable = caching._CacheLocator.ensure_cache_path

    def read_only_package(locator):
        if locator.get_cache_path().startswith(package):
            raise OSError(30, "Read-only file system")
        writable(locator)

    monkeypatch.setattr(caching._CacheLocator, "ensure_cache_path", read_only_package)
    monkeypatch.setattr(cpu.numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = cpu._FunctionCache(cpu._forward_scalar.py_func)
    assert cache.cache_path.startswith(str(tmp_path / "xdg" / "wlnet" / "numba"))
    # The stamp that invalidates a cache covers the intrinsics of simd.py, which the kernels inline.
    assert len(cache._impl.locator.get_source_stamp()) == 2

    monkeypatch.setattr(cpu.numba.config, "CACHE_DIR", str(tmp_path / "mine"))  # NUMBA_CACHE_DIR
    assert cpu._FunctionCache(cpu._forward_scalar.py_func).cache_path.startswith(str(tmp_path / "mine"))

    monkeypatch.setattr(cpu.numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(caching._CacheLocator, "ensure_cache_path", writable)
    assert cpu._FunctionCache(cpu._forward_scalar.py_func).cache_path.startswith(package)


@needs_numba
def test_a_compile_is_announced_once(tmp_path):
    """With an empty cache the kernels compile, and the process says so once (at INFO level), naming the cache."""
    code = "import logging; logging.basicConfig(level=logging.INFO)\ncheck(0); check(1); print('ok')\n"
    done = _python(code, {"NUMBA_CACHE_DIR": str(tmp_path)}, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    announced = [line for line in done.stderr.splitlines() if "compiling the fast CPU kernels" in line]
    assert len(announced) == 1 and str(tmp_path) in announced[0], done.stderr[-3000:]
    assert any(name.endswith(".nbi") for _, _, names in os.walk(tmp_path) for name in names)


# --- threads and forks ---------------------------------------------------------------------------

THREADS = """
import threading
serial = [check(seed) for seed in range(8)]
results = [None] * 8
def work(i):
    for _ in range(3):
        results[i] = check(i)
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert all(np.array_equal(a, b) for a, b in zip(results, serial))
import numba
print("ok", numba.threading_layer())
"""


@needs_numba
def test_threads_under_the_workqueue_layer():
    """Numba's workqueue layer terminates the process on concurrent launches; wlnet serialises
    them there, and 8 threads get the serial results."""
    done = _python(THREADS, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok workqueue" in done.stdout
    assert not _fallback_lines(done.stderr)


@needs_numba
def test_threads_under_the_default_layer():
    import threading

    from wlnet.functional import parametric_ramp

    x = torch.randn(8, 16, 32, 32)
    slope = torch.linspace(-0.5, 0.5, 16)
    serial = parametric_ramp(x, slope, (1,))
    results: list = [None] * 8

    def work(i: int) -> None:
        results[i] = parametric_ramp(x, slope, (1,))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(r, serial) for r in results)


FORK = """
import multiprocessing, torch.utils.data
check(0)  # the parent launches the parallel kernels first
expected = [reference(data(seed)).numpy() for seed in range(4)]

class Examples(torch.utils.data.Dataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return torch.from_numpy(check(i))

loader = torch.utils.data.DataLoader(Examples(), batch_size=None, num_workers=2, multiprocessing_context="fork")
assert all(np.array_equal(y.numpy(), e) for y, e in zip(loader, expected))
# PyTorch's own ops hang in a forked child unless it uses one thread (DataLoader sees to that).
with multiprocessing.get_context("fork").Pool(2, initializer=torch.set_num_threads, initargs=(1,)) as pool:
    assert all(np.array_equal(y, e) for y, e in zip(pool.map(check, range(4)), expected))
check(2)  # the parent still runs the kernels
from wlnet import kernels
print("ok", kernels.available()["cpu"])
"""


@needs_numba
def test_forked_children_evaluate():
    """Forked children of a process that ran the kernels (a DataLoader's workers, a fork Pool)
    evaluate with PyTorch's ops and give the reference's values, without a word."""
    done = _python(FORK)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok True" in done.stdout
    assert not _fallback_lines(done.stderr) and "Terminating" not in done.stderr


# --- bounded memory ------------------------------------------------------------------------------


def test_plan_cache_is_bounded():
    for n in range(1, 3 * PLAN_CACHE_SIZE):
        x = torch.empty(n, 4, 40)
        plan_for(x.shape, x.stride(), (1,))
    assert _plan.cache_info().currsize <= PLAN_CACHE_SIZE


def test_evaluation_cache_is_bounded():
    net = NetInitialize(ParametricRampLayer(2, Input=("Varying", 2)))
    for n in range(1, 3 * EvaluationCache.LIMIT):
        assert net(np.full((n, 2), -1.0)).shape == (n, 2)
        assert len(net._cache) <= EvaluationCache.LIMIT
    again = net(np.full((3, 2), -1.0))  # an evicted shape is built again
    np.testing.assert_allclose(again, np.full((3, 2), -0.1), rtol=1e-6)


def test_evaluation_cache_keeps_recent_entries():
    cache = EvaluationCache()
    for key in range(EvaluationCache.LIMIT):
        cache[key] = str(key)
    assert cache.get(0) == "0"  # now the most recently used
    cache["new"] = "new"
    assert cache.get(0) == "0" and cache.get(1) is None and len(cache) == EvaluationCache.LIMIT


def test_chunks_are_written_into_one_output(monkeypatch):
    """Evaluating in BatchSize chunks writes each chunk's output into the result; concatenating
    them would hold the output twice."""
    net = NetInitialize(ParametricRampLayer(1, Input=(3, 5)))
    x = np.random.default_rng(0).standard_normal((10, 3, 5)).astype(np.float32)
    whole = net(x)

    def no_cat(*args, **kwargs):
        raise AssertionError("torch.cat of chunk outputs")

    monkeypatch.setattr(torch, "cat", no_cat)
    for size in (1, 3, 4, 10):
        np.testing.assert_array_equal(net(x, BatchSize=size), whole)


REUSE_PROBE = """
import os, torch, wlnet
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
x = torch.ones(64 << 18)  # 64 MiB
before = resident()
del x
print(before - resident())
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc")
@pytest.mark.parametrize("setting, kept", [("0", False), ("1", True)])
def test_reuse_memory_keeps_freed_blocks_in_the_process(setting, kept):
    env = {**os.environ, "WLNET_REUSE_MEMORY": setting, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", REUSE_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    returned = int(done.stdout.split()[-1])
    if kept:
        assert returned < 8 << 20  # the 64 MiB stay in the process for the next allocation
    else:
        assert returned > 48 << 20  # glibc's default: a big block goes back to the kernel when freed
