"""The local alert inbox `oppsuite up` runs, over real HTTP on loopback, and the state file
through which `oppsuite validate` finds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.launcher import STATE_FILE, Suite, SuiteConfig, read_state
from services.ops.alert_inbox import AlertInbox


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[AlertInbox]:
    running = AlertInbox(keep=3, log_file=tmp_path / "alerts.jsonl")
    running.start()
    yield running
    running.stop()


def post(url: str, data: bytes) -> int:
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def test_it_records_what_is_posted_keeps_the_latest_and_filters_by_test_id(
    inbox: AlertInbox, tmp_path: Path
) -> None:
    for n in range(4):
        body = {"title": f"alert {n}", **({"test_id": "t-2"} if n == 2 else {})}
        assert post(inbox.url, json.dumps(body).encode()) == 200
    listed = get(inbox.url)["alerts"]
    assert [a["body"]["title"] for a in listed] == ["alert 1", "alert 2", "alert 3"]
    assert all(a["received_at_unix"] > 0 for a in listed)
    assert [a["body"]["title"] for a in get(inbox.url + "?test_id=t-2")["alerts"]] == ["alert 2"]
    assert get(inbox.url + "?test_id=other")["alerts"] == []
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["body"]["title"] for line in lines] == [f"alert {n}" for n in range(4)]


def test_it_refuses_what_is_not_a_json_object(inbox: AlertInbox) -> None:
    assert post(inbox.url, b"not json") == 400
    assert post(inbox.url, b"[1, 2]") == 400
    assert post(inbox.url.replace("/alerts", "/elsewhere"), b"{}") == 404
    assert get(inbox.url)["alerts"] == []


def test_up_points_the_monitor_webhook_at_the_inbox_and_writes_its_state(tmp_path: Path) -> None:
    suite = Suite(SuiteConfig(state_dir=tmp_path), base_env={})
    message = suite.start_alert_inbox()
    try:
        url = suite.alert_inbox_url
        assert url is not None and url in message
        assert suite.env()["PERFORMANCE_ALERTS_WEBHOOK"] == url
        suite.write_state()
        state = read_state(tmp_path)
        assert state is not None
        assert state["alert_inbox"] == url and state["cache"] == "127.0.0.1:50052"
        assert len(state["metrics_urls"]) == 4
    finally:
        suite.stop()
    assert not (tmp_path / STATE_FILE).exists() and suite.alert_inbox_url is None
    assert "PERFORMANCE_ALERTS_WEBHOOK" not in suite.env()


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"PERFORMANCE_ALERTS_WEBHOOK": "https://hooks.example/x"}, "is set"),
        ({"OPPSUITE_ALERT_INBOX": "off"}, "off"),
    ],
)
def test_a_configured_webhook_or_off_means_no_inbox(
    tmp_path: Path, env: dict[str, str], why: str
) -> None:
    suite = Suite(SuiteConfig(state_dir=tmp_path), base_env=env)
    assert why in suite.start_alert_inbox()
    assert suite.alert_inbox_url is None
    assert suite.env().get("PERFORMANCE_ALERTS_WEBHOOK") == env.get("PERFORMANCE_ALERTS_WEBHOOK")


def test_state_left_by_a_process_that_is_gone_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": int(gone.stdout), "cache": "x:1"}))
    assert read_state(tmp_path) is None
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "cache": "x:1"}))
    assert read_state(tmp_path) == {"pid": os.getpid(), "cache": "x:1"}
    (tmp_path / STATE_FILE).write_text("{broken")
    assert read_state(tmp_path) is None
