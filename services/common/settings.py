"""Typed reading of environment variables, so each service's settings fail at start
with a message naming the variable instead of misbehaving later.

Each service has a frozen ``Settings`` dataclass with ``from_env(environ)``; only
its ``__main__`` passes ``os.environ``, tests pass plain dicts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CommonSettings",
    "SettingsError",
    "env_bool",
    "env_float",
    "env_int",
    "env_str",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def env_str(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    _check_range(name, value, minimum, maximum)
    return value


def env_float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    _check_range(name, value, minimum, maximum)
    return value


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def env_choice(environ: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env_str(environ, name, default).lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be <= {maximum}, got {value}")


@dataclass(frozen=True)
class CommonSettings:
    """What every service reads. ``prefix`` is the service's name in upper case."""

    host: str  # <PREFIX>_HOST: interface the gRPC server binds
    port: int  # <PREFIX>_PORT: gRPC port (0 = pick a free one)
    metrics_port: int  # <PREFIX>_METRICS_PORT: Prometheus /metrics (0 = any free, -1 = off)
    monitor_address: str  # MONITOR_ADDRESS: where metric deltas go ("" = nowhere)
    grace_s: float  # SHUTDOWN_GRACE_SECONDS: drain time after SIGTERM
    max_connection_age_s: float  # GRPC_MAX_CONNECTION_AGE_SECONDS: so clients rebalance
    instance: str  # INSTANCE_NAME: this replica's name in metrics
    log_level: str  # LOG_LEVEL

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], prefix: str, default_port: int, default_metrics: int
    ) -> CommonSettings:
        return cls(
            host=env_str(environ, f"{prefix}_HOST", "127.0.0.1"),
            port=env_int(environ, f"{prefix}_PORT", default_port, minimum=0, maximum=65535),
            metrics_port=env_int(
                environ, f"{prefix}_METRICS_PORT", default_metrics, minimum=-1, maximum=65535
            ),
            monitor_address=env_str(environ, "MONITOR_ADDRESS", "127.0.0.1:50054"),
            grace_s=env_float(environ, "SHUTDOWN_GRACE_SECONDS", 20.0, minimum=0.0),
            max_connection_age_s=env_float(
                environ, "GRPC_MAX_CONNECTION_AGE_SECONDS", 300.0, minimum=1.0
            ),
            instance=env_str(environ, "INSTANCE_NAME", f"{socket.gethostname()}:{os.getpid()}"),
            log_level=env_str(environ, "LOG_LEVEL", "INFO").upper(),
        )
