"""gRPC transport of the monitor: decode, validate, delegate to MonitorCore, encode."""

from __future__ import annotations

import math
import time
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
from services.monitor.testalert import CHANNEL_SETTINGS, AlertTestResult, send_test_alert

__all__ = ["DEFAULT_TEST_WAIT_S", "MAX_TEST_WAIT_S", "MonitorServicer"]

_MAX_ID_CHARS = 64
_MAX_REQUESTER_CHARS = 128
DEFAULT_TEST_WAIT_S = 30.0
MAX_TEST_WAIT_S = 300.0
_DEADLINE_MARGIN_S = 0.25  # answer with pending outcomes before the caller's deadline


def _test_alert_reply(result: AlertTestResult) -> monitor_pb2.SendTestAlertResponse:
    return monitor_pb2.SendTestAlertResponse(
        test_id=result.test_id,
        sent_at_unix=result.sent_at,
        deliveries=[
            monitor_pb2.ChannelDelivery(
                channel=o.channel,
                delivered=o.delivered,
                attempts=o.attempts,
                latency_ms=o.latency_s * 1000,
                error=o.error,
                pending=o.pending,
            )
            for o in result.outcomes
        ],
    )


class MonitorServicer(monitor_pb2_grpc.MonitorServicer):  # type: ignore[misc]
    def __init__(
        self,
        core: MonitorCore,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = core
        self._clock = clock
        self._monotonic = monotonic

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

    async def SendTestAlert(
        self, request: monitor_pb2.SendTestAlertRequest, context: grpc.aio.ServicerContext
    ) -> monitor_pb2.SendTestAlertResponse:
        violations = []
        if len(request.channels) > len(CHANNEL_SETTINGS):
            violations.append(
                FieldViolation("channels", f"at most {len(CHANNEL_SETTINGS)} channels")
            )
        if len(request.requested_by) > _MAX_REQUESTER_CHARS:
            violations.append(
                FieldViolation("requested_by", f"at most {_MAX_REQUESTER_CHARS} characters")
            )
        wait = request.wait_seconds
        if not math.isfinite(wait) or not 0 <= wait <= MAX_TEST_WAIT_S:
            violations.append(
                FieldViolation("wait_seconds", f"0-{MAX_TEST_WAIT_S:.0f} (0 = default)")
            )
        if violations:
            raise InvalidInput(violations)
        wait = wait or DEFAULT_TEST_WAIT_S
        remaining = context.time_remaining()
        if remaining is not None:
            wait = min(wait, max(0.0, float(remaining) - _DEADLINE_MARGIN_S))
        result = await send_test_alert(
            self._core.dispatcher,
            list(request.channels),
            wait_s=wait,
            clock=self._clock,
            monotonic=self._monotonic,
            requested_by=request.requested_by,
        )
        return _test_alert_reply(result)
