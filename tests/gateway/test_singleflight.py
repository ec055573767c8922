from __future__ import annotations

import asyncio

import pytest

from services.gateway.singleflight import SingleFlight


async def test_concurrent_callers_of_one_key_share_one_computation() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    tasks = [asyncio.create_task(flights.do("k", work)) for _ in range(50)]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert [r for r, _ in results] == [42] * 50
    assert sum(1 for _, shared in results if not shared) == 1
    assert flights.in_flight() == 0


async def test_different_keys_run_separately() -> None:
    flights: SingleFlight[str] = SingleFlight()

    async def work(value: str) -> str:
        await asyncio.sleep(0)
        return value

    a, b = await asyncio.gather(
        flights.do("a", lambda: work("a")), flights.do("b", lambda: work("b"))
    )
    assert a == ("a", False) and b == ("b", False)


async def test_an_error_reaches_every_waiter_and_is_not_remembered() -> None:
    flights: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise ValueError("boom")

    tasks = [asyncio.create_task(flights.do("k", failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    release.set()
    for task in tasks:
        with pytest.raises(ValueError, match="boom"):
            await task

    async def ok() -> int:
        return 7

    assert await flights.do("k", ok) == (7, False)


async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    flights: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 1

    leader = asyncio.create_task(flights.do("k", work))
    follower = asyncio.create_task(flights.do("k", work))
    await asyncio.sleep(0.01)
    leader.cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert await follower == (1, True)
