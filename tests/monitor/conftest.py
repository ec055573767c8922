"""Builders shared by the monitor's tests: a core on a fake clock, reports, HTTP receivers."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.monitor.aggregator import Aggregator, HistogramSeries, MetricValue, Report
from services.monitor.alerts import AlertEngine
from services.monitor.core import MonitorCore, default_anomaly_trackers
from services.monitor.cost import CostLedger
from services.monitor.rules import Rule, load_rules
from services.monitor.silences import Silences
from services.monitor.sketch import LogHistogram
from tests.monitor.test_windows import FakeClock

START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def make_core(
    clock: FakeClock,
    rules: tuple[Rule, ...] | None = None,
    *,
    daily_budget: float = 0.0,
    monthly_budget: float = 0.0,
) -> MonitorCore:
    return MonitorCore(
        Aggregator(clock, stale_after_s=120.0),
        CostLedger(clock, daily_budget_usd=daily_budget, monthly_budget_usd=monthly_budget),
        AlertEngine(
            rules if rules is not None else load_rules(None),
            clock,
            Silences(clock, random.Random(1)),
        ),
        anomalies=default_anomaly_trackers(clock),
    )


def traffic(
    clock: FakeClock,
    *,
    latency_ms: float = 200.0,
    requests: int = 50,
    errors: int = 0,
    hits: int = 40,
    misses: int = 10,
    instance: str = "gw-1",
    steps: dict[str, tuple[float, int]] | None = None,
    gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None = None,
    counters: list[MetricValue] | None = None,
) -> Report:
    """One report of a gateway-like replica: latencies, outcomes, cache results, gauges."""
    histograms = []
    if requests:
        histograms.append(
            HistogramSeries(
                "request_ms", {"source": "miss"}, LogHistogram.of([latency_ms] * requests)
            )
        )
    all_counters = [
        MetricValue("requests_total", {"outcome": "ok", "code": "OK"}, float(requests - errors)),
        MetricValue("cache_requests_total", {"result": "hit"}, float(hits)),
        MetricValue("cache_requests_total", {"result": "miss"}, float(misses)),
    ]
    if errors:
        all_counters.append(
            MetricValue(
                "requests_total", {"outcome": "error", "code": "UNAVAILABLE"}, float(errors)
            )
        )
    for step, (ms, violations) in (steps or {}).items():
        histograms.append(HistogramSeries("step_ms", {"step": step}, LogHistogram.of([ms] * 20)))
        if violations:
            all_counters.append(MetricValue("step_violations_total", {"step": step}, violations))
    all_counters.extend(counters or [])
    gauge_values = [
        MetricValue(name, dict(labels), value) for (name, labels), value in (gauges or {}).items()
    ]
    return Report("gateway", instance, clock.now, histograms, all_counters, gauge_values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@dataclass
class Received:
    status: int
    body: dict[str, Any]


@dataclass
class HttpReceiver:
    """A real HTTP server on loopback that records POSTed JSON and answers from a script."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # next answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            return self.script.pop(0) if self.script else (200, {})

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.status == 200]


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    holder: list[HttpReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            receiver = holder[0]
            status, headers = receiver.answer()
            with receiver.lock:
                receiver.received.append(Received(status, body))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(HttpReceiver(f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()
