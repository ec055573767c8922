"""Near cache: LRU bound, TTL capped by the entry's expiry, trust while unsubscribed,
and invalidation over real Redis pub/sub (including a Redis restart)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from services.gateway.nearcache import INVALIDATION_CHANNEL, Invalidations, NearCache
from tests.conftest import RedisServer


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = 1_700_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def near(clocks: Clocks, **kwargs: float) -> NearCache:
    cache = NearCache(
        max_entries=int(kwargs.get("max_entries", 3)),
        ttl_s=kwargs.get("ttl_s", 5.0),
        unsubscribed_ttl_s=kwargs.get("unsubscribed_ttl_s", 1.0),
        clock=lambda: clocks.mono,
        wall_clock=lambda: clocks.wall,
    )
    cache.subscribed = True
    return cache


def test_entries_expire_after_the_ttl_and_never_past_their_own_expiry() -> None:
    clocks = Clocks()
    cache = near(clocks)
    cache.put("long", "a", clocks.wall + 3600)
    cache.put("short", "b", clocks.wall + 2)
    clocks.advance(2.5)
    assert cache.get("long") == "a" and cache.get("short") is None
    clocks.advance(3)
    assert cache.get("long") is None


def test_the_least_recently_used_entry_goes_first() -> None:
    clocks = Clocks()
    cache = near(clocks)
    for key in ("a", "b", "c"):
        cache.put(key, key, clocks.wall + 60)
    cache.get("a")
    cache.put("d", "d", clocks.wall + 60)
    assert len(cache) == 3 and cache.get("b") is None and cache.get("a") == "a"
    assert cache.counts.evictions == 1


def test_ttl_zero_turns_it_off() -> None:
    clocks = Clocks()
    cache = near(clocks, ttl_s=0)
    cache.put("a", "a", clocks.wall + 60)
    assert cache.get("a") is None and len(cache) == 0


def test_while_unsubscribed_only_young_entries_are_trusted() -> None:
    clocks = Clocks()
    cache = near(clocks)
    cache.put("a", "a", clocks.wall + 60)
    cache.subscribed = False
    clocks.advance(0.5)
    assert cache.get("a") == "a"
    clocks.advance(1.0)
    assert cache.get("a") is None


async def wait_for(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_invalidation_messages_drop_entries_and_survive_a_redis_restart(
    redis_server: RedisServer,
) -> None:
    cache = NearCache(max_entries=10, ttl_s=60, unsubscribed_ttl_s=0.5)
    listener = Invalidations(redis_server.url, cache)
    await listener.start()
    try:
        await wait_for(lambda: cache.subscribed)
        cache.put("k1", "v1", time.time() + 60)
        cache.put("k2", "v2", time.time() + 60)
        publisher = aioredis.Redis.from_url(redis_server.url)
        await publisher.publish(INVALIDATION_CHANNEL, "k1")
        await wait_for(lambda: cache.counts.invalidations == 1)
        assert cache.get("k1") is None and cache.get("k2") == "v2"
        await publisher.aclose()

        redis_server.stop()
        await wait_for(lambda: not cache.subscribed)
        redis_server.start()
        await wait_for(lambda: cache.subscribed and listener.subscriptions >= 2, 10)
        assert cache.get("k2") is None  # flushed: messages may have been missed
        cache.put("k3", "v3", time.time() + 60)
        publisher = aioredis.Redis.from_url(redis_server.url)
        await publisher.publish(INVALIDATION_CHANNEL, "k3")
        await wait_for(lambda: cache.get("k3") is None)
        await publisher.aclose()
    finally:
        await listener.stop()
