"""The gateway's own errors, each a subclass of the shared tree so the one mapping
table (services.common.errors.STATUS_BY_ERROR) gives its status:

    Overloaded (RESOURCE_EXHAUSTED + RetryInfo + QuotaFailure)
    ├── RateLimited            a client or the global GCRA limit fired
    └── QueueFull              the admission queue is full, or a waiter timed out in it
    DeadlineExceeded (DEADLINE_EXCEEDED)
    └── DeadlineUnreachable    decided at enqueue: position ÷ drain rate > the deadline
    DependencyUnavailable (UNAVAILABLE + RetryInfo)
    ├── Draining               this replica is shutting down; another one will answer
    └── LimiterUnavailable     Redis is down and RATE_LIMIT_FAIL_MODE=closed
"""

from __future__ import annotations

from services.common.errors import DeadlineExceeded, DependencyUnavailable, Overloaded

__all__ = [
    "DeadlineUnreachable",
    "Draining",
    "LimiterUnavailable",
    "QueueFull",
    "RateLimited",
]


class RateLimited(Overloaded):
    pass


class QueueFull(Overloaded):
    pass


class DeadlineUnreachable(DeadlineExceeded):
    pass


class Draining(DependencyUnavailable):
    pass


class LimiterUnavailable(DependencyUnavailable):
    pass
