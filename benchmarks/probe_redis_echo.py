"""The physical floor for a cache Get: a bare grpc.aio service whose one method does
one Redis GET and returns the bytes, with none of the cache's work (no protobuf
messages, no envelope, no expiry check, no counters).

    .venv/bin/python -m benchmarks.probe_redis_echo --port 50099 --redis-url redis://127.0.0.1:6379/0

Method ``/probe.Echo/Get``: request = the Redis key (raw bytes), reply = the value.
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
import redis.asyncio as aioredis

METHOD = "/probe.Echo/Get"


def _identity(data: bytes) -> bytes:
    return data


async def serve(
    port: int, redis_url: str, ready: asyncio.Event | None = None, *, intercept: bool = False
) -> None:
    """``intercept`` adds the suite's shared RPC instrumentation (request id, latency and
    status metrics, error mapping), to show how much of the cache's overhead is that
    layer."""
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=50, timeout=1)
    client = aioredis.Redis(connection_pool=pool)

    async def get(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        value = await client.get(request)
        return value if isinstance(value, bytes) else b""

    handler = grpc.method_handlers_generic_handler(
        "probe.Echo",
        {"Get": grpc.unary_unary_rpc_method_handler(get, _identity, _identity)},
    )
    server = grpc.aio.server()
    if intercept:
        from prometheus_client import CollectorRegistry

        from services.common.interceptors import Instrumentation

        Instrumentation(CollectorRegistry()).instrumented(server).add_generic_rpc_handlers(
            (handler,)
        )
    else:
        server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    if ready is not None:
        ready.set()
    try:
        await server.wait_for_termination()
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--with-interceptor", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.redis_url, intercept=args.with_interceptor))


if __name__ == "__main__":
    main()
