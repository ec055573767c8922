"""The cache service's domain logic: two tiers, what counts as a hit, how long entries
live, stampede control and what gets counted. Transport-free; the servicer maps
requests onto this.

    get:  L1 (Redis) -> L2 (DynamoDB); an L2 hit is promoted into L1 with
          TTL = the entry's remaining L2 lifetime (capped by ``l1_max_ttl_s``)
    put:  L2 first (conditional: never replaces a higher-confidence unexpired entry),
          then L1. L2 unreachable -> the write waits in a bounded queue (oldest
          dropped and counted) that a background task flushes; L1 unreachable ->
          the L1 write is skipped.

Reads never raise for a tier problem: an unreachable tier, a corrupt value or an
entry past its ``expires_at_unix`` is a miss in that tier (the next tier, or the
caller's recompute, takes over), counted, and an unreachable tier marks the result
and the stats ``degraded``. Writes swallow tier failures (``stored=False``) as long
as no tier took the entry: failing an analysis because its result could not be
cached would waste the work already paid for. ``invalidate`` raises
``TierUnavailable`` when any configured tier could not be reached, because a caller
who asked for removal must know a stale copy may remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from services.cache import envelope
from services.cache.dynamo_tier import DynamoTier, L2Read, L2Write
from services.cache.errors import CorruptEntry, TierNotConfigured, TierUnavailable
from services.cache.hits import HitTally
from services.cache.invalidations import InvalidationLog
from services.cache.popularity import SpaceSaving
from services.cache.redis_tier import LeaseState, RedisTier
from services.cache.tier import CacheTier, GetResult, PutResult, StoreStats, TierStats
from services.cache.ttl import TtlPolicy
from services.cache.xfetch import should_refresh_early
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import cache_pb2, types_pb2

__all__ = ["MAX_KEY_CHARS", "CacheStore", "StoreOptions", "validate_key"]

log = logging.getLogger(__name__)

MAX_KEY_CHARS = 256


def validate_key(key: str, field: str = "key") -> None:
    """Raise InvalidInput unless ``key`` is 1-256 printable ASCII characters without
    spaces or braces (the tiers wrap keys in a ``{...}`` Redis Cluster hash tag)."""
    if not key:
        problem = "is required"
    elif len(key) > MAX_KEY_CHARS:
        problem = f"is {len(key)} characters; the limit is {MAX_KEY_CHARS}"
    elif not (key.isascii() and key.isprintable()) or " " in key:  # C-speed on the hot path
        problem = "must be printable ASCII without spaces"
    elif "{" in key or "}" in key:
        problem = "must not contain braces"
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
    promotions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


@dataclass(frozen=True)
class StoreOptions:
    l1_max_ttl_s: float = 4 * 3600.0  # cap on an L1 TTL (promotion and writes)
    xfetch_beta: float = 1.0  # 0 turns early refresh off
    l2_queue_max: int = 1000  # L2 writes waiting while DynamoDB is unreachable
    l2_flush_interval_s: float = 0.5
    l2_flush_timeout_s: float = 2.0  # per queued write, off the request path
    popularity_capacity: int = 512
    hit_flush_interval_s: float = 5.0  # hit counts added to the shared counters
    hit_pending_max: int = 10_000  # distinct keys with unflushed hits
    wait_poll_min_s: float = 0.005  # WaitForEntry polling backoff, first step
    wait_poll_max_s: float = 0.05  # ... and its cap
    compression: envelope.Codec = "zstd"  # how new entries are packed; reads take any


def _cacheable(entry: cache_pb2.CacheEntry) -> bool:
    if not entry.HasField("analysis"):
        return False
    analysis = entry.analysis
    return bool(
        analysis.confidence_score > 0 or analysis.confidence != types_pb2.CONFIDENCE_UNSPECIFIED
    )


class CacheStore:
    def __init__(
        self,
        tier: CacheTier | None,
        ttl: TtlPolicy,
        clock: Callable[[], float],
        *,
        l2: DynamoTier | None = None,
        options: StoreOptions | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` is wall-clock seconds (time.time): expiry is stored as a Unix time
        so every replica and every tier agrees on it. ``tier`` is L1 (Redis), ``l2``
        DynamoDB; at least one is required."""
        if tier is None and l2 is None:
            raise ValueError("a store needs at least one tier")
        self._l1 = tier
        self._l1_name = tier.name if tier is not None else "redis"
        self._l2 = l2
        self._ttl = ttl
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._opts = options or StoreOptions()
        self._counters = {t.name: _Counters() for t in (tier, l2) if t is not None}
        self._up = {name: True for name in self._counters}
        self._invalidations = InvalidationLog()
        self._compute_saved_s = 0.0
        self._lease_waits = 0
        self._early_refreshes = 0
        self._queue: deque[L2Write] = deque()
        self._dropped = 0
        self._flushed = 0
        self._queue_signal = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.popularity = SpaceSaving(self._opts.popularity_capacity)
        self.hits = HitTally(
            tier,
            ttl_s=self._opts.l1_max_ttl_s,
            interval_s=self._opts.hit_flush_interval_s,
            max_pending=self._opts.hit_pending_max,
        )
        self._entry_counts: dict[str, int] = {}

    @property
    def tier(self) -> CacheTier | None:
        return self._l1

    @property
    def l2(self) -> DynamoTier | None:
        return self._l2

    def _mark(self, name: str, up: bool) -> None:
        if self._up.get(name) != up:
            log.log(
                logging.INFO if up else logging.WARNING,
                "cache tier %s is %s",
                name,
                "up" if up else "down",
            )
            self._up[name] = up

    def _failed(self, name: str) -> None:
        self._counters[name].errors += 1
        self._mark(name, False)

    def _decode(
        self, name: str, data: bytes | None, into: cache_pb2.CacheEntry | None = None
    ) -> cache_pb2.CacheEntry | None:
        if data is None:
            return None
        self._counters[name].bytes_read += len(data)
        try:
            entry = envelope.decode(data, into)
        except CorruptEntry:
            self._counters[name].errors += 1
            return None
        entry.size_bytes = len(data)
        return entry

    # --- reads ---------------------------------------------------------------------

    async def get(self, key: str, *, into: cache_pb2.CacheEntry | None = None) -> GetResult:
        """The entry for ``key``. With ``into``, a hit's entry is decoded into that
        message (a transport passes its reply's field, saving a copy of the whole
        entry per hit); its contents are unspecified after a miss."""
        validate_key(key)
        self.popularity.add(key)
        l1_down, entry = await self._get_l1(key, into)
        if entry is not None:
            return self._hit(key, entry, self._l1_name, degraded=l1_down)
        if self._l2 is None:
            return GetResult(hit=False, degraded=l1_down)
        mark = self._invalidations.mark()
        try:
            read = await self._l2.get(key)
        except TierUnavailable:
            self._failed(self._l2.name)
            self._counters[self._l2.name].misses += 1
            return GetResult(hit=False, degraded=True)
        self._mark(self._l2.name, True)
        return await self._from_l2(key, read, l1_down, mark, into)

    async def _get_l1(
        self, key: str, into: cache_pb2.CacheEntry | None = None
    ) -> tuple[bool, cache_pb2.CacheEntry | None]:
        """(whether L1 is down, the unexpired L1 entry or None), counted."""
        if self._l1 is None:
            return False, None
        try:
            data = await self._l1.get(key)
        except TierUnavailable:
            self._failed(self._l1.name)
            self._counters[self._l1.name].misses += 1
            return True, None
        return False, self._check_l1(data, into)

    def _check_l1(
        self, data: bytes | None, into: cache_pb2.CacheEntry | None = None
    ) -> cache_pb2.CacheEntry | None:
        assert self._l1 is not None
        counters = self._counters[self._l1.name]
        self._mark(self._l1.name, True)
        entry = self._decode(self._l1.name, data, into)
        if entry is not None and entry.expires_at_unix <= self._clock():
            # Redis drops entries at their TTL; this catches clock skew between
            # replicas and tiers.
            counters.expired_filtered += 1
            entry = None
        if entry is None:
            counters.misses += 1
        return entry

    async def _get_l1_many(
        self, keys: Sequence[str]
    ) -> list[tuple[bool, cache_pb2.CacheEntry | None]]:
        """``_get_l1`` for many keys in a few round trips (MGET), so a large batch
        never queues hundreds of commands on the bounded pool."""
        if self._l1 is None:
            return [(False, None)] * len(keys)
        try:
            values = await self._l1.get_many(keys)
        except TierUnavailable:
            self._failed(self._l1.name)
            self._counters[self._l1.name].misses += len(keys)
            return [(True, None)] * len(keys)
        return [(False, self._check_l1(data)) for data in values]

    async def _from_l2(
        self,
        key: str,
        read: L2Read,
        l1_down: bool,
        mark: int,
        into: cache_pb2.CacheEntry | None = None,
    ) -> GetResult:
        name = self._l2.name if self._l2 is not None else "dynamodb"
        counters = self._counters[name]
        if read.status == "expired":
            counters.expired_filtered += 1
        entry = self._decode(name, read.value, into) if read.status == "hit" else None
        if entry is None or entry.expires_at_unix <= self._clock():
            counters.misses += 1
            return GetResult(hit=False, degraded=l1_down, expired=read.status == "expired")
        if not l1_down:
            await self._promote(key, read, mark)
        return self._hit(key, entry, name, degraded=l1_down)

    async def _promote(self, key: str, read: L2Read, mark: int) -> bool:
        """Copy an L2 hit into L1 with TTL = its remaining L2 lifetime (capped), unless
        the key was invalidated after ``mark`` (taken before the L2 read)."""
        if self._l1 is None or read.value is None:
            return False
        if self._invalidations.invalidated_since(key, mark):
            return False
        remaining = min(read.expires_at - self._clock(), self._opts.l1_max_ttl_s)
        if remaining <= 0:
            return False
        try:
            # NX: a fresher write that raced this read must win.
            if await self._l1.set_if_absent(key, read.value, remaining):
                self._counters[self._l1.name].promotions += 1
                return True
        except TierUnavailable:
            self._failed(self._l1.name)
        return False

    def read_mark(self) -> int:
        """Take before reading L2 for a later ``promote``."""
        return self._invalidations.mark()

    async def promote(self, key: str, read: L2Read, mark: int) -> bool:
        """Warming's entry point to promotion; True when L1 took the entry."""
        return await self._promote(key, read, mark)

    async def peek(self, key: str) -> cache_pb2.CacheEntry | None:
        """The unexpired entry from the first tier that has it, without counting a
        lookup (warming and cleanup must not distort hit rates)."""
        for tier in (self._l1, self._l2):
            if tier is None:
                continue
            try:
                raw = await tier.get(key)
            except TierUnavailable:
                continue
            data = raw.value if isinstance(raw, L2Read) else raw
            try:
                entry = envelope.decode(data) if data is not None else None
            except CorruptEntry:
                entry = None
            if entry is not None and entry.expires_at_unix > self._clock():
                return entry
        return None

    def _hit(
        self, key: str, entry: cache_pb2.CacheEntry, source: str, *, degraded: bool
    ) -> GetResult:
        self._counters[source].hits += 1
        self._compute_saved_s += entry.compute_ms / 1000.0
        self.hits.record(key)
        entry.hit_count = max(entry.hit_count, self.hits.count(key))
        refresh = should_refresh_early(
            now=self._clock(),
            expires_at=entry.expires_at_unix,
            delta_s=entry.compute_ms / 1000.0,
            beta=self._opts.xfetch_beta,
            rng=self._rng,
        )
        if refresh:
            self._early_refreshes += 1
        return GetResult(
            hit=True, entry=entry, source=source, degraded=degraded, refresh_early=refresh
        )

    async def batch_get(self, keys: Sequence[str]) -> list[GetResult]:
        """One result per key, in order: L1 through chunked MGETs, then one chunked L2
        batch read for whatever L1 did not answer."""
        for index, key in enumerate(keys):
            validate_key(key, f"keys[{index}]")
        for key in keys:
            self.popularity.add(key)
        firsts = await self._get_l1_many(keys)
        results: list[GetResult | None] = [
            self._hit(k, e, self._l1_name, degraded=down) if e is not None else None
            for k, (down, e) in zip(keys, firsts, strict=True)
        ]
        missing = [i for i, r in enumerate(results) if r is None]
        if missing and self._l2 is not None:
            mark = self._invalidations.mark()
            reads = await self._l2.batch_get([keys[i] for i in missing])
            for index, read in zip(missing, reads, strict=True):
                if read.status == "error":
                    self._failed(self._l2.name)
                    self._counters[self._l2.name].misses += 1
                    results[index] = GetResult(hit=False, degraded=True)
                else:
                    self._mark(self._l2.name, True)
                    results[index] = await self._from_l2(keys[index], read, firsts[index][0], mark)
        return [r or GetResult(hit=False, degraded=firsts[i][0]) for i, r in enumerate(results)]

    # --- writes --------------------------------------------------------------------

    def _stamp(self, key: str, entry: cache_pb2.CacheEntry) -> tuple[float, L2Write]:
        validate_key(key)
        analysis = entry.analysis
        ttl_s = self._ttl.ttl_for(
            analysis.confidence_score, has_validation_errors=len(analysis.validation_errors) > 0
        )
        stamped = cache_pb2.CacheEntry()
        stamped.CopyFrom(entry)  # the caller's message stays untouched
        now = self._clock()
        stamped.created_at_unix = now
        stamped.expires_at_unix = now + ttl_s
        stamped.size_bytes = 0  # a read-side figure; never stored
        data = envelope.encode(stamped, self._opts.compression)
        return ttl_s, L2Write(key, data, float(analysis.confidence_score), now + ttl_s)

    async def put(self, key: str, entry: cache_pb2.CacheEntry) -> PutResult:
        validate_key(key)
        if not _cacheable(entry):
            return PutResult(stored=False, ttl_s=0.0)
        ttl_s, write = self._stamp(key, entry)
        queued = False
        if self._l2 is not None:
            try:
                if not await self._l2.put(write):
                    return PutResult(stored=False, ttl_s=ttl_s, rejected=True)
                self._unqueue([key])
                self._wrote(self._l2.name, write)
            except TierUnavailable:
                self._failed(self._l2.name)
                self._enqueue(write)
                queued = True
        stored_l1 = await self._put_l1(write, ttl_s)
        stored = stored_l1 or (self._l2 is not None and not queued)
        return PutResult(stored=stored, ttl_s=ttl_s, queued=queued)

    async def _put_l1(self, write: L2Write, ttl_s: float) -> bool:
        if self._l1 is None:
            return False
        try:
            await self._l1.set(write.key, write.value, min(ttl_s, self._opts.l1_max_ttl_s))
        except TierUnavailable:
            self._failed(self._l1.name)
            return False
        self._mark(self._l1.name, True)
        self._wrote(self._l1.name, write)
        return True

    def _wrote(self, name: str, write: L2Write) -> None:
        self._counters[name].writes += 1
        self._counters[name].bytes_written += len(write.value)
        self._mark(name, True)

    async def batch_put(self, items: Sequence[tuple[str, cache_pb2.CacheEntry]]) -> list[PutResult]:
        """L2 through one chunked batch write (25 per request), then L1 per item."""
        if self._l2 is None:
            return list(await asyncio.gather(*(self.put(k, e) for k, e in items)))
        for index, (key, _) in enumerate(items):
            validate_key(key, f"items[{index}].key")
        stamped = [self._stamp(k, e) if _cacheable(e) else None for k, e in items]
        writes = [s[1] for s in stamped if s is not None]
        statuses = iter(await self._l2.batch_put(writes) if writes else [])
        results: list[PutResult] = []
        for item in stamped:
            if item is None:
                results.append(PutResult(stored=False, ttl_s=0.0))
                continue
            ttl_s, write = item
            status = next(statuses)
            if status == "rejected":
                results.append(PutResult(stored=False, ttl_s=ttl_s, rejected=True))
                continue
            if status == "error":
                self._failed(self._l2.name)
                self._enqueue(write)
            else:
                self._unqueue([write.key])
                self._wrote(self._l2.name, write)
            stored_l1 = await self._put_l1(write, ttl_s)
            queued = status == "error"
            results.append(PutResult(stored=stored_l1 or not queued, ttl_s=ttl_s, queued=queued))
        return results

    # --- the L2 write queue ----------------------------------------------------------

    def _unqueue(self, keys: Sequence[str]) -> None:
        """Forget queued writes for ``keys``: a newer write or an invalidation of the
        key must not be undone by an older queued write flushed later."""
        if self._queue:
            gone = set(keys)
            kept = [w for w in self._queue if w.key not in gone]
            if len(kept) != len(self._queue):
                self._queue = deque(kept)

    def _enqueue(self, write: L2Write) -> None:
        self._unqueue([write.key])
        if len(self._queue) >= self._opts.l2_queue_max:
            self._queue.popleft()
            self._dropped += 1
        self._queue.append(write)
        self._queue_signal.set()

    async def flush_l2_once(self) -> int:
        """Write queued entries to L2 until it fails; returns how many were written.
        Entries that expired while queued are dropped (and counted)."""
        if self._l2 is None:
            return 0
        written = 0
        while self._queue:
            write = self._queue[0]
            if write.expires_at <= self._clock():
                self._queue.popleft()
                self._dropped += 1
                continue
            try:
                await self._l2.put(write, self._opts.l2_flush_timeout_s)
            except TierUnavailable:
                self._failed(self._l2.name)
                return written
            # Stored or rejected in favour of a better entry: either way it is done.
            if self._queue and self._queue[0] is write:
                self._queue.popleft()
            self._wrote(self._l2.name, write)
            written += 1
            self._flushed += 1
        return written

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._queue_signal.wait(), timeout=self._opts.l2_flush_interval_s
                )
            self._queue_signal.clear()
            if self._queue:
                await self.flush_l2_once()
                if self._queue:  # L2 still failing: wait a full interval before retrying
                    await self._sleep(self._opts.l2_flush_interval_s)

    async def start(self) -> None:
        self.hits.start()
        if self._l2 is not None and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="cache-l2-flusher")

    async def stop(self) -> None:
        """Stop the flushers after one last attempt to write what is queued."""
        await self.hits.stop()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._queue:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush_l2_once(), timeout=2.0)

    # --- removal ---------------------------------------------------------------------

    async def invalidate(self, keys: Sequence[str], tiers: Sequence[str] = ()) -> int:
        """Remove ``keys`` from the tiers named in ``tiers`` (empty = every tier);
        returns how many existed in the tier that had the most of them. Raises
        TierUnavailable if a chosen tier failed, TierNotConfigured for a tier this
        store runs without.

        Evicting L1 alone keeps L2's copy and what is queued for L2, and records no
        invalidation, so the next read promotes the L2 copy back into L1. Removing
        from L2 drops queued L2 writes and records the keys, so a promotion that
        raced this call cannot copy the removed entry back. Near caches learn of an
        L1 removal from the Redis tier's announcement; an L2-only removal leaves L1,
        which near caches mirror, unchanged, so it announces nothing."""
        for index, key in enumerate(keys):
            validate_key(key, f"keys[{index}]")
        chosen = self._tiers_named(tiers)
        unique = list(dict.fromkeys(keys))
        if self._l2 is not None and self._l2 in chosen:
            self._unqueue(unique)
            self._invalidations.record(unique)
        removed, failure = 0, None
        final = self._l2 is None or self._l2 in chosen  # removed for good, not evicted
        for tier in chosen:
            try:
                if tier is self._l1:
                    count = await self._l1.delete(unique, tombstone=final)
                else:
                    count = await tier.delete(unique)
                removed = max(removed, count)
                self._mark(tier.name, True)
            except TierUnavailable as exc:
                self._failed(tier.name)
                failure = exc
        if failure is not None:
            raise failure
        return removed

    def _tiers_named(self, names: Sequence[str]) -> list[CacheTier | DynamoTier]:
        """The configured tiers ``names`` picks, in read order (every one when empty)."""
        configured: list[CacheTier | DynamoTier] = [
            t for t in (self._l1, self._l2) if t is not None
        ]
        if not names:
            return configured
        known = sorted({self._l1_name, "dynamodb", *(t.name for t in configured)})
        unknown = [
            FieldViolation(f"tiers[{i}]", f"unknown tier {name!r}; known: {', '.join(known)}")
            for i, name in enumerate(names)
            if name not in known
        ]
        if unknown:
            raise InvalidInput(unknown)
        missing = sorted(set(names) - {t.name for t in configured})
        if missing:
            raise TierNotConfigured(f"this cache runs without the {' and '.join(missing)} tier")
        return [t for t in configured if t.name in names]

    # --- leases ----------------------------------------------------------------------

    def _leases(self) -> RedisTier:
        if not isinstance(self._l1, RedisTier):
            raise TierUnavailable("leases need Redis, which is not configured", tier="redis")
        return self._l1

    async def lease(
        self, key: str, *, ttl_ms: int, holder: str, token: str = "", refresh: bool = False
    ) -> LeaseState:
        validate_key(key)
        leases = self._leases()
        return await leases.lease(key, ttl_ms=ttl_ms, holder=holder, token=token, refresh=refresh)

    async def release(self, key: str, token: str) -> bool:
        validate_key(key)
        return await self._leases().release(key, token)

    async def wait_for_entry(self, key: str, timeout_s: float) -> GetResult:
        """Poll (backing off) until ``key`` has an unexpired entry, its lease is gone
        without one (a miss, at once), or ``timeout_s`` passes (a miss). A failed
        poll is retried while time is left (a loaded Redis may miss one 50 ms
        budget); only when every poll failed does the wait raise TierUnavailable."""
        validate_key(key)
        redis = self._leases()
        self._lease_waits += 1
        deadline = self._monotonic() + timeout_s
        pause = self._opts.wait_poll_min_s
        answered = False
        while True:
            try:
                data, leased = await redis.probe(key)
            except TierUnavailable:
                if self._monotonic() >= deadline and not answered:
                    raise
                data, leased = None, True
            else:
                answered = True
            entry = self._decode(redis.name, data)
            if entry is not None and entry.expires_at_unix > self._clock():
                return self._hit(key, entry, redis.name, degraded=False)
            left = deadline - self._monotonic()
            if not leased or left <= 0:
                return GetResult(hit=False)
            await self._sleep(min(pause, left))
            pause = min(pause * 1.5, self._opts.wait_poll_max_s)

    # --- health and stats --------------------------------------------------------------

    def record_entry_counts(self, counts: Mapping[str, int]) -> None:
        """What the last census counted per tier (services.cache.census)."""
        self._entry_counts.update(counts)

    async def check_tiers(self) -> bool:
        """Ping every tier; True when at least one answers (the service can serve)."""
        tiers = [t for t in (self._l1, self._l2) if t is not None]
        answers = await asyncio.gather(*(t.ping() for t in tiers))
        for tier, up in zip(tiers, answers, strict=True):
            self._mark(tier.name, up)
        return any(answers)

    def stats(self) -> StoreStats:
        return StoreStats(
            tiers={
                name: TierStats(**asdict(c), entries=self._entry_counts.get(name, 0))
                for name, c in self._counters.items()
            },
            # L2 holds every entry written; L1 only those written or promoted lately.
            entries=self._entry_counts.get(
                self._l2.name if self._l2 is not None else self._l1_name, 0
            ),
            compute_seconds_saved_total=self._compute_saved_s,
            degraded=not all(self._up.values()),
            tiers_up=dict(self._up),
            lease_waits=self._lease_waits,
            early_refreshes=self._early_refreshes,
            l2_write_queue_depth=len(self._queue),
            l2_writes_dropped=self._dropped,
            l2_writes_flushed=self._flushed,
        )
