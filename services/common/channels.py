"""Client channels with the options every internal call uses."""

from __future__ import annotations

import json

import grpc

__all__ = ["insecure_channel"]

# round_robin spreads calls over every address a dns:/// target resolves to (headless
# Services in Kubernetes); keepalive notices dead peers without waiting for a request.
_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def insecure_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.max_receive_message_length", 8 * 1024 * 1024),
            ("grpc.enable_retries", 0),
        ],
    )
