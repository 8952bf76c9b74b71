"""PaymentCore: the one entry point of the payment core.

Both adapters (the gRPC server in the Confidential VM and the gateway's
in-process dispatcher) call these methods. Money movement and tier changes go
through the batcher (one transaction per batch, see engine.py); registration,
account opening and reads are short transactions of their own.
Posting methods block (for threads); `submit` returns the Future itself, for
callers on an event loop (`asyncio.wrap_future`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine

from services.common.database import libpq_url
from services.payment_tee.core import history, holders
from services.payment_tee.core.batcher import PostingBatcher
from services.payment_tee.core.charges import PostCharge, PostRefund
from services.payment_tee.core.commands import (
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.credits import CreditAccount
from services.payment_tee.core.engine import Operation, Outcome, run_batch
from services.payment_tee.core.ledger import PostingContext, PostingResult
from services.payment_tee.core.platform import PlatformAccounts
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, AccountRef, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier
from services.payment_tee.core.transfers import PostTransfer

T = TypeVar("T")


class PaymentCore:
    def __init__(
        self,
        engine: Engine,
        ctx: PostingContext,
        default_asset: str = "XMR",
        *,
        batch_workers: int = 1,
        max_batch: int = 256,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.default_asset = default_asset
        self.platform = PlatformAccounts(ctx.clock)
        self._local = threading.local()
        self.batcher = PostingBatcher(self._run_batch, workers=batch_workers, max_batch=max_batch)

    def close(self) -> None:
        self.batcher.close()

    # --- money movement (batched) -----------------------------------------------------

    def transfer(self, cmd: TransferCommand) -> PostingResult:
        result: PostingResult = self.execute(PostTransfer(cmd))
        return result

    def credit(self, cmd: CreditCommand) -> PostingResult:
        result: PostingResult = self.execute(CreditAccount(cmd))
        return result

    def charge(self, cmd: ChargeCommand) -> PostingResult:
        result: PostingResult = self.execute(PostCharge(cmd))
        return result

    def refund(self, cmd: RefundCommand) -> PostingResult:
        result: PostingResult = self.execute(PostRefund(cmd))
        return result

    def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder:
        result: Holder = self.execute(holders.SetTier(owner_id, tier, self.default_asset, actor))
        return result

    def submit(self, op: Operation) -> Future[Any]:
        """Validate, then queue for the next batch. Invalid requests never enter one."""
        try:
            op.validate()
        except Exception as exc:
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            return failed
        return self.batcher.submit(op)

    def execute(self, op: Operation) -> Any:
        return self.submit(op).result()

    def _run_batch(self, ops: list[Operation]) -> list[Outcome]:
        conn = self._batch_connection()
        try:
            return run_batch(conn, self.ctx, self.platform, ops)
        except BaseException:
            self._discard_or_rollback(conn)
            raise

    def _batch_connection(self) -> psycopg.Connection[Any]:
        """The calling batcher worker's own connection, opened on first use."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(
                libpq_url(self.engine.url.render_as_string(hide_password=False)),
                autocommit=False,
                application_name="sealpay-payment-core",
                options="-c lock_timeout=5s -c statement_timeout=15s",
            )
            self._local.conn = conn
        return conn

    def _discard_or_rollback(self, conn: psycopg.Connection[Any]) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            conn.close()  # broken: the next batch reconnects

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

    def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        return self._read(lambda conn: holders.balance(conn, owner_id, asset or self.default_asset))

    def usage(self, owner_id: uuid.UUID) -> Usage:
        now = self.ctx.clock.now()
        return self._read(lambda conn: holders.usage(conn, owner_id, now))

    def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        return self._read(lambda conn: history.get_receipt(conn, owner_id, payment_id))

    def receipts(self, owner_id: uuid.UUID, limit: int, cursor: str | None) -> history.ReceiptPage:
        return self._read(lambda conn: history.list_receipts(conn, owner_id, limit, cursor))

    # --- plumbing ---------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)
