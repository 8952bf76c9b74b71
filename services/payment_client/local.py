"""The in-process payment core: the same code the payment_tee runs, in this process.

Used when PAYMENT_VIA_TEE is off (before cutover) and as the fallback. Its
receipts are signed with a key generated in this process at boot and marked
`signer: "gateway"`: genuine, but not attested.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prometheus_client import Histogram
from sqlalchemy import Engine

from services.common.clock import Clock
from services.payment_tee.core.api import PaymentCore
from services.payment_tee.core.charges import CancelCharge, PostCharge, PostRefund
from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.credits import CreditAccount
from services.payment_tee.core.engine import Operation
from services.payment_tee.core.history import ReceiptPage
from services.payment_tee.core.holders import SetTier
from services.payment_tee.core.ledger import ChargeCancellation, PostingContext, PostingResult
from services.payment_tee.core.receipts import Receipt, ReceiptSigner
from services.payment_tee.core.records import AccountBalance, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier
from services.payment_tee.core.transfers import PostTransfer

BATCH_SIZE = Histogram(
    "sealpay_posting_batch_size",
    "Operations per committed posting batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
BATCH_SECONDS = Histogram(
    "sealpay_posting_batch_seconds",
    "Wall time of a committed posting batch, from lock to commit.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def observe_batch(size: int, seconds: float) -> None:
    BATCH_SIZE.observe(size)
    BATCH_SECONDS.observe(seconds)


def in_process_core(engine: Engine, audit_key: bytes, clock: Clock, asset: str) -> PaymentCore:
    ctx = PostingContext(signer=ReceiptSigner("gateway"), audit_key=audit_key, clock=clock)
    return PaymentCore(engine, ctx, default_asset=asset, batch_observer=observe_batch)


class LocalDispatcher:
    def __init__(self, core: PaymentCore) -> None:
        self.core = core
        self.default_asset = core.default_asset

    async def _post(self, op: Operation) -> Any:
        return await self.core.submit_async(op)

    async def transfer(self, cmd: TransferCommand) -> PostingResult:
        result: PostingResult = await self._post(PostTransfer(cmd))
        return result

    async def credit(self, cmd: CreditCommand) -> PostingResult:
        result: PostingResult = await self._post(CreditAccount(cmd))
        return result

    async def charge(self, cmd: ChargeCommand) -> PostingResult:
        result: PostingResult = await self._post(PostCharge(cmd))
        return result

    async def cancel_charge(self, cmd: CancelChargeCommand) -> ChargeCancellation:
        result: ChargeCancellation = await self._post(CancelCharge(cmd))
        return result

    async def refund(self, cmd: RefundCommand) -> PostingResult:
        result: PostingResult = await self._post(PostRefund(cmd))
        return result

    async def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder:
        result: Holder = await self._post(SetTier(owner_id, tier, self.default_asset, actor))
        return result

    async def register_holder(self, owner_id: uuid.UUID) -> Holder:
        return await asyncio.to_thread(self.core.register_holder, owner_id)

    async def open_account(
        self, owner_id: uuid.UUID, name: str, asset: str | None = None
    ) -> AccountBalance:
        return await asyncio.to_thread(self.core.open_account, owner_id, name, asset)

    async def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance:
        return await self.core.balance_async(owner_id, asset)

    async def usage(self, owner_id: uuid.UUID) -> Usage:
        return await self.core.usage_async(owner_id)

    async def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt:
        return await self.core.receipt_async(owner_id, payment_id)

    async def receipts(self, owner_id: uuid.UUID, limit: int, cursor: str | None) -> ReceiptPage:
        return await self.core.receipts_async(owner_id, limit, cursor)

    async def close(self) -> None:
        await self.core.aclose()
        await asyncio.to_thread(self.core.close)
