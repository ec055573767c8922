"""The oppsuite command: start the suite, analyse opportunities, read performance."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import grpc

from services.client import (
    SAMPLE_OPPORTUNITY,
    api_key,
    describe_error,
    format_analysis,
    format_performance,
    metadata,
    opportunity_from,
    to_json,
)
from services.common.gen import gateway_pb2, gateway_pb2_grpc, types_pb2
from services.gateway.auth import ensure_key_file
from services.launcher import Suite, SuiteConfig

__all__ = ["main"]

# Modules that add subcommands: each has register(subparsers) -> None.
COMMAND_MODULES: tuple[str, ...] = (
    "services.gateway.cli",  # loadtest
    "services.cache.cli",  # warm, cleanup
    "services.monitor.cli",  # alerts
    "services.analysis.cli",  # analysis-describe, analysis-prompts
    "services.ops.cli",  # deploy, validate
)

STATE_DIR = Path(os.environ.get("OPPSUITE_STATE_DIR", ".oppsuite"))
OPTIONAL_FIELDS = (
    "industry",
    "customer_segment",
    "partner_name",
    "activity_focus",
    "business_description",
    "migration_phase",
)
REQUIRED_FIELDS = ("customer_name", "region", "close_date", "opportunity_name", "description")


def _target(args: argparse.Namespace) -> str:
    return str(args.target or os.environ.get("OPPSUITE_GATEWAY", "127.0.0.1:50051"))


def _key_file() -> Path:
    return Path(os.environ.get("OPPSUITE_API_KEY_FILE", str(STATE_DIR / "api-key")))


def _analyze_request(args: argparse.Namespace) -> gateway_pb2.AnalyzeRequest:
    fields: dict[str, str] = {}
    if args.file:
        fields.update(json.loads(Path(args.file).read_text()))
    for name in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    if args.sample:
        fields = {**SAMPLE_OPPORTUNITY, **fields}
    options = types_pb2.AnalysisOptions(
        sql_row_limit=args.row_limit or 0,
        bypass_cache=args.bypass_cache,
        disable_truncation=args.no_truncation,
    )
    return gateway_pb2.AnalyzeRequest(opportunity=opportunity_from(fields), options=options)


def cmd_analyze(args: argparse.Namespace) -> int:
    request = _analyze_request(args)
    with grpc.insecure_channel(_target(args)) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        try:
            if args.stream:
                for event in stub.AnalyzeStream(
                    request, metadata=metadata(api_key(_key_file())), timeout=args.timeout
                ):
                    if event.HasField("result"):
                        response = event.result
                    elif not args.json:
                        _print_event(event)
            else:
                response = stub.Analyze(
                    request, metadata=metadata(api_key(_key_file())), timeout=args.timeout
                )
        except grpc.RpcError as error:
            print(describe_error(error), file=sys.stderr)
            return 1
    print(to_json(response) if args.json else format_analysis(response))
    return 0


def _print_event(event: gateway_pb2.AnalyzeEvent) -> None:
    if event.HasField("queued"):
        print(f"  queued at position {event.queued.position}", file=sys.stderr)
    elif event.step.phase == types_pb2.STEP_PHASE_STARTED:
        print(f"  {event.step.step} ...", file=sys.stderr)
    else:
        print(
            f"  {event.step.step} done in {event.step.timing.duration_ms:,.1f} ms", file=sys.stderr
        )


def cmd_performance(args: argparse.Namespace) -> int:
    with grpc.insecure_channel(_target(args)) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        try:
            report = stub.GetPerformance(
                types_pb2.GetPerformanceRequest(window_seconds=args.window),
                metadata=metadata(api_key(_key_file())),
                timeout=5,
            )
        except grpc.RpcError as error:
            print(describe_error(error), file=sys.stderr)
            return 1
    print(to_json(report) if args.json else format_performance(report))
    return 0


def _sample_twice(target: str, key: str) -> None:
    request = gateway_pb2.AnalyzeRequest(opportunity=opportunity_from(SAMPLE_OPPORTUNITY))
    with grpc.insecure_channel(target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        for label in ("first call (expect a miss)", "second call (expect a hit)"):
            started = time.perf_counter()
            response = stub.Analyze(request, metadata=metadata(key), timeout=180)
            elapsed = (time.perf_counter() - started) * 1000
            print(f"\n{label}: {elapsed:,.1f} ms round trip")
            print(format_analysis(response))


def _print_alert(body: dict[str, object]) -> None:
    """What the local alert inbox shows as each notification arrives."""
    stamp = time.strftime("%H:%M:%S")
    print(f"\n[{stamp}] alert inbox received: {body.get('title', body)}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    key = ensure_key_file(_key_file()) if not os.environ.get("GATEWAY_API_KEYS") else None
    suite = Suite(SuiteConfig.from_env(os.environ, STATE_DIR))
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    # Explicit handlers: a shell may start background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        print(suite.ensure_redis())
        print(suite.ensure_dynamodb())
        print(suite.start_alert_inbox(on_alert=_print_alert))
        suite.start_services()
        ready = suite.wait_serving()
        suite.write_state()
        print("all services SERVING: " + ", ".join(f"{s} {t:.1f}s" for s, t in ready.items()))
        print(f"gateway on {suite.config.address('gateway')}; logs in {suite.log_dir}")
        if not args.no_sample:
            _sample_twice(suite.config.address("gateway"), key or api_key(_key_file()))
        if args.exit_after_sample:
            return 0
        print("\nserving; press Ctrl-C to stop")
        while not stop_requested:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, grpc.RpcError) as error:
        message = describe_error(error) if isinstance(error, grpc.RpcError) else str(error)
        print(f"oppsuite up failed: {message}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping (draining in-flight requests) ...")
        suite.stop()
        print("stopped")
    return 0


def _add_analyze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="analyse one opportunity through the gateway")
    for name in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name)
    p.add_argument("--file", help="JSON file with the opportunity's fields")
    p.add_argument("--sample", action="store_true", help="start from the built-in sample")
    p.add_argument("--row-limit", type=int, help="SQL row limit, 50-500 (default 200)")
    p.add_argument("--bypass-cache", action="store_true")
    p.add_argument("--no-truncation", action="store_true")
    p.add_argument("--stream", action="store_true", help="show step progress as it happens")
    p.add_argument("--timeout", type=float, default=180.0, help="deadline in seconds")
    p.add_argument("--json", action="store_true")
    p.add_argument("--target", help="gateway address (default OPPSUITE_GATEWAY or :50051)")
    p.set_defaults(func=cmd_analyze)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oppsuite", description=__doc__)
    sub = parser.add_subparsers(required=True)
    up = sub.add_parser("up", help="start everything locally, run a sample twice, serve")
    up.add_argument("--no-sample", action="store_true")
    up.add_argument("--exit-after-sample", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)
    _add_analyze(sub)
    perf = sub.add_parser("performance", help="latency percentiles, hit and error rates")
    perf.add_argument("--window", type=int, default=300, help="seconds: 60, 300 or 900")
    perf.add_argument("--json", action="store_true")
    perf.add_argument("--target")
    perf.set_defaults(func=cmd_performance)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
