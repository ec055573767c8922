"""Bedrock Converse through the pooled client: one user turn in, text and usage out."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from services.analysis.awspool import AwsClientPool
from services.analysis.awsretry import RetryPolicy, retry_throttled
from services.analysis.errors import ModelCallRejected, ModelOutputInvalid

__all__ = ["ConverseAnswer", "ConverseClient"]


@dataclass(frozen=True)
class ConverseAnswer:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str


class ConverseClient:
    def __init__(self, pool: AwsClientPool, retry: RetryPolicy, rng: random.Random) -> None:
        self._pool = pool
        self._retry = retry
        self._rng = rng

    async def converse(
        self, *, model_id: str, system: str, user: str, max_tokens: int, step: str
    ) -> ConverseAnswer:
        params: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
        }
        if system:  # a TEXT prompt from Prompt Management has none; Bedrock refuses ""
            params["system"] = [{"text": system}]

        async def once() -> dict[str, Any]:
            return await self._pool.call("converse", **params)

        try:
            response = await retry_throttled(once, self._retry, rng=self._rng)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ModelCallRejected(
                f"Bedrock refused the {step} request for model {model_id}: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}",
                step=step,
            ) from exc
        return _answer(response, step)


def _answer(response: dict[str, Any], step: str) -> ConverseAnswer:
    usage = response.get("usage") or {}
    try:
        blocks = response["output"]["message"]["content"]
    except (KeyError, TypeError):
        raise ModelOutputInvalid("the model returned no message", step=step) from None
    text = "".join(b["text"] for b in blocks if isinstance(b, dict) and "text" in b)
    stop_reason = str(response.get("stopReason", ""))
    if not text.strip():
        raise ModelOutputInvalid(
            f"the model returned no text (stop reason {stop_reason or 'unknown'})", step=step
        )
    return ConverseAnswer(
        text=text,
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        stop_reason=stop_reason,
    )
