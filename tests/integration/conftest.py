"""The four services as real processes on free loopback ports, sharing a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from services.common.gen import gateway_pb2_grpc
from services.launcher import SERVICES, Suite, SuiteConfig
from tests.conftest import RedisServer, free_port

API_KEY = "integration-test-key-0123456789"
OTHER_KEY = "another-client-key-0123456789"


def suite_config(state_dir: Path, redis: RedisServer, **extra_env: str) -> SuiteConfig:
    return SuiteConfig(
        state_dir=state_dir,
        ports={s: free_port() for s in SERVICES},
        metrics_ports={s: free_port() for s in SERVICES},
        redis_port=redis.port,
        dynamodb_port=free_port(),
        extra_env={
            "GATEWAY_API_KEYS": f"tests={API_KEY},other={OTHER_KEY}",
            "LOCAL_DATASET_ROWS": "30000",
            "SHUTDOWN_GRACE_SECONDS": "5",
            "LOG_LEVEL": "INFO",
            **extra_env,
        },
        start_timeout_s=120,
    )


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated dataset for every suite the session starts."""
    return tmp_path_factory.mktemp("data")


@contextmanager
def serving_suite(
    state_dir: Path, redis_server: RedisServer, data_dir: Path, *, as_up: bool = False
) -> Iterator[Suite]:
    """The four services, serving; ``as_up``: with what `oppsuite up` adds (a local
    DynamoDB on a moto server and the alert inbox)."""
    running = Suite(suite_config(state_dir, redis_server, OPPSUITE_DATA_DIR=str(data_dir)))
    try:
        if as_up:
            running.ensure_dynamodb()
            running.start_alert_inbox()
        running.start_services()
        running.wait_serving()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, data_dir: Path
) -> Iterator[Suite]:
    with serving_suite(tmp_path_factory.mktemp("suite"), redis_server, data_dir) as running:
        yield running


@pytest.fixture
def gateway(suite: Suite) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    with grpc.insecure_channel(suite.config.address("gateway")) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


def auth(key: str = API_KEY) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)
