"""Composition root of the gateway: channels, clients, pipeline, server."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from prometheus_client import CollectorRegistry

from services.common.breaker import CircuitBreaker
from services.common.channels import insecure_channel
from services.common.gen import gateway_pb2, gateway_pb2_grpc, monitor_pb2_grpc
from services.common.logs import setup_logging
from services.common.reporting import reporter_for
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.common.telemetry import Telemetry
from services.gateway.admission import Admission
from services.gateway.auth import load_keyring
from services.gateway.config import Settings
from services.gateway.metrics import register_metrics
from services.gateway.nearcache import Invalidations, NearCache
from services.gateway.pipeline import Pipeline, keep_fingerprint_fresh
from services.gateway.ratelimit import RateLimiter, RedisGcra
from services.gateway.servicer import GatewayServicer
from services.gateway.upstream import AnalysisClient, CacheClient

__all__ = ["build", "serve"]

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].full_name


async def build(settings: Settings) -> ServiceHost:
    keys = load_keyring(settings.api_keys, settings.api_key_file)
    registry = CollectorRegistry()
    telemetry = Telemetry()
    cache_channel = insecure_channel(settings.cache_address)
    analysis_channel = insecure_channel(settings.analysis_address)
    monitor_channel = insecure_channel(settings.common.monitor_address)
    cache = CacheClient(
        cache_channel,
        timeout_s=settings.cache_timeout_s,
        put_timeout_s=settings.cache_put_timeout_s,
        get_batch_max=settings.cache_get_batch_max,
    )
    redis_gcra = (
        RedisGcra(settings.redis_url, timeout_s=settings.redis_timeout_s)
        if settings.limiter_enabled
        else None
    )
    limiter = (
        RateLimiter(
            redis_gcra,
            global_limit=settings.global_limit,
            client_limit=settings.client_limit,
            overrides=settings.client_overrides,
            replicas=settings.replicas,
            fail_mode=settings.fail_mode,
            shadow=settings.shadow,
            breaker=CircuitBreaker(failure_threshold=3, cool_down_s=1.0),
        )
        if redis_gcra is not None
        else None
    )
    admission = Admission(
        max_concurrent=settings.max_concurrent,
        max_queue=settings.max_queue,
        queue_timeout_s=settings.queue_timeout_s,
    )
    near = NearCache(
        max_entries=settings.near_max_entries,
        ttl_s=settings.near_ttl_s,
        unsubscribed_ttl_s=settings.near_unsubscribed_ttl_s,
    )
    invalidations = Invalidations(settings.redis_url, near)
    pipeline = Pipeline(
        cache,
        AnalysisClient(analysis_channel),
        telemetry,
        admission=admission,
        limiter=limiter,
        near=near,
        holder=settings.common.instance,
        lease_ttl_ms=settings.lease_ttl_ms,
        refresh_deadline_s=settings.default_deadline_s,
    )
    register_metrics(registry, pipeline, redis_gcra, cache)
    servicer = GatewayServicer(
        pipeline,
        keys,
        monitor_pb2_grpc.MonitorStub(monitor_channel),
        telemetry,
        default_deadline_s=settings.default_deadline_s,
        monitor_timeout_s=settings.monitor_timeout_s,
        cache=cache,
    )
    refresher: list[asyncio.Task[None]] = []

    def register(server: grpc.aio.Server) -> None:
        gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)

    async def start_refresh() -> None:
        refresher.append(asyncio.create_task(keep_fingerprint_fresh(pipeline)))

    async def stop_refresh() -> None:
        for task in refresher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def fingerprint_known() -> bool:
        return pipeline.fingerprint is not None

    async def drain() -> None:
        # Queued requests are told to go elsewhere now; in-flight analyses get the
        # server's grace period to finish.
        admission.drain()

    async def close_redis() -> None:
        await pipeline.aclose()
        await invalidations.stop()
        if redis_gcra is not None:
            await redis_gcra.aclose()

    async def close_channels() -> None:
        await cache.aclose()
        for channel in (cache_channel, analysis_channel, monitor_channel):
            await channel.close()

    def sample() -> None:
        telemetry.set_gauge("in_flight", float(admission.in_flight))
        telemetry.set_gauge("queued", float(admission.queued))

    reporter = reporter_for(telemetry, settings.common, "gateway", sample=sample)
    spec = ServiceSpec(
        name="gateway",
        service_names=[SERVICE_NAME],
        register=register,
        checks={"analysis_described": fingerprint_known},
        starters=[start_refresh, invalidations.start, reporter.start],
        closers=[stop_refresh, reporter.stop, close_redis, close_channels],
        before_stop=[drain],
    )
    return host_for(spec, settings.common, registry)


async def serve(settings: Settings) -> None:
    setup_logging("gateway", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
