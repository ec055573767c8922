"""The three-step workflow, timed step by step against thresholds, provider-agnostic.

query generation → SQL guard → data retrieval → analysis → tolerant parse.
The caller's deadline bounds the whole run; each step gets what remains.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from services.analysis.errors import ModelOutputInvalid
from services.analysis.parser import parse_analysis
from services.analysis.provider import STEP_DEADLINE, CallAccounting, Provider, Row
from services.analysis.sqlguard import guard_sql
from services.common.domain import Analysis, Opportunity, Options, StepTiming
from services.common.errors import DeadlineExceeded

__all__ = ["STEPS", "StepListener", "Thresholds", "Workflow", "WorkflowResult"]

STEPS = ("query_generation", "data_retrieval", "analysis")
T = TypeVar("T")


@dataclass(frozen=True)
class Thresholds:
    query_generation_ms: float = 5000
    data_retrieval_ms: float = 10000
    analysis_ms: float = 15000
    total_ms: float = 30000

    def for_step(self, step: str) -> float:
        return float(getattr(self, f"{step}_ms"))


@dataclass(frozen=True)
class WorkflowResult:
    analysis: Analysis
    steps: tuple[StepTiming, ...]
    sql: str
    row_count: int
    accounting: CallAccounting
    compute_ms: float


class StepListener:
    """Receives step events; AnalyzeStream forwards them, Analyze ignores them."""

    async def started(self, step: str) -> None:
        return None

    async def finished(self, timing: StepTiming) -> None:
        return None


class Workflow:
    def __init__(
        self,
        provider: Provider,
        thresholds: Thresholds,
        *,
        allowed_table: str,
        database: str,
        on_step: Callable[[StepTiming], None] = lambda _: None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._provider = provider
        self._thresholds = thresholds
        self._allowed_table = allowed_table
        self._database = database
        self._on_step = on_step
        self._clock = clock

    async def run(
        self,
        opportunity: Opportunity,
        options: Options,
        *,
        deadline_s: float,
        listener: StepListener | None = None,
        accounting: CallAccounting | None = None,
    ) -> WorkflowResult:
        """Run the three steps; ``accounting`` (if given) is filled even when a step fails,
        so what a failed analysis cost is still counted."""
        listener = listener or StepListener()
        accounting = accounting if accounting is not None else CallAccounting()
        started = self._clock()
        expires = started + deadline_s
        timings: list[StepTiming] = []

        async def step(name: str, work: Callable[[], Awaitable[T]]) -> T:
            await listener.started(name)
            step_started = self._clock()
            remaining = expires - step_started
            if remaining <= 0:
                raise DeadlineExceeded(f"deadline reached before step {name}")
            deadline = STEP_DEADLINE.set(time.monotonic() + remaining)
            try:
                async with asyncio.timeout(remaining):
                    result = await work()
            except TimeoutError:
                raise DeadlineExceeded(
                    f"step {name} did not finish within the request deadline "
                    f"({deadline_s:.1f} s in all)"
                ) from None
            finally:
                STEP_DEADLINE.reset(deadline)
            timing = StepTiming(
                name, (self._clock() - step_started) * 1000, self._thresholds.for_step(name)
            )
            timings.append(timing)
            self._on_step(timing)
            await listener.finished(timing)
            return result

        async def generate() -> str:
            raw = await self._provider.generate_sql(opportunity, options, accounting)
            return guard_sql(
                raw,
                allowed_tables={self._allowed_table},
                row_limit=options.sql_row_limit,
                database=self._database,
            )

        sql = await step("query_generation", generate)
        rows: list[Row] = await step(
            "data_retrieval", lambda: self._provider.retrieve(sql, options, accounting)
        )
        text = await step(
            "analysis", lambda: self._provider.analyze(opportunity, rows, options, accounting)
        )
        analysis = parse_analysis(text)
        if not analysis.top_services and "summary metrics section is missing" in (
            e.lower() for e in analysis.validation_errors
        ):
            # Without the metrics section nothing usable came back; failing (not caching
            # an all-empty prediction) is the honest answer. Partial answers are returned
            # with their gaps listed in validation_errors.
            raise ModelOutputInvalid(
                "the analysis answer has no SUMMARY METRICS section; problems: "
                + "; ".join(analysis.validation_errors[:8]),
                step="analysis",
            )
        compute_ms = (self._clock() - started) * 1000
        total = StepTiming("total", compute_ms, self._thresholds.total_ms)
        timings.append(total)
        self._on_step(total)
        await listener.finished(total)
        return WorkflowResult(analysis, tuple(timings), sql, len(rows), accounting, compute_ms)
