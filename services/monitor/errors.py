"""Errors the monitor raises on purpose (mapped to gRPC in services.common.errors).

OppsuiteError
├── NotFound
│   └── SilenceNotFound        DeleteSilence of an unknown or expired id
└── Overloaded
    ├── TooManySilences        the bound on active silences is reached
    └── WatcherLagging         a WatchAlerts stream fell too far behind and was cut
"""

from __future__ import annotations

from services.common.errors import NotFound, Overloaded

__all__ = ["SilenceNotFound", "TooManySilences", "WatcherLagging"]


class SilenceNotFound(NotFound):
    pass


class TooManySilences(Overloaded):
    def __init__(self, message: str) -> None:
        super().__init__(message, limit="silences", subject="monitor", retry_after_s=60.0)


class WatcherLagging(Overloaded):
    def __init__(self, message: str) -> None:
        super().__init__(message, limit="watch_queue", subject="monitor", retry_after_s=1.0)
