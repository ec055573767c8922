"""`oppsuite up`: everything a newcomer needs, started in order and stopped cleanly.

Redis (started only when nothing answers), a local DynamoDB endpoint (moto server),
a local alert inbox the monitor's webhook channel points at (unless
PERFORMANCE_ALERTS_WEBHOOK is set or OPPSUITE_ALERT_INBOX=off), then monitor → cache →
analysis → gateway, each waited for until SERVING. While it serves, ``suite.json`` in
the state directory names every address (read by `oppsuite validate`).
Ctrl-C (or SIGTERM) stops them in reverse order, each draining first.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.ops.alert_inbox import AlertInbox

__all__ = ["STATE_FILE", "Suite", "SuiteConfig", "read_state"]

STATE_FILE = "suite.json"  # in the state directory while `oppsuite up` serves

SERVICES = ("monitor", "cache", "analysis", "gateway")
DEFAULT_PORTS = {"gateway": 50051, "cache": 50052, "analysis": 50053, "monitor": 50054}
DEFAULT_METRICS = {"gateway": 9101, "cache": 9102, "analysis": 9103, "monitor": 9104}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


# Ports free_port has handed out in this process: several are picked before any is bound.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on right now, for services started on loopback.

    Chosen below the ephemeral range when there is room: the kernel hands ports of
    that range to outgoing connections (Redis, gRPC and HTTP clients open many), and
    one of them can take a port picked here before the service binds it. Never the same
    port twice in one process: a suite's ports are all picked before its services bind
    them, and gRPC servers share a port (SO_REUSEPORT) instead of failing on it."""
    low, _ = _ephemeral_range()
    for _ in range(50 if low > 11_000 else 0):
        port = random.randint(10_000, low - 1)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def scrape_total(port: int, name: str) -> float:
    """Sum of the samples of ``name`` on a local /metrics endpoint: ``name`` alone or with
    its full label set matches exactly; ``name{a="x"`` (unclosed) matches any further labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    partial = "{" in name and not name.endswith("}")
    total = 0.0
    for line in text.splitlines():
        head = line.rsplit(" ", 1)[0]
        if head == name or (partial and head.startswith(name)) or head.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


def health_status(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        except grpc.RpcError:
            return int(health_pb2.HealthCheckResponse.UNKNOWN)
        return int(reply.status)


@dataclass
class SuiteConfig:
    state_dir: Path = Path(".oppsuite")
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    metrics_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METRICS))
    redis_port: int = 6379
    dynamodb_port: int = 4566
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 180.0

    def address(self, service: str) -> str:
        return f"{self.host}:{self.ports[service]}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], state_dir: Path) -> SuiteConfig:
        """Ports from the same variables the services read, so `up` and they agree."""
        ports = {s: int(environ.get(f"{s.upper()}_PORT") or DEFAULT_PORTS[s]) for s in SERVICES}
        metrics = {
            s: int(environ.get(f"{s.upper()}_METRICS_PORT") or DEFAULT_METRICS[s]) for s in SERVICES
        }
        redis_url = urlparse(environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
        return cls(
            state_dir=state_dir,
            ports=ports,
            metrics_ports=metrics,
            redis_port=redis_url.port or 6379,
            dynamodb_port=int(environ.get("OPPSUITE_DYNAMODB_PORT") or 4566),
        )


class Suite:
    def __init__(self, config: SuiteConfig, base_env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[object] = []
        self._inbox: AlertInbox | None = None
        self._inbox_env: dict[str, str] = {}

    @property
    def log_dir(self) -> Path:
        return self.config.state_dir / "logs"

    def env(self) -> dict[str, str]:
        c = self.config
        env = {
            **self._base_env,
            "REDIS_URL": self._base_env.get("REDIS_URL", f"redis://{c.host}:{c.redis_port}/0"),
            "AWS_ENDPOINT_URL_DYNAMODB": self._base_env.get(
                "AWS_ENDPOINT_URL_DYNAMODB", f"http://{c.host}:{c.dynamodb_port}"
            ),
            "AWS_ACCESS_KEY_ID": self._base_env.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": self._base_env.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_REGION": self._base_env.get("AWS_REGION", "us-east-1"),
            "OPPSUITE_DATA_DIR": str(c.state_dir / "data"),
            "OPPSUITE_API_KEY_FILE": str(c.state_dir / "api-key"),
            "CACHE_ADDRESS": c.address("cache"),
            "ANALYSIS_ADDRESS": c.address("analysis"),
            "MONITOR_ADDRESS": c.address("monitor"),
            "PYTHONUNBUFFERED": "1",
        }
        for service in SERVICES:
            env[f"{service.upper()}_HOST"] = c.host
            env[f"{service.upper()}_PORT"] = str(c.ports[service])
            env[f"{service.upper()}_METRICS_PORT"] = str(c.metrics_ports[service])
        env.update(self._inbox_env)
        env.update(c.extra_env)
        return env

    @property
    def alert_inbox_url(self) -> str | None:
        return self._inbox.url if self._inbox is not None else None

    def start_alert_inbox(self, on_alert: Callable[[dict[str, Any]], None] | None = None) -> str:
        """A local receiver for the monitor's webhook channel, on a free loopback port;
        call before ``start_services``. Skipped when a webhook is configured already."""
        if self.env().get("OPPSUITE_ALERT_INBOX", "on").strip().lower() in {"off", "0", "false"}:
            return "alert inbox off (OPPSUITE_ALERT_INBOX=off)"
        if self.env().get("PERFORMANCE_ALERTS_WEBHOOK", "").strip():
            return "alert inbox not started: PERFORMANCE_ALERTS_WEBHOOK is set"
        log_file = self.config.state_dir / "alerts.jsonl"
        inbox = AlertInbox(host=self.config.host, log_file=log_file, on_alert=on_alert)
        url = inbox.start()
        self._inbox = inbox
        self._inbox_env = {"PERFORMANCE_ALERTS_WEBHOOK": url}
        return f"alert inbox on {url} (the monitor's webhook channel; also in {log_file})"

    @property
    def state_file(self) -> Path:
        return self.config.state_dir / STATE_FILE

    def write_state(self) -> None:
        """Where everything is, for `oppsuite validate` (removed by ``stop``)."""
        c = self.config
        state = {
            "pid": os.getpid(),
            "gateway": c.address("gateway"),
            "cache": c.address("cache"),
            "monitor": c.address("monitor"),
            "metrics_urls": [f"http://{c.host}:{c.metrics_ports[s]}/metrics" for s in SERVICES],
            "alert_inbox": self.alert_inbox_url,
        }
        c.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def _spawn(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(
            argv,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs[name] = proc
        return proc

    def ensure_redis(self) -> str:
        c = self.config
        if redis_answers(c.host, c.redis_port):
            return f"Redis already answering on {c.host}:{c.redis_port}"
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no Redis on 127.0.0.1:6379 and redis-server is not installed")
        self._spawn(
            "redis",
            [
                binary,
                "--port",
                str(c.redis_port),
                "--bind",
                c.host,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        wait_until(lambda: redis_answers(c.host, c.redis_port), 15, "redis-server")
        return f"started redis-server on {c.host}:{c.redis_port}"

    def ensure_dynamodb(self) -> str:
        c = self.config
        if port_open(c.host, c.dynamodb_port):
            return f"DynamoDB endpoint already answering on {c.host}:{c.dynamodb_port}"
        self._spawn(
            "dynamodb",
            [sys.executable, "-m", "moto.server", "-H", c.host, "-p", str(c.dynamodb_port)],
        )
        wait_until(lambda: port_open(c.host, c.dynamodb_port), 30, "moto server")
        return f"started local DynamoDB (moto server) on {c.host}:{c.dynamodb_port}"

    def start_services(self) -> None:
        for service in SERVICES:
            if port_open(self.config.host, self.config.ports[service]):
                raise RuntimeError(
                    f"port {self.config.ports[service]} for {service} is already in use; "
                    f"stop the other process or set {service.upper()}_PORT"
                )
        for service in SERVICES:
            self._spawn(service, [sys.executable, "-m", f"services.{service}"])

    def start_gateway(self, **env: str) -> tuple[str, int, subprocess.Popen[bytes]]:
        """Another gateway replica beside the suite's (its own ports and settings), waited
        for until SERVING; stopped with the suite. Returns (address, metrics port, process)."""
        port, metrics = free_port(), free_port()
        name = f"gateway-{port}"
        proc = self._spawn(
            name,
            [sys.executable, "-m", "services.gateway"],
            {
                "GATEWAY_PORT": str(port),
                "GATEWAY_METRICS_PORT": str(metrics),
                "INSTANCE_NAME": name,
                **env,
            },
        )
        address = f"{self.config.host}:{port}"
        wait_until(
            lambda: health_status(address) == health_pb2.HealthCheckResponse.SERVING,
            self.config.start_timeout_s,
            f"gateway {address}",
        )
        return address, metrics, proc

    def wait_serving(self) -> dict[str, float]:
        started = time.monotonic()
        ready_at: dict[str, float] = {}
        deadline = started + self.config.start_timeout_s
        while len(ready_at) < len(SERVICES):
            for service in SERVICES:
                proc = self._procs.get(service)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {proc.returncode}; see "
                        f"{self.log_dir / (service + '.log')}"
                    )
                if (
                    service not in ready_at
                    and health_status(self.config.address(service))
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    ready_at[service] = time.monotonic() - started
            if time.monotonic() > deadline:
                missing = sorted(set(SERVICES) - set(ready_at))
                raise RuntimeError(
                    f"not SERVING after {self.config.start_timeout_s:.0f} s: {missing}"
                )
            time.sleep(0.2)
        return ready_at

    def stop(self, grace_s: float = 30.0) -> None:
        """Reverse order: the gateway stops taking work before what it depends on goes."""
        extra_gateways = [name for name in self._procs if name.startswith("gateway-")]
        order = extra_gateways + [
            s for s in (*reversed(SERVICES), "dynamodb", "redis") if s in self._procs
        ]
        for name in order:
            proc = self._procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]
        self._logs.clear()
        if self._inbox is not None:
            self._inbox.stop()
            self._inbox, self._inbox_env = None, {}
        state = read_state(self.config.state_dir)
        if state is not None and state.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.state_file.unlink()

    def kill(self, name: str) -> None:
        """For fault tests: stop one process abruptly."""
        proc = self._procs.pop(name)
        proc.kill()
        proc.wait()

    def terminate(self, name: str) -> subprocess.Popen[bytes]:
        proc = self._procs[name]
        proc.send_signal(signal.SIGTERM)
        return proc


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """What a running `oppsuite up` wrote, or None (no file, unreadable, or its
    process is gone)."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None
