"""`oppsuite validate` against the four services running as real processes (with a local
DynamoDB and the alert inbox, as `oppsuite up` runs them): the checks pass, every check
reports a measured figure, and the JSON report and the exit code agree with the checks.
The tier-promotion and alert round-trip checks are also shown to FAIL when what they
check is really broken (a Redis that refuses writes, an inbox that never receives)."""

from __future__ import annotations

import argparse
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from services.cache.app import build as build_cache
from services.launcher import Suite
from services.monitor.app import build_monitor
from services.monitor.config import Settings as MonitorSettings
from services.ops.alert_inbox import AlertInbox
from services.ops.cli import register
from services.ops.validate import (
    Report,
    ValidateOptions,
    alert_round_trip_check,
    format_table,
    tier_promotion_check,
    validate,
)
from tests.cache.conftest import settings_for
from tests.conftest import MotoServer, RedisServer, free_port
from tests.integration.conftest import API_KEY, serving_suite
from tests.servicers import running

pytestmark = pytest.mark.integration

CHECKS = {
    "caching",
    "pooling",
    "rate limiting",
    "response times",
    "monitoring: performance",
    "monitoring: metrics",
    "monitoring: alerting",
    "caching: tier promotion",
    "monitoring: alert round trip",
}


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, data_dir: Path
) -> Iterator[Suite]:
    """As `oppsuite up` starts it: a local DynamoDB (moto server) and the alert inbox too."""
    with serving_suite(
        tmp_path_factory.mktemp("suite"), redis_server, data_dir, as_up=True
    ) as running:
        yield running


def metrics_urls(suite: Suite) -> list[str]:
    return [f"http://127.0.0.1:{port}/metrics" for port in suite.config.metrics_ports.values()]


@pytest.fixture(scope="module")
def report(suite: Suite) -> Report:
    options = ValidateOptions(
        gateway=suite.config.address("gateway"),
        api_key=API_KEY,
        metrics_urls=metrics_urls(suite),
        monitor=suite.config.address("monitor"),
        cache=suite.config.address("cache"),
        alert_inbox=suite.alert_inbox_url,
        # Generous: this machine is shared; the figure is what matters here.
        hit_p95_threshold_ms=1000.0,
        burst=60,
        burst_concurrency=20,
    )
    return validate(options)


def test_every_check_is_reported_with_a_figure(report: Report) -> None:
    assert {c.name for c in report.checks} == CHECKS
    for check in report.checks:
        assert check.figure, check.name


def test_caching_is_a_miss_then_a_hit_and_bypass_bypasses(report: Report) -> None:
    caching = next(c for c in report.checks if c.name == "caching")
    assert caching.passed, caching.figure
    assert caching.details["first"] == "miss"
    assert caching.details["second"] in {"near", "redis", "dynamodb"}
    assert caching.details["bypass"] == "miss"
    assert caching.details["second_ms"] < caching.details["first_ms"]


def test_response_times_are_measured_against_thresholds(report: Report) -> None:
    times = next(c for c in report.checks if c.name == "response times")
    assert times.passed, times.figure
    assert set(times.details["steps"]) >= {"query_generation", "data_retrieval", "analysis"}
    assert 0 < times.details["hit_p95_ms"] <= 1000


def test_monitoring_answers_and_every_service_is_scraped(report: Report) -> None:
    checks = {c.name: c for c in report.checks}
    assert checks["monitoring: performance"].passed, checks["monitoring: performance"].figure
    assert checks["monitoring: performance"].details["request_count"] > 0
    assert checks["monitoring: metrics"].passed, checks["monitoring: metrics"].figure
    assert checks["monitoring: metrics"].figure.startswith("4/4 ")
    alerting = checks["monitoring: alerting"]
    assert alerting.passed, alerting.figure
    assert alerting.details["silence_listed"] and alerting.details["silence_gone"]


def test_rate_limiting_reports_what_the_burst_got(report: Report) -> None:
    """Passes only when rejections carry RetryInfo; either way the figure is measured."""
    check = next(c for c in report.checks if c.name == "rate limiting")
    outcomes = check.details["outcomes"]
    assert sum(outcomes.values()) == 60
    rejected = outcomes.get("RESOURCE_EXHAUSTED", 0)
    assert re.match(rf"^{rejected} of 60 rejected in [\d.]+ s, \d+ with RetryInfo", check.figure)
    assert check.passed == (rejected > 0 and f"{rejected} with RetryInfo" in check.figure)


def test_pooling_is_skipped_with_the_reason_on_the_local_provider(report: Report) -> None:
    """The local provider has no AWS client pools: the metrics are declared, and empty."""
    check = next(c for c in report.checks if c.name == "pooling")
    assert check.skipped and check.passed, check.figure
    assert "oppsuite_analysis_pool_in_use" in check.details["declared"]
    assert check.figure.startswith("no pool in use")


