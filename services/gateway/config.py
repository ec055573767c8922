"""Gateway settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import CommonSettings, env_float, env_str

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    api_keys: str  # GATEWAY_API_KEYS: "client=key,client2=key2" (a bare key is allowed)
    api_key_file: Path  # OPPSUITE_API_KEY_FILE: used when GATEWAY_API_KEYS is unset
    cache_address: str  # CACHE_ADDRESS
    analysis_address: str  # ANALYSIS_ADDRESS
    cache_timeout_s: float  # CACHE_TIMEOUT_MS: per cache call; past it the cache is skipped
    cache_put_timeout_s: float  # CACHE_PUT_TIMEOUT_MS
    default_deadline_s: float  # REQUEST_DEADLINE_SECONDS: when the caller sets no deadline
    monitor_timeout_s: float  # MONITOR_TIMEOUT_MS: GetPerformance's call to the monitor

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
            default_deadline_s=env_float(environ, "REQUEST_DEADLINE_SECONDS", 180, minimum=1),
            monitor_timeout_s=env_float(environ, "MONITOR_TIMEOUT_MS", 2000, minimum=1) / 1000,
        )
