"""Wire format of the crypto rail: the 202 answer of a crypto upgrade, and the key
server's signed charge callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from services.billing.agents.schemas import RateOut


class PayToOut(BaseModel):
    chain: str
    address: str = Field(description="A fresh address of the chain, for this invoice only")
    amount: int = Field(description="Minor units of the chain's asset (e.g. satoshi) to send")
    expires_at: str = Field(description="Pay before this; a later payment is not applied")
    charge_id: str = Field(description="The key server's charge")


class CryptoInvoiceOut(BaseModel):
    invoice_id: str
    status: str = Field(description="open until the charge is confirmed (paid) or expires (void)")
    usd_cents: int
    asset: str = Field(description="The chain's asset (BTC, XMR)")
    amount: int = Field(description="Minor units of `asset`, converted half up at `rate`")
    rate: RateOut
    pay_to: PayToOut


class CryptoUpgradeOut(BaseModel):
    tier: str = Field(description="The tier this invoice buys; applied once the payment confirms")
    pay_with: str = Field(description="crypto")
    invoice: CryptoInvoiceOut


class ChargeEventIn(BaseModel):
    """A key-server charge callback (docs/key_server.md, "Charge callbacks")."""

    model_config = ConfigDict(extra="ignore")
    type: str = Field(max_length=64, examples=["charge.confirmed"])
    event_id: uuid.UUID
    charge_id: uuid.UUID
    reference: str = Field(max_length=200, description="The invoice id")
    chain: str = Field(max_length=32)
    amount_expected: StrictInt = Field(ge=1)
    amount_received: StrictInt = Field(ge=0)
    txids: list[str] = Field(max_length=1000)
    status: str = Field(max_length=32)
    at: datetime
    paid_late: StrictBool = False


class ChargeEventOut(BaseModel):
    event_id: str
    charge_id: str
    invoice_id: str
    outcome: str = Field(
        description="applied, voided, late_payment, unapplied, already_paid, ignored, or "
        "duplicate (this event id was handled before: `first_outcome`)"
    )
    first_outcome: str | None = None
