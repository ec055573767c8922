"""Spend and avoided spend per UTC day and month, from the services' counters.

``cost_usd_total{client}`` (analysis) and ``cost_avoided_usd_total{source}`` (gateway)
arrive as deltas; they are summed into the current UTC day and month. Only the current
and previous period are kept, and client/source values beyond ``max_keys`` are summed
under "other", so a caller cannot grow the monitor's memory. The ledger is in memory:
a monitor restart starts the day's count from zero (documented in docs/monitor.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.monitor.aggregator import MetricValue

__all__ = ["COST_AVOIDED", "COST_TOTAL", "CostLedger", "CostSummary"]

COST_TOTAL = "cost_usd_total"
COST_AVOIDED = "cost_avoided_usd_total"
_OTHER = "other"


@dataclass(frozen=True)
class CostSummary:
    day: str
    month: str
    by_client_day: dict[str, float]
    by_client_month: dict[str, float]
    avoided_by_source_day: dict[str, float]
    avoided_by_source_month: dict[str, float]
    daily_budget_usd: float
    monthly_budget_usd: float

    @property
    def total_day(self) -> float:
        return sum(self.by_client_day.values())

    @property
    def total_month(self) -> float:
        return sum(self.by_client_month.values())

    @property
    def daily_used(self) -> float:
        return self.total_day / self.daily_budget_usd if self.daily_budget_usd > 0 else 0.0

    @property
    def monthly_used(self) -> float:
        return self.total_month / self.monthly_budget_usd if self.monthly_budget_usd > 0 else 0.0

    def budget_ratios(self) -> dict[str, float]:
        """Spent / budget for each period that has a budget."""
        ratios = {}
        if self.daily_budget_usd > 0:
            ratios["day"] = self.daily_used
        if self.monthly_budget_usd > 0:
            ratios["month"] = self.monthly_used
        return ratios


class CostLedger:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        daily_budget_usd: float = 0.0,
        monthly_budget_usd: float = 0.0,
        max_keys: int = 200,
    ) -> None:
        self._clock = clock
        self._daily_budget = daily_budget_usd
        self._monthly_budget = monthly_budget_usd
        self._max_keys = max_keys
        # (metric, period) -> label value -> usd; period is "YYYY-MM-DD" or "YYYY-MM".
        self._sums: dict[tuple[str, str], dict[str, float]] = {}

    def ingest(self, counters: Iterable[MetricValue]) -> None:
        # Booked at arrival: a report buffered across midnight counts for the new day.
        day, month = _periods(self._clock())
        for counter in counters:
            label = {COST_TOTAL: "client", COST_AVOIDED: "source"}.get(counter.name)
            if label is None or counter.value <= 0:
                continue
            key = counter.labels.get(label) or "unknown"
            for period in (day, month):
                self._add(counter.name, period, key, counter.value)
        self._prune(day, month)

    def summary(self) -> CostSummary:
        day, month = _periods(self._clock())
        return CostSummary(
            day=day,
            month=month,
            by_client_day=dict(sorted(self._sums.get((COST_TOTAL, day), {}).items())),
            by_client_month=dict(sorted(self._sums.get((COST_TOTAL, month), {}).items())),
            avoided_by_source_day=dict(sorted(self._sums.get((COST_AVOIDED, day), {}).items())),
            avoided_by_source_month=dict(sorted(self._sums.get((COST_AVOIDED, month), {}).items())),
            daily_budget_usd=self._daily_budget,
            monthly_budget_usd=self._monthly_budget,
        )

    def _add(self, metric: str, period: str, key: str, value: float) -> None:
        sums = self._sums.setdefault((metric, period), {})
        if key not in sums and len(sums) >= self._max_keys:
            key = _OTHER
        sums[key] = sums.get(key, 0.0) + value

    def _prune(self, day: str, month: str) -> None:
        keep = {day, month}
        for key in [k for k in self._sums if k[1] not in keep]:
            del self._sums[key]


def _periods(at: float) -> tuple[str, str]:
    day = time.strftime("%Y-%m-%d", time.gmtime(at))
    return day, day[:7]
