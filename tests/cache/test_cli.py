"""`oppsuite cleanup` and `oppsuite warm` against a running cache service."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from services.cache import cli
from services.cache.app import build
from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from tests.cache.conftest import settings_for
from tests.conftest import MotoServer, free_port
from tests.servicers import running


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="oppsuite")
    sub = parser.add_subparsers(required=True)
    cli.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
async def address(redis_url: str, aws_env: MotoServer) -> AsyncIterator[str]:
    settings = settings_for(redis_url, aws_env, CACHE_WARM_FROM_L2_ON_START="false")
    async with running(lambda: build(settings)) as host:
        address = f"127.0.0.1:{host.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            stub = cache_pb2_grpc.CacheStub(channel)
            for key, score in (("good", 96), ("weak", 30)):
                analysis = types_pb2.Analysis(confidence_score=score)
                entry = cache_pb2.CacheEntry(analysis=analysis, compute_ms=200 * score)
                await stub.Put(cache_pb2.CachePutRequest(key=key, entry=entry))
        yield address


async def test_cleanup_dry_run_then_apply(
    address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_ADDRESS", address)
    assert await asyncio.to_thread(run, ["cleanup", "--min-score", "40"]) == 0
    out = capsys.readouterr().out
    assert "weak" in out and "good" not in out and "low confidence" in out
    assert "dry run: 1 of 2 entries would be removed" in out
    assert await asyncio.to_thread(run, ["cleanup", "--min-score", "40", "--apply"]) == 0
    assert "removed 1 of 2 entries" in capsys.readouterr().out
    assert await asyncio.to_thread(run, ["cleanup", "--min-score", "40"]) == 0
    assert "no entry scores below the threshold" in capsys.readouterr().out


async def test_warm_from_l2_reports_what_it_did(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["warm", "--from-l2", "--key", "good", "--key", "absent", "--cache", address]
    assert await asyncio.to_thread(run, argv) == 0
    out = capsys.readouterr().out
    # "good" is already in Redis, so nothing needed copying.
    assert "2 considered, 0 warmed, 2 skipped" in out


def test_an_unreachable_cache_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["cleanup", "--cache", f"127.0.0.1:{free_port()}", "--timeout", "1"]
    assert run(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("cache at 127.0.0.1:") and ("UNAVAILABLE" in err or "DEADLINE" in err)
