"""End-to-end alerting: a real suite with a cold cache fires the hit-rate alert to a Slack
webhook on a local listener, then resolves it after warm traffic.

    .venv/bin/python -m benchmarks.monitor_hit_rate_alert [--cold 40] [--warm 90]

Starts its own Redis (empty: the cache is cold by construction), a local DynamoDB and
the four services on free loopback ports; a local HTTP listener plays the Slack
incoming webhook. The rule is the shipped LowCacheHitRate with demo timings (1 m
window, `for` 10 s, hold 20 s, floor 10 lookups) given through ALERT_RULES_FILE, so
the run takes about two minutes instead of eight. Phase 1 sends never-seen
opportunities (all misses); phase 2 repeats one opportunity (hits). Prints every
message the listener received with its arrival time, and when the alert fired and
resolved relative to the phases.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc

from services.client import SAMPLE_OPPORTUNITY, metadata, opportunity_from
from services.common.gen import gateway_pb2, gateway_pb2_grpc
from services.launcher import SERVICES, Suite, SuiteConfig
from tests.conftest import free_port

DEMO_RULES = """
rules:
  - name: LowCacheHitRate
    group: cache
    signal: cache_hit_rate
    comparison: below
    warning: 0.70
    critical: 0.50
    window: 1m
    for: 10s
    hold: 20s
    min_traffic: 10
    summary: The cache hit rate is below its threshold
    look_at: >-
      cache hit rate by tier, recent prompt/model version changes (they change every key),
      `oppsuite warm` for the top keys, and the TTLs (INTELLIGENT_CACHING_ENABLED)
"""
API_KEY = "demo-client-key-0123456789abcdef"


class Listener:
    def __init__(self) -> None:
        self.messages: list[tuple[float, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                listener.messages.append((time.monotonic(), body["text"]))
                print(f"\n--- Slack webhook received ---\n{body['text']}\n", flush=True)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/demo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def drive(stub: gateway_pb2_grpc.GatewayStub, seconds: float, *, cold: bool) -> tuple[int, int]:
    """Sequential traffic for ``seconds``; (requests, cache hits)."""
    auth = metadata(API_KEY)
    end = time.monotonic() + seconds
    sent = hits = 0
    while time.monotonic() < end:
        name = f"Demo {uuid.uuid4().hex[:10]}" if cold else "Demo warm opportunity"
        fields = {**SAMPLE_OPPORTUNITY, "opportunity_name": name}
        try:
            reply = stub.Analyze(
                gateway_pb2.AnalyzeRequest(opportunity=opportunity_from(fields)),
                metadata=auth,
                timeout=60,
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:  # type: ignore[attr-defined]
                raise
            time.sleep(1.0)  # the per-client rate limit: back off
            continue
        sent += 1
        hits += reply.meta.cache_source not in (0, 1)  # anything but unspecified/miss
        if not cold:
            time.sleep(0.25)  # stay under the default per-client limit (300/min)
    return sent, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=float, default=40.0, help="seconds of cold traffic")
    parser.add_argument("--warm", type=float, default=90.0, help="seconds of warm traffic")
    args = parser.parse_args()
    listener = Listener()
    state = Path(tempfile.mkdtemp(prefix="oppsuite-demo-"))
    (state / "rules.yaml").write_text(DEMO_RULES)
    ports: set[int] = set()
    while len(ports) < 2 * len(SERVICES) + 2:  # free_port may hand out the same port twice
        ports.add(free_port())
    free = sorted(ports)
    config = SuiteConfig(
        state_dir=state,
        ports=dict(zip(SERVICES, free[: len(SERVICES)], strict=True)),
        metrics_ports=dict(zip(SERVICES, free[len(SERVICES) : 2 * len(SERVICES)], strict=True)),
        redis_port=free[-2],
        dynamodb_port=free[-1],
        extra_env={
            "GATEWAY_API_KEYS": f"demo={API_KEY}",
            "PERFORMANCE_ALERTS_SLACK_WEBHOOK": listener.url,
            "ALERT_RULES_FILE": str(state / "rules.yaml"),
            "ALERT_EVAL_INTERVAL_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
        },
        start_timeout_s=300,
    )
    suite = Suite(config, base_env={"PATH": "/usr/bin:/bin"})
    try:
        print(suite.ensure_redis(), flush=True)
        print(suite.ensure_dynamodb(), flush=True)
        suite.start_services()
        suite.wait_serving()
        print(f"suite serving; Slack webhook -> {listener.url}", flush=True)
        with grpc.insecure_channel(config.address("gateway")) as channel:
            stub = gateway_pb2_grpc.GatewayStub(channel)
            t0 = time.monotonic()
            sent, hits = drive(stub, args.cold, cold=True)
            print(f"cold phase: {sent} requests, {hits} hits", flush=True)
            t1 = time.monotonic()
            sent, hits = drive(stub, args.warm, cold=False)
            print(f"warm phase: {sent} requests, {hits} hits", flush=True)
            time.sleep(3)
        print("\n=== summary ===")
        print(f"cold phase 0.0-{t1 - t0:.1f} s, warm phase from {t1 - t0:.1f} s")
        for at, text in listener.messages:
            print(f"{at - t0:7.1f} s  {text.splitlines()[0]}")
    finally:
        suite.stop()


if __name__ == "__main__":
    main()
