"""Cached Analyze through the gateway at 32 concurrent callers, side by side with the
bare grpc.aio probe of the same shape (client → proxy → server doing one Redis GET),
with the near cache on and off. Starts everything itself on free ports.

    .venv/bin/python -m benchmarks.gateway_cached [--seconds 10] [--concurrency 32]

Goal: gateway throughput >= 1.0x the probe with the near cache on, >= 0.7x off.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys

import grpc
import redis

from benchmarks.gateway_stack import auth, free_port, stack
from services.client import SAMPLE_OPPORTUNITY
from services.common.gen import cache_pb2, cache_pb2_grpc, gateway_pb2, gateway_pb2_grpc, types_pb2
from services.gateway.loadgen import LoadResult, run_load
from services.launcher import port_open, wait_until

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
    parser.add_argument("--seconds", type=float, default=10.0)
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
            probe = asyncio.run(measure(f"127.0.0.1:{proxy_port}", args.seconds, args.concurrency))
            near = asyncio.run(measure(running.gateway, args.seconds, args.concurrency))
            remote = asyncio.run(measure(near_off, args.seconds, args.concurrency))
        finally:
            for proc in probes:
                proc.terminate()
                proc.wait()
    base = probe.summary()["throughput_rps"]
    print(f"cached Analyze, {args.concurrency} concurrent, {args.seconds:.0f} s each")
    print(line("bare grpc.aio probe", probe, None))
    print(line("gateway, near cache on", near, base))
    print(line("gateway, near cache off", remote, base))


if __name__ == "__main__":
    main()
