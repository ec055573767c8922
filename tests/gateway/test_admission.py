"""Admission: slots, the bounded fair queue, early rejection, cancellation, drain."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.admission import Admission
from services.gateway.errors import DeadlineUnreachable, Draining, QueueFull


async def hold(admission: Admission, client: str, release: asyncio.Event, log: list[str]) -> None:
    async with admission.slot(client, deadline_s=30):
        log.append(client)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_runs_up_to_the_limit_then_queues_then_rejects_when_full() -> None:
    admission = Admission(max_concurrent=2, max_queue=2, queue_timeout_s=5)
    release, log = asyncio.Event(), []
    tasks = [asyncio.create_task(hold(admission, "c", release, log)) for _ in range(4)]
    await settle()
    assert (admission.in_flight, admission.queued) == (2, 2)
    with pytest.raises(QueueFull) as raised:
        async with admission.slot("c", deadline_s=30):
            pass
    assert raised.value.limit == "queue_full" and raised.value.retry_after_s > 0
    release.set()
    await asyncio.gather(*tasks)
    assert len(log) == 4 and admission.in_flight == 0 and admission.queued == 0
    assert admission.counts.rejected == {"queue_full": 1}


async def test_clients_are_served_round_robin() -> None:
    admission = Admission(max_concurrent=1, max_queue=100, queue_timeout_s=5)
    gate = asyncio.Event()
    order: list[str] = []
    blocker = asyncio.create_task(hold(admission, "first", gate, []))
    await settle()

    async def one(client: str) -> None:
        async with admission.slot(client, deadline_s=30):
            order.append(client)

    # A flood from "bulk" queued before two other clients arrive.
    tasks = [asyncio.create_task(one("bulk")) for _ in range(6)]
    await settle()
    tasks += [asyncio.create_task(one("crm")), asyncio.create_task(one("dash"))]
    await settle()
    gate.set()
    await asyncio.gather(blocker, *tasks)
    assert order[:4] == ["bulk", "crm", "dash", "bulk"]


async def test_cancelled_and_timed_out_waiters_leave_the_queue_at_once() -> None:
    admission = Admission(max_concurrent=1, max_queue=10, queue_timeout_s=0.2)
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(admission, "a", release, []))
    await settle()
    waiters = [asyncio.create_task(hold(admission, "b", release, [])) for _ in range(3)]
    await settle()
    assert admission.queued == 3
    waiters[0].cancel()
    await settle()
    assert admission.queued == 2
    with pytest.raises(QueueFull) as raised:
        async with admission.slot("c", deadline_s=30):
            pass
    assert raised.value.limit == "queue_timeout"
    release.set()
    await blocker
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert admission.in_flight == 0 and admission.queued == 0


async def test_a_deadline_that_cannot_be_met_is_rejected_at_enqueue() -> None:
    admission = Admission(max_concurrent=1, max_queue=10, queue_timeout_s=60, initial_service_s=1.0)
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(admission, "a", release, []))
    queued = [asyncio.create_task(hold(admission, "a", release, [])) for _ in range(3)]
    await settle()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeadlineUnreachable):
        async with admission.slot("a", deadline_s=2.0):  # ~4 s of queue + 1 s of work
            pass
    assert loop.time() - started < 0.1  # decided now, not after waiting
    # A caller with room in its deadline is queued, not rejected.
    patient = asyncio.create_task(hold(admission, "b", release, []))
    await settle()
    assert admission.queued == 4
    release.set()
    await asyncio.gather(blocker, patient, *queued)
    assert admission.counts.rejected == {"deadline": 1}


async def test_drain_answers_the_queue_and_refuses_new_work() -> None:
    admission = Admission(max_concurrent=1, max_queue=10, queue_timeout_s=60)
    release = asyncio.Event()
    running = asyncio.create_task(hold(admission, "a", release, []))
    await settle()
    waiting = [asyncio.create_task(hold(admission, "b", release, [])) for _ in range(2)]
    await settle()
    assert admission.drain() == 2
    for task in waiting:
        with pytest.raises(Draining) as raised:
            await task
        assert raised.value.retry_after_s == pytest.approx(1.0)
    with pytest.raises(Draining):
        async with admission.slot("c", deadline_s=30):
            pass
    assert not running.done()  # in-flight work is left to finish
    release.set()
    await running
    assert await admission.wait_idle(1.0)


async def test_positions_are_reported_as_the_queue_moves() -> None:
    admission = Admission(max_concurrent=1, max_queue=10, queue_timeout_s=5)
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(admission, "a", release, []))
    await settle()
    seen: dict[str, list[int]] = {"x": [], "y": []}

    async def watched(name: str) -> None:
        async with admission.slot(name, deadline_s=30, on_position=seen[name].append):
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(watched("x")), asyncio.create_task(watched("y"))]
    await settle()
    assert seen == {"x": [1], "y": [2]}
    release.set()
    await asyncio.gather(blocker, *tasks)
    assert seen["y"] == [2, 1]


async def test_the_drain_rate_is_measured_from_finished_work() -> None:
    now = [0.0]
    admission = Admission(max_concurrent=4, max_queue=10, queue_timeout_s=5, clock=lambda: now[0])
    assert admission.drain_rate() is None
    async with admission.slot("a", deadline_s=30):
        now[0] += 2.0
    assert admission.drain_rate() == pytest.approx(2.0)  # 4 slots / 2 s
    assert admission.expected_wait_s(6) == pytest.approx(3.0)


async def test_a_flooding_client_cannot_keep_others_out_of_a_full_queue() -> None:
    admission = Admission(max_concurrent=1, max_queue=4, queue_timeout_s=5)
    release = asyncio.Event()
    served: list[str] = []
    blocker = asyncio.create_task(hold(admission, "flood", release, served))
    await settle()
    flood = [asyncio.create_task(hold(admission, "flood", release, served)) for _ in range(4)]
    await settle()
    assert admission.queued == 4
    polite = asyncio.create_task(hold(admission, "polite", release, served))
    await settle()
    assert admission.queued == 4  # the newest flood waiter made room
    with pytest.raises(QueueFull):
        await flood[-1]
    # The flood client itself still cannot push anyone out.
    with pytest.raises(QueueFull):
        async with admission.slot("flood", deadline_s=30):
            pass
    release.set()
    await asyncio.gather(blocker, polite, *flood[:-1])
    assert served.index("polite") <= 2  # served right after the first flood waiter


async def test_a_waiter_leaves_once_its_analysis_could_no_longer_finish_in_time() -> None:
    admission = Admission(max_concurrent=1, max_queue=10, queue_timeout_s=60, initial_service_s=0.2)
    release = asyncio.Event()
    blocker = asyncio.create_task(hold(admission, "a", release, []))
    await settle()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DeadlineUnreachable, match="no longer"):
        async with admission.slot("b", deadline_s=1.0):  # 0.4 s expected: queued
            pass
    waited = loop.time() - started
    assert 0.7 <= waited < 1.5  # left at deadline - planned analysis time (0.8 s)
    assert admission.queued == 0 and admission.counts.rejected == {"deadline": 1}
    release.set()
    await blocker


async def test_the_planned_analysis_time_grows_with_the_spread() -> None:
    now = [0.0]
    admission = Admission(max_concurrent=1, max_queue=1, queue_timeout_s=5, clock=lambda: now[0])
    assert admission.planned_service_s() == 0.0
    for duration in (1.0, 1.0, 3.0, 1.0):
        async with admission.slot("a", deadline_s=30):
            now[0] += duration
    assert admission.service_s is not None
    assert admission.planned_service_s() > admission.service_s + 0.5
