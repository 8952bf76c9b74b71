"""The payment dispatcher: the one interface endpoints use to reach the payment core.

Implemented by the in-process core (`LocalDispatcher`), by the mTLS gRPC
client to the payment_tee, and by the switching dispatcher that chooses
between them (PAYMENT_VIA_TEE, PAYMENT_TEE_FALLBACK). Endpoints never know
which one ran. Methods are async: the hot path never blocks the event loop
or hops through the threadpool per request.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from services.payment_tee.core.commands import (
    CancelChargeCommand,
    ChargeCommand,
    CreditCommand,
    RefundCommand,
    TransferCommand,
)
from services.payment_tee.core.history import ReceiptPage
from services.payment_tee.core.ledger import ChargeCancellation, PostingResult
from services.payment_tee.core.receipts import Receipt
from services.payment_tee.core.records import AccountBalance, Balance, Holder, Usage
from services.payment_tee.core.tiers import Tier


class PaymentDispatcher(Protocol):
    default_asset: str

    async def transfer(self, cmd: TransferCommand) -> PostingResult: ...

    async def credit(self, cmd: CreditCommand) -> PostingResult: ...

    async def charge(self, cmd: ChargeCommand) -> PostingResult: ...

    async def cancel_charge(self, cmd: CancelChargeCommand) -> ChargeCancellation: ...

    async def refund(self, cmd: RefundCommand) -> PostingResult: ...

    async def register_holder(self, owner_id: uuid.UUID) -> Holder: ...

    async def open_account(
        self, owner_id: uuid.UUID, name: str, asset: str | None = None
    ) -> AccountBalance: ...

    async def set_tier(self, owner_id: uuid.UUID, tier: Tier, actor: str) -> Holder: ...

    async def balance(self, owner_id: uuid.UUID, asset: str | None = None) -> Balance: ...

    async def usage(self, owner_id: uuid.UUID) -> Usage: ...

    async def receipt(self, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Receipt: ...

    async def receipts(
        self, owner_id: uuid.UUID, limit: int, cursor: str | None
    ) -> ReceiptPage: ...

    async def close(self) -> None: ...
