"""Guarded SQL on Athena: start (with result reuse), poll with backoff, page results.

The wait is bounded by ``max_wait_s`` and by the step's deadline. Whenever the wait
ends without success — the deadline passed, the request was cancelled, the maximum
wait was reached — the query is stopped (StopQueryExecution) rather than left
running and billing in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from services.analysis.awspool import AwsClientPool
from services.analysis.awsretry import RetryPolicy, retry_throttled
from services.analysis.errors import QueryCancelled, QueryFailed, QueryWaitExceeded
from services.analysis.provider import STEP_DEADLINE, Row
from services.analysis.retrieval import text_row_compactor

__all__ = ["AthenaQuery", "AthenaResult", "AthenaRunner"]

_log = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AthenaQuery:
    database: str
    workgroup: str
    output_location: str  # "" = the workgroup's
    result_reuse_minutes: int
    poll_initial_s: float
    poll_max_s: float
    max_wait_s: float
    page_size: int


@dataclass(frozen=True)
class AthenaResult:
    rows: list[Row]
    bytes_scanned: int
    reused: bool


class AthenaRunner:
    def __init__(
        self,
        pool: AwsClientPool,
        query: AthenaQuery,
        retry: RetryPolicy,
        rng: random.Random,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._query = query
        self._retry = retry
        self._rng = rng
        self._clock = clock
        self._sleep = sleep

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            return await self._pool.call(operation, **params)

        try:
            return await retry_throttled(once, self._retry, rng=self._rng, clock=self._clock)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise QueryFailed(
                f"Athena {operation} failed: {error.get('Code', 'error')}: "
                f"{error.get('Message', '')}"
            ) from exc

    async def run(self, sql: str) -> AthenaResult:
        execution_id = await self._start(sql)
        try:
            statistics = await self._wait(execution_id)
        except QueryFailed:
            raise  # FAILED or CANCELLED already: nothing left to stop
        except BaseException:
            # Cancelled, deadline, max wait, throttled or unreachable while waiting.
            await self._stop(execution_id)
            raise
        rows = await self._results(execution_id)
        return AthenaResult(
            rows,
            int(statistics.get("DataScannedInBytes", 0) or 0),
            bool((statistics.get("ResultReuseInformation") or {}).get("ReusedPreviousResult")),
        )

    async def _start(self, sql: str) -> str:
        q = self._query
        params: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": q.database},
            "WorkGroup": q.workgroup,
        }
        if q.output_location:
            params["ResultConfiguration"] = {"OutputLocation": q.output_location}
        if q.result_reuse_minutes > 0:
            params["ResultReuseConfiguration"] = {
                "ResultReuseByAgeConfiguration": {
                    "Enabled": True,
                    "MaxAgeInMinutes": q.result_reuse_minutes,
                }
            }
        response = await self._call("start_query_execution", **params)
        return str(response["QueryExecutionId"])

    async def _wait(self, execution_id: str) -> dict[str, Any]:
        give_up = self._clock() + self._query.max_wait_s
        deadline = STEP_DEADLINE.get()
        delay = self._query.poll_initial_s
        while True:
            response = await self._call("get_query_execution", QueryExecutionId=execution_id)
            execution = response["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State", "")
            if state == "SUCCEEDED":
                return dict(execution.get("Statistics") or {})
            if state == "FAILED":
                reason = status.get("StateChangeReason") or status.get("AthenaError", {})
                raise QueryFailed(f"Athena query {execution_id} failed: {reason}")
            if state == "CANCELLED":
                raise QueryCancelled(f"Athena query {execution_id} was cancelled")
            now = self._clock()
            if now >= give_up:
                raise QueryWaitExceeded(
                    f"Athena query {execution_id} still {state} after "
                    f"{self._query.max_wait_s:.1f} s; it has been stopped"
                )
            # Sleep no later than the max wait; the step deadline cancels us anyway.
            pause = min(delay * self._rng.uniform(0.8, 1.2), give_up - now)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - now))
            await self._sleep(pause)
            delay = min(delay * 2, self._query.poll_max_s)

    async def _stop(self, execution_id: str) -> None:
        # Shielded and time-bounded: it runs while the request is being torn down.
        async def stop() -> None:
            await self._pool.call("stop_query_execution", QueryExecutionId=execution_id)

        task = asyncio.ensure_future(stop())
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), _STOP_TIMEOUT_S)
        if not task.done() or task.cancelled() or task.exception() is not None:
            _log.warning("could not confirm StopQueryExecution for %s", execution_id)

    async def _results(self, execution_id: str) -> list[Row]:
        rows: list[Row] = []
        columns: list[str] = []
        compact = text_row_compactor(columns)
        token: str | None = None
        first_page = True
        while True:
            params: dict[str, Any] = {
                "QueryExecutionId": execution_id,
                "MaxResults": self._query.page_size,
            }
            if token:
                params["NextToken"] = token
            page = await self._call("get_query_results", **params)
            result_set = page.get("ResultSet", {})
            if not columns:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [str(c.get("Name", "")) for c in info]
                compact = text_row_compactor(columns)
            raw_rows = result_set.get("Rows", [])
            for index, raw in enumerate(raw_rows):
                values = [cell.get("VarCharValue") for cell in raw.get("Data", [])]
                # Athena repeats the column names as the first row of the first page.
                if first_page and index == 0 and values == columns:
                    continue
                rows.append(compact(values))
            first_page = False
            token = page.get("NextToken")
            if not token:
                return rows
