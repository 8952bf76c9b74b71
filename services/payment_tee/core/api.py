"""PaymentCore: the one entry point of the payment core.

Both adapters (the gRPC server in the Confidential VM and the gateway's
in-process dispatcher) call these methods. Money movement and tier changes go
through a batcher (one transaction per batch, see engine.py) that runs on the
caller's event loop: `await core.submit_async(op)`. Threads without a loop use
the blocking methods (`transfer`, `credit`, ...), served by a private loop in
a background thread. Reads (balances, usage, receipts) run on the caller's
loop too, one statement each on a few read-only connections per loop
(read_repository.py); their blocking forms use the same background loop.
Registration and account opening are short SQLAlchemy transactions.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine

from services.common.database import libpq_url
from services.payment_tee.core import batch_repository as batch_repo
from services.payment_tee.core import history, holders
from services.payment_tee.core.batcher import AsyncBatcher, BatchObserver
from services.payment_tee.core.charges import CancelCharge, PostCharge, PostRefund
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.credits import CreditAccount
from services.payment_tee.core.engine import Operation, Outcome, run_batch
from services.payment_tee.core.ledger import ChargeCancellation, PostingContext, PostingResult
from services.payment_tee.core.platform import PlatformAccounts
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, AccountRef, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier
from services.payment_tee.core.transfers import PostTransfer

T = TypeVar("T")

# The batch connection's session. Generic plans: the batch statements are
# written to plan well without knowing their arguments (batch_repository.py).
# Every statement on it looks rows up by key: a scan of a whole table is never
# right here, however small the table looks to the planner today (it grows
# with the agents), so sequential scans are priced out. Its literals rely on
# standard-conforming strings (sql_literals.py), pinned here.
BATCH_SESSION_OPTIONS = (
    "-c lock_timeout=5s -c statement_timeout=15s "
    "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off "
    "-c standard_conforming_strings=on"
)


# The read connections' session: reads only, and never for long.
READ_SESSION_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=15s"


class _CoreConnection:
    """One psycopg connection of the core on one loop: opened on first use,
    reopened after a failure left it unusable. No pool (psycopg_pool is not on
    the TEE's import allowlist, and nothing here waits for one). Autocommit:
    a batch sends its own BEGIN and COMMIT inside its two round trips
    (batch_repository.py), and a read is one statement."""

    def __init__(self, conninfo: str, options: str, *, batch: bool) -> None:
        self._conninfo = conninfo
        self._options = options
        self._batch = batch
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def get(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                # A batch's statements are prepared by name, once (batch_repository.py).
                prepare_threshold=None if self._batch else 5,
                application_name="sealpay-payment-core",
                options=self._options,
            )
            try:
                if self._batch:
                    await batch_repo.prepare_session(conn)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def recover(self) -> None:
        """After a failed batch: roll back, or drop a broken connection."""
        if self._conn is None:
            return
        try:
            await batch_repo.rollback(self._conn)
        except psycopg.Error:
            await self._conn.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class _ReadConnections:
    """The read connections of one loop, each lent to one read at a time."""

    def __init__(self, conninfo: str, size: int, wait_seconds: float) -> None:
        self._all = [
            _CoreConnection(conninfo, READ_SESSION_OPTIONS, batch=False) for _ in range(size)
        ]
        self._wait_seconds = wait_seconds
        # Last in, first out: the connection used last is lent first, so a loop
        # opens only as many connections as it has had reads at once.
        self._idle: asyncio.LifoQueue[_CoreConnection] = asyncio.LifoQueue()
        for conn in self._all:
            self._idle.put_nowait(conn)

    async def run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        # A read cancelled mid-statement is cancelled on the server too (psycopg
        # does that), so what goes back to the queue is fit for the next read.
        try:
            async with asyncio.timeout(self._wait_seconds):
                lent = await self._idle.get()
        except TimeoutError:
            # Every connection is held by a read that does not end (a network
            # partition the server's statement_timeout cannot see): fail as the
            # database being unavailable, rather than queue without end.
            raise psycopg.OperationalError(
                f"no ledger read connection came free in {self._wait_seconds:g} s"
            ) from None
        try:
            db = await lent.get()
            try:
                return await work(db)
            except psycopg.OperationalError:
                if not db.broken:  # not dropped by the server (closed by aclose, or a timeout)
                    raise
                # The server dropped the connection while it sat idle (a restart,
                # an idle timeout): a read is safe to repeat, once, on a new one.
                return await work(await lent.get())
        finally:
            self._idle.put_nowait(lent)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()


class _BackgroundLoop:
    """An event loop in a daemon thread, for callers that are threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="payment-core-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class PaymentCore:
    def __init__(
        self,
        engine: Engine,
        ctx: PostingContext,
        default_asset: str = "XMR",
        *,
        max_batch: int = 256,
        batch_observer: BatchObserver | None = None,
        batch_connections: int = 1,
        read_connections: int = 4,
        read_wait_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.default_asset = default_asset
        self.platform = PlatformAccounts(ctx.clock)
        self._max_batch = max_batch
        self._batch_observer = batch_observer
        self._conninfo = libpq_url(engine.url.render_as_string(hide_password=False))
        self._batch_connections = batch_connections
        self._batchers: dict[
            asyncio.AbstractEventLoop, tuple[AsyncBatcher, list[_CoreConnection]]
        ] = {}
        self._read_connections = read_connections
        self._read_wait_seconds = read_wait_seconds
        self._readers: dict[asyncio.AbstractEventLoop, _ReadConnections] = {}
        self._background: _BackgroundLoop | None = None
        self._lock = threading.Lock()

    # --- money movement (batched) -----------------------------------------------------

    async def submit_async(self, op: Operation) -> Any:
        """Validate, queue for the next batch on this loop, return after the commit."""
        op.validate()
        return await self._batcher().submit(op)

    def execute(self, op: Operation) -> Any:
        """The blocking form of `submit_async`, for threads."""
        return self._background_loop().run(self.submit_async(op))

    def transfer(self, cmd: TransferCommand) -> PostingResult:
        result: PostingResult = self.execute(PostTransfer(cmd))
        return result

    def credit(self, cmd: CreditCommand) -> PostingResult:
        result: PostingResult = self.execute(CreditAccount(cmd))
        return result

    def charge(self, cmd: ChargeCommand) -> PostingResult:
        result: PostingResult = self.execute(PostCharge(cmd))
        return result

    def cancel_charge(self, cmd: CancelChargeCommand) -> ChargeCancellation:
        result: ChargeCancellation = self.execute(CancelCharge(cmd))
        return result

    def refund(self, cmd: RefundCommand) -> PostingResult:
        result: PostingResult = self.execute(PostRefund(cmd))
        return result

    def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder:
        result: Holder = self.execute(holders.SetTier(owner_id, tier, self.default_asset, actor))
        return result

    def _batcher(self) -> AsyncBatcher:
        loop = asyncio.get_running_loop()
        found = self._batchers.get(loop)
        if found is None:
            conns = [
                _CoreConnection(self._conninfo, BATCH_SESSION_OPTIONS, batch=True)
                for _ in range(self._batch_connections)
            ]
            batcher = AsyncBatcher(
                [self._runner(conn) for conn in conns],
                max_batch=self._max_batch,
                observer=self._batch_observer,
            )
            found = (batcher, conns)
            self._batchers[loop] = found
        return found[0]

    def _runner(
        self, conn: _CoreConnection
    ) -> Callable[[list[Operation]], Awaitable[list[Outcome]]]:
        async def run(ops: list[Operation]) -> list[Outcome]:
            db = await conn.get()
            try:
                return await run_batch(db, self.ctx, self.platform, ops)
            except BaseException:
                await conn.recover()
                raise

        return run

    def _background_loop(self) -> _BackgroundLoop:
        with self._lock:
            if self._background is None:
                self._background = _BackgroundLoop()
            return self._background

    async def aclose(self) -> None:
        """Drain and stop the batcher of the running loop; close its read connections."""
        found = self._batchers.pop(asyncio.get_running_loop(), None)
        if found is not None:
            batcher, conns = found
            await batcher.close()
            for conn in conns:
                await conn.close()
        readers = self._readers.pop(asyncio.get_running_loop(), None)
        if readers is not None:
            await readers.close()

    def close(self) -> None:
        """Stop the background loop (and its batcher), if one was started."""
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.run(self.aclose())
            background.stop()

    # --- holders and accounts ---------------------------------------------------------

    def register_holder(self, owner_id: uuid.UUID, asset: str | None = None) -> Holder:
        now = self.ctx.clock.now()
        return self._write(
            lambda conn: holders.register_holder(conn, owner_id, asset or self.default_asset, now)
        )

    def open_account(
        self, owner_id: uuid.UUID, name: str, asset: str | None = None
    ) -> AccountBalance:
        ref = AccountRef(owner_id, name, asset or self.default_asset)
        now = self.ctx.clock.now()
        return self._write(lambda conn: holders.open_account(conn, ref, now))

    # --- reads ------------------------------------------------------------------------

    async def balance_async(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        asset = asset or self.default_asset
        return await self._read(lambda conn: holders.balance(conn, owner_id, asset))

    async def usage_async(self, owner_id: uuid.UUID) -> Usage:
        now = self.ctx.clock.now()
        return await self._read(lambda conn: holders.usage(conn, owner_id, now))

    async def receipt_async(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        return await self._read(lambda conn: history.get_receipt(conn, owner_id, payment_id))

    async def receipts_async(
        self, owner_id: uuid.UUID, limit: int, cursor: str | None
    ) -> history.ReceiptPage:
        return await self._read(lambda conn: history.list_receipts(conn, owner_id, limit, cursor))

    # The blocking forms, for threads.

    def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        result: Balance = self._background_loop().run(self.balance_async(owner_id, asset))
        return result

    def usage(self, owner_id: uuid.UUID) -> Usage:
        result: Usage = self._background_loop().run(self.usage_async(owner_id))
        return result

    def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        result: Receipt = self._background_loop().run(self.receipt_async(owner_id, payment_id))
        return result

    def receipts(self, owner_id: uuid.UUID, limit: int, cursor: str | None) -> history.ReceiptPage:
        page: history.ReceiptPage = self._background_loop().run(
            self.receipts_async(owner_id, limit, cursor)
        )
        return page

    # --- plumbing ---------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    async def _read(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run a read on one of this loop's read connections (opened on first use)."""
        loop = asyncio.get_running_loop()
        readers = self._readers.get(loop)
        if readers is None:
            readers = self._readers[loop] = _ReadConnections(
                self._conninfo, self._read_connections, self._read_wait_seconds
            )
        return await readers.run(work)
