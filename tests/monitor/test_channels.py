"""Channels against real receivers on loopback: an HTTP server (Slack and webhook, with 429 +
Retry-After and 500s), an SMTP server (aiosmtpd), and moto in server mode (SES, SNS,
CloudWatch). Workers run with short backoffs so retries take milliseconds."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller

from services.monitor.alerts import Alert, Notification, State, fingerprint
from services.monitor.channels import (
    CloudWatchChannel,
    SesChannel,
    SlackChannel,
    SmtpChannel,
    SnsChannel,
    WebhookChannel,
    retry_after_seconds,
)
from services.monitor.dispatch import Channel, ChannelWorker, DeadLetter, LocalClaimer
from services.monitor.rules import load_rules
from tests.conftest import free_port
from tests.monitor.conftest import HttpReceiver

RULES = {r.key: r for r in load_rules(None)}
SINCE = 1_767_225_600.0


def notification(kind: str = "firing", pool: str = "bedrock", value: float = 0.97) -> Notification:
    rule = RULES["HighPoolUtilization/critical"]
    subject = {"pool": pool}
    alert = Alert(
        rule,
        subject,
        fingerprint(rule, subject),
        State.FIRING if kind == "firing" else State.RESOLVED,
        value,
        SINCE - 60,
        SINCE,
        firing_since=SINCE,
        resolved_at=SINCE + 600 if kind == "resolved" else 0.0,
    )
    return Notification("pools", kind, (alert,), SINCE, f"digest-{pool}")


def worker(channel: Channel, **options: Any) -> tuple[ChannelWorker, deque[DeadLetter]]:
    dead: deque[DeadLetter] = deque(maxlen=100)
    options = {"backoff_initial_s": 0.05, "backoff_max_s": 5.0, "max_attempts": 4, **options}
    return ChannelWorker(channel, LocalClaimer(), dead, **options), dead


async def deliver(channel: Channel, *notifications: Notification, **options: Any):
    w, dead = worker(channel, **options)
    w.start()
    for n in notifications:
        w.offer(n)
    assert await w.idle(30.0), "the worker did not finish"
    await w.stop()
    return w, dead


async def test_slack_honours_retry_after_then_retries_a_500_and_delivers_once(
    http_receiver: HttpReceiver,
):
    http_receiver.script = [(429, {"Retry-After": "1"}), (500, {})]
    started = time.monotonic()
    w, dead = await deliver(SlackChannel(http_receiver.url, min_interval_s=0.0), notification())
    assert [r.status for r in http_receiver.received] == [429, 500, 200]
    assert time.monotonic() - started >= 1.0  # waited the Retry-After, not the 50 ms backoff
    [body] = http_receiver.delivered
    text = body["text"]
    assert "[FIRING CRITICAL] oppsuite pools: HighPoolUtilization" in text
    assert "(pool=bedrock)" in text and "Value 97.0%" in text and "above 95.0%" in text
    assert "since 2026-01-01 00:00:00 UTC" in text and "Look at: the pool named" in text
    assert (w.stats.sent, w.stats.retries, list(dead)) == (1, 2, [])


async def test_webhook_gets_the_structured_notification(http_receiver: HttpReceiver):
    await deliver(WebhookChannel(http_receiver.url), notification("resolved", value=0.4))
    [body] = http_receiver.delivered
    assert body["status"] == "resolved" and body["group"] == "pools"
    [alert] = body["alerts"]
    assert alert["labels"] == {
        "alertname": "HighPoolUtilization",
        "severity": "critical",
        "group": "pools",
        "pool": "bedrock",
    }
    assert (alert["value"], alert["threshold"], alert["state"]) == (0.4, 0.95, "resolved")


async def test_a_permanent_rejection_is_dead_lettered_without_retrying(
    http_receiver: HttpReceiver,
):
    http_receiver.script = [(400, {})]
    w, dead = await deliver(WebhookChannel(http_receiver.url), notification())
    [letter] = dead
    assert (letter.channel, letter.attempts, letter.reason) == (
        "webhook",
        1,
        "HTTP 400 from the receiver",
    )
    assert len(http_receiver.received) == 1 and w.stats.dead == 1


async def test_retries_run_out_into_the_dead_letter_record(http_receiver: HttpReceiver):
    http_receiver.script = [(503, {})] * 10
    _, dead = await deliver(WebhookChannel(http_receiver.url), notification(), max_attempts=3)
    [letter] = dead
    assert letter.attempts == 3 and letter.key == "pools:firing:digest-bedrock"
    assert len(http_receiver.received) == 3


async def test_an_unreachable_receiver_is_retried_then_dead_lettered():
    url = f"http://127.0.0.1:{free_port()}/nobody"
    _, dead = await deliver(WebhookChannel(url, timeout_s=1.0), notification(), max_attempts=2)
    [letter] = dead
    assert "cannot reach the receiver" in letter.reason and letter.attempts == 2


async def test_slack_is_paced(http_receiver: HttpReceiver):
    channel = SlackChannel(http_receiver.url, min_interval_s=0.3)
    started = time.monotonic()
    await deliver(channel, *(notification(pool=f"p{i}") for i in range(3)))
    assert len(http_receiver.delivered) == 3
    assert time.monotonic() - started >= 0.6


async def test_a_full_queue_dead_letters_instead_of_growing(http_receiver: HttpReceiver):
    w, dead = worker(WebhookChannel(http_receiver.url), max_queue=2)
    for i in range(4):  # the worker is not started: the queue holds two
        w.offer(notification(pool=f"p{i}"))
    assert [d.reason for d in dead] == ["queue full", "queue full"]


def test_retry_after_as_an_http_date():
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", SINCE) == pytest.approx(30.0)
    assert retry_after_seconds("7", SINCE) == 7.0
    assert retry_after_seconds("soon", SINCE) is None


class _Inbox:
    def __init__(self, refuse_first: int = 0) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.refuse = refuse_first

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8"))
        )
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox(refuse_first=1)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


async def test_email_over_smtp_retries_a_transient_refusal(smtp_server):
    controller, inbox = smtp_server
    channel = SmtpChannel(
        "127.0.0.1",
        controller.port,
        sender="alerts@oppsuite.test",
        recipient="oncall@oppsuite.test",
        min_interval_s=0.0,
    )
    w, dead = await deliver(channel, notification())
    [(sender, recipients, content)] = inbox.messages
    assert (sender, recipients) == ("alerts@oppsuite.test", ["oncall@oppsuite.test"])
    assert "Subject: [FIRING CRITICAL] oppsuite pools: HighPoolUtilization" in content
    assert "Value 97.0%" in content
    assert w.stats.retries == 1 and not dead


def _client(service: str, aws_env: Any) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=aws_env.endpoint)


async def test_email_through_the_ses_api(aws_env):
    ses = _client("ses", aws_env)
    ses.verify_email_identity(EmailAddress="alerts@oppsuite.test")
    before = ses.get_send_quota()["SentLast24Hours"]
    channel = SesChannel(
        ses, sender="alerts@oppsuite.test", recipient="oncall@oppsuite.test", send_rate_per_s=20
    )
    w, dead = await deliver(channel, notification(), notification("resolved"))
    assert ses.get_send_quota()["SentLast24Hours"] == before + 2
    assert w.stats.sent == 2 and not dead


async def test_ses_rejection_is_permanent(aws_env):
    ses = _client("ses", aws_env)
    channel = SesChannel(ses, sender="unverified@nowhere.test", recipient="x@y.test")
    _, dead = await deliver(channel, notification())
    [letter] = dead
    assert letter.attempts == 1 and "SES SendEmail" in letter.reason


async def test_sns_publishes_to_the_topic(aws_env):
    sns, sqs = _client("sns", aws_env), _client("sqs", aws_env)
    topic = sns.create_topic(Name="oppsuite-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    await deliver(SnsChannel(sns, topic), notification())
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"].startswith("[FIRING CRITICAL] oppsuite pools")
    assert "Value 97.0%" in envelope["Message"]


async def test_cloudwatch_gets_alert_states_in_a_custom_namespace(aws_env):
    cloudwatch = _client("cloudwatch", aws_env)
    channel = CloudWatchChannel(cloudwatch, "OppSuite/Test")
    await deliver(channel, notification())
    [metric] = cloudwatch.list_metrics(Namespace="OppSuite/Test")["Metrics"]
    assert metric["MetricName"] == "AlertState"
    assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {
        "AlertName": "HighPoolUtilization",
        "Severity": "critical",
        "Group": "pools",
    }


async def test_cloudwatch_batches_large_puts(aws_env):
    cloudwatch = _client("cloudwatch", aws_env)
    channel = CloudWatchChannel(cloudwatch, "OppSuite/Batch")
    metrics = [
        {"MetricName": f"M{i}", "Value": float(i), "Unit": "Count", "Timestamp": time.time()}
        for i in range(45)
    ]
    await channel.put_metrics(metrics)
    names = {
        m["MetricName"] for m in cloudwatch.list_metrics(Namespace="OppSuite/Batch")["Metrics"]
    }
    assert len(names) == 45


def test_cloudwatch_refuses_an_aws_namespace():
    with pytest.raises(ValueError, match="AWS/"):
        CloudWatchChannel(object(), "AWS/EC2")


async def test_a_stopping_worker_dead_letters_what_it_could_not_send(http_receiver):
    w, dead = worker(WebhookChannel(http_receiver.url))
    w.offer(notification())
    await w.stop()
    assert [d.reason for d in dead] == ["monitor stopped before sending"]
    await asyncio.sleep(0)


async def test_performance_metrics_reach_cloudwatch_once_per_period(aws_env, redis_url, clock):
    from redis.asyncio import Redis

    from services.monitor.aggregator import Aggregator
    from services.monitor.claims import RedisClaimer
    from services.monitor.cloudwatch import CloudWatchPublisher
    from tests.monitor.conftest import traffic

    cloudwatch = _client("cloudwatch", aws_env)
    namespace = f"OppSuite/Perf{int(clock.now)}"
    channel = CloudWatchChannel(cloudwatch, namespace)
    aggregator = Aggregator(clock)
    aggregator.ingest(traffic(clock, latency_ms=250.0, steps={"analysis": (900.0, 0)}))
    claimers = [RedisClaimer(Redis.from_url(redis_url), cooldown_s=300) for _ in range(2)]
    try:
        replicas = [
            CloudWatchPublisher(channel, aggregator, clock, c.claim_key, interval_s=60)
            for c in claimers
        ]
        assert [await p.publish_once() for p in replicas] == [True, False]
        clock.advance(60)
        aggregator.ingest(traffic(clock, latency_ms=250.0))
        assert [await p.publish_once() for p in reversed(replicas)] == [True, False]
    finally:
        for c in claimers:
            await c.aclose()
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"RequestLatencyP95", "ErrorRate", "CacheHitRate", "StepLatencyP95"} <= names
    step = next(m for m in listed if m["MetricName"] == "StepLatencyP95")
    assert step["Dimensions"] == [{"Name": "Step", "Value": "analysis"}]
    stats = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="RequestLatencyP95",
        StartTime=clock.now - 3600,
        EndTime=clock.now + 3600,
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(d["SampleCount"] for d in stats) == 2  # two periods, one put each
    assert max(d["Maximum"] for d in stats) == pytest.approx(250.0, rel=0.01)
