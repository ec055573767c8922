"""`oppsuite validate`: live checks against a running suite (local or in a cluster).

Each check measures something and reports it, PASS or FAIL, with the figure it measured:

- caching: a unique opportunity is a miss, the same one again is a hit (and from which
  tier), and ``bypass_cache`` really bypasses;
- caching: tier promotion, against the cache service itself: a synthetic entry under a
  unique key, evicted from Redis (L1) only, is read from DynamoDB (L2), then from Redis
  (promoted, carrying L2's expiry), and finally removed from every tier;
- pooling: connection-pool metrics are exported and within their bounds;
- rate limiting: a burst of requests gets RESOURCE_EXHAUSTED rejections that carry a
  RetryInfo delay;
- response times: cache hits and the uncached workflow (and each of its steps) against
  their thresholds;
- monitoring: GetPerformance answers with the traffic just sent, and every service's
  /metrics endpoint answers with RPC metrics; a silence round trip through the alert
  API; an alert round trip: SendTestAlert is delivered on every configured channel and,
  when an alert inbox is known (``oppsuite up`` runs one), arrives there.

Nothing is taken on trust from a flag or a previous run: every figure is measured now.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import grpc
from prometheus_client.parser import text_string_to_metric_families

from services.client import SAMPLE_OPPORTUNITY, metadata, opportunity_from, retry_delay_s
from services.common.gen import (
    cache_pb2,
    cache_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    monitor_pb2,
    monitor_pb2_grpc,
    types_pb2,
)

__all__ = ["CheckResult", "Report", "ValidateOptions", "format_table", "validate"]

HIT_SOURCES = {
    types_pb2.CACHE_SOURCE_NEAR: "near",
    types_pb2.CACHE_SOURCE_REDIS: "redis",
    types_pb2.CACHE_SOURCE_DYNAMODB: "dynamodb",
    types_pb2.CACHE_SOURCE_COALESCED: "coalesced",
}


@dataclass(frozen=True)
class ValidateOptions:
    gateway: str
    api_key: str
    metrics_urls: Sequence[str]
    monitor: str | None = None  # the monitor's address, for the alerting round trip
    cache: str | None = None  # the cache's address, for the tier-promotion check
    alert_inbox: str | None = None  # an alert inbox URL to confirm the test alert arrived
    alert_channels: Sequence[str] = ()  # channels to send the test alert on (empty = all)
    alert_wait_s: float = 20.0  # for the channels' delivery outcomes
    inbox_wait_s: float = 10.0  # for the test alert to show up in the inbox
    timeout_s: float = 60.0  # per analysis call
    hit_samples: int = 20
    hit_p95_threshold_ms: float = 100.0
    total_threshold_ms: float = 30_000.0
    burst: int = 300
    burst_concurrency: int = 50
    scrape_timeout_s: float = 5.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    figure: str  # what was measured, in a few words
    details: Mapping[str, Any] = field(default_factory=dict)
    # Nothing to measure here (e.g. no AWS client pools on the local provider): reported,
    # not counted as a failure.
    skipped: bool = False

    @property
    def result(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"


@dataclass(frozen=True)
class Report:
    gateway: str
    checks: Sequence[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> str:
        return json.dumps(
            {
                "gateway": self.gateway,
                "passed": self.passed,
                "checks": [{**asdict(c), "result": c.result} for c in self.checks],
            },
            indent=2,
            default=str,
        )


def format_table(report: Report) -> str:
    width = max(len(c.name) for c in report.checks)
    lines = [f"{'check':<{width}}  result  measured", f"{'-' * width}  ------  --------"]
    for c in report.checks:
        lines.append(f"{c.name:<{width}}  {c.result:<6}  {c.figure}")
    verdict = "all checks passed" if report.passed else "some checks FAILED"
    counted = [c for c in report.checks if not c.skipped]
    passed = sum(c.passed for c in counted)
    lines.append(
        f"\n{verdict} ({passed}/{len(counted)}, {len(report.checks) - len(counted)} skipped)"
    )
    return "\n".join(lines)


def _unique_request(bypass: bool = False) -> gateway_pb2.AnalyzeRequest:
    """The sample opportunity made unique, so the first call cannot be a cache hit."""
    marker = uuid.uuid4().hex[:12]
    fields = {
        **SAMPLE_OPPORTUNITY,
        "opportunity_name": f"{SAMPLE_OPPORTUNITY['opportunity_name']} validate {marker}",
    }
    return gateway_pb2.AnalyzeRequest(
        opportunity=opportunity_from(fields),
        options=types_pb2.AnalysisOptions(bypass_cache=bypass),
    )


def _source(response: gateway_pb2.AnalyzeResponse) -> str:
    source = response.meta.cache_source
    if source == types_pb2.CACHE_SOURCE_MISS:
        return "miss"
    return HIT_SOURCES.get(source, "unspecified")


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


class _Session:
    def __init__(self, options: ValidateOptions, channel: grpc.aio.Channel) -> None:
        self.options = options
        self.stub = gateway_pb2_grpc.GatewayStub(channel)
        self.md = metadata(options.api_key)
        self.cached_request: gateway_pb2.AnalyzeRequest | None = None
        self.miss_response: gateway_pb2.AnalyzeResponse | None = None
        self.miss_ms = 0.0
        self.hit_ms: list[float] = []

    async def analyze(
        self, request: gateway_pb2.AnalyzeRequest
    ) -> tuple[gateway_pb2.AnalyzeResponse, float]:
        started = time.perf_counter()
        response = await self.stub.Analyze(
            request, metadata=self.md, timeout=self.options.timeout_s
        )
        return response, (time.perf_counter() - started) * 1000

    # -- caching -------------------------------------------------------------------------

    async def caching(self) -> CheckResult:
        request = _unique_request()
        first, first_ms = await self.analyze(request)
        second, second_ms = await self.analyze(request)
        bypass = gateway_pb2.AnalyzeRequest()
        bypass.CopyFrom(request)
        bypass.options.bypass_cache = True
        third, _ = await self.analyze(bypass)
        self.cached_request, self.miss_response, self.miss_ms = request, first, first_ms
        sources = (_source(first), _source(second), _source(third))
        passed = (
            sources[0] == "miss" and sources[1] in HIT_SOURCES.values() and (sources[2] == "miss")
        )
        figure = (
            f"first {sources[0]} {first_ms:.0f} ms, again {sources[1]} {second_ms:.1f} ms, "
            f"bypass {sources[2]}"
        )
        details = {
            "first": sources[0],
            "first_ms": round(first_ms, 2),
            "second": sources[1],
            "second_ms": round(second_ms, 2),
            "bypass": sources[2],
            "hit_tier": sources[1],
        }
        return CheckResult("caching", passed, figure, details)

    # -- response times ----------------------------------------------------------------

    async def response_times(self) -> CheckResult:
        if self.cached_request is None or self.miss_response is None:
            return CheckResult("response times", False, "no cached request (caching failed)")
        for _ in range(self.options.hit_samples):
            _, ms = await self.analyze(self.cached_request)
            self.hit_ms.append(ms)
        hit_p95 = _p95(self.hit_ms)
        steps = list(self.miss_response.meta.steps)
        violated = [s.step for s in steps if s.violated]
        total_ok = self.miss_ms <= self.options.total_threshold_ms
        passed = hit_p95 <= self.options.hit_p95_threshold_ms and total_ok and not violated
        figure = (
            f"hit p95 {hit_p95:.1f} ms (limit {self.options.hit_p95_threshold_ms:.0f}), "
            f"miss {self.miss_ms:.0f} ms (limit {self.options.total_threshold_ms:.0f}), "
            f"steps over threshold: {', '.join(violated) or 'none'}"
        )
        details = {
            "hit_p95_ms": round(hit_p95, 2),
            "hit_median_ms": round(statistics.median(self.hit_ms), 2),
            "miss_ms": round(self.miss_ms, 2),
            "steps": {
                s.step: {"ms": round(s.duration_ms, 2), "threshold_ms": s.threshold_ms}
                for s in steps
            },
        }
        return CheckResult("response times", passed, figure, details)

    # -- rate limiting -------------------------------------------------------------------

    async def rate_limiting(self) -> CheckResult:
        request = self.cached_request or _unique_request()
        gate = asyncio.Semaphore(self.options.burst_concurrency)
        outcomes: dict[str, int] = {}
        delays: list[float] = []

        async def one() -> None:
            async with gate:
                try:
                    await self.stub.Analyze(
                        request, metadata=self.md, timeout=self.options.timeout_s
                    )
                    key = "OK"
                except grpc.aio.AioRpcError as exc:
                    key = exc.code().name
                    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        delay = retry_delay_s(exc)
                        if delay is not None:
                            delays.append(delay)
                outcomes[key] = outcomes.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(self.options.burst)))
        elapsed = time.perf_counter() - started
        rejected = outcomes.get("RESOURCE_EXHAUSTED", 0)
        passed = rejected > 0 and len(delays) == rejected
        figure = (
            f"{rejected} of {self.options.burst} rejected in {elapsed:.1f} s, "
            f"{len(delays)} with RetryInfo"
        )
        if delays:
            figure += f" ({min(delays):.3f}-{max(delays):.3f} s)"
        details = {"outcomes": outcomes, "retry_delays_s": sorted(delays)[:10]}
        return CheckResult("rate limiting", passed, figure, details)

    # -- monitoring ----------------------------------------------------------------------

    async def performance(self) -> CheckResult:
        # Services send metric deltas once a second: give the ones just sent time to land.
        deadline = time.monotonic() + 5.0
        while True:
            report = await self.stub.GetPerformance(
                types_pb2.GetPerformanceRequest(window_seconds=300),
                metadata=self.md,
                timeout=10,
            )
            if report.request_count > 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        passed = report.request_count > 0
        figure = (
            f"GetPerformance: {report.request_count} requests in {report.window_seconds:.0f} s, "
            f"hit rate {report.cache_hit_rate:.0%}, p95 {report.total_latency.p95_ms:.0f} ms"
        )
        details = {
            "request_count": report.request_count,
            "cache_hit_rate": report.cache_hit_rate,
            "p95_ms": report.total_latency.p95_ms,
            "pool_utilization": dict(report.pool_utilization),
        }
        return CheckResult("monitoring: performance", passed, figure, details)


async def alerting_check(monitor: str | None) -> CheckResult:
    """A silence that can match no real alert: created, listed as active, deleted, gone."""
    name = "monitoring: alerting"
    if not monitor:
        return CheckResult(name, True, "no --monitor address given", skipped=True)
    started = time.perf_counter()
    matcher = monitor_pb2.Matcher(name="alertname", value=f"oppsuite-validate-{uuid.uuid4().hex}")
    async with grpc.aio.insecure_channel(monitor) as channel:
        stub = monitor_pb2_grpc.MonitorStub(channel)
        silence = await stub.CreateSilence(
            monitor_pb2.CreateSilenceRequest(
                matchers=[matcher],
                duration_seconds=60,
                author="oppsuite validate",
                reason="validation round trip",
            ),
            timeout=5,
        )
        listed = await stub.ListAlerts(monitor_pb2.ListAlertsRequest(), timeout=5)
        active = any(s.id == silence.id for s in listed.silences)
        await stub.DeleteSilence(monitor_pb2.DeleteSilenceRequest(id=silence.id), timeout=5)
        after = await stub.ListAlerts(monitor_pb2.ListAlertsRequest(), timeout=5)
        gone = not any(s.id == silence.id for s in after.silences)
    ms = (time.perf_counter() - started) * 1000
    figure = (
        f"silence created, {'listed' if active else 'NOT listed'}, deleted, "
        f"{'gone' if gone else 'STILL listed'} in {ms:.0f} ms; {len(listed.alerts)} alerts open"
    )
    details = {"silence_listed": active, "silence_gone": gone, "open_alerts": len(listed.alerts)}
    return CheckResult(name, active and gone, figure, details)


def _synthetic_entry() -> cache_pb2.CacheEntry:
    """Clearly not an analysis anyone asked for; cacheable (it has a confidence)."""
    return cache_pb2.CacheEntry(
        analysis=types_pb2.Analysis(
            confidence=types_pb2.CONFIDENCE_LOW,
            confidence_score=1,
            methodology="oppsuite validate: synthetic entry for the tier-promotion check",
        ),
        versions="oppsuite-validate",
    )


async def _timed_get(
    stub: cache_pb2_grpc.CacheStub, key: str
) -> tuple[cache_pb2.CacheGetResponse, float]:
    started = time.perf_counter()
    reply = await stub.Get(cache_pb2.CacheGetRequest(key=key), timeout=5)
    return reply, (time.perf_counter() - started) * 1000


def _tier(reply: cache_pb2.CacheGetResponse) -> str:
    return "miss" if not reply.hit else HIT_SOURCES.get(reply.source, "unspecified")


async def tier_promotion_check(cache: str | None) -> CheckResult:
    """Put, evict from Redis only, Get (DynamoDB), Get (Redis, promoted), remove."""
    name = "caching: tier promotion"
    if not cache:
        return CheckResult(name, True, "no --cache address given", skipped=True)
    key = f"oppsuite-validate-{uuid.uuid4().hex}"
    async with grpc.aio.insecure_channel(cache) as channel:
        stub = cache_pb2_grpc.CacheStub(channel)
        stats = await stub.GetStats(cache_pb2.CacheStatsRequest(), timeout=5)
        if "dynamodb" not in stats.tiers:
            figure = "the cache runs without DynamoDB (L2): nothing to promote from"
            return CheckResult(name, True, figure, {"tiers": list(stats.tiers)}, skipped=True)
        try:
            before, _ = await _timed_get(stub, key)
            put = await stub.Put(
                cache_pb2.CachePutRequest(key=key, entry=_synthetic_entry()), timeout=5
            )
            put_at = time.time()
            evicted = await stub.Invalidate(
                cache_pb2.CacheInvalidateRequest(keys=[key], tiers=[types_pb2.CACHE_SOURCE_REDIS]),
                timeout=5,
            )
            from_l2, l2_ms = await _timed_get(stub, key)
            promoted, l1_ms = await _timed_get(stub, key)
        finally:
            removed = await stub.Invalidate(cache_pb2.CacheInvalidateRequest(keys=[key]), timeout=5)
        after, _ = await _timed_get(stub, key)
    l2_expiry, l1_expiry = from_l2.entry.expires_at_unix, promoted.entry.expires_at_unix
    carried = (
        from_l2.hit
        and promoted.hit
        and 0 < l1_expiry <= l2_expiry
        and l2_expiry <= put_at + put.ttl_seconds + 1.0
    )
    steps = {
        "before": _tier(before),
        "stored": put.stored,
        "evicted_from_redis": evicted.removed,
        "first_get": _tier(from_l2),
        "second_get": _tier(promoted),
        "after_cleanup": _tier(after),
    }
    passed = (
        steps["before"] == "miss"
        and put.stored
        and steps["first_get"] == "dynamodb"
        and steps["second_get"] == "redis"
        and carried
        and steps["after_cleanup"] == "miss"
    )
    left_s = l1_expiry - time.time()
    figure = (
        f"L2 (DynamoDB) hit {l2_ms:.1f} ms, promoted L1 (Redis) hit {l1_ms:.1f} ms, "
        f"expiry {'carried' if carried else 'NOT carried'} ({left_s:.0f} s left of "
        f"{put.ttl_seconds:.0f} s)"
    )
    if not passed:
        figure = (
            f"put {'stored' if put.stored else 'NOT stored'}, after evicting Redis: "
            f"{steps['first_get']} then {steps['second_get']}, after cleanup "
            f"{steps['after_cleanup']}; " + figure
        )
    details = {
        **steps,
        "l2_hit_ms": round(l2_ms, 2),
        "promoted_l1_hit_ms": round(l1_ms, 2),
        "ttl_s": put.ttl_seconds,
        "l2_expires_at_unix": l2_expiry,
        "l1_expires_at_unix": l1_expiry,
        "removed_at_cleanup": removed.removed,
    }
    return CheckResult(name, passed, figure, details)


def _inbox_has(url: str, test_id: str, timeout_s: float) -> bool:
    query = urllib.parse.urlencode({"test_id": test_id})
    separator = "&" if "?" in url else "?"
    with urllib.request.urlopen(f"{url}{separator}{query}", timeout=timeout_s) as reply:
        document = json.loads(reply.read())
    return any(
        isinstance(a, dict) and a.get("body", {}).get("test_id") == test_id
        for a in document.get("alerts", [])
    )


async def _wait_for_inbox(url: str, test_id: str, wait_s: float) -> tuple[bool, float, str]:
    """(arrived, seconds waited, last error)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    error = ""
    while True:
        try:
            if await loop.run_in_executor(None, _inbox_has, url, test_id, 5.0):
                return True, time.monotonic() - started, ""
        except (OSError, ValueError, urllib.error.URLError) as exc:
            error = str(exc)
        if time.monotonic() - started > wait_s:
            return False, time.monotonic() - started, error
        await asyncio.sleep(0.2)


