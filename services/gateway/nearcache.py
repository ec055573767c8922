"""Near cache: a small in-process LRU of hot results in front of the cache service.

An entry lives ``ttl_s`` (seconds) and never past the stored entry's own expiry.
Replaced or invalidated entries are announced by the cache service on the Redis
channel ``oppsuite:cache:invalidations`` (message = the cache key); ``Invalidations``
listens and drops them here. While that subscription is down an invalidation could
be missed, so entries are trusted only ``unsubscribed_ttl_s`` after they were stored,
and everything is dropped when the subscription comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["INVALIDATION_CHANNEL", "Invalidations", "NearCache", "NearCounts"]

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "oppsuite:cache:invalidations"


@dataclass
class NearCounts:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0
    evictions: int = 0
    flushes: int = 0


@dataclass(frozen=True)
class _Slot:
    value: Any
    stored_at: float  # monotonic
    fresh_until: float  # monotonic: min(stored_at + ttl, the entry's own expiry)


class NearCache:
    def __init__(
        self,
        *,
        max_entries: int,
        ttl_s: float,
        unsubscribed_ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.unsubscribed_ttl_s = unsubscribed_ttl_s
        self._clock = clock
        self._wall = wall_clock
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self.subscribed = False
        self.counts = NearCounts()

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        slot = self._slots.get(key)
        now = self._clock()
        # Invalidations may be missed while unsubscribed: trust only young entries.
        if (
            slot is not None
            and not self.subscribed
            and now - slot.stored_at > self.unsubscribed_ttl_s
        ):
            slot = None
        if slot is None or now >= slot.fresh_until:
            if key in self._slots and (slot is None or now >= slot.fresh_until):
                del self._slots[key]
            self.counts.misses += 1
            return None
        self._slots.move_to_end(key)
        self.counts.hits += 1
        return slot.value

    def put(self, key: str, value: Any, expires_at_unix: float) -> None:
        if not self.enabled:
            return
        now = self._clock()
        remaining = expires_at_unix - self._wall() if expires_at_unix > 0 else self.ttl_s
        fresh_until = now + min(self.ttl_s, remaining)
        if fresh_until <= now:
            return
        self._slots[key] = _Slot(value, now, fresh_until)
        self._slots.move_to_end(key)
        while len(self._slots) > self.max_entries:
            self._slots.popitem(last=False)
            self.counts.evictions += 1

    def put_for(self, key: str, value: Any, ttl_s: float) -> None:
        """Like ``put`` for an entry that expires ``ttl_s`` from now."""
        self.put(key, value, self._wall() + ttl_s)

    def invalidate(self, key: str) -> None:
        if self._slots.pop(key, None) is not None:
            self.counts.invalidations += 1

    def clear(self) -> None:
        self._slots.clear()
        self.counts.flushes += 1


class Invalidations:
    """Background subscriber: drops announced keys from ``near``; resubscribes with
    capped backoff after Redis goes away; stops on ``stop()``."""

    def __init__(
        self,
        url: str,
        near: NearCache,
        *,
        channel: str = INVALIDATION_CHANNEL,
        connect_timeout_s: float = 0.5,
        backoff_max_s: float = 2.0,
    ) -> None:
        self._url = url
        self._near = near
        self._channel = channel
        self._connect_timeout_s = connect_timeout_s
        self._backoff_max_s = backoff_max_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.subscriptions = 0

    async def start(self) -> None:
        if self._task is None and self._near.enabled:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="near-cache-invalidations")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                await self._listen()
                delay = 0.1
            except (RedisError, OSError, TimeoutError) as exc:
                if self._near.subscribed:
                    log.warning("near-cache invalidations lost", extra={"error": str(exc)})
            self._near.subscribed = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(self._backoff_max_s, delay * 2)

    async def _listen(self) -> None:
        client = aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._connect_timeout_s,
            socket_keepalive=True,
            health_check_interval=5,
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(self._connect_timeout_s * 2):
                await pubsub.subscribe(self._channel)
            # Invalidations may have been missed before this subscription: start clean.
            self._near.clear()
            self._near.subscribed = True
            self.subscriptions += 1
            if self.subscriptions > 1:
                log.info("near-cache invalidations resubscribed")
            while not self._stopping.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    key = data.decode() if isinstance(data, bytes) else str(data)
                    self._near.invalidate(key)
        finally:
            self._near.subscribed = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()
