"""The four services as real processes with a cold cache: the hit-rate alert reaches a Slack
webhook (a local listener) and resolves after warm traffic. Short rule timings keep it quick;
benchmarks/monitor_hit_rate_alert.py runs the same story at demo scale."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.client import SAMPLE_OPPORTUNITY, metadata, opportunity_from
from services.common.gen import gateway_pb2, gateway_pb2_grpc, monitor_pb2, monitor_pb2_grpc
from services.launcher import Suite
from tests.conftest import RedisServer
from tests.integration.conftest import API_KEY, suite_config
from tests.monitor.conftest import HttpReceiver

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: LowCacheHitRate
    group: cache
    signal: cache_hit_rate
    comparison: below
    warning: 0.70
    critical: 0.50
    window: 1m
    for: 2s
    hold: 3s
    min_traffic: 5
    summary: The cache hit rate is below its threshold
    look_at: cache hit rate by tier and `oppsuite warm`
"""


@pytest.fixture
def cold_suite(
    tmp_path: Path, redis_server: RedisServer, http_receiver: HttpReceiver
) -> Iterator[Suite]:
    redis_server.flushall()  # a cold cache
    (tmp_path / "rules.yaml").write_text(RULES)
    config = suite_config(
        tmp_path,
        redis_server,
        LOCAL_DATASET_ROWS="3000",
        PERFORMANCE_ALERTS_SLACK_WEBHOOK=http_receiver.url,
        ALERT_RULES_FILE=str(tmp_path / "rules.yaml"),
        ALERT_EVAL_INTERVAL_SECONDS="0.5",
    )
    suite = Suite(config)
    try:
        suite.start_services()
        suite.wait_serving()
        yield suite
    finally:
        suite.stop()


def analyze(stub: gateway_pb2_grpc.GatewayStub, name: str) -> None:
    fields = {**SAMPLE_OPPORTUNITY, "opportunity_name": name}
    request = gateway_pb2.AnalyzeRequest(opportunity=opportunity_from(fields))
    stub.Analyze(request, metadata=metadata(API_KEY), timeout=60)


def slack_texts(receiver: HttpReceiver) -> list[str]:
    return [body["text"].splitlines()[0] for body in receiver.delivered]


def wait_for_texts(receiver: HttpReceiver, count: int, timeout_s: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while len(receiver.delivered) < count:
        assert time.monotonic() < deadline, f"got only {slack_texts(receiver)}"
        time.sleep(0.1)
    return slack_texts(receiver)


def test_cold_cache_fires_the_hit_rate_alert_and_warm_traffic_resolves_it(
    cold_suite: Suite, http_receiver: HttpReceiver
) -> None:
    with grpc.insecure_channel(cold_suite.config.address("gateway")) as channel:
        gateway = gateway_pb2_grpc.GatewayStub(channel)
        for _ in range(8):  # never-seen opportunities: all misses
            analyze(gateway, f"E2E {uuid.uuid4().hex[:10]}")
        assert wait_for_texts(http_receiver, 1) == [
            "[FIRING CRITICAL] oppsuite cache: LowCacheHitRate"
        ]
        with grpc.insecure_channel(cold_suite.config.address("monitor")) as monitor_channel:
            monitor = monitor_pb2_grpc.MonitorStub(monitor_channel)
            listed = monitor.ListAlerts(monitor_pb2.ListAlertsRequest(), timeout=5)
        assert {a.name for a in listed.alerts} == {"LowCacheHitRate"}
        deadline = time.monotonic() + 90
        while not resolved(http_receiver) and time.monotonic() < deadline:
            analyze(gateway, "E2E warm")  # the same opportunity: hits
            time.sleep(0.2)
    texts = slack_texts(http_receiver)
    assert texts[0] == "[FIRING CRITICAL] oppsuite cache: LowCacheHitRate"
    assert texts[-1] == "[RESOLVED] oppsuite cache: LowCacheHitRate"
    # While the hit rate climbs through 50-70 % the warning alone may still breach: that
    # de-escalation is news and is sent once; nothing else comes in between.
    assert texts[1:-1] in ([], ["[FIRING WARNING] oppsuite cache: LowCacheHitRate"])
    received = len(http_receiver.received)
    time.sleep(1.0)
    assert len(http_receiver.received) == received  # nothing repeated, nothing duplicated


def resolved(receiver: HttpReceiver) -> bool:
    return any(text.startswith("[RESOLVED]") for text in slack_texts(receiver))