async def alert_round_trip_check(options: ValidateOptions) -> CheckResult:
    """SendTestAlert on every configured channel (or those named), each delivered; and,
    with an alert inbox, the test alert's id found there."""
    name = "monitoring: alert round trip"
    if not options.monitor:
        return CheckResult(name, True, "no --monitor address given", skipped=True)
    request = monitor_pb2.SendTestAlertRequest(
        channels=list(options.alert_channels),
        requested_by="oppsuite validate",
        wait_seconds=options.alert_wait_s,
    )
    async with grpc.aio.insecure_channel(options.monitor) as channel:
        stub = monitor_pb2_grpc.MonitorStub(channel)
        try:
            reply = await stub.SendTestAlert(request, timeout=options.alert_wait_s + 5)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return CheckResult(name, False, str(exc.details()), {"code": exc.code().name})
    deliveries = {
        d.channel: {
            "delivered": d.delivered,
            "attempts": d.attempts,
            "latency_ms": round(d.latency_ms, 2),
            "error": d.error,
            "pending": d.pending,
        }
        for d in reply.deliveries
    }
    delivered = bool(reply.deliveries) and all(d.delivered for d in reply.deliveries)
    parts = [
        f"{d.channel} {'delivered' if d.delivered else 'NOT delivered'} "
        f"({d.attempts} attempt{'s' if d.attempts != 1 else ''}, {d.latency_ms:.0f} ms"
        + (f", {d.error}" if d.error and not d.delivered else "")
        + ")"
        for d in reply.deliveries
    ]
    figure = f"test alert {reply.test_id[:8]}: " + ", ".join(parts)
    details: dict[str, Any] = {"test_id": reply.test_id, "deliveries": deliveries}
    arrived = True
    if options.alert_inbox:
        arrived, waited_s, error = await _wait_for_inbox(
            options.alert_inbox, reply.test_id, options.inbox_wait_s if delivered else 0.0
        )
        details.update(inbox=options.alert_inbox, arrived=arrived, inbox_error=error)
        figure += (
            f"; arrived at the alert inbox ({waited_s * 1000:.0f} ms)"
            if arrived
            else f"; NOT found at the alert inbox after {waited_s:.1f} s"
            + (f" ({error})" if error else "")
        )
    else:
        figure += "; no inbox to check (the receiver's acknowledgement is the round trip)"
    return CheckResult(name, delivered and arrived, figure, details)


