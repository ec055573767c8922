"""SendTestAlert over real gRPC, through the monitor's real channel workers, to real HTTP
receivers on loopback: delivered, retried, failed, pending, and the request errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc
import pytest

from services.client import field_violations
from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.common.server import ServiceHost
from services.monitor.app import build_monitor
from services.monitor.config import Settings
from services.monitor.core import MonitorCore
from services.monitor.messages import notification_json, render_text
from services.monitor.testalert import make_test_notification
from services.ops.alert_inbox import AlertInbox
from tests.monitor.conftest import HttpReceiver
from tests.servicers import running

Stub = monitor_pb2_grpc.MonitorStub


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "MONITOR_PORT": "0",
            "MONITOR_METRICS_PORT": "-1",
            "REDIS_URL": "",
            "ALERT_EVAL_INTERVAL_SECONDS": "60",
            "PERFORMANCE_ALERTS_BACKOFF_SECONDS": "0.05",
            "PERFORMANCE_ALERTS_BACKOFF_MAX_SECONDS": "0.2",
            "PERFORMANCE_ALERTS_MAX_ATTEMPTS": "3",
            "PERFORMANCE_ALERTS_TIMEOUT_SECONDS": "2",
            **env,
        }
    )


@asynccontextmanager
async def monitor(**env: str) -> AsyncIterator[tuple[Stub, ServiceHost, MonitorCore]]:
    cores: list[MonitorCore] = []

    async def build() -> ServiceHost:
        host, core = await build_monitor(settings(**env))
        cores.append(core)
        return host

    async with running(build) as host:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{host.port}") as channel:
            yield Stub(channel), host, cores[0]


def sample(host: ServiceHost) -> Callable[..., float | None]:
    return host.registry.get_sample_value


async def test_a_test_alert_reaches_a_real_webhook_and_is_not_an_alert(
    http_receiver: HttpReceiver,
) -> None:
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, host, _):
        reply = await stub.SendTestAlert(
            monitor_pb2.SendTestAlertRequest(requested_by="pytest"), timeout=10
        )
        [delivery] = reply.deliveries
        assert (delivery.channel, delivery.delivered, delivery.attempts) == ("webhook", True, 1)
        assert not delivery.pending and not delivery.error and delivery.latency_ms > 0
        [body] = http_receiver.delivered
        assert body["test_id"] == reply.test_id and len(reply.test_id) == 16
        assert body["status"] == "test" and body["title"].startswith("[TEST] ")
        assert "not a real alert" in body["title"] and "pytest" in body["text"]
        [alert] = body["alerts"]
        assert alert["severity"] == "info" and alert["name"] == "OppsuiteTestAlert"
        assert alert["labels"]["test_id"] == reply.test_id
        # Never an alert: not listed, not counted as one; counted as a delivery.
        listed = await stub.ListAlerts(monitor_pb2.ListAlertsRequest(include_resolved=True))
        assert list(listed.alerts) == []
        value = sample(host)
        assert value("oppsuite_notifications_total", {"channel": "webhook", "outcome": "sent"}) == 1
        labels = {"channel": "webhook", "outcome": "delivered"}
        assert value("oppsuite_test_notifications_total", labels) == 1


async def test_each_test_alert_has_its_own_id(http_receiver: HttpReceiver) -> None:
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        first = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
        second = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
    assert first.test_id != second.test_id
    assert [b["test_id"] for b in http_receiver.delivered] == [first.test_id, second.test_id]


async def test_a_silence_does_not_mute_a_test_alert(http_receiver: HttpReceiver) -> None:
    """Silences mute a rule's alerts; a test checks the channel (docs/monitor.md)."""
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        await stub.CreateSilence(
            monitor_pb2.CreateSilenceRequest(
                matchers=[monitor_pb2.Matcher(name="alertname", value=".*", regex=True)],
                duration_seconds=600,
                author="pytest",
                reason="everything muted",
            )
        )
        reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
    assert reply.deliveries[0].delivered
    assert [b["test_id"] for b in http_receiver.delivered] == [reply.test_id]


