"""Shared vocabulary of postings: the context they run in, what they return,
and how a journal entry row reads back as a receipt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from services.common.clock import Clock, rfc3339
from services.payment_tee.core.receipts import STATUS_POSTED, Receipt, ReceiptSigner


@dataclass(frozen=True)
class PostingContext:
    """What every posting needs besides its connection: who signs, the audit key, time."""

    signer: ReceiptSigner
    audit_key: bytes
    clock: Clock


@dataclass(frozen=True)
class PostingResult:
    receipt: Receipt
    replayed: bool


@dataclass(frozen=True)
class ChargeCancellation:
    """What CancelCharge found: the key is now cancelled (nothing was charged,
    nothing ever will be), or the charge had posted and this is its receipt."""

    cancelled: bool
    receipt: Receipt | None = None


def receipt_from_row(row: Mapping[str, Any] | RowMapping) -> Receipt:
    created_at: datetime = row["created_at"]
    return Receipt(
        payment_id=str(row["id"]),
        kind=row["kind"],
        from_=row["from_label"],
        to=row["to_label"],
        from_account=row["from_account"],
        to_account=row["to_account"],
        asset=row["asset"],
        amount=row["amount"],
        fee=row["fee"],
        fee_bps=row["fee_bps"],
        net=row["amount"] - row["fee"],
        memo=row["memo"],
        status=STATUS_POSTED,
        created_at=rfc3339(created_at),
        signer=row["signer"],
        signing_key=row["signing_key"],
        signature=row["signature"],
        idempotency_key_sha256=row.get("idempotency_key_sha256"),
    )
