"""Prometheus metrics of the analysis service, declared once against a given registry.

Each metric also goes to the monitor through ``Telemetry`` where the monitor uses it
(step timings and violations, pool utilisation, AWS calls, tokens, cost). Labels are
bounded: steps, pools and AWS operations are fixed sets; clients come from the
gateway's configured API keys and are capped at ``max_clients`` (then "other").
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.analysis.provider import CallAccounting
from services.common.domain import StepTiming
from services.common.metricchildren import LabelledChildren
from services.common.telemetry import Telemetry

__all__ = ["AnalysisMetrics"]

_log = logging.getLogger(__name__)

_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 180)
_WAIT_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _utilization(in_use: int, size: int) -> float:
    return in_use / size if size else 0.0


class AnalysisMetrics:
    """Also the ``PoolObserver`` of the AWS client pools (called from worker threads)."""

    def __init__(
        self, registry: CollectorRegistry, telemetry: Telemetry, *, max_clients: int = 200
    ) -> None:
        self._telemetry = telemetry
        self._max_clients = max_clients
        self._clients: set[str] = set()
        self._lock = threading.Lock()
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
        self.pool_in_use = Gauge(
            "oppsuite_analysis_pool_in_use", "AWS calls in flight.", ["pool"], registry=registry
        )
        self.pool_size = Gauge(
            "oppsuite_analysis_pool_size", "Current bound of the pool.", ["pool"], registry=registry
        )
        self.pool_utilization = Gauge(
            "oppsuite_analysis_pool_utilization",
            "In use / size of the pool (0-1).",
            ["pool"],
            registry=registry,
        )
        self.pool_wait_seconds = Histogram(
            "oppsuite_analysis_pool_wait_seconds",
            "Time spent waiting for a pool slot.",
            ["pool"],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self.pool_resizes = Counter(
            "oppsuite_analysis_pool_resizes_total",
            "Adaptive pool size changes.",
            ["pool", "direction"],
            registry=registry,
        )
        self.aws_calls = Counter(
            "oppsuite_analysis_aws_calls_total",
            "AWS API calls made (before SDK-internal retries).",
            ["service", "operation"],
            registry=registry,
        )
        self.bedrock_tokens = Counter(
            "oppsuite_analysis_bedrock_tokens_total",
            "Bedrock tokens by direction.",
            ["direction"],
            registry=registry,
        )
        self.athena_bytes = Counter(
            "oppsuite_analysis_athena_bytes_scanned_total",
            "Bytes Athena scanned.",
            registry=registry,
        )
        self.lambda_billed = Counter(
            "oppsuite_analysis_lambda_billed_seconds_total",
            "Lambda billed duration.",
            registry=registry,
        )
        self.prompt_fetches = Counter(
            "oppsuite_analysis_prompt_fetches_total",
            "Bedrock Prompt Management fetches by prompt and outcome (ok, failed, invalid).",
            ["prompt", "outcome"],
            registry=registry,
        )
        self.prompt_managed = Gauge(
            "oppsuite_analysis_prompt_managed",
            "1 when the step uses its Prompt Management prompt, 0 when the repository one.",
            ["prompt"],
            registry=registry,
        )
        self.cost_usd = Counter(
            "oppsuite_analysis_cost_usd_total",
            "Estimated AWS cost of analyses, by client.",
            ["client"],
            registry=registry,
        )
        # The pool and AWS-call hooks run several times per analysis.
        self._steps = LabelledChildren(self.step_seconds)
        self._calls = LabelledChildren(self.aws_calls)
        self._pool_wait = LabelledChildren(self.pool_wait_seconds)
        # (in use, size) of each pool as last reported; the pool gauges read it when
        # scraped, so an acquire or a release only stores a tuple.
        self._pool_levels: dict[str, tuple[int, int]] = {}
        # Acquires that did not wait, per pool, since the sampler last handed them over.
        self._unwaited: dict[str, int] = {}

    def record_step(self, timing: StepTiming) -> None:
        self._steps(timing.step).observe(timing.duration_ms / 1000)
        self._telemetry.observe("step_ms", timing.duration_ms, step=timing.step)
        if timing.violated:
            _log.warning(
                "step over its threshold",
                extra={
                    "step": timing.step,
                    "duration_ms": round(timing.duration_ms, 1),
                    "threshold_ms": timing.threshold_ms,
                },
            )
            self.step_threshold_seconds.labels(timing.step).inc()
            self._telemetry.inc("step_violations_total", step=timing.step)

    # PoolObserver
    def pool_level(self, pool: str, in_use: int, size: int) -> None:
        if pool not in self._pool_levels:
            self._watch_pool(pool)
        self._pool_levels[pool] = (in_use, size)

    def sample_pools(self) -> None:
        """Hand the monitor each pool's utilisation and the acquires that did not wait;
        the reporter's sampler calls this once per interval, so an acquire or a release
        only stores a tuple or adds one (a telemetry write, with its lock and label key,
        cost more than the rest of a call's bookkeeping)."""
        for pool, (in_use, size) in list(self._pool_levels.items()):
            self._telemetry.set_gauge("pool_utilization", _utilization(in_use, size), pool=pool)
        unwaited, self._unwaited = self._unwaited, {}
        for pool, times in unwaited.items():
            self._telemetry.observe_times("pool_wait_ms", 0.0, times, pool=pool)

    def pool_wait(self, pool: str, seconds: float) -> None:
        """One acquire of ``pool`` after ``seconds`` of waiting (on the event loop only)."""
        self._pool_wait(pool).observe(seconds)
        if seconds > 0:
            self._telemetry.observe("pool_wait_ms", seconds * 1000, pool=pool)
        else:  # most acquires: counted here, handed to the monitor by sample_pools
            self._unwaited[pool] = self._unwaited.get(pool, 0) + 1

    def pool_resized(self, pool: str, direction: str, size: int) -> None:
        self.pool_resizes.labels(pool, direction).inc()
        if pool not in self._pool_levels:
            self._watch_pool(pool)
        in_use, _ = self._pool_levels.get(pool, (0, size))
        self._pool_levels[pool] = (in_use, size)

    def _watch_pool(self, pool: str) -> None:
        def level() -> tuple[int, int]:
            return self._pool_levels.get(pool, (0, 0))

        self.pool_in_use.labels(pool).set_function(lambda: level()[0])
        self.pool_size.labels(pool).set_function(lambda: level()[1])
        self.pool_utilization.labels(pool).set_function(lambda: _utilization(*level()))

    def aws_call(self, service: str, operation: str) -> None:
        self._calls(service, operation).inc()
        self._telemetry.inc("aws_calls_total", service=service, operation=operation)

    # PromptObserver
    def prompt_fetched(self, prompt: str, outcome: str) -> None:
        self.prompt_fetches.labels(prompt, outcome).inc()
        self._telemetry.inc("prompt_fetches_total", prompt=prompt, outcome=outcome)

    def prompt_source(self, prompt: str, managed: bool) -> None:
        self.prompt_managed.labels(prompt).set(1 if managed else 0)

    def _client_label(self, client_id: str) -> str:
        client = client_id or "unknown"
        with self._lock:
            if client in self._clients:
                return client
            if len(self._clients) < self._max_clients:
                self._clients.add(client)
                return client
        return "other"

    def record_accounting(self, client_id: str, accounting: CallAccounting) -> None:
        """Once per analysis, failed ones included: a failure still cost money."""
        if accounting.input_tokens:
            self.bedrock_tokens.labels("input").inc(accounting.input_tokens)
            self._telemetry.inc("bedrock_tokens_total", accounting.input_tokens, direction="input")
        if accounting.output_tokens:
            self.bedrock_tokens.labels("output").inc(accounting.output_tokens)
            self._telemetry.inc(
                "bedrock_tokens_total", accounting.output_tokens, direction="output"
            )
        if accounting.athena_bytes_scanned:
            self.athena_bytes.inc(accounting.athena_bytes_scanned)
        if accounting.lambda_billed_ms:
            self.lambda_billed.inc(accounting.lambda_billed_ms / 1000)
        if accounting.cost_usd:
            client = self._client_label(client_id)
            self.cost_usd.labels(client).inc(accounting.cost_usd)
            self._telemetry.inc("cost_usd_total", accounting.cost_usd, client=client)
