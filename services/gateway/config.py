"""Gateway settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.settings import (
    CommonSettings,
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
)

__all__ = ["LimitSpec", "Settings", "parse_limit_overrides"]


@dataclass(frozen=True)
class LimitSpec:
    """A GCRA limit: ``per_minute`` sustained, ``burst`` admitted at once from idle."""

    per_minute: float
    burst: int

    def describe(self) -> str:
        return f"{self.per_minute:g}/min burst {self.burst}"


def parse_limit_overrides(spec: str) -> dict[str, LimitSpec]:
    """``CLIENT_LIMIT_OVERRIDES="crm=600/100,batch=60/10"`` → per-client limits."""
    overrides: dict[str, LimitSpec] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        client, sep, limit = item.partition("=")
        rate, slash, burst = limit.partition("/")
        try:
            parsed = LimitSpec(float(rate), int(burst))
        except ValueError:
            parsed = LimitSpec(0, 0)
        if not sep or not slash or not client.strip() or parsed.per_minute <= 0:
            raise SettingsError(
                f"CLIENT_LIMIT_OVERRIDES entries must be client=<per minute>/<burst>, got {item!r}"
            )
        if parsed.burst < 1:
            raise SettingsError(f"CLIENT_LIMIT_OVERRIDES burst must be >= 1 in {item!r}")
        overrides[client.strip()] = parsed
    return overrides


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    api_keys: str  # GATEWAY_API_KEYS: "client=key,client2=key2" (a bare key is allowed)
    api_key_file: Path  # OPPSUITE_API_KEY_FILE: used when GATEWAY_API_KEYS is unset
    cache_address: str  # CACHE_ADDRESS
    analysis_address: str  # ANALYSIS_ADDRESS
    cache_timeout_s: float  # CACHE_TIMEOUT_MS: per cache call; past it the cache is skipped
    cache_put_timeout_s: float  # CACHE_PUT_TIMEOUT_MS
    cache_get_batch_max: int  # CACHE_GET_BATCH_MAX: lookups per BatchGet under load; 1 = off
    default_deadline_s: float  # REQUEST_DEADLINE_SECONDS: when the caller sets no deadline
    monitor_timeout_s: float  # MONITOR_TIMEOUT_MS: GetPerformance's call to the monitor
    # Rate limits (GCRA in Redis, shared by every replica).
    redis_url: str = "redis://127.0.0.1:6379/0"  # REDIS_URL: the limiter's and pub/sub's Redis
    redis_timeout_s: float = 0.05  # RATE_LIMIT_REDIS_TIMEOUT_MS: per limiter round trip
    global_limit: LimitSpec = LimitSpec(1000, 200)  # RATE_LIMIT_PER_MINUTE / BURST_CAPACITY
    client_limit: LimitSpec = LimitSpec(300, 60)  # CLIENT_RATE_LIMIT_PER_MINUTE / _BURST_
    client_overrides: dict[str, LimitSpec] = field(default_factory=dict)
    replicas: int = 1  # GATEWAY_REPLICAS: local buckets get limit ÷ replicas when Redis is down
    fail_mode: str = "open"  # RATE_LIMIT_FAIL_MODE: open (local buckets) | closed (reject)
    shadow: bool = False  # RATE_LIMIT_SHADOW: decide and count, never reject
    limiter_enabled: bool = True  # RATE_LIMIT_ENABLED
    # Admission.
    max_concurrent: int = 100  # MAX_CONCURRENT_REQUESTS: analyses in flight per replica
    max_queue: int = 500  # MAX_QUEUE_SIZE
    queue_timeout_s: float = 60.0  # QUEUE_TIMEOUT_MS
    # Cross-replica coalescing through the cache's lease.
    lease_ttl_ms: int = 30000  # LEASE_TTL_MS: renewed every third of it while computing
    # Near cache.
    near_max_entries: int = 2000  # NEAR_CACHE_MAX_ENTRIES
    near_ttl_s: float = 5.0  # NEAR_CACHE_TTL_MS (0 = off)
    near_unsubscribed_ttl_s: float = 1.0  # NEAR_CACHE_UNSUBSCRIBED_TTL_MS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            common=CommonSettings.from_env(environ, "GATEWAY", 50051, 9101),
            api_keys=env_str(environ, "GATEWAY_API_KEYS", ""),
            api_key_file=Path(env_str(environ, "OPPSUITE_API_KEY_FILE", ".oppsuite/api-key")),
            cache_address=env_str(environ, "CACHE_ADDRESS", "127.0.0.1:50052"),
            analysis_address=env_str(environ, "ANALYSIS_ADDRESS", "127.0.0.1:50053"),
            cache_timeout_s=env_float(environ, "CACHE_TIMEOUT_MS", 250, minimum=1) / 1000,
            cache_put_timeout_s=env_float(environ, "CACHE_PUT_TIMEOUT_MS", 1000, minimum=1) / 1000,
            cache_get_batch_max=env_int(
                environ, "CACHE_GET_BATCH_MAX", 16, minimum=1, maximum=1000
            ),
            default_deadline_s=env_float(environ, "REQUEST_DEADLINE_SECONDS", 180, minimum=1),
            monitor_timeout_s=env_float(environ, "MONITOR_TIMEOUT_MS", 2000, minimum=1) / 1000,
            redis_url=env_str(environ, "REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_timeout_s=env_float(
                environ, "RATE_LIMIT_REDIS_TIMEOUT_MS", 50, minimum=1, maximum=5000
            )
            / 1000,
            global_limit=LimitSpec(
                env_float(environ, "RATE_LIMIT_PER_MINUTE", 1000, minimum=0.001),
                env_int(environ, "BURST_CAPACITY", 200, minimum=1),
            ),
            client_limit=LimitSpec(
                env_float(environ, "CLIENT_RATE_LIMIT_PER_MINUTE", 300, minimum=0.001),
                env_int(environ, "CLIENT_BURST_CAPACITY", 60, minimum=1),
            ),
            client_overrides=parse_limit_overrides(env_str(environ, "CLIENT_LIMIT_OVERRIDES", "")),
            replicas=env_int(environ, "GATEWAY_REPLICAS", 1, minimum=1),
            fail_mode=env_choice(environ, "RATE_LIMIT_FAIL_MODE", "open", {"open", "closed"}),
            shadow=env_bool(environ, "RATE_LIMIT_SHADOW", False),
            limiter_enabled=env_bool(environ, "RATE_LIMIT_ENABLED", True),
            max_concurrent=env_int(environ, "MAX_CONCURRENT_REQUESTS", 100, minimum=1),
            max_queue=env_int(environ, "MAX_QUEUE_SIZE", 500, minimum=0),
            queue_timeout_s=env_float(environ, "QUEUE_TIMEOUT_MS", 60000, minimum=1) / 1000,
            lease_ttl_ms=env_int(environ, "LEASE_TTL_MS", 30000, minimum=1000),
            near_max_entries=env_int(environ, "NEAR_CACHE_MAX_ENTRIES", 2000, minimum=1),
            near_ttl_s=env_float(environ, "NEAR_CACHE_TTL_MS", 5000, minimum=0) / 1000,
            near_unsubscribed_ttl_s=env_float(
                environ, "NEAR_CACHE_UNSUBSCRIBED_TTL_MS", 1000, minimum=0
            )
            / 1000,
        )
