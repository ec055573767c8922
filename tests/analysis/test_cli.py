"""The analysis subcommands, parsed by argparse as the oppsuite command does."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from services.analysis import cli
from services.analysis.app import build
from tests.analysis.awsfixtures import aws_settings
from tests.analysis.fake_bedrock import FakeConverse
from tests.conftest import MotoServer
from tests.servicers import running


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(required=True))
    return parser.parse_args(argv)


def test_prompts_lists_versions_and_prints_one(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("analysis-prompts")
    assert args.func(args) == 0
    listed = capsys.readouterr().out
    assert "query_v1" in listed and "analysis_v1" in listed
    args = parse("analysis-prompts", "query_v1")
    assert args.func(args) == 0
    assert '{"sql_query": "<the SQL>"}' in capsys.readouterr().out
    args = parse("analysis-prompts", "nope_v1")
    assert args.func(args) == 1


async def test_describe_talks_to_a_running_service(
    aws_endpoints: MotoServer, converse: FakeConverse, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(lambda: build(aws_settings())) as host:
        args = parse("analysis-describe", "--analysis", f"127.0.0.1:{host.port}", "--json")
        # The command is synchronous gRPC: run it off the loop that serves the call.
        assert await asyncio.to_thread(args.func, args) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["provider"] == "aws"
    assert described["query_prompt_version"] == "query_v1"
