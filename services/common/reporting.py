"""Wires a service's Telemetry to the monitor, and samples process gauges (memory)
just before each report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Callable
from pathlib import Path

from services.common.channels import insecure_channel
from services.common.settings import CommonSettings
from services.common.telemetry import MonitorReporter, Telemetry

__all__ = ["Reporting", "memory_limit_bytes", "reporter_for", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> float:
    """Resident set size now (not the peak), from /proc where it exists."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
        return float(int(fields[1]) * _PAGE)
    except (OSError, IndexError, ValueError):
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def memory_limit_bytes() -> float:
    """The container's memory limit (cgroup v2, then v1); 0 when unlimited or unknown."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return float(raw)
    return 0.0


class Reporting:
    """The reporter plus a sampler that refreshes gauges once per interval."""

    def __init__(
        self,
        telemetry: Telemetry,
        reporter: MonitorReporter | None,
        sample: Callable[[], None] | None,
        interval_s: float = 1.0,
    ) -> None:
        self._telemetry = telemetry
        self._reporter = reporter
        self._sample = sample
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def sample_now(self) -> None:
        self._telemetry.set_gauge("memory_rss_bytes", rss_bytes())
        self._telemetry.set_gauge("memory_limit_bytes", memory_limit_bytes())
        if self._sample is not None:
            self._sample()

    async def _loop(self) -> None:
        while True:
            self.sample_now()
            await asyncio.sleep(self._interval_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="gauge-sampler")
        if self._reporter is not None:
            await self._reporter.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self.sample_now()  # what was counted since the last sample goes in the last report
        if self._reporter is not None:
            await self._reporter.stop()


def reporter_for(
    telemetry: Telemetry,
    common: CommonSettings,
    service: str,
    sample: Callable[[], None] | None = None,
) -> Reporting:
    reporter = None
    if common.monitor_address:
        address = common.monitor_address
        reporter = MonitorReporter(
            telemetry,
            lambda: insecure_channel(address),
            service=service,
            instance=common.instance,
        )
    return Reporting(telemetry, reporter, sample)
