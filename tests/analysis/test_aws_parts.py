"""The aws provider's parts on their own: adaptive bound, throttle retries, truncation,
answer parsing, prompts, settings and metrics (injected clocks, no network)."""

from __future__ import annotations

import asyncio
import base64
import json
import random

import pytest
from prometheus_client import CollectorRegistry

from services.analysis.aws_provider import parse_sql_answer
from services.analysis.awspool import AdaptiveLimiter, Throttled
from services.analysis.awsretry import RetryPolicy, retry_throttled
from services.analysis.config import PoolBounds, Settings
from services.analysis.errors import (
    DataTooLarge,
    LambdaFailed,
    ModelOutputInvalid,
    UpstreamThrottled,
)
from services.analysis.lambdaroute import _billed_ms, parse_lambda_payload
from services.analysis.metrics import AnalysisMetrics
from services.analysis.prompts import load_prompt
from services.analysis.provider import STEP_DEADLINE, CallAccounting
from services.analysis.truncation import ContextBudget, fit_rows
from services.common.domain import StepTiming
from services.common.settings import SettingsError
from services.common.telemetry import Telemetry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- adaptive bound ---------------------------------------------------------------


async def test_limiter_never_exceeds_its_size_and_serves_in_order() -> None:
    limiter = AdaptiveLimiter(PoolBounds(2, 1, 2))
    order: list[int] = []

    async def worker(i: int) -> None:
        await limiter.acquire()
        order.append(i)
        assert limiter.in_use <= 2
        await asyncio.sleep(0.001)
        limiter.release()

    await asyncio.gather(*(worker(i) for i in range(10)))
    assert order == list(range(10))
    assert limiter.peak_in_use == 2
    assert limiter.in_use == 0


async def test_limiter_grows_under_queueing_and_shrinks_when_idle() -> None:
    clock = Clock()
    resizes: list[tuple[str, int]] = []
    limiter = AdaptiveLimiter(
        PoolBounds(4, 2, 6),
        clock=clock,
        adjust_every_s=5,
        on_resize=lambda d, s: resizes.append((d, s)),
    )
    for _ in range(4):
        await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    clock.now += 6  # a window passes with someone queued for long
    limiter.release()  # adjustment runs here: grows, then the waiter gets a slot
    await waiter
    assert resizes == [("grow", 5)]
    assert limiter.size == 5
    for _ in range(4):
        limiter.release()
    # The busy window keeps its size; each quiet window after it shrinks one step.
    for expected in (5, 4, 3, 2, 2):
        clock.now += 6
        await limiter.acquire()
        limiter.release()
        assert limiter.size == expected
    assert resizes[-1] == ("shrink", 2)


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = AdaptiveLimiter(PoolBounds(1, 1, 1))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert (limiter.in_use, limiter.waiting) == (0, 0)
    await asyncio.wait_for(limiter.acquire(), 1)


# ---- throttling retries -----------------------------------------------------------


async def test_retry_backs_off_with_jitter_then_succeeds() -> None:
    clock = Clock()
    slept: list[float] = []
    answers = iter([Throttled("athena", "TooManyRequestsException", "slow"), None])

    async def call() -> str:
        answer = next(answers)
        if answer is not None:
            raise answer
        return "ok"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    policy = RetryPolicy(base_s=0.2, max_s=1.0)
    result = await retry_throttled(call, policy, rng=random.Random(1), clock=clock, sleep=sleep)
    assert result == "ok"
    assert len(slept) == 1 and 0.1 <= slept[0] <= 0.2


async def test_retry_gives_up_when_the_deadline_cannot_fit_the_next_wait() -> None:
    clock = Clock()
    slept: list[float] = []

    async def call() -> str:
        raise Throttled("athena", "TooManyRequestsException", "slow")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    token = STEP_DEADLINE.set(clock.now + 1.0)
    try:
        with pytest.raises(UpstreamThrottled, match="TooManyRequestsException") as caught:
            await retry_throttled(
                call,
                RetryPolicy(base_s=0.2, max_s=5.0),
                rng=random.Random(3),
                clock=clock,
                sleep=sleep,
            )
    finally:
        STEP_DEADLINE.reset(token)
    assert sum(slept) < 1.0  # never slept past the deadline
    assert caught.value.retry_after_s > 0
    assert (caught.value.limit, caught.value.subject) == ("upstream", "athena")


# ---- truncation ---------------------------------------------------------------------

BIG_CONTEXT = ContextBudget(context_tokens=200_000, max_output_tokens=4096, chars_per_token=3.5)


