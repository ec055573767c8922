"""`oppsuite deploy` and `oppsuite validate`, added to the oppsuite command by
``register(subparsers)``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["register"]

DEFAULT_METRICS = "http://127.0.0.1:9101/metrics,http://127.0.0.1:9102/metrics," + (
    "http://127.0.0.1:9103/metrics,http://127.0.0.1:9104/metrics"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="check AWS and cluster prerequisites, apply a Kubernetes overlay, wait for rollout",
        description="Renders the overlay, checks the kubectl context, the gateway's API-key "
        "Secret and the AWS resources the overlay names (DynamoDB table with TTL, SNS "
        "topic, IAM roles for service accounts), then runs `kubectl apply -k` and waits "
        "for every Deployment to roll out.",
    )
    deploy.add_argument("overlay", nargs="?", default="dev", help="dev, prod, or a path")
    deploy.add_argument("--context", help="kubectl context (default: the current one)")
    deploy.add_argument(
        "--create-missing", action="store_true", help="create missing AWS resources"
    )
    deploy.add_argument("--dry-run", action="store_true", help="print what would be done")
    deploy.add_argument(
        "--oidc-provider", help="the cluster's OIDC issuer host/path, to create IRSA roles"
    )
    deploy.add_argument("--region", help="AWS region (default: the overlay's AWS_REGION)")
    deploy.add_argument(
        "--rollout-timeout", type=float, default=300.0, help="seconds per Deployment"
    )
    deploy.set_defaults(func=_deploy)

    validate = subparsers.add_parser(
        "validate",
        help="live checks against a running suite: caching, tier promotion, pooling, rate limits, "
        "latency, metrics, an alert round trip",
        description="Measures a running suite and reports each check as PASS or FAIL with "
        "the figure it measured; exits non-zero when any check fails.",
    )
    running = "a running `oppsuite up` (.oppsuite/suite.json)"
    validate.add_argument(
        "--target",
        help=f"gateway address (default: $OPPSUITE_GATEWAY, {running}, or 127.0.0.1:50051)",
    )
    validate.add_argument(
        "--metrics",
        help="comma-separated /metrics URLs (default: $OPPSUITE_METRICS_URLS, "
        f"{running}, or the four local ports 9101-9104)",
    )
    validate.add_argument(
        "--monitor",
        help="monitor address for the alert checks (default: $OPPSUITE_MONITOR, "
        f"{running}, or 127.0.0.1:50054; 'none' skips them)",
    )
    validate.add_argument(
        "--cache",
        help="cache address for the tier-promotion check (default: $CACHE_ADDRESS, "
        f"{running}, or 127.0.0.1:50052; 'none' skips it)",
    )
    validate.add_argument(
        "--alert-inbox",
        help="URL of an alert inbox where the test alert must arrive (default: the "
        f"inbox of {running}; 'none' checks delivery acknowledgements only)",
    )
    validate.add_argument(
        "--alert-channel",
        action="append",
        default=[],
        help="send the test alert on this channel only (repeat; default: every configured channel)",
    )
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--burst", type=int, default=300, help="requests in the burst")
    validate.add_argument(
        "--hit-threshold-ms", type=float, default=100.0, help="limit for cache-hit p95"
    )
    validate.add_argument(
        "--total-threshold-ms", type=float, default=30_000.0, help="limit for an analysis"
    )
    validate.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    validate.set_defaults(func=_validate)


def _overlay_dir(name: str) -> Path:
    candidate = Path(name)
    if candidate.is_dir():
        return candidate
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        overlay = root / "deploy" / "k8s" / "overlays" / name
        if overlay.is_dir():
            return overlay
    raise SystemExit(f"no overlay {name!r}: give dev, prod or a kustomization directory")


def _deploy(args: argparse.Namespace) -> int:
    from services.ops.deploy import DeployOptions, run

    options = DeployOptions(
        overlay_dir=_overlay_dir(args.overlay),
        context=args.context,
        create_missing=args.create_missing,
        dry_run=args.dry_run,
        oidc_provider=args.oidc_provider,
        region=args.region,
        rollout_timeout_s=args.rollout_timeout,
    )
    return run(options, sys.stdout)


def _address(value: str | None, default: str) -> str | None:
    """``value`` (or ``default``), with 'none' meaning: skip what needs it."""
    chosen = str(value or default).strip()
    return None if chosen.lower() == "none" else chosen


def _validate(args: argparse.Namespace) -> int:
    from services.client import api_key
    from services.launcher import read_state
    from services.ops.validate import ValidateOptions, run

    state_dir = Path(os.environ.get("OPPSUITE_STATE_DIR", ".oppsuite"))
    key_file = Path(os.environ.get("OPPSUITE_API_KEY_FILE", str(state_dir / "api-key")))
    # A flag, else the variable, else what a running `oppsuite up` wrote, else the default.
    up = read_state(state_dir) or {}
    metrics = (
        args.metrics
        or os.environ.get("OPPSUITE_METRICS_URLS")
        or ",".join(up.get("metrics_urls") or [])
        or DEFAULT_METRICS
    )
    monitor = args.monitor or os.environ.get("OPPSUITE_MONITOR") or up.get("monitor")
    cache = args.cache or os.environ.get("CACHE_ADDRESS") or up.get("cache")
    inbox = args.alert_inbox or up.get("alert_inbox") or "none"
    if args.burst < 1 or args.timeout <= 0:
        raise SystemExit("--burst must be at least 1 and --timeout positive")
    options = ValidateOptions(
        gateway=args.target
        or os.environ.get("OPPSUITE_GATEWAY")
        or up.get("gateway")
        or "127.0.0.1:50051",
        api_key=api_key(key_file),
        metrics_urls=[u.strip() for u in metrics.split(",") if u.strip()],
        monitor=_address(monitor, "127.0.0.1:50054"),
        cache=_address(cache, "127.0.0.1:50052"),
        alert_inbox=_address(inbox, "none"),
        alert_channels=args.alert_channel,
        timeout_s=args.timeout,
        hit_p95_threshold_ms=args.hit_threshold_ms,
        total_threshold_ms=args.total_threshold_ms,
        burst=args.burst,
    )
    return run(options, sys.stdout, as_json=args.json)
