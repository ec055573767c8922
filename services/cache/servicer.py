"""gRPC transport of the cache service: protobuf <-> domain calls, input checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import grpc

from services.cache.errors import TierUnavailable
from services.cache.maintenance import Housekeeper
from services.cache.store import CacheStore, validate_key
from services.cache.tier import GetResult, PutResult
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2

__all__ = ["DEFAULT_LEASE_MS", "MAX_BATCH", "MAX_LEASE_MS", "MAX_WAIT_MS", "CacheServicer"]

MAX_BATCH = 1000
DEFAULT_LEASE_MS = 30_000
MAX_LEASE_MS = 600_000
MAX_WAIT_MS = 120_000
MAX_WARM_KEYS = 1000
MAX_WARM_BUDGET_S = 3600.0
MAX_HOLDER_CHARS = 128
_SOURCES = {"redis": types_pb2.CACHE_SOURCE_REDIS, "dynamodb": types_pb2.CACHE_SOURCE_DYNAMODB}


def _get_reply(
    result: GetResult, reply: cache_pb2.CacheGetResponse | None = None
) -> cache_pb2.CacheGetResponse:
    """The reply for ``result``; ``reply`` is the message whose ``entry`` the store
    was asked to decode into, reused when the hit's entry is that field."""
    if not result.hit or result.entry is None:
        return cache_pb2.CacheGetResponse(hit=False, source=types_pb2.CACHE_SOURCE_MISS)
    source = _SOURCES.get(result.source or "", types_pb2.CACHE_SOURCE_UNSPECIFIED)
    if reply is None or result.entry is not reply.entry:
        return cache_pb2.CacheGetResponse(
            hit=True, entry=result.entry, source=source, refresh_early=result.refresh_early
        )
    reply.hit = True
    reply.source = source
    reply.refresh_early = result.refresh_early
    return reply


def _tier_names(tiers: Sequence[int]) -> list[str]:
    """CacheSource values naming tiers -> tier names; anything else is invalid input."""
    names: dict[int, str] = {value: name for name, value in _SOURCES.items()}
    violations = [
        FieldViolation(
            f"tiers[{index}]",
            f"{_source_name(value)} is not a tier; use CACHE_SOURCE_REDIS or "
            "CACHE_SOURCE_DYNAMODB (empty = every tier)",
        )
        for index, value in enumerate(tiers)
        if value not in names
    ]
    if violations:
        raise InvalidInput(violations)
    return list(dict.fromkeys(names[value] for value in tiers))


def _source_name(value: int) -> str:
    try:
        return str(types_pb2.CacheSource.Name(value))
    except ValueError:
        return f"value {value}"


def _put_reply(result: PutResult) -> cache_pb2.CachePutResponse:
    return cache_pb2.CachePutResponse(stored=result.stored, ttl_seconds=result.ttl_s)


def _check_batch(size: int, field: str, limit: int = MAX_BATCH) -> None:
    if size == 0:
        raise InvalidInput([FieldViolation(field, "must not be empty")])
    if size > limit:
        raise InvalidInput([FieldViolation(field, f"{size} items; at most {limit}")])


