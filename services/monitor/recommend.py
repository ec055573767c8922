"""Concrete suggestions derived from a performance snapshot (GetPerformance.recommendations).

Each suggestion names the number that triggered it and the knob to turn. Nothing is
suggested from too little traffic (``min_traffic``), so a quiet system gets no advice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.monitor.aggregator import PerformanceSnapshot

__all__ = ["Thresholds", "recommend"]


@dataclass(frozen=True)
class Thresholds:
    hit_rate: float = 0.70
    pool_utilization: float = 0.80
    error_rate: float = 0.05
    min_traffic: int = 20
    step_ms: Mapping[str, float] | None = None  # step -> threshold (ms)


def recommend(snapshot: PerformanceSnapshot, thresholds: Thresholds) -> tuple[str, ...]:
    window = f"{snapshot.window_seconds:.0f} s"
    out: list[str] = []
    if snapshot.cache_lookups >= thresholds.min_traffic and (
        snapshot.cache_hit_rate < thresholds.hit_rate
    ):
        out.append(
            f"Cache hit rate is {snapshot.cache_hit_rate:.0%} over the last {window} "
            f"(target {thresholds.hit_rate:.0%}): warm the most requested opportunities "
            "(`oppsuite warm`) and lengthen TTLs for high-confidence results."
        )
    for tier, rate in snapshot.cache_hit_rate_by_tier.items():
        if snapshot.cache_lookups >= thresholds.min_traffic and rate < thresholds.hit_rate / 2:
            out.append(f"The {tier} cache tier hits only {rate:.0%}: check its size and TTL.")
    for pool, used in snapshot.pool_utilization.items():
        if used >= thresholds.pool_utilization:
            out.append(
                f"Pool {pool} is {used:.0%} utilized (limit {thresholds.pool_utilization:.0%}): "
                "raise its size or add replicas, within the AWS service's quota."
            )
    for step, limit in sorted((thresholds.step_ms or {}).items()):
        stats = snapshot.step_latency.get(step)
        if stats is not None and stats.count and stats.p95 > limit:
            out.append(
                f"Step {step} P95 is {stats.p95:,.0f} ms, over its {limit:,.0f} ms threshold: "
                f"look at {step} first ({_step_hint(step)})."
            )
    if snapshot.request_count >= thresholds.min_traffic and (
        snapshot.error_rate > thresholds.error_rate
    ):
        out.append(
            f"{snapshot.error_rate:.1%} of requests failed over the last {window}: "
            "see requests_total by code and the dependencies' health."
        )
    if snapshot.queued > 0 and snapshot.in_flight > 0:
        out.append(
            f"{snapshot.queued:.0f} requests are queued behind {snapshot.in_flight:.0f} "
            "in flight: add analysis capacity or replicas."
        )
    return tuple(out)


def _step_hint(step: str) -> str:
    return {
        "query_generation": "the model's latency and prompt size",
        "data_retrieval": "Athena query time, result reuse and the row limit",
        "analysis": "the model's latency and the truncation budget",
    }.get(step, "its logs")
