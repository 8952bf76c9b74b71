"""Wire format of the operator endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from services.payment_tee.core.money import MAX_AMOUNT


class AdminCredit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: uuid.UUID
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="Minor units (a JSON integer).")
    account: str = Field(default="main", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    memo: str | None = Field(default=None, max_length=500)


class SetTier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str = Field(description="free, pro or enterprise (case-insensitive)", examples=["pro"])


class TierOut(BaseModel):
    agent_id: uuid.UUID
    tier: str


class IssueApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revoke_existing: StrictBool = Field(
        default=True, description="Revoke every other key of the agent (default: yes)."
    )


class ApiKeyOut(BaseModel):
    key_id: uuid.UUID
    prefix: str = Field(description="The key's first 7 characters, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    agent_id: uuid.UUID
    api_key: str = Field(description="The new key. Shown only in this answer; store it now.")
    revoked: int = Field(description="How many older keys this revoked.")
