"""gRPC transport of the monitor: decode, validate, delegate to MonitorCore, encode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import monitor_pb2, monitor_pb2_grpc, types_pb2
from services.monitor.aggregator import MAX_WINDOW_S
from services.monitor.alerts import AlertChange
from services.monitor.convert import (
    alert_to_proto,
    change_to_proto,
    cost_to_proto,
    matchers_from_proto,
    performance_to_proto,
    report_from_proto,
    silence_to_proto,
)
from services.monitor.core import MonitorCore

__all__ = ["MonitorServicer"]

_MAX_ID_CHARS = 64


class MonitorServicer(monitor_pb2_grpc.MonitorServicer):  # type: ignore[misc]
    def __init__(self, core: MonitorCore, clock: Callable[[], float]) -> None:
        self._core = core
        self._clock = clock

    async def Report(
        self,
        request_iterator: AsyncIterator[monitor_pb2.MetricReport],
        context: grpc.aio.ServicerContext,
    ) -> monitor_pb2.ReportAck:
        accepted = 0
        async for message in request_iterator:
            self._core.ingest(report_from_proto(message))
            accepted += 1
        return monitor_pb2.ReportAck(accepted=accepted)

    async def GetPerformance(
        self, request: types_pb2.GetPerformanceRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.PerformanceReport:
        if request.window_seconds > MAX_WINDOW_S:
            raise InvalidInput(
                [
                    FieldViolation(
                        "window_seconds",
                        f"{request.window_seconds} s is longer than the {MAX_WINDOW_S:.0f} s kept",
                    )
                ]
            )
        return performance_to_proto(self._core.performance(request.window_seconds))

    async def ListAlerts(
        self, request: monitor_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> monitor_pb2.ListAlertsResponse:
        alerts = self._core.engine.alerts(include_resolved=request.include_resolved)
        return monitor_pb2.ListAlertsResponse(
            alerts=[alert_to_proto(a) for a in alerts],
            silences=[silence_to_proto(s) for s in self._core.engine.silences.active()],
        )

    async def WatchAlerts(
        self, request: monitor_pb2.WatchAlertsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[monitor_pb2.AlertEvent]:
        now = self._clock()
        first = (
            [AlertChange(a, None, now) for a in self._core.engine.alerts()]
            if request.send_current
            else []
        )
        async for change in self._core.watchers.subscribe(first):
            yield change_to_proto(change)

    async def CreateSilence(
        self, request: monitor_pb2.CreateSilenceRequest, context: grpc.aio.ServicerContext
    ) -> monitor_pb2.Silence:
        silence = await self._core.silence_store.create(
            matchers_from_proto(request.matchers),
            ends_at=request.ends_at_unix,
            duration_s=request.duration_seconds,
            author=request.author,
            reason=request.reason,
        )
        return silence_to_proto(silence)

    async def DeleteSilence(
        self, request: monitor_pb2.DeleteSilenceRequest, context: grpc.aio.ServicerContext
    ) -> monitor_pb2.Silence:
        if not request.id.strip() or len(request.id) > _MAX_ID_CHARS:
            raise InvalidInput([FieldViolation("id", f"must have 1-{_MAX_ID_CHARS} characters")])
        return silence_to_proto(await self._core.silence_store.delete(request.id))

    async def GetCost(
        self, request: monitor_pb2.GetCostRequest, context: grpc.aio.ServicerContext
    ) -> monitor_pb2.CostReport:
        return cost_to_proto(self._core.cost(), self._clock())
