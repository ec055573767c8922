"""Leases, WaitForEntry and the invalidation channel, over real gRPC and a real Redis."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis

from services.cache.app import build
from services.cache.redis_tier import INVALIDATION_CHANNEL
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from tests.cache.conftest import settings_for
from tests.servicers import running


@pytest.fixture
async def address(redis_url: str) -> AsyncIterator[str]:
    async with running(lambda: build(settings_for(redis_url, None))) as host:
        yield f"127.0.0.1:{host.port}"


@pytest.fixture
async def cache(address: str) -> AsyncIterator[cache_pb2_grpc.CacheStub]:
    async with grpc.aio.insecure_channel(address) as channel:
        yield cache_pb2_grpc.CacheStub(channel)


def entry(score: int = 92) -> cache_pb2.CacheEntry:
    return cache_pb2.CacheEntry(
        analysis=types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=score),
        compute_ms=3000,
    )


def lease(
    key: str, holder: str, ttl_ms: int = 5000, token: str = ""
) -> cache_pb2.CacheLeaseRequest:
    return cache_pb2.CacheLeaseRequest(key=key, ttl_ms=ttl_ms, holder=holder, token=token)


async def test_a_lease_is_exclusive_renewable_and_released_only_by_its_token(
    cache: cache_pb2_grpc.CacheStub, redis_url: str
) -> None:
    first = await cache.Lease(lease("k", "gw-a", ttl_ms=2000))
    assert first.granted and first.token and first.ttl_ms == 2000
    second = await cache.Lease(lease("k", "gw-b"))
    assert not second.granted and not second.token
    assert second.holder == "gw-a" and 0 < second.remaining_ms <= 2000

    renewed = await cache.Lease(lease("k", "gw-a", ttl_ms=60_000, token=first.token))
    assert renewed.granted and renewed.token == first.token
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert await raw.pttl("oppsuite:lease:{k}") > 50_000
    finally:
        await raw.aclose()

    wrong = await cache.Release(cache_pb2.CacheReleaseRequest(key="k", token="not-the-token"))
    assert not wrong.released
    assert not (await cache.Lease(lease("k", "gw-b"))).granted
    assert (await cache.Release(cache_pb2.CacheReleaseRequest(key="k", token=first.token))).released
    assert (await cache.Lease(lease("k", "gw-b"))).granted


async def test_a_dead_holder_loses_its_lease_when_it_stops_renewing(
    cache: cache_pb2_grpc.CacheStub, address: str
) -> None:
    # A separate process takes the lease and renews it every 100 ms until killed.
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLDER,
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=30)
        assert line.strip() == b"granted"
        await asyncio.sleep(1.0)  # well past the 400 ms TTL: renewals keep it alive
        taken = await cache.Lease(lease("dead", "other"))
        assert not taken.granted and taken.holder == "holder-process"
        holder.kill()
        await asyncio.wait_for(holder.wait(), timeout=10)
        deadline = time.monotonic() + 10
        while not (granted := (await cache.Lease(lease("dead", "other"))).granted):
            assert time.monotonic() < deadline, "the dead holder's lease never expired"
            await asyncio.sleep(0.05)
        assert granted
    finally:
        if holder.returncode is None:
            holder.kill()
            await asyncio.wait_for(holder.wait(), timeout=10)


_HOLDER = """
import sys, time
import grpc
from services.common.gen import cache_pb2, cache_pb2_grpc
stub = cache_pb2_grpc.CacheStub(grpc.insecure_channel(sys.argv[1]))
request = cache_pb2.CacheLeaseRequest(key="dead", ttl_ms=400, holder="holder-process")
reply = stub.Lease(request, timeout=5)
assert reply.granted
print("granted", flush=True)
while True:
    time.sleep(0.1)
    request.token = reply.token
    assert stub.Lease(request, timeout=5).granted
