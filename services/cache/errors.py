"""Errors of the cache service.

DependencyUnavailable (services.common.errors)   UNAVAILABLE
├── TierUnavailable          a tier is unreachable, throttled, or its breaker is open
└── WarmFailed               the analysis service could not re-analyse an entry
ValueError
└── CorruptEntry             stored bytes that do not decode; never leaves the store
"""

from __future__ import annotations

from services.common.errors import DependencyUnavailable

__all__ = ["CorruptEntry", "TierUnavailable", "WarmFailed"]


class TierUnavailable(DependencyUnavailable):
    """A cache tier could not be reached in time, or its circuit breaker is open."""

    def __init__(self, message: str, *, tier: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.tier = tier


class WarmFailed(DependencyUnavailable):
    """Re-analysing an entry for warming failed (analysis down, slow or erroring)."""


class CorruptEntry(ValueError):
    """Stored bytes that do not decode to a CacheEntry; the store treats it as a miss."""
