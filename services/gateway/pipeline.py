"""What the gateway does with one authenticated, validated request:
cache lookup → single-flight → analysis → cache put.

Works on the generated messages of the internal contracts on purpose: the gateway
relays them, and converting to domain types and back would only cost time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from services.common.cachekey import Fingerprint, cache_key
from services.common.convert import opportunity_to_proto, options_to_proto
from services.common.domain import Opportunity, Options
from services.common.errors import DependencyUnavailable
from services.common.gen import analysis_pb2, cache_pb2, gateway_pb2, types_pb2
from services.common.telemetry import Telemetry
from services.gateway.singleflight import SingleFlight
from services.gateway.upstream import AnalysisClient, CacheClient

__all__ = ["Pipeline", "Request"]

log = logging.getLogger(__name__)

_SOURCE_LABEL = {
    types_pb2.CACHE_SOURCE_MISS: "miss",
    types_pb2.CACHE_SOURCE_NEAR: "near",
    types_pb2.CACHE_SOURCE_REDIS: "redis",
    types_pb2.CACHE_SOURCE_DYNAMODB: "dynamodb",
    types_pb2.CACHE_SOURCE_COALESCED: "coalesced",
}


@dataclass(frozen=True)
class Request:
    opportunity: Opportunity
    options: Options
    client_id: str
    request_id: str
    deadline_s: float


class Pipeline:
    def __init__(
        self,
        cache: CacheClient,
        analysis: AnalysisClient,
        telemetry: Telemetry,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._cache = cache
        self._analysis = analysis
        self._telemetry = telemetry
        self._clock = clock
        self._flights: SingleFlight[analysis_pb2.RunAnalysisResponse] = SingleFlight()
        self._fingerprint: Fingerprint | None = None
        self.in_flight = 0

    @property
    def fingerprint(self) -> Fingerprint | None:
        return self._fingerprint

    async def refresh_fingerprint(self) -> bool:
        """Learns what results depend on (provider, models, prompts) from the analysis
        service; every cache key includes it."""
        try:
            self._fingerprint = await self._analysis.describe()
        except Exception:
            return False
        return True

    def key_for(self, request: Request) -> str:
        if self._fingerprint is None:
            raise DependencyUnavailable(
                "the analysis service has not answered yet; retry shortly", retry_after_s=1.0
            )
        return cache_key(request.opportunity, request.options, self._fingerprint)

    async def lookup(self, key: str) -> cache_pb2.CacheEntry | None:
        found = await self._cache.get(key)
        label = "hit" if found.entry is not None else "miss"
        self._telemetry.inc("cache_tier_total", tier="redis", result=label)
        return found.entry

    def _run_request(self, request: Request) -> analysis_pb2.RunAnalysisRequest:
        return analysis_pb2.RunAnalysisRequest(
            opportunity=opportunity_to_proto(request.opportunity),
            options=options_to_proto(request.options),
            client_id=request.client_id,
        )

    async def _compute(self, key: str, request: Request) -> analysis_pb2.RunAnalysisResponse:
        result = await self._analysis.run(self._run_request(request), deadline_s=request.deadline_s)
        await self._store(key, request, result)
        return result

    async def _store(
        self, key: str, request: Request, result: analysis_pb2.RunAnalysisResponse
    ) -> None:
        entry = cache_pb2.CacheEntry(
            opportunity=opportunity_to_proto(request.opportunity),
            options=options_to_proto(request.options),
            analysis=result.analysis,
            sql=result.sql,
            row_count=result.row_count,
            compute_ms=result.compute_ms,
            cost_usd=result.cost_usd,
            versions=self._fingerprint.describe() if self._fingerprint else "",
        )
        await self._cache.put(key, entry)

    async def analyze(self, request: Request) -> gateway_pb2.AnalyzeResponse:
        started = self._clock()
        self.in_flight += 1
        try:
            key = self.key_for(request)
            if not request.options.bypass_cache:
                entry = await self.lookup(key)
                if entry is not None:
                    return self._from_entry(request, key, entry, started)
            result, shared = await self._flights.do(key, lambda: self._compute(key, request))
            source = types_pb2.CACHE_SOURCE_COALESCED if shared else types_pb2.CACHE_SOURCE_MISS
            return self._from_result(request, key, result, source, started)
        finally:
            self.in_flight -= 1

    async def analyze_stream(self, request: Request) -> AsyncIterator[gateway_pb2.AnalyzeEvent]:
        """Step events as the analysis service reports them, then the result."""
        started = self._clock()
        key = self.key_for(request)
        if not request.options.bypass_cache:
            entry = await self.lookup(key)
            if entry is not None:
                yield gateway_pb2.AnalyzeEvent(
                    result=self._from_entry(request, key, entry, started)
                )
                return
        result: analysis_pb2.RunAnalysisResponse | None = None
        async for event in self._analysis.stream(
            self._run_request(request), deadline_s=request.deadline_s
        ):
            if event.HasField("step"):
                yield gateway_pb2.AnalyzeEvent(step=event.step)
            elif event.HasField("result"):
                result = event.result
        if result is None:
            raise DependencyUnavailable("the analysis stream ended without a result")
        await self._store(key, request, result)
        yield gateway_pb2.AnalyzeEvent(
            result=self._from_result(request, key, result, types_pb2.CACHE_SOURCE_MISS, started)
        )

    def _from_entry(
        self, request: Request, key: str, entry: cache_pb2.CacheEntry, started: float
    ) -> gateway_pb2.AnalyzeResponse:
        meta = gateway_pb2.ResponseMeta(
            request_id=request.request_id,
            cache_source=types_pb2.CACHE_SOURCE_REDIS,
            sql=entry.sql,
            row_count=entry.row_count,
            cache_key=key,
        )
        return self._finish(
            gateway_pb2.AnalyzeResponse(analysis=entry.analysis, meta=meta), started
        )

    def _from_result(
        self,
        request: Request,
        key: str,
        result: analysis_pb2.RunAnalysisResponse,
        source: int,
        started: float,
    ) -> gateway_pb2.AnalyzeResponse:
        meta = gateway_pb2.ResponseMeta(
            request_id=request.request_id,
            cache_source=source,  # type: ignore[arg-type]
            steps=result.steps,
            sql=result.sql,
            row_count=result.row_count,
            cache_key=key,
            aws_call_count=result.aws_call_count,
            cost_usd=result.cost_usd,
        )
        return self._finish(
            gateway_pb2.AnalyzeResponse(analysis=result.analysis, meta=meta), started
        )

    def _finish(
        self, response: gateway_pb2.AnalyzeResponse, started: float
    ) -> gateway_pb2.AnalyzeResponse:
        total_ms = (self._clock() - started) * 1000
        response.meta.total_ms = total_ms
        source = _SOURCE_LABEL.get(response.meta.cache_source, "miss")
        self._telemetry.observe("request_ms", total_ms, source=source)
        hit = source in ("near", "redis", "dynamodb")
        self._telemetry.inc("cache_requests_total", result="hit" if hit else "miss")
        return response


async def keep_fingerprint_fresh(
    pipeline: Pipeline, *, retry_s: float = 1.0, refresh_s: float = 30.0
) -> None:
    """Background: ask the analysis service what results depend on, quickly until it
    answers, then now and then (a redeploy with new prompt versions changes keys)."""
    while True:
        known = await pipeline.refresh_fingerprint()
        await asyncio.sleep(refresh_s if known else retry_s)
