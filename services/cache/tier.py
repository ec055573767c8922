"""What the cache store needs from a storage tier, and what the store reports.

A tier stores opaque bytes under string keys with a TTL; encoding, expiry rules and
counting live in the store (services.cache.store). Redis implements this today
(services.cache.redis_tier); the DynamoDB tier (services.cache.dynamo_tier) has a
richer interface of its own (conditional writes, batches with per-key outcomes).
Tiers raise ``TierUnavailable`` for every failure to reach their backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from services.common.gen import cache_pb2

__all__ = ["CacheTier", "GetResult", "PutResult", "StoreStats", "TierStats"]


@runtime_checkable
class CacheTier(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when the key is absent or expired."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``get`` for each key, in order, in as few round trips as the backend allows."""
        ...

    async def add_hits(self, counts: Mapping[str, int], ttl_s: float) -> list[int]:
        """Add to the keys' shared hit counts (each counter lives ``ttl_s`` more); the
        new totals, in order."""
        ...

    async def hit_counts(self, keys: Sequence[str]) -> list[int]:
        """The shared hit count of each key, in order."""
        ...

    async def count_entries(self, limit: int) -> tuple[int, bool]:
        """(entries stored, up to ``limit``; whether the count is complete)."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` so the backend drops it after ``ttl_s`` seconds."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value`` only when the key holds nothing; whether it did."""
        ...

    async def delete(self, keys: Sequence[str], *, tombstone: bool = False) -> int:
        """Remove ``keys``; returns how many existed. ``tombstone``: the keys are
        invalidated, and ``set_if_absent`` must not bring them back for a while."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers now. Never raises."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class GetResult:
    """One read. ``source`` is the name of the tier that answered a hit, else None.
    ``degraded`` means a tier could not be read, so the miss may be a false one."""

    hit: bool
    entry: cache_pb2.CacheEntry | None = None
    source: str | None = None
    degraded: bool = False
    refresh_early: bool = False
    expired: bool = False


@dataclass(frozen=True)
class PutResult:
    """``rejected``: a higher-confidence unexpired entry is kept instead.
    ``queued``: L2 was unreachable, the write waits in the bounded L2 queue."""

    stored: bool
    ttl_s: float
    rejected: bool = False
    queued: bool = False


@dataclass(frozen=True)
class TierStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    writes: int = 0
    expired_filtered: int = 0
    promotions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    entries: int = 0  # at the last census (services.cache.census)


@dataclass(frozen=True)
class StoreStats:
    """A snapshot. ``entries`` is the last census of the tier that holds every entry
    (L2 when there is one), 0 before the first census."""

    tiers: Mapping[str, TierStats] = field(default_factory=dict)
    entries: int = 0
    compute_seconds_saved_total: float = 0.0
    degraded: bool = False
    tiers_up: Mapping[str, bool] = field(default_factory=dict)
    lease_waits: int = 0
    early_refreshes: int = 0
    l2_write_queue_depth: int = 0
    l2_writes_dropped: int = 0
    l2_writes_flushed: int = 0
