"""The whole suite as real processes with OPPSUITE_PROVIDER=aws: the gateway caches
successful aws analyses and never a failed one. Endpoints reach the analysis process
only through the SDK's standard environment variables."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.analysis.prompts import load_prompt
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.launcher import Suite
from tests.analysis.awsfixtures import ANALYSIS_MODEL, QUERY_MODEL
from tests.analysis.fake_bedrock import FakeConverse, Reply
from tests.conftest import MotoServer, RedisServer
from tests.integration.conftest import auth, suite_config

pytestmark = pytest.mark.integration


@pytest.fixture
def aws_gateway(
    tmp_path: Path, redis_server: RedisServer, aws_endpoints: MotoServer
) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    config = suite_config(
        tmp_path,
        redis_server,
        OPPSUITE_PROVIDER="aws",
        BEDROCK_QUERY_MODEL_ID=QUERY_MODEL,
        BEDROCK_ANALYSIS_MODEL_ID=ANALYSIS_MODEL,
        ATHENA_OUTPUT_LOCATION="s3://athena-results/oppsuite/",
        ATHENA_POLL_INITIAL_SECONDS="0.02",
        AWS_SDK_MAX_ATTEMPTS="1",
    )
    suite = Suite(config)
    try:
        suite.start_services()
        suite.wait_serving()
        with grpc.insecure_channel(suite.config.address("gateway")) as channel:
            yield gateway_pb2_grpc.GatewayStub(channel)
    finally:
        suite.stop()


def request(name: str) -> gateway_pb2.AnalyzeRequest:
    return gateway_pb2.AnalyzeRequest(
        opportunity=types_pb2.Opportunity(**{**SAMPLE_OPPORTUNITY, "opportunity_name": name})
    )


def test_aws_analyses_are_cached_and_failures_are_not(
    aws_gateway: gateway_pb2_grpc.GatewayStub, converse: FakeConverse
) -> None:
    good = request(f"aws suite {time.time_ns()}")
    first = aws_gateway.Analyze(good, metadata=auth(), timeout=60)
    second = aws_gateway.Analyze(good, metadata=auth(), timeout=60)
    assert first.analysis.predicted_arr_usd == 1_800_000
    assert first.meta.cache_source == types_pb2.CACHE_SOURCE_MISS
    assert second.meta.cache_source == types_pb2.CACHE_SOURCE_REDIS
    assert [r.model_id for r in converse.requests] == [QUERY_MODEL, ANALYSIS_MODEL]

    bad = request(f"aws suite failure {time.time_ns()}")
    converse.script.push("query", Reply(text="I cannot write SQL today."))
    with pytest.raises(grpc.RpcError) as caught:
        aws_gateway.Analyze(bad, metadata=auth(), timeout=60)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    retried = aws_gateway.Analyze(bad, metadata=auth(), timeout=60)
    assert retried.meta.cache_source == types_pb2.CACHE_SOURCE_MISS  # the failure was not kept
    assert len(converse.requests) == 5
    query_prompt = converse.requests[0].body["messages"][0]["content"][0]["text"]
    assert SAMPLE_OPPORTUNITY["customer_name"] in query_prompt
    assert converse.requests[1].body["system"] == [{"text": load_prompt("analysis_v1").system}]
