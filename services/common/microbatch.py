"""Coalesce concurrent calls into batches, adaptively.

A call goes out at once while fewer than ``max_in_flight`` batches are out, so a quiet
service adds no latency. Under load, calls that arrive while every slot is busy wait
for the next free slot and go out together: the batch grows with the load and the
per-call cost of a round trip (a syscall, a command parse, an RPC) is shared. Nothing
waits on a timer.

``run`` gets the items and returns one result per item, in order; it owns its own
timeout. If it raises, every call in the batch gets the exception. A caller that is
cancelled while waiting leaves the batch (its item is not sent if it has not gone
yet); one cancelled after its batch went out only stops waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class MicroBatcher(Generic[_In, _Out]):
    def __init__(
        self,
        run: Callable[[list[_In]], Awaitable[Sequence[_Out]]],
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[_In, asyncio.Future[_Out]]] = []
        self._in_flight = 0
        self._out: dict[asyncio.Task[None], list[asyncio.Future[_Out]]] = {}
        self.batches = 0
        self.items = 0

    async def submit(self, item: _In) -> _Out:
        future: asyncio.Future[_Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._in_flight < self._max_in_flight:
            batch = [(i, f) for i, f in self._waiting[: self._max_batch] if not f.done()]
            del self._waiting[: self._max_batch]
            if not batch:
                if not self._waiting:
                    return
                continue
            self._in_flight += 1
            self.batches += 1
            self.items += len(batch)
            task = asyncio.create_task(self._send(batch))
            self._out[task] = [future for _, future in batch]
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._out.pop(task, None)

    async def _send(self, batch: list[tuple[_In, asyncio.Future[_Out]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} answered with {len(results)} results")
        except asyncio.CancelledError:  # shutting down: nobody gets an answer
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            self._dispatch()

    async def aclose(self) -> None:
        """Cancel the batches still out and the calls still waiting; their callers see
        CancelledError. (A batch cancelled before it started never runs its own
        clean-up, hence the futures are cancelled here too.)"""
        out, self._out = dict(self._out), {}
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        for task, futures in out.items():
            task.cancel()
            for future in futures:
                future.cancel()
        await asyncio.gather(*out, return_exceptions=True)
