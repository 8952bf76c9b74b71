"""Group concurrent requests into batches for the engine.

Callers (gateway request handlers, gRPC handler threads) submit an operation
and get a Future. Worker threads take whatever is queued (up to `max_batch`),
run it as one batch in one transaction, and resolve the futures only after the
commit. Under light load a batch is a single operation and goes at once; under
heavy load batches grow by themselves, which is group commit done in the
application.

If a batch fails as a whole (a deadlock, a unique-key race with another
process, any database error) nothing of it was committed, and each of its
operations is retried alone, so one bad operation cannot sink its neighbours.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from services.payment_tee.core.engine import Operation, Outcome

log = logging.getLogger("sealpay.payment_core.batcher")

RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5

RunBatch = Callable[[list[Operation]], list[Outcome]]


@dataclass
class _Pending:
    op: Operation
    future: Future[Any]


class PostingBatcher:
    def __init__(self, run: RunBatch, *, workers: int = 1, max_batch: int = 256) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"posting-batcher-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, op: Operation) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the payment core is shutting down"))
            return future
        self._queue.put(_Pending(op, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the workers."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # leave the stop signal for after this batch
                    break
                batch.append(nxt)
            self._process(batch)

    def _process(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._run([p.op for p in batch])
        except Exception as exc:  # nothing committed; isolate by retrying one by one
            if len(batch) == 1:
                self._retry_alone(batch[0], exc)
                return
            log.warning(
                "payments.batch.failed", extra={"size": len(batch), "error": repr(exc)[:300]}
            )
            for pending in batch:
                self._retry_alone(pending, None)
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            _resolve(pending.future, outcome)

    def _retry_alone(self, pending: _Pending, first_error: Exception | None) -> None:
        attempt = 1 if first_error is not None else 0
        error = first_error
        while attempt < MAX_ATTEMPTS:
            if error is not None and not _retryable(error):
                break
            if attempt:
                time.sleep(0.002 * attempt)
            attempt += 1
            try:
                (outcome,) = self._run([pending.op])
            except Exception as exc:
                error = exc
                continue
            _resolve(pending.future, outcome)
            return
        assert error is not None
        log.error("payments.operation.failed", extra={"error": repr(error)[:500]})
        pending.future.set_exception(error)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        # A unique violation means another transaction took the key: rerunning
        # finds its entry and replays it.
        return sqlstate in RETRYABLE_SQLSTATES or sqlstate == "23505"
    return False


def _resolve(future: Future[Any], outcome: Outcome) -> None:
    if outcome.error is not None:
        future.set_exception(outcome.error)
    else:
        future.set_result(outcome.value)