async def test_a_5xx_is_retried_and_then_delivered(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [(503, {}), (500, {})]
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, host, _):
        reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
        labels = {"channel": "webhook", "outcome": "retried"}
        assert sample(host)("oppsuite_notifications_total", labels) == 2
    [delivery] = reply.deliveries
    assert delivery.delivered and delivery.attempts == 3 and not delivery.error
    assert [r.status for r in http_receiver.received] == [503, 500, 200]


async def test_a_failing_receiver_is_retried_then_reported_not_delivered(
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.script = [(500, {})] * 3  # PERFORMANCE_ALERTS_MAX_ATTEMPTS=3
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, host, core):
        reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
        value = sample(host)
        assert (
            value("oppsuite_test_notifications_total", {"channel": "webhook", "outcome": "failed"})
            == 1
        )
        assert (
            value("oppsuite_notifications_total", {"channel": "webhook", "outcome": "dead_letter"})
            == 1
        )
        assert core.dispatcher is not None
        [dead] = core.dispatcher.dead_letters
        assert dead.key == f"test:test:{reply.test_id}" and dead.attempts == 3
    [delivery] = reply.deliveries
    assert not delivery.delivered and not delivery.pending and delivery.attempts == 3
    assert delivery.error == "HTTP 500 from the receiver"
    assert [r.status for r in http_receiver.received] == [500, 500, 500]


