"""The analysis service with OPPSUITE_PROVIDER=aws over real gRPC: statuses, events,
accounting fields and the fingerprint, against moto and the local Converse endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.analysis.app import build
from services.common.gen import analysis_pb2, analysis_pb2_grpc, types_pb2
from tests.analysis.awsfixtures import (
    athena_rows,
    aws_settings,
    hold_athena_queries,
    release_athena_queries,
    seed_athena,
)
from tests.analysis.fake_bedrock import FakeConverse, Reply, throttle
from tests.conftest import MotoServer
from tests.servicers import running

OPPORTUNITY = types_pb2.Opportunity(
    customer_name="Acme Retail",
    region="United States",
    close_date="2026-03-31",
    opportunity_name="Data platform migration",
    description="Move the on-premises data warehouse and ETL to AWS",
)


def request(**options: Any) -> analysis_pb2.RunAnalysisRequest:
    return analysis_pb2.RunAnalysisRequest(
        opportunity=OPPORTUNITY,
        options=types_pb2.AnalysisOptions(**options),
        client_id="crm",
    )


@pytest.fixture
async def stub(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> AsyncIterator[analysis_pb2_grpc.AnalysisServiceStub]:
    async with running(lambda: build(aws_settings())) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield analysis_pb2_grpc.AnalysisServiceStub(channel)


async def test_describe_names_the_aws_models_and_prompt_versions(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
) -> None:
    described = await stub.Describe(analysis_pb2.DescribeRequest(), timeout=5)
    assert described.provider == "aws"
    assert described.query_model_id == "test.query-model-v1"
    assert described.analysis_model_id == "test.analysis-model-v1"
    assert (described.query_prompt_version, described.analysis_prompt_version) == (
        "query_v1",
        "analysis_v1",
    )
    assert described.dataset_version == "athena:catapult_db_p.parquet"


async def test_analyze_returns_timings_calls_tokens_and_cost(
    stub: analysis_pb2_grpc.AnalysisServiceStub, aws_endpoints: MotoServer
) -> None:
    seed_athena(aws_endpoints.endpoint, athena_rows([["Globex", "Retail", "1700000000", "9", "1"]]))
    reply = await stub.Analyze(request(), timeout=30)

    assert reply.analysis.predicted_arr_usd == 1_800_000
    assert [s.step for s in reply.steps] == [
        "query_generation",
        "data_retrieval",
        "analysis",
        "total",
    ]
    assert all(not s.violated for s in reply.steps)
    assert reply.row_count == reply.rows_analyzed == 1
    assert reply.aws_calls_by_operation["bedrock-runtime.Converse"] == 2
    assert reply.aws_calls_by_operation["athena.StartQueryExecution"] == 1
    assert reply.aws_call_count == sum(reply.aws_calls_by_operation.values())
    assert (reply.bedrock_input_tokens, reply.bedrock_output_tokens) == (5900, 1620)
    assert reply.cost_usd > 0
    assert 0 < reply.aws_ms < reply.compute_ms


async def test_analyze_stream_emits_step_events_then_the_result(
    stub: analysis_pb2_grpc.AnalysisServiceStub,
) -> None:
    events = [e async for e in stub.AnalyzeStream(request(), timeout=30)]
    steps = [(e.step.step, e.step.phase) for e in events if e.HasField("step")]
    started, finished = types_pb2.STEP_PHASE_STARTED, types_pb2.STEP_PHASE_FINISHED
    assert steps == [
        ("query_generation", started),
        ("query_generation", finished),
        ("data_retrieval", started),
        ("data_retrieval", finished),
        ("analysis", started),
        ("analysis", finished),
        ("total", finished),
    ]
    assert events[-1].HasField("result")
    assert events[-1].result.aws_call_count >= 4


async def test_bad_input_is_invalid_argument_before_any_aws_call(
    stub: analysis_pb2_grpc.AnalysisServiceStub, converse: FakeConverse
) -> None:
    bad = analysis_pb2.RunAnalysisRequest(opportunity=types_pb2.Opportunity(customer_name="x"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Analyze(bad, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert converse.requests == []


async def test_malformed_sql_answer_is_aborted(
    stub: analysis_pb2_grpc.AnalysisServiceStub, converse: FakeConverse
) -> None:
    converse.script.push("query", Reply(text="Sure! Here is the SQL: SELECT 1"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Analyze(request(), timeout=30)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert "sql_query" in (caught.value.details() or "")


async def test_rejected_sql_is_aborted_with_the_reason(
    stub: analysis_pb2_grpc.AnalysisServiceStub, converse: FakeConverse
) -> None:
    converse.script.push("query", Reply(text=json.dumps({"sql_query": "DELETE FROM parquet"})))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Analyze(request(), timeout=30)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert "SQL rejected" in (caught.value.details() or "")


async def test_persistent_throttling_is_resource_exhausted_with_retry_info(
    stub: analysis_pb2_grpc.AnalysisServiceStub, converse: FakeConverse
) -> None:
    converse.script.push("query", *[throttle() for _ in range(200)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Analyze(request(), timeout=1.5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    quota = error_details_pb2.QuotaFailure()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.ToTimedelta().total_seconds() > 0
    assert status.details[1].Unpack(quota)
    assert quota.violations[0].subject == "bedrock-runtime"


async def test_untruncated_oversized_data_is_failed_precondition(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    seed_athena(
        aws_endpoints.endpoint,
        athena_rows([[f"Customer {i}", "Retail", "1700000000", "1", "1"] for i in range(120)]),
    )
    settings = aws_settings(BEDROCK_CONTEXT_TOKENS="2500", BEDROCK_MAX_OUTPUT_TOKENS="200")
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Analyze(request(disable_truncation=True), timeout=30)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "exceeds the model context" in (caught.value.details() or "")


async def test_grpc_deadline_bounds_the_workflow_and_stops_athena(
    stub: analysis_pb2_grpc.AnalysisServiceStub, aws_endpoints: MotoServer
) -> None:
    hold_athena_queries(aws_endpoints.endpoint)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Analyze(request(), timeout=1.5)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        athena = boto3.client("athena")
        deadline_states: list[str] = []
        for _ in range(200):  # the stop lands just after the deadline; poll for it
            [execution_id] = athena.list_query_executions()["QueryExecutionIds"]
            execution = athena.get_query_execution(QueryExecutionId=execution_id)
            deadline_states.append(execution["QueryExecution"]["Status"]["State"])
            if deadline_states[-1] == "CANCELLED":
                break
            await asyncio.sleep(0.05)
        assert deadline_states[-1] == "CANCELLED"
    finally:
        release_athena_queries(aws_endpoints.endpoint)


async def test_client_cancel_mid_poll_stops_athena(
    stub: analysis_pb2_grpc.AnalysisServiceStub, aws_endpoints: MotoServer
) -> None:
    hold_athena_queries(aws_endpoints.endpoint)
    athena = boto3.client("athena")

    def states() -> list[str]:
        return [
            athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Status"]["State"]
            for i in athena.list_query_executions()["QueryExecutionIds"]
        ]

    try:
        call = stub.Analyze(request(), timeout=60)
        for _ in range(400):
            if states():
                break
            await asyncio.sleep(0.05)
        assert states() == ["QUEUED"]
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(200):
            if states() == ["CANCELLED"]:
                break
            await asyncio.sleep(0.05)
        assert states() == ["CANCELLED"]
    finally:
        release_athena_queries(aws_endpoints.endpoint)
