"""The local alert inbox: a small HTTP receiver that `oppsuite up` points the monitor's
webhook channel at, so a developer sees alerts (and `oppsuite validate` sees its test
alert arrive) without Slack, email or AWS.

    POST <url>               a notification (JSON object); answered 200, recorded
    GET  <url>               {"alerts": [...]}: the latest ``keep`` notifications, oldest
                             first, each {"received_at_unix": ..., "body": {...}}
    GET  <url>?test_id=ID    only the test notifications with that id

Loopback only. Every notification is also appended as one JSON line to ``log_file``.
It runs in a daemon thread of the process that starts it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["INBOX_PATH", "AlertInbox"]

INBOX_PATH = "/alerts"
_MAX_BODY = 1_000_000


class AlertInbox:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keep: int = 100,
        log_file: Path | None = None,
        on_alert: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._address = (host, port)
        self._received: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._log_file = log_file
        self._on_alert = on_alert
        self._clock = clock
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the alert inbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{INBOX_PATH}"

    def received(self, test_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._received)
        if test_id is None:
            return records
        return [r for r in records if r["body"].get("test_id") == test_id]

    def record(self, body: dict[str, Any]) -> None:
        entry = {"received_at_unix": self._clock(), "body": body}
        with self._lock:
            self._received.append(entry)
            if self._log_file is not None:
                self._log_file.parent.mkdir(parents=True, exist_ok=True)
                with self._log_file.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry, sort_keys=True) + "\n")
        if self._on_alert is not None:
            self._on_alert(body)

    def start(self) -> str:
        """Listen, and return the URL to give the monitor."""
        self._server = ThreadingHTTPServer(self._address, _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alert-inbox", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _handler(inbox: AlertInbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if urlparse(self.path).path != INBOX_PATH:
                self._reply(404, {"error": f"POST notifications to {INBOX_PATH}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= _MAX_BODY:
                self._reply(413 if length else 400, {"error": "a JSON body of 1 B-1 MB"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except (ValueError, UnicodeDecodeError):
                self._reply(400, {"error": "the body is not JSON"})
                return
            if not isinstance(body, dict):
                self._reply(400, {"error": "the body is not a JSON object"})
                return
            inbox.record(body)
            self._reply(200, {"ok": True})

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            if parsed.path not in (INBOX_PATH, "/"):
                self._reply(404, {"error": f"GET {INBOX_PATH}"})
                return
            test_id = parse_qs(parsed.query).get("test_id", [None])[0]
            self._reply(200, {"alerts": inbox.received(test_id)})

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the inbox reports what it receives through on_alert

    return Handler
