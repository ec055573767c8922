"""Adapters to the cache and analysis services, translating transport failures into
the domain error tree at the seam."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from services.common.cachekey import Fingerprint
from services.common.errors import (
    DeadlineExceeded,
    DependencyUnavailable,
    FailedPrecondition,
    InvalidInput,
    OppsuiteError,
    Overloaded,
    StepFailed,
)
from services.common.gen import (
    analysis_pb2,
    analysis_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    types_pb2,
)
from services.common.microbatch import MicroBatcher
from services.common.rpc_errors import retry_delay_of

__all__ = ["AnalysisClient", "CacheClient", "CacheLookup", "LeaseReply", "upstream_error"]

log = logging.getLogger(__name__)


def upstream_error(error: grpc.aio.AioRpcError, service: str) -> OppsuiteError:
    """The domain error a caller of the gateway should see for ``service``'s failure."""
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{service}: {message or 'deadline exceeded'}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        delay = retry_delay_of(error) or 1.0
        return Overloaded(message, limit="upstream", subject=service, retry_after_s=delay)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInput([])  # the gateway validates first; reaching here is a bug
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(message)
    if code == grpc.StatusCode.ABORTED:
        return StepFailed(message, step="analysis")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return DependencyUnavailable(f"{service} is unavailable: {message}", retry_after_s=1.0)
    return OppsuiteError(f"{service} failed: {code.name}")


@dataclass(frozen=True)
class CacheLookup:
    entry: cache_pb2.CacheEntry | None
    source: int  # types_pb2.CacheSource
    error: bool = False
    refresh_early: bool = False  # XFetch: recompute in the background and Put


@dataclass(frozen=True)
class LeaseReply:
    granted: bool
    token: str
    remaining_ms: int  # the holder's remaining time when not granted


class CacheClient:
    """Never raises on the hot path: a slow or failed cache is a miss.

    Lookups that arrive while ``max_in_flight`` of them are out go together in one
    ``BatchGet`` of at most ``get_batch_max`` keys (MicroBatcher): under load one RPC
    serves many callers, at rest each lookup is a plain ``Get`` sent at once."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout_s: float,
        put_timeout_s: float,
        get_batch_max: int = 16,
        max_in_flight: int = 2,
    ):
        self._stub = cache_pb2_grpc.CacheStub(channel)
        self._timeout_s = timeout_s
        self._put_timeout_s = put_timeout_s
        self._gets: MicroBatcher[str, cache_pb2.CacheGetResponse] = MicroBatcher(
            self._get_many, max_batch=get_batch_max, max_in_flight=max_in_flight
        )

    @property
    def lookups_batched(self) -> tuple[int, int]:
        """(lookups, RPCs that carried them)."""
        return self._gets.items, self._gets.batches

    async def _get_many(self, keys: list[str]) -> list[cache_pb2.CacheGetResponse]:
        if len(keys) == 1:
            reply = await self._stub.Get(
                cache_pb2.CacheGetRequest(key=keys[0]), timeout=self._timeout_s
            )
            return [reply]
        replies = await self._stub.BatchGet(
            cache_pb2.CacheBatchGetRequest(keys=keys), timeout=self._timeout_s
        )
        return list(replies.results)

    async def aclose(self) -> None:
        await self._gets.aclose()

    async def get(self, key: str) -> CacheLookup:
        try:
            reply = await self._gets.submit(key)
        except grpc.aio.AioRpcError as error:
            log.warning("cache get failed", extra={"code": error.code().name})
            return CacheLookup(None, types_pb2.CACHE_SOURCE_MISS, error=True)
        if not reply.hit:
            return CacheLookup(None, types_pb2.CACHE_SOURCE_MISS)
        return CacheLookup(
            reply.entry,
            reply.source or types_pb2.CACHE_SOURCE_REDIS,
            refresh_early=bool(reply.refresh_early),
        )

    async def put(self, key: str, entry: cache_pb2.CacheEntry) -> float | None:
        """The stored entry's TTL in seconds; None when it was not stored."""
        try:
            reply = await self._stub.Put(
                cache_pb2.CachePutRequest(key=key, entry=entry), timeout=self._put_timeout_s
            )
        except grpc.aio.AioRpcError as error:
            log.warning("cache put failed", extra={"code": error.code().name})
            return None
        return float(reply.ttl_seconds) if reply.stored else None

    async def lease(
        self, key: str, *, ttl_ms: int, holder: str, token: str = ""
    ) -> LeaseReply | None:
        """None when the cache cannot lease (down, slow, or an older version)."""
        try:
            reply = await self._stub.Lease(
                cache_pb2.CacheLeaseRequest(key=key, ttl_ms=ttl_ms, holder=holder, token=token),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("cache lease failed", extra={"code": error.code().name})
            return None
        return LeaseReply(bool(reply.granted), reply.token, int(reply.remaining_ms))

    async def release(self, key: str, token: str) -> bool:
        try:
            reply = await self._stub.Release(
                cache_pb2.CacheReleaseRequest(key=key, token=token), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as error:
            log.warning("cache release failed", extra={"code": error.code().name})
            return False
        return bool(reply.released)

    async def wait_for_entry(self, key: str, *, timeout_s: float) -> CacheLookup:
        """Blocks (bounded) until another replica writes ``key``; a miss otherwise."""
        try:
            reply = await self._stub.WaitForEntry(
                cache_pb2.CacheWaitRequest(key=key, timeout_ms=max(1, int(timeout_s * 1000))),
                timeout=timeout_s + self._timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("cache wait failed", extra={"code": error.code().name})
            return CacheLookup(None, types_pb2.CACHE_SOURCE_MISS, error=True)
        if not reply.hit:
            return CacheLookup(None, types_pb2.CACHE_SOURCE_MISS)
        return CacheLookup(reply.entry, types_pb2.CACHE_SOURCE_COALESCED)

    async def stats(self, timeout_s: float) -> cache_pb2.CacheStats | None:
        try:
            reply: cache_pb2.CacheStats = await self._stub.GetStats(
                cache_pb2.CacheStatsRequest(), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            log.warning("cache stats failed", extra={"code": error.code().name})
            return None
        return reply


class AnalysisClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = analysis_pb2_grpc.AnalysisServiceStub(channel)

    async def describe(self, timeout_s: float = 2.0) -> Fingerprint:
        try:
            reply = await self._stub.Describe(analysis_pb2.DescribeRequest(), timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            raise upstream_error(error, "analysis") from error
        return Fingerprint(
            provider=reply.provider,
            query_model_id=reply.query_model_id,
            analysis_model_id=reply.analysis_model_id,
            query_prompt_version=reply.query_prompt_version,
            analysis_prompt_version=reply.analysis_prompt_version,
            schema_version=reply.schema_version,
            dataset_version=reply.dataset_version,
        )

    async def run(
        self, request: analysis_pb2.RunAnalysisRequest, *, deadline_s: float
    ) -> analysis_pb2.RunAnalysisResponse:
        try:
            reply: analysis_pb2.RunAnalysisResponse = await self._stub.Analyze(
                request, timeout=deadline_s
            )
        except grpc.aio.AioRpcError as error:
            raise upstream_error(error, "analysis") from error
        return reply

    async def stream(
        self, request: analysis_pb2.RunAnalysisRequest, *, deadline_s: float
    ) -> AsyncIterator[analysis_pb2.RunAnalysisEvent]:
        call = self._stub.AnalyzeStream(request, timeout=deadline_s)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as error:
            raise upstream_error(error, "analysis") from error
        finally:
            call.cancel()
