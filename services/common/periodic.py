"""A background task that runs an async function every interval until stopped.

Stopping sets an event as well as cancelling the task: on Python 3.11 a cancellation
that lands just as an inner ``wait_for`` completes can be swallowed, and a loop that
only listened for cancellation would then run (and block its stopper) until its next
round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]


class Periodic:
    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        interval_s: float,
        *,
        name: str,
        run_first: bool = False,
    ) -> None:
        """``run_first``: run ``work`` at start too, not only after the first interval."""
        self._work = work
        self._interval_s = interval_s
        self._name = name
        self._run_first = run_first
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        if self._run_first:
            await self._work()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._stop.wait()
            if not self._stop.is_set():
                await self._work()

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
