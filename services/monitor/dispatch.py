"""Fan-out of notifications to channels: one bounded queue and one worker per channel.

For each notification a worker (1) claims it for its receiver in the claim log
(Redis ``SET NX PX``; a claim another replica holds means that replica sends it, so
this one skips), (2) waits for the channel's pacing interval, (3) sends, retrying
retryable failures with capped exponential backoff and jitter, or exactly the
channel's Retry-After when it gave one, and (4) after ``max_attempts`` or a permanent
failure writes a dead-letter record (bounded, logged, counted). A full queue also
dead-letters, so nothing is dropped silently. The claim is taken once, before the
first attempt: retries by the claimer never reach the channel twice for one success.

Every queued notification has a ``Delivery`` record (attempts, last error, outcome);
``submit`` returns it so a caller can wait for the outcome (SendTestAlert does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.monitor.alerts import Notification

__all__ = [
    "Channel",
    "ChannelWorker",
    "Claimer",
    "DeadLetter",
    "Delivery",
    "DeliveryError",
    "Dispatcher",
    "LocalClaimer",
]

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed. ``retryable`` says whether trying again may help."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    name: str  # the receiver: slack, webhook, email, sns, cloudwatch
    min_interval_s: float  # pacing: at most one send per interval

    async def send(self, notification: Notification) -> None: ...


class Claimer(Protocol):
    async def claim(self, receiver: str, notification: Notification) -> bool:
        """True when this replica should send (it won the claim, or no claim log is reachable)."""
        ...


class LocalClaimer:
    """Single replica: every notification is ours."""

    async def claim(self, receiver: str, notification: Notification) -> bool:
        return True


@dataclass(frozen=True)
class DeadLetter:
    channel: str
    key: str
    reason: str
    attempts: int
    at: float
    notification: Notification


@dataclass
class ChannelStats:
    sent: int = 0
    retries: int = 0
    suppressed: int = 0  # another replica held the claim
    dead: int = 0
    tests_delivered: int = 0  # synthetic test notifications (also counted in sent / dead)
    tests_failed: int = 0


@dataclass
class Delivery:
    """How far one notification got on one channel. ``finished`` is set once the
    outcome is known: delivered, dead-lettered, or suppressed by another replica's claim."""

    channel: str
    queued_at: float  # the worker's clock (monotonic)
    attempts: int = 0
    delivered: bool = False
    error: str = ""
    finished_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def finish(self, at: float, *, delivered: bool, error: str = "") -> None:
        if not self.finished.is_set():
            self.delivered, self.error, self.finished_at = delivered, error, at
            self.finished.set()


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        claimer: Claimer,
        dead_letters: deque[DeadLetter],
        *,
        max_queue: int = 1_000,
        max_attempts: int = 8,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.channel = channel
        self._claimer = claimer
        self._dead = dead_letters
        self._queue: asyncio.Queue[tuple[Notification, Delivery]] = asyncio.Queue(max_queue)
        self._max_attempts = max_attempts
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._next_send_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self.stats = ChannelStats()

    @property
    def depth(self) -> int:
        return self._queue.qsize() + (1 if self._busy else 0)

    def offer(self, notification: Notification) -> None:
        self.submit(notification)

    def submit(self, notification: Notification) -> Delivery:
        """Queue ``notification``; the returned record says how far it got."""
        delivery = Delivery(self.channel.name, self._clock())
        try:
            self._queue.put_nowait((notification, delivery))
        except asyncio.QueueFull:
            self._dead_letter(notification, "queue full", 0, delivery)
        return delivery

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"notify-{self.channel.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            notification, delivery = self._queue.get_nowait()
            self._dead_letter(notification, "monitor stopped before sending", 0, delivery)
            self._queue.task_done()

    async def idle(self, timeout_s: float) -> bool:
        """Wait until the queue is empty and nothing is being sent (tests, shutdown)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            notification, delivery = await self._queue.get()
            self._busy = True
            try:
                await self._deliver(notification, delivery)
            except Exception:  # a bug in one channel must not stop its worker
                log.exception("notification worker failed", extra={"channel": self.channel.name})
                self._dead_letter(notification, "internal error", delivery.attempts, delivery)
            finally:
                self._busy = False
                self._queue.task_done()

    async def _deliver(self, notification: Notification, delivery: Delivery) -> None:
        if not await self._claimer.claim(self.channel.name, notification):
            self.stats.suppressed += 1
            delivery.finish(self._clock(), delivered=False, error="another replica claimed it")
            return
        for attempt in range(1, self._max_attempts + 1):
            await self._sleep(max(0.0, self._next_send_at - self._clock()))
            self._next_send_at = self._clock() + self.channel.min_interval_s
            delivery.attempts = attempt
            try:
                await self.channel.send(notification)
            except DeliveryError as error:
                delivery.error = str(error)
                if not error.retryable or attempt == self._max_attempts:
                    self._dead_letter(notification, str(error), attempt, delivery)
                    return
                self.stats.retries += 1
                delay = self._delay(attempt, error.retry_after_s)
                log.warning(
                    "notification failed; retrying",
                    extra={"channel": self.channel.name, "error": str(error), "delay_s": delay},
                )
                await self._sleep(delay)
            else:
                self.stats.sent += 1
                if notification.kind == "test":
                    self.stats.tests_delivered += 1
                delivery.finish(self._clock(), delivered=True)
                return

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self._backoff[1])
        initial, cap = self._backoff
        backoff: float = min(cap, initial * 2 ** (attempt - 1))
        return backoff * (0.5 + 0.5 * self._rng.random())

    def _dead_letter(
        self, notification: Notification, reason: str, attempts: int, delivery: Delivery
    ) -> None:
        self.stats.dead += 1
        if notification.kind == "test":
            self.stats.tests_failed += 1
        delivery.finish(self._clock(), delivered=False, error=reason)
        self._dead.append(
            DeadLetter(
                self.channel.name, notification.key, reason, attempts, time.time(), notification
            )
        )
        log.error(
            "notification not delivered",
            extra={"channel": self.channel.name, "key": notification.key, "reason": reason},
        )


class Dispatcher:
    """One worker per channel; ``dead_letters`` keeps the latest ``max_dead_letters`` records."""

    def __init__(
        self,
        channels: list[Channel],
        claimer: Claimer,
        *,
        max_dead_letters: int = 1_000,
        **worker_options: object,
    ) -> None:
        self.dead_letters: deque[DeadLetter] = deque(maxlen=max_dead_letters)
        self.workers = [
            ChannelWorker(channel, claimer, self.dead_letters, **worker_options)  # type: ignore[arg-type]
            for channel in channels
        ]

    def offer(self, notification: Notification) -> None:
        for worker in self.workers:
            worker.offer(notification)

    @property
    def channel_names(self) -> list[str]:
        return [worker.channel.name for worker in self.workers]

    def submit(self, notification: Notification, channels: Sequence[str]) -> list[Delivery]:
        """Queue ``notification`` on the named channels only, in the order named."""
        by_name = {worker.channel.name: worker for worker in self.workers}
        return [by_name[name].submit(notification) for name in channels]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()

    async def idle(self, timeout_s: float) -> bool:
        results = [await worker.idle(timeout_s) for worker in self.workers]
        return all(results)