def test_truncation_cuts_at_row_boundaries() -> None:
    rows: list[dict[str, object]] = [{"id": i, "text": "x" * 40} for i in range(20)]
    fitted = fit_rows(rows, truncate=True, budget_chars=200, prompt_chars=0, context=BIG_CONTEXT)
    lines = fitted.text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(fitted.kept))
    assert len(fitted.text) + 1 <= 200
    assert fitted.truncated and fitted.total == 20


def test_budget_smaller_than_one_row_is_data_too_large() -> None:
    with pytest.raises(DataTooLarge, match="smaller than the first row"):
        fit_rows(
            [{"a": "y" * 100}], truncate=True, budget_chars=50, prompt_chars=0, context=BIG_CONTEXT
        )


def test_no_rows_is_valid_and_empty() -> None:
    fitted = fit_rows([], truncate=True, budget_chars=10, prompt_chars=0, context=BIG_CONTEXT)
    assert (fitted.text, fitted.kept) == ("", 0)


def test_context_estimate_uses_chars_per_token() -> None:
    small = ContextBudget(context_tokens=1000, max_output_tokens=200, chars_per_token=3.5)
    assert small.input_chars() == 2800
    rows: list[dict[str, object]] = [{"v": "z" * 1000}]
    fit_rows(rows, truncate=False, budget_chars=0, prompt_chars=1500, context=small)
    with pytest.raises(DataTooLarge, match="enable truncation"):
        fit_rows(rows, truncate=False, budget_chars=0, prompt_chars=1900, context=small)


# ---- answers ------------------------------------------------------------------------


def test_sql_answer_must_be_exactly_the_object() -> None:
    assert parse_sql_answer(' {"sql_query": "SELECT 1"}\n') == "SELECT 1"
    with pytest.raises(ModelOutputInvalid, match="answer starts 'Here: "):
        parse_sql_answer('Here: {"sql_query": "SELECT 1"}')


@pytest.mark.parametrize(
    ("payload", "function_error", "message"),
    [
        (b'{"errorMessage": "boom", "errorType": "KeyError"}', "Unhandled", "Unhandled.*KeyError"),
        (b'{"errorMessage": "boom"}', None, "returned an error: Error: boom"),
        (b"not json", None, "not JSON"),
        (b'{"statusCode": 500, "body": "internal"}', None, "status 500"),
        (b'{"count": 3}', None, "has no rows"),
    ],
)
def test_lambda_error_shapes(payload: bytes, function_error: str | None, message: str) -> None:
    with pytest.raises(LambdaFailed, match=message):
        parse_lambda_payload("fn", payload, function_error)


def test_lambda_row_shapes_and_billed_duration() -> None:
    body = json.dumps({"statusCode": 200, "body": json.dumps([{"close_date": 1700000000}])})
    assert parse_lambda_payload("fn", body.encode()) == [{"close_date": "2023-11-14"}]
    assert parse_lambda_payload("fn", b'{"rows": []}') == []
    tail = base64.b64encode(b"REPORT RequestId: x Duration: 12.3 ms Billed Duration: 13 ms")
    assert _billed_ms(tail.decode(), 99.2) == 13
    assert _billed_ms(None, 99.2) == 100


# ---- prompts, settings, metrics ---------------------------------------------------


def test_prompts_are_versioned_and_render_every_field() -> None:
    prompt = load_prompt("query_v1")
    assert prompt.version == "query_v1"
    with pytest.raises(KeyError):
        prompt.render(customer_name="x")  # a missing field is an error, not a blank
    with pytest.raises(ValueError, match="no prompt template"):
        load_prompt("query_v999")
    with pytest.raises(ValueError, match="must match"):
        load_prompt("../secrets")


def test_pool_settings_defaults_and_validation() -> None:
    aws = Settings.from_env({}).aws
    sizes = (aws.bedrock_pool.size, aws.lambda_pool.size, aws.athena_pool.size)
    assert sizes == (25, 15, 10)
    assert aws.pooling is True
    with pytest.raises(SettingsError, match="ATHENA_POOL_MIN <= ATHENA_POOL_SIZE"):
        Settings.from_env({"ATHENA_POOL_SIZE": "10", "ATHENA_POOL_MAX": "5"})


