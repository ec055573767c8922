"""Composition root of the monitor."""

from __future__ import annotations

import time

import grpc
from prometheus_client import CollectorRegistry

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.common.logs import setup_logging
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.monitor.aggregator import Aggregator
from services.monitor.config import Settings
from services.monitor.servicer import MonitorServicer

__all__ = ["build", "serve"]

SERVICE_NAME = monitor_pb2.DESCRIPTOR.services_by_name["Monitor"].full_name


async def build(settings: Settings) -> ServiceHost:
    aggregator = Aggregator(time.time, stale_after_s=settings.stale_after_s)
    servicer = MonitorServicer(aggregator)

    def register(server: grpc.aio.Server) -> None:
        monitor_pb2_grpc.add_MonitorServicer_to_server(servicer, server)

    async def aggregating() -> bool:
        return True

    spec = ServiceSpec(
        name="monitor",
        service_names=[SERVICE_NAME],
        register=register,
        checks={"aggregator": aggregating},
    )
    return host_for(spec, settings.common, CollectorRegistry())


async def serve(settings: Settings) -> None:
    setup_logging("monitor", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
