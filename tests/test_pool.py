"""The output pool: big outputs of the fused kernels reuse the memory of freed ones, never of live ones."""

from __future__ import annotations

import threading

import pytest
import torch

from wlnet.functional import parametric_ramp_reference
from wlnet.kernels import cpu, pool

needs_numba = pytest.mark.skipif(cpu.MISSING is not None, reason=f"numba unavailable: {cpu.MISSING}")
BIG = (9, 1024, 1024)  # 36 MiB of float32: above POOL_MIN_BYTES, where outputs are pooled
#: 12 MiB of bfloat16: glibc serves it from its heap, and trimmed it there every few steps.
MID = (6, 1024, 1024)


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch):
    monkeypatch.setattr(pool, "_limit", None)
    monkeypatch.delenv("WLNET_OUTPUT_POOL_BYTES", raising=False)
    pool.release()
    yield
    pool.release()


def test_a_freed_block_is_taken_again_and_a_live_one_never():
    like = torch.empty(BIG)
    assert pool.take(like) is None  # nothing kept yet
    first = torch.empty_like(like)
    pool.keep(first)
    assert pool.take(like) is None  # still in use
    pointer = first.data_ptr()
    view = first[1:]
    array = first.numpy()
    del first
    assert pool.take(like) is None  # a view and a NumPy array still use it
    del view
    assert pool.take(like) is None
    del array
    again = pool.take(like)
    assert again is not None and again.data_ptr() == pointer and again.shape == like.shape
    assert again.is_contiguous() and again.dtype == like.dtype
    assert pool.take(like) is None  # handed out once: in use again
    assert pool.take(torch.empty(4, 1024, 1024)) is None  # another size never takes it


def test_limits_and_release(monkeypatch):
    kept = [torch.empty(1 << 20) for _ in range(pool.MAX_BUFFERS + 3)]
    for tensor in kept:
        pool.keep(tensor)
    assert pool.kept_bytes() == pool.MAX_BUFFERS * (4 << 20)  # the oldest three were dropped
    assert pool.release() == pool.MAX_BUFFERS and pool.kept_bytes() == 0
    monkeypatch.setattr(pool, "_limit", None)
    monkeypatch.setenv("WLNET_OUTPUT_POOL_BYTES", str(10 << 20))
    for tensor in kept[:4]:
        pool.keep(tensor)
    assert pool.kept_bytes() == 8 << 20  # two blocks of 4 MiB fit in 10 MiB
    monkeypatch.setattr(pool, "_limit", None)
    monkeypatch.setenv("WLNET_OUTPUT_POOL_BYTES", "0")  # off
    pool.release()
    pool.keep(kept[0])
    assert pool.kept_bytes() == 0


def test_threads_never_share_a_block():
    like = torch.empty(1 << 18)
    for _ in range(4):
        pool.keep(torch.empty_like(like))  # four free blocks
    taken: list[torch.Tensor] = []
    barrier = threading.Barrier(8)

    def grab():
        barrier.wait()
        tensor = pool.take(like)
        if tensor is not None:
            taken.append(tensor)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pointers = [t.data_ptr() for t in taken]
    assert len(taken) == 4 and len(set(pointers)) == 4


@needs_numba
@pytest.mark.parametrize(("shape", "dtype", "axis"), [
    (BIG, torch.float32, 1),
    (MID, torch.bfloat16, 2),  # a slope along the innermost axis: the fused bfloat16 forward runs
])
def test_training_steps_reuse_their_outputs_with_the_same_values(monkeypatch, shape, dtype, axis):
    from wlnet import kernels

    monkeypatch.setattr(kernels, "TORCH_FORWARD_BYTES", 0)
    assert kernels.wait_ready(dtype)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=generator).to(dtype)
    slope = torch.rand(1024, generator=generator).to(dtype)
    grad = torch.randn(shape, generator=generator).to(dtype)
    pointers, held = [], None
    for step in range(3):
        x = (x0 * (step + 1)).requires_grad_()
        s = slope.clone().requires_grad_()
        y = kernels.parametric_ramp(x, s, (axis,))
        y.backward(grad)
        reference = parametric_ramp_reference(x.detach(), slope, (axis,))
        assert torch.equal(y.detach(), reference)
        view = [1, 1, 1]
        view[axis] = -1
        assert torch.equal(x.grad, torch.where(x.detach() > 0, grad, grad * slope.view(view)))
        pointers.append((y.data_ptr(), x.grad.data_ptr()))
        if step == 0:  # the first step's output stays alive: its block must never be reused
            held, held_values = y.detach(), reference.clone()
        del x, s, y, reference
    assert set(pointers[1]) == set(pointers[2])  # the same two blocks, step after step
    assert pointers[0][0] not in pointers[1] + pointers[2]
    assert torch.equal(held, held_values)