async def test_a_permanent_failure_is_not_retried(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [(404, {})]
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
    [delivery] = reply.deliveries
    assert not delivery.delivered and delivery.attempts == 1
    assert delivery.error == "HTTP 404 from the receiver"


async def test_an_outcome_not_known_within_the_wait_is_reported_pending(
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.script = [(500, {})]
    async with monitor(
        PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url,
        PERFORMANCE_ALERTS_BACKOFF_SECONDS="5",
        PERFORMANCE_ALERTS_BACKOFF_MAX_SECONDS="5",
    ) as (stub, _, _):
        reply = await stub.SendTestAlert(
            monitor_pb2.SendTestAlertRequest(wait_seconds=1), timeout=10
        )
    [delivery] = reply.deliveries
    assert delivery.pending and not delivery.delivered and delivery.attempts == 1
    assert "no outcome yet" in delivery.error and "HTTP 500" in delivery.error
    assert 900 <= delivery.latency_ms < 5000


async def test_the_callers_deadline_bounds_the_wait(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [(500, {})]
    async with monitor(
        PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url,
        PERFORMANCE_ALERTS_BACKOFF_SECONDS="5",
        PERFORMANCE_ALERTS_BACKOFF_MAX_SECONDS="5",
    ) as (stub, _, _):
        reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=1.5)
    assert reply.deliveries[0].pending  # answered before the deadline, not DEADLINE_EXCEEDED


async def test_an_unknown_channel_is_invalid_argument(http_receiver: HttpReceiver) -> None:
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendTestAlert(
                monitor_pb2.SendTestAlertRequest(channels=["webhook", "pager"]), timeout=10
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(raised.value)
    assert set(violations) == {"channels[1]"}
    assert "unknown channel 'pager'" in violations["channels[1]"]
    assert "slack, webhook, email, sns, cloudwatch" in violations["channels[1]"]
    assert http_receiver.received == []


@pytest.mark.parametrize(
    ("field", "request_"),
    [
        ("wait_seconds", monitor_pb2.SendTestAlertRequest(wait_seconds=301)),
        ("wait_seconds", monitor_pb2.SendTestAlertRequest(wait_seconds=-1)),
        ("wait_seconds", monitor_pb2.SendTestAlertRequest(wait_seconds=float("nan"))),
        ("requested_by", monitor_pb2.SendTestAlertRequest(requested_by="x" * 129)),
        ("channels", monitor_pb2.SendTestAlertRequest(channels=["webhook"] * 6)),
    ],
)
async def test_out_of_range_requests_are_invalid_argument(
    http_receiver: HttpReceiver, field: str, request_: monitor_pb2.SendTestAlertRequest
) -> None:
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendTestAlert(request_, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(raised.value)) == {field}


async def test_no_channel_configured_is_failed_precondition_naming_the_variables() -> None:
    async with monitor() as (stub, _, _):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = raised.value.details() or ""
    assert "no alert channel is configured" in details
    assert "PERFORMANCE_ALERTS_WEBHOOK" in details and "PERFORMANCE_ALERTS_SLACK_WEBHOOK" in details


async def test_a_known_channel_that_is_not_configured_is_failed_precondition(
    http_receiver: HttpReceiver,
) -> None:
    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (stub, _, _):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SendTestAlert(
                monitor_pb2.SendTestAlertRequest(channels=["slack"]), timeout=10
            )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "set PERFORMANCE_ALERTS_SLACK_WEBHOOK" in (raised.value.details() or "")


async def test_only_the_named_channels_are_sent_to(http_receiver: HttpReceiver) -> None:
    """Slack and the webhook both configured (two receivers' worth on one server): naming
    the webhook sends there only."""
    slack_url = http_receiver.url.replace("/hook", "/slack")
    async with monitor(
        PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url,
        PERFORMANCE_ALERTS_SLACK_WEBHOOK=slack_url,
        PERFORMANCE_ALERTS_SLACK_INTERVAL_SECONDS="0",
    ) as (stub, _, _):
        only = await stub.SendTestAlert(
            monitor_pb2.SendTestAlertRequest(channels=["webhook"]), timeout=10
        )
        assert [d.channel for d in only.deliveries] == ["webhook"]
        assert len(http_receiver.received) == 1
        both = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
    assert sorted(d.channel for d in both.deliveries) == ["slack", "webhook"]
    assert all(d.delivered for d in both.deliveries)
    slack_text = [b["text"] for b in http_receiver.delivered if set(b) == {"text"}]
    assert len(slack_text) == 1 and both.test_id in slack_text[0]


async def test_the_alert_inbox_receives_the_test_alert_from_the_monitor(tmp_path) -> None:
    """The `oppsuite up` round trip in one process: monitor webhook -> local alert inbox."""
    seen: list[dict[str, object]] = []
    inbox = AlertInbox(log_file=tmp_path / "alerts.jsonl", on_alert=seen.append)
    url = inbox.start()
    try:
        async with monitor(PERFORMANCE_ALERTS_WEBHOOK=url) as (stub, _, _):
            reply = await stub.SendTestAlert(monitor_pb2.SendTestAlertRequest(), timeout=10)
        [record] = inbox.received(reply.test_id)
        assert record["body"]["status"] == "test" and seen == [record["body"]]
        assert reply.test_id in (tmp_path / "alerts.jsonl").read_text()
    finally:
        inbox.stop()


def test_the_text_channels_say_it_is_a_test() -> None:
    notification = make_test_notification("abc123", 1_767_225_600.0, "oppsuite validate")
    text = render_text(notification)
    assert text.startswith("[TEST] oppsuite test alert abc123: not a real alert")
    assert "for oppsuite validate" in text and "No action needed" in text
    assert notification_json(notification)["test_id"] == "abc123"


async def test_the_alerts_test_command_prints_each_outcome(
    http_receiver: HttpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    async with monitor(PERFORMANCE_ALERTS_WEBHOOK=http_receiver.url) as (_, host, _):
        target = f"127.0.0.1:{host.port}"
        code = await asyncio.to_thread(main, ["alerts", "--monitor", target, "test"])
        assert code == 0
        out = capsys.readouterr().out
        assert out.startswith("test alert ") and "webhook    delivered" in out
        http_receiver.script = [(404, {})]
        code = await asyncio.to_thread(
            main, ["alerts", "--monitor", target, "test", "--channel", "webhook"]
        )
        assert code == 1 and "NOT delivered" in capsys.readouterr().out
        code = await asyncio.to_thread(
            main, ["alerts", "--monitor", target, "test", "--channel", "slack"]
        )
        assert code == 1 and "FAILED_PRECONDITION" in capsys.readouterr().err
