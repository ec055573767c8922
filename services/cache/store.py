"""The cache service's domain logic: what counts as a hit, how long entries live,
and what gets counted. Transport-free; the servicer maps requests onto this.

Reads never raise for a tier problem: an unreachable tier, a corrupt value or an
entry past its ``expires_at_unix`` is a miss (the caller recomputes), counted, and
an unreachable tier marks the result and the stats ``degraded``. Writes also swallow
tier failures (``stored=False``): failing an analysis because its result could not
be cached would waste the work already paid for. ``invalidate`` does raise
``TierUnavailable``, because a caller who asked for removal must know it failed.

Errors are never cached: an entry without an analysis, or whose analysis has
neither a confidence score nor a confidence level, is refused (``stored=False``).
Callers should not send such entries at all; this is the guard behind that rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from services.cache import envelope
from services.cache.errors import CorruptEntry, TierUnavailable
from services.cache.tier import CacheTier, GetResult, PutResult, StoreStats, TierStats
from services.cache.ttl import TtlPolicy
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import cache_pb2, types_pb2

__all__ = ["MAX_KEY_CHARS", "CacheStore", "validate_key"]

MAX_KEY_CHARS = 256


def validate_key(key: str, field: str = "key") -> None:
    """Raise InvalidInput unless ``key`` is 1-256 printable ASCII characters, no spaces."""
    if not key:
        problem = "is required"
    elif len(key) > MAX_KEY_CHARS:
        problem = f"is {len(key)} characters; the limit is {MAX_KEY_CHARS}"
    elif not all("!" <= ch <= "~" for ch in key):
        problem = "must be printable ASCII without spaces"
    else:
        return
    raise InvalidInput([FieldViolation(field, problem)])


@dataclass
class _Counters:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    writes: int = 0
    expired_filtered: int = 0


def _cacheable(entry: cache_pb2.CacheEntry) -> bool:
    if not entry.HasField("analysis"):
        return False
    analysis = entry.analysis
    return bool(
        analysis.confidence_score > 0 or analysis.confidence != types_pb2.CONFIDENCE_UNSPECIFIED
    )


class CacheStore:
    def __init__(self, tier: CacheTier, ttl: TtlPolicy, clock: Callable[[], float]) -> None:
        """``clock`` is wall-clock seconds (time.time): expiry is stored as a Unix time
        so every replica and every tier agrees on it."""
        self._tier = tier
        self._ttl = ttl
        self._clock = clock
        self._counters = _Counters()
        self._compute_saved_s = 0.0
        self._degraded = False

    @property
    def tier(self) -> CacheTier:
        return self._tier

    async def get(self, key: str) -> GetResult:
        validate_key(key)
        counters = self._counters
        try:
            data = await self._tier.get(key)
        except TierUnavailable:
            counters.errors += 1
            counters.misses += 1
            self._degraded = True
            return GetResult(hit=False, degraded=True)
        self._degraded = False
        entry = self._decode(data)
        if entry is None:
            counters.misses += 1
            return GetResult(hit=False)
        if entry.expires_at_unix <= self._clock():
            # Redis already drops entries at their TTL; this catches clock skew
            # between replicas and tiers that expire lazily.
            counters.expired_filtered += 1
            counters.misses += 1
            return GetResult(hit=False)
        counters.hits += 1
        self._compute_saved_s += entry.compute_ms / 1000.0
        return GetResult(hit=True, entry=entry, source=self._tier.name)

    def _decode(self, data: bytes | None) -> cache_pb2.CacheEntry | None:
        if data is None:
            return None
        try:
            return envelope.decode(data)
        except CorruptEntry:
            self._counters.errors += 1
            return None

    async def put(self, key: str, entry: cache_pb2.CacheEntry) -> PutResult:
        validate_key(key)
        if not _cacheable(entry):
            return PutResult(stored=False, ttl_s=0.0)
        analysis = entry.analysis
        ttl_s = self._ttl.ttl_for(
            analysis.confidence_score, has_validation_errors=len(analysis.validation_errors) > 0
        )
        stamped = cache_pb2.CacheEntry()
        stamped.CopyFrom(entry)  # the caller's message stays untouched
        now = self._clock()
        stamped.created_at_unix = now
        stamped.expires_at_unix = now + ttl_s
        try:
            await self._tier.set(key, envelope.encode(stamped), ttl_s)
        except TierUnavailable:
            self._counters.errors += 1
            self._degraded = True
            return PutResult(stored=False, ttl_s=ttl_s)
        self._degraded = False
        self._counters.writes += 1
        return PutResult(stored=True, ttl_s=ttl_s)

    async def invalidate(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; returns how many existed. Raises TierUnavailable."""
        for index, key in enumerate(keys):
            validate_key(key, f"keys[{index}]")
        unique = list(dict.fromkeys(keys))
        try:
            removed = await self._tier.delete(unique)
        except TierUnavailable:
            self._counters.errors += 1
            self._degraded = True
            raise
        self._degraded = False
        return removed

    def stats(self) -> StoreStats:
        return StoreStats(
            tiers={self._tier.name: TierStats(**asdict(self._counters))},
            entries=0,
            compute_seconds_saved_total=self._compute_saved_s,
            degraded=self._degraded,
        )