def _scrape(url: str, timeout_s: float) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name; a declared family without samples maps to an empty list."""
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        text = reply.read().decode("utf-8", "replace")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        families.setdefault(family.name, [])
        for sample in family.samples:
            families.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return families


def _scrape_all(
    urls: Sequence[str], timeout_s: float
) -> tuple[dict[str, dict[str, list[tuple[dict[str, str], float]]]], dict[str, str]]:
    scraped: dict[str, dict[str, list[tuple[dict[str, str], float]]]] = {}
    errors: dict[str, str] = {}
    for url in urls:
        try:
            scraped[url] = _scrape(url, timeout_s)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors[url] = str(exc)
    return scraped, errors


def metrics_check(urls: Sequence[str], timeout_s: float) -> CheckResult:
    scraped, errors = _scrape_all(urls, timeout_s)
    without_rpc = [u for u, f in scraped.items() if "grpc_server_handled_total" not in f]
    passed = bool(urls) and not errors and not without_rpc
    figure = f"{len(scraped)}/{len(urls)} /metrics endpoints answered"
    if without_rpc:
        figure += f", {len(without_rpc)} without RPC metrics"
    details = {"errors": errors, "without_rpc_metrics": without_rpc}
    return CheckResult("monitoring: metrics", passed, figure, details)


def pooling_check(urls: Sequence[str], timeout_s: float) -> CheckResult:
    """Pool metrics present, and in use never above the pool's size."""
    scraped, errors = _scrape_all(urls, timeout_s)
    pools: dict[str, dict[str, float]] = {}  # "<name>{labels}" -> role -> value
    for families in scraped.values():
        for name, samples in families.items():
            if "pool" not in name or not name.startswith("oppsuite_"):
                continue
            role = _pool_role(name)
            if role is None:
                continue
            for labels, value in samples:
                key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                pools.setdefault(key, {})[role] = value
    declared = sorted(
        {n for f in scraped.values() for n in f if n.startswith("oppsuite_") and "pool" in n}
    )
    if not pools:
        if declared and not errors:
            figure = f"no pool in use ({len(declared)} pool metrics declared, no samples)"
            details = {"declared": declared, "why": "no AWS client pool on this provider"}
            return CheckResult("pooling", True, figure, details, skipped=True)
        detail = "; ".join(f"{u}: {e}" for u, e in errors.items())
        return CheckResult(
            "pooling",
            False,
            "no connection-pool metrics exported by any service"
            + (f" ({detail})" if detail else ""),
            {"errors": errors, "declared": declared},
        )
    over = {
        key: roles
        for key, roles in pools.items()
        if ("in_use" in roles and "size" in roles and roles["in_use"] > roles["size"])
        or roles.get("utilization", 0.0) > 1.0
    }
    utilizations = [
        roles["in_use"] / roles["size"]
        for roles in pools.values()
        if roles.get("size") and "in_use" in roles
    ] + [roles["utilization"] for roles in pools.values() if "utilization" in roles]
    peak = max(utilizations, default=0.0)
    figure = f"{len(pools)} pools, peak utilization {peak:.0%}, {len(over)} over their bound"
    return CheckResult("pooling", not over, figure, {"pools": pools, "over_bound": over})