def test_metrics_cap_client_labels_and_record_cost_tokens_and_violations() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry()
    metrics = AnalysisMetrics(registry, telemetry, max_clients=1)
    spent = CallAccounting()
    spent.add(cost_usd=0.25, input_tokens=10, output_tokens=4)
    metrics.record_accounting("crm", spent)
    metrics.record_accounting("dashboard", spent)
    metrics.record_step(StepTiming("analysis", 20_000, 15_000))
    metrics.pool_level("bedrock-runtime", 5, 20)
    value = registry.get_sample_value
    assert value("oppsuite_analysis_cost_usd_total", {"client": "crm"}) == 0.25
    assert value("oppsuite_analysis_cost_usd_total", {"client": "other"}) == 0.25
    assert value("oppsuite_analysis_bedrock_tokens_total", {"direction": "input"}) == 20
    assert value("oppsuite_analysis_step_violations_total", {"step": "analysis"}) == 1
    assert value("oppsuite_analysis_pool_utilization", {"pool": "bedrock-runtime"}) == 0.25
    metrics.sample_pools()  # the reporter's sampler, once per interval
    report = telemetry.take_report("analysis", "test")
    assert report is not None
    counters = {(c.name, tuple(sorted(c.labels.items()))): c.value for c in report.counters}
    assert counters[("cost_usd_total", (("client", "crm"),))] == 0.25
    assert counters[("step_violations_total", (("step", "analysis"),))] == 1
    gauges = {(g.name, g.labels["pool"]): g.value for g in report.gauges}
    assert gauges[("pool_utilization", "bedrock-runtime")] == 0.25


def test_pool_waits_reach_prometheus_at_once_and_the_monitor_through_the_sampler() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry()
    metrics = AnalysisMetrics(registry, telemetry)
    for _ in range(3):
        metrics.pool_wait("athena", 0.0)
    metrics.pool_wait("athena", 0.25)
    value = registry.get_sample_value
    assert value("oppsuite_analysis_pool_wait_seconds_count", {"pool": "athena"}) == 4
    assert value("oppsuite_analysis_pool_wait_seconds_sum", {"pool": "athena"}) == 0.25

    def waits() -> list[tuple[int, int, float]]:
        report = telemetry.take_report("analysis", "test")
        histograms = [] if report is None else report.histograms
        return [(h.count, h.zero_count, h.max) for h in histograms if h.name == "pool_wait_ms"]

    # A wait goes to the monitor's histogram at once; acquires that did not wait are
    # counted and handed over by the sampler, as many as there were, and only once.
    assert waits() == [(1, 0, 250.0)]
    metrics.sample_pools()
    assert waits() == [(3, 3, 0.0)]
    metrics.sample_pools()
    assert waits() == []


def test_pool_gauges_show_the_last_level_and_resize_when_scraped() -> None:
    registry = CollectorRegistry()
    metrics = AnalysisMetrics(registry, Telemetry())
    value = registry.get_sample_value
    assert value("oppsuite_analysis_pool_size", {"pool": "athena"}) is None
    metrics.pool_level("athena", 3, 10)
    metrics.pool_level("athena", 4, 10)
    assert value("oppsuite_analysis_pool_in_use", {"pool": "athena"}) == 4
    assert value("oppsuite_analysis_pool_size", {"pool": "athena"}) == 10
    assert value("oppsuite_analysis_pool_utilization", {"pool": "athena"}) == 0.4
    metrics.pool_resized("athena", "grow", 16)
    assert value("oppsuite_analysis_pool_in_use", {"pool": "athena"}) == 4
    assert value("oppsuite_analysis_pool_size", {"pool": "athena"}) == 16
    assert value("oppsuite_analysis_pool_utilization", {"pool": "athena"}) == 0.25
    metrics.pool_resized("lambda", "shrink", 5)
    assert value("oppsuite_analysis_pool_size", {"pool": "lambda"}) == 5
    assert value("oppsuite_analysis_pool_in_use", {"pool": "lambda"}) == 0


def test_unknown_prompt_fails_at_start_naming_the_variable() -> None:
    from services.analysis.aws_provider import AwsProvider

    settings = Settings.from_env({"BEDROCK_ANALYSIS_PROMPT": "analysis_v0"})
    metrics = AnalysisMetrics(CollectorRegistry(), Telemetry())
    made: list[str] = []

    def make(service: str, config: object) -> object:
        made.append(service)
        raise AssertionError("no client may be built for a bad configuration")

    with pytest.raises(SettingsError, match="BEDROCK_ANALYSIS_PROMPT: no prompt template"):
        AwsProvider.create(
            settings.aws,
            table="parquet",
            database="catapult_db_p",
            observer=metrics,
            make_client=make,
        )
    assert made == []


async def test_waiter_cancelled_while_a_release_passes_over_it() -> None:
    limiter = AdaptiveLimiter(PoolBounds(1, 1, 1))
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    first.cancel()
    limiter.release()  # skips the cancelled waiter, hands the slot to the second
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert (limiter.in_use, limiter.waiting) == (1, 0)
