"""Wire format of the internal per-agent API (called by the gateway)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

TIER_DESCRIPTION = "free, pro or enterprise (case-insensitive)"


class TierRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(max_length=64, description=TIER_DESCRIPTION, examples=["pro"])


# A key-server chain id (the key server's own pattern; billing only forwards it).
CHAIN_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class UpgradeRequestBody(BaseModel):
    """Either a tier (the server quotes it now) or a quote from upgrade-quote; paid from
    the balance (default) or by a crypto invoice on a key-server chain."""

    model_config = ConfigDict(extra="forbid")
    tier: str | None = Field(default=None, max_length=64, description=TIER_DESCRIPTION)
    quote_id: uuid.UUID | None = None
    pay_with: Literal["balance", "crypto"] = Field(
        default="balance",
        description="balance: charged now (200); crypto: an invoice to pay on-chain (202)",
    )
    chain: str | None = Field(
        default=None,
        pattern=CHAIN_ID_PATTERN,
        description="With pay_with crypto: the key-server chain to pay on (e.g. btc)",
        examples=["btc"],
    )

    @model_validator(mode="after")
    def _one_of(self) -> UpgradeRequestBody:
        if self.tier is None and self.quote_id is None:
            raise ValueError("send a tier or a quote_id")
        if self.pay_with == "crypto" and self.chain is None:
            raise ValueError("pay_with crypto needs a chain")
        if self.pay_with == "balance" and self.chain is not None:
            raise ValueError("a chain is only for pay_with crypto")
        return self


class DowngradeRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(max_length=64, description=TIER_DESCRIPTION, examples=["free"])
    immediate: StrictBool = Field(
        default=False,
        description="false: at the end of the paid period; true: now, refunding the unused part",
    )


class SubscriptionSummary(BaseModel):
    status: str = Field(description="active, past_due, lapsed or cancelled")
    current_period_end: str
    grace_until: str | None


class TierOut(BaseModel):
    tier: str
    label: str
    current_month_count: int
    limit: int | None
    remaining: int | None
    subscription: SubscriptionSummary | None


class RateOut(BaseModel):
    value: str = Field(description="USD per whole unit of the asset, an exact decimal")
    source: str
    fetched_at: str
    stale: bool


class ChargeOut(BaseModel):
    usd_cents: int
    asset: str
    amount: int = Field(description="minor units of the asset (piconero, satoshi)")


class ProrationOut(BaseModel):
    seconds_remaining: int
    period_seconds: int | None
    price_delta_usd_cents: int


class RenewalOut(BaseModel):
    at: str
    usd_cents: int


class QuoteOut(BaseModel):
    quote_id: str
    tier: str
    from_tier: str
    charge_now: ChargeOut
    rate: RateOut
    effective: str
    proration: ProrationOut | None
    next_renewal: RenewalOut
    expires_at: str


class InvoiceOut(BaseModel):
    invoice_id: str
    usd_cents: int
    asset: str
    amount: int
    status: str
    rate: RateOut


class UpgradeOut(BaseModel):
    tier: str
    subscription: SubscriptionSummary | None
    invoice: InvoiceOut
    receipt: dict[str, object] | None = Field(description="the payment core's signed receipt")


class RefundOut(BaseModel):
    usd_cents: int
    asset: str
    amount: int
    receipt: dict[str, object] | None
    receipts: list[dict[str, object]]


class DowngradeOut(BaseModel):
    tier: str
    effective: str = Field(description="period_end or immediate")
    effective_at: str
    refund: RefundOut | None


class PlanSetOut(BaseModel):
    agent_id: str
    tier: str
