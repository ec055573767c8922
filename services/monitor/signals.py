"""The signals rules can alert on: how each is computed in process and what it is called
in Prometheus.

Every signal has one exported metric (exporter.py writes it, rulegen.py reads it) and
an in-process extractor over ``Observations``; both compute the same number from the
same merged data, so the in-process evaluator and Prometheus agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.monitor.aggregator import PerformanceSnapshot

__all__ = [
    "SIGNALS",
    "WINDOWS",
    "Observations",
    "Sample",
    "SignalSpec",
    "window_label",
]

WINDOWS = {60.0: "1m", 300.0: "5m", 900.0: "15m"}


def window_label(window_s: float) -> str:
    return WINDOWS[window_s]


@dataclass(frozen=True)
class Sample:
    """The value of a signal for one subject (labels), and the traffic behind it."""

    labels: Mapping[str, str]
    value: float
    traffic: float


class Observations(Protocol):
    """What the evaluator reads; one object per evaluation so snapshots are computed once."""

    def snapshot(self, window_s: float) -> PerformanceSnapshot: ...

    def memory_ratios(self) -> Mapping[str, float]: ...

    def budget_ratios(self) -> Mapping[str, float]: ...  # "day"/"month" -> spent / budget

    def anomaly(self, signal: str) -> tuple[float, float] | None: ...  # (score, traffic)


Extractor = Callable[[Observations, float], list[Sample]]


@dataclass(frozen=True)
class SignalSpec:
    """How the signal reads in PromQL: ``metric{selector, window}`` [and traffic >= floor]."""

    metric: str
    selector: Mapping[str, str]
    windowed: bool
    subject: str | None  # the label naming the subject (pool, service, step), if any
    traffic_metric: str | None
    extract: Extractor


def _latency(obs: Observations, window_s: float) -> list[Sample]:
    latency = obs.snapshot(window_s).total_latency
    return [Sample({}, latency.p95, latency.count)] if latency.count else []


def _errors(obs: Observations, window_s: float) -> list[Sample]:
    snap = obs.snapshot(window_s)
    return [Sample({}, snap.error_rate, snap.request_count)] if snap.request_count else []


def _hit_rate(obs: Observations, window_s: float) -> list[Sample]:
    snap = obs.snapshot(window_s)
    return [Sample({}, snap.cache_hit_rate, snap.cache_lookups)] if snap.cache_lookups else []


def _memory(obs: Observations, window_s: float) -> list[Sample]:
    return [Sample({"service": s}, ratio, 0.0) for s, ratio in obs.memory_ratios().items()]


def _pools(obs: Observations, window_s: float) -> list[Sample]:
    return [
        Sample({"pool": pool}, value, 0.0)
        for pool, value in obs.snapshot(window_s).pool_utilization.items()
    ]


def _steps(obs: Observations, window_s: float) -> list[Sample]:
    snap = obs.snapshot(window_s)
    samples = []
    for step, stats in snap.step_latency.items():
        violations = snap.step_threshold_violations.get(step, 0)
        if stats.count:
            samples.append(Sample({"step": step}, violations / stats.count, stats.count))
    return samples


def _budget(period: str) -> Extractor:
    def extract(obs: Observations, window_s: float) -> list[Sample]:
        ratio = obs.budget_ratios().get(period)
        return [] if ratio is None else [Sample({}, ratio, 0.0)]

    return extract


def _anomaly(name: str) -> Extractor:
    def extract(obs: Observations, window_s: float) -> list[Sample]:
        found = obs.anomaly(name)
        return [] if found is None else [Sample({}, found[0], found[1])]

    return extract


SIGNALS: dict[str, SignalSpec] = {
    "request_latency_p95_ms": SignalSpec(
        "oppsuite_request_latency_ms",
        {"quantile": "0.95"},
        True,
        None,
        "oppsuite_request_latency_samples",
        _latency,
    ),
    "error_rate": SignalSpec("oppsuite_error_ratio", {}, True, None, "oppsuite_requests", _errors),
    "cache_hit_rate": SignalSpec(
        "oppsuite_cache_hit_ratio", {"tier": "all"}, True, None, "oppsuite_cache_lookups", _hit_rate
    ),
    "memory_usage_ratio": SignalSpec(
        "oppsuite_memory_usage_ratio", {}, False, "service", None, _memory
    ),
    "pool_utilization": SignalSpec(
        "oppsuite_pool_utilization_ratio", {}, False, "pool", None, _pools
    ),
    "step_violation_ratio": SignalSpec(
        "oppsuite_step_violation_ratio", {}, True, "step", "oppsuite_step_executions", _steps
    ),
    "cost_daily_budget_ratio": SignalSpec(
        "oppsuite_cost_budget_used_ratio", {"period": "day"}, False, None, None, _budget("day")
    ),
    "cost_monthly_budget_ratio": SignalSpec(
        "oppsuite_cost_budget_used_ratio", {"period": "month"}, False, None, None, _budget("month")
    ),
    "latency_anomaly_score": SignalSpec(
        "oppsuite_anomaly_score",
        {"signal": "latency"},
        False,
        None,
        "oppsuite_anomaly_traffic",
        _anomaly("latency"),
    ),
    "error_rate_anomaly_score": SignalSpec(
        "oppsuite_anomaly_score",
        {"signal": "error_rate"},
        False,
        None,
        "oppsuite_anomaly_traffic",
        _anomaly("error_rate"),
    ),
    "hit_rate_anomaly_score": SignalSpec(
        "oppsuite_anomaly_score",
        {"signal": "hit_rate"},
        False,
        None,
        "oppsuite_anomaly_traffic",
        _anomaly("hit_rate"),
    ),
}
