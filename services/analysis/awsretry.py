"""Deadline-aware retries for AWS throttling, with full jitter.

botocore's adaptive mode already retries (and rate-limits the client) a few times
inside one SDK call; when throttling outlasts that, this loop keeps retrying while
the step's deadline (``STEP_DEADLINE``) leaves room for the next wait, and otherwise
raises ``UpstreamThrottled`` (RESOURCE_EXHAUSTED) carrying the delay it would have
waited — never a DEADLINE_EXCEEDED that hides the real cause.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from services.analysis.awspool import Throttled
from services.analysis.errors import UpstreamThrottled
from services.analysis.provider import STEP_DEADLINE

__all__ = ["RetryPolicy", "retry_throttled"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.2
    max_s: float = 5.0
    max_attempts: int = 8
    # Keep this much of the step's time for the work after the call succeeds.
    reserve_s: float = 0.05


async def retry_throttled(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    attempt = 0
    last_delay = 0.0
    last: Throttled | None = None
    while True:
        deadline = STEP_DEADLINE.get()
        try:
            if attempt == 0 or deadline is None:
                return await call()
            # After a throttle, botocore's adaptive rate limiter may hold the next send
            # back; if that eats the rest of the step, the cause is still throttling.
            try:
                async with asyncio.timeout(max(0.0, deadline - clock() - policy.reserve_s)):
                    return await call()
            except TimeoutError:
                service, code = (last.service, last.code) if last else ("aws", "throttled")
                raise UpstreamThrottled(
                    f"{service} is throttling requests ({code}); the retry could not finish "
                    "before the deadline",
                    service=service,
                    retry_after_s=last_delay,
                ) from None
        except Throttled as exc:
            last = exc
            attempt += 1
            ceiling = min(policy.max_s, policy.base_s * 2 ** (attempt - 1))
            delay = rng.uniform(ceiling / 2, ceiling)
            last_delay = delay
            out_of_time = deadline is not None and clock() + delay + policy.reserve_s >= deadline
            if out_of_time or attempt >= policy.max_attempts:
                why = "before the deadline" if out_of_time else f"after {attempt} attempts"
                raise UpstreamThrottled(
                    f"{exc.service} is throttling requests ({exc.code}); gave up {why}",
                    service=exc.service,
                    retry_after_s=delay,
                ) from exc
            await sleep(delay)
