"""A closed-loop load generator over grpc.aio: ``concurrency`` callers each send
the next request as soon as the previous answer arrives, for a duration or a count.
Used by ``oppsuite loadtest`` and the gateway benchmarks."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from services.common.gen import gateway_pb2, types_pb2

__all__ = ["LoadResult", "opportunity_request", "percentile", "run_load"]

Call = Callable[[gateway_pb2.AnalyzeRequest], Awaitable[gateway_pb2.AnalyzeResponse]]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadResult:
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # successful calls
    statuses: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses.get("OK", 0)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "requests": float(self.completed),
            "throughput_rps": self.completed / elapsed,
            "goodput_rps": self.ok / elapsed,
            "p50_ms": percentile(ordered, 50),
            "p90_ms": percentile(ordered, 90),
            "p99_ms": percentile(ordered, 99),
        }

    def format(self) -> str:
        s = self.summary()
        lines = [
            f"requests     {self.completed} in {self.elapsed_s:.1f} s",
            f"throughput   {s['throughput_rps']:.1f} req/s (ok {s['goodput_rps']:.1f} req/s)",
            f"latency ok   p50 {s['p50_ms']:.1f} ms  p90 {s['p90_ms']:.1f} ms  "
            f"p99 {s['p99_ms']:.1f} ms",
            "statuses     " + "  ".join(f"{k} {v}" for k, v in self.statuses.most_common()),
            "sources      " + "  ".join(f"{k} {v}" for k, v in self.sources.most_common()),
        ]
        return "\n".join(lines)


def opportunity_request(
    base: dict[str, str], distinct_ratio: float, rng: random.Random, pool: int = 1_000_000
) -> gateway_pb2.AnalyzeRequest:
    """The base opportunity, renamed to a fresh one with probability ``distinct_ratio``
    (so that share of requests misses the cache)."""
    fields = dict(base)
    if rng.random() < distinct_ratio:
        fields["opportunity_name"] = f"{base['opportunity_name']} #{rng.randrange(pool)}"
    return gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity(**fields))


async def run_load(
    call: Call,
    make_request: Callable[[], gateway_pb2.AnalyzeRequest],
    *,
    concurrency: int,
    duration_s: float | None = None,
    count: int | None = None,
    on_progress: Callable[[LoadResult], None] | None = None,
    progress_every_s: float = 1.0,
    clock: Callable[[], float] = time.perf_counter,
) -> LoadResult:
    result = LoadResult()
    started = clock()
    stop_at = started + duration_s if duration_s is not None else math.inf
    remaining = [count if count is not None else math.inf]

    async def caller() -> None:
        while clock() < stop_at and remaining[0] > 0:
            remaining[0] -= 1
            sent = clock()
            try:
                reply = await call(make_request())
            except grpc.aio.AioRpcError as error:
                result.statuses[error.code().name] += 1
                continue
            result.latencies_ms.append((clock() - sent) * 1000)
            result.statuses["OK"] += 1
            name = types_pb2.CacheSource.Name(reply.meta.cache_source)
            result.sources[name.removeprefix("CACHE_SOURCE_").lower()] += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(progress_every_s)
            result.elapsed_s = clock() - started
            if on_progress is not None:
                on_progress(result)

    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(caller() for _ in range(concurrency)))
    finally:
        reporter.cancel()
    result.elapsed_s = clock() - started
    return result
