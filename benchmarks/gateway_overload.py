"""Overload at 5x capacity with the slow (Bedrock-like) provider, then 1000 client
streams held at once.

    .venv/bin/python -m benchmarks.gateway_overload [--seconds 30] [--slots 4] [--scale 0.1]

Capacity is measured first (``slots`` closed-loop callers of fresh opportunities for
``--calibrate`` seconds; this also teaches the gateway its drain rate). Then 5x that
is offered, open loop, every request a new opportunity (a miss), each with a
``--deadline`` (10 s). Prints goodput, P99 of admitted
requests, how many were rejected at enqueue (RESOURCE_EXHAUSTED queue_full, or
DEADLINE_EXCEEDED decided at admission), left the queue early (DEADLINE_EXCEEDED as
soon as the analysis could no longer finish in time), versus timed out (the queue
timeout, or a deadline that passed during the analysis), and the gateway's RSS.
Goals: none timed out in the queue, RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import grpc

from benchmarks.gateway_stack import auth, rss_mb, stack
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.gateway.loadgen import percentile, run_load


def fresh(tag: str, n: int) -> gateway_pb2.AnalyzeRequest:
    fields = {**SAMPLE_OPPORTUNITY, "opportunity_name": f"Overload {tag} {n}"}
    return gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity(**fields))


def classify(error: grpc.aio.AioRpcError) -> str:
    details = error.details() or ""
    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "timed_out_in_queue" if "no analysis slot" in details else "rejected_at_enqueue"
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        if "cannot be met" in details:
            return "rejected_at_enqueue"
        # Left the queue once its analysis could no longer finish in time.
        return "left_queue_early" if "no longer be met" in details else "timed_out"
    return error.code().name


async def overload(
    address: str, per_s: float, seconds: float, deadline_s: float
) -> tuple[Counter[str], list[float]]:
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    tag = str(time.time_ns())
    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)

        async def one(n: int) -> None:
            sent = time.monotonic()
            try:
                await stub.Analyze(fresh(tag, n), metadata=auth(), timeout=deadline_s)
            except grpc.aio.AioRpcError as error:
                outcomes[classify(error)] += 1
                return
            outcomes["ok"] += 1
            latencies.append((time.monotonic() - sent) * 1000)

        tasks, started, n = [], time.monotonic(), 0
        while (now := time.monotonic()) < started + seconds:
            due = started + n / per_s
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.gather(*tasks)
    return outcomes, sorted(latencies)


async def hold_streams(address: str, count: int, pid: int) -> tuple[int, float, Counter[str]]:
    """(streams that got their first event, gateway RSS meanwhile, the others' status)."""
    tag = str(time.time_ns())
    queued = 0
    refused: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        calls = [
            stub.AnalyzeStream(fresh(tag, n), metadata=auth(), timeout=120) for n in range(count)
        ]

        async def first_event(call: object) -> bool:
            try:
                event = await call.read()  # type: ignore[attr-defined]
            except grpc.aio.AioRpcError as error:
                # The status and the start of its message, which names the limit.
                refused[f"{error.code().name}: {(error.details() or '')[:48]}"] += 1
                return False
            return bool(event is not grpc.aio.EOF)

        results = await asyncio.gather(*(first_event(c) for c in calls))
        queued = sum(results)
        rss = rss_mb(pid)
        for call in calls:
            call.cancel()
    return queued, rss, refused


async def calibrate(address: str, slots: int, seconds: float) -> tuple[float, float]:
    """(analyses per second, mean latency in s) with exactly ``slots`` callers."""
    tag = f"calibrate {time.time_ns()}"
    counter = iter(range(10**9))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)

        async def call(request: gateway_pb2.AnalyzeRequest) -> gateway_pb2.AnalyzeResponse:
            reply: gateway_pb2.AnalyzeResponse = await stub.Analyze(
                request, metadata=auth(), timeout=120
            )
            return reply

        await run_load(call, lambda: fresh(tag, next(counter)), concurrency=slots, count=slots)
        result = await run_load(
            call, lambda: fresh(tag, next(counter)), concurrency=slots, duration_s=seconds
        )
    ok = max(1, result.ok)
    return ok / result.elapsed_s, sum(result.latencies_ms) / ok / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--calibrate", type=float, default=15.0)
    parser.add_argument("--slots", type=int, default=4, help="MAX_CONCURRENT_REQUESTS")
    parser.add_argument("--scale", type=float, default=0.1, help="LOCAL_LATENCY_SCALE")
    parser.add_argument("--deadline", type=float, default=10.0, help="per-request, s")
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    env = {
        "LOCAL_LATENCY_PROFILE": "bedrock",
        "LOCAL_LATENCY_SCALE": str(args.scale),
        "MAX_CONCURRENT_REQUESTS": str(args.slots),
        "MAX_QUEUE_SIZE": str(args.slots * 5),
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "CLIENT_RATE_LIMIT_PER_MINUTE": "100000000",
        # 1000 streams arrive within milliseconds and concurrent limiter decisions share
        # one instant: the bursts must hold them all, or the limiter (correctly) refuses
        # the excess and the benchmark measures the limiter instead of the gateway.
        "BURST_CAPACITY": "100000",
        "CLIENT_BURST_CAPACITY": "100000",
    }
    with stack(**env) as running:
        pid = running.suite._procs["gateway"].pid
        capacity, mean_s = asyncio.run(calibrate(running.gateway, args.slots, args.calibrate))
        outcomes, latencies = asyncio.run(
            overload(running.gateway, 5 * capacity, args.seconds, args.deadline)
        )
        rss_after_overload = rss_mb(pid)
        streams_address, _, streams_proc = running.add_gateway(
            MAX_QUEUE_SIZE=str(args.streams + 100)
        )
        held, rss_streams, refused = asyncio.run(
            hold_streams(streams_address, args.streams, streams_proc.pid)
        )
    total = sum(outcomes.values())
    print(
        f"capacity {capacity:.2f}/s measured ({args.slots} slots, {mean_s:.2f} s per "
        f"analysis); offered {5 * capacity:.1f}/s for {args.seconds:.0f} s = {total} requests, "
        f"deadline {args.deadline:.0f} s"
    )
    print(f"goodput            {outcomes['ok'] / args.seconds:.2f}/s ({outcomes['ok']} ok)")
    print(
        f"admitted latency   p50 {percentile(latencies, 50):.0f} ms  "
        f"p99 {percentile(latencies, 99):.0f} ms"
    )
    for name in ("rejected_at_enqueue", "left_queue_early", "timed_out_in_queue", "timed_out"):
        print(f"{name:<18} {outcomes[name]} ({outcomes[name] / max(1, total):.1%})")
    known = ("ok", "rejected_at_enqueue", "left_queue_early", "timed_out_in_queue", "timed_out")
    print(f"other statuses     { ({k: v for k, v in outcomes.items() if k not in known}) }")
    print(f"gateway RSS        {rss_after_overload:.0f} MB after the overload")
    print(
        f"streams held       {held}/{args.streams} got their first event; "
        f"gateway RSS {rss_streams:.0f} MB while holding them"
        + (f"; the others were answered {dict(refused)}" if refused else "")
    )


if __name__ == "__main__":
    main()
