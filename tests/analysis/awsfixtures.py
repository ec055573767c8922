"""Shared pieces of the aws-provider tests: settings, moto seeding, scripted models."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from services.analysis.config import Settings
from services.common.domain import Opportunity
from tests.analysis.fake_bedrock import Reply

# The opportunity the AWS-path tests and the pool benchmark analyse.
OPPORTUNITY = Opportunity(
    customer_name="Acme Retail",
    region="United States",
    close_date="2026-03-31",
    opportunity_name="Data platform migration",
    description="Move the on-premises data warehouse and ETL to AWS",
)
QUERY_MODEL = "test.query-model-v1"
ANALYSIS_MODEL = "test.analysis-model-v1"
GOOD_SQL = (
    "SELECT customer_name, industry, close_date, annual_run_rate_usd, relevance_score "
    "FROM catapult_db_p.parquet WHERE relevance_score > 0 ORDER BY relevance_score DESC LIMIT 200"
)
ANALYSIS_TEXT = (Path(__file__).parent / "parser_fixtures" / "markers_with_spaces.txt").read_text(
    encoding="utf-8"
)
COLUMNS = ["customer_name", "industry", "close_date", "annual_run_rate_usd", "relevance_score"]


def kind_of(model_id: str) -> str:
    return "query" if model_id == QUERY_MODEL else "analysis"


def default_reply(model_id: str, body: dict[str, Any]) -> Reply:
    if model_id == QUERY_MODEL:
        return Reply(text=json.dumps({"sql_query": GOOD_SQL}), input_tokens=900, output_tokens=120)
    return Reply(text=ANALYSIS_TEXT, input_tokens=5000, output_tokens=1500)


def aws_settings(**overrides: str) -> Settings:
    env = {
        "OPPSUITE_PROVIDER": "aws",
        "ANALYSIS_PORT": "0",
        "ANALYSIS_METRICS_PORT": "-1",
        "MONITOR_ADDRESS": "",
        "BEDROCK_QUERY_MODEL_ID": QUERY_MODEL,
        "BEDROCK_ANALYSIS_MODEL_ID": ANALYSIS_MODEL,
        "ATHENA_OUTPUT_LOCATION": "s3://athena-results/oppsuite/",
        "ATHENA_POLL_INITIAL_SECONDS": "0.01",
        "ATHENA_POLL_MAX_SECONDS": "0.05",
        "AWS_SDK_MAX_ATTEMPTS": "1",
        "THROTTLE_BACKOFF_BASE_SECONDS": "0.05",
        "THROTTLE_BACKOFF_MAX_SECONDS": "0.2",
        "AWS_READ_TIMEOUT_SECONDS": "10",
    }
    env.update(overrides)
    return Settings.from_env(env)


def moto_post(endpoint: str, path: str, document: object) -> None:
    request = urllib.request.Request(
        endpoint + path,
        data=json.dumps(document).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()


def athena_rows(rows: list[list[str | None]], columns: list[str] = COLUMNS) -> dict[str, Any]:
    """One queued GetQueryResults answer, header row first as Athena sends it."""

    def row(values: list[str | None]) -> dict[str, Any]:
        return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}

    return {
        "rows": [row(list(columns)), *(row(r) for r in rows)],
        "column_info": [{"Name": c, "Type": "varchar"} for c in columns],
    }


def seed_athena(endpoint: str, *results: dict[str, Any]) -> None:
    moto_post(endpoint, "/moto-api/static/athena/query-results", {"results": list(results)})


def seed_lambda(endpoint: str, *payloads: object) -> None:
    moto_post(
        endpoint,
        "/moto-api/static/lambda-simple/response",
        {"results": [p if isinstance(p, str) else json.dumps(p) for p in payloads]},
    )


def hold_athena_queries(endpoint: str) -> None:
    """Keep new Athena executions QUEUED for (practically) ever: moto's state manager."""
    moto_post(
        endpoint,
        "/moto-api/state-manager/set-transition",
        {
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": 10**6},
        },
    )


def release_athena_queries(endpoint: str) -> None:
    moto_post(
        endpoint, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"}
    )
