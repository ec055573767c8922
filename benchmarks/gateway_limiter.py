"""Limiter accuracy across 3 gateway replicas sharing Redis, at 2x the limit.

    .venv/bin/python -m benchmarks.gateway_limiter [--seconds 60] [--rate 3000] [--burst 100]

Offers ``2 x rate`` per minute, open loop, spread round-robin over three gateway
processes, all for one client with a per-client override; prints admitted versus
``burst + rate x elapsed`` and the limiter's Redis round trips per decision.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import grpc

from benchmarks.gateway_stack import auth, stack
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.launcher import scrape_total

REQUEST = gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity(**SAMPLE_OPPORTUNITY))


async def offer(addresses: list[str], per_s: float, seconds: float) -> tuple[Counter[str], float]:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    stubs = [gateway_pb2_grpc.GatewayStub(c) for c in channels]
    outcomes: Counter[str] = Counter()
    first_ok, last_ok = float("inf"), 0.0

    async def one(stub: gateway_pb2_grpc.GatewayStub) -> None:
        nonlocal first_ok, last_ok
        sent = time.monotonic()
        try:
            await stub.Analyze(REQUEST, metadata=auth(), timeout=10)
        except grpc.aio.AioRpcError as error:
            outcomes[error.code().name] += 1
            return
        outcomes["OK"] += 1
        first_ok, last_ok = min(first_ok, sent), max(last_ok, time.monotonic())

    tasks = []
    started = time.monotonic()
    n = 0
    while (now := time.monotonic()) < started + seconds:
        due = started + n / per_s
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(stubs[n % len(stubs)])))
        n += 1
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    return outcomes, last_ok - first_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=3000.0, help="client limit per minute")
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    env = {
        "CLIENT_LIMIT_OVERRIDES": f"bench={args.rate:g}/{args.burst}",
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "GATEWAY_REPLICAS": "3",
    }
    with stack(**env) as running:
        others = [running.add_gateway()[0] for _ in range(2)]
        addresses = [running.gateway, *others]
        metrics = [running.suite.config.metrics_ports["gateway"]] + [m for _, m, _ in running.extra]
        with grpc.insecure_channel(running.gateway) as channel:
            gateway_pb2_grpc.GatewayStub(channel).Analyze(REQUEST, metadata=auth(), timeout=120)
        time.sleep(60 * args.burst / args.rate + 0.5)  # let the warm-up's token come back
        before_trips = sum(
            scrape_total(m, "oppsuite_gateway_ratelimit_redis_round_trips_total") for m in metrics
        )
        before_dec = sum(
            scrape_total(m, "oppsuite_gateway_ratelimit_decisions_total") for m in metrics
        )
        outcomes, window = asyncio.run(offer(addresses, 2 * args.rate / 60, args.seconds))
        trips = sum(
            scrape_total(m, "oppsuite_gateway_ratelimit_redis_round_trips_total") for m in metrics
        )
        decisions = sum(
            scrape_total(m, "oppsuite_gateway_ratelimit_decisions_total") for m in metrics
        )
        local = sum(
            scrape_total(m, 'oppsuite_gateway_ratelimit_decisions_total{backend="local"')
            for m in metrics
        )
    expected = args.burst + args.rate / 60 * window
    admitted = outcomes["OK"]
    print(
        f"limit {args.rate:g}/min burst {args.burst}, offered 2x for {args.seconds:.0f} s "
        "over 3 replicas"
    )
    print(f"outcomes           {dict(outcomes)}")
    print(
        f"admitted           {admitted}  expected burst + rate x {window:.2f} s = {expected:.1f}"
        f"  error {100 * (admitted - expected) / expected:+.2f} %"
    )
    print(
        f"Redis round trips  {(trips - before_trips) / max(1, decisions - before_dec):.3f} "
        f"per decision ({decisions - before_dec:.0f} decisions, {local:.0f} made locally "
        "while Redis was slower than its budget)"
    )


if __name__ == "__main__":
    main()
