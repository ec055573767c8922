"""The Grafana dashboard against real data: the suite runs, a real Prometheus scrapes its
four metrics ports with the recording rules loaded, traffic flows, and every panel query
is run as Grafana would run it.

A query whose metrics some service exports must return data. A query whose metric no
service exports yet must name a metric listed in PENDING (with who will produce it), so a
typo in the dashboard cannot hide as "not implemented yet"; once the metric appears, the
panel is held to the same bar as the others.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.launcher import SERVICES, Suite
from tests.conftest import RedisServer, free_port
from tests.integration.conftest import OTHER_KEY, auth, suite_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "oppsuite.json"
RECORDING_RULES = ROOT / "deploy" / "prometheus" / "recording-rules.yaml"

# Metrics the dashboard shows that no service exports yet, and where they will come from.
PENDING: dict[str, str] = {}
# Metrics every service declares but that cannot have series on a local suite, and why.
NO_DATA_LOCALLY = {
    "oppsuite_analysis_pool_utilization": "AWS client pools exist only with the aws provider",
    "oppsuite_analysis_pool_wait_seconds_bucket": "AWS client pools: aws provider only",
    "oppsuite_analysis_cost_usd_total": "counted only for analyses that cost money (aws)",
    "oppsuite_cost_avoided_usd": "the spend hits avoid: zero on the local provider",
    "oppsuite_memory_usage_ratio": "needs a container memory limit (cgroup), as pods have",
}
# Grafana's variables, as Grafana would fill them for "All" over the last few minutes.
VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$service": ".*"}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class Prometheus:
    def __init__(self, workdir: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.targets = targets
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed (Debian: apt-get install prometheus)")
        shutil.copy(RECORDING_RULES, self.workdir / "recording-rules.yaml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["recording-rules.yaml"],
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for name, port in self.targets.items()
            ],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait(lambda: self._get("/-/ready") is not None, 30, "Prometheus ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None
            self.log.close()

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return bytes(r.read())
        except OSError:
            return None

    def api(self, path: str, **params: str) -> Any:
        body = self._get(f"/api/v1/{path}?{urllib.parse.urlencode(params)}")
        assert body is not None, f"Prometheus did not answer {path}"
        reply = json.loads(body)
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def wait(self, predicate: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def drive_traffic(gateway: str, rounds: int = 2) -> None:
    """Misses, hits, a caller mistake and an unknown key, spread over a few scrapes so
    counters rise between samples (rates and quantiles need that)."""
    with grpc.insecure_channel(gateway) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        for round_no in range(rounds):
            for i in range(2):
                fields = {**SAMPLE_OPPORTUNITY, "opportunity_name": f"dashboard {round_no}-{i}"}
                request = gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity(**fields))
                for _ in range(4):  # a miss, then hits
                    stub.Analyze(request, metadata=auth(), timeout=60)
            bad = gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity())
            with pytest.raises(grpc.RpcError):
                stub.Analyze(bad, metadata=auth(), timeout=10)
            with pytest.raises(grpc.RpcError):
                stub.Analyze(bad, metadata=auth("not-a-known-key-0123456789"), timeout=10)
            stub.GetPerformance(types_pb2.GetPerformanceRequest(), metadata=auth(), timeout=10)
            # Past the other client's burst allowance: real rate-limit rejections.
            futures = [
                stub.Analyze.future(request, metadata=auth(OTHER_KEY), timeout=30)
                for _ in range(80)
            ]
            codes = [f.exception().code() if f.exception() else None for f in futures]
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
            time.sleep(2.5)


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, data_dir: Path
) -> Iterator[Suite]:
    """The suite with an alert channel (a webhook receiver here) and budgets, so the alert
    delivery and budget panels have their series."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = suite_config(
        tmp_path_factory.mktemp("suite"),
        redis_server,
        OPPSUITE_DATA_DIR=str(data_dir),
        PERFORMANCE_ALERTS_WEBHOOK=f"http://127.0.0.1:{receiver.server_port}/hook",
        COST_BUDGET_DAILY_USD="100",
        COST_BUDGET_MONTHLY_USD="2000",
    )
    running = Suite(config)
    try:
        running.start_services()
        running.wait_serving()
        yield running
    finally:
        running.stop()
        receiver.shutdown()


@pytest.fixture(scope="module")
def prometheus(suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        {s: suite.config.metrics_ports[s] for s in SERVICES},
    )
    server.start()
    try:
        server.wait(
            lambda: len([r for r in server.query("up == 1")]) == len(SERVICES),
            30,
            "all four services scraped",
        )
        drive_traffic(suite.config.address("gateway"))
        server.wait(
            lambda: server.query(
                "grpc_service_grpc_method:grpc_server_handling_seconds:p99_rate5m"
                '{grpc_method="Analyze"} >= 0'
            ),
            30,
            "recording rules evaluated over the traffic",
        )
        yield server
    finally:
        server.stop()


