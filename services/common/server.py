"""One server bootstrap for every service: grpc.aio server, health driven by real
component checks, reflection, Prometheus /metrics, interceptors, graceful stop.

Stop sequence (SIGTERM/SIGINT or ``stop()``): health → NOT_SERVING so load balancers
stop routing, ``server.stop(grace)`` lets in-flight RPCs finish, then the owner's
``aclose`` callbacks release adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from services.common.interceptors import Instrumentation
from services.common.settings import CommonSettings

__all__ = [
    "HealthCheck",
    "ServiceHost",
    "ServiceSpec",
    "favour_event_loop",
    "freeze_startup_heap",
    "host_for",
]

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class ServiceSpec:
    """What a service contributes to the bootstrap."""

    name: str  # short name: gateway, cache, analysis, monitor
    service_names: Sequence[str]  # full gRPC names, e.g. "oppsuite.v1.Gateway"
    register: Callable[[grpc.aio.Server], None]
    checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    starters: Sequence[Callable[[], Awaitable[None]]] = ()  # run once the server is up
    closers: Sequence[Callable[[], Awaitable[None]]] = ()
    before_stop: Sequence[Callable[[], Awaitable[None]]] = ()


class ServiceHost:
    """Runs one ServiceSpec. Tests use ``start()``/``stop()`` with port 0."""

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_port: int = 0,
        registry: CollectorRegistry | None = None,
        grace_s: float = 5.0,
        max_connection_age_s: float = 300.0,
        check_interval_s: float = 1.0,
    ) -> None:
        self.spec = spec
        self.registry = registry or CollectorRegistry()
        self._address = f"{host}:{port}"
        self._metrics_address = (host, metrics_port)
        self._grace_s = grace_s
        self._check_interval_s = check_interval_s
        self._instrumentation = Instrumentation(self.registry)
        self._server = grpc.aio.server(
            options=[
                # Bounded connection age makes clients re-resolve and spread over new pods.
                ("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)),
                ("grpc.max_connection_age_grace_ms", int(grace_s * 1000)),
                ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            ],
        )
        self.health = health_aio.HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self._metrics_server: WSGIServer | None = None
        self._checks_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self.component_status: dict[str, bool] = {}

    async def start(self) -> int:
        instrumented = cast(grpc.aio.Server, self._instrumentation.instrumented(self._server))
        self.spec.register(instrumented)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, instrumented)
        names = (
            *self.spec.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        # Uninstrumented: reflection picks its asyncio servicer by the server's type.
        reflection.enable_server_reflection(names, self._server)
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC port {self._address}")
        host, metrics_port = self._metrics_address
        if metrics_port >= 0:  # -1 turns /metrics off; 0 picks a free port
            self._metrics_server, _ = start_http_server(metrics_port, host, self.registry)
            self.metrics_port = int(self._metrics_server.server_port)
        await self._server.start()
        for starter in self.spec.starters:
            await starter()
        await self.check_now()
        self._checks_task = asyncio.create_task(self._check_loop(), name="health-checks")
        log.info("serving", extra={"port": self.port, "metrics_port": self.metrics_port})
        return self.port

    async def check_now(self) -> None:
        if self._stopping:
            return
        results: dict[str, bool] = {}
        for component, check in self.spec.checks.items():
            try:
                results[component] = await asyncio.wait_for(check(), timeout=2.0)
            except Exception:
                results[component] = False
        if results != self.component_status:
            log.info("health changed", extra={"components": results})
        self.component_status = results
        status = _SERVING if all(results.values()) else _NOT_SERVING
        for name in ("", *self.spec.service_names):
            await self.health.set(name, status)
        # Liveness is separate from readiness: the process answers, whatever its deps say.
        await self.health.set("liveness", _SERVING)

    async def _check_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._check_interval_s)
            await self.check_now()

    async def stop(self) -> None:
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        log.info("draining", extra={"grace_s": self._grace_s})
        await self.health.enter_graceful_shutdown()
        if self._checks_task is not None:
            self._checks_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checks_task
        for hook in self.spec.before_stop:
            await _quietly(hook)
        await self._server.stop(self._grace_s)
        for close in self.spec.closers:
            await _quietly(close)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        log.info("stopped")
        self._stopped.set()

    async def serve_until_signalled(self) -> None:
        """Start, then run until SIGTERM or SIGINT, then drain and stop."""
        await self.start()
        freeze_startup_heap()
        favour_event_loop()
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, signalled.set)
        try:
            await signalled.wait()
            await self.stop()
        finally:
            # The interpreter's last collection must see them again: native modules
            # report what is never collected as leaks at exit.
            gc.unfreeze()


def freeze_startup_heap() -> None:
    """Move what start-up built (imported modules, protobuf descriptors, SDK service
    models, pooled clients) out of the cyclic collector's reach. Those objects live as
    long as the process; without this every full collection walks all of them while
    the per-request garbage keeps triggering collections, which puts CPU into every
    request and milliseconds into the latency tail."""
    gc.collect()
    gc.freeze()


# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms).
LOOP_SWITCH_INTERVAL_S = 0.05


def favour_event_loop() -> None:
    """Let the event loop finish a piece of work before a worker thread takes the GIL.

    Each request's own work on the loop is a few short CPU bursts between awaits, while
    the SDK's worker threads (boto3 is synchronous) want the GIL whenever a response
    arrives. Under load the loop runs one request's burst after another's without
    waiting, and at the default 5 ms a thread that has waited that long forces it to
    hand over in the middle of a burst, often to a queue of threads. That multiplied the
    overhead's P99 at 100 concurrent analyses (5 to 14 ms, against 4.5 to 5.7 ms at 50 ms).
    The threads still run whenever the loop waits for I/O, which releases the GIL."""
    sys.setswitchinterval(LOOP_SWITCH_INTERVAL_S)


async def _quietly(hook: Callable[[], Awaitable[None]]) -> None:
    try:
        await hook()
    except Exception:
        log.exception("error during shutdown")


def host_for(spec: ServiceSpec, common: CommonSettings, registry: CollectorRegistry) -> ServiceHost:
    """A host configured from the service's common settings."""
    return ServiceHost(
        spec,
        host=common.host,
        port=common.port,
        metrics_port=common.metrics_port,
        registry=registry,
        grace_s=common.grace_s,
        max_connection_age_s=common.max_connection_age_s,
    )
