"""``oppsuite analysis-describe`` and ``oppsuite analysis-prompts``.

``analysis-describe`` asks a running analysis service what its answers depend on
(provider, model ids, prompt versions, dataset): the fingerprint in every cache key.
``analysis-prompts`` lists the versioned prompt templates shipped with the service,
or prints one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources

import grpc
from google.protobuf import json_format

from services.analysis.config import cli_analysis_address
from services.analysis.prompts import load_prompt
from services.common.gen import analysis_pb2, analysis_pb2_grpc

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    describe = subparsers.add_parser(
        "analysis-describe", help="provider, models and prompt versions of the analysis service"
    )
    describe.add_argument("--analysis", help="address (default ANALYSIS_ADDRESS or :50053)")
    describe.add_argument("--timeout", type=float, default=5.0, help="deadline, s")
    describe.add_argument("--json", action="store_true")
    describe.set_defaults(func=cmd_describe)

    prompts = subparsers.add_parser(
        "analysis-prompts", help="list the versioned prompt templates, or print one"
    )
    prompts.add_argument("name", nargs="?", help="a template, e.g. query_v1")
    prompts.set_defaults(func=cmd_prompts)


def cmd_describe(args: argparse.Namespace) -> int:
    address = args.analysis or cli_analysis_address(os.environ)
    with grpc.insecure_channel(address) as channel:
        stub = analysis_pb2_grpc.AnalysisServiceStub(channel)
        try:
            reply = stub.Describe(analysis_pb2.DescribeRequest(), timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"analysis at {address}: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    document = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        for key, value in document.items():
            print(f"{key:<24} {value}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    if args.name:
        try:
            prompt = load_prompt(args.name)
        except ValueError as error:
            print(error, file=sys.stderr)
            return 1
        print(
            f"# version {prompt.version}\n# system\n{prompt.system}\n# user\n{prompt.user.template}"
        )
        return 0
    names = sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files("services.analysis.prompts").iterdir()
        if entry.name.endswith(".yaml")
    )
    for name in names:
        print(f"{name:<16} version {load_prompt(name).version}")
    return 0
