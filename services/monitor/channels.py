"""The notification channels: Slack and generic webhooks (HTTP), email (SMTP or the SES
API), SNS and CloudWatch. Each translates its transport's failures into DeliveryError
(retryable or not, with Retry-After when the receiver gave one) at this seam.

Blocking clients (urllib, smtplib, boto3) run in a worker thread under a timeout, so
a slow receiver never blocks the event loop and never hangs a worker.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from services.monitor.alerts import Notification
from services.monitor.dispatch import DeliveryError
from services.monitor.messages import notification_json, render_text, render_title

__all__ = [
    "CloudWatchChannel",
    "SesChannel",
    "SlackChannel",
    "SmtpChannel",
    "SnsChannel",
    "WebhookChannel",
    "retry_after_seconds",
]

_T = TypeVar("_T")
_RETRYABLE_AWS = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
}
_CLOUDWATCH_BATCH = 20  # metrics per PutMetricData call; the API's historical per-call limit


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from ``now``."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


async def _in_thread(call: Callable[[], _T], timeout_s: float) -> _T:
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(call)
    except TimeoutError as exc:
        raise DeliveryError(f"no answer within {timeout_s:.1f} s", retryable=True) from exc


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "oppsuite-monitor"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        retry_after = retry_after_seconds(exc.headers.get("Retry-After"), time.time())
        retryable = exc.code == 429 or exc.code >= 500
        raise DeliveryError(
            f"HTTP {exc.code} from the receiver", retryable=retryable, retry_after_s=retry_after
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"cannot reach the receiver: {exc}", retryable=True) from exc


class SlackChannel:
    """Slack incoming webhook; Slack allows about one message per second per webhook."""

    name = "slack"

    def __init__(self, url: str, *, timeout_s: float = 5.0, min_interval_s: float = 1.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self.min_interval_s = min_interval_s

    async def send(self, notification: Notification) -> None:
        body = {"text": render_text(notification)}
        await _in_thread(lambda: _post_json(self._url, body, self._timeout_s), self._timeout_s + 1)


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 5.0, min_interval_s: float = 0.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self.min_interval_s = min_interval_s

    async def send(self, notification: Notification) -> None:
        body = notification_json(notification)
        await _in_thread(lambda: _post_json(self._url, body, self._timeout_s), self._timeout_s + 1)


class SmtpChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipient: str,
        timeout_s: float = 10.0,
        min_interval_s: float = 1.0,
    ) -> None:
        self._address = (host, port)
        self._sender = sender
        self._recipient = recipient
        self._timeout_s = timeout_s
        self.min_interval_s = min_interval_s

    async def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = self._recipient
        message["Subject"] = render_title(notification)
        message.set_content(render_text(notification))
        await _in_thread(lambda: self._send(message), self._timeout_s + 1)

    def _send(self, message: EmailMessage) -> None:
        host, port = self._address
        try:
            with smtplib.SMTP(host, port, timeout=self._timeout_s) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            # 4xx are transient by definition (RFC 5321); 5xx are permanent.
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP failed: {exc}", retryable=True) from exc


def _aws_error(exc: Exception, what: str) -> DeliveryError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        retryable = code in _RETRYABLE_AWS or status >= 500 or status == 429
        return DeliveryError(f"{what}: {code}", retryable=retryable)
    return DeliveryError(f"{what}: {exc}", retryable=True)


class SesChannel:
    """Email through the SES API; paced at the account's send rate (sandbox: 1/s)."""

    name = "email"

    def __init__(
        self,
        client: Any,
        *,
        sender: str,
        recipient: str,
        send_rate_per_s: float = 1.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._client = client
        self._sender = sender
        self._recipient = recipient
        self._timeout_s = timeout_s
        self.min_interval_s = 1.0 / send_rate_per_s

    async def send(self, notification: Notification) -> None:
        subject, body = render_title(notification), render_text(notification)

        def call() -> None:
            try:
                self._client.send_email(
                    Source=self._sender,
                    Destination={"ToAddresses": [self._recipient]},
                    Message={
                        "Subject": {"Data": subject[:998], "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                    },
                )
            except (ClientError, BotoCoreError) as exc:
                raise _aws_error(exc, "SES SendEmail") from exc

        await _in_thread(call, self._timeout_s)


class SnsChannel:
    name = "sns"

    def __init__(
        self, client: Any, topic_arn: str, *, timeout_s: float = 10.0, min_interval_s: float = 0.0
    ) -> None:
        self._client = client
        self._topic_arn = topic_arn
        self._timeout_s = timeout_s
        self.min_interval_s = min_interval_s

    async def send(self, notification: Notification) -> None:
        subject, body = render_title(notification), render_text(notification)

        def call() -> None:
            try:
                self._client.publish(
                    TopicArn=self._topic_arn,
                    Subject=subject[:100],  # SNS rejects longer subjects
                    Message=body,
                    MessageAttributes={
                        "status": {"DataType": "String", "StringValue": notification.kind},
                        "group": {"DataType": "String", "StringValue": notification.group},
                    },
                )
            except (ClientError, BotoCoreError) as exc:
                raise _aws_error(exc, "SNS Publish") from exc

        await _in_thread(call, self._timeout_s)


class CloudWatchChannel:
    """Alert states as custom metrics: ``AlertState`` 1 (firing) / 0 (resolved).

    Dimensions are the rule's name, severity and group only: all come from the rules
    file, so their number is bounded; subject labels (pool, step, service) are not used.
    Also puts performance metrics (``put_metrics``), batched.
    """

    name = "cloudwatch"

    def __init__(
        self, client: Any, namespace: str, *, timeout_s: float = 10.0, min_interval_s: float = 0.0
    ) -> None:
        if not namespace or namespace.startswith("AWS/"):
            raise ValueError("a CloudWatch custom namespace must not start with 'AWS/'")
        self._client = client
        self.namespace = namespace
        self._timeout_s = timeout_s
        self.min_interval_s = min_interval_s

    async def send(self, notification: Notification) -> None:
        value = 1.0 if notification.kind == "firing" else 0.0
        seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        for alert in notification.alerts:
            rule = alert.rule
            seen[(rule.name, rule.severity, rule.group)] = {
                "MetricName": "AlertState",
                "Dimensions": [
                    {"Name": "AlertName", "Value": rule.name},
                    {"Name": "Severity", "Value": rule.severity},
                    {"Name": "Group", "Value": rule.group},
                ],
                "Timestamp": notification.at,
                "Value": value,
                "Unit": "None",
            }
        await self.put_metrics(list(seen.values()))

    async def put_metrics(self, metrics: list[dict[str, Any]]) -> None:
        for start in range(0, len(metrics), _CLOUDWATCH_BATCH):
            batch = metrics[start : start + _CLOUDWATCH_BATCH]

            def call(batch: list[dict[str, Any]] = batch) -> None:
                try:
                    self._client.put_metric_data(Namespace=self.namespace, MetricData=batch)
                except (ClientError, BotoCoreError) as exc:
                    raise _aws_error(exc, "CloudWatch PutMetricData") from exc

            await _in_thread(call, self._timeout_s)
