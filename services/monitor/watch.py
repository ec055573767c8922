"""Fan-out of alert changes to WatchAlerts streams, each with a bounded queue.

A watcher that falls ``max_queue`` events behind is cut (its iterator raises
WatcherLagging) rather than letting its queue grow or slowing the evaluator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from services.monitor.alerts import AlertChange
from services.monitor.errors import WatcherLagging

__all__ = ["Watchers"]

_CLOSED = None


class _Watcher:
    def __init__(self, max_queue: int) -> None:
        self.queue: asyncio.Queue[AlertChange | None] = asyncio.Queue(max_queue + 1)
        self.max_queue = max_queue
        self.lagging = False


class Watchers:
    def __init__(self, *, max_queue: int = 256, max_watchers: int = 100) -> None:
        self._max_queue = max_queue
        self._max_watchers = max_watchers
        self._watchers: set[_Watcher] = set()

    @property
    def count(self) -> int:
        return len(self._watchers)

    def publish(self, changes: Iterable[AlertChange]) -> None:
        for change in changes:
            for watcher in list(self._watchers):
                if watcher.queue.qsize() >= watcher.max_queue:
                    watcher.lagging = True
                    watcher.queue.put_nowait(_CLOSED)
                    self._watchers.discard(watcher)
                else:
                    watcher.queue.put_nowait(change)

    def close(self) -> None:
        """End every stream (the monitor is stopping)."""
        for watcher in self._watchers:
            watcher.queue.put_nowait(_CLOSED)
        self._watchers.clear()

    async def subscribe(self, first: Iterable[AlertChange] = ()) -> AsyncIterator[AlertChange]:
        if len(self._watchers) >= self._max_watchers:
            raise WatcherLagging(f"at most {self._max_watchers} concurrent watchers")
        watcher = _Watcher(self._max_queue)
        self._watchers.add(watcher)
        try:
            for change in first:
                yield change
            while True:
                queued = await watcher.queue.get()
                if queued is None:
                    if watcher.lagging:
                        raise WatcherLagging("watcher fell behind; reconnect to resume")
                    return
                yield queued
        finally:
            self._watchers.discard(watcher)
