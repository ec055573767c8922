"""A minimal circuit breaker for the limiter's Redis, so a dead Redis costs a request
a flag check instead of a timeout.

    CLOSED --``threshold`` consecutive failures--> OPEN
    OPEN --``cool_down_s`` elapsed--> one probe call allowed (the others stay local)
    probe succeeds --> CLOSED;  probe fails --> OPEN again
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Breaker"]


class Breaker:
    def __init__(
        self,
        *,
        threshold: int = 3,
        cool_down_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._cool_down_s = cool_down_s
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self.opened_total = 0

    @property
    def is_open(self) -> bool:
        return self._failures >= self._threshold

    def allow(self) -> bool:
        """True when a call may go to the backend now (closed, or time for one probe)."""
        if not self.is_open:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        # Let exactly one caller probe per cool-down; the rest keep failing fast.
        self._open_until = now + self._cool_down_s
        return True

    def retry_after_s(self) -> float:
        return max(0.0, self._open_until - self._clock()) if self.is_open else 0.0

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self) -> None:
        was_open = self.is_open
        self._failures += 1
        if self.is_open and not was_open:
            self.opened_total += 1
            self._open_until = self._clock() + self._cool_down_s