def _time_left_s(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else float(remaining)


def _age(now: float, created_at: float) -> float:
    return max(0.0, now - created_at) if created_at else 0.0


class CacheServicer(cache_pb2_grpc.CacheServicer):  # type: ignore[misc]
    def __init__(
        self,
        store: CacheStore,
        housekeeper: Housekeeper,
        used_memory: Callable[[], Awaitable[int]],
    ) -> None:
        self._store = store
        self._housekeeper = housekeeper
        self._used_memory = used_memory

    async def Get(
        self, request: cache_pb2.CacheGetRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheGetResponse:
        reply = cache_pb2.CacheGetResponse()
        return _get_reply(await self._store.get(request.key, into=reply.entry), reply)

    async def BatchGet(
        self, request: cache_pb2.CacheBatchGetRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheBatchGetResponse:
        _check_batch(len(request.keys), "keys")
        results = await self._store.batch_get(list(request.keys))
        return cache_pb2.CacheBatchGetResponse(results=[_get_reply(r) for r in results])

    async def Put(
        self, request: cache_pb2.CachePutRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CachePutResponse:
        return _put_reply(await self._store.put(request.key, request.entry))

    async def BatchPut(
        self, request: cache_pb2.CacheBatchPutRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheBatchPutResponse:
        _check_batch(len(request.items), "items")
        results = await self._store.batch_put([(i.key, i.entry) for i in request.items])
        return cache_pb2.CacheBatchPutResponse(results=[_put_reply(r) for r in results])

    async def Invalidate(
        self, request: cache_pb2.CacheInvalidateRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheInvalidateResponse:
        _check_batch(len(request.keys), "keys")
        tiers = _tier_names(request.tiers)
        removed = await self._store.invalidate(request.keys, tiers)
        return cache_pb2.CacheInvalidateResponse(removed=removed)

    async def Lease(
        self, request: cache_pb2.CacheLeaseRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheLeaseResponse:
        violations = []
        if request.ttl_ms > MAX_LEASE_MS:
            violations.append(FieldViolation("ttl_ms", f"at most {MAX_LEASE_MS}"))
        if len(request.holder) > MAX_HOLDER_CHARS:
            violations.append(FieldViolation("holder", f"at most {MAX_HOLDER_CHARS} characters"))
        if len(request.token) > 64:
            violations.append(FieldViolation("token", "at most 64 characters"))
        try:
            validate_key(request.key)
        except InvalidInput as bad:
            violations = bad.violations + violations
        if violations:
            raise InvalidInput(violations)
        ttl_ms = request.ttl_ms or DEFAULT_LEASE_MS
        state = await self._store.lease(
            request.key,
            ttl_ms=ttl_ms,
            holder=request.holder,
            token=request.token,
            refresh=request.refresh,
        )
        return cache_pb2.CacheLeaseResponse(
            granted=state.granted,
            token=state.token,
            ttl_ms=ttl_ms if state.granted else 0,
            holder=state.holder,
            remaining_ms=state.remaining_ms,
            entry_exists=state.entry_exists,
        )

    async def Release(
        self, request: cache_pb2.CacheReleaseRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheReleaseResponse:
        if not request.token:
            raise InvalidInput([FieldViolation("token", "is required")])
        return cache_pb2.CacheReleaseResponse(
            released=await self._store.release(request.key, request.token)
        )

    async def WaitForEntry(
        self, request: cache_pb2.CacheWaitRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheGetResponse:
        if request.timeout_ms == 0 or request.timeout_ms > MAX_WAIT_MS:
            raise InvalidInput([FieldViolation("timeout_ms", f"must be 1-{MAX_WAIT_MS}")])
        timeout_s = request.timeout_ms / 1000
        left = _time_left_s(context)
        if left is not None:
            # Answer (a miss) a little before the caller's deadline rather than after it.
            timeout_s = max(0.0, min(timeout_s, left - 0.02))
        return _get_reply(await self._store.wait_for_entry(request.key, timeout_s))

    async def Warm(
        self, request: cache_pb2.CacheWarmRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheWarmResponse:
        violations = []
        if len(request.keys) > MAX_WARM_KEYS:
            violations.append(FieldViolation("keys", f"at most {MAX_WARM_KEYS}"))
        if request.top_k > MAX_WARM_KEYS:
            violations.append(FieldViolation("top_k", f"at most {MAX_WARM_KEYS}"))
        if not 0 <= request.budget_seconds <= MAX_WARM_BUDGET_S:
            violations.append(FieldViolation("budget_seconds", f"must be 0-{MAX_WARM_BUDGET_S}"))
        for index, key in enumerate(request.keys):
            try:
                validate_key(key, f"keys[{index}]")
            except InvalidInput as bad:
                violations.extend(bad.violations)
        if violations:
            raise InvalidInput(violations)
        budget = request.budget_seconds
        left = _time_left_s(context)
        if left is not None:
            budget = min(budget or left, left * 0.9)
        report = await self._housekeeper.warm(
            list(request.keys), top_k=request.top_k, budget_s=budget, from_l2=request.from_l2
        )
        return cache_pb2.CacheWarmResponse(
            considered=report.considered,
            warmed=report.warmed,
            skipped=report.skipped,
            compute_seconds=report.compute_seconds,
            warmed_keys=report.warmed_keys,
        )

    async def Cleanup(
        self, request: cache_pb2.CacheCleanupRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheCleanupResponse:
        if not 0 <= request.min_score <= 100:
            raise InvalidInput([FieldViolation("min_score", "must be 0-100")])
        report = await self._housekeeper.cleanup(
            apply=request.apply, max_entries=request.max_entries, min_score=request.min_score
        )
        return cache_pb2.CacheCleanupResponse(
            applied=report.applied,
            scanned=report.scanned,
            candidates=[
                cache_pb2.CleanupCandidate(
                    key=c.facts.key,
                    score=c.score,
                    reason=c.reason,
                    size_bytes=c.facts.size_bytes,
                    confidence_score=c.facts.confidence_score,
                    hit_count=c.facts.hits,
                    age_seconds=_age(report.now, c.facts.created_at),
                )
                for c in report.candidates
            ],
            removed=report.removed,
            bytes_freed=report.bytes_freed,
        )

    async def GetStats(
        self, request: cache_pb2.CacheStatsRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheStats:
        stats = self._store.stats()
        try:
            used = await self._used_memory()
        except TierUnavailable:
            used = -1  # unknown while Redis is unreachable
        return cache_pb2.CacheStats(
            tiers={
                name: cache_pb2.TierStats(
                    hits=t.hits,
                    misses=t.misses,
                    errors=t.errors,
                    writes=t.writes,
                    expired_filtered=t.expired_filtered,
                    promotions=t.promotions,
                    bytes_read=t.bytes_read,
                    bytes_written=t.bytes_written,
                    entries=t.entries,
                )
                for name, t in stats.tiers.items()
            },
            entries=stats.entries,
            redis_used_memory_bytes=used,
            compute_seconds_saved_total=stats.compute_seconds_saved_total,
            degraded=stats.degraded,
            lease_waits=stats.lease_waits,
            early_refreshes=stats.early_refreshes,
            l2_write_queue_depth=stats.l2_write_queue_depth,
            l2_writes_dropped=stats.l2_writes_dropped,
            tiers_up=dict(stats.tiers_up),
            l2_writes_flushed=stats.l2_writes_flushed,
        )
