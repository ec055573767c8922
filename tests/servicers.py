"""Start a service's real gRPC server in-process on port 0, for servicer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from services.common.server import ServiceHost


@asynccontextmanager
async def running(build: Callable[[], Awaitable[ServiceHost]]) -> AsyncIterator[ServiceHost]:
    host = await build()
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
