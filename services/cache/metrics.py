"""Exports the store's counters to Prometheus at scrape time. Hit rate is derived by
the query (hits / (hits + misses) per tier, or over all tiers), never exported as a
gauge. Labels are bounded: the tier name and a fixed result set."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.cache.store import CacheStore
from services.common.telemetry import Telemetry

__all__ = ["MonitorSampler", "StoreCollector"]


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
        promotions = CounterMetricFamily(
            "oppsuite_cache_promotions", "L2 hits copied into this tier.", labels=["tier"]
        )
        bytes_moved = CounterMetricFamily(
            "oppsuite_cache_bytes", "Envelope bytes read and written.", labels=["tier", "op"]
        )
        up = GaugeMetricFamily(
            "oppsuite_cache_tier_up", "1 while the tier answers its calls.", labels=["tier"]
        )
        entries = GaugeMetricFamily(
            "oppsuite_cache_entries",
            "Entries stored, at the last background census (an estimate).",
            labels=["tier"],
        )
        for tier, t in stats.tiers.items():
            lookups.add_metric([tier, "hit"], t.hits)
            lookups.add_metric([tier, "miss"], t.misses)
            lookups.add_metric([tier, "expired"], t.expired_filtered)
            errors.add_metric([tier], t.errors)
            writes.add_metric([tier], t.writes)
            promotions.add_metric([tier], t.promotions)
            bytes_moved.add_metric([tier, "read"], t.bytes_read)
            bytes_moved.add_metric([tier, "written"], t.bytes_written)
            up.add_metric([tier], float(stats.tiers_up.get(tier, True)))
            entries.add_metric([tier], t.entries)
        saved = CounterMetricFamily(
            "oppsuite_cache_compute_seconds_saved",
            "Analysis compute time that cache hits avoided.",
            value=stats.compute_seconds_saved_total,
        )
        degraded = GaugeMetricFamily(
            "oppsuite_cache_degraded", "1 while a tier is unreachable.", value=float(stats.degraded)
        )
        lease_waits = CounterMetricFamily(
            "oppsuite_cache_lease_waits", "WaitForEntry calls.", value=stats.lease_waits
        )
        early = CounterMetricFamily(
            "oppsuite_cache_early_refreshes",
            "Hits answered with refresh_early (XFetch).",
            value=stats.early_refreshes,
        )
        depth = GaugeMetricFamily(
            "oppsuite_cache_l2_write_queue_depth",
            "L2 writes waiting for DynamoDB.",
            value=stats.l2_write_queue_depth,
        )
        dropped = CounterMetricFamily(
            "oppsuite_cache_l2_writes_dropped",
            "Queued L2 writes dropped (queue full, or expired while queued).",
            value=stats.l2_writes_dropped,
        )
        yield from (lookups, errors, writes, promotions, bytes_moved, up, saved, degraded)
        hits = self._store.hits
        hits_shared = CounterMetricFamily(
            "oppsuite_cache_hit_counts_flushed",
            "Hits added to the shared per-key hit counters in Redis.",
            value=hits.flushed,
        )
        hits_dropped = CounterMetricFamily(
            "oppsuite_cache_hit_counts_dropped",
            "Hits left out of the shared counters (too many keys pending, or Redis down).",
            value=hits.dropped,
        )
        yield from (lease_waits, early, depth, dropped, entries, hits_shared, hits_dropped)


class MonitorSampler:
    """Once per report interval, turns the store's counters into deltas for the
    monitor (``cache_tier_total{tier,result}``: its per-tier hit rates) and sets the
    per-tier up gauges. Runs off the request path, so a Get pays nothing for it."""

    def __init__(self, store: CacheStore, telemetry: Telemetry) -> None:
        self._store = store
        self._telemetry = telemetry
        self._last: dict[tuple[str, str], int] = {}

    def __call__(self) -> None:
        stats = self._store.stats()
        for tier, counts in stats.tiers.items():
            for result, value in (("hit", counts.hits), ("miss", counts.misses)):
                previous = self._last.get((tier, result), 0)
                if value > previous:
                    self._telemetry.inc(
                        "cache_tier_total", value - previous, tier=tier, result=result
                    )
                self._last[(tier, result)] = value
            self._telemetry.set_gauge(
                "cache_tier_up", float(stats.tiers_up.get(tier, True)), tier=tier
            )
