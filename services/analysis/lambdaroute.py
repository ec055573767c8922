"""Guarded SQL through a Lambda function that runs it on Athena for us.

Request payload ``{"sql_query": "..."}``. Accepted answers: a JSON list of row
objects, ``{"rows": [...]}``, or an API-Gateway style ``{"statusCode": 200, "body":
"<json of either>"}``. ``FunctionError`` or an ``errorMessage`` payload is a
``LambdaFailed`` naming the function and the error. Billed duration comes from the
log tail (``LogType=Tail``) when the function returns one, else the measured time
rounded up to the next millisecond.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from services.analysis.awspool import AwsClientPool
from services.analysis.awsretry import RetryPolicy, retry_throttled
from services.analysis.errors import LambdaFailed, QueryFailed
from services.analysis.provider import Row
from services.analysis.retrieval import compact_row

__all__ = ["LambdaResult", "LambdaRoute", "parse_lambda_payload"]

_BILLED = re.compile(r"Billed Duration:\s*([0-9.]+)\s*ms")


@dataclass(frozen=True)
class LambdaResult:
    rows: list[Row]
    billed_ms: float


class LambdaRoute:
    def __init__(
        self,
        pool: AwsClientPool,
        function_name: str,
        retry: RetryPolicy,
        rng: random.Random,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._function = function_name
        self._retry = retry
        self._rng = rng
        self._clock = clock

    async def run(self, sql: str) -> LambdaResult:
        payload = json.dumps({"sql_query": sql}).encode("utf-8")

        async def once() -> dict[str, Any]:
            return await self._pool.call(
                "invoke",
                FunctionName=self._function,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=payload,
            )

        started = self._clock()
        try:
            response = await retry_throttled(once, self._retry, rng=self._rng, clock=self._clock)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise QueryFailed(
                f"Lambda {self._function} could not be invoked: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}"
            ) from exc
        elapsed_ms = (self._clock() - started) * 1000
        body = response.get("Payload", b"")
        raw = body if isinstance(body, bytes) else str(body).encode()
        function_error = response.get("FunctionError")
        rows = parse_lambda_payload(self._function, raw, function_error)
        return LambdaResult(rows, _billed_ms(response.get("LogResult"), elapsed_ms))


def _billed_ms(log_result: object, elapsed_ms: float) -> float:
    if isinstance(log_result, str) and log_result:
        try:
            tail = base64.b64decode(log_result).decode("utf-8", "replace")
        except ValueError:
            tail = ""
        match = _BILLED.search(tail)
        if match:
            return float(match.group(1))
    return float(math.ceil(elapsed_ms))


def _error_text(document: object) -> str | None:
    if isinstance(document, dict) and ("errorMessage" in document or "errorType" in document):
        return f"{document.get('errorType', 'Error')}: {document.get('errorMessage', '')}"
    return None


def parse_lambda_payload(function: str, raw: bytes, function_error: object = None) -> list[Row]:
    """Compact rows from the function's answer; LambdaFailed for any error shape."""
    try:
        document: Any = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
        if function_error is None:
            raise LambdaFailed(f"Lambda {function} returned a payload that is not JSON") from None
    if function_error:
        detail = _error_text(document) or "no error details"
        raise LambdaFailed(f"Lambda {function} failed ({function_error}): {detail}")
    if (error := _error_text(document)) is not None:
        raise LambdaFailed(f"Lambda {function} returned an error: {error}")
    if isinstance(document, dict) and "body" in document and "statusCode" in document:
        status = document.get("statusCode")
        if status != 200:
            raise LambdaFailed(f"Lambda {function} answered status {status}: {document['body']}")
        body = document["body"]
        return parse_lambda_payload(function, body.encode() if isinstance(body, str) else b"")
    rows = document.get("rows") if isinstance(document, dict) else document
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise LambdaFailed(
            f"Lambda {function} answer has no rows (expected a list of objects or "
            '{"rows": [...]})'
        )
    return [compact_row(r) for r in rows]
