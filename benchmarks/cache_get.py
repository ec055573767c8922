"""Cache Get on a hit, through the cache service and through the bare probe, side by
side in one run; then the stampede: 100 concurrent Gets for one missing key from 3
gateway-like clients using Lease/WaitForEntry, which must cause exactly 1 compute.

    .venv/bin/python -m benchmarks.cache_get [--seconds 5] [--rounds 3] [--concurrency 1 32]

Starts its own redis-server, the cache service (``python -m services.cache``,
Redis + DynamoDB on a moto server) and the probe (``benchmarks.probe_redis_echo``)
as separate processes on free loopback ports, so the load generator does not share
their event loops. Goal: cache throughput >= 0.8x the probe's, P99 <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import redis
import redis.asyncio

from services.common.gen import cache_pb2, cache_pb2_grpc, types_pb2
from services.launcher import free_port, health_status
from tests.cache.test_envelope import typical_entry

KEY = "opp:v1:" + "be" * 32


def wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def varied_entry(seed: int = 7) -> cache_pb2.CacheEntry:
    """``typical_entry``'s shape with prose that compresses like English (about 2.6x
    with zlib) instead of five sentences repeated (about 16x). The probe returns the
    stored, compressed bytes while the cache returns the decoded entry, so an entry
    that compresses unrealistically well flatters the probe."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    weights = [1 / rank for rank in range(1, len(vocabulary) + 1)]  # Zipf, like words

    def prose(sentences: int) -> str:
        return " ".join(
            " ".join(rng.choices(vocabulary, weights, k=rng.randint(8, 20))).capitalize() + "."
            for _ in range(sentences)
        )

    entry = typical_entry()
    analysis = entry.analysis
    for project in analysis.similar_projects:
        project.description = prose(3)
    analysis.methodology = prose(12)
    analysis.findings = prose(12)
    analysis.rationale = prose(12)
    analysis.risk_factors = prose(12)
    analysis.full_text = prose(36)
    return entry


ENTRIES = {"varied": varied_entry, "repetitive": typical_entry}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    misses: int = 0
    server_cpu_s: float = 0.0  # the target server process, during the run
    client_cpu_s: float = 0.0  # this load generator, during the run

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def load(
    call: Callable[[], Awaitable[bool]], concurrency: int, seconds: float, server_pid: int
) -> Result:
    """``call`` returns whether it was answered with the value (a hit)."""
    latencies: list[float] = []
    misses = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal misses
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            if not await call():
                misses += 1
            latencies.append((time.perf_counter() - started) * 1000)

    for _ in range(200):  # warm-up: connections, pools, JIT-free but cache-warm
        await call()
    started = time.perf_counter()
    server_before, client_before = cpu_seconds(server_pid), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(
        len(latencies),
        time.perf_counter() - started,
        latencies,
        misses,
        cpu_seconds(server_pid) - server_before,
        time.process_time() - client_before,
    )


async def bench_hits(
    cache_addr: str,
    probe_addr: str,
    probe_ic_addr: str,
    levels: list[int],
    seconds: float,
    rounds: int,
    entry: cache_pb2.CacheEntry,
    redis_url: str,
    pids: dict[str, int],
) -> None:
    async with (
        grpc.aio.insecure_channel(cache_addr) as cache_channel,
        grpc.aio.insecure_channel(probe_addr) as probe_channel,
        grpc.aio.insecure_channel(probe_ic_addr) as probe_ic_channel,
    ):
        stub = cache_pb2_grpc.CacheStub(cache_channel)
        put = await stub.Put(cache_pb2.CachePutRequest(key=KEY, entry=entry))
        assert put.stored
        get_request = cache_pb2.CacheGetRequest(key=KEY)
        probe = probe_channel.unary_unary(
            "/probe.Echo/Get", request_serializer=None, response_deserializer=None
        )
        probe_ic = probe_ic_channel.unary_unary(
            "/probe.Echo/Get", request_serializer=None, response_deserializer=None
        )
        raw_key = ("oppsuite:cache:{" + KEY + "}").encode()

        async def cache_get() -> bool:
            return bool((await stub.Get(get_request, timeout=5)).hit)

        async def probe_get() -> bool:
            return bool(await probe(raw_key, timeout=5))

        async def probe_ic_get() -> bool:
            return bool(await probe_ic(raw_key, timeout=5))

        size = len(entry.SerializeToString())
        async with redis.asyncio.Redis.from_url(redis_url) as raw:
            stored = len(await raw.get(raw_key) or b"")
        print(
            f"hit path: median of {rounds} alternating {seconds:.0f} s rounds; entry {size} B, "
            f"stored {stored} B ({size / max(stored, 1):.1f}x compressed)"
        )
        print("probe+ic = the probe with the RPC instrumentation every service uses")
        print("cpu: CPU time per request of the target server / of this load generator")
        print(
            f"{'target':<8} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'server cpu':>11} {'client cpu':>11}"
        )
        for concurrency in levels:
            # Alternate the two targets round by round and keep each one's median
            # round, so a burst of load from elsewhere on the machine hits both alike.
            runs: dict[str, list[Result]] = {"probe": [], "probe+ic": [], "cache": []}
            for _ in range(rounds):
                for name, call in (
                    ("probe", probe_get),
                    ("probe+ic", probe_ic_get),
                    ("cache", cache_get),
                ):
                    runs[name].append(await load(call, concurrency, seconds, pids[name]))
            medians = {name: median_run(results) for name, results in runs.items()}
            for name, r in medians.items():
                figures = (
                    f"{r.rps:>9.0f} {r.pct(0.5):>8.2f} {r.pct(0.99):>8.2f} "
                    f"{r.server_cpu_s / r.requests * 1e6:>8.0f} µs "
                    f"{r.client_cpu_s / r.requests * 1e6:>8.0f} µs"
                )
                misses = f"  ({r.misses} NOT answered with the value)" if r.misses else ""
                print(f"{name:<8} {concurrency:>4} {figures}{misses}")
            probe_result, cache_result = medians["probe"], medians["cache"]
            print(
                f"        ratio: throughput {cache_result.rps / probe_result.rps:.2f}x "
                f"(goal >= 0.8), p99 {cache_result.pct(0.99) / probe_result.pct(0.99):.2f}x "
                "(goal <= 1.5)"
            )


