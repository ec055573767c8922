"""Two monitor replicas (real gRPC servers in process) sharing one real Redis: each alert
reaches each channel once, also when a channel fails first and recovers. Without Redis,
both send (the documented at-least-once fallback)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc
import pytest

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.common.telemetry import Telemetry
from services.monitor.app import build_monitor
from services.monitor.config import Settings
from tests.conftest import free_port
from tests.monitor.conftest import HttpReceiver

RULES = """
rules:
  - name: HighPoolUtilization
    group: pools
    signal: pool_utilization
    comparison: above
    warning: 0.80
    critical: 0.95
    for: 0s
    hold: 1s
    summary: A client connection pool is nearly saturated
    look_at: the pool named in the alert
"""

BOTH_ONCE = {"slack": ["firing", "resolved"], "webhook": ["firing", "resolved"]}


def _env(tmp_path: Path, redis_url: str, slack: str, webhook: str) -> dict[str, str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return {
        "MONITOR_PORT": "0",
        "MONITOR_METRICS_PORT": "-1",
        "REDIS_URL": redis_url,
        "ALERT_RULES_FILE": str(rules),
        "ALERT_EVAL_INTERVAL_SECONDS": "0.1",
        "PERFORMANCE_ALERTS_SLACK_WEBHOOK": slack,
        "PERFORMANCE_ALERTS_WEBHOOK": webhook,
        "PERFORMANCE_ALERTS_SLACK_INTERVAL_SECONDS": "0",
        "PERFORMANCE_ALERTS_BACKOFF_SECONDS": "0.05",
        "SHUTDOWN_GRACE_SECONDS": "1",
    }


class Replicas:
    def __init__(self, stubs: list[monitor_pb2_grpc.MonitorStub]) -> None:
        self.stubs = stubs

    async def report_pool(self, used: float) -> None:
        """The same report reaches both replicas, as from a service reporting to each."""
        telemetry = Telemetry()
        telemetry.set_gauge("pool_utilization", used, pool="bedrock")
        report = telemetry.take_report("analysis", "an-1")
        for stub in self.stubs:
            call = stub.Report()
            await call.write(report)
            await call.done_writing()
            assert (await call).accepted == 1


@asynccontextmanager
async def _start(env: dict[str, str], count: int) -> AsyncIterator[Replicas]:
    async with AsyncExitStack() as stack:
        stubs = []
        for _ in range(count):
            host, _core = await build_monitor(Settings.from_env(env))
            await host.start()
            stack.push_async_callback(host.stop)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{host.port}")
            stack.push_async_callback(channel.close)
            stubs.append(monitor_pb2_grpc.MonitorStub(channel))
        yield Replicas(stubs)


async def wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def by_channel(receiver: HttpReceiver) -> dict[str, list[str]]:
    """Delivered notifications per channel: Slack bodies have only text, webhooks a status."""
    out: dict[str, list[str]] = {"slack": [], "webhook": []}
    for body in receiver.delivered:
        if "status" in body:
            out["webhook"].append(body["status"])
        else:
            out["slack"].append("resolved" if body["text"].startswith("[RESOLVED") else "firing")
    return out


async def test_two_replicas_send_each_notification_once_per_channel(
    tmp_path, redis_url, http_receiver
):
    env = _env(tmp_path, redis_url, http_receiver.url, http_receiver.url + "/generic")
    async with _start(env, 2) as replicas:
        await replicas.report_pool(0.97)
        await wait_for(
            lambda: by_channel(http_receiver) == {"slack": ["firing"], "webhook": ["firing"]}
        )
        await replicas.report_pool(0.10)
        await wait_for(lambda: by_channel(http_receiver) == BOTH_ONCE)
        await asyncio.sleep(1.0)  # a late duplicate from the other replica would arrive by now
        assert by_channel(http_receiver) == BOTH_ONCE


async def test_a_failing_channel_recovers_without_loss_or_duplicates(
    tmp_path, redis_url, http_receiver
):
    # The first three posts fail (500, 429 with Retry-After, 500), whichever channel makes them.
    http_receiver.script = [(500, {}), (429, {"Retry-After": "1"}), (500, {})]
    env = _env(tmp_path, redis_url, http_receiver.url, http_receiver.url + "/generic")
    async with _start(env, 2) as replicas:
        await replicas.report_pool(0.97)
        await wait_for(
            lambda: by_channel(http_receiver) == {"slack": ["firing"], "webhook": ["firing"]}
        )
        await replicas.report_pool(0.10)
        await wait_for(lambda: by_channel(http_receiver) == BOTH_ONCE)
        await asyncio.sleep(1.0)
        assert by_channel(http_receiver) == BOTH_ONCE
    assert [r.status for r in http_receiver.received].count(200) == 4
    assert len(http_receiver.received) == 7


async def test_without_redis_both_replicas_send_at_least_once(tmp_path, http_receiver):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    env = _env(tmp_path, unreachable, http_receiver.url, http_receiver.url + "/generic")
    env["MONITOR_REDIS_TIMEOUT_MS"] = "200"
    async with _start(env, 2) as replicas:
        await replicas.report_pool(0.97)
        await wait_for(
            lambda: (
                by_channel(http_receiver) == {"slack": ["firing"] * 2, "webhook": ["firing"] * 2}
            )
        )
        # Silences are shared through Redis: without it, creating one is refused, not half-done.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await replicas.stubs[0].CreateSilence(
                monitor_pb2.CreateSilenceRequest(
                    matchers=[monitor_pb2.Matcher(name="pool", value="bedrock")],
                    duration_seconds=60,
                    author="ana",
                    reason="r",
                )
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_silence_made_on_one_replica_mutes_on_the_other(tmp_path, redis_url, http_receiver):
    env = _env(tmp_path, redis_url, http_receiver.url, http_receiver.url + "/generic")
    async with _start(env, 2) as replicas:
        a, b = replicas.stubs
        silence = await a.CreateSilence(
            monitor_pb2.CreateSilenceRequest(
                matchers=[monitor_pb2.Matcher(name="pool", value="bedrock")],
                duration_seconds=600,
                author="ana",
                reason="resizing",
            )
        )
        await replicas.report_pool(0.97)

        async def muted_on_b() -> bool:
            reply = await b.ListAlerts(monitor_pb2.ListAlertsRequest())
            return bool(reply.alerts) and all(
                list(x.silenced_by) == [silence.id] for x in reply.alerts
            )

        deadline = time.monotonic() + 10
        while not await muted_on_b():
            assert time.monotonic() < deadline, "the silence never reached replica b"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert http_receiver.received == []  # neither replica notified
        # Deleting it on b unmutes on both: exactly one notification per channel follows.
        await b.DeleteSilence(monitor_pb2.DeleteSilenceRequest(id=silence.id))
        await wait_for(
            lambda: by_channel(http_receiver) == {"slack": ["firing"], "webhook": ["firing"]}
        )
