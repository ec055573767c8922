"""The monitor's decisions in one place: ingest reports, evaluate rules, notify, answer.

``evaluate_once`` is one tick: it refreshes the anomaly scores from the last minute,
computes every rule's samples from the merged windows, advances the alert lifecycle,
publishes changes to watchers and hands notifications to the dispatcher. ``run``
calls it every ``interval_s`` until ``stop``. The clock is injected (wall seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from services.monitor.aggregator import Aggregator, PerformanceSnapshot, Report
from services.monitor.alerts import Alert, AlertEngine, Evaluation
from services.monitor.anomaly import AnomalyTracker, BaselineConfig
from services.monitor.cost import CostLedger, CostSummary
from services.monitor.dispatch import Dispatcher
from services.monitor.recommend import Thresholds, recommend
from services.monitor.signals import SIGNALS, WINDOWS, Sample
from services.monitor.silence_store import LocalSilenceStore, SilenceStore
from services.monitor.watch import Watchers

__all__ = ["ANOMALY_WINDOW_S", "ExportView", "MonitorCore", "default_anomaly_trackers"]

log = logging.getLogger(__name__)

ANOMALY_WINDOW_S = 60.0


def default_anomaly_trackers(
    clock: Callable[[], float], min_traffic: float = 20.0
) -> dict[str, AnomalyTracker]:
    """Latency (ms), error rate and hit rate, each with a scale floor so that a perfectly
    flat baseline does not turn a tiny wobble into many sigmas."""
    return {
        "latency": AnomalyTracker(BaselineConfig(min_traffic=min_traffic, min_scale=50.0), clock),
        "error_rate": AnomalyTracker(
            BaselineConfig(min_traffic=min_traffic, min_scale=0.01), clock
        ),
        "hit_rate": AnomalyTracker(
            BaselineConfig(min_traffic=min_traffic, min_scale=0.02, higher_is_worse=False), clock
        ),
    }


@dataclass(frozen=True)
class ExportView:
    """What /metrics shows, prepared on the event loop at each evaluation.

    The Prometheus endpoint answers from its own thread; reading this immutable view
    there (instead of the live windows the event loop mutates) keeps scrapes safe. It
    is at most one evaluation interval old.
    """

    windows: Mapping[float, PerformanceSnapshot]
    memory_ratios: Mapping[str, float]
    cost: CostSummary
    anomalies: Mapping[str, tuple[float, float]]  # signal -> (score, traffic)
    alerts: tuple[Alert, ...]
    at: float


class _Observations:
    def __init__(self, core: MonitorCore) -> None:
        self._core = core
        self._snapshots: dict[float, PerformanceSnapshot] = {}

    def snapshot(self, window_s: float) -> PerformanceSnapshot:
        if window_s not in self._snapshots:
            self._snapshots[window_s] = self._core.aggregator.performance(window_s)
        return self._snapshots[window_s]

    def memory_ratios(self) -> Mapping[str, float]:
        return self._core.aggregator.memory_ratios()

    def budget_ratios(self) -> Mapping[str, float]:
        return self._core.ledger.summary().budget_ratios()

    def anomaly(self, signal: str) -> tuple[float, float] | None:
        tracker = self._core.anomalies.get(signal)
        return None if tracker is None else (tracker.score, tracker.traffic)


class MonitorCore:
    def __init__(
        self,
        aggregator: Aggregator,
        ledger: CostLedger,
        engine: AlertEngine,
        *,
        anomalies: Mapping[str, AnomalyTracker] | None = None,
        dispatcher: Dispatcher | None = None,
        watchers: Watchers | None = None,
        thresholds: Thresholds | None = None,
        silence_store: SilenceStore | None = None,
        interval_s: float = 5.0,
    ) -> None:
        self.aggregator = aggregator
        self.ledger = ledger
        self.engine = engine
        self.anomalies = dict(anomalies or {})
        self.dispatcher = dispatcher
        self.watchers = watchers or Watchers()
        self.thresholds = thresholds or Thresholds()
        self.silence_store = silence_store or LocalSilenceStore(engine.silences)
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.evaluations = 0
        self.exported: ExportView | None = None

    def ingest(self, report: Report) -> None:
        self.aggregator.ingest(report)
        self.ledger.ingest(report.counters)

    def performance(self, window_s: float) -> PerformanceSnapshot:
        snapshot = self.aggregator.performance(window_s)
        return replace(snapshot, recommendations=recommend(snapshot, self.thresholds))

    def cost(self) -> CostSummary:
        return self.ledger.summary()

    def evaluate_once(self) -> Evaluation:
        observations = _Observations(self)
        self._update_anomalies(observations)
        samples: dict[str, Sequence[Sample]] = {
            rule.key: SIGNALS[rule.signal].extract(observations, rule.window_s)
            for rule in self.engine.rules
        }
        evaluation = self.engine.evaluate(samples)
        self.evaluations += 1
        self.exported = self._export_view(observations)
        self.watchers.publish(evaluation.changes)
        for notification in evaluation.notifications:
            log.info(
                "notifying",
                extra={"group": notification.group, "kind": notification.kind},
            )
            if self.dispatcher is not None:
                self.dispatcher.offer(notification)
        return evaluation

    def _export_view(self, observations: _Observations) -> ExportView:
        return ExportView(
            windows={w: observations.snapshot(w) for w in WINDOWS},
            memory_ratios=dict(observations.memory_ratios()),
            cost=self.ledger.summary(),
            anomalies={n: (t.score, t.traffic) for n, t in self.anomalies.items()},
            alerts=tuple(self.engine.alerts(include_resolved=True)),
            at=observations.snapshot(ANOMALY_WINDOW_S).generated_at,
        )

    def _update_anomalies(self, observations: _Observations) -> None:
        snap = observations.snapshot(ANOMALY_WINDOW_S)
        inputs = {
            "latency": (snap.total_latency.p95, float(snap.total_latency.count)),
            "error_rate": (snap.error_rate, float(snap.request_count)),
            "hit_rate": (snap.cache_hit_rate, float(snap.cache_lookups)),
        }
        for name, tracker in self.anomalies.items():
            value, traffic = inputs[name]
            tracker.observe(value, traffic)

    async def start(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="alert-evaluator")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.watchers.close()
        if self.dispatcher is not None:
            await self.dispatcher.stop()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.silence_store.refresh()
                self.evaluate_once()
            except Exception:  # one bad evaluation must not end alerting
                log.exception("alert evaluation failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
