"""The merged performance view as CloudWatch custom metrics, once per period across replicas.

Every ``interval_s`` one replica (the one that claims ``cloudwatch-metrics:{period}`` in
the claim log; with no claim log, each) puts the last minute's figures: latency
percentiles, error rate, hit rate, request count, in-flight and queued, and each known
step's P95. Dimensions are bounded: none, or ``Step`` from a fixed list. Puts are
batched by the channel; the namespace is the channel's custom one (never ``AWS/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from services.monitor.aggregator import Aggregator
from services.monitor.channels import CloudWatchChannel
from services.monitor.dispatch import DeliveryError

__all__ = ["KNOWN_STEPS", "CloudWatchPublisher"]

log = logging.getLogger(__name__)
KNOWN_STEPS = ("query_generation", "data_retrieval", "analysis")


class CloudWatchPublisher:
    def __init__(
        self,
        channel: CloudWatchChannel,
        aggregator: Aggregator,
        clock: Callable[[], float],
        claim: Callable[[str, float], Awaitable[bool]],
        *,
        interval_s: float = 60.0,
    ) -> None:
        self._channel = channel
        self._aggregator = aggregator
        self._clock = clock
        self._claim = claim
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def metrics(self, at: float) -> list[dict[str, Any]]:
        snap = self._aggregator.performance(60.0)

        def metric(name: str, value: float, unit: str, **dims: str) -> dict[str, Any]:
            return {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": at,
                "Value": float(value),
                "Unit": unit,
            }

        latency = snap.total_latency
        out = [
            metric("Requests", snap.request_count, "Count"),
            metric("ErrorRate", snap.error_rate * 100, "Percent"),
            metric("InFlight", snap.in_flight, "Count"),
            metric("Queued", snap.queued, "Count"),
        ]
        if snap.cache_lookups:
            out.append(metric("CacheHitRate", snap.cache_hit_rate * 100, "Percent"))
        if latency.count:
            out += [
                metric("RequestLatencyP50", latency.p50, "Milliseconds"),
                metric("RequestLatencyP95", latency.p95, "Milliseconds"),
                metric("RequestLatencyP99", latency.p99, "Milliseconds"),
            ]
        for step in KNOWN_STEPS:
            stats = snap.step_latency.get(step)
            if stats is not None and stats.count:
                out.append(metric("StepLatencyP95", stats.p95, "Milliseconds", Step=step))
        return out

    async def publish_once(self) -> bool:
        """Put this period's metrics unless another replica claimed the period; True if put."""
        now = self._clock()
        period = math.floor(now / self._interval_s)
        if not await self._claim(f"cloudwatch-metrics:{period}", self._interval_s * 2):
            return False
        try:
            await self._channel.put_metrics(self.metrics(now))
        except DeliveryError as error:
            log.warning("CloudWatch metrics not put", extra={"error": str(error)})
            return False
        self.published += 1
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cloudwatch-metrics")

    async def start_async(self) -> None:
        self.start()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.publish_once()
            except Exception:  # never let one failed put end the publishing
                log.exception("CloudWatch publishing failed")
