"""The aws provider end to end: real boto3 clients against moto (Athena, Lambda) and a
local Converse endpoint, driven through the provider-agnostic Workflow."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from services.analysis.aws_provider import AwsProvider
from services.analysis.config import Settings
from services.analysis.errors import (
    DataTooLarge,
    LambdaFailed,
    ModelOutputInvalid,
    QueryCancelled,
    QueryWaitExceeded,
    SqlRejected,
    UpstreamThrottled,
)
from services.analysis.metrics import AnalysisMetrics
from services.analysis.provider import CallAccounting
from services.analysis.workflow import Thresholds, Workflow
from services.common.domain import Options
from services.common.errors import DeadlineExceeded
from services.common.telemetry import Telemetry
from tests.analysis import awsfixtures
from tests.analysis.awsfixtures import (
    ANALYSIS_MODEL,
    QUERY_MODEL,
    athena_rows,
    aws_settings,
    hold_athena_queries,
    release_athena_queries,
    seed_athena,
    seed_lambda,
)
from tests.analysis.fake_bedrock import FakeConverse, Reply, throttle
from tests.conftest import MotoServer

OPPORTUNITY = replace(awsfixtures.OPPORTUNITY, industry="Retail")
FIXTURES = Path(__file__).parent / "parser_fixtures"
EPOCH_2023_11_14 = "1700000000"


class Built:
    def __init__(self, provider: AwsProvider, workflow: Workflow, metrics: AnalysisMetrics):
        self.provider = provider
        self.workflow = workflow
        self.metrics = metrics
        self.registry_value = metrics  # kept for readability in tests below

    async def run(
        self, options: Options | None = None, deadline_s: float = 30.0
    ) -> tuple[Any, CallAccounting]:
        accounting = CallAccounting()
        result = await self.workflow.run(
            OPPORTUNITY, options or Options(), deadline_s=deadline_s, accounting=accounting
        )
        return result, accounting


@asynccontextmanager
async def built(
    settings: Settings,
    make_client: Callable[[str, Config], Any] | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[Built]:
    metrics = AnalysisMetrics(registry or CollectorRegistry(), Telemetry())
    provider = AwsProvider.create(
        settings.aws,
        table=settings.athena_table,
        database=settings.athena_database,
        observer=metrics,
        rng=random.Random(7),
        make_client=make_client,
    )
    workflow = Workflow(
        provider,
        Thresholds(),
        allowed_table=settings.athena_table,
        database=settings.athena_database,
        on_step=metrics.record_step,
    )
    try:
        yield Built(provider, workflow, metrics)
    finally:
        await provider.aclose()


class Recording:
    """Wraps a real boto3 client: records (operation, params); may reshape answers."""

    def __init__(self, client: Any, log: list[tuple[str, dict[str, Any]]]) -> None:
        self._client = client
        self._log = log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in ("meta", "close") or not callable(attribute):
            return attribute

        def call(**params: Any) -> Any:
            self._log.append((name, params))
            return attribute(**params)

        return call


def recording(log: list[tuple[str, dict[str, Any]]]) -> Callable[[str, Config], Any]:
    def make(service: str, config: Config) -> Any:
        return Recording(boto3.session.Session().client(service, config=config), log)

    return make


def prompt_rows(converse: FakeConverse) -> list[dict[str, Any]]:
    [analysis_request] = [r for r in converse.requests if r.model_id == ANALYSIS_MODEL]
    return [
        json.loads(line)
        for line in analysis_request.user_text.splitlines()
        if line.startswith("{") and line.endswith("}")
    ]


async def test_athena_route_happy_path(aws_endpoints: MotoServer, converse: FakeConverse) -> None:
    seed_athena(
        aws_endpoints.endpoint,
        athena_rows(
            [
                ["Globex", "Retail", EPOCH_2023_11_14, "1200000.0", "9"],
                ["Initech", "Retail", "1690000000", "640000", "7"],
                ["Umbrella", None, None, "80000", "3"],
            ]
        ),
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    registry = CollectorRegistry()
    async with built(aws_settings(), recording(calls), registry) as b:
        result, accounting = await b.run()

    assert result.analysis.predicted_arr_usd == 1_800_000
    assert result.row_count == 3
    assert result.sql.endswith("LIMIT 200")
    assert prompt_rows(converse) == [
        {
            "customer_name": "Globex",
            "industry": "Retail",
            "close_date": "2023-11-14",
            "annual_run_rate_usd": 1200000,
            "relevance_score": 9,
        },
        {
            "customer_name": "Initech",
            "industry": "Retail",
            "close_date": "2023-07-22",
            "annual_run_rate_usd": 640000,
            "relevance_score": 7,
        },
        {"customer_name": "Umbrella", "annual_run_rate_usd": 80000, "relevance_score": 3},
    ]
    [(_, start)] = [c for c in calls if c[0] == "start_query_execution"]
    assert start["QueryExecutionContext"] == {"Database": "catapult_db_p"}
    assert start["WorkGroup"] == "primary"
    assert start["ResultConfiguration"] == {"OutputLocation": "s3://athena-results/oppsuite/"}
    assert start["ResultReuseConfiguration"]["ResultReuseByAgeConfiguration"]["Enabled"] is True
    # Call accounting from the botocore hooks, tokens from Converse usage.
    polls = accounting.calls_by_operation["athena.GetQueryExecution"]
    assert polls >= 1
    assert accounting.calls_by_operation == {
        "bedrock-runtime.Converse": 2,
        "athena.StartQueryExecution": 1,
        "athena.GetQueryExecution": polls,
        "athena.GetQueryResults": 1,
    }
    assert (accounting.input_tokens, accounting.output_tokens) == (5900, 1620)
    expected_cost = 5.9 * 0.003 + 1.62 * 0.015 + 10_485_760 / 1e12 * 5.0
    assert accounting.cost_usd == pytest.approx(expected_cost)
    assert 0 < accounting.aws_ms <= result.compute_ms
    # The SDK's own time is part of the call's wall time; the rest is the thread hand-off.
    assert 0 < accounting.aws_sdk_ms <= accounting.aws_ms
    value = registry.get_sample_value
    labels = {"service": "athena", "operation": "StartQueryExecution"}
    assert value("oppsuite_analysis_aws_calls_total", labels) == 1
    assert [r.model_id for r in converse.requests] == [QUERY_MODEL, ANALYSIS_MODEL]


async def test_lambda_route_happy_path(
    aws_endpoints: MotoServer, converse: FakeConverse, query_lambda: str
) -> None:
    seed_lambda(
        aws_endpoints.endpoint,
        {"rows": [{"customer_name": "Globex", "close_date": 1700000000, "industry": ""}]},
    )
    async with built(aws_settings(ATHENA_VIA_LAMBDA=query_lambda)) as b:
        result, accounting = await b.run()

    assert result.row_count == 1
    assert prompt_rows(converse) == [{"customer_name": "Globex", "close_date": "2023-11-14"}]
    assert accounting.calls_by_operation == {
        "bedrock-runtime.Converse": 2,
        "lambda.Invoke": 1,
    }
    assert accounting.lambda_billed_ms >= 1
    assert b.provider.fingerprint.dataset_version == f"lambda:{query_lambda}:catapult_db_p.parquet"


async def test_lambda_error_payload_is_a_clear_failure(
    aws_endpoints: MotoServer, converse: FakeConverse, query_lambda: str
) -> None:
    seed_lambda(
        aws_endpoints.endpoint,
        {"errorMessage": "Table parquet not found", "errorType": "EntityNotFoundException"},
    )
    async with built(aws_settings(ATHENA_VIA_LAMBDA=query_lambda)) as b:
        with pytest.raises(LambdaFailed, match="EntityNotFoundException: Table parquet not found"):
            await b.run()
    assert [r.model_id for r in converse.requests] == [QUERY_MODEL]  # analysis never asked


class Paging(Recording):
    """moto answers GetQueryResults in one page; this slices its real answer into pages
    with NextToken, the way Athena pages (header row only on the first page)."""

    def __getattr__(self, name: str) -> Any:
        if name != "get_query_results":
            return super().__getattr__(name)
        real = self._client.get_query_results

        def page(QueryExecutionId: str, MaxResults: int, NextToken: str = "0") -> Any:
            self._log.append((name, {"NextToken": NextToken}))
            answer = real(QueryExecutionId=QueryExecutionId)
            rows = answer["ResultSet"]["Rows"]
            start = int(NextToken)
            answer["ResultSet"]["Rows"] = rows[start : start + MaxResults]
            if start + MaxResults < len(rows):
                answer["NextToken"] = str(start + MaxResults)
            return answer

        return page


async def test_athena_results_are_paginated(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    names = [f"Customer {i}" for i in range(5)]
    seed_athena(
        aws_endpoints.endpoint,
        athena_rows(
            [[n, "Retail", EPOCH_2023_11_14, "1000", str(9 - i)] for i, n in enumerate(names)]
        ),
    )
    log: list[tuple[str, dict[str, Any]]] = []

    def make(service: str, config: Config) -> Any:
        return Paging(boto3.session.Session().client(service, config=config), log)

    async with built(aws_settings(ATHENA_PAGE_SIZE="2"), make) as b:
        result, accounting = await b.run()

    assert [row["customer_name"] for row in prompt_rows(converse)] == names
    assert result.row_count == 5
    # header + 5 rows = 6 rows in pages of 2
    assert [p["NextToken"] for n, p in log if n == "get_query_results"] == ["0", "2", "4"]
    assert accounting.calls_by_operation["athena.GetQueryResults"] == 3


async def test_throttling_then_success(aws_endpoints: MotoServer, converse: FakeConverse) -> None:
    converse.script.push("query", throttle(), throttle())
    converse.script.push("analysis", throttle())
    async with built(aws_settings()) as b:
        result, accounting = await b.run()

    assert result.analysis.predicted_arr_usd == 1_800_000
    assert accounting.calls_by_operation["bedrock-runtime.Converse"] == 5
    # Throttled attempts are not billed: tokens only from the two answers.
    assert (accounting.input_tokens, accounting.output_tokens) == (5900, 1620)


async def test_throttling_past_the_deadline_is_resource_exhausted(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.script.push("query", *[throttle() for _ in range(200)])
    settings = aws_settings(THROTTLE_BACKOFF_BASE_SECONDS="0.1", THROTTLE_BACKOFF_MAX_SECONDS="0.4")
    async with built(settings) as b:
        started = time.monotonic()
        with pytest.raises(UpstreamThrottled) as caught:
            await b.run(deadline_s=1.5)
        elapsed = time.monotonic() - started

    assert elapsed < 1.5  # gave up inside the deadline, not at it
    assert caught.value.limit == "upstream"
    assert caught.value.subject == "bedrock-runtime"
    assert 0 < caught.value.retry_after_s <= 0.4
    assert "ThrottlingException" in str(caught.value)


def _executions(endpoint: str) -> list[dict[str, Any]]:
    athena = boto3.client("athena", endpoint_url=endpoint)
    return [
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
        for i in athena.list_query_executions()["QueryExecutionIds"]
    ]


async def _until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def held_athena(aws_endpoints: MotoServer) -> Any:
    hold_athena_queries(aws_endpoints.endpoint)
    yield aws_endpoints
    release_athena_queries(aws_endpoints.endpoint)


async def test_cancellation_mid_poll_stops_the_query(
    held_athena: MotoServer, converse: FakeConverse
) -> None:
    async with built(aws_settings()) as b:
        accounting = CallAccounting()
        task = asyncio.create_task(
            b.workflow.run(OPPORTUNITY, Options(), deadline_s=30, accounting=accounting)
        )
        await _until(lambda: accounting.calls_by_operation.get("athena.GetQueryExecution", 0) >= 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    [execution] = _executions(held_athena.endpoint)
    assert execution["Status"]["State"] == "CANCELLED"
    assert accounting.calls_by_operation["athena.StopQueryExecution"] == 1
    assert "athena.GetQueryResults" not in accounting.calls_by_operation


async def test_deadline_mid_poll_stops_the_query(
    held_athena: MotoServer, converse: FakeConverse
) -> None:
    async with built(aws_settings()) as b:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="data_retrieval"):
            await b.run(deadline_s=1.0)
        assert time.monotonic() - started < 8  # stopped promptly, not polling on

    [execution] = _executions(held_athena.endpoint)
    assert execution["Status"]["State"] == "CANCELLED"


async def test_maximum_wait_stops_the_query(
    held_athena: MotoServer, converse: FakeConverse
) -> None:
    async with built(aws_settings(ATHENA_MAX_WAIT_SECONDS="0.3")) as b:
        with pytest.raises(QueryWaitExceeded, match="still QUEUED"):
            await b.run()
    [execution] = _executions(held_athena.endpoint)
    assert execution["Status"]["State"] == "CANCELLED"


async def test_query_cancelled_elsewhere_is_its_own_error(
    held_athena: MotoServer, converse: FakeConverse
) -> None:
    async with built(aws_settings()) as b:
        task = asyncio.create_task(b.run())
        await _until(lambda: len(_executions(held_athena.endpoint)) == 1)
        [execution] = _executions(held_athena.endpoint)
        boto3.client("athena").stop_query_execution(QueryExecutionId=execution["QueryExecutionId"])
        with pytest.raises(QueryCancelled, match="was cancelled"):
            await task


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("SELECT * FROM parquet LIMIT 10", id="bare-sql"),
        pytest.param('```json\n{"sql_query": "SELECT 1"}\n```', id="markdown-fence"),
        pytest.param('{"sql": "SELECT * FROM parquet"}', id="wrong-key"),
        pytest.param('{"sql_query": "SELECT 1", "note": "x"}', id="extra-key"),
        pytest.param('{"sql_query": "  "}', id="empty-sql"),
        pytest.param('["SELECT 1"]', id="not-an-object"),
    ],
)
async def test_malformed_query_answer_is_rejected_before_athena(
    aws_endpoints: MotoServer, converse: FakeConverse, answer: str
) -> None:
    converse.script.push("query", Reply(text=answer))
    async with built(aws_settings()) as b:
        accounting = CallAccounting()
        with pytest.raises(ModelOutputInvalid, match="sql_query") as caught:
            await b.workflow.run(OPPORTUNITY, Options(), deadline_s=30, accounting=accounting)
    assert caught.value.step == "query_generation"
    assert accounting.calls_by_operation == {"bedrock-runtime.Converse": 1}


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE parquet", "only SELECT queries"),
        ("SELECT * FROM secrets.users LIMIT 5", "secrets"),
        ("SELECT * FROM parquet; DELETE FROM parquet", "statement"),
    ],
)
async def test_sql_the_guard_rejects_never_reaches_athena(
    aws_endpoints: MotoServer, converse: FakeConverse, sql: str, reason: str
) -> None:
    converse.script.push("query", Reply(text=json.dumps({"sql_query": sql})))
    async with built(aws_settings()) as b:
        accounting = CallAccounting()
        with pytest.raises(SqlRejected, match=reason):
            await b.workflow.run(OPPORTUNITY, Options(), deadline_s=30, accounting=accounting)
    assert not any(op.startswith("athena.") for op in accounting.calls_by_operation)


async def test_answer_without_summary_metrics_fails(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    text = (FIXTURES / "missing_sections.txt").read_text(encoding="utf-8")
    converse.script.push("analysis", Reply(text=text))
    async with built(aws_settings()) as b:
        with pytest.raises(ModelOutputInvalid, match="no SUMMARY METRICS") as caught:
            await b.run()
    assert caught.value.step == "analysis"


async def test_answer_with_missing_fields_reports_them_and_invents_nothing(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    text = (FIXTURES / "missing_fields.txt").read_text(encoding="utf-8")
    converse.script.push("analysis", Reply(text=text))
    async with built(aws_settings()) as b:
        result, _ = await b.run()
    assert result.analysis.validation_errors
    assert result.analysis.full_text == text


def _many_rows(count: int) -> dict[str, Any]:
    return athena_rows(
        [
            [f"Customer number {i:03d}", "Financial Services", EPOCH_2023_11_14, "250000", "5"]
            for i in range(count)
        ]
    )


async def test_truncation_keeps_whole_rows_within_the_budget(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    seed_athena(aws_endpoints.endpoint, _many_rows(50))
    async with built(aws_settings()) as b:
        result, accounting = await b.run(Options(truncation_chars=1000))

    rows = prompt_rows(converse)  # every line parses: no half rows
    assert 0 < len(rows) < 50
    assert accounting.rows_analyzed == len(rows)
    assert sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in rows) <= 1000
    assert rows[0]["customer_name"] == "Customer number 000"  # the most relevant kept first
    assert f"first {len(rows)} of 50 kept" in converse.requests[-1].user_text
    assert result.row_count == 50


async def test_untruncated_data_beyond_the_context_is_a_precondition_failure(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    seed_athena(aws_endpoints.endpoint, _many_rows(80))
    settings = aws_settings(BEDROCK_CONTEXT_TOKENS="3000", BEDROCK_MAX_OUTPUT_TOKENS="500")
    async with built(settings) as b:
        with pytest.raises(DataTooLarge, match="exceeds the model context"):
            await b.run(Options(truncate=False))
    assert [r.model_id for r in converse.requests] == [QUERY_MODEL]  # no doomed call


async def test_pool_bounds_hold_under_100_concurrent_analyses(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.script.latency_s = 0.02
    settings = aws_settings(
        BEDROCK_POOL_SIZE="4",
        BEDROCK_POOL_MIN="1",
        BEDROCK_POOL_MAX="6",
        ATHENA_POOL_SIZE="3",
        ATHENA_POOL_MIN="1",
        ATHENA_POOL_MAX="3",
    )
    async with built(settings) as b:
        results = await asyncio.gather(*(b.run(deadline_s=120) for _ in range(100)))
        athena_pool = next(p for p in b.provider.pools if p.service == "athena")
        bedrock_pool = next(p for p in b.provider.pools if p.service == "bedrock-runtime")

    assert len(results) == 100
    assert len(converse.requests) == 200
    # Counted at the endpoint itself: never more Converse calls at once than the pool.
    assert 2 <= converse.peak_in_flight <= 6
    assert converse.peak_in_flight <= bedrock_pool.limiter.peak_in_use
    assert athena_pool.limiter.peak_in_use <= 3
    assert bedrock_pool.limiter.in_use == athena_pool.limiter.in_use == 0


async def test_pooling_off_makes_a_client_per_call(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    made: list[str] = []

    def make(service: str, config: Config) -> Any:
        made.append(service)
        return boto3.session.Session().client(service, config=config)

    async with built(aws_settings(RESOURCE_POOLING_ENABLED="false"), make) as b:
        _, accounting = await b.run()
    assert made.count("bedrock-runtime") == 2
    assert made.count("athena") == accounting.total_calls - 2


class ThrottlesFirstStart(Recording):
    """Answers the first StartQueryExecution the way Athena throttles (botocore's
    ClientError for a 400 TooManyRequestsException), then passes calls through."""

    def __getattr__(self, name: str) -> Any:
        real = super().__getattr__(name)
        if name != "start_query_execution":
            return real

        def start(**params: Any) -> Any:
            if not any(n == name for n, _ in self._log):
                self._log.append((name, params))
                error = {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}
                raise ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 400}}, name)
            return real(**params)

        return start


async def test_athena_throttling_is_retried(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    log: list[tuple[str, dict[str, Any]]] = []

    def make(service: str, config: Config) -> Any:
        return ThrottlesFirstStart(boto3.session.Session().client(service, config=config), log)

    async with built(aws_settings(), make) as b:
        result, _ = await b.run()
    assert result.analysis.predicted_arr_usd == 1_800_000
    assert [n for n, _ in log].count("start_query_execution") == 2
