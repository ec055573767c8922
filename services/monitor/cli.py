"""``oppsuite alerts``: list and watch alerts, create and delete silences, send a test alert."""

from __future__ import annotations

import argparse
import os
import sys
import time

import grpc
from google.protobuf import json_format

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.monitor.config import cli_author, cli_monitor_address
from services.monitor.rules import RulesError, parse_duration

__all__ = ["register"]

_STATE = {
    monitor_pb2.ALERT_STATE_PENDING: "pending",
    monitor_pb2.ALERT_STATE_FIRING: "firing",
    monitor_pb2.ALERT_STATE_RESOLVED: "resolved",
}
_SEVERITY = {monitor_pb2.SEVERITY_WARNING: "warning", monitor_pb2.SEVERITY_CRITICAL: "critical"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("alerts", help="list/watch alerts, create/delete silences")
    parser.add_argument("--monitor", help="monitor address (default OPPSUITE_MONITOR)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-call deadline, s")
    actions = parser.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="current alerts and active silences")
    listing.add_argument("--all", action="store_true", help="include recently resolved alerts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    watch = actions.add_parser("watch", help="print alert changes as they happen (Ctrl-C stops)")
    watch.add_argument("--current", action="store_true", help="start with the current alerts")
    watch.set_defaults(func=cmd_watch)

    silence = actions.add_parser("silence", help="create or delete a silence")
    silences = silence.add_subparsers(dest="silence_action", required=True)
    create = silences.add_parser("create", help="mute alerts matching every --match")
    create.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="LABEL=VALUE",
        help="label=value, or label=~regex; repeat for more (e.g. alertname=HighPoolUtilization)",
    )
    create.add_argument("--duration", default="1h", help="e.g. 30m, 2h (default 1h)")
    create.add_argument("--author", help="who silences (default: OPPSUITE_USER or USER)")
    create.add_argument("--reason", required=True, help="why")
    create.set_defaults(func=cmd_silence_create)
    delete = silences.add_parser("delete", help="end a silence now")
    delete.add_argument("id")
    delete.set_defaults(func=cmd_silence_delete)

    test = actions.add_parser(
        "test", help="send a synthetic test alert through the channels; print each outcome"
    )
    test.add_argument(
        "--channel", action="append", default=[], help="only this channel (repeat for more)"
    )
    test.add_argument("--wait", type=float, default=30.0, help="seconds to wait for outcomes")
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=cmd_test)


def _stub(args: argparse.Namespace) -> tuple[grpc.Channel, monitor_pb2_grpc.MonitorStub]:
    channel = grpc.insecure_channel(args.monitor or cli_monitor_address(os.environ))
    return channel, monitor_pb2_grpc.MonitorStub(channel)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) if at else "-"


def _line(alert: monitor_pb2.Alert) -> str:
    subject = ",".join(
        f"{k}={v}"
        for k, v in sorted(alert.labels.items())
        if k not in ("alertname", "severity", "group")
    )
    muted = " (silenced)" if alert.silenced_by else " (inhibited)" if alert.inhibited else ""
    return (
        f"{_STATE.get(alert.state, '?'):8} {_SEVERITY.get(alert.severity, '?'):8} "
        f"{alert.name:24} {subject or '-':22} value {alert.value:<12.4g} "
        f"{alert.comparison} {alert.threshold:<10.4g} since {_when(alert.active_since_unix)}{muted}"
    )


def _fail(error: grpc.RpcError) -> int:
    print(f"monitor: {error.code().name}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
    return 1


def cmd_list(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    with channel:
        try:
            reply = stub.ListAlerts(
                monitor_pb2.ListAlertsRequest(include_resolved=args.all), timeout=args.timeout
            )
        except grpc.RpcError as error:
            return _fail(error)
    if args.json:
        print(json_format.MessageToJson(reply, preserving_proto_field_name=True))
        return 0
    if not reply.alerts:
        print("no alerts")
    for alert in reply.alerts:
        print(_line(alert))
    for silence in reply.silences:
        matchers = ",".join(
            f"{m.name}{'=~' if m.regex else '='}{m.value}" for m in silence.matchers
        )
        print(
            f"silence {silence.id} {matchers} until {_when(silence.ends_at_unix)} "
            f"by {silence.author}: {silence.reason}"
        )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    with channel:
        try:
            for event in stub.WatchAlerts(
                monitor_pb2.WatchAlertsRequest(send_current=args.current)
            ):
                print(f"{_when(event.at_unix)} {_line(event.alert)}", flush=True)
        except KeyboardInterrupt:
            return 0
        except grpc.RpcError as error:
            return _fail(error)
    return 0


def _matchers(raw: list[str]) -> list[monitor_pb2.Matcher]:
    out = []
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--match {item!r}: expected LABEL=VALUE or LABEL=~REGEX")
        regex = value.startswith("~")
        out.append(monitor_pb2.Matcher(name=name, value=value[1:] if regex else value, regex=regex))
    return out


def cmd_silence_create(args: argparse.Namespace) -> int:
    try:
        matchers = _matchers(args.match)
        duration = parse_duration(args.duration, "--duration")
    except (ValueError, RulesError) as error:
        print(error, file=sys.stderr)
        return 2
    channel, stub = _stub(args)
    with channel:
        try:
            silence = stub.CreateSilence(
                monitor_pb2.CreateSilenceRequest(
                    matchers=matchers,
                    duration_seconds=duration,
                    author=args.author or cli_author(os.environ),
                    reason=args.reason,
                ),
                timeout=args.timeout,
            )
        except grpc.RpcError as error:
            return _fail(error)
    print(f"silence {silence.id} until {_when(silence.ends_at_unix)} UTC")
    return 0


def cmd_silence_delete(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    with channel:
        try:
            silence = stub.DeleteSilence(
                monitor_pb2.DeleteSilenceRequest(id=args.id), timeout=args.timeout
            )
        except grpc.RpcError as error:
            return _fail(error)
    print(f"silence {silence.id} deleted")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    request = monitor_pb2.SendTestAlertRequest(
        channels=args.channel, requested_by="oppsuite alerts test", wait_seconds=args.wait
    )
    with channel:
        try:
            reply = stub.SendTestAlert(request, timeout=max(args.timeout, args.wait + 5))
        except grpc.RpcError as error:
            return _fail(error)
    if args.json:
        print(json_format.MessageToJson(reply))
    else:
        print(f"test alert {reply.test_id}")
        for d in reply.deliveries:
            outcome = "delivered" if d.delivered else "PENDING" if d.pending else "NOT delivered"
            why = f"  {d.error}" if d.error and not d.delivered else ""
            print(
                f"  {d.channel:10} {outcome:13} {d.attempts} attempt(s) {d.latency_ms:8.0f} ms{why}"
            )
    return 0 if reply.deliveries and all(d.delivered for d in reply.deliveries) else 1
