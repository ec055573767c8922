"""Monitor settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.settings import CommonSettings, env_float

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    stale_after_s: float  # MONITOR_STALE_AFTER_SECONDS: forget an instance's gauges after this

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            common=CommonSettings.from_env(environ, "MONITOR", 50054, 9104),
            stale_after_s=env_float(environ, "MONITOR_STALE_AFTER_SECONDS", 15, minimum=1),
        )
