"""Wire format of the payment endpoints. Amounts are integers in minor units."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.payment_tee.core.commands import MEMO_MAX
from services.payment_tee.core.money import MAX_AMOUNT

# StrictInt: money arrives as a JSON integer; "10", 10.0 and true are refused,
# not coerced (a boolean would otherwise move one minor unit).
Amount = Field(gt=0, le=MAX_AMOUNT, description="Minor units of the asset (piconero for XMR).")


class HubRoutingPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_agent: str = Field(min_length=1, max_length=64, description="Recipient name or agent id.")
    amount: StrictInt = Amount
    memo: str | None = Field(default=None, max_length=MEMO_MAX)


class InternalTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_account: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    to_account: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    amount: StrictInt = Amount
    memo: str | None = Field(default=None, max_length=MEMO_MAX)


class ReceiptOut(BaseModel):
    """A signed receipt. `signature` is base64 Ed25519 over the RFC 8785 canonical
    JSON of this object without `signature`; `signer` is "tee" or "gateway"."""

    model_config = ConfigDict(populate_by_name=True)
    payment_id: str
    kind: str
    from_: str = Field(alias="from")
    to: str
    from_account: str
    to_account: str
    asset: str
    amount: int
    fee: int
    fee_bps: int
    net: int
    memo: str | None
    status: str
    created_at: str
    signer: str
    signing_key: str
    signature: str
    idempotency_key_sha256: str | None = Field(
        default=None,
        description="Hex SHA-256 of the Idempotency-Key the payment was posted under "
        "(signed): a client checks it to know the receipt answers its own request. "
        "Absent only on receipts signed before it existed.",
    )


class ReceiptPageOut(BaseModel):
    data: list[ReceiptOut]
    next_cursor: str | None
