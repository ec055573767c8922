"""Fixtures of the aws-provider tests: the fake Converse endpoint and moto, wired through
the SDK's standard endpoint variables (never through code)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import boto3
import pytest

from tests.analysis.awsfixtures import default_reply, kind_of, moto_post
from tests.analysis.fake_bedrock import FakeConverse, Script
from tests.conftest import MotoServer

LAMBDA_NAME = "oppsuite-athena-query"


@pytest.fixture
def converse() -> Iterator[FakeConverse]:
    fake = FakeConverse(Script(default=default_reply), kind_of)
    with fake.serving():
        yield fake


@pytest.fixture
def aws_endpoints(
    aws_env: MotoServer, converse: FakeConverse, monkeypatch: pytest.MonkeyPatch
) -> MotoServer:
    """A clean moto account, and every AWS service the provider uses pointed at loopback."""
    aws_env.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", converse.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT", converse.endpoint)  # GetPrompt
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", aws_env.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", aws_env.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", aws_env.endpoint)
    return aws_env


@pytest.fixture
def query_lambda(aws_endpoints: MotoServer) -> str:
    """A Lambda function on moto's docker-free backend, whose answers tests queue."""
    moto_post(aws_endpoints.endpoint, "/moto-api/config", {"lambda": {"use_docker": False}})
    role = boto3.client("iam").create_role(RoleName="athena-query", AssumeRolePolicyDocument="{}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda").create_function(
        FunctionName=LAMBDA_NAME,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return LAMBDA_NAME
