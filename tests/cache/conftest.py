"""Cache fixtures: a 3-node Redis Cluster from `redis-server` on free loopback ports,
DynamoDB tables on the session's moto server, and settings that point at both."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from services.cache.config import Settings
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
