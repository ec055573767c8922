"""The bare grpc.aio probe the gateway is measured against: client → proxy → server,
where the server does exactly one Redis GET and the proxy only forwards. Same
messages as the real path (Gateway.Analyze in front, Cache.Get behind).

    .venv/bin/python -m benchmarks.probe_proxy server --port P --redis-url URL --key K
    .venv/bin/python -m benchmarks.probe_proxy proxy --port P --backend 127.0.0.1:Q
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc
import redis.asyncio as aioredis

from services.common.gen import cache_pb2, cache_pb2_grpc, gateway_pb2, gateway_pb2_grpc


class ProbeCache(cache_pb2_grpc.CacheServicer):  # type: ignore[misc]
    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self._client = client
        self._key = key

    async def Get(self, request: Any, context: Any) -> cache_pb2.CacheGetResponse:
        raw = await self._client.get(self._key)
        if raw is None:
            return cache_pb2.CacheGetResponse(hit=False)
        return cache_pb2.CacheGetResponse(hit=True, entry=cache_pb2.CacheEntry.FromString(raw))


class ProbeProxy(gateway_pb2_grpc.GatewayServicer):  # type: ignore[misc]
    def __init__(self, backend: cache_pb2_grpc.CacheStub) -> None:
        self._backend = backend

    async def Analyze(self, request: Any, context: Any) -> gateway_pb2.AnalyzeResponse:
        reply = await self._backend.Get(cache_pb2.CacheGetRequest(key="probe"), timeout=1)
        return gateway_pb2.AnalyzeResponse(analysis=reply.entry.analysis)


async def serve(args: argparse.Namespace) -> None:
    server = grpc.aio.server()
    if args.role == "server":
        client = aioredis.Redis.from_url(args.redis_url)
        cache_pb2_grpc.add_CacheServicer_to_server(ProbeCache(client, args.key), server)
    else:
        channel = grpc.aio.insecure_channel(args.backend)
        stub = cache_pb2_grpc.CacheStub(channel)
        gateway_pb2_grpc.add_GatewayServicer_to_server(ProbeProxy(stub), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["server", "proxy"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--key", default="probe")
    parser.add_argument("--backend", default="")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
