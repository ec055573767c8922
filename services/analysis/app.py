"""Composition root of the analysis service: builds the provider and the server."""

from __future__ import annotations

import asyncio
import random

import grpc
from prometheus_client import CollectorRegistry

from services.analysis.aws_provider import AwsProvider
from services.analysis.config import Settings
from services.analysis.local_provider import LatencyProfile, LocalProvider
from services.analysis.metrics import AnalysisMetrics
from services.analysis.provider import Provider
from services.analysis.servicer import AnalysisServicer
from services.analysis.workflow import Thresholds, Workflow
from services.common.gen import analysis_pb2, analysis_pb2_grpc
from services.common.logs import setup_logging
from services.common.reporting import reporter_for
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.common.telemetry import Telemetry

__all__ = ["build", "serve"]

SERVICE_NAME = analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name


async def _provider(settings: Settings, metrics: AnalysisMetrics) -> Provider:
    """The one place that picks the provider."""
    if settings.provider == "aws":
        provider = AwsProvider.create(
            settings.aws,
            table=settings.athena_table,
            database=settings.athena_database,
            observer=metrics,
            rng=random.Random(),
        )
        await provider.start()  # bounded; falls back to the repository prompts
        return provider
    return await LocalProvider.create(
        settings.data_dir,
        rows=settings.dataset_rows,
        seed=settings.dataset_seed,
        table=settings.athena_table,
        database=settings.athena_database,
        profile=LatencyProfile.named(settings.latency_profile, settings.latency_scale),
        rng=random.Random(),
    )


async def build(settings: Settings) -> ServiceHost:
    registry = CollectorRegistry()
    telemetry = Telemetry()
    metrics = AnalysisMetrics(registry, telemetry)
    provider = await _provider(settings, metrics)
    workflow = Workflow(
        provider,
        Thresholds(
            settings.query_generation_ms,
            settings.data_retrieval_ms,
            settings.analysis_ms,
            settings.total_ms,
        ),
        allowed_table=settings.athena_table,
        database=settings.athena_database,
        on_step=metrics.record_step,
    )
    servicer = AnalysisServicer(
        workflow,
        lambda: provider.fingerprint,
        default_deadline_s=settings.default_deadline_s,
        limiter=asyncio.Semaphore(settings.max_concurrent),
        on_accounting=metrics.record_accounting,
    )

    def register(server: grpc.aio.Server) -> None:
        analysis_pb2_grpc.add_AnalysisServiceServicer_to_server(servicer, server)

    reporter = reporter_for(telemetry, settings.common, "analysis", sample=metrics.sample_pools)
    spec = ServiceSpec(
        name="analysis",
        service_names=[SERVICE_NAME],
        register=register,
        checks={"provider": provider.ready},
        starters=[reporter.start],
        closers=[reporter.stop, provider.aclose],
    )
    return host_for(spec, settings.common, registry)


async def serve(settings: Settings) -> None:
    setup_logging("analysis", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
