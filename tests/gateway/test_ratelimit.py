"""GCRA: the pure step, the local buckets on an injected clock, and the Lua script
against a real Redis (exactness, atomicity, retry delay, NOSCRIPT, outage)."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.common.breaker import CircuitBreaker
from services.gateway.config import LimitSpec
from services.gateway.errors import LimiterUnavailable, RateLimited
from services.gateway.ratelimit import (
    LimitCheck,
    LocalGcra,
    RateLimiter,
    RedisGcra,
    gcra_step,
)
from tests.conftest import RedisServer, free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def check(per_minute: float, burst: int, key: str = "k") -> LimitCheck:
    return LimitCheck("client", "client:x", key, LimitSpec(per_minute, burst))


def test_gcra_step_admits_burst_then_one_per_interval() -> None:
    tat = None
    admitted = 0
    for _ in range(10):
        new_tat, wait = gcra_step(tat, 0.0, 1.0, 3.0)
        if wait == 0:
            tat, admitted = new_tat, admitted + 1
    assert admitted == 3
    assert gcra_step(tat, 0.0, 1.0, 3.0)[1] == pytest.approx(1.0)
    assert gcra_step(tat, 1.0, 1.0, 3.0)[1] == 0.0


def test_local_buckets_admit_rate_times_time_plus_burst_exactly() -> None:
    clock = Clock()
    local = LocalGcra(clock=clock)
    limit = [check(600, 5)]  # 10/s
    admitted = 0
    for step in range(3000):  # 3 s in 1 ms steps, offered 1000/s
        clock.now = 1000.0 + step / 1000
        allowed, _, _ = local.check_now(limit)
        admitted += allowed
    assert admitted == 5 + 30 - 1  # burst + rate x (2.999 s), floor


def test_local_rejection_names_the_limit_with_the_longest_wait_and_consumes_nothing() -> None:
    clock = Clock()
    local = LocalGcra(clock=clock)
    client, glob = check(60, 1, "c"), check(6000, 100, "g")
    assert local.check_now([client, glob])[0]
    allowed, which, wait = local.check_now([client, glob])
    assert (allowed, which) == (False, 0) and wait == pytest.approx(1.0)
    # The rejected request consumed nothing from the global bucket: 99 more fit.
    assert sum(local.check_now([glob])[0] for _ in range(100)) == 99


async def test_redis_script_is_exact_over_time(redis_url: str) -> None:
    gcra = RedisGcra(redis_url, timeout_s=0.5)
    limit = [check(1200, 10, "{oppsuite:rl}:exact")]  # 20/s
    admitted = 0
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        allowed, _, _ = await gcra.check(limit)
        admitted += allowed
        await asyncio.sleep(0.002)
    elapsed = time.monotonic() - started
    await gcra.aclose()
    expected = 10 + 20 * elapsed
    assert abs(admitted - expected) <= 2.5, (admitted, expected)


async def test_redis_retry_delay_is_the_exact_wait(redis_url: str) -> None:
    gcra = RedisGcra(redis_url, timeout_s=0.5)
    limit = [check(30, 2, "{oppsuite:rl}:delay")]  # one per 2 s, burst 2
    assert (await gcra.check(limit))[0] and (await gcra.check(limit))[0]
    allowed, which, wait = await gcra.check(limit)
    assert not allowed and which == 0
    assert 1.5 < wait <= 2.0
    started = time.monotonic()
    await asyncio.sleep(wait - 0.6)
    if time.monotonic() - started < wait - 0.1:  # (a stalled machine can oversleep)
        assert not (await gcra.check(limit))[0]  # still too early
    await asyncio.sleep(max(0.0, wait + 0.05 - (time.monotonic() - started)))
    assert (await gcra.check(limit))[0]  # just after the delay: admitted
    await gcra.aclose()


async def test_concurrent_decisions_are_atomic(redis_url: str) -> None:
    gcras = [RedisGcra(redis_url, timeout_s=1.0) for _ in range(3)]
    limit = [check(0.001, 25, "{oppsuite:rl}:atomic")]  # effectively no refill
    results = await asyncio.gather(*(g.check(limit) for g in gcras for _ in range(40)))
    assert sum(allowed for allowed, _, _ in results) == 25
    for g in gcras:
        await g.aclose()


async def test_a_batch_decides_each_request_alone_and_in_order(redis_url: str) -> None:
    """Concurrent decisions share script calls, with the same outcome as one by one: a
    request rejected by its client limit consumes nothing of the global limit."""
    gcra = RedisGcra(redis_url, timeout_s=1.0, max_in_flight=1)
    glob = LimitCheck("global", "global", "{oppsuite:rl}:g", LimitSpec(0.001, 10))

    def request(client: str) -> list[LimitCheck]:
        own = LimitCheck("client", client, "{oppsuite:rl}:c:" + client, LimitSpec(0.001, 2))
        return [own, glob]

    clients = ["a", "b", "c", "a", "a", "b", "d", "e", "a", "f", "g", "h", "i"]
    results = await asyncio.gather(*(gcra.check(request(c)) for c in clients))
    # a: 2 of 4 (its own limit); the two refused a's consume no global capacity, so
    # the global limit (10) lasts until h and refuses only i.
    outcome = [(allowed, "global" if which == 1 else "") for allowed, which, _ in results]
    admitted = [c for c, (ok, _) in zip(clients, outcome, strict=True) if ok]
    assert admitted == ["a", "b", "c", "a", "b", "d", "e", "f", "g", "h"]
    assert outcome[clients.index("i")] == (False, "global")
    assert [ok for ok, _ in outcome[3:6]] == [True, False, True]  # a's 3rd by its limit
    assert gcra.decisions == len(clients)
    assert gcra.round_trips < len(clients)  # batched: fewer script calls than decisions
    await gcra.aclose()


async def test_script_reloaded_after_redis_forgets_it(redis_url: str) -> None:
    import redis.asyncio as aioredis

    gcra = RedisGcra(redis_url, timeout_s=0.5)
    limit = [check(600, 5, "{oppsuite:rl}:noscript")]
    await gcra.check(limit)
    before = gcra.round_trips
    await gcra.check(limit)
    assert gcra.round_trips == before + 1  # one EVALSHA per decision
    client = aioredis.Redis.from_url(redis_url)
    await client.script_flush()
    await client.aclose()
    assert (await gcra.check(limit))[0]
    assert gcra.round_trips == before + 4  # NOSCRIPT, SCRIPT LOAD, EVALSHA
    await gcra.aclose()


def limiter(redis_url: str, **kwargs: object) -> RateLimiter:
    defaults: dict[str, object] = {
        "global_limit": LimitSpec(6000, 1000),
        "client_limit": LimitSpec(60, 3),
    }
    defaults.update(kwargs)
    return RateLimiter(RedisGcra(redis_url, timeout_s=0.05), **defaults)  # type: ignore[arg-type]


async def test_per_client_limits_and_overrides_are_separate(redis_url: str) -> None:
    rl = limiter(redis_url, overrides={"crm": LimitSpec(60, 6)})
    started = time.monotonic()
    for _ in range(3):
        await rl.enforce("dash")
    with pytest.raises(RateLimited) as raised:
        await rl.enforce("dash")
    elapsed = time.monotonic() - started
    assert raised.value.limit == "client" and raised.value.subject == "client:dash"
    # Exactly the second the burst of 3 bought, less what has passed since it began.
    assert 1.0 - elapsed - 0.005 <= raised.value.retry_after_s <= 1.0
    for _ in range(6):  # another client, its own override, untouched by dash's flood
        await rl.enforce("crm")
    assert rl.counts.rejected_by_limit == {"client": 1}


async def test_global_limit_fires_across_clients(redis_url: str) -> None:
    rl = limiter(redis_url, global_limit=LimitSpec(60, 4), client_limit=LimitSpec(6000, 100))
    for client in ("a", "b", "c", "d"):
        await rl.enforce(client)
    with pytest.raises(RateLimited) as raised:
        await rl.enforce("e")
    assert raised.value.limit == "global" and raised.value.subject == "global"


async def test_shadow_mode_counts_but_never_rejects(redis_url: str) -> None:
    rl = limiter(redis_url, shadow=True)
    decisions = [await rl.enforce("flood") for _ in range(10)]
    assert sum(not d.allowed for d in decisions) == 7
    assert rl.counts.shadow_rejected_by_limit == {"client": 7}
    assert rl.counts.rejected_by_limit == {}


async def test_redis_down_falls_back_to_local_buckets_without_stalling() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    rl = limiter(dead, client_limit=LimitSpec(6, 9), replicas=3)
    started = time.monotonic()
    outcomes = []
    for _ in range(50):
        try:
            outcomes.append((await rl.enforce("c")).backend)
        except RateLimited as error:
            outcomes.append(f"rejected:{error.limit}")
    assert time.monotonic() - started < 2.0  # 3 failed attempts, then the breaker
    assert rl.degraded
    # Local bucket: 6/min ÷ 3 replicas = one per 30 s, starting with one available.
    assert outcomes.count("local") == 1
    assert outcomes.count("rejected:client") == 49


async def test_fail_closed_refuses_while_redis_is_down() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    rl = limiter(dead, fail_mode="closed")
    with pytest.raises(LimiterUnavailable) as raised:
        await rl.enforce("c")
    assert raised.value.retry_after_s is not None and raised.value.retry_after_s > 0


async def test_recovers_automatically_when_redis_returns(redis_server: RedisServer) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cool_down_s=0.2)
    rl = limiter(redis_server.url, breaker=breaker)
    assert (await rl.enforce("r")).backend == "redis"
    redis_server.stop()
    try:
        assert (await rl.enforce("r")).backend == "local"
        assert rl.degraded
    finally:
        redis_server.start()
    deadline = time.monotonic() + 5
    backend = "local"
    while backend != "redis" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        backend = (await rl.enforce("recovering")).backend
    assert backend == "redis" and not rl.degraded


async def test_what_was_admitted_locally_is_charged_when_redis_returns(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio as aioredis

    rl = limiter(
        redis_server.url,
        client_limit=LimitSpec(6, 5),  # one per 10 s
        breaker=CircuitBreaker(failure_threshold=1, cool_down_s=0.2),
    )
    redis_server.stop()
    try:
        assert (await rl.enforce("s")).backend == "local"
    finally:
        redis_server.start()  # an empty Redis: it knows nothing of that admission
    deadline = time.monotonic() + 5
    attempt = 0
    while (await rl.enforce(f"probe-{attempt}")).backend != "redis":
        assert time.monotonic() < deadline, "no recovery"
        attempt += 1
        await asyncio.sleep(0.1)
    assert rl.counts.outages_settled == 1
    client = aioredis.Redis.from_url(redis_server.url)
    seconds, micros = await client.time()
    tat = int(await client.get("{oppsuite:rl}:c:s"))
    await client.aclose()
    owed = tat / 1e6 - (seconds + micros / 1e6)
    assert 9.0 < owed <= 10.0  # one request's worth (10 s) of the shared bucket


async def test_a_redis_restart_is_not_mistaken_for_an_outage(redis_server: RedisServer) -> None:
    rl = limiter(redis_server.url, client_limit=LimitSpec(100000, 1000))
    await asyncio.gather(*(rl.enforce("t") for _ in range(20)))  # a pool of open sockets
    redis_server.stop()
    redis_server.start()
    decisions = await asyncio.gather(*(rl.enforce("t") for _ in range(20)))
    assert {d.backend for d in decisions} == {"redis"}
    assert rl.counts.backend_errors == 0 and not rl.degraded
