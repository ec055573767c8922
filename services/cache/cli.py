"""``oppsuite warm`` and ``oppsuite cleanup``: the cache's housekeeping, over gRPC.

``cleanup`` is a dry run unless ``--apply`` is given: it prints every entry it would
remove, its score and why, and what removing them would free.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import grpc
from google.protobuf import json_format

from services.cache.config import cli_cache_address
from services.common.gen import cache_pb2, cache_pb2_grpc

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    warm = subparsers.add_parser("warm", help="refresh popular cache entries before they expire")
    warm.add_argument("--key", action="append", default=[], help="a cache key; repeat for more")
    warm.add_argument("--top-k", type=int, default=0, help="most popular keys (0 = configured)")
    warm.add_argument("--budget", type=float, default=0.0, help="compute seconds (0 = configured)")
    warm.add_argument(
        "--from-l2", action="store_true", help="copy DynamoDB entries into Redis, no re-analysis"
    )
    _common(warm, default_timeout=300.0)
    warm.set_defaults(func=cmd_warm)

    cleanup = subparsers.add_parser(
        "cleanup", help="show low-value cache entries (dry run); --apply removes them"
    )
    cleanup.add_argument("--apply", action="store_true", help="remove the candidates")
    cleanup.add_argument("--max-entries", type=int, default=0, help="0 = configured")
    cleanup.add_argument("--min-score", type=float, default=0.0, help="0-100; 0 = configured")
    _common(cleanup, default_timeout=120.0)
    cleanup.set_defaults(func=cmd_cleanup)


def _common(parser: argparse.ArgumentParser, *, default_timeout: float) -> None:
    parser.add_argument("--cache", help="cache address (default CACHE_ADDRESS or :50052)")
    parser.add_argument("--timeout", type=float, default=default_timeout, help="deadline, s")
    parser.add_argument("--json", action="store_true")


def _stub(args: argparse.Namespace) -> tuple[grpc.Channel, cache_pb2_grpc.CacheStub, str]:
    address = args.cache or cli_cache_address(os.environ)
    channel = grpc.insecure_channel(address)
    return channel, cache_pb2_grpc.CacheStub(channel), address


def _failed(address: str, error: grpc.RpcError) -> int:
    print(f"cache at {address}: {error.code().name}: {error.details()}", file=sys.stderr)
    return 1


def cmd_warm(args: argparse.Namespace) -> int:
    channel, stub, address = _stub(args)
    request = cache_pb2.CacheWarmRequest(
        keys=args.key, top_k=args.top_k, budget_seconds=args.budget, from_l2=args.from_l2
    )
    with channel:
        try:
            reply = stub.Warm(request, timeout=args.timeout)
        except grpc.RpcError as error:
            return _failed(address, error)
    if args.json:
        print(json.dumps(json_format.MessageToDict(reply), indent=2))
        return 0
    source = "DynamoDB -> Redis" if args.from_l2 else "re-analysis"
    print(
        f"warming ({source}): {reply.considered} considered, {reply.warmed} warmed, "
        f"{reply.skipped} skipped, {reply.compute_seconds:.1f} s of compute"
    )
    for key in reply.warmed_keys:
        print(f"  warmed {key}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    channel, stub, address = _stub(args)
    request = cache_pb2.CacheCleanupRequest(
        apply=args.apply, max_entries=args.max_entries, min_score=args.min_score
    )
    with channel:
        try:
            reply = stub.Cleanup(request, timeout=args.timeout)
        except grpc.RpcError as error:
            return _failed(address, error)
    if args.json:
        print(json.dumps(json_format.MessageToDict(reply), indent=2))
        return 0
    print(_table(reply))
    total = sum(c.size_bytes for c in reply.candidates)
    if reply.applied:
        print(
            f"removed {reply.removed} of {reply.scanned} entries, freed {reply.bytes_freed} bytes"
        )
    else:
        print(
            f"dry run: {len(reply.candidates)} of {reply.scanned} entries would be removed "
            f"({total} bytes); run again with --apply to remove them"
        )
    return 0


def _table(reply: cache_pb2.CacheCleanupResponse) -> str:
    if not reply.candidates:
        return "no entry scores below the threshold"
    rows = [("key", "score", "bytes", "conf", "hits", "age_s", "why")]
    for c in reply.candidates:
        key = c.key if len(c.key) <= 30 else c.key[:27] + "..."
        rows.append(
            (
                key,
                f"{c.score:.1f}",
                str(c.size_bytes),
                str(c.confidence_score),
                str(c.hit_count),
                f"{c.age_seconds:.0f}",
                c.reason,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in rows]
    return "\n".join(f"{line}  {row[-1]}" for line, row in zip(lines, rows, strict=True))
