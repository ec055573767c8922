"""gRPC transport of the monitor: decode reports, answer performance queries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from services.common.errors import FieldViolation, InvalidInput
from services.common.gen import monitor_pb2, monitor_pb2_grpc, types_pb2
from services.monitor.aggregator import MAX_WINDOW_S, Aggregator
from services.monitor.convert import performance_to_proto, report_from_proto

__all__ = ["MonitorServicer"]


class MonitorServicer(monitor_pb2_grpc.MonitorServicer):  # type: ignore[misc]
    def __init__(self, aggregator: Aggregator) -> None:
        self._aggregator = aggregator

    async def Report(
        self,
        request_iterator: AsyncIterator[monitor_pb2.MetricReport],
        context: grpc.aio.ServicerContext,
    ) -> monitor_pb2.ReportAck:
        accepted = 0
        async for message in request_iterator:
            self._aggregator.ingest(report_from_proto(message))
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
        return performance_to_proto(self._aggregator.performance(request.window_seconds))
