"""gRPC transport of the public Gateway contract: authenticate, validate, delegate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from services.common.errors import FieldViolation, InvalidInput, OppsuiteError, status_code_for
from services.common.gen import gateway_pb2, gateway_pb2_grpc, monitor_pb2_grpc, types_pb2
from services.common.logs import request_id_var
from services.common.telemetry import Telemetry
from services.common.validation import validate_request
from services.gateway.auth import KeyRing
from services.gateway.pipeline import Pipeline, Request
from services.gateway.upstream import upstream_error

__all__ = ["GatewayServicer"]

MAX_WINDOW_S = 900  # the longest window the monitor keeps


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
    ) -> None:
        self._pipeline = pipeline
        self._keys = keys
        self._monitor = monitor
        self._telemetry = telemetry
        self._default_deadline_s = default_deadline_s
        self._monitor_timeout_s = monitor_timeout_s

    def _request(
        self, message: gateway_pb2.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> Request:
        client_id = self._keys.authenticate(context.invocation_metadata())
        opportunity, options = validate_request(
            message.opportunity if message.HasField("opportunity") else None,
            message.options if message.HasField("options") else None,
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
        else:
            self._telemetry.inc("requests_total", outcome="error", code=status_code_for(error).name)

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
        try:
            report: types_pb2.PerformanceReport = await self._monitor.GetPerformance(
                request, timeout=self._monitor_timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise upstream_error(error, "monitor") from error
        return report
