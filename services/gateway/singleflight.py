"""In-process single-flight: concurrent callers of the same key share one computation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[T]] = {}

    def in_flight(self) -> int:
        return len(self._inflight)

    async def do(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, shared): ``shared`` is True for callers that joined another's work.

        The leader's work runs in its own task, so a cancelled waiter (or leader)
        does not cancel the computation the others are waiting for.
        """
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.shield(future), True
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._inflight[key] = future
        task = asyncio.create_task(self._run(key, future, work))
        return await asyncio.shield(task), False

    async def _run(
        self, key: str, future: asyncio.Future[T], work: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            result = await work()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            # Mark retrieved so an exception nobody waited for is not logged as lost.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(key, None)