"""


async def test_wait_for_entry_returns_the_entry_once_the_holder_puts_it(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    held = await cache.Lease(lease("w", "computer"))
    waiter = asyncio.ensure_future(
        cache.WaitForEntry(cache_pb2.CacheWaitRequest(key="w", timeout_ms=10_000))
    )
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await cache.Put(cache_pb2.CachePutRequest(key="w", entry=entry()))
    await cache.Release(cache_pb2.CacheReleaseRequest(key="w", token=held.token))
    got = await asyncio.wait_for(waiter, timeout=5)
    assert got.hit and got.entry.analysis.confidence_score == 92
    assert (await cache.GetStats(cache_pb2.CacheStatsRequest())).lease_waits == 1


async def test_wait_for_entry_ends_early_when_the_lease_is_released_without_a_write(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    held = await cache.Lease(lease("r", "computer"))
    started = time.monotonic()
    waiter = asyncio.ensure_future(
        cache.WaitForEntry(cache_pb2.CacheWaitRequest(key="r", timeout_ms=20_000))
    )
    await asyncio.sleep(0.2)
    await cache.Release(cache_pb2.CacheReleaseRequest(key="r", token=held.token))
    got = await asyncio.wait_for(waiter, timeout=5)
    assert not got.hit and got.source == types_pb2.CACHE_SOURCE_MISS
    assert time.monotonic() - started < 5


async def test_wait_for_entry_times_out_and_respects_the_callers_deadline(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    await cache.Lease(lease("t", "slow-computer", ttl_ms=60_000))
    started = time.monotonic()
    got = await cache.WaitForEntry(cache_pb2.CacheWaitRequest(key="t", timeout_ms=300))
    assert not got.hit and 0.25 < time.monotonic() - started < 3
    started = time.monotonic()
    # The caller's deadline (0.5 s) is shorter than timeout_ms: a miss, not an error.
    got = await cache.WaitForEntry(
        cache_pb2.CacheWaitRequest(key="t", timeout_ms=60_000), timeout=0.5
    )
    assert not got.hit and time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (cache_pb2.CacheLeaseRequest(key="", ttl_ms=10), "key"),
        (cache_pb2.CacheLeaseRequest(key="k", ttl_ms=3_600_000), "ttl_ms"),
        (cache_pb2.CacheLeaseRequest(key="k{x}"), "key"),
    ],
)
async def test_bad_lease_requests_are_invalid_argument(
    cache: cache_pb2_grpc.CacheStub, request_: cache_pb2.CacheLeaseRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await cache.Lease(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as waited:
        await cache.WaitForEntry(cache_pb2.CacheWaitRequest(key="k", timeout_ms=0))
    assert waited.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_replacing_puts_and_invalidations_are_published(
    cache: cache_pb2_grpc.CacheStub, redis_url: str
) -> None:
    raw = aioredis.Redis.from_url(redis_url)
    pubsub = raw.pubsub()
    try:
        await pubsub.subscribe(INVALIDATION_CHANNEL)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        await cache.Put(cache_pb2.CachePutRequest(key="fresh", entry=entry()))  # new: silent
        await cache.Put(cache_pb2.CachePutRequest(key="fresh", entry=entry(95)))  # replaces
        await cache.Invalidate(cache_pb2.CacheInvalidateRequest(keys=["other"]))
        seen: list[bytes] = []
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                seen.append(message["data"])
        assert seen == [b"fresh", b"other"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await raw.aclose()


async def test_three_clients_one_hundred_gets_for_one_missing_key_compute_once(
    address: str,
) -> None:
    """The gateway's protocol: Get; on a miss take the lease; the winner computes and
    Puts, the others WaitForEntry. Three channels stand for three gateways."""
    computed = 0

    async def one(stub: cache_pb2_grpc.CacheStub, who: str) -> bool:
        nonlocal computed
        if (await stub.Get(cache_pb2.CacheGetRequest(key="hot"))).hit:
            return True
        held = await stub.Lease(lease("hot", who, ttl_ms=10_000))
        if held.granted:
            computed += 1
            await asyncio.sleep(0.3)  # the analysis
            await stub.Put(cache_pb2.CachePutRequest(key="hot", entry=entry()))
            await stub.Release(cache_pb2.CacheReleaseRequest(key="hot", token=held.token))
            return True
        got = await stub.WaitForEntry(cache_pb2.CacheWaitRequest(key="hot", timeout_ms=10_000))
        if got.hit:
            return True
        # The lease vanished between our Lease and the first probe: the entry is there.
        return bool((await stub.Get(cache_pb2.CacheGetRequest(key="hot"))).hit)

    channels = [grpc.aio.insecure_channel(address) for _ in range(3)]
    try:
        stubs = [cache_pb2_grpc.CacheStub(c) for c in channels]
        outcomes = await asyncio.gather(*(one(stubs[i % 3], f"gw-{i % 3}") for i in range(100)))
    finally:
        for channel in channels:
            await channel.close()
    assert all(outcomes) and computed == 1


async def test_no_new_lease_while_the_entry_exists_unless_refreshing(
    cache: cache_pb2_grpc.CacheStub,
) -> None:
    """A Get that missed just before another holder's Put must not lead to a second
    compute: the lease is refused and WaitForEntry answers at once."""
    await cache.Put(cache_pb2.CachePutRequest(key="done", entry=entry()))
    late = await cache.Lease(lease("done", "late-gateway"))
    assert not late.granted and late.entry_exists and not late.holder
    started = time.monotonic()
    got = await cache.WaitForEntry(cache_pb2.CacheWaitRequest(key="done", timeout_ms=10_000))
    assert got.hit and time.monotonic() - started < 2
    refresh = cache_pb2.CacheLeaseRequest(key="done", holder="xfetch", ttl_ms=5000, refresh=True)
    refreshing = await cache.Lease(refresh)
    assert refreshing.granted and not refreshing.entry_exists
    assert not (await cache.Lease(refresh)).granted  # still one refresher at a time