def exported_metrics(suite: Suite) -> set[str]:
    """Every metric the services declare on /metrics, including families without samples
    yet (a labelled counter nothing has incremented, such as threshold violations)."""
    names: set[str] = set()
    for port in suite.config.metrics_ports.values():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            names.update(sample.name for sample in family.samples)
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_count", "_sum"),
                "summary": ("_count", "_sum"),
            }.get(family.type, ("",))
            names.update(family.name + suffix for suffix in suffixes)
    return names


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            queries.append((f"{panel['title']} [{target['refId']}]", expr))
    return queries


def referenced_metrics(expr: str, known_labels: set[str]) -> set[str]:
    """Identifiers that name series: followed by a selector or range, or standing alone
    as an aggregation's argument, and not a function, keyword or label name."""
    names = set()
    plain = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
    for match in _IDENT.finditer(plain):
        token = match.group()
        rest = plain[match.end() :].lstrip()
        if token in known_labels or rest.startswith("("):
            continue
        follows_series = rest[:1] in {"{", "[", ")", "/", "*", ""} or rest.startswith(
            ("or ", "and ")
        )
        if follows_series and "_" in token:
            names.add(token)
    return names


def test_dashboard_uses_a_datasource_variable_everywhere() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_panel_query_returns_data(
    suite: Suite, prometheus: Prometheus, record_property: Any
) -> None:
    series = set(prometheus.api("label/__name__/values"))  # includes recording rules
    exported = series | exported_metrics(suite)
    labels = set(prometheus.api("labels"))
    checked, excused, failures = [], {}, []
    for title, expr in panel_queries():
        metrics = referenced_metrics(expr, labels)
        assert metrics, f"no metric found in {title}: {expr}"
        unknown = metrics - exported - set(PENDING)
        assert not unknown, f"{title} uses metrics nothing exports: {sorted(unknown)}"
        if prometheus.query(expr):
            checked.append(title)
            continue
        without_series = metrics - series
        if without_series and without_series <= set(PENDING) | set(NO_DATA_LOCALLY):
            excused[title] = sorted(without_series)
        else:
            failures.append(f"{title}: {expr} (no series: {sorted(without_series)})")
    record_property("panels_checked", checked)
    record_property("panels_without_local_data", excused)
    print(f"\n{len(checked)} panel queries returned data; without local data: {excused}")
    assert failures == [], "\n".join(failures)
    assert len(checked) >= 20, checked


def test_key_panels_show_real_figures(prometheus: Prometheus) -> None:
    """Not just series: the numbers reflect the traffic that was driven."""
    rate = prometheus.query(
        'sum by (grpc_method) (rate(grpc_server_handled_total{grpc_method="Analyze"}[1m]))'
    )
    assert float(rate[0]["value"][1]) > 0
    # Repeats are answered from the gateway's near cache first (the cache service then
    # sees only the misses), so the near tier's hit rate is where the hits show.
    near = prometheus.query(
        'sum(rate(oppsuite_gateway_near_cache_lookups_total{result="hit"}[1m])) '
        "/ sum(rate(oppsuite_gateway_near_cache_lookups_total[1m]))"
    )
    assert 0 < float(near[0]["value"][1]) <= 1, near
    sources = prometheus.query("sum by (source) (oppsuite_gateway_responses_total)")
    assert {"miss", "near"} <= {r["metric"]["source"] for r in sources}, sources
    p50 = prometheus.query(
        'grpc_service_grpc_method:grpc_server_handling_seconds:p50_rate5m{grpc_method="Analyze"}'
    )
    assert all(0 < float(r["value"][1]) < 60 for r in p50), p50
    steps = prometheus.query("step:oppsuite_analysis_step_seconds:p95_rate5m")
    assert {r["metric"]["step"] for r in steps} >= {"query_generation", "analysis", "total"}
    codes = prometheus.query("sum by (grpc_code) (grpc_server_handled_total)")
    assert {"OK", "INVALID_ARGUMENT", "UNAUTHENTICATED"} <= {
        r["metric"]["grpc_code"] for r in codes
    }


def test_metric_extraction_finds_the_series_of_a_query() -> None:
    expr = (
        'sum by (tier) (rate(oppsuite_cache_lookups_total{result="hit"}[1m])) / '
        'sum by (pool) (oppsuite_pool_in_use) or grpc_x:y:p50{a="b"} * 0'
    )
    assert referenced_metrics(expr, {"tier", "pool", "result"}) == {
        "oppsuite_cache_lookups_total",
        "oppsuite_pool_in_use",
        "grpc_x:y:p50",
    }