def test_pool_bounds_are_checked_against_each_pools_size(tmp_path) -> None:
    """A pool reporting more in use than its size fails; one within its size passes."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from services.ops.validate import pooling_check

    pages = {
        "/ok": 'oppsuite_analysis_pool_in_use{pool="bedrock"} 3\n'
        'oppsuite_analysis_pool_size{pool="bedrock"} 25\n'
        'oppsuite_analysis_pool_resizes_total{pool="bedrock"} 40\n',
        "/over": 'oppsuite_analysis_pool_in_use{pool="athena"} 12\n'
        'oppsuite_analysis_pool_size{pool="athena"} 10\n',
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages[self.path].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        ok = pooling_check([f"{base}/ok"], 5)
        over = pooling_check([f"{base}/ok", f"{base}/over"], 5)
    finally:
        server.shutdown()
    assert ok.passed and not ok.skipped and ok.figure.startswith("1 pools, peak utilization 12%")
    assert not over.passed and "1 over their bound" in over.figure


def test_json_report_table_and_exit_code_agree(
    suite: Suite,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OPPSUITE_API_KEY", API_KEY)
    monkeypatch.setenv("OPPSUITE_STATE_DIR", str(tmp_path))  # not a developer's `make up`
    parser = argparse.ArgumentParser(prog="oppsuite")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(
        [
            "validate",
            "--target",
            suite.config.address("gateway"),
            "--metrics",
            ",".join(metrics_urls(suite)),
            "--monitor",
            suite.config.address("monitor"),
            "--cache",
            suite.config.address("cache"),
            "--alert-inbox",
            str(suite.alert_inbox_url),
            "--burst",
            "10",
            "--hit-threshold-ms",
            "1000",
            "--json",
        ]
    )
    code = args.func(args)
    document = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in document["checks"]} == CHECKS
    assert document["passed"] == all(c["passed"] for c in document["checks"])
    assert code == (0 if document["passed"] else 1)
    for check in document["checks"]:
        assert set(check) == {"name", "passed", "figure", "details", "skipped", "result"}
        assert check["result"] in {"PASS", "FAIL", "SKIP"}


def test_table_lists_each_check_with_pass_or_fail(report: Report) -> None:
    table = format_table(report)
    for check in report.checks:
        assert re.search(rf"^{re.escape(check.name)}\s+{check.result}\s+\S", table, re.MULTILINE)
    counted = [c for c in report.checks if not c.skipped]
    assert f"({sum(c.passed for c in counted)}/{len(counted)}, " in table


def test_an_unreachable_suite_fails_every_check_without_raising() -> None:
    port = free_port()
    report = validate(
        ValidateOptions(
            gateway=f"127.0.0.1:{port}",
            api_key=API_KEY,
            metrics_urls=[f"http://127.0.0.1:{port}/metrics"],
            monitor=f"127.0.0.1:{port}",
            cache=f"127.0.0.1:{port}",
            alert_inbox=f"http://127.0.0.1:{port}/alerts",
            timeout_s=5,
            scrape_timeout_s=2,
        )
    )
    assert {c.name for c in report.checks} == CHECKS
    assert not any(c.passed for c in report.checks)
    caching = next(c for c in report.checks if c.name == "caching")
    assert caching.figure.startswith("UNAVAILABLE")


def test_tier_promotion_is_measured_from_dynamodb_then_redis(report: Report) -> None:
    check = next(c for c in report.checks if c.name == "caching: tier promotion")
    assert check.passed, check.figure
    details = check.details
    assert (details["before"], details["first_get"], details["second_get"]) == (
        "miss",
        "dynamodb",
        "redis",
    )
    assert details["evicted_from_redis"] == 1 and details["after_cleanup"] == "miss"
    assert details["removed_at_cleanup"] == 1  # the synthetic entry is gone from every tier
    assert 0 < details["l1_expires_at_unix"] <= details["l2_expires_at_unix"]
    assert re.match(
        r"^L2 \(DynamoDB\) hit [\d.]+ ms, promoted L1 \(Redis\) hit [\d.]+ ms, expiry carried",
        check.figure,
    )


def test_the_test_alert_is_delivered_and_arrives_at_the_inbox(report: Report, suite: Suite) -> None:
    check = next(c for c in report.checks if c.name == "monitoring: alert round trip")
    assert check.passed, check.figure
    assert check.details["deliveries"]["webhook"]["delivered"] is True
    assert check.details["arrived"] is True and "arrived at the alert inbox" in check.figure
    # The inbox of the suite holds it (validate read it over HTTP; this reads it directly).
    log = (suite.config.state_dir / "alerts.jsonl").read_text()
    assert check.details["test_id"] in log


# --- the two new checks can fail --------------------------------------------------------


def redis_command(port: int, *words: str) -> bytes:
    command = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(command.encode())
        return sock.recv(256)


async def test_tier_promotion_fails_when_redis_refuses_the_promoted_copy(
    tmp_path: Path, aws_env: MotoServer
) -> None:
    """A Redis at maxmemory with noeviction refuses every write: L2 answers, nothing is
    promoted, and the check says so instead of passing."""
    full = RedisServer(tmp_path)
    full.start()
    try:
        async with running(lambda: build_cache(settings_for(full.url, aws_env))) as host:
            assert redis_command(full.port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
            assert redis_command(full.port, "CONFIG", "SET", "maxmemory", "1").startswith(b"+OK")
            check = await tier_promotion_check(f"127.0.0.1:{host.port}")
    finally:
        full.stop()
    assert not check.passed and not check.skipped
    assert (check.details["first_get"], check.details["second_get"]) == ("dynamodb", "dynamodb")
    assert "after evicting Redis: dynamodb then dynamodb" in check.figure


async def test_tier_promotion_is_skipped_without_dynamodb(redis_url: str) -> None:
    async with running(lambda: build_cache(settings_for(redis_url, None))) as host:
        check = await tier_promotion_check(f"127.0.0.1:{host.port}")
    assert check.skipped and "without DynamoDB" in check.figure


@asynccontextmanager
async def monitor_posting_to(webhook: str | None) -> AsyncIterator[str]:
    env = {"MONITOR_PORT": "0", "MONITOR_METRICS_PORT": "-1", "REDIS_URL": ""}
    if webhook:
        env.update(PERFORMANCE_ALERTS_WEBHOOK=webhook, PERFORMANCE_ALERTS_MAX_ATTEMPTS="2")
        env.update(PERFORMANCE_ALERTS_BACKOFF_SECONDS="0.05")

    async def build():  # type: ignore[no-untyped-def]
        host, _ = await build_monitor(MonitorSettings.from_env(env))
        return host

    async with running(build) as host:
        yield f"127.0.0.1:{host.port}"


def round_trip_options(monitor: str, inbox: str | None) -> ValidateOptions:
    return ValidateOptions(
        gateway="unused:1",
        api_key=API_KEY,
        metrics_urls=[],
        monitor=monitor,
        alert_inbox=inbox,
        alert_wait_s=10,
        inbox_wait_s=1.0,
    )


@pytest.fixture
def inboxes() -> Iterator[tuple[AlertInbox, AlertInbox]]:
    """Two inboxes: the one the monitor posts to, and one it never posts to."""
    pair = (AlertInbox(), AlertInbox())
    for inbox in pair:
        inbox.start()
    yield pair
    for inbox in pair:
        inbox.stop()


async def test_alert_round_trip_fails_when_the_inbox_never_receives(
    inboxes: tuple[AlertInbox, AlertInbox],
) -> None:
    posted_to, watched = inboxes
    async with monitor_posting_to(posted_to.url) as monitor:
        check = await alert_round_trip_check(round_trip_options(monitor, watched.url))
    assert check.details["deliveries"]["webhook"]["delivered"]  # acknowledged elsewhere
    assert not check.passed and check.details["arrived"] is False
    assert "NOT found at the alert inbox after" in check.figure
    assert posted_to.received(check.details["test_id"])  # it went where the webhook points


async def test_alert_round_trip_fails_when_the_receiver_refuses(
    inboxes: tuple[AlertInbox, AlertInbox],
) -> None:
    inbox, _ = inboxes
    refusing = inbox.url.replace("/alerts", "/wrong-path")  # the inbox answers 404
    async with monitor_posting_to(refusing) as monitor:
        check = await alert_round_trip_check(round_trip_options(monitor, inbox.url))
    assert not check.passed
    delivery = check.details["deliveries"]["webhook"]
    assert delivery["delivered"] is False and delivery["error"] == "HTTP 404 from the receiver"
    assert "webhook NOT delivered (1 attempt" in check.figure


async def test_alert_round_trip_fails_without_any_channel() -> None:
    async with monitor_posting_to(None) as monitor:
        check = await alert_round_trip_check(round_trip_options(monitor, None))
    assert not check.passed and check.details == {"code": "FAILED_PRECONDITION"}
    assert "no alert channel is configured" in check.figure
    assert "PERFORMANCE_ALERTS_WEBHOOK" in check.figure


async def test_alert_round_trip_without_an_inbox_relies_on_the_acknowledgement(
    inboxes: tuple[AlertInbox, AlertInbox],
) -> None:
    """In a cluster there is no inbox: the receiver's acknowledgement is the round trip."""
    inbox, _ = inboxes
    async with monitor_posting_to(inbox.url) as monitor:
        check = await alert_round_trip_check(round_trip_options(monitor, None))
    assert check.passed, check.figure
    assert "no inbox to check" in check.figure and "arrived" not in check.details
