"""MicroBatcher: adaptive batching with no timers."""

from __future__ import annotations

import asyncio

import pytest

from services.common.microbatch import MicroBatcher


class Backend:
    """Records every batch; each batch takes until ``release`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [i * 10 for i in items]


async def test_a_quiet_call_goes_out_alone_at_once() -> None:
    backend = Backend()
    batcher = MicroBatcher(backend.run)
    assert await batcher.submit(1) == 10
    assert await batcher.submit(2) == 20
    assert backend.batches == [[1], [2]]


async def test_calls_that_arrive_while_a_batch_is_out_go_together() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = MicroBatcher(backend.run, max_batch=3)
    calls = [asyncio.create_task(batcher.submit(i)) for i in range(6)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert backend.batches == [[0]]  # the rest wait for the slot
    backend.release.set()
    assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40, 50]
    assert backend.batches == [[0], [1, 2, 3], [4, 5]]  # in order, at most max_batch
    assert (batcher.batches, batcher.items) == (3, 6)


async def test_a_failed_batch_fails_each_of_its_calls() -> None:
    backend = Backend()
    backend.fail = ConnectionError("down")
    batcher = MicroBatcher(backend.run)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    backend.fail = None
    assert await batcher.submit(7) == 70  # and the next one goes out normally


async def test_a_caller_cancelled_before_sending_is_left_out() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = MicroBatcher(backend.run)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    gone = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    backend.release.set()
    assert (await first, await kept) == (10, 30)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert backend.batches == [[1], [3]]


async def test_a_wrong_number_of_results_is_an_error_not_a_mismatch() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = MicroBatcher(short)
    with pytest.raises(RuntimeError, match="answered with"):
        await batcher.submit(1)


async def test_aclose_cancels_what_is_out() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = MicroBatcher(backend.run)
    call = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    await batcher.aclose()
    with pytest.raises(asyncio.CancelledError):
        await call
