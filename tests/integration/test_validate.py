"""`oppsuite validate` against the four services running as real processes: the checks that
the suite can pass today pass, every check reports a measured figure, and the JSON report
and the exit code agree with the checks."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from services.launcher import Suite
from services.ops.cli import register
from services.ops.validate import Report, ValidateOptions, format_table, validate
from tests.conftest import free_port
from tests.integration.conftest import API_KEY

pytestmark = pytest.mark.integration

CHECKS = {
    "caching",
    "pooling",
    "rate limiting",
    "response times",
    "monitoring: performance",
    "monitoring: metrics",
    "monitoring: alerting",
}


def metrics_urls(suite: Suite) -> list[str]:
    return [f"http://127.0.0.1:{port}/metrics" for port in suite.config.metrics_ports.values()]


@pytest.fixture(scope="module")
def report(suite: Suite) -> Report:
    options = ValidateOptions(
        gateway=suite.config.address("gateway"),
        api_key=API_KEY,
        metrics_urls=metrics_urls(suite),
        monitor=suite.config.address("monitor"),
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
    suite: Suite, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPPSUITE_API_KEY", API_KEY)
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
            timeout_s=5,
            scrape_timeout_s=2,
        )
    )
    assert {c.name for c in report.checks} == CHECKS
    assert not any(c.passed for c in report.checks)
    caching = next(c for c in report.checks if c.name == "caching")
    assert caching.figure.startswith("UNAVAILABLE")
