"""Cache service settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.cache.ttl import TtlPolicy
from services.common.settings import CommonSettings, env_bool, env_float, env_int, env_str

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    redis_url: str  # REDIS_URL
    redis_max_connections: int  # REDIS_MAX_CONNECTIONS: bounded blocking pool
    redis_timeout_s: float  # REDIS_TIMEOUT_MS: per command and per connect
    breaker_failures: int  # REDIS_BREAKER_FAILURES: consecutive failures that open it
    breaker_cool_down_s: float  # REDIS_BREAKER_COOL_DOWN_MS: before a trial call
    ttl: TtlPolicy  # INTELLIGENT_CACHING_ENABLED, CACHE_TTL_* (seconds), CACHE_*_MIN_SCORE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        hour = 3600.0
        ttl = TtlPolicy(
            enabled=env_bool(environ, "INTELLIGENT_CACHING_ENABLED", True),
            high_min_score=env_int(environ, "CACHE_HIGH_MIN_SCORE", 90, minimum=2, maximum=100),
            high_ttl_s=env_float(environ, "CACHE_TTL_HIGH_SECONDS", 4 * hour, minimum=1),
            mid_min_score=env_int(environ, "CACHE_MID_MIN_SCORE", 70, minimum=1, maximum=98),
            mid_ttl_min_s=env_float(environ, "CACHE_TTL_MID_MIN_SECONDS", hour, minimum=1),
            mid_ttl_max_s=env_float(environ, "CACHE_TTL_MID_MAX_SECONDS", 2 * hour, minimum=1),
            low_ttl_s=env_float(environ, "CACHE_TTL_LOW_SECONDS", hour / 2, minimum=1),
            default_ttl_s=env_float(environ, "CACHE_DEFAULT_TTL_SECONDS", hour, minimum=1),
        )
        return cls(
            common=CommonSettings.from_env(environ, "CACHE", 50052, 9102),
            redis_url=env_str(environ, "REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_max_connections=env_int(environ, "REDIS_MAX_CONNECTIONS", 50, minimum=1),
            redis_timeout_s=env_float(environ, "REDIS_TIMEOUT_MS", 50, minimum=1) / 1000,
            breaker_failures=env_int(environ, "REDIS_BREAKER_FAILURES", 5, minimum=1),
            breaker_cool_down_s=env_float(environ, "REDIS_BREAKER_COOL_DOWN_MS", 2000, minimum=1)
            / 1000,
            ttl=ttl,
        )
