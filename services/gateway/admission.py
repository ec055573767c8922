"""Admission: at most ``max_concurrent`` analyses run per replica; the rest wait in
a bounded, per-client fair queue.

Decisions are made when a request arrives, not after it waited:

* queue full → QueueFull (RESOURCE_EXHAUSTED) with the time one place takes to free;
* the caller's deadline cannot be met given its position and the measured drain
  rate (slots ÷ EWMA of analysis time) → DeadlineUnreachable (DEADLINE_EXCEEDED);
* draining → Draining (UNAVAILABLE + RetryInfo), and everyone queued gets the same.

Waiters are served round-robin across clients (one flooding client only lengthens
its own line), and when the queue is full a newcomer from a client with a shorter
line pushes out the newest waiter of the longest one, so a flood cannot lock others
out of the queue either. A waiter that is cancelled or times out leaves the queue at once; a
slot granted to a waiter that was cancelled in the same instant is passed on.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.gateway.errors import DeadlineUnreachable, Draining, QueueFull

__all__ = ["Admission", "AdmissionCounts", "Ticket"]

PositionCallback = Callable[[int], None]


@dataclass(eq=False)
class Ticket:
    client_id: str
    granted: asyncio.Future[None]
    on_position: PositionCallback | None = None
    last_position: int = 0


@dataclass
class AdmissionCounts:
    admitted_now: int = 0
    admitted_after_wait: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason → count
    cancelled_waiting: int = 0

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class Admission:
    def __init__(
        self,
        *,
        max_concurrent: int,
        max_queue: int,
        queue_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        initial_service_s: float | None = None,
        ewma_alpha: float = 0.2,
        drain_retry_s: float = 1.0,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._clock = clock
        self._alpha = ewma_alpha
        self._drain_retry_s = drain_retry_s
        # None until the first analysis finishes: without a measurement nobody is
        # turned away for their deadline, the queue timeout still bounds the wait.
        self.service_s: float | None = initial_service_s
        self.service_dev_s = 0.0  # EWMA of |analysis time - service_s|
        self.in_flight = 0
        self._queues: OrderedDict[str, deque[Ticket]] = OrderedDict()
        self._queued = 0
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.counts = AdmissionCounts()
        self.wait_s_total = 0.0

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def draining(self) -> bool:
        return self._draining

    def drain_rate(self) -> float | None:
        """Analyses finishing per second at full occupancy, from measured times."""
        if self.service_s is None or self.service_s <= 0:
            return None
        return self.max_concurrent / self.service_s

    def expected_wait_s(self, position: int) -> float | None:
        rate = self.drain_rate()
        return None if rate is None else position / rate

    @asynccontextmanager
    async def slot(
        self,
        client_id: str,
        deadline_s: float,
        on_position: PositionCallback | None = None,
    ) -> AsyncIterator[float]:
        """Holds one analysis slot for the body; yields the time spent queued (s)."""
        waited = await self._acquire(client_id, deadline_s, on_position)
        started = self._clock()
        try:
            yield waited
        finally:
            self._observe(self._clock() - started)
            self._release()

    async def _acquire(
        self, client_id: str, deadline_s: float, on_position: PositionCallback | None
    ) -> float:
        if self._draining:
            self.counts.reject("draining")
            raise Draining(
                "this gateway replica is shutting down; retry (another replica will answer)",
                retry_after_s=self._drain_retry_s,
            )
        if self.in_flight < self.max_concurrent and self._queued == 0:
            self._take()
            self.counts.admitted_now += 1
            return 0.0
        position = self._queued + 1
        if self._queued >= self.max_queue and not self._push_out(client_id):
            self.counts.reject("queue_full")
            retry = self.expected_wait_s(1) or 1.0
            raise QueueFull(
                f"the admission queue is full ({self.max_queue} waiting)",
                limit="queue_full",
                subject="queue",
                retry_after_s=retry,
            )
        expected = self.expected_wait_s(self._fair_position_estimate(client_id))
        planned = self.planned_service_s()
        if expected is not None and expected + planned > deadline_s:
            self.counts.reject("deadline")
            raise DeadlineUnreachable(
                f"the deadline ({deadline_s:.1f} s) cannot be met: about {expected:.1f} s "
                f"of queue (position {position}) plus {planned:.1f} s of analysis"
            )
        # Leave the queue once the analysis could no longer finish in time: running it
        # late would spend a slot on an answer nobody receives.
        usable_s = deadline_s - planned
        if usable_s < self.queue_timeout_s:
            return await self._wait(client_id, usable_s, on_position, deadline_bound=True)
        return await self._wait(client_id, self.queue_timeout_s, on_position)

    def planned_service_s(self) -> float:
        """The analysis time to plan with: mean + 2 x mean deviation (as TCP plans
        retransmission timeouts), so a spread of analysis times does not turn into
        admitted requests that then miss their deadline; 0 before any measurement."""
        if self.service_s is None:
            return 0.0
        return self.service_s + 2 * self.service_dev_s

    def _push_out(self, client_id: str) -> bool:
        """Full queue: make room by turning away the newest waiter of the client with
        the longest line, when that is longer than the arriving client's. So one
        client's flood can fill an idle queue but never keep others out of it."""
        own = len(self._queues.get(client_id, ()))
        heaviest = max(self._queues.items(), key=lambda item: len(item[1]), default=None)
        if heaviest is None or heaviest[0] == client_id or len(heaviest[1]) <= own + 1:
            return False
        victim_client, queue = heaviest
        victim = queue.pop()
        self._queued -= 1
        if not queue:
            del self._queues[victim_client]
        self.counts.reject("queue_full")
        victim.granted.set_exception(
            QueueFull(
                "the admission queue is full and other clients are waiting too",
                limit="queue_full",
                subject="queue",
                retry_after_s=self.expected_wait_s(1) or 1.0,
            )
        )
        return True

    def try_take(self) -> bool:
        """A slot now, for background work, only when one is free and nobody waits:
        background work never queues or delays a caller."""
        if self._draining or self.in_flight >= self.max_concurrent or self._queued:
            return False
        self._take()
        return True

    def give_back(self, service_s: float) -> None:
        """Returns a slot taken with ``try_take``."""
        self._observe(service_s)
        self._release()

    def _fair_position_estimate(self, client_id: str) -> int:
        """Where a new waiter of ``client_id`` would stand under round-robin."""
        own = len(self._queues.get(client_id, ()))
        return (
            own + 1 + sum(min(len(q), own + 1) for c, q in self._queues.items() if c != client_id)
        )

    async def _wait(
        self,
        client_id: str,
        timeout_s: float,
        on_position: PositionCallback | None,
        *,
        deadline_bound: bool = False,
    ) -> float:
        loop = asyncio.get_running_loop()
        ticket = Ticket(client_id, loop.create_future(), on_position)
        self._queues.setdefault(client_id, deque()).append(ticket)
        self._queued += 1
        started = self._clock()
        self._notify_positions()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(ticket.granted)
        except TimeoutError:
            self._leave(ticket)
            if deadline_bound:
                self.counts.reject("deadline")
                raise DeadlineUnreachable(
                    "the deadline can no longer be met: no analysis slot came in time"
                ) from None
            self.counts.reject("queue_timeout")
            raise QueueFull(
                f"no analysis slot within {timeout_s:.1f} s",
                limit="queue_timeout",
                subject="queue",
                retry_after_s=self.expected_wait_s(self._queued + 1) or 1.0,
            ) from None
        except asyncio.CancelledError:
            self._leave(ticket)
            self.counts.cancelled_waiting += 1
            raise
        if ticket.granted.exception() is not None:
            raise ticket.granted.exception()  # type: ignore[misc]
        waited = self._clock() - started
        self.wait_s_total += waited
        self.counts.admitted_after_wait += 1
        return waited

    def _leave(self, ticket: Ticket) -> None:
        """The waiter gave up: off the queue now; pass on a slot it was just given."""
        if ticket.granted.done():
            if not ticket.granted.cancelled() and ticket.granted.exception() is None:
                self._release()  # granted in the same instant: hand the slot on
            return
        ticket.granted.cancel()
        queue = self._queues.get(ticket.client_id)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            self._queued -= 1
            if not queue:
                del self._queues[ticket.client_id]
            self._notify_positions()

    def _take(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def _release(self) -> None:
        self.in_flight -= 1
        self._grant_next()
        if self.in_flight == 0:
            self._idle.set()

    def _grant_next(self) -> None:
        while self.in_flight < self.max_concurrent and self._queues:
            client_id, queue = next(iter(self._queues.items()))
            ticket = queue.popleft()
            self._queued -= 1
            # Round-robin: this client goes to the back of the rotation.
            del self._queues[client_id]
            if queue:
                self._queues[client_id] = queue
            if ticket.granted.done():
                continue
            self._take()
            ticket.granted.set_result(None)
        self._notify_positions()

    def _observe(self, service_s: float) -> None:
        if self.service_s is None:
            self.service_s = service_s
        else:
            error = service_s - self.service_s
            self.service_s += self._alpha * error
            self.service_dev_s += self._alpha * (abs(error) - self.service_dev_s)

    def positions(self) -> dict[int, int]:
        """id(ticket) → 1-based position in service order under round-robin."""
        order: dict[int, int] = {}
        queues = [list(q) for q in self._queues.values()]
        position, depth = 0, 0
        while any(depth < len(q) for q in queues):
            for q in queues:
                if depth < len(q):
                    position += 1
                    order[id(q[depth])] = position
            depth += 1
        return order

    def _notify_positions(self) -> None:
        if not any(t.on_position for q in self._queues.values() for t in q):
            return
        order = self.positions()
        for queue in self._queues.values():
            for ticket in queue:
                position = order.get(id(ticket), 0)
                if ticket.on_position is not None and position != ticket.last_position:
                    ticket.last_position = position
                    ticket.on_position(position)

    def drain(self) -> int:
        """Stop admitting; everyone queued is told to retry elsewhere. Returns how many."""
        self._draining = True
        told = 0
        for queue in list(self._queues.values()):
            for ticket in queue:
                if not ticket.granted.done():
                    ticket.granted.set_exception(
                        Draining(
                            "this gateway replica is shutting down; retry "
                            "(another replica will answer)",
                            retry_after_s=self._drain_retry_s,
                        )
                    )
                    told += 1
        self._queues.clear()
        self._queued = 0
        self.counts.rejected["draining"] = self.counts.rejected.get("draining", 0) + told
        return told

    async def wait_idle(self, timeout_s: float) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
