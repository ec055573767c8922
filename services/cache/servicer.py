"""gRPC transport of the cache service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from services.cache.errors import TierUnavailable
from services.cache.store import CacheStore
from services.cache.tier import GetResult, PutResult
from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2

__all__ = ["MAX_BATCH", "CacheServicer"]

MAX_BATCH = 1000
_SOURCES = {"redis": types_pb2.CACHE_SOURCE_REDIS, "dynamodb": types_pb2.CACHE_SOURCE_DYNAMODB}


def _get_reply(result: GetResult) -> cache_pb2.CacheGetResponse:
    if not result.hit or result.entry is None:
        return cache_pb2.CacheGetResponse(hit=False, source=types_pb2.CACHE_SOURCE_MISS)
    return cache_pb2.CacheGetResponse(
        hit=True,
        entry=result.entry,
        source=_SOURCES.get(result.source or "", types_pb2.CACHE_SOURCE_UNSPECIFIED),
    )


def _put_reply(result: PutResult) -> cache_pb2.CachePutResponse:
    return cache_pb2.CachePutResponse(stored=result.stored, ttl_seconds=result.ttl_s)


def _check_batch(size: int, field: str) -> None:
    if size == 0:
        raise InvalidInput([FieldViolation(field, "must not be empty")])
    if size > MAX_BATCH:
        raise InvalidInput([FieldViolation(field, f"{size} items; at most {MAX_BATCH}")])


class CacheServicer(cache_pb2_grpc.CacheServicer):  # type: ignore[misc]
    def __init__(self, store: CacheStore, used_memory: Callable[[], Awaitable[int]]) -> None:
        self._store = store
        self._used_memory = used_memory

    async def Get(
        self, request: cache_pb2.CacheGetRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheGetResponse:
        return _get_reply(await self._store.get(request.key))

    async def BatchGet(
        self, request: cache_pb2.CacheBatchGetRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheBatchGetResponse:
        _check_batch(len(request.keys), "keys")
        results = await asyncio.gather(*(self._store.get(k) for k in request.keys))
        return cache_pb2.CacheBatchGetResponse(results=[_get_reply(r) for r in results])

    async def Put(
        self, request: cache_pb2.CachePutRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CachePutResponse:
        return _put_reply(await self._store.put(request.key, request.entry))

    async def BatchPut(
        self, request: cache_pb2.CacheBatchPutRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheBatchPutResponse:
        _check_batch(len(request.items), "items")
        results = await asyncio.gather(*(self._store.put(i.key, i.entry) for i in request.items))
        return cache_pb2.CacheBatchPutResponse(results=[_put_reply(r) for r in results])

    async def Invalidate(
        self, request: cache_pb2.CacheInvalidateRequest, context: grpc.aio.ServicerContext
    ) -> cache_pb2.CacheInvalidateResponse:
        _check_batch(len(request.keys), "keys")
        return cache_pb2.CacheInvalidateResponse(removed=await self._store.invalidate(request.keys))

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
                )
                for name, t in stats.tiers.items()
            },
            entries=stats.entries,
            redis_used_memory_bytes=used,
            compute_seconds_saved_total=stats.compute_seconds_saved_total,
            degraded=stats.degraded,
        )
