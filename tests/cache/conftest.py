"""Cache fixtures: a 3-node Redis Cluster from `redis-server` on free loopback ports,
DynamoDB tables on the session's moto server, settings that point at both, and a
two-tier store (``l1``, ``l2``, ``store``) over the real Redis and moto."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis.asyncio as aioredis

from services.cache.config import Settings
from services.cache.dynamo_tier import DynamoTier
from services.cache.redis_tier import RedisTier
from services.cache.store import CacheStore, StoreOptions
from services.cache.ttl import TtlPolicy
from services.common.breaker import CircuitBreaker
from tests.conftest import MotoServer, RedisServer, free_port

_tables = itertools.count()


def unique_table() -> str:
    return f"cache-test-{time.monotonic_ns()}-{next(_tables)}"


def dynamodb(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def settings_for(redis_url: str, moto: MotoServer | None, **extra: str) -> Settings:
    env = {
        "CACHE_PORT": "0",
        "CACHE_METRICS_PORT": "-1",
        "MONITOR_ADDRESS": "",
        "REDIS_URL": redis_url,
        "ANALYSIS_ADDRESS": "127.0.0.1:1",
        "CACHE_DYNAMODB_ENABLED": "false",
    }
    if moto is not None:
        env.update(
            {
                "CACHE_DYNAMODB_ENABLED": "true",
                "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint,
                "AWS_REGION": "us-east-1",
                "CACHE_DYNAMODB_TABLE": unique_table(),
                # moto on a busy 2-core machine answers in ms, sometimes tens of ms.
                "CACHE_DYNAMODB_TIMEOUT_MS": "2000",
            }
        )
    env.update(extra)
    return Settings.from_env(env)


def _cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """Three masters, no replicas: every slot covered, keys spread over the nodes."""

    def __init__(self, workdir: Path) -> None:
        self.nodes = [RedisServer(workdir / f"n{i}", _cluster_port()) for i in range(3)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if binary is None or cli is None:
            pytest.fail("redis-server and redis-cli are needed (apt-get install redis-server)")
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(node.port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{node.port}.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(node.workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for node in self.nodes:
            self._wait(cli, node.port, "PING", "PONG")
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for node in self.nodes:
            self._wait(cli, node.port, "CLUSTER INFO", "cluster_state:ok")

    @staticmethod
    def _wait(cli: str, port: int, command: str, expect: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(
                [cli, "-p", str(port), *command.split()], capture_output=True, timeout=5
            )
            if expect.encode() in out.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis node {port}: no {expect!r} after {command!r}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    """A moto server only this test uses, so the test may stop and restart it."""
    server = MotoServer(free_port())
    server.start()
    yield server
    server.stop()


# --- a two-tier store over the real Redis and moto's DynamoDB --------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Clock:
    # moto applies the TTL attribute against the real clock: start from real time.
    return Clock(float(int(time.time())))


@pytest.fixture
def mono() -> Clock:
    return Clock(1000.0)


def make_l2(endpoint: str, wall: Clock, mono: Clock, timeout_s: float = 2.0) -> DynamoTier:
    return DynamoTier(
        dynamodb(endpoint),
        unique_table(),
        breaker=CircuitBreaker(failure_threshold=2, cool_down_s=5, clock=mono),
        timeout_s=timeout_s,
        clock=wall,
    )


@pytest.fixture
async def l1(redis_url: str, mono: Clock) -> AsyncIterator[RedisTier]:
    tier = RedisTier(
        redis_url, breaker=CircuitBreaker(failure_threshold=2, cool_down_s=5, clock=mono)
    )
    yield tier
    await tier.aclose()


@pytest.fixture
async def l2(aws_env: MotoServer, wall: Clock, mono: Clock) -> AsyncIterator[DynamoTier]:
    tier = make_l2(aws_env.endpoint, wall, mono)
    assert await tier.ping()
    yield tier
    await tier.aclose()


@pytest.fixture
def store(l1: RedisTier, l2: DynamoTier, wall: Clock) -> CacheStore:
    return CacheStore(l1, TtlPolicy(), wall, l2=l2, options=StoreOptions(xfetch_beta=0))


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
