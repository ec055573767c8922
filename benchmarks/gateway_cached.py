"""Cached Analyze through the gateway at 32 concurrent callers, side by side with the
bare grpc.aio probe of the same shape (client → proxy → server doing one Redis GET),
with the near cache on and off. Starts everything itself on free ports.

    .venv/bin/python -m benchmarks.gateway_cached [--seconds 5] [--rounds 3] [--concurrency 32]

The three targets are measured in alternating rounds and each keeps its median round,
so load from elsewhere on the machine falls on all of them alike.

Goal: gateway throughput >= 1.0x the probe with the near cache on, >= 0.7x off.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

import grpc
import redis

from benchmarks.gateway_stack import auth, stack
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import cache_pb2, cache_pb2_grpc, gateway_pb2, gateway_pb2_grpc, types_pb2
from services.gateway.loadgen import LoadResult, run_load
from services.launcher import free_port, port_open, wait_until

REQUEST = gateway_pb2.AnalyzeRequest(opportunity=types_pb2.Opportunity(**SAMPLE_OPPORTUNITY))


async def measure(address: str, seconds: float, concurrency: int) -> LoadResult:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)

        async def call(request: gateway_pb2.AnalyzeRequest) -> gateway_pb2.AnalyzeResponse:
            reply: gateway_pb2.AnalyzeResponse = await stub.Analyze(
                request, metadata=auth(), timeout=10
            )
            return reply

        await run_load(call, lambda: REQUEST, concurrency=concurrency, count=200)  # warm-up
        return await run_load(call, lambda: REQUEST, concurrency=concurrency, duration_s=seconds)


def median_run(results: list[LoadResult]) -> LoadResult:
    return sorted(results, key=lambda r: r.summary()["throughput_rps"])[len(results) // 2]


def line(name: str, result: LoadResult, baseline: float | None) -> str:
    s = result.summary()
    ratio = f"{s['throughput_rps'] / baseline:5.2f}x" if baseline else "   1x"
    errors = result.completed - result.ok
    return (
        f"{name:<22} {s['throughput_rps']:8.0f} req/s  {ratio}  p50 {s['p50_ms']:6.2f} ms  "
        f"p99 {s['p99_ms']:6.2f} ms  errors {errors}  sources {dict(result.sources)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    limits = {"RATE_LIMIT_PER_MINUTE": "100000000", "CLIENT_RATE_LIMIT_PER_MINUTE": "100000000"}
    with stack(**limits) as running:
        near_off, _, _ = running.add_gateway(NEAR_CACHE_TTL_MS="0")
        with grpc.insecure_channel(running.gateway) as channel:
            reply = gateway_pb2_grpc.GatewayStub(channel).Analyze(
                REQUEST, metadata=auth(), timeout=120
            )
        cache_address = running.suite.config.address("cache")
        with grpc.insecure_channel(cache_address) as channel:
            found = cache_pb2_grpc.CacheStub(channel).Get(
                cache_pb2.CacheGetRequest(key=reply.meta.cache_key), timeout=5
            )
        redis_url = f"redis://127.0.0.1:{running.suite.config.redis_port}/0"
        redis.Redis.from_url(redis_url).set("probe", found.entry.SerializeToString())
        server_port, proxy_port = free_port(), free_port()
        probes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.probe_proxy",
                    "server",
                    "--port",
                    str(server_port),
                    "--redis-url",
                    redis_url,
                ]
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.probe_proxy",
                    "proxy",
                    "--port",
                    str(proxy_port),
                    "--backend",
                    f"127.0.0.1:{server_port}",
                ]
            ),
        ]
        try:
            wait_until(lambda: port_open("127.0.0.1", proxy_port), 30, "probe proxy")
            targets = {
                "probe": f"127.0.0.1:{proxy_port}",
                "near": running.gateway,
                "remote": near_off,
            }
            runs: dict[str, list[LoadResult]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, address in targets.items():
                    runs[name].append(asyncio.run(measure(address, args.seconds, args.concurrency)))
            probe, near, remote = (median_run(runs[name]) for name in targets)
        finally:
            for proc in probes:
                proc.terminate()
                proc.wait()
    base = probe.summary()["throughput_rps"]
    print(
        f"cached Analyze, {args.concurrency} concurrent; median of {args.rounds} alternating "
        f"{args.seconds:.0f} s rounds per target"
    )
    print(line("bare grpc.aio probe", probe, None))
    print(line("gateway, near cache on", near, base))
    print(line("gateway, near cache off", remote, base))


if __name__ == "__main__":
    main()
