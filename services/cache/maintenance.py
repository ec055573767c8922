"""Warming and cleanup: the cache's background housekeeping, transport-free.

Warming has two sources and never mixes them up:

* **from L2** (at start, and ``Warm(from_l2=true)``): copy unexpired DynamoDB items
  into Redis with their remaining lifetime. Costs reads, never calls the model.
* **re-analysis** (``Warm``, and the periodic loop when ``CACHE_WARMING_ENABLED``):
  for the most popular keys (or the given ones) whose entry expires within
  ``window_s``, run the stored request (``CacheEntry.opportunity``/``options``)
  through the analysis service again and Put the result, one at a time, until the
  compute budget is spent. A key without an entry, or without a stored request,
  is skipped: the cache never invents the input of an analysis.

Cleanup scores every entry (services.cache.cleanup) found by SCAN in Redis and by a
paginated Scan of the DynamoDB table, reports the candidates, and removes them from
both tiers only when asked to apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from services.cache import envelope
from services.cache.cleanup import EntryFacts, Scored, score_entry
from services.cache.errors import CorruptEntry, TierUnavailable, WarmFailed
from services.cache.store import CacheStore
from services.common.gen import cache_pb2, types_pb2

__all__ = [
    "Analyzer",
    "CleanupReport",
    "Housekeeper",
    "WarmPolicy",
    "WarmReport",
]

log = logging.getLogger(__name__)


class Analyzer(Protocol):
    async def analyze(
        self,
        opportunity: types_pb2.Opportunity,
        options: types_pb2.AnalysisOptions,
        timeout_s: float,
    ) -> cache_pb2.CacheEntry:
        """A fresh entry for this request; raises WarmFailed."""
        ...


@dataclass(frozen=True)
class WarmPolicy:
    top_k: int = 20  # CACHE_WARM_TOP_K
    budget_s: float = 60.0  # CACHE_WARM_BUDGET_SECONDS: compute per warming run
    window_s: float = 900.0  # CACHE_WARM_WINDOW_SECONDS: "near expiry"
    interval_s: float = 300.0  # CACHE_WARM_INTERVAL_SECONDS: periodic run
    start_max_entries: int = 1000  # CACHE_WARM_START_MAX_ENTRIES: L2 -> L1 at start
    cleanup_max_entries: int = 100  # CACHE_CLEANUP_MAX_ENTRIES
    cleanup_min_score: float = 25.0  # CACHE_CLEANUP_MIN_SCORE
    cleanup_scan_limit: int = 10_000  # CACHE_CLEANUP_SCAN_LIMIT: entries looked at


@dataclass
class WarmReport:
    considered: int = 0
    warmed: int = 0
    skipped: int = 0
    compute_seconds: float = 0.0
    warmed_keys: list[str] = field(default_factory=list)


@dataclass
class CleanupReport:
    applied: bool
    scanned: int
    candidates: list[Scored]
    now: float = 0.0
    removed: int = 0
    bytes_freed: int = 0


class Housekeeper:
    def __init__(
        self,
        store: CacheStore,
        policy: WarmPolicy,
        *,
        analyzer: Analyzer | None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._policy = policy
        self._analyzer = analyzer
        self._clock = clock
        self._monotonic = monotonic
        self._tasks: list[asyncio.Task[None]] = []

    # --- warming -------------------------------------------------------------------

    def _choose(self, keys: list[str], top_k: int) -> list[str]:
        if keys:
            return list(dict.fromkeys(keys))
        return [key for key, _ in self._store.popularity.top(top_k or self._policy.top_k)]

    async def warm(
        self, keys: list[str], *, top_k: int = 0, budget_s: float = 0.0, from_l2: bool = False
    ) -> WarmReport:
        chosen = self._choose(keys, top_k)
        if from_l2:
            return await self._warm_from_l2(chosen, top_k or self._policy.top_k)
        return await self._reanalyse(chosen, budget_s or self._policy.budget_s)

    async def _warm_from_l2(self, keys: list[str], limit: int) -> WarmReport:
        report = WarmReport()
        l2 = self._store.l2
        if l2 is None:
            report.skipped = report.considered = len(keys)
            return report
        mark = self._store.read_mark()
        if keys:
            reads = await l2.batch_get(keys)
            pairs = list(zip(keys, reads, strict=True))
        else:
            pairs = []
            async for key, read, _ in l2.scan():
                pairs.append((key, read))
                if len(pairs) >= limit:
                    break
        for key, read in pairs:
            report.considered += 1
            if read.status == "hit" and await self._store.promote(key, read, mark):
                report.warmed += 1
                report.warmed_keys.append(key)
            else:
                report.skipped += 1
        return report

    async def _reanalyse(self, keys: list[str], budget_s: float) -> WarmReport:
        report = WarmReport(considered=len(keys))
        started = self._monotonic()
        for key in keys:
            left = budget_s - (self._monotonic() - started)
            entry = await self._store.peek(key)
            if left <= 0 or self._analyzer is None or not self._due(entry):
                report.skipped += 1
                continue
            assert entry is not None  # _due() is False for None
            try:
                fresh = await self._analyzer.analyze(entry.opportunity, entry.options, left)
            except WarmFailed as exc:
                log.warning("warming %s failed: %s", key[:24], exc)
                report.skipped += 1
                continue
            fresh.opportunity.CopyFrom(entry.opportunity)
            fresh.options.CopyFrom(entry.options)
            fresh.versions = fresh.versions or entry.versions
            report.compute_seconds += fresh.compute_ms / 1000.0
            if (await self._store.put(key, fresh)).stored:
                report.warmed += 1
                report.warmed_keys.append(key)
            else:
                report.skipped += 1
        return report

    def _due(self, entry: cache_pb2.CacheEntry | None) -> bool:
        if entry is None or not entry.HasField("opportunity"):
            return False
        return entry.expires_at_unix - self._clock() <= self._policy.window_s

    async def warm_l1_from_l2(self) -> WarmReport:
        """At start: copy up to ``start_max_entries`` unexpired L2 items into Redis."""
        try:
            return await self._warm_from_l2([], self._policy.start_max_entries)
        except TierUnavailable as exc:
            log.warning("warming Redis from DynamoDB skipped: %s", exc)
            return WarmReport()

    # --- background ------------------------------------------------------------------

    async def start(self, *, warm_at_start: bool, periodic: bool) -> None:
        if warm_at_start and self._store.l2 is not None and self._store.tier is not None:
            self._tasks.append(asyncio.create_task(self._start_warm(), name="cache-start-warm"))
        if periodic:
            self._tasks.append(asyncio.create_task(self._periodic(), name="cache-warming"))

    async def _start_warm(self) -> None:
        l2 = self._store.l2
        # The table may be being created by this very start; give it a few tries.
        for _ in range(10):
            if l2 is not None and await l2.ping():
                break
            await asyncio.sleep(1.0)
        report = await self.warm_l1_from_l2()
        log.info("warmed Redis from DynamoDB: %d of %d", report.warmed, report.considered)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._policy.interval_s)
            try:
                report = await self.warm([])
            except TierUnavailable as exc:
                log.warning("warming run skipped: %s", exc)
                continue
            log.info("warming run: %d warmed, %d skipped", report.warmed, report.skipped)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # --- cleanup ---------------------------------------------------------------------

    async def cleanup(
        self, *, apply: bool, max_entries: int = 0, min_score: float = 0.0
    ) -> CleanupReport:
        facts = await self._collect()
        now = self._clock()
        threshold = min_score or self._policy.cleanup_min_score
        scored = sorted(
            (s for s in (score_entry(f, now) for f in facts.values()) if s.score < threshold),
            key=lambda s: (s.score, s.facts.key),
        )
        candidates = scored[: max_entries or self._policy.cleanup_max_entries]
        report = CleanupReport(applied=apply, scanned=len(facts), candidates=candidates, now=now)
        if apply and candidates:
            keys = [c.facts.key for c in candidates]
            for start in range(0, len(keys), 100):
                await self._store.invalidate(keys[start : start + 100])
            report.removed = len(keys)
            report.bytes_freed = sum(c.facts.size_bytes for c in candidates)
        return report

    async def _collect(self) -> dict[str, EntryFacts]:
        limit = self._policy.cleanup_scan_limit
        facts: dict[str, EntryFacts] = {}
        l1 = self._store.tier
        if l1 is not None and hasattr(l1, "scan_keys"):
            with contextlib.suppress(TierUnavailable):
                async for key in l1.scan_keys():
                    if len(facts) >= limit:
                        break
                    found = None if key in facts else self._facts(key, await l1.get(key))
                    if found is not None:
                        facts[key] = found
        l2 = self._store.l2
        if l2 is not None:
            with contextlib.suppress(TierUnavailable):
                async for key, read, size in l2.scan():
                    if len(facts) >= limit:
                        break
                    if key in facts:
                        continue
                    if read.status == "expired":
                        facts[key] = EntryFacts(key, 0, 0, 0.0, read.expires_at, 0.0, size)
                    elif (found := self._facts(key, read.value)) is not None:
                        facts[key] = found
        return await self._with_shared_hits(facts)

    async def _with_shared_hits(self, facts: dict[str, EntryFacts]) -> dict[str, EntryFacts]:
        """Every replica's hits (the shared counters), where Redis can tell them."""
        l1 = self._store.tier
        if l1 is None or not facts:
            return facts
        keys = list(facts)
        try:
            shared = await l1.hit_counts(keys)
        except TierUnavailable:
            return facts
        return {
            key: replace(facts[key], hits=max(facts[key].hits, n + self._store.hits.pending(key)))
            for key, n in zip(keys, shared, strict=True)
        }

    def _facts(self, key: str, data: bytes | None) -> EntryFacts | None:
        hits = self._store.popularity.count(key)
        if data is None:  # vanished between SCAN and GET: nothing to judge
            return None
        try:
            entry = envelope.decode(data)
        except CorruptEntry:
            return EntryFacts(key, 0, hits, 0.0, 0.0, 0.0, len(data), corrupt=True)
        return EntryFacts(
            key=key,
            confidence_score=entry.analysis.confidence_score,
            hits=max(hits, entry.hit_count),
            created_at=entry.created_at_unix,
            expires_at=entry.expires_at_unix,
            compute_s=entry.compute_ms / 1000.0,
            size_bytes=len(data),
        )
