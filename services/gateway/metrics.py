"""Prometheus view of the gateway's domain counters, read at scrape time.

The domain modules keep plain counters (no metrics library in the decisions); this
collector turns them into metric families. Every label is from a fixed, small set:
limit names, backends, reasons, cache sources — never a client id or a key.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.gateway.nearcache import NearCache
from services.gateway.pipeline import Pipeline
from services.gateway.ratelimit import RedisGcra
from services.gateway.upstream import CacheClient

__all__ = ["GatewayCollector", "register_metrics"]

P = "oppsuite_gateway_"


class GatewayCollector(Collector):
    def __init__(
        self, pipeline: Pipeline, redis: RedisGcra | None, cache: CacheClient | None = None
    ) -> None:
        self._pipeline = pipeline
        self._redis = redis
        self._cache = cache

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        p = self._pipeline
        admission = p.admission
        yield _gauge(f"{P}in_flight", "Analyses running on this replica.", admission.in_flight)
        yield _gauge(f"{P}queued", "Requests waiting for an analysis slot.", admission.queued)
        yield _gauge(f"{P}requests_in_progress", "Requests being handled.", p.in_flight)
        yield _gauge(
            f"{P}analysis_seconds_ewma",
            "Measured analysis time used for the drain-rate estimate.",
            admission.service_s or 0.0,
        )
        yield _counter(
            f"{P}queue_wait_seconds",
            "Total time admitted requests spent queued.",
            admission.wait_s_total,
        )
        rejections = CounterMetricFamily(
            f"{P}rejections", "Requests turned away, by reason.", labels=["reason"]
        )
        for reason, count in sorted(p.counts.rejections.items()):
            rejections.add_metric([reason], count)
        yield rejections
        responses = CounterMetricFamily(
            f"{P}responses", "Answers, by where they came from.", labels=["source"]
        )
        for source, count in sorted(p.counts.responses.items()):
            responses.add_metric([source], count)
        yield responses
        leases = CounterMetricFamily(
            f"{P}lease", "Cross-replica lease outcomes on a miss.", labels=["result"]
        )
        for result, count in sorted(p.counts.leases.items()):
            leases.add_metric([result], count)
        yield leases
        refreshes = CounterMetricFamily(
            f"{P}early_refresh",
            "Background recomputations the cache asked for (XFetch), by result.",
            labels=["result"],
        )
        for result, count in sorted(p.counts.refreshes.items()):
            refreshes.add_metric([result], count)
        yield refreshes
        yield from self._limiter()
        yield from _near(p.near)
        if self._cache is not None:
            lookups, rpcs = self._cache.lookups_batched
            yield _counter(
                f"{P}cache_lookups_sent",
                "Lookups sent to the cache service (after the near cache).",
                lookups,
            )
            yield _counter(
                f"{P}cache_lookup_rpcs",
                "Get/BatchGet calls that carried them (fewer under load: batching).",
                rpcs,
            )

    def _limiter(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        limiter = self._pipeline.limiter
        if limiter is None:
            return
        decisions = CounterMetricFamily(
            f"{P}ratelimit_decisions",
            "Rate-limit decisions by backend (redis/local) and outcome.",
            labels=["backend", "outcome"],
        )
        for (backend, outcome), count in sorted(limiter.counts.decisions.items()):
            decisions.add_metric([backend, outcome], count)
        yield decisions
        rejected = CounterMetricFamily(
            f"{P}ratelimit_rejected",
            "Requests a limit rejected (shadow=true: would have rejected).",
            labels=["limit", "shadow"],
        )
        for limit, count in sorted(limiter.counts.rejected_by_limit.items()):
            rejected.add_metric([limit, "false"], count)
        for limit, count in sorted(limiter.counts.shadow_rejected_by_limit.items()):
            rejected.add_metric([limit, "true"], count)
        yield rejected
        yield _gauge(
            f"{P}ratelimit_degraded",
            "1 while limits are decided locally because Redis is unreachable.",
            1.0 if limiter.degraded else 0.0,
        )
        yield _counter(
            f"{P}ratelimit_backend_errors",
            "Limiter calls to Redis that failed or timed out.",
            limiter.counts.backend_errors,
        )
        if self._redis is not None:
            yield _counter(
                f"{P}ratelimit_redis_round_trips",
                "Round trips to Redis made by the limiter.",
                self._redis.round_trips,
            )


def _near(near: NearCache) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    lookups = CounterMetricFamily(
        f"{P}near_cache_lookups", "Near-cache lookups by result.", labels=["result"]
    )
    lookups.add_metric(["hit"], near.counts.hits)
    lookups.add_metric(["miss"], near.counts.misses)
    yield lookups
    yield _gauge(f"{P}near_cache_entries", "Entries in the near cache.", len(near))
    yield _counter(
        f"{P}near_cache_invalidations",
        "Near-cache entries dropped on an invalidation message.",
        near.counts.invalidations,
    )
    yield _gauge(
        f"{P}near_cache_subscribed",
        "1 while the invalidation channel is subscribed.",
        1.0 if near.subscribed else 0.0,
    )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def register_metrics(
    registry: CollectorRegistry,
    pipeline: Pipeline,
    redis: RedisGcra | None,
    cache: CacheClient | None = None,
) -> None:
    registry.register(GatewayCollector(pipeline, redis, cache))
