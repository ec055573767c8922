"""What the gateway does with one authenticated, validated request:

    rate limit (every request, cached or not)
    → near cache → cache service Get
    → single-flight in this replica → lease in the cache across replicas
        (not granted: wait for the holder's entry → CACHE_SOURCE_COALESCED)
    → admission (bounded, fair queue) → analysis → cache Put → respond

Works on the generated messages of the internal contracts on purpose: the gateway
relays them, and converting to domain types and back would only cost time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from services.common.cachekey import Fingerprint, cache_key
from services.common.convert import opportunity_to_proto, options_to_proto
from services.common.domain import Opportunity, Options
from services.common.errors import DependencyUnavailable, OppsuiteError, Overloaded
from services.common.gen import analysis_pb2, cache_pb2, gateway_pb2, types_pb2
from services.common.telemetry import Telemetry
from services.gateway.admission import Admission
from services.gateway.errors import DeadlineUnreachable, Draining, LimiterUnavailable
from services.gateway.memo import Memo
from services.gateway.nearcache import NearCache
from services.gateway.ratelimit import RateLimiter
from services.gateway.singleflight import SingleFlight
from services.gateway.upstream import AnalysisClient, CacheClient

__all__ = ["Outcome", "Pipeline", "Request", "rejection_reason"]

log = logging.getLogger(__name__)

SOURCE_LABEL: dict[int, str] = {
    types_pb2.CACHE_SOURCE_MISS: "miss",
    types_pb2.CACHE_SOURCE_NEAR: "near",
    types_pb2.CACHE_SOURCE_REDIS: "redis",
    types_pb2.CACHE_SOURCE_DYNAMODB: "dynamodb",
    types_pb2.CACHE_SOURCE_COALESCED: "coalesced",
}
_SAVED = ("near", "redis", "dynamodb", "coalesced")
Emit = Callable[[gateway_pb2.AnalyzeEvent], None]


@dataclass(frozen=True)
class Request:
    opportunity: Opportunity
    options: Options
    client_id: str
    request_id: str
    deadline_s: float


@dataclass(frozen=True)
class Outcome:
    """A result, wherever it came from."""

    analysis: types_pb2.Analysis
    sql: str
    row_count: int
    source: int  # types_pb2.CacheSource
    cost_usd: float = 0.0
    steps: tuple[types_pb2.StepTiming, ...] = ()
    aws_call_count: int = 0
    queue_wait_ms: float = 0.0

    @classmethod
    def from_entry(cls, entry: cache_pb2.CacheEntry, source: int) -> Outcome:
        return cls(entry.analysis, entry.sql, entry.row_count, source, entry.cost_usd)


def rejection_reason(error: OppsuiteError) -> str | None:
    """The bounded label a rejection is counted under; None for other errors."""
    if isinstance(error, Overloaded):
        return error.limit
    if isinstance(error, DeadlineUnreachable):
        return "deadline"
    if isinstance(error, Draining):
        return "draining"
    if isinstance(error, LimiterUnavailable):
        return "limiter_unavailable"
    return None


@dataclass
class PipelineCounts:
    rejections: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)  # source label → count
    leases: dict[str, int] = field(default_factory=dict)  # granted | waited_hit | ...
    refreshes: dict[str, int] = field(default_factory=dict)  # stored | not_stored | failed


class Pipeline:
    def __init__(
        self,
        cache: CacheClient,
        analysis: AnalysisClient,
        telemetry: Telemetry,
        *,
        admission: Admission | None = None,
        limiter: RateLimiter | None = None,
        near: NearCache | None = None,
        holder: str = "gateway",
        lease_ttl_ms: int = 30000,
        max_refreshes: int = 4,
        refresh_deadline_s: float = 60.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._cache = cache
        self._analysis = analysis
        self._telemetry = telemetry
        self.admission = admission or Admission(
            max_concurrent=100, max_queue=500, queue_timeout_s=60
        )
        self.limiter = limiter
        self.near = near if near is not None else NearCache(max_entries=1, ttl_s=0)
        self._holder = holder
        self._lease_ttl_ms = lease_ttl_ms
        self._max_refreshes = max_refreshes
        self._refresh_deadline_s = refresh_deadline_s
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._clock = clock
        self._flights: SingleFlight[Outcome] = SingleFlight()
        self._fingerprint: Fingerprint | None = None
        self._keys: Memo[tuple[Opportunity, Options], str] = Memo()
        self.in_flight = 0
        self.counts = PipelineCounts()

    @property
    def fingerprint(self) -> Fingerprint | None:
        return self._fingerprint

    async def refresh_fingerprint(self) -> bool:
        """Learns what results depend on (provider, models, prompts) from the analysis
        service; every cache key includes it."""
        try:
            fingerprint = await self._analysis.describe()
        except Exception:
            return False
        if self._fingerprint is not None and fingerprint != self._fingerprint:
            self.near.clear()  # keys changed: old entries can never be asked for again
            self._keys.clear()
        self._fingerprint = fingerprint
        return True

    def key_for(self, request: Request) -> str:
        if self._fingerprint is None:
            raise DependencyUnavailable(
                "the analysis service has not answered yet; retry shortly", retry_after_s=1.0
            )
        fingerprint = self._fingerprint
        return self._keys.get(
            (request.opportunity, request.options),
            lambda: cache_key(request.opportunity, request.options, fingerprint),
        )

    def count_rejection(self, error: OppsuiteError) -> None:
        reason = rejection_reason(error)
        if reason is not None:
            self.counts.rejections[reason] = self.counts.rejections.get(reason, 0) + 1
            self._telemetry.inc("rejections_total", reason=reason)

    async def analyze(self, request: Request) -> gateway_pb2.AnalyzeResponse:
        started = self._clock()
        self.in_flight += 1
        try:
            if self.limiter is not None:
                await self.limiter.enforce(request.client_id)
            key = self.key_for(request)
            outcome = await self._resolve(key, request, started + request.deadline_s, None)
            return self._respond(request, key, outcome, started)
        except OppsuiteError as error:
            self.count_rejection(error)
            raise
        finally:
            self.in_flight -= 1

    async def analyze_stream(self, request: Request) -> AsyncIterator[gateway_pb2.AnalyzeEvent]:
        """Queue positions and step events as they happen, then the result."""
        started = self._clock()
        self.in_flight += 1
        try:
            if self.limiter is not None:
                await self.limiter.enforce(request.client_id)
            key = self.key_for(request)
            # Bounded: a slow reader loses intermediate events, never the result.
            events: asyncio.Queue[gateway_pb2.AnalyzeEvent] = asyncio.Queue(maxsize=64)

            def emit(event: gateway_pb2.AnalyzeEvent) -> None:
                with contextlib.suppress(asyncio.QueueFull):
                    events.put_nowait(event)

            work = asyncio.create_task(
                self._resolve(key, request, started + request.deadline_s, emit)
            )
            getter: asyncio.Future[gateway_pb2.AnalyzeEvent] | None = None
            try:
                while not work.done() or not events.empty():
                    getter = asyncio.ensure_future(events.get())
                    await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                    else:
                        getter.cancel()
                outcome = work.result()
            finally:
                if getter is not None and not getter.done():
                    getter.cancel()
                if not work.done():
                    work.cancel()  # the caller went away: free its queue place now
                    with contextlib.suppress(asyncio.CancelledError, OppsuiteError):
                        await work
            yield gateway_pb2.AnalyzeEvent(result=self._respond(request, key, outcome, started))
        except OppsuiteError as error:
            self.count_rejection(error)
            raise
        finally:
            self.in_flight -= 1

    async def _resolve(
        self, key: str, request: Request, deadline_at: float, emit: Emit | None
    ) -> Outcome:
        if request.options.bypass_cache:
            return await self._compute(key, request, deadline_at, emit)
        cached = await self._lookup(key, request)
        if cached is not None:
            return cached
        outcome, shared = await self._flights.do(
            key, lambda: self._lead(key, request, deadline_at, emit)
        )
        if shared:
            return replace(outcome, source=types_pb2.CACHE_SOURCE_COALESCED, queue_wait_ms=0.0)
        return outcome

    async def _lookup(self, key: str, request: Request) -> Outcome | None:
        near = self.near.get(key)
        if isinstance(near, Outcome):
            self._telemetry.inc("cache_tier_total", tier="near", result="hit")
            return replace(near, source=types_pb2.CACHE_SOURCE_NEAR)
        if self.near.enabled:
            self._telemetry.inc("cache_tier_total", tier="near", result="miss")
        found = await self._cache.get(key)
        label = "hit" if found.entry is not None else ("error" if found.error else "miss")
        self._telemetry.inc("cache_tier_total", tier="remote", result=label)
        if found.entry is None:
            return None
        outcome = Outcome.from_entry(found.entry, found.source)
        self.near.put(key, outcome, found.entry.expires_at_unix)
        if found.refresh_early:
            self._refresh_in_background(key, request)
        return outcome

    def _refresh_in_background(self, key: str, request: Request) -> None:
        """XFetch: the cache says this entry should be recomputed before it expires.
        Bounded (a few at once, one per key) and only on an idle slot, so it never
        delays a caller; the caller already has its answer."""
        if key in self._refreshing or len(self._refreshing) >= self._max_refreshes:
            return
        if not self.admission.try_take():
            return
        task = asyncio.create_task(self._refresh(key, request), name="early-refresh")
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    async def _refresh(self, key: str, request: Request) -> None:
        started = self._clock()
        try:
            result = await self._analysis.run(
                self._run_request(request), deadline_s=self._refresh_deadline_s
            )
            stored = await self._store(key, request, result)
            self._count_refresh("stored" if stored else "not_stored")
        except OppsuiteError as error:
            log.warning("early refresh failed", extra={"error": str(error)})
            self._count_refresh("failed")
        finally:
            self.admission.give_back(self._clock() - started)

    def _count_refresh(self, result: str) -> None:
        self.counts.refreshes[result] = self.counts.refreshes.get(result, 0) + 1

    async def aclose(self) -> None:
        """Stops background refreshes (on shutdown)."""
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _lead(
        self, key: str, request: Request, deadline_at: float, emit: Emit | None
    ) -> Outcome:
        """This replica's one attempt for ``key``: lease it, or wait for its holder."""
        lease = await self._cache.lease(key, ttl_ms=self._lease_ttl_ms, holder=self._holder)
        if lease is None:
            self._count_lease("unavailable")
            return await self._compute(key, request, deadline_at, emit)
        if not lease.granted:
            remaining = deadline_at - self._clock()
            wait_s = min(remaining, lease.remaining_ms / 1000 + 1.0)
            if wait_s > 0:
                found = await self._cache.wait_for_entry(key, timeout_s=wait_s)
                if found.entry is not None:
                    self._count_lease("waited_hit")
                    outcome = Outcome.from_entry(found.entry, types_pb2.CACHE_SOURCE_COALESCED)
                    self.near.put(key, outcome, found.entry.expires_at_unix)
                    return outcome
            # The holder failed or gave up without writing: compute here after all.
            self._count_lease("waited_miss")
            return await self._compute(key, request, deadline_at, emit)
        self._count_lease("granted")
        renewer = asyncio.create_task(self._renew(key, lease.token))
        try:
            # Another replica may have written the entry and released the lease between
            # our miss and our lease: look once more before paying for an analysis.
            found = await self._cache.get(key)
            if found.entry is not None:
                self._count_lease("granted_hit")
                outcome = Outcome.from_entry(found.entry, types_pb2.CACHE_SOURCE_COALESCED)
                self.near.put(key, outcome, found.entry.expires_at_unix)
                return outcome
            return await self._compute(key, request, deadline_at, emit)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            # Shielded: a cancelled request still hands the key back promptly.
            await asyncio.shield(self._cache.release(key, lease.token))

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._lease_ttl_ms / 3000)
            reply = await self._cache.lease(
                key, ttl_ms=self._lease_ttl_ms, holder=self._holder, token=token
            )
            if reply is not None and not reply.granted:
                log.warning("lost the cache lease while computing")
                return

    def _count_lease(self, result: str) -> None:
        self.counts.leases[result] = self.counts.leases.get(result, 0) + 1

    async def _compute(
        self, key: str, request: Request, deadline_at: float, emit: Emit | None
    ) -> Outcome:
        def queued(position: int) -> None:
            if emit is not None:
                expected_s = self.admission.expected_wait_s(position) or 0.0
                event = gateway_pb2.QueuedEvent(
                    position=position, expected_wait_ms=expected_s * 1000
                )
                emit(gateway_pb2.AnalyzeEvent(queued=event))

        remaining = deadline_at - self._clock()
        async with self.admission.slot(request.client_id, remaining, queued) as waited_s:
            remaining = max(0.001, deadline_at - self._clock())
            if emit is None:
                result = await self._analysis.run(self._run_request(request), deadline_s=remaining)
            else:
                result = await self._streamed(request, remaining, emit)
        await self._store(key, request, result)
        # Not put in the near cache here: it fills on reads from the cache service, so
        # it holds what is asked for again, and every answer it gives was stored first.
        return Outcome(
            result.analysis,
            result.sql,
            result.row_count,
            types_pb2.CACHE_SOURCE_MISS,
            result.cost_usd,
            tuple(result.steps),
            result.aws_call_count,
            waited_s * 1000,
        )

    async def _streamed(
        self, request: Request, deadline_s: float, emit: Emit
    ) -> analysis_pb2.RunAnalysisResponse:
        result: analysis_pb2.RunAnalysisResponse | None = None
        async for event in self._analysis.stream(self._run_request(request), deadline_s=deadline_s):
            if event.HasField("step"):
                emit(gateway_pb2.AnalyzeEvent(step=event.step))
            elif event.HasField("result"):
                result = event.result
        if result is None:
            raise DependencyUnavailable("the analysis stream ended without a result")
        return result

    def _run_request(self, request: Request) -> analysis_pb2.RunAnalysisRequest:
        return analysis_pb2.RunAnalysisRequest(
            opportunity=opportunity_to_proto(request.opportunity),
            options=options_to_proto(request.options),
            client_id=request.client_id,
        )

    async def _store(
        self, key: str, request: Request, result: analysis_pb2.RunAnalysisResponse
    ) -> float | None:
        """The stored entry's TTL (s), None when the cache did not store it."""
        entry = cache_pb2.CacheEntry(
            opportunity=opportunity_to_proto(request.opportunity),
            options=options_to_proto(request.options),
            analysis=result.analysis,
            sql=result.sql,
            row_count=result.row_count,
            compute_ms=result.compute_ms,
            cost_usd=result.cost_usd,
            versions=self._fingerprint.describe() if self._fingerprint else "",
        )
        return await self._cache.put(key, entry)

    def _respond(
        self, request: Request, key: str, outcome: Outcome, started: float
    ) -> gateway_pb2.AnalyzeResponse:
        total_ms = (self._clock() - started) * 1000
        meta = gateway_pb2.ResponseMeta(
            request_id=request.request_id,
            cache_source=outcome.source,  # type: ignore[arg-type]
            steps=outcome.steps,
            queue_wait_ms=outcome.queue_wait_ms,
            total_ms=total_ms,
            sql=outcome.sql,
            row_count=outcome.row_count,
            cache_key=key,
            aws_call_count=outcome.aws_call_count,
            cost_usd=outcome.cost_usd,
        )
        source = SOURCE_LABEL.get(outcome.source, "miss")
        self.counts.responses[source] = self.counts.responses.get(source, 0) + 1
        self._telemetry.observe("request_ms", total_ms, source=source)
        hit = source in ("near", "redis", "dynamodb")
        self._telemetry.inc("cache_requests_total", result="hit" if hit else "miss")
        if source in _SAVED and outcome.cost_usd > 0:
            self._telemetry.inc("cost_avoided_usd_total", outcome.cost_usd, source=source)
        return gateway_pb2.AnalyzeResponse(analysis=outcome.analysis, meta=meta)


async def keep_fingerprint_fresh(
    pipeline: Pipeline, *, retry_s: float = 1.0, refresh_s: float = 30.0
) -> None:
    """Background: ask the analysis service what results depend on, quickly until it
    answers, then now and then (a redeploy with new prompt versions changes keys)."""
    while True:
        known = await pipeline.refresh_fingerprint()
        await asyncio.sleep(refresh_s if known else retry_s)
