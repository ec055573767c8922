"""In-process metric recording for the monitor, and the background task that ships it.

``Telemetry`` collects histograms (ms), counter deltas and gauges in memory; it
is cheap, lock-protected (callers on the event loop and in worker threads) and
never raises into a caller: a bad value is dropped and counted instead. Series
are bounded (``max_series``); a new series beyond the bound is dropped and counted
in ``dropped_series``, so a label carrying an unbounded value cannot grow memory.

``MonitorReporter`` takes a report every ``interval_s`` and writes it on the
client stream ``Monitor.Report``. While the monitor is unreachable, reports wait
in a bounded queue (oldest dropped, counted in ``dropped_reports``) and the
stream is reopened with capped exponential backoff and jitter. Delivery is
best effort: a report written as a connection breaks may be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from services.common.gen import monitor_pb2, monitor_pb2_grpc
from services.monitor.convert import histogram_to_delta
from services.monitor.sketch import LogHistogram

__all__ = ["DEFAULT_MAX_SERIES", "MonitorReporter", "Telemetry"]

DEFAULT_MAX_SERIES = 500

_log = logging.getLogger(__name__)

_LabelKey = tuple[tuple[str, str], ...]
_SeriesKey = tuple[str, _LabelKey]


def _key(name: str, labels: dict[str, str]) -> _SeriesKey:
    return name, tuple(sorted((k, str(v)) for k, v in labels.items()))


class Telemetry:
    def __init__(
        self, *, max_series: int = DEFAULT_MAX_SERIES, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._max_series = max_series
        self._lock = threading.Lock()
        self._histograms: dict[_SeriesKey, LogHistogram] = {}
        self._counters: dict[_SeriesKey, float] = {}
        self._gauges: dict[_SeriesKey, float] = {}
        self.dropped_series = 0
        self.dropped_values = 0

    def observe(self, name: str, value_ms: float, **labels: str) -> None:
        """Record one latency (ms) in histogram ``name``."""
        self.observe_times(name, value_ms, 1, **labels)

    def observe_times(self, name: str, value_ms: float, times: int, **labels: str) -> None:
        """Record the same latency (ms) ``times`` times in histogram ``name``: one write for
        what a caller counted in batch (a hot path's many zero waits, say)."""
        if not math.isfinite(value_ms) or times < 0:
            self.dropped_values += 1
            return
        key = _key(name, labels)
        with self._lock:
            histogram = self._histograms.get(key)
            if histogram is None:
                if not self._room_for_new_series():
                    return
                histogram = self._histograms[key] = LogHistogram()
            histogram.add(value_ms, times)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` (not negative) to counter ``name``."""
        if not (math.isfinite(value) and value >= 0):
            self.dropped_values += 1
            return
        key = _key(name, labels)
        with self._lock:
            if key in self._counters:
                self._counters[key] += value
            elif self._room_for_new_series():
                self._counters[key] = value

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        """Set gauge ``name``; every report carries its latest value."""
        if not math.isfinite(value):
            self.dropped_values += 1
            return
        key = _key(name, labels)
        with self._lock:
            if key in self._gauges or self._room_for_new_series():
                self._gauges[key] = value

    def take_report(
        self, service: str, instance: str, *, allow_empty: bool = False
    ) -> monitor_pb2.MetricReport | None:
        """Deltas since the last take (then reset) plus current gauges.

        None when there is nothing to report, unless ``allow_empty`` (a heartbeat that
        keeps the instance counted as live by the monitor).
        """
        with self._lock:
            histograms, self._histograms = self._histograms, {}
            counters, self._counters = self._counters, {}
            gauges = dict(self._gauges)
        if not (histograms or counters or gauges or allow_empty):
            return None
        return monitor_pb2.MetricReport(
            service=service,
            instance=instance,
            sent_at_unix=self._clock(),
            histograms=[histogram_to_delta(n, dict(lk), h) for (n, lk), h in histograms.items()],
            counters=[
                monitor_pb2.CounterDelta(name=n, labels=dict(lk), value=v)
                for (n, lk), v in counters.items()
            ],
            gauges=[
                monitor_pb2.GaugeValue(name=n, labels=dict(lk), value=v)
                for (n, lk), v in gauges.items()
            ],
        )

    def _room_for_new_series(self) -> bool:
        """Under the lock: may one more series be added?"""
        if len(self._histograms) + len(self._counters) + len(self._gauges) < self._max_series:
            return True
        self.dropped_series += 1
        return False


class MonitorReporter:
    """Ships ``telemetry`` to the monitor every ``interval_s``; never blocks or raises into callers.

    ``target`` is either a MonitorStub (the stream is reopened on it after a
    failure) or a zero-argument factory of a ``grpc.aio.Channel`` (the reporter owns
    the channel and builds a fresh one after a failure, so its own backoff, not the
    channel's, decides when to retry). ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        target: Any,
        *,
        service: str,
        instance: str,
        interval_s: float = 1.0,
        max_pending: int = 60,
        clock: Callable[[], float] = time.monotonic,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        write_timeout_s: float = 2.0,
        stop_timeout_s: float = 1.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._telemetry = telemetry
        self._fixed_stub: Any = target if hasattr(target, "Report") else None
        self._channel_factory: Callable[[], Any] | None = None if self._fixed_stub else target
        self._service = service
        self._instance = instance
        self._interval_s = interval_s
        self._max_pending = max_pending
        self._clock = clock
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._write_timeout_s = write_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._rng = rng
        self._pending: deque[monitor_pb2.MetricReport] = deque()
        self._channel: Any = None
        self._stub: Any = self._fixed_stub
        self._call: Any = None
        self._failures = 0
        self._retry_at = 0.0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent_reports = 0
        self.dropped_reports = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="monitor-reporter")

    async def stop(self) -> None:
        """Stop the task, flush one last report, close the stream; bounded by stop_timeout_s."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        deadline = self._clock() + self._stop_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self._stop_timeout_s / 2)
        except Exception:  # TimeoutError included: cancel a task stuck in a write
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                self._collect()
                await self._deliver(self._stop_timeout_s, force=True)
                await self._finish_stream()
        await self._drop_stream()

    async def _run(self) -> None:
        next_tick = self._clock() + self._interval_s
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=max(0.0, next_tick - self._clock())
                )
            if self._stopping.is_set():
                return
            # After a stall, tick now rather than bursting to catch up.
            next_tick = max(next_tick + self._interval_s, self._clock())
            try:
                self._collect()
                await self._deliver(self._write_timeout_s)
            except Exception:
                _log.exception("monitor reporter iteration failed")

    def _collect(self) -> None:
        # An empty report is a heartbeat; it is pointless while others wait to be sent.
        report = self._telemetry.take_report(
            self._service, self._instance, allow_empty=not self._pending
        )
        if report is None:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped_reports += 1
        self._pending.append(report)

    async def _deliver(self, budget_s: float, *, force: bool = False) -> None:
        if not self._pending or (not force and self._clock() < self._retry_at):
            return
        try:
            async with asyncio.timeout(budget_s):
                call = self._open_stream()
                while self._pending:
                    await call.write(self._pending[0])
                    self._pending.popleft()
                    self.sent_reports += 1
        except Exception as exc:  # grpc errors, a finished call, a timeout: all mean retry later
            await self._on_failure(exc)
            return
        if self._failures:
            _log.info("monitor reachable again", extra={"after_failures": self._failures})
        self._failures = 0

    def _open_stream(self) -> Any:
        if self._call is None or self._call.done():
            if self._stub is None and self._channel_factory is not None:
                self._channel = self._channel_factory()
                self._stub = monitor_pb2_grpc.MonitorStub(self._channel)
            self._call = self._stub.Report()
        return self._call

    async def _on_failure(self, exc: Exception) -> None:
        self._failures += 1
        initial, cap = self._backoff
        delay = min(cap, initial * 2 ** min(self._failures - 1, 30))
        # Jitter spreads the reconnects of many replicas after a monitor restart.
        self._retry_at = self._clock() + delay * (0.5 + 0.5 * self._rng())
        if self._failures == 1:
            _log.warning(
                "monitor unreachable; buffering reports",
                extra={"error": repr(exc), "pending": len(self._pending)},
            )
        await self._drop_stream()

    async def _finish_stream(self) -> None:
        call = self._call
        if call is not None and not call.done():
            await call.done_writing()
            await call

    async def _drop_stream(self) -> None:
        call, self._call = self._call, None
        if call is not None and not call.done():
            call.cancel()
        if self._channel_factory is not None:
            channel, self._channel, self._stub = self._channel, None, None
            if channel is not None:
                with contextlib.suppress(Exception):
                    await channel.close()
