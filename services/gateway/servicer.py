"""gRPC transport of the public Gateway contract: authenticate, validate, delegate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from services.common.domain import Opportunity, Options
from services.common.errors import (
    FieldViolation,
    InvalidInput,
    OppsuiteError,
    Overloaded,
    PermissionDenied,
    Unauthenticated,
    status_code_for,
)
from services.common.gen import (
    cache_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    monitor_pb2_grpc,
    types_pb2,
)
from services.common.logs import request_id_var
from services.common.reporting import rss_bytes
from services.common.telemetry import Telemetry
from services.common.validation import validate_request
from services.gateway.auth import KeyRing
from services.gateway.memo import Memo
from services.gateway.pipeline import Pipeline, Request
from services.gateway.upstream import CacheClient, upstream_error

__all__ = ["GatewayServicer"]

MAX_WINDOW_S = 900  # the longest window the monitor keeps


_CALLER_LIMITS = frozenset({"client", "global"})


def is_refusal(error: OppsuiteError) -> bool:
    if isinstance(error, InvalidInput | Unauthenticated | PermissionDenied):
        return True
    return isinstance(error, Overloaded) and error.limit in _CALLER_LIMITS


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):  # type: ignore[misc]
    def __init__(
        self,
        pipeline: Pipeline,
        keys: KeyRing,
        monitor: monitor_pb2_grpc.MonitorStub,
        telemetry: Telemetry,
        *,
        default_deadline_s: float,
        monitor_timeout_s: float,
        cache: CacheClient | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._cache = cache
        self._validated: Memo[bytes, tuple[Opportunity, Options]] = Memo()
        self._keys = keys
        self._monitor = monitor
        self._telemetry = telemetry
        self._default_deadline_s = default_deadline_s
        self._monitor_timeout_s = monitor_timeout_s

    def _request(
        self, message: gateway_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> Request:
        client_id = self._keys.authenticate(context.invocation_metadata())
        # Validation is a pure function of the message: remember it for repeats.
        opportunity, options = self._validated.get(
            message.SerializeToString(deterministic=True),
            lambda: validate_request(
                message.opportunity if message.HasField("opportunity") else None,
                message.options if message.HasField("options") else None,
            ),
        )
        remaining = context.time_remaining()
        return Request(
            opportunity=opportunity,
            options=options,
            client_id=client_id,
            request_id=request_id_var.get(),
            deadline_s=self._default_deadline_s if remaining is None else float(remaining),
        )

    def _count(self, error: OppsuiteError | None) -> None:
        if error is None:
            self._telemetry.inc("requests_total", outcome="ok", code="OK")
            return
        # A refused request (bad input, bad key, a caller over its limit) is not a failure of
        # the service: counting it as an error would page operators whenever one client
        # misbehaves. Rejections are watched through rejections_total instead.
        outcome = "rejected" if is_refusal(error) else "error"
        self._telemetry.inc("requests_total", outcome=outcome, code=status_code_for(error).name)

    async def Analyze(
        self, request: gateway_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.AnalyzeResponse:
        try:
            response = await self._pipeline.analyze(self._request(request, context))
        except OppsuiteError as error:
            self._count(error)
            raise
        self._count(None)
        return response

    async def AnalyzeStream(
        self, request: gateway_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.AnalyzeEvent]:
        try:
            async for event in self._pipeline.analyze_stream(self._request(request, context)):
                yield event
        except OppsuiteError as error:
            self._count(error)
            raise
        self._count(None)

    async def GetPerformance(
        self, request: types_pb2.GetPerformanceRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.PerformanceReport:
        self._keys.authenticate(context.invocation_metadata())
        if request.window_seconds > MAX_WINDOW_S:
            raise InvalidInput(
                [
                    FieldViolation(
                        "window_seconds",
                        f"{request.window_seconds} s is longer than the {MAX_WINDOW_S} s kept "
                        "(use 60, 300 or 900; 0 means 300)",
                    )
                ]
            )
        stats_task = asyncio.ensure_future(self._cache_stats())
        try:
            report: types_pb2.PerformanceReport = await self._monitor.GetPerformance(
                request, timeout=self._monitor_timeout_s
            )
        except grpc.aio.AioRpcError as error:
            stats_task.cancel()
            raise upstream_error(error, "monitor") from error
        self._enrich(report, await stats_task)
        return report

    async def _cache_stats(self) -> cache_pb2.CacheStats | None:
        if self._cache is None:
            return None
        return await self._cache.stats(self._monitor_timeout_s)

    def _enrich(
        self, report: types_pb2.PerformanceReport, stats: cache_pb2.CacheStats | None
    ) -> None:
        """Adds what only this replica and the cache know; keeps the monitor's
        cross-replica figures where it has them."""
        if stats is not None:
            for tier, tier_stats in stats.tiers.items():
                lookups = tier_stats.hits + tier_stats.misses
                if lookups:
                    report.cache_hit_rate_by_tier[tier] = tier_stats.hits / lookups
        near = self._pipeline.near.counts
        if near.hits + near.misses:
            report.cache_hit_rate_by_tier["near"] = near.hits / (near.hits + near.misses)
        admission = self._pipeline.admission
        report.in_flight = max(report.in_flight, float(admission.in_flight))
        report.queued = max(report.queued, float(admission.queued))
        for reason, count in self._pipeline.counts.rejections.items():
            if report.rejections_by_reason[reason] < count:
                report.rejections_by_reason[reason] = count
        if "gateway" not in report.memory_rss_bytes:
            report.memory_rss_bytes["gateway"] = rss_bytes()
