"""Bedrock Prompt Management: the managed prompt replaces the repository template, its
id and version enter the cache key, failures fall back, refreshes pick up new versions.

The real boto3 bedrock-agent client fetches from the fake endpoint (GetPrompt's REST-JSON
wire protocol, tests/analysis/fake_bedrock.py); moto does not implement GetPrompt.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from services.analysis.app import build
from services.analysis.aws_provider import AwsProvider
from services.analysis.metrics import AnalysisMetrics
from services.analysis.prompts import load_prompt
from services.analysis.prompts.managed import ManagedPromptInvalid, managed_template
from services.analysis.provider import CallAccounting
from services.analysis.workflow import Thresholds, Workflow
from services.common.cachekey import cache_key
from services.common.domain import Options
from services.common.gen import analysis_pb2, analysis_pb2_grpc
from services.common.settings import SettingsError
from services.common.telemetry import Telemetry
from tests.analysis.awsfixtures import OPPORTUNITY, athena_rows, aws_settings, seed_athena
from tests.analysis.fake_bedrock import FakeConverse, Reply, StoredPrompt
from tests.conftest import MotoServer
from tests.servicers import running

QUERY_PROMPT = StoredPrompt(
    system="Answer with JSON only. Costs are in $ (USD).",
    user="SQL over {{database}}.{{table}} for {{ customer_name }}, LIMIT {{row_limit}}",
)
ANALYSIS_PROMPT = StoredPrompt(user="Managed analysis of {{customer_name}}:\n{{rows}}")
SUPPLIED = ("customer_name", "database", "table", "row_limit", "rows")


def get_prompt_answer(variant: dict[str, Any], version: str = "4") -> dict[str, Any]:
    return {"id": "P1", "version": version, "defaultVariant": "v", "variants": [variant]}


def chat(system: str, *messages: tuple[str, str]) -> dict[str, Any]:
    configuration = {
        "chat": {
            "system": [{"text": system}],
            "messages": [{"role": r, "content": [{"text": t}]} for r, t in messages],
        }
    }
    return {"name": "v", "templateType": "CHAT", "templateConfiguration": configuration}


# ---- the GetPrompt answer as a template (pure) -------------------------------------


def test_a_chat_prompt_becomes_a_template_with_its_id_and_version() -> None:
    answer = get_prompt_answer(
        chat("Be exact.", ("user", "Rows for {{customer_name}}: {{rows}} $5"))
    )
    template = managed_template(answer, supplied=SUPPLIED, required=("rows",))
    assert template.version == "bedrock:P1:4"
    assert template.system == "Be exact."
    # {{variables}} are rendered; a literal $ stays literal.
    assert template.render(customer_name="Acme", rows="[]") == "Rows for Acme: [] $5"


def test_the_draft_version_carries_a_digest_of_its_text() -> None:
    def draft(text: str) -> str:
        answer = get_prompt_answer(chat("S", ("user", text)), version="DRAFT")
        return managed_template(answer, supplied=SUPPLIED, required=()).version

    assert draft("one {{rows}}").startswith("bedrock:P1:DRAFT-")
    assert draft("one {{rows}}") == draft("one {{rows}}")
    assert draft("one {{rows}}") != draft("two {{rows}}")  # an edited draft is a new key


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (get_prompt_answer(chat("S", ("user", "{{secret}} {{rows}}"))), "unknown variables"),
        (get_prompt_answer(chat("S", ("user", "no data"))), r"must use the variables \['rows'\]"),
        (
            get_prompt_answer(chat("S", ("user", "{{rows}}"), ("assistant", "ok"))),
            "exactly one user message",
        ),
        ({"id": "P1", "version": "1", "variants": []}, "no default variant and 0"),
        (
            {"id": "P1", "version": "1", "defaultVariant": "x", "variants": [chat("S")]},
            "default variant 'x'",
        ),
    ],
)
def test_a_prompt_the_step_cannot_use_is_refused(answer: dict[str, Any], message: str) -> None:
    with pytest.raises(ManagedPromptInvalid, match=message):
        managed_template(answer, supplied=SUPPLIED, required=("rows",))


def test_prompt_management_settings_are_checked() -> None:
    aws = aws_settings(BEDROCK_QUERY_PROMPT_ID="P1", BEDROCK_QUERY_PROMPT_VERSION="DRAFT").aws
    assert (aws.query_prompt_id, aws.query_prompt_version, aws.uses_prompt_management) == (
        "P1",
        "",
        True,
    )
    assert not aws_settings().aws.uses_prompt_management
    with pytest.raises(SettingsError, match="BEDROCK_ANALYSIS_PROMPT_VERSION must be"):
        aws_settings(BEDROCK_ANALYSIS_PROMPT_ID="P1", BEDROCK_ANALYSIS_PROMPT_VERSION="latest")
    with pytest.raises(SettingsError, match="BEDROCK_QUERY_PROMPT_ID is not"):
        aws_settings(BEDROCK_QUERY_PROMPT_VERSION="2")


# ---- the provider against the GetPrompt endpoint ------------------------------------


class Running:
    def __init__(self, provider: AwsProvider, registry: CollectorRegistry) -> None:
        self.provider = provider
        self.registry = registry
        self.workflow = Workflow(
            provider, Thresholds(), allowed_table="parquet", database="catapult_db_p"
        )

    async def analyze(self, endpoint: str) -> None:
        seed_athena(endpoint, athena_rows([["Globex", "Retail", "1700000000", "9", "1"]]))
        await self.workflow.run(OPPORTUNITY, Options(), deadline_s=30, accounting=CallAccounting())

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


@asynccontextmanager
async def started(**env: str) -> AsyncIterator[Running]:
    settings = aws_settings(**env)
    registry = CollectorRegistry()
    provider = AwsProvider.create(
        settings.aws,
        table=settings.athena_table,
        database=settings.athena_database,
        observer=AnalysisMetrics(registry, Telemetry()),
        rng=random.Random(3),
    )
    try:
        await provider.start()
        yield Running(provider, registry)
    finally:
        await provider.aclose()


async def test_the_fetched_prompts_are_used_and_their_versions_enter_the_cache_key(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.put_prompt("QP7", "3", QUERY_PROMPT)
    converse.put_prompt("AP9", "DRAFT", ANALYSIS_PROMPT)
    managed = {
        "BEDROCK_QUERY_PROMPT_ID": "QP7",
        "BEDROCK_QUERY_PROMPT_VERSION": "3",
        "BEDROCK_ANALYSIS_PROMPT_ID": "AP9",  # no version: the draft
    }
    async with started(**managed) as service:
        await service.analyze(aws_endpoints.endpoint)
        fingerprint = service.provider.fingerprint
        assert sorted(converse.prompt_requests) == [("AP9", "DRAFT"), ("QP7", "3")]
        assert fingerprint.query_prompt_version == "bedrock:QP7:3"
        assert fingerprint.analysis_prompt_version.startswith("bedrock:AP9:DRAFT-")
        query_call, analysis_call = converse.requests
        assert query_call.body["system"] == [{"text": QUERY_PROMPT.system}]
        assert query_call.user_text == "SQL over catapult_db_p.parquet for Acme Retail, LIMIT 200"
        assert "system" not in analysis_call.body  # a TEXT prompt has no system part
        assert analysis_call.user_text.startswith("Managed analysis of Acme Retail:\n{")
        for prompt in ("query", "analysis"):
            assert service.metric("oppsuite_analysis_prompt_managed", prompt=prompt) == 1
            assert (
                service.metric(
                    "oppsuite_analysis_prompt_fetches_total", prompt=prompt, outcome="ok"
                )
                == 1
            )
    async with started() as repository_only:
        assert repository_only.provider.fingerprint.query_prompt_version == "query_v1"
        assert cache_key(OPPORTUNITY, Options(), fingerprint) != cache_key(
            OPPORTUNITY, Options(), repository_only.provider.fingerprint
        )
    assert len(converse.prompt_requests) == 2  # none without ids


@pytest.mark.parametrize(
    ("failure", "timeout_s"),
    [
        (None, "5"),  # the prompt does not exist: ResourceNotFoundException
        (Reply(status=403, error_type="AccessDeniedException"), "5"),
        (Reply(status=429, error_type="ThrottlingException"), "5"),
        (Reply(delay_s=3.0), "0.3"),  # no answer within the fetch timeout
    ],
    ids=["not-found", "access-denied", "throttled", "timeout"],
)
async def test_a_failed_fetch_falls_back_to_the_repository_template(
    aws_endpoints: MotoServer, converse: FakeConverse, failure: Reply | None, timeout_s: str
) -> None:
    converse.prompt_failure = failure
    began = time.monotonic()
    env = {"BEDROCK_QUERY_PROMPT_ID": "QP7", "BEDROCK_PROMPT_FETCH_TIMEOUT_SECONDS": timeout_s}
    async with started(**env) as service:
        assert time.monotonic() - began < 2.5  # start is bounded by the fetch timeout
        await service.analyze(aws_endpoints.endpoint)
        assert service.provider.fingerprint.query_prompt_version == "query_v1"
        assert converse.requests[0].body["system"] == [{"text": load_prompt("query_v1").system}]
        labels = {"prompt": "query", "outcome": "failed"}
        assert service.metric("oppsuite_analysis_prompt_fetches_total", **labels) == 1
        assert service.metric("oppsuite_analysis_prompt_managed", prompt="query") == 0
        assert service.metric("oppsuite_analysis_prompt_managed", prompt="analysis") == 0


async def test_an_unusable_prompt_is_refused_and_counted_as_invalid(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.put_prompt("AP9", "1", StoredPrompt(user="no rows variable here"))
    env = {"BEDROCK_ANALYSIS_PROMPT_ID": "AP9", "BEDROCK_ANALYSIS_PROMPT_VERSION": "1"}
    async with started(**env) as service:
        assert service.provider.fingerprint.analysis_prompt_version == "analysis_v1"
        labels = {"prompt": "analysis", "outcome": "invalid"}
        assert service.metric("oppsuite_analysis_prompt_fetches_total", **labels) == 1


async def test_a_refresh_picks_up_a_new_draft_and_a_failed_one_keeps_the_last_good(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.put_prompt("QP7", "DRAFT", QUERY_PROMPT)
    async with started(BEDROCK_QUERY_PROMPT_ID="QP7") as service:
        first = service.provider.fingerprint.query_prompt_version
        converse.put_prompt("QP7", "DRAFT", StoredPrompt(user="Edited for {{customer_name}}"))
        assert await service.provider.prompts.refresh()
        second = service.provider.fingerprint.query_prompt_version
        assert first != second and second.startswith("bedrock:QP7:DRAFT-")
        converse.prompt_failure = Reply(status=500, error_type="InternalServerException")
        assert not await service.provider.prompts.refresh()
        assert service.provider.fingerprint.query_prompt_version == second  # kept, not dropped
        assert service.metric("oppsuite_analysis_prompt_managed", prompt="query") == 1


async def test_the_background_refresh_recovers_from_a_failed_start(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.prompt_failure = Reply(status=503, error_type="ServiceUnavailableException")
    env = {"BEDROCK_QUERY_PROMPT_ID": "QP7", "BEDROCK_PROMPT_REFRESH_SECONDS": "1"}
    converse.put_prompt("QP7", "DRAFT", QUERY_PROMPT)
    async with started(**env) as service:
        assert service.provider.fingerprint.query_prompt_version == "query_v1"
        converse.prompt_failure = None
        give_up = time.monotonic() + 5
        while service.provider.fingerprint.query_prompt_version == "query_v1":
            assert time.monotonic() < give_up, "the refresh task never fetched again"
            await asyncio.sleep(0.05)
        assert service.provider.fingerprint.query_prompt_version.startswith("bedrock:QP7:")


async def test_describe_follows_the_prompt_version_in_use(
    aws_endpoints: MotoServer, converse: FakeConverse
) -> None:
    converse.put_prompt("QP7", "1", QUERY_PROMPT)
    settings = aws_settings(BEDROCK_QUERY_PROMPT_ID="QP7", BEDROCK_QUERY_PROMPT_VERSION="1")
    async with running(lambda: build(settings)) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
            described = await stub.Describe(analysis_pb2.DescribeRequest(), timeout=5)
    assert (described.query_prompt_version, described.analysis_prompt_version) == (
        "bedrock:QP7:1",
        "analysis_v1",
    )
