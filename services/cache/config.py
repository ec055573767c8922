"""Cache service settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from services.cache import envelope
from services.cache.census import CensusPolicy
from services.cache.maintenance import WarmPolicy
from services.cache.store import StoreOptions
from services.cache.ttl import TtlPolicy
from services.common.settings import (
    CommonSettings,
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
)

__all__ = ["DynamoSettings", "Settings", "cli_cache_address"]


@dataclass(frozen=True)
class DynamoSettings:
    enabled: bool  # CACHE_DYNAMODB_ENABLED: false = Redis only
    table: str  # CACHE_DYNAMODB_TABLE
    create_table: bool  # CACHE_DYNAMODB_CREATE_TABLE: create it (with TTL) when missing
    region: str  # AWS_REGION, else AWS_DEFAULT_REGION
    # AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL; None lets boto3 resolve it.
    endpoint_url: str | None
    timeout_s: float  # CACHE_DYNAMODB_TIMEOUT_MS: a request-path call's budget
    batch_deadline_s: float  # CACHE_DYNAMODB_BATCH_DEADLINE_MS: batches incl. retries
    connect_timeout_s: float  # CACHE_DYNAMODB_CONNECT_TIMEOUT_MS (botocore)
    read_timeout_s: float  # CACHE_DYNAMODB_READ_TIMEOUT_MS (botocore)
    max_attempts: int  # CACHE_DYNAMODB_MAX_ATTEMPTS: botocore adaptive retries
    pool_size: int  # CACHE_DYNAMODB_POOL_SIZE: max_pool_connections = thread bound
    queue_max: int  # CACHE_L2_QUEUE_MAX: writes waiting while DynamoDB is down


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    redis_url: str  # REDIS_URL
    redis_cluster: bool  # REDIS_CLUSTER (or a redis+cluster:// URL)
    redis_max_connections: int  # REDIS_MAX_CONNECTIONS: bounded blocking pool
    redis_timeout_s: float  # REDIS_TIMEOUT_MS: per command and per connect
    breaker_failures: int  # REDIS_BREAKER_FAILURES: consecutive failures that open it
    breaker_cool_down_s: float  # REDIS_BREAKER_COOL_DOWN_MS: before a trial call
    ttl: TtlPolicy  # INTELLIGENT_CACHING_ENABLED, CACHE_TTL_* (seconds), CACHE_*_MIN_SCORE
    dynamodb: DynamoSettings
    store: StoreOptions  # CACHE_XFETCH_BETA, CACHE_L1_MAX_TTL_SECONDS, ...
    warming_enabled: bool  # CACHE_WARMING_ENABLED: periodic re-analysis of top keys
    warm_from_l2_on_start: bool  # CACHE_WARM_FROM_L2_ON_START
    warm: WarmPolicy
    census: CensusPolicy  # CACHE_ENTRY_COUNT_INTERVAL_SECONDS, CACHE_ENTRY_COUNT_LIMIT
    analysis_address: str  # ANALYSIS_ADDRESS: for warming by re-analysis

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        redis_url = env_str(environ, "REDIS_URL", "redis://127.0.0.1:6379/0")
        cluster = env_bool(environ, "REDIS_CLUSTER", False)
        if redis_url.startswith("redis+cluster://"):
            cluster, redis_url = True, "redis://" + redis_url[len("redis+cluster://") :]
        return cls(
            common=CommonSettings.from_env(environ, "CACHE", 50052, 9102),
            redis_url=redis_url,
            redis_cluster=cluster,
            redis_max_connections=env_int(environ, "REDIS_MAX_CONNECTIONS", 50, minimum=1),
            redis_timeout_s=env_float(environ, "REDIS_TIMEOUT_MS", 50, minimum=1) / 1000,
            breaker_failures=env_int(environ, "REDIS_BREAKER_FAILURES", 5, minimum=1),
            breaker_cool_down_s=env_float(environ, "REDIS_BREAKER_COOL_DOWN_MS", 2000, minimum=1)
            / 1000,
            ttl=_ttl(environ),
            dynamodb=_dynamodb(environ),
            store=_store(environ),
            warming_enabled=env_bool(environ, "CACHE_WARMING_ENABLED", False),
            warm_from_l2_on_start=env_bool(environ, "CACHE_WARM_FROM_L2_ON_START", True),
            warm=_warm(environ),
            census=_census(environ),
            analysis_address=env_str(environ, "ANALYSIS_ADDRESS", "127.0.0.1:50053"),
        )


def _ttl(environ: Mapping[str, str]) -> TtlPolicy:
    hour = 3600.0
    try:
        return TtlPolicy(
            enabled=env_bool(environ, "INTELLIGENT_CACHING_ENABLED", True),
            high_min_score=env_int(environ, "CACHE_HIGH_MIN_SCORE", 90, minimum=2, maximum=100),
            high_ttl_s=env_float(environ, "CACHE_TTL_HIGH_SECONDS", 4 * hour, minimum=1),
            mid_min_score=env_int(environ, "CACHE_MID_MIN_SCORE", 70, minimum=1, maximum=98),
            mid_ttl_min_s=env_float(environ, "CACHE_TTL_MID_MIN_SECONDS", hour, minimum=1),
            mid_ttl_max_s=env_float(environ, "CACHE_TTL_MID_MAX_SECONDS", 2 * hour, minimum=1),
            low_ttl_s=env_float(environ, "CACHE_TTL_LOW_SECONDS", hour / 2, minimum=1),
            default_ttl_s=env_float(environ, "CACHE_DEFAULT_TTL_SECONDS", hour, minimum=1),
        )
    except ValueError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"CACHE_TTL_* / CACHE_*_MIN_SCORE: {exc}") from exc


def _dynamodb(environ: Mapping[str, str]) -> DynamoSettings:
    endpoint = environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL")
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return DynamoSettings(
        enabled=env_bool(environ, "CACHE_DYNAMODB_ENABLED", True),
        table=env_str(environ, "CACHE_DYNAMODB_TABLE", "oppsuite-cache"),
        create_table=env_bool(environ, "CACHE_DYNAMODB_CREATE_TABLE", True),
        region=region.strip(),
        endpoint_url=endpoint.strip() if endpoint and endpoint.strip() else None,
        timeout_s=env_float(environ, "CACHE_DYNAMODB_TIMEOUT_MS", 150, minimum=1) / 1000,
        batch_deadline_s=env_float(environ, "CACHE_DYNAMODB_BATCH_DEADLINE_MS", 2000, minimum=1)
        / 1000,
        connect_timeout_s=env_float(environ, "CACHE_DYNAMODB_CONNECT_TIMEOUT_MS", 500, minimum=1)
        / 1000,
        read_timeout_s=env_float(environ, "CACHE_DYNAMODB_READ_TIMEOUT_MS", 1000, minimum=1) / 1000,
        max_attempts=env_int(environ, "CACHE_DYNAMODB_MAX_ATTEMPTS", 3, minimum=1, maximum=10),
        pool_size=env_int(environ, "CACHE_DYNAMODB_POOL_SIZE", 16, minimum=1, maximum=256),
        queue_max=env_int(environ, "CACHE_L2_QUEUE_MAX", 1000, minimum=1),
    )


def _store(environ: Mapping[str, str]) -> StoreOptions:
    return StoreOptions(
        l1_max_ttl_s=env_float(environ, "CACHE_L1_MAX_TTL_SECONDS", 4 * 3600.0, minimum=1),
        xfetch_beta=env_float(environ, "CACHE_XFETCH_BETA", 1.0, minimum=0.0, maximum=100.0),
        l2_queue_max=env_int(environ, "CACHE_L2_QUEUE_MAX", 1000, minimum=1),
        popularity_capacity=env_int(environ, "CACHE_POPULARITY_CAPACITY", 512, minimum=1),
        hit_flush_interval_s=env_float(
            environ, "CACHE_HIT_FLUSH_INTERVAL_SECONDS", 5.0, minimum=0.1, maximum=3600.0
        ),
        compression=cast(
            envelope.Codec, env_choice(environ, "CACHE_COMPRESSION", "zstd", set(envelope.CODECS))
        ),
    )


def _census(environ: Mapping[str, str]) -> CensusPolicy:
    return CensusPolicy(
        interval_s=env_float(environ, "CACHE_ENTRY_COUNT_INTERVAL_SECONDS", 60.0, minimum=1.0),
        redis_limit=env_int(environ, "CACHE_ENTRY_COUNT_LIMIT", 100_000, minimum=1),
    )


def _warm(environ: Mapping[str, str]) -> WarmPolicy:
    return WarmPolicy(
        top_k=env_int(environ, "CACHE_WARM_TOP_K", 20, minimum=1, maximum=10_000),
        budget_s=env_float(environ, "CACHE_WARM_BUDGET_SECONDS", 60.0, minimum=0.001),
        window_s=env_float(environ, "CACHE_WARM_WINDOW_SECONDS", 900.0, minimum=0.0),
        interval_s=env_float(environ, "CACHE_WARM_INTERVAL_SECONDS", 300.0, minimum=1.0),
        start_max_entries=env_int(environ, "CACHE_WARM_START_MAX_ENTRIES", 1000, minimum=0),
        cleanup_max_entries=env_int(environ, "CACHE_CLEANUP_MAX_ENTRIES", 100, minimum=1),
        cleanup_min_score=env_float(
            environ, "CACHE_CLEANUP_MIN_SCORE", 25.0, minimum=0.0, maximum=100.0
        ),
        cleanup_scan_limit=env_int(environ, "CACHE_CLEANUP_SCAN_LIMIT", 10_000, minimum=1),
    )


def cli_cache_address(environ: Mapping[str, str]) -> str:
    """Where `oppsuite warm` and `oppsuite cleanup` find the cache (CACHE_ADDRESS)."""
    return env_str(environ, "CACHE_ADDRESS", "127.0.0.1:50052")
