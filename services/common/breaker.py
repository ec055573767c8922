"""The circuit breaker every adapter to a network dependency uses (the cache's Redis and
DynamoDB tiers, the gateway's rate-limiter Redis), so a dead backend costs callers
nothing but a check.

    CLOSED --N consecutive failures--> OPEN --cool-down elapsed--> HALF_OPEN
    HALF_OPEN --success--> CLOSED;  HALF_OPEN --failure--> OPEN (cool-down restarts)

In HALF_OPEN a single probe is let through at a time, so a recovering backend is
not stampeded by every waiting caller. A probe whose outcome is never recorded (its
caller was cancelled) stops blocking others after another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cool_down_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or cool_down_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and cool_down_s > 0")
        self.failure_threshold = failure_threshold
        self.cool_down_s = cool_down_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        self._refresh()
        return self._state

    @property
    def is_open(self) -> bool:
        """True from the moment it opens until a call succeeds again (OPEN or HALF_OPEN)."""
        return self.state is not BreakerState.CLOSED

    def retry_after_s(self) -> float:
        """Seconds until the next probe is allowed (0 unless open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cool_down_s - self._clock())

    def allow(self) -> bool:
        """Whether a call may go to the backend now."""
        self._refresh()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return False
        now = self._clock()
        stale = (
            self._probe_started_at is not None and now - self._probe_started_at >= self.cool_down_s
        )
        if self._probe_started_at is None or stale:
            self._probe_started_at = now
            return True
        return False

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_started_at = None

    def record_failure(self) -> None:
        self._refresh()
        if self._state is BreakerState.HALF_OPEN:
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()
        # Already OPEN: late failures of calls started before it opened change nothing.

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probe_started_at = None

    def _refresh(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cool_down_s:
            self._state = BreakerState.HALF_OPEN
            self._probe_started_at = None
