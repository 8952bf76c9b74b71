"""Wire format of the charge endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictInt

from services.key_server.chains.schemas import CHAIN_ID_PATTERN
from services.payment_tee.core.money import MAX_AMOUNT

DEFAULT_EXPIRES_IN = 1800
MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 7 * 24 * 3600


class CreateCharge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(pattern=CHAIN_ID_PATTERN, examples=["btc"])
    amount: StrictInt = Field(
        ge=1, le=MAX_AMOUNT, description="Expected amount in the chain's minor unit."
    )
    reference: str = Field(
        pattern=r"^[\x21-\x7e]{1,200}$",
        description="The caller's reference (e.g. an invoice id), echoed in callbacks.",
    )
    expires_in: StrictInt = Field(
        default=DEFAULT_EXPIRES_IN, ge=MIN_EXPIRES_IN, le=MAX_EXPIRES_IN, description="Seconds."
    )
    callback_url: AnyHttpUrl | None = Field(
        default=None,
        description="Receives a signed POST when the charge is confirmed, overpaid, "
        "underpaid (decided at the expiry, when every payment has confirmed) or expired.",
    )


class ChargeOut(BaseModel):
    charge_id: uuid.UUID
    chain: str
    address: str
    amount: int
    expires_at: datetime
    status: str = Field(description="pending, seen, confirmed, expired, overpaid, underpaid")
    reference: str
    amount_received: int = Field(description="Sum of confirmed outputs.")
    amount_seen: int = Field(description="Sum of all outputs seen, confirmed or not.")
    confirmations_required: int
    txids: list[str]
    paid_late: bool = Field(description="A payment first arrived after expires_at.")
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
