"""Composition root of the monitor: the one place that builds clients and picks channels."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import boto3
import grpc
from botocore.config import Config
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.common.logs import setup_logging
from services.common.server import ServiceHost, ServiceSpec, host_for
from services.monitor.aggregator import Aggregator
from services.monitor.alerts import AlertEngine
from services.monitor.channels import (
    CloudWatchChannel,
    SesChannel,
    SlackChannel,
    SmtpChannel,
    SnsChannel,
    WebhookChannel,
)
from services.monitor.claims import RedisClaimer
from services.monitor.cloudwatch import CloudWatchPublisher
from services.monitor.config import AwsSettings, NotifySettings, Settings
from services.monitor.core import MonitorCore, default_anomaly_trackers
from services.monitor.cost import CostLedger
from services.monitor.dispatch import Channel, Claimer, Dispatcher, LocalClaimer
from services.monitor.exporter import MonitorCollector
from services.monitor.recommend import Thresholds
from services.monitor.rules import load_rules
from services.monitor.servicer import MonitorServicer
from services.monitor.silence_store import LocalSilenceStore, RedisSilenceStore, SilenceStore
from services.monitor.silences import Silences

__all__ = ["build", "build_monitor", "channels_for", "serve"]

SERVICE_NAME = monitor_pb2.DESCRIPTOR.services_by_name["Monitor"].full_name


def _aws_client(service: str, endpoint: str | None, aws: AwsSettings, timeout_s: float) -> Any:
    # No botocore retries: the channel worker retries with its own backoff and pacing.
    config = Config(
        connect_timeout=min(timeout_s, 3.0),
        read_timeout=timeout_s,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=2,
    )
    return boto3.client(service, region_name=aws.region, endpoint_url=endpoint, config=config)


def channels_for(notify: NotifySettings, aws: AwsSettings) -> list[Channel]:
    """The channels the settings turn on (an unset variable means no such channel)."""
    channels: list[Channel] = []
    timeout = notify.timeout_s
    if notify.slack_webhook:
        channels.append(
            SlackChannel(
                notify.slack_webhook, timeout_s=timeout, min_interval_s=notify.slack_interval_s
            )
        )
    if notify.webhook:
        channels.append(WebhookChannel(notify.webhook, timeout_s=timeout))
    if notify.email and notify.use_smtp and notify.smtp_host:
        channels.append(
            SmtpChannel(
                notify.smtp_host,
                notify.smtp_port,
                sender=notify.email_from,
                recipient=notify.email,
                timeout_s=timeout,
            )
        )
    elif notify.email:
        client = _aws_client("ses", aws.ses_endpoint, aws, timeout)
        channels.append(
            SesChannel(
                client,
                sender=notify.email_from,
                recipient=notify.email,
                send_rate_per_s=notify.ses_rate_per_s,
                timeout_s=timeout,
            )
        )
    if notify.topic_arn:
        client = _aws_client("sns", aws.sns_endpoint, aws, timeout)
        channels.append(SnsChannel(client, notify.topic_arn, timeout_s=timeout))
    if notify.cloudwatch:
        client = _aws_client("cloudwatch", aws.cloudwatch_endpoint, aws, timeout)
        channels.append(CloudWatchChannel(client, notify.cloudwatch_namespace, timeout_s=timeout))
    return channels


async def build_monitor(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    channels: list[Channel] | None = None,
) -> tuple[ServiceHost, MonitorCore]:
    rng = rng or random.Random()
    rules = load_rules(settings.rules_file)
    silences = Silences(clock, rng)
    claimer: Claimer = LocalClaimer()
    redis_claimer: RedisClaimer | None = None
    silence_store: SilenceStore = LocalSilenceStore(silences)
    if settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        claimer = redis_claimer = RedisClaimer(
            redis, cooldown_s=settings.repeat_cooldown_s, timeout_s=settings.redis_timeout_s
        )
        silence_store = RedisSilenceStore(silences, redis, timeout_s=settings.redis_timeout_s)
    notify = settings.notify
    channels = channels if channels is not None else channels_for(notify, settings.aws)
    dispatcher = Dispatcher(
        channels,
        claimer,
        max_queue=notify.queue_size,
        max_attempts=notify.max_attempts,
        backoff_initial_s=notify.backoff_initial_s,
        backoff_max_s=notify.backoff_max_s,
        rng=rng,
    )
    core = MonitorCore(
        Aggregator(clock, stale_after_s=settings.stale_after_s),
        CostLedger(
            clock,
            daily_budget_usd=settings.daily_budget_usd,
            monthly_budget_usd=settings.monthly_budget_usd,
        ),
        AlertEngine(rules, clock, silences, repeat_cooldown_s=settings.repeat_cooldown_s),
        anomalies=default_anomaly_trackers(clock, settings.anomaly_min_traffic),
        dispatcher=dispatcher,
        thresholds=Thresholds(step_ms=settings.step_thresholds_ms),
        silence_store=silence_store,
        interval_s=settings.eval_interval_s,
    )
    publisher = _cloudwatch_publisher(channels, core, clock, redis_claimer, notify)
    servicer = MonitorServicer(core, clock)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(core, redis_claimer))

    def register(server: grpc.aio.Server) -> None:
        monitor_pb2_grpc.add_MonitorServicer_to_server(servicer, server)

    async def evaluating() -> bool:
        return True

    async def close_claims() -> None:
        if redis_claimer is not None:
            await redis_claimer.aclose()

    spec = ServiceSpec(
        name="monitor",
        service_names=[SERVICE_NAME],
        register=register,
        checks={"aggregator": evaluating},
        starters=[core.start, *([publisher.start_async] if publisher else [])],
        before_stop=[core.stop, *([publisher.stop] if publisher else [])],
        closers=[close_claims],
    )
    return host_for(spec, settings.common, registry), core


def _cloudwatch_publisher(
    channels: list[Channel],
    core: MonitorCore,
    clock: Callable[[], float],
    claimer: RedisClaimer | None,
    notify: NotifySettings,
) -> CloudWatchPublisher | None:
    cloudwatch = next((c for c in channels if isinstance(c, CloudWatchChannel)), None)
    if cloudwatch is None:
        return None

    async def claim(name: str, ttl_s: float) -> bool:
        return True if claimer is None else await claimer.claim_key(name, ttl_s)

    return CloudWatchPublisher(
        cloudwatch, core.aggregator, clock, claim, interval_s=notify.cloudwatch_interval_s
    )


async def build(settings: Settings) -> ServiceHost:
    host, _ = await build_monitor(settings)
    return host


async def serve(settings: Settings) -> None:
    setup_logging("monitor", settings.common.log_level)
    host = await build(settings)
    await host.serve_until_signalled()