def median_run(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


async def bench_stampede(cache_addr: str, compute_s: float) -> None:
    key = "opp:v1:stampede-" + str(time.time_ns())
    computes = 0
    entry = cache_pb2.CacheEntry(
        analysis=types_pb2.Analysis(confidence=types_pb2.CONFIDENCE_HIGH, confidence_score=92),
        compute_ms=compute_s * 1000,
    )

    async def gateway_request(stub: cache_pb2_grpc.CacheStub, who: str) -> str:
        try:
            return await protocol(stub, who)
        except grpc.aio.AioRpcError as error:
            return f"error {error.code().name}"  # a gateway would compute on its own

    async def protocol(stub: cache_pb2_grpc.CacheStub, who: str) -> str:
        nonlocal computes
        if (await stub.Get(cache_pb2.CacheGetRequest(key=key), timeout=1)).hit:
            return "hit"
        held = await stub.Lease(cache_pb2.CacheLeaseRequest(key=key, ttl_ms=30_000, holder=who))
        if held.granted:
            computes += 1
            await asyncio.sleep(compute_s)
            await stub.Put(cache_pb2.CachePutRequest(key=key, entry=entry))
            await stub.Release(cache_pb2.CacheReleaseRequest(key=key, token=held.token))
            return "computed"
        got = await stub.WaitForEntry(
            cache_pb2.CacheWaitRequest(key=key, timeout_ms=30_000), timeout=31
        )
        if got.hit:
            return "waited"
        return "hit" if (await stub.Get(cache_pb2.CacheGetRequest(key=key))).hit else "failed"

    channels = [grpc.aio.insecure_channel(cache_addr) for _ in range(3)]
    try:
        stubs = [cache_pb2_grpc.CacheStub(c) for c in channels]
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(gateway_request(stubs[i % 3], f"gateway-{i % 3}") for i in range(100))
        )
        elapsed = time.perf_counter() - started
    finally:
        for channel in channels:
            await channel.close()
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(
        f"stampede: 100 concurrent Gets for one missing key over 3 clients -> "
        f"{computes} compute(s); outcomes {counts}; all answered in {elapsed:.2f} s "
        f"(compute {compute_s:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument(
        "--entry",
        choices=sorted(ENTRIES),
        default="varied",
        help="varied: prose that compresses like English; repetitive: the test suite's entry",
    )
    parser.add_argument("--compute", type=float, default=0.5, help="simulated analysis, s")
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    workdir = tempfile.mkdtemp(prefix="cache-bench-")
    try:
        redis_port, moto_port, cache_port, probe_port, probe_ic_port = (
            free_port() for _ in range(5)
        )
        binary = shutil.which("redis-server") or "redis-server"
        procs.append(
            subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(redis_port)
        wait_port(moto_port)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "CACHE_PORT": str(cache_port),
            "CACHE_METRICS_PORT": "-1",
            "MONITOR_ADDRESS": "",
            "LOG_LEVEL": "WARNING",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cache"], env=env, stdout=subprocess.DEVNULL
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.probe_redis_echo",
                    "--port",
                    str(probe_port),
                    "--redis-url",
                    redis_url,
                ]
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.probe_redis_echo",
                    "--port",
                    str(probe_ic_port),
                    "--redis-url",
                    redis_url,
                    "--with-interceptor",
                ]
            )
        )
        wait_port(probe_port)
        wait_port(probe_ic_port)
        deadline = time.monotonic() + 60
        while health_status(f"127.0.0.1:{cache_port}") != 1:
            if time.monotonic() > deadline:
                raise SystemExit("the cache service did not become SERVING")
            time.sleep(0.2)
        redis.Redis.from_url(redis_url).ping()
        cache_addr, probe_addr = f"127.0.0.1:{cache_port}", f"127.0.0.1:{probe_port}"
        probe_ic_addr = f"127.0.0.1:{probe_ic_port}"
        asyncio.run(
            bench_hits(
                cache_addr,
                probe_addr,
                probe_ic_addr,
                args.concurrency,
                args.seconds,
                args.rounds,
                ENTRIES[args.entry](),
                redis_url,
                {"cache": procs[2].pid, "probe": procs[3].pid, "probe+ic": procs[4].pid},
            )
        )
        asyncio.run(bench_stampede(cache_addr, args.compute))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
