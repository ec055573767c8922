"""Long-lived, bounded boto3 clients: one per AWS service, shared by every analysis.

boto3 is synchronous, so each call runs on the pool's own worker threads (sized to
the pool's maximum, never the loop's small default executor). In front of the
threads sits an ``AdaptiveLimiter``: a fair asyncio bound whose size starts at
``PoolBounds.size`` and moves within ``[minimum, maximum]`` with demand. botocore's
``max_pool_connections`` is the maximum, so the HTTP pool never caps below the bound.

A slot is held until the SDK call really ends: when the awaiting task is cancelled,
the thread keeps running (a blocking socket cannot be interrupted), so the slot is
released only when the thread finishes. That is what keeps "calls in flight at the
endpoint ≤ pool size" true under cancellation.

Every API call is counted through a botocore ``before-call`` hook into the
``CallAccounting`` of the analysis that made it (found through a ContextVar copied
into the worker thread).

``pooled=False`` creates a new session and client per call and has no bound: the
seed's behaviour, kept only so the benchmark can compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.response import StreamingBody

from services.analysis.config import PoolBounds
from services.analysis.errors import AwsUnavailable
from services.analysis.provider import CallAccounting

__all__ = [
    "CURRENT_ACCOUNTING",
    "THROTTLE_CODES",
    "AdaptiveLimiter",
    "AwsClientPool",
    "ClientFactory",
    "PoolObserver",
    "Throttled",
]

CURRENT_ACCOUNTING: contextvars.ContextVar[CallAccounting | None] = contextvars.ContextVar(
    "aws_accounting", default=None
)

THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)

ClientFactory = Callable[[], Any]


class Throttled(Exception):
    """Internal signal: AWS said slow down. The retry loop decides what callers see."""

    def __init__(self, service: str, code: str, message: str) -> None:
        super().__init__(f"{service} throttled ({code}): {message}")
        self.service = service
        self.code = code


class PoolObserver(Protocol):
    def pool_level(self, pool: str, in_use: int, size: int) -> None: ...

    def pool_wait(self, pool: str, seconds: float) -> None: ...

    def pool_resized(self, pool: str, direction: str, size: int) -> None: ...

    def aws_call(self, service: str, operation: str) -> None: ...


@dataclass
class _Waiter:
    future: asyncio.Future[None]
    since: float


class AdaptiveLimiter:
    """A FIFO asyncio bound whose size adapts within [minimum, maximum].

    Every ``adjust_every_s`` (checked on acquire and release; no background task):
    if anyone waited longer than ``grow_after_s`` the size grows by a quarter (at
    least one); if the peak use in the window stayed at or below half the size it
    shrinks by one, never below the peak or the minimum.
    """

    def __init__(
        self,
        bounds: PoolBounds,
        *,
        clock: Callable[[], float] = time.monotonic,
        adjust_every_s: float = 5.0,
        grow_after_s: float = 0.05,
        on_resize: Callable[[str, int], None] = lambda direction, size: None,
    ) -> None:
        self.size = bounds.size
        self._min = bounds.minimum
        self._max = bounds.maximum
        self._clock = clock
        self._adjust_every_s = adjust_every_s
        self._grow_after_s = grow_after_s
        self._on_resize = on_resize
        self.in_use = 0
        self.peak_in_use = 0  # over the pool's life, for tests and the benchmark
        self._window_peak = 0
        self._window_started = clock()
        self._window_slow_wait = False
        self._waiters: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> float:
        """Take a slot; returns the seconds waited."""
        self._maybe_adjust()
        if self.in_use < self.size and not self._waiters:
            self._take()
            return 0.0
        started = self._clock()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), started)
        self._waiters.append(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self.release()
            elif waiter in self._waiters:  # _wake may already have dropped it
                self._waiters.remove(waiter)
            raise
        return self._clock() - started

    def release(self) -> None:
        self.in_use -= 1
        self._maybe_adjust()
        self._wake()

    def _take(self) -> None:
        self.in_use += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)
        self._window_peak = max(self._window_peak, self.in_use)

    def _wake(self) -> None:
        while self._waiters and self.in_use < self.size:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                # Counted in the window where the wait ends (before a window reset).
                if self._clock() - waiter.since > self._grow_after_s:
                    self._window_slow_wait = True
                self._take()
                waiter.future.set_result(None)

    def _maybe_adjust(self) -> None:
        now = self._clock()
        if now - self._window_started < self._adjust_every_s:
            return
        queued_long = any(now - w.since > self._grow_after_s for w in self._waiters)
        if (self._window_slow_wait or queued_long) and self.size < self._max:
            self.size = min(self._max, self.size + max(1, self.size // 4))
            self._on_resize("grow", self.size)
            self._wake()
        elif self._window_peak * 2 <= self.size and self.size > self._min:
            self.size = max(self._min, self._window_peak, self.size - 1)
            self._on_resize("shrink", self.size)
        self._window_started = now
        self._window_peak = self.in_use
        self._window_slow_wait = False


class AwsClientPool:
    """One AWS service's client(s), worker threads and bound."""

    def __init__(
        self,
        service: str,
        factory: ClientFactory,
        bounds: PoolBounds,
        *,
        pooled: bool,
        observer: PoolObserver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._factory = factory
        self._pooled = pooled
        self._observer = observer
        self._clock = clock
        self.limiter = AdaptiveLimiter(
            bounds,
            clock=clock,
            on_resize=lambda direction, size: observer.pool_resized(service, direction, size),
        )
        # Unpooled mode has no bound by design, but its threads still need a cap.
        workers = bounds.maximum if pooled else max(bounds.maximum, 256)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"aws-{service}")
        self._client: Any = self._new_client() if pooled else None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _new_client(self) -> Any:
        client = self._factory()
        client.meta.events.register("before-call.*.*", self._count_call)
        return client

    def _count_call(self, model: Any, **_: Any) -> None:
        operation = str(model.name)
        self._observer.aws_call(self.service, operation)
        accounting = CURRENT_ACCOUNTING.get()
        if accounting is not None:
            accounting.count_call(f"{self.service}.{operation}")

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run ``client.<operation>(**params)``; StreamingBody values come back as bytes.

        Raises Throttled, AwsUnavailable, or the SDK's ClientError for the caller to map.
        """
        if self._closed:
            raise AwsUnavailable(f"the {self.service} client pool is closed")
        if self._pooled:
            waited = await self.limiter.acquire()
            self._observer.pool_wait(self.service, waited)
            self._report_level()
            if waited:
                waiting_for = CURRENT_ACCOUNTING.get()
                if waiting_for is not None:
                    waiting_for.add(pool_wait_ms=waited * 1000)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        started = self._clock()
        work = self._executor.submit(context.run, self._invoke, operation, params)
        handed_off = False
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            if self._pooled:
                # The thread may still be talking to AWS: free the slot when it ends.
                handed_off = True
                work.add_done_callback(lambda _: self._release_from_thread(loop))
            raise
        finally:
            accounting = context.get(CURRENT_ACCOUNTING)
            if accounting is not None:
                accounting.add(aws_ms=(self._clock() - started) * 1000)
            if self._pooled and not handed_off:
                self._release()

    def _release_from_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        # The loop may be gone by the time a stranded call ends (shutdown): nothing to free.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self.limiter.release()
        self._report_level()

    def _report_level(self) -> None:
        self._observer.pool_level(self.service, self.limiter.in_use, self.limiter.size)

    def _invoke(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        client = self._client if self._pooled else self._new_client()
        try:
            response = self._timed_sdk_call(client, operation, params)
            return {
                key: value.read() if isinstance(value, StreamingBody) else value
                for key, value in response.items()
            }
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in THROTTLE_CODES or status == 429:
                raise Throttled(self.service, code or "429", str(error.get("Message", ""))) from exc
            if status >= 500:
                raise AwsUnavailable(
                    f"{self.service} {operation} failed with HTTP {status} ({code})",
                    retry_after_s=1.0,
                ) from exc
            raise
        except (
            EndpointConnectionError,
            ConnectTimeoutError,
            ReadTimeoutError,
            BotoConnectionError,
        ) as exc:
            raise AwsUnavailable(f"{self.service} {operation}: {exc}", retry_after_s=1.0) from exc
        except BotoCoreError as exc:
            raise AwsUnavailable(f"{self.service} {operation}: {exc}") from exc
        finally:
            if not self._pooled:
                client.close()

    def _timed_sdk_call(
        self, client: Any, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        started = self._clock()
        try:
            response: dict[str, Any] = getattr(client, operation)(**params)
            return response
        finally:
            # This thread runs in a copy of the caller's context, so this is its analysis.
            accounting = CURRENT_ACCOUNTING.get()
            if accounting is not None:
                accounting.add(aws_sdk_ms=(self._clock() - started) * 1000)

    async def aclose(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
