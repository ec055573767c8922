"""Composition root of the cache service: picks the tiers, owns their closing."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import boto3
import grpc
from botocore.config import Config
from prometheus_client import CollectorRegistry

from services.cache.analysis_client import GrpcAnalyzer
from services.cache.census import EntryCensus
from services.cache.config import DynamoSettings, Settings
from services.cache.dynamo_tier import DynamoTier
from services.cache.maintenance import Housekeeper
from services.cache.metrics import MonitorSampler, StoreCollector
from services.cache.redis_tier import RedisTier
from services.cache.servicer import CacheServicer
from services.cache.store import CacheStore
from services.common.breaker import CircuitBreaker
from services.common.gen import cache_pb2, cache_pb2_grpc
from services.common.logs import setup_logging
from services.common.reporting import reporter_for
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.common.telemetry import Telemetry

__all__ = ["build", "dynamodb_client", "serve"]

log = logging.getLogger(__name__)

SERVICE_NAME = cache_pb2.DESCRIPTOR.services_by_name["Cache"].full_name


def dynamodb_client(settings: DynamoSettings) -> Any:
    """One long-lived client: its own session (boto3's default session is not
    thread-safe), bounded pool, tight timeouts, adaptive retries."""
    config = Config(
        region_name=settings.region,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"mode": "adaptive", "max_attempts": settings.max_attempts},
        max_pool_connections=settings.pool_size,
    )
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=settings.endpoint_url, config=config
    )


def dynamo_tier(settings: Settings, client: Any | None = None) -> DynamoTier:
    s = settings.dynamodb
    return DynamoTier(
        client if client is not None else dynamodb_client(s),
        s.table,
        breaker=CircuitBreaker(
            failure_threshold=settings.breaker_failures, cool_down_s=settings.breaker_cool_down_s
        ),
        pool_size=s.pool_size,
        timeout_s=s.timeout_s,
        batch_deadline_s=s.batch_deadline_s,
        create_table=s.create_table,
    )


async def build(settings: Settings, *, dynamodb: Any | None = None) -> ServiceHost:
    """``dynamodb`` replaces the boto3 client (tests wrap the real one)."""
    redis = RedisTier(
        settings.redis_url,
        breaker=CircuitBreaker(
            failure_threshold=settings.breaker_failures, cool_down_s=settings.breaker_cool_down_s
        ),
        max_connections=settings.redis_max_connections,
        socket_timeout_s=settings.redis_timeout_s,
        connect_timeout_s=settings.redis_timeout_s,
        pool_timeout_s=settings.redis_timeout_s,
        cluster=settings.redis_cluster,
    )
    l2 = dynamo_tier(settings, dynamodb) if settings.dynamodb.enabled else None
    store = CacheStore(
        redis, settings.ttl, time.time, l2=l2, options=settings.store, rng=random.Random()
    )
    analyzer = GrpcAnalyzer(settings.analysis_address)
    housekeeper = Housekeeper(store, settings.warm, analyzer=analyzer)
    census = EntryCensus(store, settings.census)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    servicer = CacheServicer(store, housekeeper, redis.used_memory)
    telemetry = Telemetry()

    def register(server: grpc.aio.Server) -> None:
        cache_pb2_grpc.add_CacheServicer_to_server(servicer, server)

    async def open_redis_connections() -> None:
        opened = await redis.open_connections(settings.redis_max_connections)
        log.info("redis connections opened at start: %d", opened)

    async def start_housekeeping() -> None:
        await housekeeper.start(
            warm_at_start=settings.warm_from_l2_on_start, periodic=settings.warming_enabled
        )

    reporting = reporter_for(
        telemetry, settings.common, "cache", sample=MonitorSampler(store, telemetry)
    )
    closers = [
        reporting.stop,
        census.stop,
        housekeeper.stop,
        store.stop,
        analyzer.aclose,
        redis.aclose,
    ]
    if l2 is not None:
        closers.append(l2.aclose)
    spec = ServiceSpec(
        name="cache",
        service_names=[SERVICE_NAME],
        register=register,
        # SERVING while at least one tier answers; per-tier state is in logs and
        # the oppsuite_cache_tier_up gauge.
        checks={"tiers": store.check_tiers},
        starters=[
            open_redis_connections,
            reporting.start,
            store.start,
            start_housekeeping,
            census.start,
        ],
        closers=closers,
    )
    return host_for(spec, settings.common, registry)


async def serve(settings: Settings) -> None:
    setup_logging("cache", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
