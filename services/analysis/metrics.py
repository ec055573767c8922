"""Prometheus metrics of the analysis service, declared once against a given registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.common.domain import StepTiming
from services.common.telemetry import Telemetry

__all__ = ["AnalysisMetrics"]

_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 180)


class AnalysisMetrics:
    def __init__(self, registry: CollectorRegistry, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self.step_seconds = Histogram(
            "oppsuite_analysis_step_seconds",
            "Duration of each workflow step (total = whole workflow).",
            ["step"],
            buckets=_STEP_BUCKETS,
            registry=registry,
        )
        self.step_threshold_seconds = Counter(
            "oppsuite_analysis_step_violations_total",
            "Steps that took longer than their threshold.",
            ["step"],
            registry=registry,
        )

    def record_step(self, timing: StepTiming) -> None:
        self.step_seconds.labels(timing.step).observe(timing.duration_ms / 1000)
        self._telemetry.observe("step_ms", timing.duration_ms, step=timing.step)
        if timing.violated:
            self.step_threshold_seconds.labels(timing.step).inc()
            self._telemetry.inc("step_violations_total", step=timing.step)
