"""Group concurrent requests into batches for the engine, on an asyncio loop.

Callers (gateway request handlers, gRPC handlers) `await submit(op)`. One task
per loop takes whatever is queued (up to `max_batch`), runs it as one batch in
one transaction, and resolves the callers only after the commit. Under light
load a batch is a single operation and goes at once; under heavy load batches
grow by themselves: group commit, done in the application.

The batcher runs on the caller's own event loop, so the hot path has no thread
handoff: while a batch waits on PostgreSQL, the loop keeps accepting requests
for the next one.

If a batch fails as a whole (a deadlock, a unique-key race with another
process, a lost connection) nothing of it was committed, and each of its
operations is retried alone, so one bad operation cannot sink its neighbours.

An operation whose caller was cancelled before its batch started is dropped:
it never posts behind the back of a caller that gave up. Once its batch has
started it runs to the end (its outcome stands, and a retry under the same
key finds it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.payment_tee.core.engine import Operation, Outcome

log = logging.getLogger("sealpay.payment_core.batcher")

RETRYABLE_SQLSTATES = {"40P01", "40001", "23505"}  # deadlock, serialization, key taken meanwhile
MAX_ATTEMPTS = 5

RunBatch = Callable[[list[Operation]], Awaitable[list[Outcome]]]
# Called after each committed batch with (operations, seconds): adapters turn it
# into metrics without the core importing a metrics library.
BatchObserver = Callable[[int, float], None]


@dataclass
class _Pending:
    op: Operation
    future: asyncio.Future[Any]


class AsyncBatcher:
    def __init__(
        self,
        runners: list[RunBatch],
        *,
        max_batch: int = 256,
        observer: BatchObserver | None = None,
    ) -> None:
        """One worker task per runner (each with its own connection): while one
        batch waits on its commit, the next can already be decided and sent."""
        self._observer = observer
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(run), name=f"posting-batcher-{i}")
            for i, run in enumerate(runners)
        ]

    async def submit(self, op: Operation) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(op, future))
        return await future

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()

    async def _work(self, run: RunBatch) -> None:
        while True:
            taken = [await self._queue.get()]
            while len(taken) < self._max_batch and not self._queue.empty():
                taken.append(self._queue.get_nowait())
            # A caller that gave up while its operation waited here (a gRPC
            # deadline passed, so the TEE's handler was cancelled) has been told
            # nothing moved, or was served by the fallback: never decide it now.
            batch = [p for p in taken if not p.future.cancelled()]
            try:
                if batch:
                    await self._process(run, batch)
            finally:
                for _ in taken:
                    self._queue.task_done()

    async def _process(self, run: RunBatch, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            outcomes = await run([p.op for p in batch])
        except Exception as exc:  # nothing committed; isolate by retrying one by one
            if len(batch) > 1:
                log.warning(
                    "payments.batch.failed", extra={"size": len(batch), "error": repr(exc)[:300]}
                )
            for pending in batch:
                await self._retry_alone(run, pending, exc if len(batch) == 1 else None)
            return
        if self._observer is not None:
            self._observer(len(batch), time.perf_counter() - started)
        for pending, outcome in zip(batch, outcomes, strict=True):
            _resolve(pending.future, outcome)

    async def _retry_alone(self, run: RunBatch, pending: _Pending, error: Exception | None) -> None:
        attempts = 1 if error is not None else 0
        while attempts < MAX_ATTEMPTS and (error is None or retryable(error)):
            if attempts:
                await asyncio.sleep(0.002 * attempts)
            attempts += 1
            try:
                (outcome,) = await run([pending.op])
            except Exception as exc:
                error = exc
                continue
            _resolve(pending.future, outcome)
            return
        assert error is not None
        log.error("payments.operation.failed", extra={"error": repr(error)[:500]})
        if not pending.future.done():
            pending.future.set_exception(error)


def retryable(exc: Exception) -> bool:
    """Failures a fresh attempt can get past; a broken connection is reopened."""
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        return True
    return isinstance(exc, psycopg.Error) and exc.sqlstate in RETRYABLE_SQLSTATES


def _resolve(future: asyncio.Future[Any], outcome: Outcome) -> None:
    if future.done():  # the caller went away (cancelled); the outcome stands regardless
        return
    if outcome.error is not None:
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome.value)
