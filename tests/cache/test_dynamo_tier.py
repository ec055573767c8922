"""The DynamoDB tier against moto's server mode over HTTP, through the real boto3 client."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.cache.dynamo_tier import DynamoTier, L2Write
from services.cache.errors import TierUnavailable
from services.common.breaker import CircuitBreaker
from tests.cache.conftest import Clock, dynamodb, unique_table
from tests.conftest import MotoServer, free_port

# moto applies the TTL attribute against the real clock, so tests start from real time.
NOW = float(int(time.time()))


class Recording:
    """The real boto3 client, with batch calls recorded and (optionally) the first
    ``unprocessed`` batch calls answered only in part, the rest handed back as
    UnprocessedKeys/UnprocessedItems the way DynamoDB does under load. The part that
    is processed really goes to moto."""

    def __init__(self, client: Any, unprocessed: int = 0) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.unprocessed = unprocessed
        self.batch_get_sizes: list[int] = []
        self.batch_write_sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _take_fault(self) -> bool:
        with self._lock:
            if self.unprocessed > 0:
                self.unprocessed -= 1
                return True
            return False

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        with self._lock:
            self.batch_get_sizes.append(len(keys))
        if self._take_fault():
            half = len(keys) // 2
            reply: dict[str, Any] = {"Responses": {table: []}}
            if half:
                processed = {table: {**request, "Keys": keys[:half]}}
                reply = dict(self._client.batch_get_item(RequestItems=processed))
            reply["UnprocessedKeys"] = {table: {**request, "Keys": keys[half:]}}
            return reply
        return dict(self._client.batch_get_item(RequestItems=RequestItems))

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        with self._lock:
            self.batch_write_sizes.append(len(requests))
        if self._take_fault():
            half = len(requests) // 2
            reply: dict[str, Any] = {}
            if half:
                reply = dict(self._client.batch_write_item(RequestItems={table: requests[:half]}))
            reply["UnprocessedItems"] = {table: requests[half:]}
            return reply
        return dict(self._client.batch_write_item(RequestItems=RequestItems))


def write(key: str, confidence: float = 90, ttl_s: float = 3600, value: bytes = b"") -> L2Write:
    return L2Write(key, value or f"v-{key}-{confidence}".encode(), confidence, NOW + ttl_s)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def recording(aws_env: MotoServer) -> Recording:
    return Recording(dynamodb(aws_env.endpoint))


@pytest.fixture
async def tier(recording: Recording, clock: Clock) -> AsyncIterator[DynamoTier]:
    l2 = DynamoTier(
        recording,
        unique_table(),
        breaker=CircuitBreaker(failure_threshold=3, cool_down_s=5),
        timeout_s=5.0,
        batch_deadline_s=10.0,
        clock=clock,
    )
    assert await l2.ping()  # creates the table
    yield l2
    await l2.aclose()


async def test_table_is_created_with_a_ttl_attribute(
    tier: DynamoTier, recording: Recording
) -> None:
    ttl = recording.describe_time_to_live(TableName=tier.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    assert await tier.put(write("a", ttl_s=100.5))
    item = recording.get_item(TableName=tier.table, Key={"pk": {"S": "a"}})["Item"]
    assert int(item["ttl"]["N"]) == math.ceil(NOW + 100.5)
    assert float(item["exp"]["N"]) == NOW + 100.5


async def test_get_hit_miss_and_expired(tier: DynamoTier, clock: Clock) -> None:
    await tier.put(write("a", ttl_s=10))
    hit = await tier.get("a")
    assert (hit.status, hit.value, hit.confidence) == ("hit", b"v-a-90", 90.0)
    assert (await tier.get("nothing")).status == "miss"
    clock.now += 10  # DynamoDB still holds it (TTL deletion is days late): we must not
    assert (await tier.get("a")).status == "expired"
    assert [r.status for r in await tier.batch_get(["a", "nothing"])] == ["expired", "miss"]


async def test_batch_get_chunks_keeps_order_and_removes_duplicates(
    tier: DynamoTier, recording: Recording
) -> None:
    statuses = await tier.batch_put([write(f"k{i}") for i in range(150)])
    assert statuses == ["stored"] * 150
    assert max(recording.batch_write_sizes) <= 25 and sum(recording.batch_write_sizes) == 150
    keys = [f"k{i}" for i in range(149, -1, -1)] + [f"absent{i}" for i in range(60)]
    keys += ["k7", "absent3", "k7"]  # duplicates
    recording.batch_get_sizes.clear()
    reads = await tier.batch_get(keys)
    assert len(reads) == len(keys)
    assert sorted(recording.batch_get_sizes) == [10, 100, 100]  # 210 unique keys
    for key, read in zip(keys, reads, strict=True):
        if key.startswith("absent"):
            assert read.status == "miss"
        else:
            assert (read.status, read.value) == ("hit", f"v-{key}-90".encode())


async def test_unprocessed_keys_and_items_are_retried(
    tier: DynamoTier, recording: Recording
) -> None:
    recording.unprocessed = 2
    statuses = await tier.batch_put([write(f"u{i}") for i in range(40)])
    assert statuses == ["stored"] * 40
    recording.unprocessed = 3
    reads = await tier.batch_get([f"u{i}" for i in range(40)])
    assert [r.status for r in reads] == ["hit"] * 40
    assert tier.unprocessed_retries >= 4


async def test_keys_unprocessed_at_the_deadline_are_per_key_errors(
    recording: Recording, clock: Clock
) -> None:
    l2 = DynamoTier(
        recording,
        unique_table(),
        breaker=CircuitBreaker(failure_threshold=100, cool_down_s=5),
        timeout_s=5.0,
        batch_deadline_s=10.0,
        clock=clock,
    )
    try:
        assert await l2.ping()
        await l2.batch_put([write(f"d{i}") for i in range(8)])
        recording.unprocessed = 10_000  # DynamoDB never catches up
        started = time.monotonic()
        reads = await l2.batch_get([f"d{i}" for i in range(8)], deadline_s=0.5)
        assert time.monotonic() - started < 3.0
        statuses = [r.status for r in reads]
        assert "hit" in statuses and "error" in statuses
        assert set(statuses) == {"hit", "error"}
    finally:
        recording.unprocessed = 0
        await l2.aclose()


async def test_lower_confidence_never_replaces_a_better_unexpired_item(
    tier: DynamoTier, clock: Clock
) -> None:
    assert await tier.put(write("c", confidence=90))
    assert not await tier.put(write("c", confidence=70))
    assert (await tier.get("c")).value == b"v-c-90"
    assert await tier.put(write("c", confidence=90, value=b"same-confidence-refresh"))
    assert await tier.put(write("c", confidence=95))
    assert (await tier.get("c")).confidence == 95
    # Once the better one has expired, anything may take its place.
    clock.now += 7200
    assert await tier.put(L2Write("c", b"late-low", 40, clock.now + 60))
    assert (await tier.get("c")).value == b"late-low"
    # Batches follow the same rule.
    assert await tier.batch_put([L2Write("c", b"lower", 10, clock.now + 60)]) == ["rejected"]


async def test_delete_counts_unexpired_items(tier: DynamoTier) -> None:
    await tier.batch_put([write("x"), write("y")])
    assert await tier.delete(["x", "x", "zzz"]) == 1
    assert (await tier.get("x")).status == "miss"
    assert (await tier.get("y")).status == "hit"


async def test_scan_pages_through_every_item(tier: DynamoTier) -> None:
    await tier.batch_put([write(f"s{i}") for i in range(30)])
    seen = [key async for key, _, _ in tier.scan(page_size=7)]
    assert sorted(seen) == sorted(f"s{i}" for i in range(30))


async def test_unreachable_endpoint_fails_fast_and_opens_the_breaker(aws_env: MotoServer) -> None:
    dead = dynamodb(f"http://127.0.0.1:{free_port()}")
    l2 = DynamoTier(
        dead,
        unique_table(),
        breaker=CircuitBreaker(failure_threshold=2, cool_down_s=30),
        timeout_s=0.2,
    )
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(TierUnavailable):
                await l2.get("k")
            assert time.monotonic() - started < 1.0
        with pytest.raises(TierUnavailable, match="circuit is open"):
            await l2.get("k")
        assert not await l2.ping()
    finally:
        await l2.aclose()


async def test_delete_of_many_keys_runs_in_chunks(tier: DynamoTier) -> None:
    keys = [f"many{i}" for i in range(60)]
    await tier.batch_put([write(k) for k in keys])
    assert await tier.delete([*keys, *keys[:5], "never"]) == 60
    assert {r.status for r in await tier.batch_get(keys)} == {"miss"}
