"""``oppsuite loadtest``: closed-loop load against a gateway, with progress."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from pathlib import Path

import grpc

from services.client import SAMPLE_OPPORTUNITY, api_key, metadata
from services.common.gen import gateway_pb2, gateway_pb2_grpc
from services.gateway.loadgen import LoadResult, opportunity_request, run_load

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "loadtest", help="closed-loop load on the gateway: throughput, percentiles, statuses"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="callers in parallel")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (unless --count)")
    parser.add_argument("--count", type=int, help="stop after this many requests")
    parser.add_argument(
        "--distinct-ratio",
        type=float,
        default=0.0,
        help="share of requests for a fresh opportunity (a cache miss), 0..1",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request deadline, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--target", help="gateway address (default OPPSUITE_GATEWAY)")
    parser.set_defaults(func=cmd_loadtest)


def _progress(result: LoadResult) -> None:
    s = result.summary()
    print(
        f"\r{result.elapsed_s:6.1f} s  {result.completed:7d} done  "
        f"{s['throughput_rps']:8.1f} req/s  p99 {s['p99_ms']:8.1f} ms",
        end="",
        file=sys.stderr,
        flush=True,
    )


async def _run(args: argparse.Namespace, key: str) -> LoadResult:
    target = args.target or os.environ.get("OPPSUITE_GATEWAY", "127.0.0.1:50051")
    rng = random.Random(args.seed)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)

        async def call(request: gateway_pb2.AnalyzeRequest) -> gateway_pb2.AnalyzeResponse:
            reply: gateway_pb2.AnalyzeResponse = await stub.Analyze(
                request, metadata=metadata(key), timeout=args.timeout
            )
            return reply

        return await run_load(
            call,
            lambda: opportunity_request(SAMPLE_OPPORTUNITY, args.distinct_ratio, rng),
            concurrency=args.concurrency,
            duration_s=None if args.count else args.duration,
            count=args.count,
            on_progress=_progress,
        )


def cmd_loadtest(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or not 0 <= args.distinct_ratio <= 1:
        print("--concurrency must be >= 1 and --distinct-ratio within 0..1", file=sys.stderr)
        return 2
    key_file = Path(os.environ.get("OPPSUITE_STATE_DIR", ".oppsuite")) / "api-key"
    result = asyncio.run(_run(args, api_key(key_file)))
    print(file=sys.stderr)
    if args.json:
        summary = {**result.summary(), "statuses": dict(result.statuses)}
        print(json.dumps({**summary, "sources": dict(result.sources)}, indent=2))
    else:
        print(result.format())
    return 0 if result.ok else 1
