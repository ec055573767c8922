"""A local HTTP server that speaks the Bedrock Converse wire protocol to real boto3.

``POST /model/{modelId}/converse`` with the JSON body boto3 sends; answers with the
JSON Converse returns (output.message.content[].text, stopReason, usage, metrics),
or with the error shape botocore parses (``x-amzn-ErrorType`` header + JSON
message), e.g. HTTP 429 ThrottlingException. Answers are scripted per call by a
``Script``; the server records every request and the peak number in flight.

The same server also answers Bedrock Prompt Management's GetPrompt
(``GET /prompts/{promptIdentifier}/?promptVersion=N``, the bedrock-agent REST-JSON
protocol), from prompts stored with ``put_prompt``; without a version it answers
the DRAFT, as Bedrock does. ``prompt_failure`` scripts an error for the next fetches.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    text: str = ""
    status: int = 200
    error_type: str = ""  # e.g. ThrottlingException (with status 429)
    delay_s: float = 0.0
    input_tokens: int = 100
    output_tokens: int = 50


def throttle(delay_s: float = 0.0) -> Reply:
    return Reply(status=429, error_type="ThrottlingException", delay_s=delay_s)


@dataclass
class Recorded:
    model_id: str
    body: dict[str, Any]

    @property
    def user_text(self) -> str:
        return str(self.body["messages"][0]["content"][0]["text"])


@dataclass
class Script:
    """Replies queued per kind ("query" | "analysis"), else the defaults."""

    default: Callable[[str, dict[str, Any]], Reply]
    queued: dict[str, deque[Reply]] = field(default_factory=dict)
    latency_s: float = 0.0

    def push(self, kind: str, *replies: Reply) -> None:
        self.queued.setdefault(kind, deque()).extend(replies)

    def next(self, kind: str, model_id: str, body: dict[str, Any]) -> Reply:
        queue = self.queued.get(kind)
        if queue:
            return queue.popleft()
        return self.default(model_id, body)


@dataclass
class StoredPrompt:
    """One version of a managed prompt: CHAT when ``system`` is given, else TEXT."""

    user: str
    system: str | None = None

    def variant(self) -> dict[str, Any]:
        if self.system is None:
            configuration = {"text": {"text": self.user}}
            return {"name": "main", "templateType": "TEXT", "templateConfiguration": configuration}
        chat = {
            "system": [{"text": self.system}],
            "messages": [{"role": "user", "content": [{"text": self.user}]}],
        }
        return {"name": "main", "templateType": "CHAT", "templateConfiguration": {"chat": chat}}


class FakeConverse:
    def __init__(self, script: Script, kind_of: Callable[[str], str]) -> None:
        self.script = script
        self.kind_of = kind_of  # model id -> "query" | "analysis"
        self.requests: list[Recorded] = []
        # Prompt Management: prompt id -> version ("DRAFT", "1", ...) -> prompt
        self.prompts: dict[str, dict[str, StoredPrompt]] = {}
        self.prompt_requests: list[tuple[str, str]] = []  # (identifier, version asked)
        self.prompt_failure: Reply | None = None  # answered instead while set
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.peak_in_flight = 0

    def put_prompt(self, prompt_id: str, version: str, prompt: StoredPrompt) -> None:
        with self._lock:
            self.prompts.setdefault(prompt_id, {})[version] = prompt

    def _get_prompt(self, path: str) -> tuple[int, dict[str, str], bytes]:
        url = urllib.parse.urlsplit(path)
        prompt_id = urllib.parse.unquote(url.path.removeprefix("/prompts/").rstrip("/"))
        version = urllib.parse.parse_qs(url.query).get("promptVersion", ["DRAFT"])[0]
        with self._lock:
            self.prompt_requests.append((prompt_id, version))
            failure = self.prompt_failure
            stored = self.prompts.get(prompt_id, {}).get(version)
        if failure is not None:
            time.sleep(failure.delay_s)
            return _error(failure.status, failure.error_type)
        if stored is None:
            return _error(404, "ResourceNotFoundException")
        now = "2026-01-01T00:00:00Z"
        document = {
            "name": f"name-{prompt_id}",
            "id": prompt_id,
            "arn": f"arn:aws:bedrock:us-east-1:123456789012:prompt/{prompt_id}",
            "version": version,
            "defaultVariant": "main",
            "variants": [stored.variant()],
            "createdAt": now,
            "updatedAt": now,
        }
        return 200, {}, json.dumps(document).encode()

    def _handle(self, path: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/")
        if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse":
            return 404, {"x-amzn-ErrorType": "UnknownOperationException"}, b'{"message":"no"}'
        model_id = urllib.parse.unquote(parts[2])
        body = json.loads(raw)
        with self._lock:
            self.requests.append(Recorded(model_id, body))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            reply = self.script.next(self.kind_of(model_id), model_id, body)
            time.sleep(self.script.latency_s + reply.delay_s)
        finally:
            with self._lock:
                self.in_flight -= 1
        if reply.status != 200:
            return _error(reply.status, reply.error_type)
        document = {
            "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": reply.input_tokens,
                "outputTokens": reply.output_tokens,
                "totalTokens": reply.input_tokens + reply.output_tokens,
            },
            "metrics": {"latencyMs": int((self.script.latency_s + reply.delay_s) * 1000)},
        }
        return 200, {}, json.dumps(document).encode()

    @contextmanager
    def serving(self) -> Iterator[FakeConverse]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint

            def do_GET(self) -> None:
                if self.path.startswith("/prompts/"):
                    self._send(*fake._get_prompt(self.path))
                else:
                    self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"}, b"{}")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._send(*fake._handle(self.path, raw))

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", "fake-request")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 256
        self._server = server
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _error(status: int, error_type: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/"}
    return status, headers, json.dumps({"message": f"scripted {error_type}"}).encode()


def main() -> None:
    """Serve the default scripted answers in their own process (benchmarks), so the
    endpoint does not share the measured process's GIL."""
    import argparse
    import signal

    from tests.analysis.awsfixtures import default_reply, kind_of

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--port-file", required=True, help="written with the port once serving")
    parser.add_argument("--sql-file", help="the SQL the query model answers (default: short)")
    args = parser.parse_args()
    sql = Path(args.sql_file).read_text(encoding="utf-8") if args.sql_file else None

    def reply(model_id: str, body: dict[str, Any]) -> Reply:
        if sql is not None and kind_of(model_id) == "query":
            return Reply(text=json.dumps({"sql_query": sql}), input_tokens=900, output_tokens=600)
        return default_reply(model_id, body)

    fake = FakeConverse(Script(default=reply, latency_s=args.latency_ms / 1000), kind_of)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake.serving():
        with open(args.port_file, "w", encoding="utf-8") as handle:
            handle.write(fake.endpoint.rsplit(":", 1)[1])
        stop.wait()


if __name__ == "__main__":
    main()
