"""AWS provider throughput and latency, client pooling on vs off.

    .venv/bin/python -m benchmarks.analysis_pools [--converse-ms 50] [--athena-ms 20]
        [--levels 1,10,100] [--analyses 200] [--sql realistic|short] [--pooling on,off]
        [--no-freeze] [--switch-interval-ms MS] [--stand-ins-nice N] [--profile PREFIX]

Runs the real aws provider and Workflow in-process against moto in server mode
(Athena; each Athena call also waits a fixed ``--athena-ms`` in the client wrapper,
standing in for network distance) and the local Converse endpoint answering after
``--converse-ms``. The Converse endpoint runs in its own process so it does not share
the measured process's GIL. Pool sizes are the defaults unless overridden by the usual
environment variables. Like ``serve()``, the run freezes the start-up heap out of the
cyclic GC (``--no-freeze`` to compare) and lengthens the GIL switch interval so worker
threads do not cut into the event loop's bursts (``--switch-interval-ms 5``, Python's
default, to compare).

moto and the Converse endpoint stand in for AWS, which runs on other machines; here they
share the measured process's 2 cores. At equal priority the kernel preempts the event
loop in the middle of an analysis' work to run them, and the overhead then holds their
CPU time too (every long stretch of it came with an involuntary context switch of the
loop's thread). So they run 10 nice steps below the measured process (``--stand-ins-nice``;
0 runs them at its priority, to compare): they still get every CPU cycle the service does
not use, and answer at their fixed latencies whenever a core is free.

For each concurrency level and pooling on/off it prints analyses/s, P50/P99 of the
workflow time, and the service overhead two ways (ms):

* ``ovh``: workflow time minus the wall time of AWS calls (``CallAccounting.aws_ms``:
  from handing the call to its worker thread until the analysis resumes on the loop)
  and minus pool waits. The issue's definition.
* ``+ho``: workflow time minus only the time inside the SDK call on its thread
  (``aws_sdk_ms``) and pool waits, so the hand-off to the thread and back to a busy
  event loop (and, unpooled, building the client) counts as overhead. Under load this
  is where CPU contention shows.

``wait p99`` is the time queued for a pool slot (queueing, reported apart from both),
then AWS calls per analysis and failed analyses. ``--profile`` writes a cProfile of the
event loop's thread per row.

First it prints the machine's own jitter: P50/P99 of a fixed ~1 ms piece of Python
work in this process. Overhead is CPU on the event loop, so its P99 cannot be tighter
relative to its P50 than that on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from prometheus_client import CollectorRegistry

from services.analysis.aws_provider import AwsProvider
from services.analysis.config import Settings
from services.analysis.metrics import AnalysisMetrics
from services.analysis.provider import CallAccounting
from services.analysis.querygen import generate_sql
from services.analysis.workflow import Thresholds, Workflow
from services.common.domain import Options
from services.common.server import favour_event_loop, freeze_startup_heap
from services.common.telemetry import Telemetry
from tests.analysis.awsfixtures import ANALYSIS_MODEL, OPPORTUNITY, QUERY_MODEL
from tests.conftest import MotoServer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


class Delayed:
    """A real boto3 client whose every call first waits a fixed time (network distance)."""

    def __init__(self, client: Any, delay_s: float) -> None:
        self._client = client
        self._delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in ("meta", "close") or not callable(attribute):
            return attribute

        def call(**params: Any) -> Any:
            time.sleep(self._delay_s)
            return attribute(**params)

        return call


def machine_jitter(work_ms: float = 1.0, samples: int = 400) -> tuple[float, float]:
    """P50 and P99 (ms) of one fixed piece of pure-Python work, run after a short pause.

    The overhead figures are CPU on the event loop; this shows how much of their tail
    the machine adds by itself (preempted or throttled CPUs), at a comparable size."""

    def work(n: int) -> int:
        total = 0
        for i in range(n):
            total += i
        return total

    n = 1000
    while True:  # size the work to take about ``work_ms``
        started = time.perf_counter()
        work(n)
        elapsed = time.perf_counter() - started
        if elapsed >= 0.02:
            break
        n *= 2
    n = max(1, int(n * work_ms / 1000 / elapsed))
    timings = []
    for _ in range(samples):
        time.sleep(0.002)
        started = time.perf_counter()
        work(n)
        timings.append((time.perf_counter() - started) * 1000)
    return percentile(timings, 0.5), percentile(timings, 0.99)


def lower_priority(pid: int, nice: int) -> bool:
    """Set every thread of process ``pid`` to ``nice``; threads they start inherit it.
    False where any could not be set (no /proc, or a raise without the privilege)."""
    done = True
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
            except ProcessLookupError:
                continue  # a thread that has just ended
            except OSError:
                done = False
    except OSError:
        return False
    return done


def seed_rows(endpoint: str, count: int) -> None:
    header = ["customer_name", "industry", "close_date", "annual_run_rate_usd", "relevance_score"]
    rows = [[f"Customer {i}", "Retail", "1700000000", "250000", "5"] for i in range(20)]
    result = {
        "rows": [{"Data": [{"VarCharValue": v} for v in r]} for r in [header, *rows]],
        "column_info": [{"Name": c, "Type": "varchar"} for c in header],
    }
    body = json.dumps({"results": [result] * count}).encode()
    request = urllib.request.Request(
        endpoint + "/moto-api/static/athena/query-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()


async def run_level(
    settings: Settings,
    athena_s: float,
    concurrency: int,
    analyses: int,
    profile: cProfile.Profile | None = None,
    freeze_heap: bool = True,
) -> dict[str, float]:
    def make(service: str, config: Config) -> Any:
        client = boto3.session.Session().client(service, config=config)
        return Delayed(client, athena_s) if service == "athena" else client

    metrics = AnalysisMetrics(CollectorRegistry(), Telemetry())
    provider = AwsProvider.create(
        settings.aws,
        table=settings.athena_table,
        database=settings.athena_database,
        observer=metrics,
        rng=random.Random(1),
        make_client=make,
    )
    if freeze_heap:
        freeze_startup_heap()  # as every service does once it has started
    workflow = Workflow(provider, Thresholds(), allowed_table="parquet", database="catapult_db_p")
    totals: list[float] = []
    overheads: list[float] = []
    strict: list[float] = []
    waits: list[float] = []
    calls: list[int] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            accounting = CallAccounting()
            result = await workflow.run(
                OPPORTUNITY, Options(), deadline_s=180, accounting=accounting
            )
            totals.append(result.compute_ms)
            overheads.append(result.compute_ms - accounting.aws_ms - accounting.pool_wait_ms)
            strict.append(result.compute_ms - accounting.aws_sdk_ms - accounting.pool_wait_ms)
            waits.append(accounting.pool_wait_ms)
            calls.append(accounting.total_calls)

    started = time.perf_counter()
    if profile is not None:
        profile.enable()  # the event loop's thread only: the SDK's threads are AWS time
    outcomes = await asyncio.gather(*(one() for _ in range(analyses)), return_exceptions=True)
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - started
    await provider.aclose()
    gc.unfreeze()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if not totals:
        raise RuntimeError(f"every analysis failed, first: {failed[0]!r}")
    return {
        "failed": len(failed),
        "wait_p99": percentile(waits, 0.99),
        "rate": len(totals) / elapsed,
        "p50": percentile(totals, 0.5),
        "p99": percentile(totals, 0.99),
        "overhead_p50": percentile(overheads, 0.5),
        "overhead_p99": percentile(overheads, 0.99),
        "strict_p50": percentile(strict, 0.5),
        "strict_p99": percentile(strict, 0.99),
        "calls": statistics.fmean(calls),
    }


async def measure(args: argparse.Namespace, moto: MotoServer, converse_endpoint: str) -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": converse_endpoint,
            "AWS_ENDPOINT_URL_ATHENA": moto.endpoint,
        }
    )
    if args.switch_interval_ms is None:
        favour_event_loop()  # as every service does once it has started
    else:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    print(
        f"converse {args.converse_ms} ms/call, athena +{args.athena_ms} ms/call "
        f"(moto), {args.analyses} analyses per row, {args.sql} SQL, "
        f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms, "
        f"stand-ins at nice +{args.stand_ins_nice}"
    )
    p50, p99 = machine_jitter()
    print(f"machine: fixed ~1 ms of Python work takes P50 {p50:.2f} / P99 {p99:.2f} ms here")
    print(
        f"{'pooling':<8}{'conc':>5}{'an/s':>9}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'ovh p50':>10}{'ovh p99':>10}{'+ho p50':>10}{'+ho p99':>10}"
        f"{'wait p99':>10}{'calls':>7}{'failed':>8}"
    )
    for concurrency in args.levels:
        for pooling in args.pooling:
            env = {**os.environ, "RESOURCE_POOLING_ENABLED": pooling}
            env.update(
                ATHENA_POLL_INITIAL_SECONDS="0.01",
                ATHENA_OUTPUT_LOCATION="s3://b/p/",
                BEDROCK_QUERY_MODEL_ID=QUERY_MODEL,
                BEDROCK_ANALYSIS_MODEL_ID=ANALYSIS_MODEL,
            )
            settings = Settings.from_env(env)
            count = args.analyses if concurrency > 1 else max(20, args.analyses // 5)
            seed_rows(moto.endpoint, count)
            profile = cProfile.Profile() if args.profile else None
            figures = await run_level(
                settings, args.athena_ms / 1000, concurrency, count, profile, not args.no_freeze
            )
            if profile is not None:
                profile.dump_stats(f"{args.profile}-{pooling}-{concurrency}.pstats")
            print(
                f"{'on' if pooling == 'true' else 'off':<8}{concurrency:>5}"
                f"{figures['rate']:>9.1f}{figures['p50']:>10.1f}{figures['p99']:>10.1f}"
                f"{figures['overhead_p50']:>10.2f}{figures['overhead_p99']:>10.2f}"
                f"{figures['strict_p50']:>10.2f}{figures['strict_p99']:>10.2f}"
                f"{figures['wait_p99']:>10.1f}{figures['calls']:>7.1f}"
                f"{figures['failed']:>8.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--converse-ms", type=float, default=50.0)
    parser.add_argument("--athena-ms", type=float, default=20.0)
    parser.add_argument(
        "--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100]
    )
    parser.add_argument("--analyses", type=int, default=200)
    parser.add_argument(
        "--sql",
        choices=("short", "realistic"),
        default="realistic",
        help="SQL the fake query model answers: a one-line SELECT or the ~2 KB scoring query",
    )
    parser.add_argument(
        "--pooling",
        type=lambda s: ["true" if x == "on" else "false" for x in s.split(",")],
        default=["true", "false"],
        help="on,off (default) or one of them",
    )
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip gc.freeze() after start (for comparison)"
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        help="GIL switch interval for the run (default: the services' own setting)",
    )
    parser.add_argument(
        "--stand-ins-nice",
        type=int,
        default=10,
        help="moto's and the Converse endpoint's nice, added to this process's (0: equal)",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="cProfile the event loop: PREFIX-<pooling>-<conc>.pstats",
    )
    args = parser.parse_args()
    moto = MotoServer()
    moto.start()
    with tempfile.TemporaryDirectory() as scratch:
        port_file = Path(scratch) / "port"
        command = [sys.executable, "-m", "tests.analysis.fake_bedrock"]
        command += ["--latency-ms", str(args.converse_ms), "--port-file", str(port_file)]
        if args.sql == "realistic":
            # The shape a model writes: weighted LIKE scoring over many columns (~2 KB).
            sql_file = Path(scratch) / "query.sql"
            sql_file.write_text(generate_sql(OPPORTUNITY, 200, table="parquet"), encoding="utf-8")
            command += ["--sql-file", str(sql_file)]
        converse = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the Converse endpoint did not start")
                time.sleep(0.05)
            assert moto.proc is not None
            # Relative to this process's own priority, which the stand-ins started with.
            nice = os.getpriority(os.PRIO_PROCESS, 0) + args.stand_ins_nice
            for name, pid in (("moto", moto.proc.pid), ("the Converse endpoint", converse.pid)):
                if not lower_priority(pid, nice):
                    print(f"could not set {name} to nice {nice}: it runs at its own")
            endpoint = f"http://127.0.0.1:{port_file.read_text()}"
            asyncio.run(measure(args, moto, endpoint))
        finally:
            converse.terminate()
            converse.wait(timeout=10)
            moto.stop()


if __name__ == "__main__":
    main()
