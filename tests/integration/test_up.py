"""`oppsuite up` (what `make up` runs) end to end: start, sample twice, Ctrl-C, clean stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.launcher import SERVICES
from tests.conftest import RedisServer, free_port

pytestmark = pytest.mark.integration


def test_up_prints_a_miss_then_a_hit_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, redis_server: RedisServer, data_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_API_KEYS", "OPPSUITE_API_KEY")}
    env.update(
        {
            "OPPSUITE_STATE_DIR": str(tmp_path / "state"),
            "OPPSUITE_DATA_DIR": str(data_dir),
            "REDIS_URL": redis_server.url,
            "OPPSUITE_DYNAMODB_PORT": str(free_port()),
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(free_port())
        env[f"{service.upper()}_METRICS_PORT"] = str(free_port())
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        assert any("press Ctrl-C" in line for line in lines), "".join(lines)
        # While it serves, suite.json says where everything is, the alert inbox included.
        state = json.loads((tmp_path / "state" / "suite.json").read_text())
        assert state["pid"] == proc.pid and state["alert_inbox"].startswith("http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    cache_lines = [
        line.split()[-1] for line in output.splitlines() if line.strip().startswith("cache ")
    ]
    assert cache_lines == ["miss", "redis"], output
    assert "all services SERVING" in output and output.rstrip().endswith("stopped")
    assert f"alert inbox on {state['alert_inbox']}" in output
    assert not (tmp_path / "state" / "suite.json").exists()
    key_file = tmp_path / "state" / "api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
