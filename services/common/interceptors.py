"""Cross-cutting server work: request id, latency/status metrics, and the one place
where domain errors become gRPC statuses."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.errors import OppsuiteError
from services.common.logs import request_id_var
from services.common.rpc_errors import to_grpc_status

__all__ = ["ServerInterceptor"]

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    20,
    30,
    60,
)


class RpcMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed, by method and status code.",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time to complete an RPC, by method.",
            ["grpc_service", "grpc_method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/", 2) if method.count("/") >= 2 else ("", "", method)
    return service, name


def _incoming_request_id(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, registry: CollectorRegistry) -> None:
        self._metrics = RpcMetrics(registry)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        service, method = _split(details.method)
        request_id = _incoming_request_id(details)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, service, method, request_id),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, service, method, request_id),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, service, method, request_id),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return handler

    def _wrap_unary(
        self, behavior: Callable[..., Any], service: str, method: str, request_id: str
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                return await behavior(request, context)
            except OppsuiteError as error:
                await _abort(context, error)
            except Exception as error:
                await _abort_internal(context, error, request_id)
            finally:
                self._observe(service, method, context, started)

        return wrapped

    def _wrap_stream(
        self,
        behavior: Callable[..., AsyncIterator[Any]],
        service: str,
        method: str,
        request_id: str,
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                async for item in behavior(request, context):
                    yield item
            except OppsuiteError as error:
                await _abort(context, error)
            except Exception as error:
                await _abort_internal(context, error, request_id)
            finally:
                self._observe(service, method, context, started)

        return wrapped

    def _observe(
        self, service: str, method: str, context: grpc.aio.ServicerContext, started: float
    ) -> None:
        code = context.code() or grpc.StatusCode.OK
        if isinstance(code, int):
            code = rpc_status.code_to_grpc_status_code(code)
        self._metrics.handled.labels(service, method, code.name).inc()
        self._metrics.latency.labels(service, method).observe(time.perf_counter() - started)


async def _abort(context: grpc.aio.ServicerContext, error: OppsuiteError) -> None:
    await context.abort_with_status(to_grpc_status(error))


async def _abort_internal(
    context: grpc.aio.ServicerContext, error: Exception, request_id: str
) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    log.exception("unhandled error", extra={"error_type": type(error).__name__})
    await context.abort(
        grpc.StatusCode.INTERNAL, f"internal error; quote request id {request_id} when reporting"
    )
