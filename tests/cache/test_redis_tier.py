from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.cache.errors import TierUnavailable
from services.cache.redis_tier import RedisTier
from services.cache.tier import CacheTier
from services.common.breaker import BreakerState, CircuitBreaker
from tests.cache.conftest import Clock
from tests.conftest import RedisServer


def state(breaker: CircuitBreaker) -> BreakerState:
    # Read through a function so the checker does not narrow a property that
    # changes between reads.
    return breaker.state


# --- breaker -------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=3, cool_down_s=5, clock=Clock(1000.0))
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the run
    breaker.record_failure()
    breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_breaker_half_opens_after_cool_down_and_lets_one_probe_through() -> None:
    clock = Clock(1000.0)
    breaker = CircuitBreaker(failure_threshold=1, cool_down_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 4.9
    assert not breaker.allow()
    assert breaker.retry_after_s() == pytest.approx(0.1)
    clock.now += 0.1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller waits for the probe's outcome
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED and breaker.allow()


def test_failed_probe_reopens_for_a_full_cool_down() -> None:
    clock = Clock(1000.0)
    breaker = CircuitBreaker(failure_threshold=1, cool_down_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_abandoned_probe_does_not_block_forever() -> None:
    clock = Clock(1000.0)
    breaker = CircuitBreaker(failure_threshold=1, cool_down_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()  # its outcome is never recorded
    clock.now += 5
    assert breaker.allow()


# --- redis tier ------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
async def tier(redis_url: str, clock: Clock) -> AsyncIterator[RedisTier]:
    breaker = CircuitBreaker(failure_threshold=3, cool_down_s=5, clock=clock)
    redis_tier = RedisTier(redis_url, breaker=breaker)
    yield redis_tier
    await redis_tier.aclose()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def test_redis_tier_is_a_cache_tier(tier: RedisTier) -> None:
    assert isinstance(tier, CacheTier)
    assert tier.name == "redis"


async def test_set_get_with_ttl_and_prefix(tier: RedisTier, raw: aioredis.Redis) -> None:
    await tier.set("opp:v1:abc", b"\x01payload", ttl_s=90.0)
    assert await tier.get("opp:v1:abc") == b"\x01payload"
    assert await tier.get("opp:v1:absent") is None
    pttl = await raw.pttl("oppsuite:cache:{opp:v1:abc}")
    assert 89_000 < pttl <= 90_000


async def test_key_expires_in_redis(tier: RedisTier) -> None:
    await tier.set("short", b"x", ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert await tier.get("short") is None


async def test_non_positive_ttl_is_rejected(tier: RedisTier) -> None:
    with pytest.raises(ValueError):
        await tier.set("k", b"x", ttl_s=0)


async def test_delete_counts_existing_keys(tier: RedisTier) -> None:
    for k in ("a", "b"):
        await tier.set(k, b"x", ttl_s=60)
    assert await tier.delete(["a", "b", "missing"]) == 2
    assert await tier.get("a") is None
    assert await tier.delete([]) == 0


async def test_scan_keys_visits_every_matching_key(tier: RedisTier, raw: aioredis.Redis) -> None:
    for i in range(120):
        await tier.set(f"opp:v1:{i:03d}", b"x", ttl_s=60)
    await tier.set("other:1", b"x", ttl_s=60)
    await raw.set("unprefixed:opp:v1:999", b"x")
    found = {k async for k in tier.scan_keys("opp:v1:*", count=10)}
    assert found == {f"opp:v1:{i:03d}" for i in range(120)}
    everything = {k async for k in tier.scan_keys()}
    assert everything == found | {"other:1"}


async def test_used_memory_and_ping(tier: RedisTier) -> None:
    assert await tier.used_memory() > 0
    assert await tier.ping() is True


async def test_breaker_opens_when_redis_is_down_and_recovers(
    tier: RedisTier, redis_server: RedisServer, clock: Clock
) -> None:
    await tier.set("k", b"v", ttl_s=60)
    redis_server.stop()
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(TierUnavailable) as caught:
                await tier.get("k")
            assert time.monotonic() - started < 0.2
            assert caught.value.__cause__ is not None  # a real network failure
        assert state(tier.breaker) is BreakerState.OPEN
        with pytest.raises(TierUnavailable, match="circuit is open") as open_error:
            await tier.get("k")
        assert open_error.value.__cause__ is None  # failed fast, no network call
        assert open_error.value.retry_after_s == pytest.approx(5)
        assert await tier.ping() is False
    finally:
        redis_server.start()
    clock.now += 5
    await tier.set("k", b"again", ttl_s=60)
    assert state(tier.breaker) is BreakerState.CLOSED
    assert await tier.get("k") == b"again"


async def test_ping_closes_an_open_breaker(tier: RedisTier) -> None:
    for _ in range(3):
        tier.breaker.record_failure()
    assert state(tier.breaker) is BreakerState.OPEN
    assert await tier.ping() is True
    assert state(tier.breaker) is BreakerState.CLOSED


async def test_pooled_connections_survive_a_redis_restart(
    redis_url: str, redis_server: RedisServer
) -> None:
    # Connect budget generous: this is about broken pooled sockets being replaced,
    # not about how fast a just-restarted Redis accepts.
    tier = RedisTier(redis_url, breaker=CircuitBreaker(), connect_timeout_s=2.0)
    try:
        await _survives_restart(tier, redis_server)
    finally:
        await tier.aclose()


async def _survives_restart(tier: RedisTier, redis_server: RedisServer) -> None:
    # Several pooled connections, all of which the restart breaks.
    await asyncio.gather(*(tier.set(f"k{i}", b"v", ttl_s=60) for i in range(8)))
    redis_server.stop()
    redis_server.start()
    # Every broken socket is replaced on first use: no call fails, the breaker stays shut.
    results = await asyncio.gather(*(tier.get(f"k{i}") for i in range(8)))
    assert results == [None] * 8  # the restarted Redis is empty (no persistence)
    await tier.set("after", b"v", ttl_s=60)
    assert await tier.get("after") == b"v"
    assert state(tier.breaker) is BreakerState.CLOSED


async def test_an_invalidated_key_cannot_be_promoted_back_but_an_evicted_one_can(
    tier: RedisTier, raw: aioredis.Redis
) -> None:
    # A promotion that read L2 before the invalidation arrives after it: refused, on
    # any replica, because the tombstone lives in Redis.
    await tier.set("gone", b"v1", ttl_s=60)
    assert await tier.delete(["gone"], tombstone=True) == 1
    assert not await tier.set_if_absent("gone", b"v1", ttl_s=60)
    assert await tier.get("gone") is None
    tomb_ms = await raw.pttl("oppsuite:tomb:{gone}")
    assert 0 < tomb_ms <= 10_000
    # A fresh write is not blocked; only copies are.
    await tier.set("gone", b"v2", ttl_s=60)
    assert await tier.get("gone") == b"v2"
    # Evicting one tier leaves no tombstone: the next read may promote again.
    await tier.set("evicted", b"v", ttl_s=60)
    assert await tier.delete(["evicted"]) == 1
    assert await tier.set_if_absent("evicted", b"v", ttl_s=60)
    # And a present key is never overwritten by a copy.
    assert not await tier.set_if_absent("evicted", b"older", ttl_s=60)
    assert await tier.get("evicted") == b"v"


class FreezingRedis:
    """A TCP server that speaks just enough RESP to get through redis-py's connection
    handshake (every command answered +OK) and then freezes, like a Redis host that
    hung: from the first ``freeze_on`` command it neither reads nor answers, so reads
    never complete and writes back up once the socket buffers fill."""

    def __init__(self, freeze_on: str) -> None:
        self.freeze_on = freeze_on.encode()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while True:
            header = await reader.readline()  # *<argc>
            if not header:
                return
            name = b""
            for index in range(int(header[1:])):
                size = int((await reader.readline())[1:])  # $<len>
                if index == 0:
                    name = (await reader.readexactly(size + 2))[:-2].upper()
                    if name == self.freeze_on:
                        writer.transport.pause_reading()
                        return
                else:
                    await reader.readexactly(size + 2)
            writer.write(b"+OK\r\n")

    @property
    def connections(self) -> int:
        return len(self.writers)

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def test_a_frozen_redis_times_out_a_read_within_the_socket_timeout() -> None:
    async with FreezingRedis(freeze_on="GET") as url:
        tier = RedisTier(url, breaker=CircuitBreaker(), socket_timeout_s=0.05)
        try:
            started = time.monotonic()
            with pytest.raises(TierUnavailable, match="Timeout reading"):
                await tier.get("k")
            assert time.monotonic() - started < 0.5
        finally:
            await tier.aclose()


async def test_a_write_that_cannot_drain_times_out_and_drops_its_connection() -> None:
    # The bound on writes is ours (TaskFreeConnection), not redis-py's: a value far
    # larger than the socket buffers must give up at the socket timeout, and the
    # half-written connection must not go back to the pool for the next command.
    frozen = FreezingRedis(freeze_on="SET")
    async with frozen as url:
        tier = RedisTier(url, breaker=CircuitBreaker(), socket_timeout_s=0.05)
        try:
            started = time.monotonic()
            with pytest.raises(TierUnavailable, match="Timeout writing to socket"):
                await tier.set("k", b"x" * (64 * 1024 * 1024), ttl_s=60)
            assert time.monotonic() - started < 1.0
            assert frozen.connections == 1
            await tier.ping()  # answered +OK on a new connection
            assert frozen.connections == 2
        finally:
            await tier.aclose()
