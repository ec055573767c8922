"""Shared by the gateway benchmarks: a whole suite on free loopback ports (its own
Redis and local DynamoDB), plus extra gateway processes with their own settings."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.launcher import SERVICES, Suite, SuiteConfig, free_port

API_KEY = "benchmark-key-0123456789abcdef"


def rss_mb(pid: int) -> float:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@dataclass
class Stack:
    suite: Suite
    extra: list[tuple[str, int, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return self.suite.config.address("gateway")

    def add_gateway(self, **env: str) -> tuple[str, int, subprocess.Popen[bytes]]:
        extra = self.suite.start_gateway(**env)
        self.extra.append(extra)
        return extra


@contextlib.contextmanager
def stack(**env: str) -> Iterator[Stack]:
    state = Path(tempfile.mkdtemp(prefix="oppsuite-bench-"))
    config = SuiteConfig(
        state_dir=state,
        ports={s: free_port() for s in SERVICES},
        metrics_ports={s: free_port() for s in SERVICES},
        redis_port=free_port(),
        dynamodb_port=free_port(),
        extra_env={
            "GATEWAY_API_KEYS": f"bench={API_KEY}",
            "LOG_LEVEL": "WARNING",
            "OPPSUITE_DATA_DIR": os.environ.get("OPPSUITE_DATA_DIR", ".oppsuite/data"),
            **env,
        },
        start_timeout_s=180,
    )
    suite = Suite(config)
    running = Stack(suite)
    try:
        print(suite.ensure_redis(), file=sys.stderr)
        print(suite.ensure_dynamodb(), file=sys.stderr)
        suite.start_services()
        suite.wait_serving()
        yield running
    finally:
        suite.stop()  # the extra gateways first


def auth() -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {API_KEY}"),)


def wait_for(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("condition not reached")
        time.sleep(0.05)
