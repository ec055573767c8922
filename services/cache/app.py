"""Composition root of the cache service: picks the tier, owns its closing."""

from __future__ import annotations

import time

import grpc
from prometheus_client import CollectorRegistry

from services.cache.breaker import CircuitBreaker
from services.cache.config import Settings
from services.cache.metrics import StoreCollector
from services.cache.redis_tier import RedisTier
from services.cache.servicer import CacheServicer
from services.cache.store import CacheStore
from services.common.gen import cache_pb2, cache_pb2_grpc
from services.common.logs import setup_logging
from services.common.reporting import reporter_for
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.common.telemetry import Telemetry

__all__ = ["build", "serve"]

SERVICE_NAME = cache_pb2.DESCRIPTOR.services_by_name["Cache"].full_name


async def build(settings: Settings) -> ServiceHost:
    redis = RedisTier(
        settings.redis_url,
        breaker=CircuitBreaker(
            failure_threshold=settings.breaker_failures, cool_down_s=settings.breaker_cool_down_s
        ),
        max_connections=settings.redis_max_connections,
        socket_timeout_s=settings.redis_timeout_s,
        connect_timeout_s=settings.redis_timeout_s,
        pool_timeout_s=settings.redis_timeout_s,
    )
    store = CacheStore(redis, settings.ttl, time.time)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    servicer = CacheServicer(store, redis.used_memory)
    telemetry = Telemetry()

    def register(server: grpc.aio.Server) -> None:
        cache_pb2_grpc.add_CacheServicer_to_server(servicer, server)

    reporting = reporter_for(telemetry, settings.common, "cache")
    spec = ServiceSpec(
        name="cache",
        service_names=[SERVICE_NAME],
        register=register,
        checks={"redis": redis.ping},
        starters=[reporting.start],
        closers=[reporting.stop, redis.aclose],
    )
    return host_for(spec, settings.common, registry)


async def serve(settings: Settings) -> None:
    setup_logging("cache", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
