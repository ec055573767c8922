"""Stand-ins that speak the real contracts on real grpc.aio servers.

``LeasingCache`` implements the Cache service's Get/Put/Lease/Release/WaitForEntry/
GetStats as protos/oppsuite/v1/cache.proto describes them, in memory, so the
gateway's cross-replica coalescing is tested against the contract itself,
independently of the cache service's implementation (which the integration tests
use). ``ScriptedAnalysis`` counts analyses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from services.common.gen import (
    analysis_pb2,
    analysis_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    types_pb2,
)
from services.common.server import ServiceHost, ServiceSpec


@dataclass
class ScriptedAnalysis(analysis_pb2_grpc.AnalysisServiceServicer):  # type: ignore[misc]
    delay_s: float = 0.0
    calls: int = 0
    running: int = 0
    cost_usd: float = 0.02

    async def Describe(self, request: Any, context: Any) -> analysis_pb2.DescribeResponse:
        return analysis_pb2.DescribeResponse(provider="scripted", schema_version="1")

    def _result(self) -> analysis_pb2.RunAnalysisResponse:
        return analysis_pb2.RunAnalysisResponse(
            analysis=types_pb2.Analysis(
                predicted_arr_usd=1_500_000,
                confidence=types_pb2.CONFIDENCE_HIGH,
                confidence_score=91,
            ),
            steps=[types_pb2.StepTiming(step="total", duration_ms=5, threshold_ms=30000)],
            sql="SELECT 1 LIMIT 200",
            row_count=12,
            compute_ms=self.delay_s * 1000,
            cost_usd=self.cost_usd,
        )

    async def Analyze(self, request: Any, context: Any) -> analysis_pb2.RunAnalysisResponse:
        self.calls += 1
        self.running += 1
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        return self._result()

    async def AnalyzeStream(self, request: Any, context: Any) -> Any:
        self.calls += 1
        self.running += 1
        try:
            yield analysis_pb2.RunAnalysisEvent(step=types_pb2.StepEvent(step="query_generation"))
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        yield analysis_pb2.RunAnalysisEvent(result=self._result())


@dataclass
class HeldLease:
    token: str
    holder: str
    expires: float


@dataclass
class LeasingCache(cache_pb2_grpc.CacheServicer):  # type: ignore[misc]
    entries: dict[str, cache_pb2.CacheEntry] = field(default_factory=dict)
    leases: dict[str, HeldLease] = field(default_factory=dict)
    lease_calls: int = 0
    waits: int = 0
    ttl_s: float = 3600.0
    hits: int = 0
    misses: int = 0
    puts: int = 0
    batch_gets: int = 0
    get_delay_s: float = 0.0  # each Get takes this long (a BatchGet, too: keys in parallel)
    refresh_early: bool = False  # answer hits with XFetch's "recompute now"
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def Get(self, request: Any, context: Any) -> cache_pb2.CacheGetResponse:
        if self.get_delay_s:
            await asyncio.sleep(self.get_delay_s)
        entry = self.entries.get(request.key)
        if entry is None:
            self.misses += 1
            return cache_pb2.CacheGetResponse(hit=False)
        self.hits += 1
        return cache_pb2.CacheGetResponse(
            hit=True,
            entry=entry,
            source=types_pb2.CACHE_SOURCE_REDIS,
            refresh_early=self.refresh_early,
        )

    async def BatchGet(self, request: Any, context: Any) -> cache_pb2.CacheBatchGetResponse:
        self.batch_gets += 1
        results = await asyncio.gather(
            *(self.Get(cache_pb2.CacheGetRequest(key=key), context) for key in request.keys)
        )
        return cache_pb2.CacheBatchGetResponse(results=results)

    async def Put(self, request: Any, context: Any) -> cache_pb2.CachePutResponse:
        entry = cache_pb2.CacheEntry()
        entry.CopyFrom(request.entry)
        entry.expires_at_unix = time.time() + self.ttl_s
        self.entries[request.key] = entry
        self.puts += 1
        async with self._changed:
            self._changed.notify_all()
        return cache_pb2.CachePutResponse(stored=True, ttl_seconds=self.ttl_s)

    async def Lease(self, request: Any, context: Any) -> cache_pb2.CacheLeaseResponse:
        self.lease_calls += 1
        now = time.monotonic()
        ttl_ms = request.ttl_ms or 30000
        current = self.leases.get(request.key)
        if current is not None and current.expires > now and current.token != request.token:
            return cache_pb2.CacheLeaseResponse(
                granted=False,
                holder=current.holder,
                remaining_ms=int((current.expires - now) * 1000),
            )
        token = request.token or uuid.uuid4().hex
        self.leases[request.key] = HeldLease(token, request.holder, now + ttl_ms / 1000)
        return cache_pb2.CacheLeaseResponse(granted=True, token=token, ttl_ms=ttl_ms)

    async def Release(self, request: Any, context: Any) -> cache_pb2.CacheReleaseResponse:
        current = self.leases.get(request.key)
        if current is None or current.token != request.token:
            return cache_pb2.CacheReleaseResponse(released=False)
        del self.leases[request.key]
        async with self._changed:
            self._changed.notify_all()
        return cache_pb2.CacheReleaseResponse(released=True)

    async def WaitForEntry(self, request: Any, context: Any) -> cache_pb2.CacheGetResponse:
        self.waits += 1

        def settled() -> bool:
            return request.key in self.entries or request.key not in self.leases

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(settled), timeout=request.timeout_ms / 1000
                )
        return await self.Get(request, context)

    async def GetStats(self, request: Any, context: Any) -> cache_pb2.CacheStats:
        return cache_pb2.CacheStats(
            tiers={"redis": cache_pb2.TierStats(hits=self.hits, misses=self.misses)}
        )


async def serve_fake(name: str, full_name: str, add: Any, servicer: Any) -> ServiceHost:
    spec = ServiceSpec(name=name, service_names=[full_name], register=lambda s: add(servicer, s))
    host = ServiceHost(spec, port=0, metrics_port=-1)
    await host.start()
    return host


async def serve_analysis(scripted: ScriptedAnalysis) -> ServiceHost:
    return await serve_fake(
        "analysis",
        "oppsuite.v1.AnalysisService",
        analysis_pb2_grpc.add_AnalysisServiceServicer_to_server,
        scripted,
    )


async def serve_cache(cache: LeasingCache) -> ServiceHost:
    return await serve_fake(
        "cache", "oppsuite.v1.Cache", cache_pb2_grpc.add_CacheServicer_to_server, cache
    )


def status_of(error: grpc.aio.AioRpcError) -> grpc.StatusCode:
    return error.code()
