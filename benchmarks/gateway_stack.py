"""Shared by the gateway benchmarks: a whole suite on free loopback ports (its own
Redis and local DynamoDB), plus extra gateway processes with their own settings."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.launcher import SERVICES, Suite, SuiteConfig, health_status, wait_until

API_KEY = "benchmark-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int, name: str) -> float:
    """Sum of every sample of ``name`` (exact, or any labels when none are given)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    total = 0.0
    # "name", "name{a="x",b="y"}" (exact) or "name{a="x"" (any further labels).
    partial = "{" in name and not name.endswith("}")
    for line in text.splitlines():
        head = line.rsplit(" ", 1)[0]
        if head == name or (partial and head.startswith(name)) or head.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


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
        port, metrics = free_port(), free_port()
        log = (self.suite.log_dir / f"gateway-{port}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"],
            env={
                **self.suite.env(),
                "GATEWAY_PORT": str(port),
                "GATEWAY_METRICS_PORT": str(metrics),
                "INSTANCE_NAME": f"gateway-{port}",
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        address = f"127.0.0.1:{port}"
        wait_until(lambda: health_status(address) == 1, 90, f"gateway {address}")
        self.extra.append((address, metrics, proc))
        return address, metrics, proc


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
        for _, _, proc in running.extra:
            proc.send_signal(signal.SIGTERM)
        for _, _, proc in running.extra:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        suite.stop()


def auth() -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {API_KEY}"),)


def wait_for(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("condition not reached")
        time.sleep(0.05)
