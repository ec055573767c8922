"""Exports the store's counters to Prometheus at scrape time. Hit rate is derived by
the query (hits / (hits + misses)), never exported as a gauge."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.cache.store import CacheStore

__all__ = ["StoreCollector"]


class StoreCollector(Collector):
    def __init__(self, store: CacheStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        stats = self._store.stats()
        lookups = CounterMetricFamily(
            "oppsuite_cache_lookups", "Cache reads by tier and result.", labels=["tier", "result"]
        )
        errors = CounterMetricFamily(
            "oppsuite_cache_errors", "Tier failures (reads and writes).", labels=["tier"]
        )
        writes = CounterMetricFamily("oppsuite_cache_writes", "Entries written.", labels=["tier"])
        for tier, t in stats.tiers.items():
            lookups.add_metric([tier, "hit"], t.hits)
            lookups.add_metric([tier, "miss"], t.misses)
            lookups.add_metric([tier, "expired"], t.expired_filtered)
            errors.add_metric([tier], t.errors)
            writes.add_metric([tier], t.writes)
        saved = CounterMetricFamily(
            "oppsuite_cache_compute_seconds_saved",
            "Analysis compute time that cache hits avoided.",
            value=stats.compute_seconds_saved_total,
        )
        degraded = GaugeMetricFamily(
            "oppsuite_cache_degraded", "1 while a tier is unreachable.", value=float(stats.degraded)
        )
        yield from (lookups, errors, writes, saved, degraded)
