"""Monitor settings, read once from the environment (docs/monitor.md has the table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.settings import (
    CommonSettings,
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
)

__all__ = ["AwsSettings", "NotifySettings", "Settings", "cli_author", "cli_monitor_address"]


def _optional(environ: Mapping[str, str], name: str) -> str | None:
    value = env_str(environ, name, "")
    return value or None


@dataclass(frozen=True)
class AwsSettings:
    region: str  # AWS_REGION (then AWS_DEFAULT_REGION), default us-east-1
    ses_endpoint: str | None  # AWS_ENDPOINT_URL_SES (then AWS_ENDPOINT_URL)
    sns_endpoint: str | None  # AWS_ENDPOINT_URL_SNS (then AWS_ENDPOINT_URL)
    cloudwatch_endpoint: str | None  # AWS_ENDPOINT_URL_CLOUDWATCH (then AWS_ENDPOINT_URL)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AwsSettings:
        shared = _optional(environ, "AWS_ENDPOINT_URL")
        return cls(
            region=env_str(
                environ, "AWS_REGION", env_str(environ, "AWS_DEFAULT_REGION", "us-east-1")
            ),
            ses_endpoint=_optional(environ, "AWS_ENDPOINT_URL_SES") or shared,
            sns_endpoint=_optional(environ, "AWS_ENDPOINT_URL_SNS") or shared,
            cloudwatch_endpoint=_optional(environ, "AWS_ENDPOINT_URL_CLOUDWATCH") or shared,
        )


@dataclass(frozen=True)
class NotifySettings:
    slack_webhook: str | None  # PERFORMANCE_ALERTS_SLACK_WEBHOOK
    webhook: str | None  # PERFORMANCE_ALERTS_WEBHOOK: generic JSON webhook
    email: str | None  # PERFORMANCE_ALERTS_EMAIL: the recipient
    email_from: str  # PERFORMANCE_ALERTS_EMAIL_FROM: the sender (verified in SES)
    email_transport: str  # PERFORMANCE_ALERTS_EMAIL_TRANSPORT: auto | smtp | ses
    smtp_host: str | None  # PERFORMANCE_ALERTS_SMTP_HOST
    smtp_port: int  # PERFORMANCE_ALERTS_SMTP_PORT
    ses_rate_per_s: float  # PERFORMANCE_ALERTS_SES_RATE: the account's SES send rate
    topic_arn: str | None  # PERFORMANCE_ALERTS_TOPIC_ARN: SNS topic
    cloudwatch: bool  # PERFORMANCE_ALERTS_CLOUDWATCH: alert states as CloudWatch metrics
    cloudwatch_namespace: str  # OPPSUITE_CLOUDWATCH_NAMESPACE (never AWS/...)
    cloudwatch_interval_s: float  # CLOUDWATCH_PUBLISH_INTERVAL_SECONDS: performance metrics
    slack_interval_s: float  # PERFORMANCE_ALERTS_SLACK_INTERVAL_SECONDS: pacing
    timeout_s: float  # PERFORMANCE_ALERTS_TIMEOUT_SECONDS: per send attempt
    max_attempts: int  # PERFORMANCE_ALERTS_MAX_ATTEMPTS: then dead letter
    backoff_initial_s: float  # PERFORMANCE_ALERTS_BACKOFF_SECONDS: doubled per attempt
    backoff_max_s: float  # PERFORMANCE_ALERTS_BACKOFF_MAX_SECONDS (also caps Retry-After)
    queue_size: int  # PERFORMANCE_ALERTS_QUEUE_SIZE: per channel

    @property
    def use_smtp(self) -> bool:
        if self.email_transport == "auto":
            return self.smtp_host is not None
        return self.email_transport == "smtp"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> NotifySettings:
        namespace = env_str(environ, "OPPSUITE_CLOUDWATCH_NAMESPACE", "OppSuite/Performance")
        if namespace.startswith("AWS/"):
            raise SettingsError(
                "OPPSUITE_CLOUDWATCH_NAMESPACE must not start with 'AWS/' (reserved for AWS), "
                f"got {namespace!r}"
            )
        transport = env_choice(
            environ, "PERFORMANCE_ALERTS_EMAIL_TRANSPORT", "auto", {"auto", "smtp", "ses"}
        )
        smtp_host = _optional(environ, "PERFORMANCE_ALERTS_SMTP_HOST")
        if transport == "smtp" and smtp_host is None:
            raise SettingsError(
                "PERFORMANCE_ALERTS_EMAIL_TRANSPORT=smtp needs PERFORMANCE_ALERTS_SMTP_HOST"
            )
        return cls(
            slack_webhook=_optional(environ, "PERFORMANCE_ALERTS_SLACK_WEBHOOK"),
            webhook=_optional(environ, "PERFORMANCE_ALERTS_WEBHOOK"),
            email=_optional(environ, "PERFORMANCE_ALERTS_EMAIL"),
            email_from=env_str(
                environ, "PERFORMANCE_ALERTS_EMAIL_FROM", "oppsuite-alerts@example.com"
            ),
            email_transport=transport,
            smtp_host=smtp_host,
            smtp_port=env_int(
                environ, "PERFORMANCE_ALERTS_SMTP_PORT", 25, minimum=1, maximum=65535
            ),
            ses_rate_per_s=env_float(environ, "PERFORMANCE_ALERTS_SES_RATE", 1.0, minimum=0.01),
            topic_arn=_optional(environ, "PERFORMANCE_ALERTS_TOPIC_ARN"),
            cloudwatch=env_bool(environ, "PERFORMANCE_ALERTS_CLOUDWATCH", False),
            cloudwatch_namespace=namespace,
            cloudwatch_interval_s=env_float(
                environ, "CLOUDWATCH_PUBLISH_INTERVAL_SECONDS", 60.0, minimum=1.0
            ),
            slack_interval_s=env_float(
                environ, "PERFORMANCE_ALERTS_SLACK_INTERVAL_SECONDS", 1.0, minimum=0.0
            ),
            timeout_s=env_float(environ, "PERFORMANCE_ALERTS_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            max_attempts=env_int(environ, "PERFORMANCE_ALERTS_MAX_ATTEMPTS", 8, minimum=1),
            backoff_initial_s=env_float(
                environ, "PERFORMANCE_ALERTS_BACKOFF_SECONDS", 1.0, minimum=0.0
            ),
            backoff_max_s=env_float(
                environ, "PERFORMANCE_ALERTS_BACKOFF_MAX_SECONDS", 60.0, minimum=0.0
            ),
            queue_size=env_int(environ, "PERFORMANCE_ALERTS_QUEUE_SIZE", 1000, minimum=1),
        )


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    stale_after_s: float  # MONITOR_STALE_AFTER_SECONDS: forget an instance's gauges after this
    rules_file: str | None  # ALERT_RULES_FILE: overrides the shipped rules.yaml
    eval_interval_s: float  # ALERT_EVAL_INTERVAL_SECONDS: how often rules are evaluated
    repeat_cooldown_s: float  # ALERT_REPEAT_COOLDOWN_SECONDS: re-notify a firing group after
    redis_url: str | None  # REDIS_URL: the claim log ("" = single replica, no claims)
    redis_timeout_s: float  # MONITOR_REDIS_TIMEOUT_MS: per claim; past it, send anyway
    daily_budget_usd: float  # COST_BUDGET_DAILY_USD (0 = none)
    monthly_budget_usd: float  # COST_BUDGET_MONTHLY_USD (0 = none)
    anomaly_min_traffic: float  # ANOMALY_MIN_TRAFFIC: requests per minute to score anomalies
    step_thresholds_ms: dict[
        str, float
    ]  # QUERY_GENERATION_TIMEOUT, DATA_RETRIEVAL_TIMEOUT, ANALYSIS_TIMEOUT
    notify: NotifySettings
    aws: AwsSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            common=CommonSettings.from_env(environ, "MONITOR", 50054, 9104),
            stale_after_s=env_float(environ, "MONITOR_STALE_AFTER_SECONDS", 15, minimum=1),
            rules_file=_optional(environ, "ALERT_RULES_FILE"),
            eval_interval_s=env_float(environ, "ALERT_EVAL_INTERVAL_SECONDS", 5.0, minimum=0.05),
            repeat_cooldown_s=env_float(
                environ, "ALERT_REPEAT_COOLDOWN_SECONDS", 300.0, minimum=1.0
            ),
            redis_url=(
                None
                if environ.get("REDIS_URL") is not None and environ["REDIS_URL"].strip() == ""
                else env_str(environ, "REDIS_URL", "redis://127.0.0.1:6379/0")
            ),
            redis_timeout_s=env_float(environ, "MONITOR_REDIS_TIMEOUT_MS", 500.0, minimum=1.0)
            / 1000,
            daily_budget_usd=env_float(environ, "COST_BUDGET_DAILY_USD", 0.0, minimum=0.0),
            monthly_budget_usd=env_float(environ, "COST_BUDGET_MONTHLY_USD", 0.0, minimum=0.0),
            anomaly_min_traffic=env_float(environ, "ANOMALY_MIN_TRAFFIC", 20.0, minimum=0.0),
            step_thresholds_ms={
                "query_generation": env_float(environ, "QUERY_GENERATION_TIMEOUT", 5000, minimum=1),
                "data_retrieval": env_float(environ, "DATA_RETRIEVAL_TIMEOUT", 10000, minimum=1),
                "analysis": env_float(environ, "ANALYSIS_TIMEOUT", 15000, minimum=1),
            },
            notify=NotifySettings.from_env(environ),
            aws=AwsSettings.from_env(environ),
        )


def cli_monitor_address(environ: Mapping[str, str]) -> str:
    """OPPSUITE_MONITOR: where `oppsuite alerts` finds the monitor."""
    return env_str(environ, "OPPSUITE_MONITOR", "127.0.0.1:50054")


def cli_author(environ: Mapping[str, str]) -> str:
    """OPPSUITE_USER, else USER: the default author of `oppsuite alerts silence create`."""
    return env_str(environ, "OPPSUITE_USER", env_str(environ, "USER", ""))
