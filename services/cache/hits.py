"""Hit counts per key, shared by every cache replica.

A hit is counted in this process at once and added to a Redis counter in batches
(one pipeline per flush interval), so the hot path never pays a write, nor a read,
for it: each INCRBY answers with the key's new total over every replica, which this
replica remembers. The count a reply carries is that total as of this replica's last
flush of the key, plus its hits since: other replicas' hits since then are missing,
and a key this replica has not flushed yet shows only its own. Cleanup reads the
counters themselves (MGET), so it sees every flushed hit.

Counts belong to the key, not to one stored version of it: a refreshed entry keeps
its popularity. A counter expires ``ttl_s`` after its last flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Protocol

from services.cache.errors import TierUnavailable
from services.common.periodic import Periodic

__all__ = ["HitCounterStore", "HitTally"]

log = logging.getLogger(__name__)


class HitCounterStore(Protocol):
    async def add_hits(self, counts: Mapping[str, int], ttl_s: float) -> list[int]:
        """Add ``counts``; the new totals, in the mapping's order."""
        ...


class HitTally:
    def __init__(
        self,
        counters: HitCounterStore | None,
        *,
        ttl_s: float,
        interval_s: float = 5.0,
        max_pending: int = 10_000,
    ) -> None:
        self._counters = counters
        self._ttl_s = ttl_s
        self._max_pending = max_pending
        self._pending: dict[str, int] = {}
        self._totals: dict[str, int] = {}  # shared totals seen at the last flush, bounded
        self._periodic = Periodic(self.flush, interval_s, name="cache-hit-flusher")
        self.flushed = 0  # hits added to the shared counters
        self.dropped = 0  # hits not counted: too many distinct keys pending, or Redis down

    def record(self, key: str) -> None:
        if key in self._pending:
            self._pending[key] += 1
        elif len(self._pending) < self._max_pending:
            self._pending[key] = 1
        else:
            self.dropped += 1

    def pending(self, key: str) -> int:
        return self._pending.get(key, 0)

    def count(self, key: str) -> int:
        """Every replica's hits as of this replica's last flush of ``key``, plus this
        replica's hits since."""
        return self._totals.get(key, 0) + self._pending.get(key, 0)

    async def flush(self) -> int:
        """Add what is pending to the shared counters; returns the hits flushed. On
        failure the batch is dropped and counted: a popularity signal is not worth
        a growing backlog while Redis is away."""
        if not self._pending or self._counters is None:
            return 0
        batch, self._pending = self._pending, {}
        total = sum(batch.values())
        try:
            totals = await self._counters.add_hits(batch, self._ttl_s)
        except TierUnavailable as exc:
            self.dropped += total
            log.debug("hit counts not flushed: %s", exc)
            return 0
        self.flushed += total
        for key, shared in zip(batch, totals, strict=True):
            self._totals.pop(key, None)  # re-inserted last: the oldest go first
            self._totals[key] = shared
        while len(self._totals) > self._max_pending:
            del self._totals[next(iter(self._totals))]
        return total

    def start(self) -> None:
        if self._counters is not None:
            self._periodic.start()

    async def stop(self) -> None:
        """Stop the loop after one last flush, so a drained replica's hits count."""
        await self._periodic.stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.flush()
