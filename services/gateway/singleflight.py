"""In-process single-flight: concurrent callers of the same key share one computation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


@dataclass(eq=False)
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[str, _Flight[T]] = {}

    def in_flight(self) -> int:
        return len(self._inflight)

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, shared): ``shared`` is True for callers that joined another's work.

        The work runs in its own task, so one cancelled caller (leader or not) does not
        cancel the computation the others wait for; when the last caller is gone the
        work is cancelled too, so a queued analysis nobody wants frees its place.
        """
        flight = self._inflight.get(key)
        shared = flight is not None
        if flight is None:
            flight = _Flight(asyncio.create_task(self._run(key, work)))
            self._inflight[key] = flight
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task), shared
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1

    async def _run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        try:
            return await work()
        finally:
            self._inflight.pop(key, None)
