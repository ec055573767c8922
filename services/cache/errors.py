"""Errors of the cache service.

DependencyUnavailable (services.common.errors)   UNAVAILABLE
├── TierUnavailable          a tier is unreachable, throttled, or its breaker is open
└── WarmFailed               the analysis service could not re-analyse an entry
FailedPrecondition (services.common.errors)      FAILED_PRECONDITION
└── TierNotConfigured        a request names a tier this cache runs without
ValueError
└── CorruptEntry             stored bytes that do not decode; never leaves the store
"""

from __future__ import annotations

from services.common.errors import DependencyUnavailable, FailedPrecondition

__all__ = ["CorruptEntry", "TierNotConfigured", "TierUnavailable", "WarmFailed"]


class TierUnavailable(DependencyUnavailable):
    """A cache tier could not be reached in time, or its circuit breaker is open."""

    def __init__(self, message: str, *, tier: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.tier = tier


class TierNotConfigured(FailedPrecondition):
    """E.g. an Invalidate of the DynamoDB tier on a cache with CACHE_DYNAMODB_ENABLED=false."""


class WarmFailed(DependencyUnavailable):
    """Re-analysing an entry for warming failed (analysis down, slow or erroring)."""


class CorruptEntry(ValueError):
    """Stored bytes that do not decode to a CacheEntry; the store treats it as a miss."""
