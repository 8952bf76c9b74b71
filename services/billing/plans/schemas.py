"""Wire format of the plan endpoints (operators)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class PlanOut(BaseModel):
    code: str
    label: str
    rank: int
    price_usd_cents: int
    monthly_transfer_limit: int | None
    fee_bps: int
    updated_at: str


class PlanPatch(BaseModel):
    """Fields to change; omitted fields keep their value (null limit = unlimited)."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, min_length=1, max_length=64)
    price_usd_cents: StrictInt | None = Field(default=None, ge=0, le=100_000_000)
    monthly_transfer_limit: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)
    fee_bps: StrictInt | None = Field(default=None, ge=0, le=10_000)