def _pool_role(name: str) -> str | None:
    if name.endswith(("_total", "_created", "_bucket", "_count", "_sum")):
        return None  # counters and histograms (resizes, waits) are not bounds
    for role, words in (
        ("utilization", ("utilization", "utilisation")),
        ("in_use", ("in_use", "active", "busy", "checked_out")),
        ("size", ("size", "max", "limit", "capacity")),
    ):
        if any(word in name for word in words):
            return role
    return None


async def _run_checks(options: ValidateOptions) -> list[CheckResult]:
    results: list[CheckResult] = []
    async with grpc.aio.insecure_channel(options.gateway) as channel:
        session = _Session(options, channel)
        for name, step in (
            ("caching", session.caching),
            ("response times", session.response_times),
            ("monitoring: performance", session.performance),
            ("rate limiting", session.rate_limiting),
        ):
            try:
                results.append(await step())
            except grpc.aio.AioRpcError as exc:
                figure = f"{exc.code().name}: {exc.details()}"
                results.append(CheckResult(name, False, figure))
            except Exception as exc:  # a check that breaks is a failed check, not a crash
                results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    direct: list[tuple[str, Callable[[], Awaitable[CheckResult]]]] = [
        ("caching: tier promotion", lambda: tier_promotion_check(options.cache)),
        ("monitoring: alerting", lambda: alerting_check(options.monitor)),
        ("monitoring: alert round trip", lambda: alert_round_trip_check(options)),
    ]
    for name, check in direct:
        try:
            results.append(await check())
        except grpc.aio.AioRpcError as exc:
            results.append(CheckResult(name, False, f"{exc.code().name}: {exc.details()}"))
        except Exception as exc:  # a check that breaks is a failed check, not a crash
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    loop = asyncio.get_running_loop()
    timeout = options.scrape_timeout_s
    results.append(await loop.run_in_executor(None, pooling_check, options.metrics_urls, timeout))
    results.append(await loop.run_in_executor(None, metrics_check, options.metrics_urls, timeout))
    order = ["caching", "caching: tier promotion", "pooling", "rate limiting", "response times"]
    return sorted(results, key=lambda r: order.index(r.name) if r.name in order else len(order))


def validate(options: ValidateOptions) -> Report:
    return Report(options.gateway, asyncio.run(_run_checks(options)))


def run(options: ValidateOptions, out: TextIO, *, as_json: bool) -> int:
    report = validate(options)
    print(report.to_json() if as_json else format_table(report), file=out)
    return 0 if report.passed else 1
